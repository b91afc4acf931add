"""The pose estimator: image -> preprocess -> network (any backend) -> decode -> poses.

>>> import edgepose
>>> est = edgepose.load()                      # the pretrained default model
>>> poses = est("people.jpg")                  # list[Pose], keypoints in image pixels
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepose.augment import Augment, averaged_maps
from edgepose.config import ModelConfig
from edgepose.decode import DecoderConfig, decode, warm_up
from edgepose.errors import EdgeposeError
from edgepose.image_io import read_image, to_bgr8
from edgepose.pose import Pose
from edgepose.preprocess import Letterbox, dynamic_input_size, letterbox
from edgepose.runtime import open_backend
from edgepose.runtime.base import Backend

#: Network input height for models without a fixed input size (width follows the aspect ratio).
#: Measured on coco_sample with the pretrained weights: 368 tall 29.7 AP, 432 tall 32.0, 480 tall 31.4.
DEFAULT_HEIGHT = 432


def parse_size(size: str | int | tuple[int, int] | None) -> tuple[int, int] | int | None:
    """"368x432" or (368, 432) -> (368, 432) fixed; "368" or 368 -> 368 (height, width follows)."""
    if size is None or isinstance(size, tuple):
        return size
    if isinstance(size, int):
        return size
    text = str(size).lower().replace(" ", "")
    try:
        if "x" in text:
            h, w = text.split("x")
            return int(h), int(w)
        return int(text)
    except ValueError:
        raise EdgeposeError(f"size {size!r} is not HxW (e.g. 368x432) or a height (e.g. 368)") from None


def parse_fixed_size(size: str | tuple[int, int], stride: int = 8) -> tuple[int, int]:
    """"368x432" -> (368, 432) for fixed-size models; both must be positive multiples of ``stride``."""
    hw = parse_size(size)
    if not isinstance(hw, tuple):
        raise EdgeposeError(f"size {size!r}: give height and width, e.g. 368x432 (exported models have a fixed size)")
    h, w = hw
    if h <= 0 or w <= 0 or h % stride or w % stride:
        raise EdgeposeError(f"size {h}x{w}: height and width must be positive multiples of {stride}")
    return h, w


@dataclass
class Prediction:
    """Poses of one image with what it cost.

    poses: people found, keypoints in original-image pixels.
    image_size: (height, width) of the image.
    input_size: (height, width) the network ran at.
    timings_ms: wall time per step: preprocess, infer, decode.
    """

    poses: list[Pose]
    image_size: tuple[int, int]
    input_size: tuple[int, int]
    timings_ms: dict[str, float] = field(default_factory=dict)


def decode_to_image(
    heatmaps: np.ndarray, pafs: np.ndarray, box: Letterbox, config: ModelConfig, decoder: DecoderConfig
) -> list[Pose]:
    """Maps of one image [h, w, C] (network output for the input ``box`` describes) -> poses with
    keypoints in original-image pixels, decoded with ``decoder``. What ``PoseEstimator`` does after
    the network; exposed so a benchmark can decode cached maps exactly as ``predict`` does."""
    stride = config.stride
    # Decode only the maps over the image, not over the padding.
    mh = min(heatmaps.shape[0], -(-box.content_size[0] // stride))
    mw = min(heatmaps.shape[1], -(-box.content_size[1] // stride))
    poses = decode(heatmaps[:mh, :mw], pafs[:mh, :mw], decoder, config.skeleton_def)
    h, w = box.image_size
    out = []
    for pose in poses:
        kp = pose.keypoints.copy()
        found = kp[:, 2] > 0
        xy = box.map_to_image(kp[:, :2], stride)
        xy[:, 0] = np.clip(xy[:, 0], 0, w - 1)
        xy[:, 1] = np.clip(xy[:, 1], 0, h - 1)
        kp[:, :2] = np.where(found[:, None], xy, 0.0)
        out.append(Pose(kp, pose.score, pose.skeleton))
    return out


class PoseEstimator:
    """Runs a pose network on any backend and decodes its maps into people."""

    def __init__(
        self,
        backend: Backend,
        decoder: DecoderConfig | None = None,
        size: tuple[int, int] | int | None = None,
        augment: "str | Augment | None" = None,
    ) -> None:
        self.backend = backend
        self.augment = Augment.parse(augment)
        self.decoder = decoder or DecoderConfig.for_precision(backend.config.precision)
        self.size = parse_size(size)
        fixed = backend.input_size
        if fixed is not None and self.size is not None and self.size not in (tuple(fixed), fixed[0]):
            raise EdgeposeError(
                f"this model is fixed to {fixed[0]}x{fixed[1]} inputs; re-export it to run at {size}"
            )
        stride = self.config.stride
        if isinstance(self.size, tuple) and (self.size[0] % stride or self.size[1] % stride):
            raise EdgeposeError(f"size {self.size[0]}x{self.size[1]}: height and width must be multiples of {stride}")
        if isinstance(self.size, int) and (self.size <= 0 or self.size % stride):
            raise EdgeposeError(f"size {self.size}: the height must be a positive multiple of {stride}")
        if self.augment is not None and fixed is not None and self.augment.scales != (1.0,):
            raise EdgeposeError(f"this model is fixed to {fixed[0]}x{fixed[1]} inputs: --augment can flip "
                                "(--augment flip) but not rescale")
        warm_up()  # the decoder's compiled kernel: loaded now, not on the first frame

    @property
    def config(self) -> ModelConfig:
        return self.backend.config

    def input_size_for(self, image_hw: tuple[int, int]) -> tuple[int, int]:
        """Network input (height, width) for an image of this size."""
        if self.backend.input_size is not None:
            return tuple(self.backend.input_size)
        if isinstance(self.size, tuple):
            return self.size
        return dynamic_input_size(image_hw, self.size or DEFAULT_HEIGHT, self.config.stride)

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """BGR uint8 [h, w, 3] -> (network input float32 [H, W, 3], Letterbox)."""
        return letterbox(image, self.input_size_for(image.shape[:2]), self.config)

    def postprocess(self, heatmaps: np.ndarray, pafs: np.ndarray, box: Letterbox) -> list[Pose]:
        """Maps of one image [h, w, C] -> poses in original-image pixels."""
        return decode_to_image(heatmaps, pafs, box, self.config, self.decoder)

    def predict(self, image: np.ndarray | str | Path) -> Prediction:
        """One image (BGR array or file path) -> ``Prediction`` with poses and timings."""
        t0 = time.perf_counter()
        image = read_image(image) if isinstance(image, (str, Path)) else to_bgr8(image)
        if self.augment is not None:
            heatmaps, pafs, box, timings = averaged_maps(self, image, self.augment)
            t2 = time.perf_counter()
            poses = self.postprocess(heatmaps, pafs, box)
            timings["decode"] = (time.perf_counter() - t2) * 1e3
            return Prediction(poses, tuple(image.shape[:2]), tuple(box.input_size), timings)
        x, box = self.preprocess(image)
        t1 = time.perf_counter()
        heatmaps, pafs = self.backend.infer(x[None])
        t2 = time.perf_counter()
        poses = self.postprocess(heatmaps[0], pafs[0], box)
        t3 = time.perf_counter()
        timings = {"preprocess": (t1 - t0) * 1e3, "infer": (t2 - t1) * 1e3, "decode": (t3 - t2) * 1e3}
        return Prediction(poses, tuple(image.shape[:2]), tuple(x.shape[:2]), timings)

    def __call__(self, image: np.ndarray | str | Path) -> list[Pose]:
        """One image (BGR uint8 array [h, w, 3] or a file path) -> list of poses."""
        return self.predict(image).poses

    def describe(self) -> dict:
        d = self.backend.describe()
        # a fixed-size file runs at its own input height, whatever --size said
        d["size"] = d["input_size"][0] if d.get("input_size") else (self.size or DEFAULT_HEIGHT)
        if self.augment is not None:
            d["augment"] = self.augment.describe()
        return d


def set_up_default_model(allow_onnx: bool = False) -> Path:
    """The pretrained model, fetched and converted once when missing (one line says so).

    The Keras model (``edgepose[tf]``); with ``allow_onnx`` and no TensorFlow installed, the ONNX
    model converted without TensorFlow (``edgepose.tfpose_onnx``), which OpenCV runs. Honours
    ``EDGEPOSE_OFFLINE``; raises EdgeposeError naming what to do when it cannot.
    """
    from edgepose.paths import default_model_path, default_onnx_path
    from edgepose.pretrained import prepare_default_model, tensorflow_installed, tfpose_graph_path

    if allow_onnx and not tensorflow_installed():
        if prepare_default_model(onnx=True):  # said so, fetched the graph; now convert it
            from edgepose.tfpose_onnx import ensure_default_onnx

            return ensure_default_onnx(tfpose_graph_path())
        return default_onnx_path()
    if prepare_default_model():  # checked it may, said so, fetched the graph; now convert it
        from edgepose.models.tfpose_import import ensure_default_model

        return ensure_default_model()
    return default_model_path()


def load(
    model: str | Path | None = None,
    *,
    backend: str | None = None,
    device: str | None = None,
    stages: int | None = None,
    size: str | int | tuple[int, int] | None = None,
    decoder: DecoderConfig | None = None,
    augment: "str | Augment | None" = None,
    **backend_options,
) -> PoseEstimator:
    """Opens a model file (any format edgepose exports; default: the pretrained model) as an estimator.

    model: path to .keras, .xml, .tflite, .onnx or a SavedModel folder; None for the default model
        (the Keras one, or without TensorFlow its ONNX conversion: see ``set_up_default_model``).
    backend / device: override the backend chosen by suffix, and the device (OpenVINO: CPU, GPU, NPU...).
    stages: cut a Keras model after this many stages (1..6).
    size: "HxW" fixes the network input; "H" (or None: 432) sets the height, width following each image.
    augment: test-time flip and scales averaged before decoding, e.g. "flip,1,0.75" (see edgepose.augment).
    """
    from edgepose.paths import resolve_model

    if model is None:  # without TensorFlow: the ONNX conversion, on OpenCV (or ONNX Runtime)
        path = set_up_default_model(allow_onnx=True)
        if path.suffix == ".onnx" and stages not in (None, 6):
            raise EdgeposeError("the pretrained model without TensorFlow is an ONNX file with its 6 stages built "
                                f"in; --stages {stages} cuts the Keras model: pip install 'edgepose[tf]'")
    else:
        path = resolve_model(model)
    fixed = parse_size(size)
    options = dict(backend_options)
    if stages is not None:
        options["stages"] = stages
    if device is not None:
        options["device"] = device
    be = open_backend(path, backend=backend, **options)
    return PoseEstimator(be, decoder=decoder, size=fixed, augment=augment)
