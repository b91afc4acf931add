"""``edgepose inspect``: what is inside a model file (any format edgepose writes)."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  edgepose inspect runs/export/mobilenet_thin_368x432_s6_int8.tflite
  edgepose inspect model.xml --json                 machine-readable
  edgepose inspect runs/export/mobilenet_thin_368x432_s6_fp32_saved_model
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="show a model's inputs, outputs, metadata and ops",
                       description="Show the inputs and outputs (names, shapes, dtypes, int8 scale and zero "
                       "point), the edgepose metadata and the op counts of a .keras, .onnx, .xml, .tflite "
                       "file or SavedModel folder.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="FILE", help="model file or SavedModel folder")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from edgepose.export.describe import describe, format_text

    info = describe(args.model)
    print(json.dumps(info, indent=1) if args.json else format_text(info))
    return 0
