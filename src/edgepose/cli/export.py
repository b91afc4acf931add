"""``edgepose export``: write the model for an edge target, its config inside the file."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  edgepose export --format openvino --precision fp16          OpenVINO IR for the Neural Compute Stick / GPU
  edgepose export --format tflite --precision int8 --calibration photos/
  edgepose export --format edgetpu --calibration photos/      full-int8 TFLite + Edge TPU mapping report
  edgepose export --format openvino --precision int8 --calibration photos/ --qat-steps 150
                                                              int8 by quantisation-aware training (docs/int8.md)
  edgepose export --format onnx --size 256x320 --stages 3     a lighter ONNX model
  edgepose export --format saved_model --model trained.keras --output exports/pose_sm
  edgepose export --format openvino --size 480x848            a 16:9 camera (848/480 = 1.77)
  edgepose export --format openvino --dynamic                 any size: the CPU pipeline sizes each image

formats and the precisions each allows:
{table}

Picking --size for a camera: keep the camera's aspect ratio, so that letterboxing pads nothing.
Choose the height (more pixels per person: more accuracy, more time), then width = height x
camera width / camera height, rounded to a multiple of 8: 4:3 (640x480, 1280x960) -> 432x576 or
480x640; 16:9 (1280x720, 1920x1080) -> 432x768 or 368x656; portrait 3:4 -> 576x432. The default,
{default}, is for 4:3 landscape cameras, the common case; docs/frontier.md has the measured AP and
latency of each size and stage count. --dynamic leaves the size free (fp32/fp16; SavedModel, ONNX,
OpenVINO on CPU/GPU, TFLite on the CPU): each image then runs at `edgepose predict`'s default
height with its own width, as predict does with the Keras model. NPUs, the Edge TPU and MYRIAD need a fixed size.

Without --output the file goes to runs/export/<preset>_<H>x<W>_s<stages>_<precision><suffix>,
e.g. runs/export/mobilenet_thin_{default}_s6_int8.tflite (<preset>_dynamic_s6_... with --dynamic).
`edgepose inspect FILE` shows what is inside.
"""


def add_parser(sub, name: str) -> None:
    from edgepose.export.calibration import DEFAULT_NUM_CALIBRATION
    from edgepose.export.formats import FORMATS, PRECISIONS, formats_table
    from edgepose.export.source import DEFAULT_SIZE

    default = f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}"

    p = sub.add_parser(name, help="export the model to SavedModel, ONNX, OpenVINO, TFLite or Edge TPU",
                       description="Export a pose model with a fixed input size, heatmaps and PAFs as two "
                       "outputs, and its config (input size, scaling, stride, skeleton, quantization) as "
                       "metadata inside the artifact.",
                       epilog=EXAMPLES.format(table=formats_table(), default=default),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", "-f", required=True, metavar="FORMAT",
                   help=f"target format: {', '.join(FORMATS)}")
    p.add_argument("--precision", "-p", metavar="P",
                   help=f"{', '.join(PRECISIONS)} (default: the format's first, i.e. fp32; int8 for edgetpu)")
    p.add_argument("--model", metavar="FILE", help="edgepose .keras model (default: the pretrained mobilenet_thin)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", default=default, metavar="HxW",
                      help="fixed input size in pixels, multiples of 8 (default: %(default)s, for 4:3 "
                      "landscape cameras; see below for other aspect ratios)")
    size.add_argument("--dynamic", action="store_true",
                      help="free input size (fp32/fp16; saved_model, onnx, openvino, tflite): runtimes size "
                      "each image like the Keras path")
    p.add_argument("--stages", type=int, metavar="K", help="keep only the first K refinement stages (1..6)")
    p.add_argument("--calibration", metavar="DIR", help="folder of photos for int8 calibration (int8 only)")
    p.add_argument("--num-calibration", type=int, default=DEFAULT_NUM_CALIBRATION, metavar="N",
                   help="use at most N calibration photos (default: %(default)s)")
    p.add_argument("--no-prepare", action="store_true",
                   help="int8: skip edgepose.quant's quantization-friendly graph preparation (naive PTQ)")
    p.add_argument("--qat-steps", type=int, metavar="N",
                   help="int8 (tflite, edgetpu, openvino): N steps of quantisation-aware training distilled "
                   "from the fp32 model on --qat-images; the converters then use the trained int8 ranges "
                   "instead of calibrating (0: calibration ranges, no training; 150 measured in docs/int8.md). "
                   "Several minutes per 100 steps on a CPU")
    p.add_argument("--qat-images", metavar="DIR",
                   help="photos to train --qat-steps on, unlabelled, never ones you evaluate on "
                   "(default: the --calibration folder)")
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
        prepare_int8=not args.no_prepare, dynamic=args.dynamic, qat_steps=args.qat_steps,
        qat_images=args.qat_images, **options,
    )
    if args.json:
        print(json.dumps({"path": str(result.path), "format": result.format, "precision": result.precision,
                          "files": [str(f) for f in result.files], "config": result.config.to_dict(),
                          "report": result.report}, indent=1, default=str))
        return 0
    shown = "x".join(map(str, result.config.input_size)) if result.config.input_size else "dynamic size"
    print(f"exported {result.format} {result.precision} ({shown}, {result.config.stages} stages) -> {result.path} "
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
