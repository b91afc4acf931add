"""How close int8 files are to the fp32 model: COCO AP and per-person agreement, per split part.

    python -m edgepose.bench.agreement run/model_int8.tflite run/model_int8.xml --size 432x576 \\
        --images ../shared/data/coco_sample/images \\
        --annotations ../shared/data/coco_sample/person_keypoints.json --part tuning,evaluation

For each part, the fp32 pretrained model at the same fixed size is run once (its AP is the
reference); for each file, its AP and, for every person the fp32 model finds, the OKS of the file's
best one-to-one match (0 if it has none). AP on 10-30 photos moves by a point or more between int8
recipes that differ only by noise; the agreement (share of fp32 people found again at OKS >= 0.5,
mean OKS) is a steadier measure of what quantisation changed, and is what issue #9's people test
asks for.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np


def _run(estimator, images, annotations, part):
    from edgepose.eval import validate

    poses: list = []
    res = validate(estimator, images, annotations, progress=False, part=None if part == "all" else part,
                   on_result=lambda path, pred: poses.append((Path(path).name, pred.poses)))
    return 100.0 * res["metrics"]["AP"], dict(poses)


def agreement(reference: dict, found: dict) -> dict[str, float]:
    """Per-person agreement of ``found`` with ``reference`` (both {photo: [Pose]}): the share of the
    reference's people matched at OKS >= 0.5 and >= 0.75, the mean best OKS, and the people counted."""
    from edgepose.eval.oks import match_people

    best = [s for name, ref in reference.items()
            for s in match_people([p.to_coco17() for p in ref], [q.to_coco17() for q in found.get(name, [])])]
    b = np.asarray(best, float)
    if not len(b):
        return {"people": 0, "oks50": float("nan"), "oks75": float("nan"), "mean_oks": float("nan")}
    return {"people": int(len(b)), "oks50": round(100 * float(np.mean(b >= 0.5)), 1),
            "oks75": round(100 * float(np.mean(b >= 0.75)), 1), "mean_oks": round(float(b.mean()), 3)}


def measure(files: Sequence[str | Path], images, annotations, parts: Sequence[str],
            size: tuple[int, int]) -> dict[str, dict]:
    """{part: {"fp32_AP": ..., "<file name>": {"AP": ..., "oks50": ..., ...}}} (AP in points)."""
    import edgepose

    reference = edgepose.load(size=size)
    out: dict[str, dict] = {}
    for part in parts:
        ap, ref_poses = _run(reference, images, annotations, part)
        row: dict = {"fp32_AP": round(ap, 2)}
        for f in files:
            f_ap, poses = _run(edgepose.load(f), images, annotations, part)
            row[Path(f).name] = {"AP": round(f_ap, 2), **agreement(ref_poses, poses)}
        out[part] = row
    return out


def main(argv: list[str] | None = None) -> int:
    from edgepose.errors import EdgeposeError
    from edgepose.estimator import parse_fixed_size

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="int8 (or any) model files of one fixed input size")
    p.add_argument("--size", required=True, metavar="HxW", help="their input size (the fp32 reference runs at it)")
    p.add_argument("--images", required=True)
    p.add_argument("--annotations", required=True)
    p.add_argument("--part", default="tuning", help="comma-separated parts of the fixed split (or 'all')")
    args = p.parse_args(argv)
    try:
        res = measure(args.files, args.images, args.annotations, args.part.split(","), parse_fixed_size(args.size))
    except EdgeposeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
