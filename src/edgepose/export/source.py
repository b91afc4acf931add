"""What every exporter starts from: the Keras model at a fixed input size, its config, and (built
once, shared by all formats) a SavedModel with one ``serving_default`` signature
``image float32 [1, H, W, 3] -> {"heatmaps": [1, H/8, W/8, 19], "pafs": [1, H/8, W/8, 38]}``.

Reduced-precision exports start from a prepared copy of the model (``prepared``): int8 from
``edgepose.quant.prepare`` (graph edits for full-integer quantization, on the calibration photos),
fp16 from ``edgepose.quant.prepare_for_fp16`` (an exact rescaling that float16 weights survive).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError
from edgepose.io_utils import file_sha256
from edgepose.export.calibration import DEFAULT_NUM_CALIBRATION, load_calibration

DEFAULT_SIZE = (432, 576)
#: What ``--dynamic`` exports cannot be: int8 calibrates at one size and its targets (Edge TPU,
#: NPUs) need fixed shapes; the Edge TPU compiler refuses dynamic tensors.
DYNAMIC_FORMATS = ("saved_model", "onnx", "openvino", "tflite")
DYNAMIC_PRECISIONS = ("fp32", "fp16")
OUTPUT_NAMES = ("heatmaps", "pafs")
NEEDS_CALIBRATION = ("int8 export needs calibration photos: pass calibration=DIR (--calibration DIR), "
                     "a folder of ~100 photos like the ones the model will see")


def output_indices(model, config: ModelConfig) -> tuple[int, int]:
    """Positions of (heatmaps, pafs) among ``model.outputs``: by layer name, else by channel count."""
    names = list(getattr(model, "output_names", []) or [])
    if all(n in names for n in OUTPUT_NAMES):
        return names.index("heatmaps"), names.index("pafs")
    channels = [int(o.shape[-1]) for o in model.outputs]
    if len(channels) == 2 and sorted(channels) == sorted((config.num_heatmaps, config.num_pafs)):
        return channels.index(config.num_heatmaps), channels.index(config.num_pafs)
    raise EdgeposeError(
        f"cannot tell heatmaps from PAFs among the model outputs {names} (channels {channels}); "
        "expected outputs named 'heatmaps' and 'pafs'"
    )


def recipe_id() -> str:
    """What an export depends on besides the model file and the options: the edgepose version and
    the int8 and fp16 preparation recipes. Caches of exported files key on it."""
    from edgepose import __version__
    from edgepose.quant.fp16 import RECIPE_VERSION as FP16_RECIPE
    from edgepose.quant.prepare import RECIPE_VERSION as INT8_RECIPE

    return f"edgepose {__version__}, int8 recipe {INT8_RECIPE}, fp16 recipe {FP16_RECIPE}"


def resolve_model_path(model_path: str | os.PathLike | None) -> Path:
    """The .keras file to export: ``model_path``, or the pretrained default; EdgeposeError if missing."""
    from edgepose.paths import resolve_model

    if model_path is None:
        from edgepose.estimator import set_up_default_model

        set_up_default_model()
    path = resolve_model(model_path)
    if path.suffix != ".keras":
        raise EdgeposeError(f"{path}: export starts from an edgepose .keras model, not {path.suffix or 'a folder'}")
    return path


def planned_config(model_path: Path, size: tuple[int, int] | None, stages: int | None) -> ModelConfig:
    """The exported model's config read from the .keras file without loading the network
    (``size`` None: a dynamic input size)."""
    from edgepose.models.io import read_config

    try:
        config = read_config(model_path)
        return config.replace(input_size=None if size is None else tuple(size),
                              stages=config.stages if stages is None else int(stages))
    except ValueError as e:
        raise EdgeposeError(str(e)) from None


class ExportSource:
    """A loaded Keras model fixed to one input size, ready to be written in any format.

    model_path: an edgepose ``.keras`` file; None for the pretrained default model.
    size: (height, width) in pixels, multiples of the stride (8).
    dynamic: leave height and width free (``size`` is ignored; ``config.input_size`` is None):
        the runtime sizes each image like the Keras path. fp32 and fp16 only.
    stages: keep the first K refinement stages (None: all of the file's).
    calibration: folder of photos for int8 calibration; num_calibration: how many of them to use.
    prepare_int8: run ``edgepose.quant.prepare`` before int8 conversion (False: naive PTQ).
    qat_steps: int8 by quantisation-aware training instead of post-training calibration
        (``edgepose.quant.fakequant``): the preparation steps (fold, equalise, GPTQ), then ``qat_steps`` steps of
        distillation into a fake-quant student (0: its calibration ranges, untrained); the
        converters take the student's trained ranges. None: the post-training recipe.
    qat_images: folder of photos to train on (default: the calibration folder); never the
        photos you evaluate on. qat_options: more ``train_qat`` keyword arguments.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        size: tuple[int, int] = DEFAULT_SIZE,
        stages: int | None = None,
        calibration: str | os.PathLike | None = None,
        num_calibration: int = DEFAULT_NUM_CALIBRATION,
        prepare_int8: bool = True,
        dynamic: bool = False,
        qat_steps: int | None = None,
        qat_images: str | os.PathLike | None = None,
        qat_options: dict[str, Any] | None = None,
    ) -> None:
        from edgepose.models import load_keras

        path = resolve_model_path(model_path)
        size = None if dynamic else tuple(int(v) for v in size)
        if size is not None and (len(size) != 2 or min(size) <= 0):
            raise EdgeposeError(f"size must be (height, width), got {size}")
        if stages is not None and stages < 1:
            raise EdgeposeError(f"stages must be >= 1, not {stages}")
        if num_calibration < 1:
            raise EdgeposeError(f"num_calibration must be >= 1, not {num_calibration}")
        try:
            model, config = load_keras(path, stages=stages, input_size=size)
        except ValueError as e:
            raise EdgeposeError(str(e)) from None
        from edgepose import __version__

        self.path = path
        self.model = model
        self.config = config.replace(
            precision="fp32",
            quantization={},
            weights_sha256=config.weights_sha256 or file_sha256(path),
            edgepose_version=__version__,
        )
        self.dynamic = bool(dynamic)
        self.calibration_dir = Path(calibration) if calibration is not None else None
        self.num_calibration = int(num_calibration)
        self.prepare_int8 = prepare_int8
        if qat_steps is not None and int(qat_steps) < 0:
            raise EdgeposeError(f"qat_steps must be >= 0, not {qat_steps}")
        self.qat_steps = None if qat_steps is None else int(qat_steps)
        self.qat_images = Path(qat_images) if qat_images is not None else None
        self.qat_options = dict(qat_options or {})
        self._calibration: np.ndarray | None = None
        self._prepared: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._saved: dict[str, Path] = {}
        self._cache: dict[tuple, Any] = {}
        self._tmp = tempfile.mkdtemp(prefix="edgepose-export-")

    # -- inputs shared by the formats

    def calibration_data(self) -> np.ndarray:
        """float32 [N, H, W, 3] letterboxed calibration photos (loaded once)."""
        if self._calibration is None:
            if self.dynamic:
                raise EdgeposeError("int8 needs a fixed input size (calibration and int8 targets are fixed-size); "
                                    "drop --dynamic or export fp32 / fp16")
            if self.calibration_dir is None:
                raise EdgeposeError(NEEDS_CALIBRATION)
            self._calibration = load_calibration(self.calibration_dir, self.config, self.num_calibration)
        return self._calibration

    def calibration_info(self) -> dict[str, Any]:
        return {"images": int(len(self.calibration_data())), "folder": self.calibration_dir.name}

    def prepared(self, precision: str) -> tuple[Any, dict[str, Any]]:
        """(the Keras model a ``precision`` artifact is converted from, what was done to it) --
        prepared once per precision. The second item is the ``quantization["prepare"]``
        metadata: {} for fp32 and for int8 with ``prepare_int8=False``."""
        if precision not in self._prepared:
            from edgepose import quant

            if precision == "int8" and self.qat_steps is not None:
                self._prepared[precision] = self._qat_student()
            elif precision == "int8" and self.prepare_int8:
                done = quant.prepare(self.model, self.config, self.calibration_data())
                self._prepared[precision] = (done.model, done.config.quantization["prepare"])
            elif precision == "fp16":
                self._prepared[precision] = quant.prepare_for_fp16(self.model)
            else:
                self._prepared[precision] = (self.model, {})
        return self._prepared[precision]

    def _qat_student(self) -> tuple[Any, dict[str, Any]]:
        """(the trained fake-quant student, the preparation metadata incl. the QAT recipe)."""
        from edgepose import quant
        from edgepose.quant.fakequant import stat_crops, student_ranges, train_qat, with_input_size

        calibration = self.calibration_data()
        # Statistics on half-size crops: a quarter of the memory (7.7 GB at 432x576 otherwise).
        crops = stat_crops(calibration)
        options = dict(self.qat_options)
        gptq = bool(options.pop("gptq", True))  # start from GPTQ-rounded weights (docs/int8.md)
        done = quant.prepare(with_input_size(self.model, crops.shape[1:3]), self.config, crops, gptq=gptq)
        folder = self.qat_images or self.calibration_dir
        images = load_calibration(folder, self.config, None) if self.qat_images is not None else calibration
        student, report = train_qat(with_input_size(done.model, self.config.input_size), crops, images,
                                    steps=self.qat_steps, **options)
        meta = dict(done.config.quantization["prepare"])
        ranges = student_ranges(student)
        meta["steps"] = list(meta["steps"]) + [{"step": "qat", **report.recipe, "images_folder": Path(folder).name,
                                               "final_loss": report.losses[-1] if report.losses else None,
                                               "activation_ranges": len(ranges)}]
        meta["exact"] = False
        self.qat_report = report
        return student, meta

    def saved_model(self, precision: str = "fp32") -> Path:
        """A SavedModel folder of ``prepared(precision)``'s model, written once per precision.

        Temporary: removed by ``close()``. Converters (TFLite, ONNX, OpenVINO) read it.
        """
        if precision not in self._saved:
            from edgepose.export.saved_model import write_saved_model

            folder = Path(self._tmp) / f"{precision}_source"
            write_saved_model(self.prepared(precision)[0], self.config, folder)
            self._saved[precision] = folder
        return self._saved[precision]

    def cached(self, key: tuple, build):
        """``build()`` once per ``key`` for this source (e.g. the int8 TFLite shared by tflite and edgetpu)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def config_for(self, precision: str, quantization: dict[str, Any] | None = None) -> ModelConfig:
        """The config an artifact of ``precision`` carries; below fp32 its ``quantization`` also
        records the preparation (``"prepare"``: recipe, steps, exact; {} when none was done)."""
        quantization = dict(quantization or {})
        if precision != "fp32":
            quantization["prepare"] = self.prepared(precision)[1]
        return self.config.replace(precision=precision, quantization=quantization)

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._saved.clear()
        self._prepared.clear()
        self._cache.clear()

    def __enter__(self) -> "ExportSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
