"""Drawing poses on images."""

from __future__ import annotations

import cv2
import numpy as np

from edgepose.pose import Pose


def draw_poses(image: np.ndarray, poses: list[Pose], thickness: int | None = None) -> np.ndarray:
    """Returns a copy of a BGR image with each person's limbs and keypoints drawn."""
    out = image.copy()
    if not poses:
        return out
    t = thickness or max(2, round(max(image.shape[:2]) / 300))
    overlay = out.copy()
    for pose in poses:
        sk = pose.skeleton
        kp = pose.keypoints
        for li, (a, b) in enumerate(sk.limbs[: sk.render_limbs]):
            if kp[a, 2] > 0 and kp[b, 2] > 0:
                color = sk.colors[li % len(sk.colors)][::-1]
                pa = tuple(int(round(v)) for v in kp[a, :2])
                pb = tuple(int(round(v)) for v in kp[b, :2])
                cv2.line(overlay, pa, pb, color, t + 1, cv2.LINE_AA)
        for i, (x, y, s) in enumerate(kp):
            if s > 0:
                cv2.circle(overlay, (int(round(x)), int(round(y))), t + 1, sk.colors[i % len(sk.colors)][::-1], -1, cv2.LINE_AA)
    return cv2.addWeighted(overlay, 0.8, out, 0.2, 0)
