"""Network-like maps rendered from known skeletons, the ground truth of the decoder tests.

Heatmaps: one Gaussian per visible part (max over people), background = 1 - max of the parts.
PAFs: inside a band of half-width ``limb_width`` around each limb whose both ends are visible, the
unit vector from part a to part b; averaged where several people's limbs overlap.
Coordinates are map pixels with pixel centres at integers.
"""

from __future__ import annotations

import numpy as np

from edgepose.skeleton import COCO18, Skeleton

# A standing person facing the camera, 1 unit tall (head top at 0, ankles at ~0.97), COCO-18
# order; x to the image right (so the person's right side is at negative x).
TEMPLATE = np.array(
    [
        [0.00, 0.08],  # nose
        [0.00, 0.20],  # neck
        [-0.12, 0.20], [-0.17, 0.37], [-0.20, 0.52],  # right shoulder, elbow, wrist
        [0.12, 0.20], [0.17, 0.37], [0.20, 0.52],  # left shoulder, elbow, wrist
        [-0.08, 0.52], [-0.09, 0.75], [-0.10, 0.97],  # right hip, knee, ankle
        [0.08, 0.52], [0.09, 0.75], [0.10, 0.97],  # left hip, knee, ankle
        [-0.03, 0.05], [0.03, 0.05],  # right eye, left eye
        [-0.07, 0.07], [0.07, 0.07],  # right ear, left ear
    ],
    dtype=np.float64,
)


def person(
    x: float,
    y: float,
    height: float,
    visible: np.ndarray | list[int] | None = None,
    mirror: bool = False,
) -> np.ndarray:
    """A template person with its neck at (x, y) map pixels and ``height`` pixels tall.

    Returns float64 [18, 3]: x, y, visibility (1 visible, 0 not labelled). ``visible`` lists the
    visible part indices (all by default); ``mirror`` turns the person around (their left side
    on the image left).
    """
    t = (TEMPLATE - TEMPLATE[1]) * height
    if mirror:
        t[:, 0] = -t[:, 0]
    kp = np.zeros((len(TEMPLATE), 3))
    kp[:, :2] = t + (x, y)
    kp[:, 2] = 1.0
    if visible is not None:
        kp[:, 2] = 0.0
        kp[list(visible), 2] = 1.0
    return kp


def crop_to_map(kp: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A copy of kp [K, 3] with the parts outside a (h, w) map marked not visible."""
    h, w = shape
    out = kp.copy()
    inside = (kp[:, 0] >= 0) & (kp[:, 0] <= w - 1) & (kp[:, 1] >= 0) & (kp[:, 1] <= h - 1)
    out[~inside, 2] = 0.0
    return out


def render(
    people: list[np.ndarray],
    shape: tuple[int, int],
    skeleton: Skeleton = COCO18,
    sigma: float = 1.0,
    limb_width: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Maps of ``people`` (each float [K, 3] x, y, visibility in map pixels) on a (h, w) map.

    Returns heatmaps float32 [h, w, K + 1] (last = background) and pafs float32 [h, w, 2L].
    """
    h, w = shape
    k = skeleton.num_parts
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    heat = np.zeros((h, w, k))
    paf_sum = np.zeros((h, w, skeleton.num_pafs))
    paf_cnt = np.zeros((h, w, len(skeleton.limbs)))
    for kp in people:
        for p in range(k):
            if kp[p, 2] > 0:
                g = np.exp(-((xs - kp[p, 0]) ** 2 + (ys - kp[p, 1]) ** 2) / (2 * sigma**2))
                heat[..., p] = np.maximum(heat[..., p], g)
        for li, ((a, b), (cx, cy)) in enumerate(zip(skeleton.limbs, skeleton.paf_channels)):
            if kp[a, 2] <= 0 or kp[b, 2] <= 0:
                continue
            d = kp[b, :2] - kp[a, :2]
            length = np.hypot(*d)
            if length < 1e-9:
                continue
            u = d / length
            rx, ry = xs - kp[a, 0], ys - kp[a, 1]
            along = rx * u[0] + ry * u[1]
            across = np.abs(-rx * u[1] + ry * u[0])
            band = (along >= -limb_width) & (along <= length + limb_width) & (across <= limb_width)
            paf_sum[band, cx] += u[0]
            paf_sum[band, cy] += u[1]
            paf_cnt[band, li] += 1
    # Average overlapping limbs: the count of each limb divides both of its channels.
    cnt = np.ones((h, w, skeleton.num_pafs))
    for li, (cx, cy) in enumerate(skeleton.paf_channels):
        cnt[..., cx] = cnt[..., cy] = np.maximum(paf_cnt[..., li], 1)
    pafs = paf_sum / cnt
    heatmaps = np.concatenate([heat, 1.0 - heat.max(axis=2, keepdims=True)], axis=2)
    return heatmaps.astype(np.float32), pafs.astype(np.float32)
