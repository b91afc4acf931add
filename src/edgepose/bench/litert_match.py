"""Where a LiteRT full-int8 file departs from the QAT student it was converted from, layer by layer.

    python -m edgepose.bench.litert_match --calibration ../shared/data/calibration --size 184x216 --stages 2
    python -m edgepose.bench.litert_match --calibration ../shared/data/calibration --keep-dead   # before the fix

Builds the fake-quant student (``export(..., qat_steps=N)``'s path; 0 steps by default: calibration
ranges, untrained), converts it to full-int8 TFLite as the exporter does, runs both on one
calibration photo (every tensor of the file kept with ``experimental_preserve_all_tensors``) and
prints, for every quantised tensor, how far the file is from the student in quantisation steps of
the file's scale:

- ``cumulative``: the student run on the photo vs the file run on the photo (errors of all earlier
  layers included);
- ``local`` (convolutions only): the student's layer (conv, its ReLU, its fake quantisation) run on
  the file's own input tensor vs the file's output: what this one op adds.

Also the int32 biases the converter had to saturate (``edgepose.export.tflite.saturated_biases``)
and the mean |file - student| of the outputs. JSON with ``--json``. docs/int8.md has the findings.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np


CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _op_of(ops, details, layer: str, *, conv_only: bool = False) -> dict | None:
    """The first op whose output tensor carries Keras layer ``layer``'s name ("/<layer>_1/"): in the
    first of the fused names for any op, or anywhere in them for a conv op (``conv_only``), whose
    output is often named after the activation fused into it."""
    for op in ops:
        if conv_only and op["op_name"] not in CONV_OPS:
            continue
        name = details[op["outputs"][0]]["name"]
        if f"/{layer}_1/" in (name if conv_only else name.split(";")[0]) + "/":
            return op
    return None


def layer_match(student, flatbuffer: bytes, image: np.ndarray, resolver: str = "auto") -> dict[str, Any]:
    """Per-layer distance student vs file (see the module doc) on ``image`` (float32 [H, W, 3] 0..255)."""
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgepose.export.tflite import saturated_biases
    from edgepose.quant.fakequant import FQ_SUFFIX, INPUT_FQ, ActQuant
    from edgepose.quant.graph import CONVS, LayerGraph

    kinds = {"auto": OpResolverType.AUTO, "ref": OpResolverType.BUILTIN_REF}
    interp = Interpreter(model_content=flatbuffer, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=kinds[resolver])
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    scale, zero = inp["quantization"]
    interp.set_tensor(inp["index"], np.clip(np.round(image / scale) + zero, -128, 127).astype(np.int8)[None])
    interp.invoke()
    details = {d["index"]: d for d in interp.get_tensor_details()}
    ops = interp._get_ops_details()

    def deq(index):
        d = details[index]
        q = d["quantization_parameters"]
        return (interp.get_tensor(index).astype(np.float32) - q["zero_points"][0]) * q["scales"][0], q["scales"][0]

    graph = LayerGraph(student)
    fq = [layer.name for layer in student.layers if isinstance(layer, ActQuant) and layer.name != INPUT_FQ]
    probe = keras.Model(student.inputs, [student.get_layer(n).output for n in fq])
    outs = dict(zip(fq, (np.asarray(o)[0] for o in probe(image[None].astype(np.float32)))))
    rows = []
    for name in fq:
        src = name[: -len(FQ_SUFFIX)]
        op = _op_of(ops, details, src)
        if op is None:
            continue
        got, step = deq(op["outputs"][0])
        got = got[0]
        diff = np.abs(outs[name] - got) / step
        row = {"tensor": src, "op": op["op_name"], "cumulative_mean_steps": float(diff.mean()),
               "cumulative_differ_share": float(np.mean(diff > 0.5)), "local_mean_steps": None}
        # local: the student's conv (+ ReLU) + fake quant on the file's own input
        conv_name = src if isinstance(student.get_layer(src), CONVS) else graph.inputs[src][0]
        if isinstance(student.get_layer(conv_name), CONVS) and (
                conv_name == src or isinstance(student.get_layer(src), keras.layers.ReLU)):
            fop = _op_of(ops, details, conv_name, conv_only=True)
            if fop is not None:
                x, _ = deq(fop["inputs"][0])
                y = student.get_layer(conv_name)(tf.constant(x))
                if conv_name != src:
                    y = student.get_layer(src)(y)
                y = np.asarray(student.get_layer(name)(y))[0]
                local = np.abs(y - got) / step
                row["local_mean_steps"] = float(local.mean())
                row["local_max_steps"] = float(local.max())
        rows.append(row)
    heat_s, paf_s = (np.asarray(t) for t in student(image[None].astype(np.float32)))
    outputs = {}
    for d in interp.get_output_details():
        value, _ = deq(d["index"])
        outputs[d["name"]] = value
    by_shape = {v.shape[-1]: v for v in outputs.values()}
    return {
        "layers": rows,
        "saturated_biases": saturated_biases(flatbuffer),
        "heatmaps_mae": float(np.abs(by_shape[heat_s.shape[-1]] - heat_s).mean()),
        "pafs_mae": float(np.abs(by_shape[paf_s.shape[-1]] - paf_s).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calibration", required=True, help="calibration photos (the first one is compared on)")
    p.add_argument("--size", default="184x216")
    p.add_argument("--stages", type=int, default=2)
    p.add_argument("--num-calibration", type=int, default=8)
    p.add_argument("--steps", type=int, default=0, help="QAT steps (0: untrained student)")
    p.add_argument("--no-gptq", dest="gptq", action="store_false")
    p.add_argument("--keep-dead", action="store_true", help="do not zero the always-0 channels (the old student)")
    p.add_argument("--no-snap", dest="snap", action="store_false",
                   help="do not round the biases to LiteRT's int32 grid (the old student)")
    p.add_argument("--resolver", choices=["auto", "ref"], default="auto", help="XNNPACK (auto) or reference kernels")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from edgepose.estimator import parse_fixed_size
    from edgepose.export import ExportSource
    from edgepose.export.tflite import convert

    size = parse_fixed_size(args.size)
    options = {"gptq": args.gptq, "zero_dead": not args.keep_dead, "snap": args.snap}
    with ExportSource(None, size=size, stages=args.stages, calibration=args.calibration,
                      num_calibration=args.num_calibration, qat_steps=args.steps, qat_options=options) as src:
        student, _ = src.prepared("int8")
        flatbuffer = convert(src, "int8")
        image = src.calibration_data()[0]
    result = layer_match(student, flatbuffer, image, args.resolver)
    result["setup"] = {**vars(args), "zero_dead": not args.keep_dead}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'tensor':34s} {'op':18s} {'cumulative':>10s} {'differ':>7s} {'local':>7s} {'local max':>9s}")
    for r in result["layers"]:
        local = "" if r["local_mean_steps"] is None else f"{r['local_mean_steps']:.3f}"
        lmax = "" if r["local_mean_steps"] is None else f"{r['local_max_steps']:.0f}"
        print(f"{r['tensor']:34s} {r['op']:18s} {r['cumulative_mean_steps']:10.3f} "
              f"{100 * r['cumulative_differ_share']:6.1f}% {local:>7s} {lmax:>9s}")
    print(f"saturated int32 biases: {sum(result['saturated_biases'].values())} {result['saturated_biases']}")
    print(f"outputs |file - student|: heatmaps {result['heatmaps_mae']:.4f}, pafs {result['pafs_mae']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
