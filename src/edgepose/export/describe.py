"""What is inside a model artifact: inputs, outputs (with int8 scale and zero point), the edgepose
metadata and op counts per type -- for ``edgepose inspect``.

    describe("m_int8.tflite") -> {"format": "tflite", "inputs": [...], "outputs": [...],
                                  "metadata": {...ModelConfig...}, "ops": {"CONV_2D": 72, ...}, ...}
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from edgepose.errors import EdgeposeError, require
from edgepose.artifact import artifact_kind, read_config


def _tensor(name: str, shape, dtype: str, scale: float | None = None, zero_point: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "shape": [int(d) if d is not None and int(d) >= 0 else None for d in shape],
                             "dtype": dtype}
    if scale is not None:
        entry["scale"] = float(scale)
        entry["zero_point"] = int(zero_point)
    return entry


def _describe_tflite(path: Path) -> dict[str, Any]:
    from edgepose.export.edgetpu import _type_names, op_views
    from edgepose.artifact import read_tflite_metadata, tflite_schema

    data = path.read_bytes()
    model = tflite_schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    types = _type_names()

    def tensor(i: int) -> dict[str, Any]:
        t = graph.tensors[i]
        q = t.quantization
        has_q = q is not None and q.scale is not None and len(q.scale) > 0
        sig = t.shapeSignature if t.shapeSignature is not None and len(t.shapeSignature) else t.shape
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        return _tensor(name, sig, types.get(t.type, str(t.type)),
                       float(q.scale[0]) if has_q else None, int(q.zeroPoint[0]) if has_q else None)

    return {
        "inputs": [tensor(i) for i in graph.inputs],
        "outputs": [tensor(i) for i in graph.outputs],
        "ops": dict(Counter(v.op for v in op_views(model))),
        "subgraphs": len(model.subgraphs),
        "metadata_entries": sorted(read_tflite_metadata(data)),
    }


def _describe_onnx(path: Path) -> dict[str, Any]:
    onnx = require("onnx", "onnx", "inspecting .onnx files")
    model = onnx.load(str(path), load_external_data=False)
    names = {v: k for k, v in onnx.TensorProto.DataType.items()}

    def value(v) -> dict[str, Any]:
        t = v.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        return _tensor(v.name, shape, names.get(t.elem_type, str(t.elem_type)).lower())

    initializers = {i.name for i in model.graph.initializer}
    return {
        "inputs": [value(v) for v in model.graph.input if v.name not in initializers],
        "outputs": [value(v) for v in model.graph.output],
        "ops": dict(Counter(n.op_type for n in model.graph.node)),
        "opset": [{"domain": o.domain or "ai.onnx", "version": o.version} for o in model.opset_import],
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
    }


def _describe_openvino(path: Path) -> dict[str, Any]:
    ov = require("openvino", "openvino", "inspecting OpenVINO IRs")
    model = ov.Core().read_model(str(path))

    def port(p) -> dict[str, Any]:
        shape = [d.get_length() if d.is_static else None for d in p.get_partial_shape()]
        return _tensor(p.get_any_name(), shape, p.get_element_type().get_type_name())

    ops = Counter(op.get_type_name() for op in model.get_ordered_ops())
    weights = Counter(op.get_output_element_type(0).get_type_name() for op in model.get_ordered_ops()
                      if op.get_type_name() == "Constant")
    return {"inputs": [port(p) for p in model.inputs], "outputs": [port(p) for p in model.outputs],
            "ops": dict(ops), "constants_by_type": dict(weights)}


def _describe_saved_model(path: Path) -> dict[str, Any]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    sig = loaded.signatures["serving_default"]
    inputs = [_tensor(k, v.shape, v.dtype.name) for k, v in sig.structured_input_signature[1].items()]
    order = {"heatmaps": 0, "pafs": 1}
    outputs = [_tensor(k, v.shape, v.dtype.name)
               for k, v in sorted(sig.structured_outputs.items(), key=lambda kv: order.get(kv[0], 2))]
    ops: Counter[str] = Counter()
    graph_def = sig.graph.as_graph_def()
    for f in graph_def.library.function:
        ops.update(n.op for n in f.node_def)
    ops.update(n.op for n in graph_def.node)
    return {"inputs": inputs, "outputs": outputs, "ops": dict(ops), "signatures": list(loaded.signatures)}


def _describe_keras(path: Path) -> dict[str, Any]:
    from edgepose.models import load_keras

    model, _ = load_keras(path)
    return {
        "inputs": [_tensor(t.name, t.shape, str(t.dtype)) for t in model.inputs],
        "outputs": [_tensor(n, t.shape, str(t.dtype)) for n, t in zip(model.output_names, model.outputs)],
        "ops": dict(Counter(type(layer).__name__ for layer in model.layers)),
        "parameters": int(model.count_params()),
    }


_DESCRIBERS = {"tflite": _describe_tflite, "onnx": _describe_onnx, "openvino": _describe_openvino,
               "saved_model": _describe_saved_model, "keras": _describe_keras}


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """Everything ``edgepose inspect`` shows, as a JSON-ready dict.

    Keys: path, format, size_bytes, inputs / outputs (name, shape, dtype, and scale/zero_point for
    quantized tensors), ops (count per op type; layers per class for .keras), metadata (the
    ModelConfig as a dict, or None with ``metadata_error`` explaining why), plus format extras.
    """
    path = Path(path)
    if not path.exists():
        raise EdgeposeError(f"model file {str(path)!r} does not exist")
    kind = artifact_kind(path)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    if kind == "openvino" and path.with_suffix(".bin").exists():
        size += path.with_suffix(".bin").stat().st_size
    out: dict[str, Any] = {"path": str(path), "format": kind, "size_bytes": size}
    try:
        out["metadata"] = read_config(path).to_dict()
    except EdgeposeError as e:
        out["metadata"] = None
        out["metadata_error"] = str(e)
    try:
        out.update(_DESCRIBERS[kind](path))
    except EdgeposeError:
        raise
    except Exception as e:
        raise EdgeposeError(f"{path}: cannot read this {kind} model ({type(e).__name__}: {e})") from None
    return out


def format_text(info: dict[str, Any]) -> str:
    """``describe()``'s dict as a few readable lines."""
    lines = [f"{info['path']}  ({info['format']}, {info['size_bytes'] / 1e6:.2f} MB)"]
    for key in ("inputs", "outputs"):
        lines.append(f"{key}:")
        for t in info.get(key, []):
            shape = "x".join("?" if d is None else str(d) for d in t["shape"])
            q = f"  scale {t['scale']:.6g} zero_point {t['zero_point']}" if "scale" in t else ""
            lines.append(f"  {t['name']:<12} {t['dtype']:<8} [{shape}]{q}")
    meta = info.get("metadata")
    if meta:
        size = "x".join(map(str, meta["input_size"])) if meta.get("input_size") else "any"
        lines.append(f"metadata: {meta['preset']} {size} stages {meta['stages']} {meta['precision']} "
                     f"{meta['channel_order']} mean {meta['input_mean']} scale {meta['input_scale']} "
                     f"stride {meta['stride']} skeleton {meta['skeleton']} edgepose {meta['edgepose_version']}")
        if meta.get("quantization"):
            import json

            lines.append(f"  quantization: {json.dumps(meta['quantization'])}")
        if meta.get("weights_sha256"):
            lines.append(f"  weights sha256: {meta['weights_sha256']}")
    else:
        lines.append(f"metadata: none ({info.get('metadata_error', '')})")
    ops = info.get("ops", {})
    lines.append(f"ops ({sum(ops.values())}): " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)
