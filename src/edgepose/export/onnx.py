"""ONNX (fp32, opset 17 by default) through tf2onnx from the SavedModel signature.

Input ``image`` float32 [1, H, W, 3] (NHWC, as the Keras model; H and W free with ``--dynamic``), outputs ``heatmaps`` and
``pafs``; the config is the ``metadata_props`` entry ``edgepose_config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError, require
from edgepose.export.metadata import embed_onnx
from edgepose.io_utils import write_atomic

if TYPE_CHECKING:
    from edgepose.export.source import ExportSource

DEFAULT_OPSET = 17
MIN_OPSET = 13


def convert(source: "ExportSource", opset: int = DEFAULT_OPSET):
    """An ``onnx.ModelProto`` of the fp32 model (no edgepose metadata yet)."""
    require("onnx", "onnx", "ONNX export")
    tf2onnx = require("tf2onnx", "onnx", "ONNX export")
    import tensorflow as tf

    if opset < MIN_OPSET:
        raise EdgeposeError(f"ONNX opset {opset} is too old; use {MIN_OPSET} or newer (default {DEFAULT_OPSET})")
    h, w = source.config.input_size or (None, None)  # None: a dynamic ("unk") height and width
    loaded = tf.saved_model.load(str(source.saved_model()))
    signature = loaded.signatures["serving_default"]

    def serve(image):
        outputs = signature(image=image)
        return {"heatmaps": outputs["heatmaps"], "pafs": outputs["pafs"]}

    spec = [tf.TensorSpec([1, h, w, 3], tf.float32, name="image")]
    model, _ = tf2onnx.convert.from_function(tf.function(serve), input_signature=spec, opset=opset)
    names = [o.name for o in model.graph.output]
    if names != ["heatmaps", "pafs"]:
        raise EdgeposeError(f"tf2onnx named the outputs {names}, expected ['heatmaps', 'pafs']")
    return model


def write(source: "ExportSource", precision: str, output: Path, *, opset: int = DEFAULT_OPSET
          ) -> tuple[ModelConfig, list[Path], dict[str, Any]]:
    """The ``onnx`` format (fp32). Returns (config, files, report)."""
    model = convert(source, opset)
    config = source.config_for(precision)
    embed_onnx(model, config)
    model.producer_name = "edgepose"
    write_atomic(output, model.SerializeToString())
    return config, [output], {"opset": opset}
