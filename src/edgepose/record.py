"""The per-image JSON record that ``edgepose predict`` writes and ``edgepose serve`` returns."""

from __future__ import annotations

from typing import Any


def image_record(image: Any, pred, backend: dict) -> dict:
    """One image's poses as JSON: our named keypoints plus OpenPose's flat pose_keypoints_2d.

    image: the file path (or an upload's name); pred: an ``estimator.Prediction``;
    backend: ``PoseEstimator.describe()``.
    """
    return {
        "image": str(image),
        "height": pred.image_size[0],
        "width": pred.image_size[1],
        "input_size": list(pred.input_size),
        "model": backend,
        "timings_ms": {k: round(v, 2) for k, v in pred.timings_ms.items()},
        "people": [{**p.to_dict(), **p.to_openpose()} for p in pred.poses],
    }
