"""The tracking benchmark: real photos made into clips with known motion (``bench.clips``), the real
model on every frame, then ID switches, fragmentation, MOTA (motmetrics), jitter, lag and cost.

    python -m edgepose.bench.track --images ../shared/data/coco_sample/images \\
        --annotations ../shared/data/coco_sample/person_keypoints.json --part evaluation

Poses of each clip are cached (``--cache``), so re-running with other tracker or smoother settings
costs no inference. Tracker and smoother settings are tuned on ``--part tuning`` and reported on
``--part evaluation``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.bench.clips import Clip, make_clips
from edgepose.errors import require
from edgepose.eval.oks import oks
from edgepose.eval.split import PART_NAMES
from edgepose.pose import Pose
from edgepose.track import OneEuroParams, Tracker, TrackerParams

#: a prediction and a ground-truth person are the same person if their OKS is at least this
MATCH_OKS = 0.5


# --------------------------------------------------------------------------------------------
# poses of every frame (the real model), cached


@functools.cache
def _decoder_source_digest() -> str:
    """sha1 of the decoder package's source files (read once per process)."""
    import edgepose.decode as decode_pkg

    digest = hashlib.sha1()
    for src in sorted(Path(decode_pkg.__file__).parent.glob("*.py")):
        digest.update(src.read_bytes())
    return digest.hexdigest()


def _decoder_fingerprint(estimator: Any) -> str:
    """The estimator's decoder settings and the decoder's source: cached poses go stale with either."""
    import dataclasses

    decoder = getattr(estimator, "decoder", None)
    settings = dataclasses.asdict(decoder) if dataclasses.is_dataclass(decoder) else repr(decoder)
    return json.dumps([settings, _decoder_source_digest()], sort_keys=True, default=str)


def _cache_file(cache: Path, clip: Clip, described: dict, decoder: str = "") -> Path:
    key = json.dumps([clip.name, len(clip.frames), described, decoder], sort_keys=True, default=str)
    return cache / f"{clip.name.replace(':', '_').replace('+', '_')}_{hashlib.sha1(key.encode()).hexdigest()[:10]}.npz"


def clip_poses(estimator: Any, clip: Clip, cache: Path | None = None) -> list[list[Pose]]:
    """The estimator's poses on each frame of ``clip`` (read from / written to ``cache``)."""
    from edgepose.video import stream_predictions

    path = None
    if cache is not None:
        path = _cache_file(cache, clip, estimator.describe(), _decoder_fingerprint(estimator))
    if path is not None and path.exists():
        with np.load(path) as z:
            return [[Pose(kp, float(s)) for kp, s in zip(z[f"kp{i}"], z[f"sc{i}"])] for i in range(len(clip.frames))]
    out = [pred.poses for _, pred in stream_predictions(estimator, clip.frames)]
    if path is not None:
        from edgepose.io_utils import atomic_path

        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for i, poses in enumerate(out):
            arrays[f"kp{i}"] = np.array([p.keypoints for p in poses], np.float32).reshape(-1, 18, 3)
            arrays[f"sc{i}"] = np.array([p.score for p in poses], np.float32)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
    return out


def run_tracker(poses: list[list[Pose]], clip: Clip, *, smooth: bool, params: TrackerParams,
                one_euro: OneEuroParams) -> list[list[Pose]]:
    tracker = Tracker(smooth=smooth, one_euro=one_euro, params=replace(params, fps=clip.fps))
    return [tracker.update(p, time_s=i / clip.fps) for i, p in enumerate(poses)]


# --------------------------------------------------------------------------------------------
# metrics


def _oks_table(gt: dict[int, np.ndarray], areas: dict[int, float], poses: list[Pose]) -> np.ndarray:
    """OKS [gt people, poses]."""
    ids = list(gt)
    preds = [p.to_coco17() for p in poses]
    return np.array([[oks(q, gt[g], areas[g]) for q in preds] for g in ids]).reshape(len(ids), len(preds))


def _ignored(pose: Pose, boxes: np.ndarray | None) -> bool:
    """True if most of the pose's keypoints lie in one ignore box (an annotated non-target person)."""
    if boxes is None or not len(boxes) or not pose.found.any():
        return False
    xy = pose.keypoints[pose.found, :2]
    inside = ((xy[:, None, 0] >= boxes[None, :, 0]) & (xy[:, None, 0] <= boxes[None, :, 2])
              & (xy[:, None, 1] >= boxes[None, :, 1]) & (xy[:, None, 1] <= boxes[None, :, 3]))
    return bool(inside.mean(0).max() >= 0.5)


def mot_scores(clip: Clip, tracked: list[list[Pose]]) -> dict:
    """ID switches, fragmentations, MOTA and counts over a clip (motmetrics, distance 1 - OKS, a
    match needs OKS >= MATCH_OKS); predictions on ignored people (``Clip.ignore``) are dropped."""
    mm = require("motmetrics", "track", "the tracking benchmark")
    acc = mm.MOTAccumulator(auto_id=True)
    for gt, areas, boxes, poses in zip(clip.gt, clip.areas, clip.ignore or [None] * len(tracked), tracked):
        table = _oks_table(gt, areas, poses)
        keep = [j for j, p in enumerate(poses) if (table[:, j].max(initial=0.0) >= MATCH_OKS or not _ignored(p, boxes))]
        poses, table = [poses[j] for j in keep], table[:, keep]
        dist = np.where(table >= MATCH_OKS, 1.0 - table, np.nan)
        acc.update(list(gt), [p.track_id for p in poses], dist)
    names = ["num_switches", "num_fragmentations", "mota", "num_objects", "num_misses", "num_false_positives",
             "num_unique_objects"]
    row = mm.metrics.create().compute(acc, metrics=names, name=clip.name).iloc[0]
    return {"idsw": int(row["num_switches"]), "frag": int(row["num_fragmentations"]), "mota": float(row["mota"]),
            "gt": int(row["num_objects"]), "miss": int(row["num_misses"]), "fp": int(row["num_false_positives"]),
            "ids": len({p.track_id for f in tracked for p in f}), "people": int(row["num_unique_objects"])}


def _matched(clip: Clip, tracked: list[list[Pose]]) -> list[dict[int, Pose]]:
    """Per frame, {gt id: its pose} by best OKS (>= MATCH_OKS), one to one."""
    from scipy.optimize import linear_sum_assignment

    out = []
    for gt, areas, poses in zip(clip.gt, clip.areas, tracked):
        table = _oks_table(gt, areas, poses)
        rows, cols = linear_sum_assignment(-table) if table.size else ([], [])
        ids = list(gt)
        out.append({ids[r]: poses[c] for r, c in zip(rows, cols) if table[r, c] >= MATCH_OKS})
    return out


def jitter(clip: Clip, tracked: list[list[Pose]], min_frames: int = 10) -> tuple[float, int]:
    """Mean over (person, keypoint) of the keypoint's position std over frames (sqrt(var x + var y)),
    pixels, for keypoints found in at least ``min_frames`` frames; and how many such keypoints."""
    track: dict[tuple[int, int], list[np.ndarray]] = {}
    for frame in _matched(clip, tracked):
        for gid, pose in frame.items():
            for k in np.flatnonzero(pose.found):
                track.setdefault((gid, int(k)), []).append(pose.keypoints[k, :2])
    stds = [float(np.sqrt(np.var(np.array(v), axis=0).sum())) for v in track.values() if len(v) >= min_frames]
    return (float(np.mean(stds)) if stds else float("nan")), len(stds)


def lag(clip: Clip, raw: list[list[Pose]], smooth: list[list[Pose]], warm_up: int = 3) -> float:
    """Frames by which smoothed keypoints trail the raw ones on a moving clip: the mean of
    (raw - smoothed) along each keypoint's true per-frame motion, divided by that motion."""
    num = den = 0.0
    for t in range(max(warm_up, 1), len(raw)):
        m, m0 = clip.transforms[t], clip.transforms[t - 1]
        if m is None or m0 is None:
            continue
        inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
        by_id = {p.track_id: p for p in smooth[t]}
        for p in raw[t]:
            s = by_id.get(p.track_id)
            if s is None:
                continue
            q = p.keypoints[p.found, :2].astype(np.float64)
            src = q @ inv[:, :2].T + inv[:, 2]
            v = q - (src @ m0[:, :2].T + m0[:, 2])
            d = q - s.keypoints[p.found, :2]
            num += float((d * v).sum())
            den += float((v * v).sum())
    return num / den if den > 0 else float("nan")


def cost(pool: list[Pose], people: int, *, smooth: bool, params: TrackerParams, one_euro: OneEuroParams,
         frames: int = 300, seed: int = 0) -> tuple[float, float]:
    """Median and p90 ms per frame of tracking (+ smoothing) for ``people`` real poses side by side,
    moving 5 px per frame with 1 px keypoint noise."""
    rng = np.random.default_rng(seed)
    base = [pool[i % len(pool)].keypoints.copy() for i in range(people)]
    for i, kp in enumerate(base):
        kp[kp[:, 2] > 0, 0] += 700 * i
    tracker = Tracker(smooth=smooth, one_euro=one_euro, params=params)
    times = []
    for f in range(frames + 10):
        poses = []
        for kp in base:
            k = kp.copy()
            found = k[:, 2] > 0
            k[found, :2] += np.array([5.0 * f, 0.0]) + rng.normal(0, 1.0, (int(found.sum()), 2))
            poses.append(Pose(k, 0.8))
        t0 = time.perf_counter()
        tracker.update(poses, time_s=f / 25.0)
        if f >= 10:
            times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 90))


# --------------------------------------------------------------------------------------------
# the report


def evaluate(clips: list[Clip], poses: list[list[list[Pose]]], params: TrackerParams, one_euro: OneEuroParams
             ) -> dict:
    """Every metric, per clip and per kind of clip."""
    per_clip = []
    for clip, p in zip(clips, poses):
        raw = run_tracker(p, clip, smooth=False, params=params, one_euro=one_euro)
        row: dict[str, Any] = {"clip": clip.name, "kind": clip.kind, "occlusions": clip.occlusions,
                               **mot_scores(clip, raw)}
        if clip.kind == "still":
            sm = run_tracker(p, clip, smooth=True, params=params, one_euro=one_euro)
            row["jitter_raw"], row["keypoints"] = jitter(clip, raw)
            row["jitter_smooth"], _ = jitter(clip, sm)
        if clip.kind in ("pan", "zoom"):
            sm = run_tracker(p, clip, smooth=True, params=params, one_euro=one_euro)
            row["lag"] = lag(clip, raw, sm)
        per_clip.append(row)
    kinds = {}
    for kind in dict.fromkeys(r["kind"] for r in per_clip):
        rows = [r for r in per_clip if r["kind"] == kind]
        gt = sum(r["gt"] for r in rows)
        agg = {"clips": len(rows), "idsw": sum(r["idsw"] for r in rows), "max_idsw": max(r["idsw"] for r in rows),
               "frag": sum(r["frag"] for r in rows), "occlusions": sum(r["occlusions"] for r in rows),
               "gt": gt, "people": sum(r["people"] for r in rows), "ids": sum(r["ids"] for r in rows),
               "mota": 1.0 - sum(r["miss"] + r["fp"] + r["idsw"] for r in rows) / gt if gt else float("nan")}
        if kind == "still":
            agg["jitter_raw"] = float(np.nanmean([r["jitter_raw"] for r in rows]))
            agg["jitter_smooth"] = float(np.nanmean([r["jitter_smooth"] for r in rows]))
        if kind in ("pan", "zoom"):
            agg["lag"] = float(np.nanmean([r["lag"] for r in rows]))
        kinds[kind] = agg
    return {"clips": per_clip, "kinds": kinds}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def report(result: dict) -> str:
    out = ["Tracking per kind of clip (real model on every frame; ID metrics without smoothing):", ""]
    rows = []
    for kind, a in result["kinds"].items():
        rows.append([kind, a["clips"], a["people"], a["ids"], a["gt"], a["idsw"], a["max_idsw"], a["occlusions"],
                     a["frag"], round(100 * a["mota"], 1)])
    out.append(_table(["clip kind", "clips", "people (GT)", "IDs given", "GT person-frames", "ID switches",
                       "max per clip", "occlusions", "fragmentations", "MOTA %"], rows))
    k = result["kinds"]
    if "still" in k:
        s = k["still"]
        out += ["", f"Jitter on still clips with camera noise: {s['jitter_raw']:.2f} px raw, {s['jitter_smooth']:.2f} px "
                f"smoothed ({s['jitter_raw'] / s['jitter_smooth']:.2f}x less)"]
    for kind in ("pan", "zoom"):
        if kind in k:
            out.append(f"Lag of smoothed keypoints on {kind} clips: {k[kind]['lag']:.2f} frames")
    if "cost" in result:
        out += ["", "Cost per frame (ms, median / p90; measured while other work ran):", ""]
        out.append(_table(["people", "tracking", "tracking + smoothing"],
                          [[n, f"{c['track'][0]:.3f} / {c['track'][1]:.3f}", f"{c['smooth'][0]:.3f} / {c['smooth'][1]:.3f}"]
                           for n, c in result["cost"].items()]))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from edgepose.eval.split import select
    from edgepose.paths import cache_dir

    p = argparse.ArgumentParser(prog="python -m edgepose.bench.track", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, type=Path)
    p.add_argument("--annotations", required=True, type=Path)
    p.add_argument("--part", choices=(*PART_NAMES, "all"), default="evaluation")
    p.add_argument("--photos", type=int, default=6, help="photos per part (default: %(default)s)")
    p.add_argument("--frames", type=int, default=20, help="frames per clip (default: %(default)s)")
    p.add_argument("--model", default=None)
    p.add_argument("--size", default=None)
    p.add_argument("--cache", type=Path, default=None, help="pose cache (default: EDGEPOSE cache/track_bench)")
    p.add_argument("--buffer", type=int, default=TrackerParams.buffer)
    p.add_argument("--tolerance", type=float, default=TrackerParams.tolerance)
    p.add_argument("--min-similarity", type=float, default=TrackerParams.min_similarity)
    p.add_argument("--no-motion", action="store_true", help="ablation: no motion prediction")
    p.add_argument("--min-cutoff", type=float, default=OneEuroParams.min_cutoff)
    p.add_argument("--beta", type=float, default=OneEuroParams.beta)
    p.add_argument("--d-cutoff", type=float, default=OneEuroParams.d_cutoff)
    p.add_argument("--json", type=Path, help="also write every number here")
    args = p.parse_args(argv)

    import edgepose

    annotations = json.loads(args.annotations.read_text())
    names = sorted(im["file_name"] for im in annotations["images"])
    names = select(names, None if args.part == "all" else args.part)
    clips_all = make_clips(args.images, annotations, names, frames=args.frames)
    photos = list(dict.fromkeys(c.name.split(":")[0] for c in clips_all if c.kind != "crossing"))[: args.photos]
    keep = set(photos)
    clips = [c for c in clips_all if (c.name.split(":")[0] in keep if c.kind != "crossing"
                                      else set(c.name.split(":")[0].split("+")) <= keep)]
    print(f"{len(clips)} clips from {len(photos)} photos of the {args.part} part: {', '.join(photos)}", file=sys.stderr)
    est = edgepose.load(args.model, size=args.size)
    cache = args.cache or (cache_dir() / "track_bench")
    from tqdm import tqdm

    poses = [clip_poses(est, c, cache) for c in tqdm(clips, desc="clips", unit="clip", file=sys.stderr)]
    params = TrackerParams(buffer=args.buffer, tolerance=args.tolerance, min_similarity=args.min_similarity,
                           motion=not args.no_motion)
    one_euro = OneEuroParams(min_cutoff=args.min_cutoff, beta=args.beta, d_cutoff=args.d_cutoff)
    result = evaluate(clips, poses, params, one_euro)
    pool = [q for c, ps in zip(clips, poses) if c.kind == "still" for q in ps[0] if q.num_parts >= 8]
    if pool:
        result["cost"] = {n: {"track": cost(pool, n, smooth=False, params=params, one_euro=one_euro),
                              "smooth": cost(pool, n, smooth=True, params=params, one_euro=one_euro)} for n in (1, 10)}
    result["settings"] = {"part": args.part, "photos": photos, "frames": args.frames, "model": est.describe(),
                          "tracker": str(params),
                          "one_euro": str(one_euro)}
    print(report(result))
    if args.json:
        from edgepose.io_utils import write_atomic

        write_atomic(args.json, json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
