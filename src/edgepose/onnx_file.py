"""Reading an ``.onnx`` file's metadata and input shape without the onnx package.

A core install (no ``edgepose[onnx]``) runs ``.onnx`` models on OpenCV and still needs the
``edgepose_config`` entry every edgepose artifact carries. Only the few fields needed are decoded
(``edgepose.protowire``); the weights are skipped over.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from edgepose import protowire as pw

_METADATA_PROPS, _GRAPH, _GRAPH_INPUT, _GRAPH_INITIALIZER = 14, 7, 11, 5


def _fields(data: memoryview) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each top-level field; values are not copied."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = pw.read_varint(data, pos)
        number, kind = key >> 3, key & 7
        start = pos
        if kind == pw.VARINT:
            _, pos = pw.read_varint(data, pos)
        elif kind == pw.LEN:
            size, start = pw.read_varint(data, pos)
            pos = start + size
        elif kind in (pw.FIXED32, pw.FIXED64):
            pos += 4 if kind == pw.FIXED32 else 8
        else:
            raise pw.WireError(f"wire type {kind}: not an ONNX model")
        if pos > end:
            raise pw.WireError("truncated ONNX model")
        yield number, kind, start, pos


def _read(path: str | os.PathLike) -> memoryview:
    return memoryview(Path(path).read_bytes())


def metadata(path: str | os.PathLike) -> dict[str, str]:
    """The model's ``metadata_props`` (key -> value). Raises ValueError (WireError) for a non-ONNX file."""
    data, out = _read(path), {}
    for number, kind, start, end in _fields(data):
        if number == _METADATA_PROPS and kind == pw.LEN:
            entry = pw.parse(data[start:end])
            out[pw.text(entry.get(1, []))] = pw.text(entry.get(2, []))
    return out


def input_shape(path: str | os.PathLike) -> list[int | str | None]:
    """The first graph input's declared dims: an int, a symbolic name (str) or None when unset."""
    data = _read(path)
    for number, kind, start, end in _fields(data):
        if number != _GRAPH or kind != pw.LEN:
            continue
        graph = data[start:end]
        initializers = set()
        inputs = []
        for g_number, g_kind, g_start, g_end in _fields(graph):
            if g_kind != pw.LEN:
                continue
            if g_number == _GRAPH_INITIALIZER:
                initializers.add(pw.text(pw.parse(graph[g_start:g_end]).get(8, [])))
            elif g_number == _GRAPH_INPUT:
                inputs.append(pw.parse(graph[g_start:g_end]))
        for value_info in inputs:  # old exporters list initializers as inputs too
            if pw.text(value_info.get(1, [])) in initializers:
                continue
            type_proto = pw.parse(value_info[2][-1]) if value_info.get(2) else {}
            tensor = pw.parse(type_proto[1][-1]) if type_proto.get(1) else {}
            shape = pw.parse(tensor[2][-1]) if tensor.get(2) else {}
            dims = []
            for raw in shape.get(1, []):
                d = pw.parse(raw)
                dims.append(pw.signed(d[1][-1]) if d.get(1) else pw.text(d[2]) if d.get(2) else None)
            return dims
    raise ValueError(f"{path}: an ONNX model without a graph input")
