"""TensorFlow Lite / LiteRT: fp32, fp16 (float16 weights) and full-integer int8.

int8 is post-training full-integer quantization calibrated on real photos (the representative
dataset): every op int8 (int32 biases), int8 input and int8 outputs, per-channel weights. The
input scale is ~1 (raw pixels 0..255 -> zero point -128), so quantizing the input loses nothing.

Every file carries the config as the flatbuffer metadata entry ``edgepose_config``; input and
output tensors are renamed ``image``, ``heatmaps``, ``pafs`` and outputs ordered heatmaps, pafs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError
from edgepose.artifact import tflite_schema
from edgepose.export.metadata import embed_tflite
from edgepose.io_utils import write_atomic
from edgepose.quiet import native_log

if TYPE_CHECKING:
    from edgepose.export.source import ExportSource


def convert(source: "ExportSource", precision: str) -> bytes:
    """The TFLite flatbuffer of ``source.prepared(precision)`` (no edgepose metadata yet).

    Converted once per source and precision (the edgetpu format reuses the int8 conversion)."""
    return source.cached(("tflite", precision), lambda: _convert(source, precision))


def _convert(source: "ExportSource", precision: str) -> bytes:
    import tensorflow as tf

    if precision == "int8" and _is_qat(source):
        # The fake-quant ops carry every range: no representative dataset, no re-calibration.
        # (from_saved_model does not see them before converting, the concrete function does.)
        loaded = tf.saved_model.load(str(source.saved_model(precision)))
        converter = tf.lite.TFLiteConverter.from_concrete_functions([loaded.signatures["serving_default"]], loaded)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        with native_log():
            flatbuffer = bytes(converter.convert())
        float_ops = _float_ops(flatbuffer)
        if float_ops:
            raise EdgeposeError(f"the QAT model converted with float ops left ({', '.join(float_ops)}): "
                                "some tensor has no trained range")
        return flatbuffer
    converter = tf.lite.TFLiteConverter.from_saved_model(str(source.saved_model(precision)))
    if precision == "int8":
        data = source.calibration_data()
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[None]] for x in data)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    with native_log():
        return bytes(converter.convert())


def _is_qat(source: "ExportSource") -> bool:
    from edgepose.quant.fakequant import is_student

    return is_student(source.prepared("int8")[0])


def _float_ops(flatbuffer: bytes) -> list[str]:
    """Names of the ops of ``flatbuffer`` that compute in float32 (none in a full-integer model)."""
    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            if any(graph.tensors[i].type == schema.TensorType.FLOAT32 for i in op.outputs if i >= 0):
                out.append(names.get(builtin, str(builtin)))
    return out


def saturated_biases(flatbuffer: bytes) -> dict[str, int]:
    """{op output tensor name: how many of its int32 bias values sit at the int32 limits} for the
    convolutions of an integer model. A bias there was too large for input scale x weight scale
    (an output channel with ~0 weights and a large bias): the converter saturates it, and the
    integer sum can wrap around, so the channel is wrong by up to the whole output range."""
    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    limits = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)
    out: dict[str, int] = {}
    for graph in model.subgraphs:
        for op in graph.operators:
            if len(op.inputs) < 3 or op.inputs[2] < 0:
                continue
            bias = graph.tensors[op.inputs[2]]
            if bias.type != schema.TensorType.INT32 or bias.buffer <= 0:
                continue
            data = model.buffers[bias.buffer].data
            if data is None or not len(data):
                continue
            values = np.frombuffer(bytes(np.asarray(data, np.uint8)), np.int32)
            n = int(np.isin(values, limits).sum())
            if n:
                name = graph.tensors[op.outputs[0]].name
                out[(name.decode() if isinstance(name, bytes) else name).split(";")[0]] = n
    return out


def _name_io(flatbuffer: bytes) -> bytes:
    """Renames the I/O tensors after the signature keys (image, heatmaps, pafs), outputs in that order."""
    import flatbuffers

    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    graph = model.subgraphs[0]
    signature = model.signatureDefs[0]
    by_key = {t.name.decode() if isinstance(t.name, bytes) else t.name: t.tensorIndex
              for t in list(signature.inputs) + list(signature.outputs)}
    for key, index in by_key.items():
        graph.tensors[index].name = key
    graph.outputs = np.array([by_key["heatmaps"], by_key["pafs"]], dtype=np.int32)
    signature.outputs = sorted(signature.outputs, key=lambda t: 0 if t.tensorIndex == by_key["heatmaps"] else 1)
    builder = flatbuffers.Builder(len(flatbuffer) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def io_quantization(flatbuffer: bytes) -> dict[str, Any]:
    """{"image"|"heatmaps"|"pafs": {"dtype", "scale", "zero_point"}} of the I/O tensors, by name."""
    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    graph = model.subgraphs[0]
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    out = {}
    for index in list(graph.inputs) + list(graph.outputs):
        t = graph.tensors[index]
        q = t.quantization
        entry: dict[str, Any] = {"dtype": types.get(t.type, str(t.type))}
        if q is not None and q.scale is not None and len(q.scale):
            entry["scale"] = float(q.scale[0])
            entry["zero_point"] = int(q.zeroPoint[0])
        out[t.name.decode() if isinstance(t.name, bytes) else t.name] = entry
    return out


def check_loads(flatbuffer: bytes) -> None:
    """Raises if the LiteRT (or TF Lite) interpreter cannot load and allocate the model."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with native_log():
        Interpreter(model_content=flatbuffer).allocate_tensors()


def build(source: "ExportSource", precision: str, extra_quantization: dict[str, Any] | None = None
          ) -> tuple[bytes, ModelConfig]:
    """The finished flatbuffer (named I/O, metadata inside, verified to load) and its config.

    extra_quantization: more entries for ``config.quantization`` (e.g. the target device)."""
    flatbuffer = convert(source, precision)
    flatbuffer = _name_io(flatbuffer)
    quantization: dict[str, Any] = {}
    if precision == "int8":
        qat = _is_qat(source)
        quantization = {
            "method": "quantisation-aware training: tflite full-integer from the trained fake-quant ranges "
                      "(per-channel weights, int32 biases), no re-calibration" if qat else
                      "tflite post-training full-integer (per-channel weights, int32 biases)",
            "calibration": source.calibration_info(),
            "tensors": io_quantization(flatbuffer),
        }
    elif precision == "fp16":
        quantization = {"weights": "float16", "activations": "float32"}
    config = source.config_for(precision, {**quantization, **(extra_quantization or {})})
    flatbuffer = embed_tflite(flatbuffer, config)
    check_loads(flatbuffer)
    return flatbuffer, config


def write(source: "ExportSource", precision: str, output: Path) -> tuple[ModelConfig, list[Path], dict[str, Any]]:
    """The ``tflite`` format. Returns (config, files, report)."""
    flatbuffer, config = build(source, precision)
    write_atomic(output, flatbuffer)
    return config, [output], {}
