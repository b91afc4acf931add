"""What ``predict`` writes per input, and reading it back (resume, COCO results, Parquet rows)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def load_record(path: Path) -> dict | None:
    """A JSON written by an earlier run, or None if absent or not a whole JSON object."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def done_by_same_model(record: dict | None, described: dict) -> bool:
    """True if an earlier run wrote this record with the same model and settings (an image's
    JSON keeps them under "model", a video's under "backend")."""
    if record is None:
        return False
    return record.get("model", record.get("backend")) == json.loads(json.dumps(described))


def poses_of(people: list[dict]) -> list:
    """The ``Pose`` objects of a record's "people" list."""
    from edgepose.pose import Pose

    return [Pose(np.asarray(p["pose_keypoints_2d"], np.float32).reshape(-1, 3), p["score"]) for p in people]


def person_rows(record: dict, input_name: str) -> list[dict]:
    """One row per person of an image or video record: input, frame (0 for an image), person
    (its index in the frame), score, keypoints (flat x, y, confidence per part, as OpenPose),
    track_id (None unless the video was tracked)."""
    frames = record["frames"] if "frames" in record else [{"frame": 0, "people": record.get("people", [])}]
    return [{"input": input_name, "frame": int(f["frame"]), "person": i, "score": float(p["score"]),
             "keypoints": [float(v) for v in p["pose_keypoints_2d"]], "track_id": p.get("track_id")}
            for f in frames for i, p in enumerate(f["people"])]


def unique_stem(name: str, seen: set[str]) -> str:
    """The file stem outputs of ``name`` get: ``a``, then ``a_1``, ``a_2`` for further inputs named a.*"""
    base = Path(name.replace(":", "")).stem
    stem, i = base, 1
    while stem in seen:
        stem, i = f"{base}_{i}", i + 1
    seen.add(stem)
    return stem
