"""Drawing poses on images."""

from __future__ import annotations

import cv2
import numpy as np

from edgepose.pose import Pose


#: hue order of the track colours: 12 hues 30 degrees apart, neighbours in the list far apart
_TRACK_HUES = (0, 6, 3, 9, 1, 7, 4, 10, 2, 8, 5, 11)


def track_color(track_id: int) -> tuple[int, int, int]:
    """A BGR colour for one track ID: 12 saturated hues, ordered so that consecutive IDs differ a lot;
    IDs 12 apart share a colour (their "#id" labels tell them apart)."""
    hue = _TRACK_HUES[int(track_id) % len(_TRACK_HUES)] * 15  # OpenCV hue is 0..179
    hsv = np.array([[[hue, 230, 255]]], np.uint8)
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_poses(image: np.ndarray, poses: list[Pose], thickness: int | None = None) -> np.ndarray:
    """Returns a copy of a BGR image with each person's limbs and keypoints drawn.

    A tracked person (``track_id`` set) is drawn in one colour per ID, with the ID written above
    its head; untracked people get OpenPose's per-limb colours.
    """
    out = image.copy()
    if not poses:
        return out
    t = thickness or max(2, round(max(image.shape[:2]) / 300))
    overlay = out.copy()
    for pose in poses:
        sk = pose.skeleton
        kp = pose.keypoints
        own = None if pose.track_id is None else track_color(pose.track_id)
        for li, (a, b) in enumerate(sk.limbs[: sk.render_limbs]):
            if kp[a, 2] > 0 and kp[b, 2] > 0:
                color = own or sk.colors[li % len(sk.colors)][::-1]
                pa = tuple(int(round(v)) for v in kp[a, :2])
                pb = tuple(int(round(v)) for v in kp[b, :2])
                cv2.line(overlay, pa, pb, color, t + 1, cv2.LINE_AA)
        for i, (x, y, s) in enumerate(kp):
            if s > 0:
                cv2.circle(overlay, (int(round(x)), int(round(y))), t + 1, own or sk.colors[i % len(sk.colors)][::-1],
                           -1, cv2.LINE_AA)
        if own is not None and pose.found.any():
            x, y, _, _ = pose.bbox()
            scale = t / 4
            org = (int(x), max(int(y) - 3 * t, int(12 * scale) + 2))
            cv2.putText(overlay, f"#{pose.track_id}", org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), t + 2, cv2.LINE_AA)
            cv2.putText(overlay, f"#{pose.track_id}", org, cv2.FONT_HERSHEY_SIMPLEX, scale, own, max(1, t - 1), cv2.LINE_AA)
    return cv2.addWeighted(overlay, 0.8, out, 0.2, 0)
