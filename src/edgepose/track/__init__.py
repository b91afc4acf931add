"""Stable person IDs across the frames of a video, and steady keypoints.

    import edgepose
    from edgepose.track import Tracker, track

    est = edgepose.load()
    for frame, poses in track(est, frames, smooth=True):   # any iterable of BGR frames
        for p in poses:
            print(p.track_id, p.keypoints)

``Tracker`` (tracker.py) matches people by an OKS-like keypoint similarity with motion prediction
and an optimal assignment; ``OneEuroFilter`` (smooth.py) smooths each track's keypoints without
delay. See docs/tracking.md for the parameters and the benchmark.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np

from edgepose.pose import Pose
from edgepose.track.smooth import OneEuroFilter, OneEuroParams
from edgepose.track.tracker import Tracker, TrackerParams


def track(estimator: Any, frames: Iterable[np.ndarray], *, fps: float = 25.0, buffer: int | None = None,
          smooth: bool = False, one_euro: OneEuroParams | None = None) -> Iterator[tuple[np.ndarray, list[Pose]]]:
    """Poses with ``track_id`` for a sequence of BGR uint8 frames [h, w, 3], pipelined.

    fps: the frames' rate (frame i is at i / fps seconds; the smoother uses it). buffer: frames a
    lost person's ID is kept. smooth: One Euro smoothing of the keypoints (``one_euro`` parameters).
    Yields (frame, poses) in order.
    """
    from edgepose.video import stream_predictions

    tracker = Tracker(buffer, smooth=smooth, one_euro=one_euro, params=TrackerParams(fps=fps))
    for i, (frame, pred) in enumerate(stream_predictions(estimator, frames)):
        yield frame, tracker.update(pred.poses, time_s=i / fps)


__all__ = ["OneEuroFilter", "OneEuroParams", "Tracker", "TrackerParams", "track"]
