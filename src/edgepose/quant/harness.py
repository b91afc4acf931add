"""Measuring int8 models: convert (TFLite full-int8, OpenVINO via NNCF), run, compare with fp32.

Used by the tests and by ``python -m edgepose.quant.report``. The converters here mirror what an
exporter does (full-int8 TFLite with int8 input/output and a representative dataset; NNCF
post-training quantisation of the OpenVINO model); they are for measuring, not for shipping.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from edgepose.config import ModelConfig
from edgepose.pose import Pose
from edgepose.runtime.base import Backend

#: TFLite builtin ops the Edge TPU compiler maps fully (with fused ReLU) for this network.
EDGETPU_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "CONCATENATION", "MAX_POOL_2D"})


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The .jpg/.png photos in ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def load_inputs(
    files: Iterable[str | os.PathLike], input_hw: tuple[int, int], config: ModelConfig, *, flips: bool = False
) -> np.ndarray:
    """Letterboxed network inputs float32 [N, H, W, 3] (with ``flips``: also each mirrored)."""
    from edgepose.image_io import read_image
    from edgepose.preprocess import letterbox

    out = []
    for f in files:
        image = read_image(f)
        out.append(letterbox(image, input_hw, config)[0])
        if flips:
            out.append(letterbox(np.ascontiguousarray(image[:, ::-1]), input_hw, config)[0])
    return np.stack(out)


def _split_maps(outputs: list[np.ndarray], config: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """(heatmaps, pafs) from a runtime's outputs in any order, told apart by channel count."""
    by_channels = {o.shape[-1]: o for o in outputs}
    return by_channels[config.num_heatmaps], by_channels[config.num_pafs]


# --- TFLite ------------------------------------------------------------------------------------

def frozen_function(model):
    """The model as a batch-1 concrete tf.function with its weights as constants."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    shape = [1, *model.inputs[0].shape[1:]]
    fn = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)])
    return convert_variables_to_constants_v2(fn.get_concrete_function())


def tflite_int8(model, calibration: np.ndarray) -> bytes:
    """Full-integer TFLite (int8 weights, activations, input and output) of a fixed-size Keras
    model, calibrated on ``calibration`` (float32 [N, H, W, 3]) one image at a time."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([frozen_function(model)])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x[None]] for x in calibration)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def tflite_ops(tflite_model: bytes) -> set[str]:
    """The set of op names in a TFLite flatbuffer."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite_model)
    return {op["op_name"] for op in interp._get_ops_details()}


class TFLiteBackend(Backend):
    """Runs a TFLite model (float or int8 input/output) with ai_edge_litert; float32 maps out."""

    name = "litert"

    def __init__(self, tflite_model: bytes, config: ModelConfig, *, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_content=tflite_model, num_threads=threads)
        self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]
        self.outs = self.interp.get_output_details()
        h, w = (int(v) for v in self.inp["shape"][1:3])
        super().__init__(None, config.replace(input_size=(h, w), precision="int8"))

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = self.check_input(batch)
        results: list[list[np.ndarray]] = [[] for _ in self.outs]
        for x in batch:
            if self.inp["dtype"] != np.float32:
                scale, zero = self.inp["quantization"]
                info = np.iinfo(self.inp["dtype"])
                x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(self.inp["dtype"])
            self.interp.set_tensor(self.inp["index"], x[None])
            self.interp.invoke()
            for i, d in enumerate(self.outs):
                y = self.interp.get_tensor(d["index"])[0]
                if d["dtype"] != np.float32:
                    scale, zero = d["quantization"]
                    y = (y.astype(np.float32) - zero) * scale
                results[i].append(y)
        return _split_maps([np.stack(r) for r in results], self.config)


# --- OpenVINO ----------------------------------------------------------------------------------

def openvino_fp32(model):
    """The OpenVINO model (ov.Model) of a fixed-size Keras model."""
    import openvino as ov
    import tensorflow as tf

    shape = [1, *model.inputs[0].shape[1:]]
    fn = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)])
    return ov.convert_model(fn)


def openvino_int8(model, calibration: np.ndarray, **quantize_options):
    """NNCF post-training int8 of the Keras model's OpenVINO conversion (ov.Model);
    ``quantize_options`` go to ``nncf.quantize`` (e.g. preset, fast_bias_correction)."""
    import nncf

    ov_model = openvino_fp32(model)
    data = nncf.Dataset(list(calibration), lambda x: x[None])
    return nncf.quantize(ov_model, data, subset_size=len(calibration), **quantize_options)


class OpenVINOBackend(Backend):
    """Runs an in-memory ov.Model on CPU; float32 maps out."""

    name = "openvino"

    def __init__(self, ov_model, config: ModelConfig, *, threads: int = 1, precision: str = "int8") -> None:
        import openvino as ov

        core = ov.Core()
        self.compiled = core.compile_model(ov_model, "CPU", {"INFERENCE_NUM_THREADS": threads})
        h, w = (int(v) for v in ov_model.inputs[0].get_partial_shape().to_shape()[1:3])
        super().__init__(None, config.replace(input_size=(h, w), precision=precision))

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = self.check_input(batch)
        results = [[], []]
        for x in batch:
            out = self.compiled(x[None])
            hm, paf = _split_maps([np.asarray(v) for v in out.values()], self.config)
            results[0].append(hm[0])
            results[1].append(paf[0])
        return np.stack(results[0]), np.stack(results[1])


# --- Comparisons -------------------------------------------------------------------------------

def maps(backend: Backend, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(heatmaps [N, h, w, 19], pafs [N, h, w, 38]) of a backend on inputs, one at a time."""
    hms, pafs = zip(*(backend.infer(x[None]) for x in inputs))
    return np.concatenate(hms), np.concatenate(pafs)


def matched_fraction(reference: list[list[Pose]], test: list[list[Pose]], threshold: float = 0.9) -> tuple[float, int]:
    """Fraction of the reference people (over all images) that have a test person with
    OKS >= ``threshold`` (greedy one-to-one by OKS, ``edgepose.eval.match_people``; the area of a
    reference person is its keypoints' box, a little stricter than COCO's segment area), and the
    number of reference people."""
    from edgepose.eval.oks import match_people

    hits = total = 0
    for ref, got in zip(reference, test):
        best = match_people([p.to_coco17() for p in ref], [q.to_coco17() for q in got])
        hits += sum(b >= threshold for b in best)
        total += len(best)
    return (hits / total if total else 1.0), total


def coco_ap(backend: Backend, images_dir: str | os.PathLike, annotations: str | os.PathLike) -> tuple[float, list[list[Pose]]]:
    """COCO keypoint AP (0..100) of ``backend`` at its fixed input size, and the poses per image
    (in annotation order), with the default decoder."""
    from edgepose.estimator import PoseEstimator
    from edgepose.eval.coco import validate

    poses: list[list[Pose]] = []
    result = validate(PoseEstimator(backend), images_dir, annotations, progress=False,
                      on_result=lambda path, pred: poses.append(pred.poses))
    return 100.0 * result["metrics"]["AP"], poses
