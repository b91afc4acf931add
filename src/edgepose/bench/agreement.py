"""How close int8 files are to the fp32 model: COCO AP and per-person agreement, per split part.

    python -m edgepose.bench.agreement run/model_int8.tflite run/model_int8.xml --size 432x576 \\
        --images ../shared/data/coco_sample/images \\
        --annotations ../shared/data/coco_sample/person_keypoints.json --part tuning,evaluation

For each part, the fp32 pretrained model at the same fixed size is run once (its AP is the
reference); for each file, its AP and, for every person the fp32 model finds, the OKS of the file's
best one-to-one match (0 if it has none). AP on 10-30 photos moves by a point or more between int8
recipes that differ only by noise; the agreement (share of fp32 people found again at OKS >= 0.5,
mean OKS) is a steadier measure of what quantisation changed, and is what issue #9's people test
asks for; ``real_oks50`` counts only the fp32 people that are an annotated person. ``--bootstrap N``
adds a 90 % interval of each AP difference over photo sets resampled from the part: how much of a
difference these photos can resolve at all. Without ``--size`` the reference runs at ``predict``'s
default pipeline, which is how fine-tuned ``.keras`` checkpoints compare with their start.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from edgepose.eval.split import PART_NAMES


def _run(estimator, images, annotations, part):
    from edgepose.eval import validate

    poses: list = []
    res = validate(estimator, images, annotations, progress=False, part=None if part == "all" else part,
                   on_result=lambda path, pred: poses.append((Path(path).name, pred.poses)))
    return 100.0 * res["metrics"]["AP"], dict(poses), res["results"]


def annotated_people(annotations) -> dict[str, list[tuple[np.ndarray, float]]]:
    """{photo file name: [(COCO-17 [17, 3] keypoints, area)]} of the labelled, non-crowd people of an
    annotation file (path or loaded ``CocoKeypoints``)."""
    from edgepose.eval.coco import CocoKeypoints

    data = (annotations if isinstance(annotations, CocoKeypoints) else CocoKeypoints.load(annotations)).data
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


class _Indexed:
    """An annotation dict and results lists indexed by photo once, for many bootstrap draws."""

    def __init__(self, data: dict, results_by_model: Sequence[list[dict]]) -> None:
        self.data = data
        self.images = {im["id"]: im for im in data["images"]}
        self.anns: dict[int, list] = {}
        for a in data["annotations"]:
            self.anns.setdefault(a["image_id"], []).append(a)
        self.results: list[dict[int, list]] = [{} for _ in results_by_model]
        for table, results in zip(self.results, results_by_model):
            for r in results:
                table.setdefault(r["image_id"], []).append(r)

    def draw(self, ids: np.ndarray) -> tuple[dict, list[list[dict]]]:
        """The annotation dict and results lists of one draw: photo ``ids[k]`` becomes photo k (a photo
        drawn twice counts twice)."""
        new_images, new_anns = [], []
        for k, i in enumerate(ids):
            new_images.append({**self.images[i], "id": k})
            for a in self.anns.get(i, []):
                new_anns.append({**a, "image_id": k, "id": len(new_anns) + 1})
        new_results = [[{**r, "image_id": k} for k, i in enumerate(ids) for r in table.get(i, [])]
                       for table in self.results]
        return {**self.data, "images": new_images, "annotations": new_anns}, new_results


def bootstrap_ap_deltas(data: dict, reference: list[dict], others: Sequence[list[dict]], image_ids: Sequence[int],
                        samples: int = 200, seed: int = 0) -> np.ndarray:
    """[samples, len(others)] AP differences (points, other - reference) on photo sets drawn with
    replacement from ``image_ids``, the same draw for every model (a paired bootstrap over photos)."""
    from edgepose.eval.coco import CocoKeypoints, evaluate_coco

    rng = np.random.default_rng(seed)
    ids = np.asarray(sorted(image_ids))
    indexed = _Indexed(data, [reference, *others])
    out = np.zeros((samples, len(others)))
    for b in range(samples):
        sample, (ref, *rest) = indexed.draw(rng.choice(ids, size=len(ids), replace=True))
        ann = CocoKeypoints(Path("bootstrap"), sample)
        ref_ap = evaluate_coco(ref, ann)["AP"]
        out[b] = [100 * (evaluate_coco(r, ann)["AP"] - ref_ap) for r in rest]
    return out


def split_parts(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """The comma-separated ``--part`` list; a usage error (exit 2) naming the valid parts otherwise."""
    parts = text.split(",")
    unknown = [q for q in parts if q not in (*PART_NAMES, "all")]
    if unknown:
        parser.error(f"unknown part {', '.join(unknown)}; choose from {', '.join(PART_NAMES)} or all")
    return parts


def measure(files: Sequence[str | Path], images, annotations, parts: Sequence[str],
            size: tuple[int, int] | None, bootstrap: int = 0) -> dict[str, dict]:
    """{part: {"fp32_AP": ..., "<file path>": {"AP": ..., "oks50": ..., ...}}} (AP in points).

    size: the files' fixed input size, at which the pretrained fp32 reference runs; None for the
    reference at ``edgepose predict``'s default (432 tall, width following the photo), e.g. to
    compare fine-tuned ``.keras`` checkpoints with their start.

    bootstrap: with N > 0, each file also gets ``AP_delta_90``: the 5th and 95th percentiles of its AP
    minus fp32's over N photo sets drawn with replacement from the part (``bootstrap_ap_deltas``),
    i.e. how far the difference could move on another set of photos like these.
    """
    import edgepose
    from edgepose.eval.coco import CocoKeypoints

    reference = edgepose.load(size=size)
    coco = CocoKeypoints.load(annotations)
    data = coco.data
    ids_of = {im["file_name"]: im["id"] for im in data["images"]}
    truth = annotated_people(coco)
    out: dict[str, dict] = {}
    for part in parts:
        ap, ref_poses, ref_results = _run(reference, images, annotations, part)
        row: dict = {"fp32_AP": round(ap, 2)}
        others = []
        for f in files:
            f_ap, poses, results = _run(edgepose.load(f), images, annotations, part)
            row[str(f)] = {"AP": round(f_ap, 2), **agreement(ref_poses, poses, truth)}
            others.append(results)
        if bootstrap > 0 and files:
            deltas = bootstrap_ap_deltas(data, ref_results, others, [ids_of[n] for n in ref_poses], bootstrap)
            for f, d in zip(files, deltas.T):
                row[str(f)]["AP_delta_90"] = [round(float(q), 2) for q in np.percentile(d, [5, 95])]
        out[part] = row
    return out


def main(argv: list[str] | None = None) -> int:
    from edgepose.errors import EdgeposeError
    from edgepose.estimator import parse_fixed_size

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="int8 (or any) model files of one fixed input size")
    p.add_argument("--size", metavar="HxW", help="their fixed input size, at which the fp32 reference runs (default: "
                   "predict's 432-tall pipeline for the reference, for .keras files to compare with their start)")
    p.add_argument("--images", required=True)
    p.add_argument("--annotations", required=True)
    p.add_argument("--part", default="tuning", help="comma-separated parts of the fixed split (or 'all')")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="also a 90%% interval of each file's AP minus fp32's over N photo sets resampled from the part")
    args = p.parse_args(argv)
    parts = split_parts(p, args.part)
    try:
        size = parse_fixed_size(args.size) if args.size else None
        res = measure(args.files, args.images, args.annotations, parts, size, args.bootstrap)
    except EdgeposeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
