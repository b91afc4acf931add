"""Object keypoint similarity (COCO's OKS) and matching of people between two pose lists."""

from __future__ import annotations

import numpy as np

# COCO's per-keypoint constants (sigmas), COCO-17 order.
COCO_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
) / 10.0


def oks(pred: np.ndarray, gt: np.ndarray, area: float) -> float:
    """OKS of one predicted person against one reference person, as COCO computes it.

    pred, gt: [17, 3] COCO-17 keypoints as x, y, v (v > 0 where labelled / found).
    area: the reference person's area in pixels^2 (COCO: segment area; else bbox w*h).
    Only keypoints labelled in ``gt`` count; a labelled keypoint the prediction misses scores 0.
    """
    labelled = gt[:, 2] > 0
    if not labelled.any():
        return 0.0
    d2 = ((pred[:, :2] - gt[:, :2]) ** 2).sum(1)
    var = (2 * COCO_SIGMAS) ** 2
    e = d2 / var / (max(area, 1.0) + np.spacing(1)) / 2
    sim = np.where(pred[:, 2] > 0, np.exp(-e), 0.0)
    return float(sim[labelled].mean())


def keypoint_area(kp: np.ndarray) -> float:
    """Area of the box around the found keypoints of a [17, 3] array (pixels^2)."""
    pts = kp[kp[:, 2] > 0, :2]
    if len(pts) < 2:
        return 1.0
    w, h = pts.max(0) - pts.min(0)
    return float(max(w * h, 1.0))


def match_people(reference: list[np.ndarray], candidates: list[np.ndarray],
                 areas: list[float] | None = None) -> list[float]:
    """For each reference person, the best OKS among the candidates (greedy, one-to-one).

    reference, candidates: lists of COCO-17 [17, 3] arrays. areas: per reference person
    (default: the box around its keypoints). Returns one OKS per reference person (0 if unmatched).
    """
    if areas is None:
        areas = [keypoint_area(r) for r in reference]
    if not reference:
        return []
    table = np.array([[oks(c, r, a) for c in candidates] for r, a in zip(reference, areas)]).reshape(len(reference), len(candidates))
    best = [0.0] * len(reference)
    used_r, used_c = set(), set()
    for flat in np.argsort(-table, axis=None):
        r, c = divmod(int(flat), max(len(candidates), 1))
        if not candidates or r in used_r or c in used_c or table[r, c] <= 0:
            continue
        best[r] = float(table[r, c])
        used_r.add(r)
        used_c.add(c)
    return best
