"""``edgepose val``: COCO keypoint AP of a model on an annotated image folder."""

from __future__ import annotations

import argparse
import json
import sys

from edgepose.cli.common import add_model_options, load_from_args
from edgepose.eval.split import PART_NAMES

EXAMPLES = """examples:
  edgepose val --images coco/val2017 --annotations annotations/person_keypoints_val2017.json
  edgepose val --images ../shared/data/coco_sample --annotations ../shared/data/coco_sample/person_keypoints.json --model pose_int8.xml
  edgepose val --images tests/data/coco_sample --annotations tests/data/coco_sample/person_keypoints.json --part evaluation
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="COCO keypoint AP of a model (pycocotools)",
                       description="Run the whole pipeline on every annotated image and print COCO keypoint "
                       "AP, AP50, AP75 and AR.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, metavar="DIR", help="folder with the images")
    p.add_argument("--annotations", required=True, metavar="FILE", help="COCO person_keypoints JSON")
    p.add_argument("--part", choices=PART_NAMES,
                   help="only one part of the project's fixed split of its own annotated photos (coco_sample, "
                   "OCHuman; see edgepose.eval.split): tune on 'tuning', report on 'evaluation'; 'tuning-a' / "
                   "'tuning-b' are the tuning part's two folds. Default: every annotated image")
    add_model_options(p)
    p.add_argument("--json", metavar="FILE", help="write metrics and timings as JSON ('-' for stdout)")
    p.add_argument("--coco-results", metavar="FILE", help="also write the COCO keypoint results list")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edgepose.errors import require
    from edgepose.eval.coco import validate
    from edgepose.io_utils import write_atomic

    require("pycocotools", "eval", "COCO keypoint AP")  # before the model runs over every photo
    est = load_from_args(args)
    report = validate(est, args.images, args.annotations, progress=sys.stderr.isatty(), part=args.part)
    m = report["metrics"]
    d = est.describe()
    t = report["timings_ms"]
    print(f"model: {d['model']} ({d['backend']}, {d['precision']}, stages {d['stages']}, "
          f"input {'x'.join(map(str, d['input_size'])) if d['input_size'] else 'height ' + str(d['size'])})")
    print(f"images: {report['images']}" + (f" ({args.part} part)" if args.part else "") + (f" ({len(report['missing'])} annotated images not on disk)" if report["missing"] else ""))
    print(f"median ms per image: preprocess {t.get('preprocess', 0):.1f}, infer {t.get('infer', 0):.1f}, decode {t.get('decode', 0):.2f}")
    print("  ".join(f"{k} {100 * m[k]:.1f}" for k in ("AP", "AP50", "AP75", "APm", "APl", "AR")))
    if args.json:
        payload = {"model": d, "part": args.part, "images": report["images"], "metrics": m, "timings_ms": t,
                   "failed": report["failed"], "missing": report["missing"]}
        text = json.dumps(payload, indent=1)
        print(text) if args.json == "-" else write_atomic(args.json, text)
    if args.coco_results:
        write_atomic(args.coco_results, json.dumps(report["results"]))
    if report["failed"]:
        print(f"{len(report['failed'])} image(s) failed:", file=sys.stderr)
        for f, why in report["failed"]:
            print(f"  {f}: {why}", file=sys.stderr)
        return 1
    return 0
