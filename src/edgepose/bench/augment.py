"""Test-time augmentation recipes compared: COCO keypoint AP and time per photo, one split part.

    python -m edgepose.bench.augment --images DIR --annotations FILE --part tuning
    python -m edgepose.bench.augment ... --part evaluation --recipes none flip,1,0.75

Each recipe runs the pretrained Keras model (default: 432 tall, width following the photo) over
the part's photos one after another; ms = median wall time per photo (read excluded), taken in
this one run, so rows compare with each other and not with other runs on a shared machine.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from edgepose.eval.split import PART_NAMES

RECIPES = ("none", "flip", "1,0.75", "flip,1,0.75", "flip,1,0.75,0.5", "flip,1.25,1", "flip,1.25,1,0.75")


def main(argv: list[str] | None = None) -> int:
    import edgepose
    from edgepose.eval.coco import validate

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True)
    p.add_argument("--annotations", required=True)
    p.add_argument("--part", choices=PART_NAMES, required=True)
    p.add_argument("--recipes", nargs="+", default=list(RECIPES))
    p.add_argument("--model")
    p.add_argument("--json", help="also write the rows as JSON")
    args = p.parse_args(argv)
    rows = []
    print(f"part: {args.part}")
    print(f"{'recipe':<20} {'passes':>6} {'AP':>5} {'AP50':>5} {'AP75':>5} {'AR':>5} {'ms/photo':>9}")
    for recipe in args.recipes:
        est = edgepose.load(args.model, augment=None if recipe == "none" else recipe)
        times: list[float] = []
        report = validate(est, args.images, args.annotations, part=args.part, progress=False,
                          on_result=lambda path, pred: times.append(sum(pred.timings_ms.values())))
        m = report["metrics"]
        row = {"recipe": recipe, "passes": est.augment.passes if est.augment else 1, "images": report["images"],
               **{k: round(100 * m[k], 1) for k in ("AP", "AP50", "AP75", "AR")}, "ms": round(float(np.median(times)), 1)}
        rows.append(row)
        print(f"{recipe:<20} {row['passes']:>6} {row['AP']:>5.1f} {row['AP50']:>5.1f} {row['AP75']:>5.1f} "
              f"{row['AR']:>5.1f} {row['ms']:>9.0f}", flush=True)
    if args.json:
        from edgepose.io_utils import write_atomic

        write_atomic(args.json, json.dumps({"part": args.part, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
