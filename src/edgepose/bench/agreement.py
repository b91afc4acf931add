"""How close int8 files are to the fp32 model: COCO AP and per-person agreement, per split part.

    python -m edgepose.bench.agreement run/model_int8.tflite run/model_int8.xml --size 432x576 \\
        --images ../shared/data/coco_sample/images \\
        --annotations ../shared/data/coco_sample/person_keypoints.json --part tuning,evaluation

For each part, the fp32 pretrained model at the same fixed size is run once (its AP is the
reference); for each file, its AP and, for every person the fp32 model finds, the OKS of the file's
best one-to-one match (0 if it has none). AP on 10-30 photos moves by a point or more between int8
recipes that differ only by noise; the agreement (share of fp32 people found again at OKS >= 0.5,
mean OKS) is a steadier measure of what quantisation changed, and is what issue #9's people test
asks for; ``real_oks50`` counts only the fp32 people that are an annotated person.
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


def annotated_people(annotations) -> dict[str, list[tuple[np.ndarray, float]]]:
    """{photo file name: [(COCO-17 [17, 3] keypoints, area)]} of the labelled, non-crowd people."""
    from edgepose.eval.coco import CocoKeypoints

    data = CocoKeypoints.load(annotations).data
    names = {im["id"]: im["file_name"] for im in data["images"]}
    out: dict[str, list] = {}
    for a in data["annotations"]:
        if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd", 0) and a["image_id"] in names:
            kp = np.asarray(a["keypoints"], np.float32).reshape(17, 3)
            out.setdefault(names[a["image_id"]], []).append((kp, float(a.get("area") or 0.0)))
    return out


def agreement(reference: dict, found: dict, truth: dict | None = None) -> dict[str, float]:
    """Per-person agreement of ``found`` with ``reference`` (both {photo: [Pose]}): the share of the
    reference's people matched at OKS >= 0.5 and >= 0.75, the mean best OKS, and the people counted.

    With ``truth`` (``annotated_people``), also ``real_people`` / ``real_oks50``: the same share among
    the reference's people that are an annotated person (OKS >= 0.5 to one), i.e. without the
    reference's fragments and false detections, which a low-precision file may or may not repeat.
    """
    from edgepose.eval.oks import match_people, oks

    best, real = [], []
    for name, ref in reference.items():
        ref17 = [p.to_coco17() for p in ref]
        scores = match_people(ref17, [q.to_coco17() for q in found.get(name, [])])
        best += scores
        if truth is not None:
            people = truth.get(name, [])
            real += [s for r, s in zip(ref17, scores) if any(oks(r, kp, area) >= 0.5 for kp, area in people)]
    b = np.asarray(best, float)
    out: dict[str, float] = {"people": int(len(b))}
    if len(b):
        out.update(oks50=round(100 * float(np.mean(b >= 0.5)), 1), oks75=round(100 * float(np.mean(b >= 0.75)), 1),
                   mean_oks=round(float(b.mean()), 3))
    if truth is not None:
        out["real_people"] = len(real)
        if real:
            out["real_oks50"] = round(100 * float(np.mean(np.asarray(real) >= 0.5)), 1)
    return out


def measure(files: Sequence[str | Path], images, annotations, parts: Sequence[str],
            size: tuple[int, int]) -> dict[str, dict]:
    """{part: {"fp32_AP": ..., "<file name>": {"AP": ..., "oks50": ..., ...}}} (AP in points)."""
    import edgepose

    reference = edgepose.load(size=size)
    truth = annotated_people(annotations)
    out: dict[str, dict] = {}
    for part in parts:
        ap, ref_poses = _run(reference, images, annotations, part)
        row: dict = {"fp32_AP": round(ap, 2)}
        for f in files:
            f_ap, poses = _run(edgepose.load(f), images, annotations, part)
            row[Path(f).name] = {"AP": round(f_ap, 2), **agreement(ref_poses, poses, truth)}
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
