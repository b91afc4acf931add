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


#: OpenPose's body renderer as ControlNet's annotator (controlnet_aux) draws it: ellipse limbs
#: 4 px half-wide at 60 % of the part colour, then joints as filled 4 px circles in full colour.
OPENPOSE_STICK_WIDTH = 4
OPENPOSE_JOINT_RADIUS = 4
OPENPOSE_LIMB_SHADE = 0.6


def draw_openpose(image: np.ndarray, poses: list[Pose]) -> np.ndarray:
    """The skeletons alone on black, at the image's size, as OpenPose-conditioned ControlNets expect.

    image: BGR uint8 [h, w, 3] (only its size is used). Returns BGR uint8 [h, w, 3]; saved as a
    file its colours are OpenPose's RGB colours. Drawing order: every limb of every person (limb by
    limb, in OpenPose's 17-limb order without the ear-shoulder helpers), then every joint.
    """
    h, w = image.shape[:2]
    canvas = np.zeros((h, w, 3), np.uint8)
    for pose in poses:
        sk, kp = pose.skeleton, pose.keypoints
        for li, (a, b) in enumerate(sk.limbs[: sk.render_limbs]):
            if kp[a, 2] <= 0 or kp[b, 2] <= 0:
                continue
            (xa, ya), (xb, yb) = kp[a, :2], kp[b, :2]
            length = float(np.hypot(xa - xb, ya - yb))
            angle = np.degrees(np.arctan2(ya - yb, xa - xb))
            polygon = cv2.ellipse2Poly((int((xa + xb) / 2), int((ya + yb) / 2)),
                                       (int(length / 2), OPENPOSE_STICK_WIDTH), int(angle), 0, 360, 1)
            color = [int(c * OPENPOSE_LIMB_SHADE) for c in sk.colors[li % len(sk.colors)][::-1]]
            cv2.fillConvexPoly(canvas, polygon, color)
    for pose in poses:
        sk, kp = pose.skeleton, pose.keypoints
        for i, (x, y, s) in enumerate(kp):
            if s > 0:
                cv2.circle(canvas, (int(x), int(y)), OPENPOSE_JOINT_RADIUS, sk.colors[i % len(sk.colors)][::-1], -1)
    return canvas


RENDERERS = {"overlay": draw_poses, "openpose": draw_openpose}


def renderer(name: str):
    """The drawing function ``(image BGR [h, w, 3], poses) -> BGR image`` called ``name``."""
    from edgepose.errors import EdgeposeError

    try:
        return RENDERERS[name]
    except KeyError:
        raise EdgeposeError(f"unknown render style {name!r}; choose {' or '.join(RENDERERS)}") from None
