"""``edgepose export``: write the model for an edge target, its config inside the file."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  edgepose export --format openvino --precision fp16          OpenVINO IR for the Neural Compute Stick / GPU
  edgepose export --format tflite --precision int8 --calibration photos/
  edgepose export --format edgetpu --calibration photos/      full-int8 TFLite + Edge TPU mapping report
  edgepose export --format onnx --size 256x320 --stages 3     a lighter ONNX model
  edgepose export --format saved_model --model trained.keras --output exports/pose_sm

formats and the precisions each allows:
{table}

Without --output the file goes to runs/export/<preset>_<H>x<W>_s<stages>_<precision><suffix>,
e.g. runs/export/mobilenet_thin_368x432_s6_int8.tflite. `edgepose inspect FILE` shows what is inside.
"""


def add_parser(sub, name: str) -> None:
    from edgepose.export.calibration import DEFAULT_NUM_CALIBRATION
    from edgepose.export.formats import FORMATS, PRECISIONS, formats_table

    p = sub.add_parser(name, help="export the model to SavedModel, ONNX, OpenVINO, TFLite or Edge TPU",
                       description="Export a pose model with a fixed input size, heatmaps and PAFs as two "
                       "outputs, and its config (input size, scaling, stride, skeleton, quantization) as "
                       "metadata inside the artifact.",
                       epilog=EXAMPLES.format(table=formats_table()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", "-f", required=True, metavar="FORMAT",
                   help=f"target format: {', '.join(FORMATS)}")
    p.add_argument("--precision", "-p", metavar="P",
                   help=f"{', '.join(PRECISIONS)} (default: the format's first, i.e. fp32; int8 for edgetpu)")
    p.add_argument("--model", metavar="FILE", help="edgepose .keras model (default: the pretrained mobilenet_thin)")
    p.add_argument("--size", default="368x432", metavar="HxW",
                   help="fixed input size in pixels, multiples of 8 (default: %(default)s)")
    p.add_argument("--stages", type=int, metavar="K", help="keep only the first K refinement stages (1..6)")
    p.add_argument("--calibration", metavar="DIR", help="folder of photos for int8 calibration (int8 only)")
    p.add_argument("--num-calibration", type=int, default=DEFAULT_NUM_CALIBRATION, metavar="N",
                   help="use at most N calibration photos (default: %(default)s)")
    p.add_argument("--no-prepare", action="store_true",
                   help="int8: skip edgepose.quant's quantization-friendly graph preparation (naive PTQ)")
    p.add_argument("--opset", type=int, metavar="N", help="onnx: opset version (default 17, at least 13)")
    p.add_argument("--output", "-o", metavar="PATH", help="artifact path (a folder name for saved_model)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from edgepose.estimator import parse_fixed_size
    from edgepose.export import export, get_format

    precision = args.precision or get_format(args.format).precisions[0]
    options = {"opset": args.opset} if args.opset is not None else {}
    result = export(
        args.model, args.format, precision, size=parse_fixed_size(args.size), stages=args.stages,
        calibration=args.calibration, output=args.output, num_calibration=args.num_calibration,
        prepare_int8=not args.no_prepare, **options,
    )
    if args.json:
        print(json.dumps({"path": str(result.path), "format": result.format, "precision": result.precision,
                          "files": [str(f) for f in result.files], "config": result.config.to_dict(),
                          "report": result.report}, indent=1, default=str))
        return 0
    h, w = result.config.input_size
    print(f"exported {result.format} {result.precision} ({h}x{w}, {result.config.stages} stages) -> {result.path} "
          f"({result.size_bytes / 1e6:.2f} MB, {result.report.get('seconds', 0):.0f} s)")
    for f in result.files[1:]:
        print(f"  also wrote {f}")
    steps = [s["step"] for s in result.config.quantization.get("prepare", {}).get("steps", [])]
    if result.precision == "int8":
        print(f"  int8 calibration: {result.config.quantization.get('calibration')}; "
              f"quantization-friendly preparation: {' + '.join(steps) if steps else 'none (--no-prepare)'}")
    elif result.precision == "fp16":
        print(f"  fp16 preparation (exact in float32, see docs/fp16.md): {' + '.join(steps) or 'none'}")
    if "edgetpu_summary" in result.report:
        print(result.report["edgetpu_summary"])
    return 0
