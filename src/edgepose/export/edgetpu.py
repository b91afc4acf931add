"""Coral Edge TPU: the full-int8 TFLite, checked op by op against the Edge TPU's documented
requirements, and compiled when ``edgetpu_compiler`` is installed.

The rules come from Coral's "TensorFlow models on the Edge TPU" page
(https://coral.ai/docs/edgetpu/models-intro/, "Model requirements" and "Supported operations"):

* tensor parameters quantized to 8 bits (int8 or uint8; biases int32);
* tensor sizes constant at compile time (no dynamic shapes), parameters (weights, biases) constant;
* tensors 1-, 2- or 3-dimensional; with more dimensions only the 3 innermost may be larger than 1;
* only the operations of the table below, within their known limitations;
* the compiler maps ops in execution order until the first one it cannot map: that op and every
  op after it run on the CPU (the graph is split once).

Limitations that depend on the compiler's internal heuristics (e.g. "certain reshapes might not be
mapped for large tensor sizes") are listed but cannot be checked here; the compiler has the last word.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from edgepose.config import ModelConfig
from edgepose.artifact import tflite_schema
from edgepose.io_utils import write_atomic

if TYPE_CHECKING:
    from edgepose.export.source import ExportSource

DOC_URL = "https://coral.ai/docs/edgetpu/models-intro/"
COMPILER = "edgetpu_compiler"


@dataclass
class OpView:
    """One TFLite operator with what the rules need: its type, options, tensors and constants."""

    index: int
    op: str  # builtin name, e.g. "CONV_2D"
    options: Any  # the builtin options object (schema object API) or None
    inputs: list[Any]  # TensorT (None for an omitted optional input)
    outputs: list[Any]
    constant: list[bool]  # per input: backed by a constant buffer
    constant_values: list[np.ndarray | None]


def _no_fused_activation(v: OpView) -> list[str]:
    act = getattr(v.options, "fusedActivationFunction", 0)
    return [f"fused activation function ({act}) is not supported"] if act else []


def _concatenation(v: OpView) -> list[str]:
    problems = _no_fused_activation(v)
    const = [i for i, c in enumerate(v.constant) if c]
    if const:
        if len(v.inputs) != 2:
            problems.append("a compile-time constant input is allowed only with exactly 2 inputs")
        for i in const:
            values = v.constant_values[i]
            if values is not None and np.any(values != _zero_point(v.inputs[i])):
                problems.append("a constant input must be all zeroes (a zero-padding)")
    return problems


def _depthwise(v: OpView) -> list[str]:
    o = v.options
    if getattr(o, "dilationHFactor", 1) != 1 or getattr(o, "dilationWFactor", 1) != 1:
        return ["dilated depthwise kernels are not supported"]
    return []


def _spatial_axes_only(v: OpView, what: str) -> list[str]:
    axes = v.constant_values[1] if len(v.constant_values) > 1 else None
    if axes is None:
        return [f"{what} axes are not a compile-time constant"]
    rank = len(v.inputs[0].shape)
    bad = sorted({int(a) % rank for a in np.ravel(axes)} - {1, 2})
    return [f"{what} along axis {bad} (only x and/or y are supported)"] if bad else []


def _pad(v: OpView) -> list[str]:
    pads = v.constant_values[1] if len(v.constant_values) > 1 else None
    if pads is None:
        return ["paddings are not a compile-time constant"]
    pads = np.asarray(pads).reshape(-1, 2)
    bad = [i for i in range(len(pads)) if i not in (1, 2) and np.any(pads[i] != 0)]
    return [f"padding along axis {bad} (only x and/or y are supported)"] if bad else []


def _strided_slice(v: OpView) -> list[str]:
    strides = v.constant_values[3] if len(v.constant_values) > 3 else None
    problems = []
    if strides is None or np.any(np.asarray(strides) != 1):
        problems.append("strides must all be 1")
    o = v.options
    if getattr(o, "ellipsisMask", 0) or getattr(o, "newAxisMask", 0):
        problems.append("ellipsis and new-axis masks must be 0")
    return problems


def _softmax(v: OpView) -> list[str]:
    shape = [d for d in v.inputs[0].shape if d != 1]
    if len(shape) > 1 or (shape and shape[0] > 16000):
        return ["only a 1-D input of at most 16,000 elements is supported"]
    return []


def _fully_connected(v: OpView) -> list[str]:
    problems = []
    if getattr(v.options, "weightsFormat", 0) != 0:
        problems.append("only the default weights format is supported")
    if len([d for d in v.outputs[0].shape if d != 1]) > 1:
        problems.append("the output must be one-dimensional")
    return problems


def _quantize(v: OpView) -> list[str]:
    # Requantization int8 -> int8 maps; a float input is quantized on the CPU before the TPU.
    return [] if _is_8bit(v.inputs[0]) else ["quantizes a non-8-bit (float) tensor"]


@dataclass(frozen=True)
class OpRule:
    """A supported operation: Coral's name, its documented limitation, and a check of it."""

    name: str
    limitation: str = ""
    check: Callable[[OpView], list[str]] | None = None


_NO_FUSED = "No fused activation function."
#: TFLite builtin op -> rule, after Coral's "Supported operations" table.
SUPPORTED: dict[str, OpRule] = {
    "ADD": OpRule("Add"),
    "AVERAGE_POOL_2D": OpRule("AveragePool2d", _NO_FUSED, _no_fused_activation),
    "CONCATENATION": OpRule("Concatenation", _NO_FUSED + " If any input is a compile-time constant tensor, there "
                            "must be only 2 inputs, and this constant tensor must be all zeroes.", _concatenation),
    "CONV_2D": OpRule("Conv2d"),
    "DEPTHWISE_CONV_2D": OpRule("DepthwiseConv2d", "Dilated conv kernels are not supported.", _depthwise),
    "EXPAND_DIMS": OpRule("ExpandDims"),
    "FULLY_CONNECTED": OpRule("FullyConnected", "Only the default format is supported for fully-connected "
                              "weights. Output tensor is one-dimensional.", _fully_connected),
    "L2_NORMALIZATION": OpRule("L2Normalization"),
    "LOGISTIC": OpRule("Logistic"),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": OpRule("LSTM", "Unidirectional LSTM only."),
    "MAXIMUM": OpRule("Maximum"),
    "MAX_POOL_2D": OpRule("MaxPool2d", _NO_FUSED, _no_fused_activation),
    "MEAN": OpRule("Mean", "No reduction in batch dimension. Supports reduction along x- and/or y-dimensions only.",
                   lambda v: _spatial_axes_only(v, "reduction")),
    "MINIMUM": OpRule("Minimum"),
    "MUL": OpRule("Mul"),
    "PACK": OpRule("Pack", "No packing in batch dimension."),
    "PAD": OpRule("Pad", "No padding in batch dimension. Supports padding along x- and/or y-dimensions only.", _pad),
    "PRELU": OpRule("PReLU", "Alpha needs to be constant."),
    "QUANTIZE": OpRule("Quantize", "", _quantize),
    "REDUCE_MAX": OpRule("ReduceMax", "No reduction in batch dimension."),
    "REDUCE_MIN": OpRule("ReduceMin", "No reduction in batch dimension."),
    "RELU": OpRule("ReLU"),
    "RELU6": OpRule("ReLU6"),
    "RELU_N1_TO_1": OpRule("ReLUN1To1"),
    "RESHAPE": OpRule("Reshape", "Certain reshapes might not be mapped for large tensor sizes."),
    "RESIZE_BILINEAR": OpRule("ResizeBilinear", "Input/output is a 3-dimensional tensor. Depending on input/output "
                              "size, this operation may not be mapped to the Edge TPU to avoid loss in precision."),
    "RESIZE_NEAREST_NEIGHBOR": OpRule("ResizeNearestNeighbor", "Input/output is a 3-dimensional tensor. Depending on "
                                      "input/output size, this operation may not be mapped to the Edge TPU."),
    "RSQRT": OpRule("Rsqrt"),
    "SLICE": OpRule("Slice"),
    "SOFTMAX": OpRule("Softmax", "Supports only 1-D input tensor with a max of 16,000 elements.", _softmax),
    "SPACE_TO_DEPTH": OpRule("SpaceToDepth"),
    "SPLIT": OpRule("Split", "No splitting in batch dimension."),
    "SQUEEZE": OpRule("Squeeze"),
    "STRIDED_SLICE": OpRule("StridedSlice", "Supported only when all strides are equal to 1, with ellipsis-axis-mask "
                            "== 0 and new-axis-mask == 0.", _strided_slice),
    "SUB": OpRule("Sub"),
    "SUM": OpRule("Sum", "No reduction in batch dimension.", lambda v: _spatial_axes_only(v, "reduction")),
    "SQUARED_DIFFERENCE": OpRule("SquaredDifference"),
    "TANH": OpRule("Tanh"),
    "TRANSPOSE": OpRule("Transpose", "No transpose in batch dimension."),
    "TRANSPOSE_CONV": OpRule("TransposeConv"),
}

#: (op, input position) that may be int32: biases.
_BIAS_INPUTS = {("CONV_2D", 2), ("DEPTHWISE_CONV_2D", 2), ("FULLY_CONNECTED", 2), ("TRANSPOSE_CONV", 3)}


def _zero_point(tensor) -> int:
    q = tensor.quantization
    return int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else 0


def _is_8bit(tensor) -> bool:
    schema = tflite_schema()
    return tensor.type in (schema.TensorType.INT8, schema.TensorType.UINT8)


def _type_names() -> dict[int, str]:
    schema = tflite_schema()
    return {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def _op_names() -> dict[int, str]:
    schema = tflite_schema()
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def op_views(model) -> list[OpView]:
    """The operators of subgraph 0 of a ``ModelT``, in execution order."""
    names = _op_names()
    graph = model.subgraphs[0]
    views = []
    for index, op in enumerate(graph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = f"CUSTOM:{code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode}"
        inputs, constant, values = [], [], []
        for i in op.inputs:
            t = graph.tensors[i] if i >= 0 else None
            inputs.append(t)
            data = model.buffers[t.buffer].data if t is not None and t.buffer > 0 else None
            is_const = data is not None and len(data) > 0
            constant.append(is_const)
            values.append(_constant_value(t, data) if is_const else None)
        outputs = [graph.tensors[i] for i in op.outputs]
        views.append(OpView(index, name, op.builtinOptions, inputs, outputs, constant, values))
    return views


def _constant_value(tensor, data) -> np.ndarray | None:
    schema = tflite_schema()
    dtypes = {schema.TensorType.INT32: np.int32, schema.TensorType.INT64: np.int64,
              schema.TensorType.INT8: np.int8, schema.TensorType.UINT8: np.uint8,
              schema.TensorType.FLOAT32: np.float32}
    dtype = dtypes.get(tensor.type)
    if dtype is None:
        return None
    return np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype=dtype)


@dataclass
class OpCheck:
    """The verdict on one operator: ``problems`` empty means the Edge TPU can run it."""

    index: int
    op: str
    output: str
    problems: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.problems


def _tensor_problems(view: OpView) -> list[str]:
    """8-bit tensors (int32 biases), static shapes, at most 3 dimensions larger than 1."""
    problems = []
    types = _type_names()
    tensors = [(pos, t, True) for pos, t in enumerate(view.inputs)] + [(pos, t, False) for pos, t in enumerate(view.outputs)]
    for pos, t, is_input in tensors:
        if t is None:
            continue
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        is_bias = is_input and (view.op, pos) in _BIAS_INPUTS
        if not _is_8bit(t) and not (is_bias and types.get(t.type) == "int32"):
            if not (view.op == "QUANTIZE" and is_input):  # reported by the Quantize rule
                problems.append(f"tensor {name!r} is {types.get(t.type, t.type)}, not 8-bit")
        sig = t.shapeSignature if t.shapeSignature is not None and len(t.shapeSignature) else t.shape
        if sig is not None and any(int(d) < 0 for d in sig):
            problems.append(f"tensor {name!r} has a dynamic shape {list(map(int, sig))}")
        shape = [int(d) for d in (t.shape if t.shape is not None else [])]
        is_constant = is_input and view.constant[pos]  # weights: filters are 4-D by definition
        if not is_constant and len(shape) > 3 and any(d > 1 for d in shape[:-3]):
            problems.append(f"tensor {name!r} {shape}: only the 3 innermost dimensions may exceed 1")
    return problems


def check_op(view: OpView) -> OpCheck:
    """Applies the tensor requirements and the op's rule to one operator."""
    rule = SUPPORTED.get(view.op)
    out_name = view.outputs[0].name if view.outputs else b""
    out_name = out_name.decode() if isinstance(out_name, bytes) else str(out_name)
    if rule is None:
        return OpCheck(view.index, view.op, out_name, [f"{view.op} is not an Edge TPU operation"])
    problems = _tensor_problems(view)
    if rule.check is not None:
        problems += rule.check(view)
    return OpCheck(view.index, view.op, out_name, problems)


@dataclass
class EdgeTpuReport:
    """How a TFLite model maps onto the Edge TPU, by the documented rules.

    ops: one verdict per operator in execution order.
    subgraphs: number of subgraphs in the model (the Edge TPU needs 1).
    tensor_types: count of tensors per dtype; dynamic_tensors: names with a -1 in their shape;
    non_8bit_tensors: tensors that are neither int8/uint8 nor an int32 bias.
    concatenations: per CONCATENATION, output and input (scale, zero point) -- for diagnosing int8 accuracy.
    compiler: what happened with ``edgetpu_compiler`` (found or not, return code, log, output).
    """

    model: str
    ops: list[OpCheck]
    subgraphs: int
    tensor_types: dict[str, int]
    dynamic_tensors: list[str]
    non_8bit_tensors: list[str] = field(default_factory=list)
    concatenations: list[dict[str, Any]] = field(default_factory=list)
    compiler: dict[str, Any] = field(default_factory=dict)

    @property
    def first_unsupported(self) -> OpCheck | None:
        return next((o for o in self.ops if not o.eligible), None)

    @property
    def eligible_share(self) -> float:
        """Share of ops that satisfy the rules, 0..1."""
        return sum(o.eligible for o in self.ops) / max(1, len(self.ops))

    @property
    def mapped_ops(self) -> int:
        """Ops before the first unsupported one: what the compiler would put on the TPU."""
        first = self.first_unsupported
        return len(self.ops) if first is None else first.index

    @property
    def mapped_share(self) -> float:
        return self.mapped_ops / max(1, len(self.ops))

    @property
    def ready(self) -> bool:
        """Every op eligible, one subgraph, no dynamic shapes: one Edge TPU segment expected."""
        return (self.first_unsupported is None and self.subgraphs == 1 and not self.dynamic_tensors
                and not self.non_8bit_tensors)

    def to_dict(self) -> dict[str, Any]:
        first = self.first_unsupported
        return {
            "model": self.model,
            "rules": DOC_URL,
            "ready": self.ready,
            "ops": len(self.ops),
            "eligible_ops": sum(o.eligible for o in self.ops),
            "eligible_share": round(self.eligible_share, 4),
            "mapped_ops": self.mapped_ops,
            "mapped_share": round(self.mapped_share, 4),
            "first_unsupported": asdict(first) if first else None,
            "subgraphs": self.subgraphs,
            "op_counts": dict(Counter(o.op for o in self.ops)),
            "tensor_types": self.tensor_types,
            "dynamic_tensors": self.dynamic_tensors,
            "non_8bit_tensors": self.non_8bit_tensors,
            "concatenations": self.concatenations,
            "unsupported": [asdict(o) for o in self.ops if not o.eligible],
            "compiler": self.compiler,
        }

    def summary(self) -> str:
        """A few lines for people."""
        n = len(self.ops)
        lines = [
            f"Edge TPU mapping of {Path(self.model).name} (rules: {DOC_URL})",
            f"  {sum(o.eligible for o in self.ops)}/{n} ops eligible ({100 * self.eligible_share:.1f} %); "
            f"{self.mapped_ops}/{n} would run on the TPU ({100 * self.mapped_share:.1f} %), "
            f"{self.subgraphs} subgraph(s)",
            f"  tensors: {', '.join(f'{k} {v}' for k, v in sorted(self.tensor_types.items()))}"
            + (f"; dynamic: {', '.join(self.dynamic_tensors)}" if self.dynamic_tensors else "; all shapes static")
            + (f"; not 8-bit: {', '.join(self.non_8bit_tensors[:5])}" if self.non_8bit_tensors
               else "; all 8-bit except int32 biases"),
        ]
        first = self.first_unsupported
        if first is not None:
            lines.append(f"  the graph splits at op {first.index} ({first.op} -> {first.output}): "
                         + "; ".join(first.problems) + " -- it and every later op run on the CPU")
        else:
            lines.append("  every op is eligible: the compiler should map the whole graph as one segment")
        c = self.compiler
        if c:
            if not c.get("found"):
                lines.append(f"  {COMPILER} was not found on PATH: the model is compiler-ready but NOT compiled "
                             f"(install the Edge TPU compiler on x86-64 Debian/Ubuntu and run "
                             f"`{COMPILER} {Path(self.model).name}`)")
            else:
                lines.append(f"  {COMPILER}: exit {c.get('returncode')}, log {c.get('log')}, "
                             f"output {c.get('compiled') or 'none'}")
        return "\n".join(lines)


def analyze(tflite: str | Path | bytes, name: str = "") -> EdgeTpuReport:
    """Checks every operator of a TFLite model (path or flatbuffer bytes) against the Edge TPU rules."""
    schema = tflite_schema()
    data = Path(tflite).read_bytes() if not isinstance(tflite, (bytes, bytearray)) else bytes(tflite)
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    types = _type_names()
    tensor_types: Counter[str] = Counter()
    dynamic = []
    for graph in model.subgraphs:
        for t in graph.tensors:
            tensor_types[types.get(t.type, str(t.type))] += 1
            sig = t.shapeSignature
            if sig is not None and len(sig) and any(int(d) < 0 for d in sig):
                dynamic.append(t.name.decode() if isinstance(t.name, bytes) else str(t.name))
    views = op_views(model)
    checks = [check_op(v) for v in views]
    concat = [_concat_quantization(v) for v in views if v.op == "CONCATENATION"]
    biases = {id(v.inputs[pos]) for v in views for pos in range(len(v.inputs)) if (v.op, pos) in _BIAS_INPUTS}
    wide = [t.name.decode() if isinstance(t.name, bytes) else str(t.name)
            for graph in model.subgraphs for t in graph.tensors if not _is_8bit(t) and id(t) not in biases]
    label = name or (str(tflite) if not isinstance(tflite, (bytes, bytearray)) else "<bytes>")
    return EdgeTpuReport(label, checks, len(model.subgraphs), dict(tensor_types), dynamic, wide, concat)


def _scale(tensor) -> tuple[float, int] | None:
    q = tensor.quantization
    if q is None or q.scale is None or not len(q.scale):
        return None
    return float(q.scale[0]), _zero_point(tensor)


def _concat_quantization(view: OpView) -> dict[str, Any]:
    """Quantization of a CONCATENATION: the output's (scale, zero point) and whether every input
    shares it (TFLite makes them share it, requantizing where needed; all inputs then use one
    scale, e.g. PAFs/heatmaps in -1..1 share the backbone features' wider range)."""
    out = _scale(view.outputs[0])
    ins = [_scale(t) for t in view.inputs]
    name = view.outputs[0].name
    return {"index": view.index, "output": name.decode() if isinstance(name, bytes) else str(name),
            "output_scale": out, "input_scales": ins, "same_as_output": all(i == out for i in ins)}


def compile_model(tflite: Path, out_dir: Path, timeout_s: float = 600.0) -> dict[str, Any]:
    """Runs ``edgetpu_compiler`` on ``tflite`` if it is on PATH; keeps its log and ``*_edgetpu.tflite``.

    Returns {"found": False} when the compiler is not installed (it is only distributed for x86-64
    Debian/Ubuntu), else {"found", "path", "returncode", "log", "compiled"}.
    """
    exe = shutil.which(COMPILER)
    if exe is None:
        return {"found": False, "message": f"{COMPILER} not found on PATH; the model is compiler-ready, not compiled"}
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".edgetpu-") as tmp:
        proc = subprocess.run([exe, "-s", "-o", tmp, str(tflite)], capture_output=True, text=True, timeout=timeout_s)
        log_text = proc.stdout + proc.stderr
        compiled_tmp = Path(tmp) / f"{tflite.stem}_edgetpu.tflite"
        log_path = out_dir / f"{tflite.stem}_edgetpu.log"
        tool_log = Path(tmp) / f"{tflite.stem}_edgetpu.log"
        write_atomic(log_path, log_text + ("\n" + tool_log.read_text() if tool_log.exists() else ""))
        compiled = None
        if proc.returncode == 0 and compiled_tmp.exists():
            compiled = out_dir / compiled_tmp.name
            write_atomic(compiled, compiled_tmp.read_bytes())
    return {"found": True, "path": exe, "returncode": proc.returncode, "log": str(log_path),
            "compiled": str(compiled) if compiled else None}


def report_path(tflite: Path) -> Path:
    return tflite.with_name(f"{tflite.stem}_edgetpu_report.json")


def write(source: "ExportSource", precision: str, output: Path) -> tuple[ModelConfig, list[Path], dict[str, Any]]:
    """The ``edgetpu`` format: the full-int8 TFLite (``output``), its mapping report (JSON) and,
    with the compiler installed, ``*_edgetpu.tflite`` and the compiler log. Returns (config, files, report)."""
    from edgepose.export import tflite

    flatbuffer, config = tflite.build(source, "int8", {"target": "edgetpu"})
    write_atomic(output, flatbuffer)
    files = [output]
    rep = analyze(flatbuffer, str(output))
    rep.compiler = compile_model(output, output.parent)
    for key in ("compiled", "log"):
        if rep.compiler.get(key):
            files.append(Path(rep.compiler[key]))
    rpath = report_path(output)
    write_atomic(rpath, json.dumps({**rep.to_dict(), "summary": rep.summary()}, indent=1))
    files.append(rpath)
    return config, files, {"edgetpu": rep.to_dict(), "edgetpu_summary": rep.summary()}
