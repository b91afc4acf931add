"""Measuring int8 models: convert (TFLite full-int8, OpenVINO via NNCF), run, compare with fp32.

Used by the tests and by ``python -m edgepose.bench.quant_report``. The converters here mirror what an
exporter does (full-int8 TFLite with int8 input/output and a representative dataset; NNCF
post-training quantisation of the OpenVINO model); they are for measuring, not for shipping. The
in-memory models run on edgepose's own runtime backends (``LiteRTBackend.from_bytes``,
``OpenVINOBackend.from_model``), as exported files do.
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


# --- TFLite ------------------------------------------------------------------------------------

def batch1_function(model):
    """The Keras model as a tf.function on float32 [1, H, W, 3] (inference mode)."""
    import tensorflow as tf

    shape = [1, *model.inputs[0].shape[1:]]
    return tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)])


def frozen_function(model):
    """The model as a batch-1 concrete tf.function with its weights as constants."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(batch1_function(model).get_concrete_function())


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


def tflite_backend(tflite_model: bytes, config: ModelConfig):
    """edgepose's LiteRT backend (1 thread) on an in-memory TFLite model; float32 maps out."""
    from edgepose.runtime.litert_backend import LiteRTBackend

    return LiteRTBackend.from_bytes(tflite_model, config, threads=1)


# --- OpenVINO ----------------------------------------------------------------------------------

def openvino_fp32(model):
    """The OpenVINO model (ov.Model) of a fixed-size Keras model."""
    import openvino as ov

    return ov.convert_model(batch1_function(model))


def openvino_int8(model, calibration: np.ndarray, **quantize_options):
    """NNCF post-training int8 of the Keras model's OpenVINO conversion (ov.Model);
    ``quantize_options`` go to ``nncf.quantize`` (e.g. preset, fast_bias_correction)."""
    import nncf

    ov_model = openvino_fp32(model)
    data = nncf.Dataset(list(calibration), lambda x: x[None])
    return nncf.quantize(ov_model, data, subset_size=len(calibration), **quantize_options)


def openvino_backend(ov_model, config: ModelConfig, *, precision: str = "int8"):
    """edgepose's OpenVINO backend (CPU, 1 thread, OpenVINO's default inference precision) on an
    in-memory ``openvino.Model``; float32 maps out."""
    from edgepose.runtime.openvino_backend import OpenVINOBackend

    return OpenVINOBackend.from_model(ov_model, config.replace(precision=precision), inference_precision="auto")


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
