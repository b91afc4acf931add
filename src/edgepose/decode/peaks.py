"""Heatmap peaks: non-maximum suppression and sub-pixel positions.

All positions are in map pixels (pixel centres at integers).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgepose.decode.config import DecoderConfig


@dataclass(frozen=True)
class Peaks:
    """All peaks of all parts, grouped by part.

    xy: float32 [N, 2] as x, y in map pixels.
    score: float32 [N] heatmap value at the peak.
    part: int32 [N] part index, non-decreasing.
    start: int64 [K + 1]: the peaks of part k are ``start[k]:start[k + 1]``.
    """

    xy: np.ndarray
    score: np.ndarray
    part: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return len(self.score)


def _local_maxima(hm: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (y, x, k) of 3x3 local maxima above ``threshold`` of hm float32 [h, w, K].

    A plateau gives one peak: a pixel must be strictly greater than its earlier (up/left)
    neighbours and not smaller than the later ones. Returned sorted by k, then y, then x.
    """
    h, w, k = hm.shape
    # Pad with -inf so border pixels can be maxima.
    p = np.full((h + 2, w + 2, k), -np.inf, dtype=np.float32)
    p[1:-1, 1:-1] = hm
    c = p[1:-1, 1:-1]
    keep = c > threshold
    # Earlier neighbours (strict), later neighbours (non-strict): one pixel per plateau.
    for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):
        keep &= c > p[1 + dy : h + 1 + dy, 1 + dx : w + 1 + dx]
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        keep &= c >= p[1 + dy : h + 1 + dy, 1 + dx : w + 1 + dx]
    # Transpose so that nonzero comes out ordered by part.
    kk, yy, xx = np.nonzero(keep.transpose(2, 0, 1))
    return yy, xx, kk


def _highest_per_part(
    value: np.ndarray, kk: np.ndarray, k: int, cap: int | None
) -> np.ndarray | None:
    """Indices of the ``cap`` highest values of each part, in their original order, or None when no
    part has more than ``cap``. value: float32 [N] peak values; kk: [N] non-decreasing part indices."""
    if cap is None or len(kk) <= cap:
        return None
    start = np.searchsorted(kk, np.arange(k + 1))
    counts = np.diff(start)
    if counts.max() <= cap:
        return None
    keep = []
    for part in range(k):
        lo, hi = start[part], start[part + 1]
        if hi - lo <= cap:
            keep.append(np.arange(lo, hi))
        else:
            # The cap highest (ties broken arbitrarily but deterministically), back in map order.
            top = np.argpartition(-value[lo:hi], cap - 1)[:cap]
            keep.append(lo + np.sort(top))
    return np.concatenate(keep)


def _refine(hm: np.ndarray, yy: np.ndarray, xx: np.ndarray, kk: np.ndarray, method: str) -> np.ndarray:
    """Sub-pixel offsets float32 [N, 2] (dx, dy in -0.5..0.5) of maxima at (yy, xx, kk) of hm."""
    n = len(yy)
    off = np.zeros((n, 2), dtype=np.float32)
    if method == "none" or n == 0:
        return off
    h, w, _ = hm.shape
    for axis, (dy, dx), size in ((0, (0, 1), w), (1, (1, 0), h)):
        pos = xx if axis == 0 else yy
        # Only refine along an axis where both neighbours exist.
        ok = (pos > 0) & (pos < size - 1)
        y0, x0, k0 = yy[ok], xx[ok], kk[ok]
        c = hm[y0, x0, k0]
        lo = hm[y0 - dy, x0 - dx, k0]
        hi = hm[y0 + dy, x0 + dx, k0]
        if method == "logquadratic":
            # Parabola through log values: exact vertex of a Gaussian.
            eps = 1e-6
            c, lo, hi = np.log(np.maximum(c, eps)), np.log(np.maximum(lo, eps)), np.log(np.maximum(hi, eps))
        if method == "centroid":
            # Weighted mean of the three positions (weights clipped at 0).
            wl, wc, wh = np.maximum(lo, 0), np.maximum(c, 0), np.maximum(hi, 0)
            d = (wh - wl) / np.maximum(wl + wc + wh, 1e-6)
        else:
            # Vertex of the parabola through (-1, lo), (0, c), (1, hi).
            den = lo - 2 * c + hi
            d = np.where(den < -1e-9, 0.5 * (lo - hi) / np.where(den < -1e-9, den, -1.0), 0.0)
        d = np.clip(d, -0.5, 0.5)
        d[d != d] = 0.0  # NaN from values so huge that they overflow: no offset
        off[ok, axis] = d
    return off


def _capped(
    yy: np.ndarray, xx: np.ndarray, kk: np.ndarray, hm: np.ndarray, k: int, cap: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The maxima (yy, xx, kk) limited to the ``cap`` highest values of hm per part."""
    keep = _highest_per_part(hm[yy, xx, kk], kk, k, cap)
    return (yy, xx, kk) if keep is None else (yy[keep], xx[keep], kk[keep])


def find_peaks(heatmaps: np.ndarray, config: DecoderConfig) -> Peaks:
    """Peaks of hm float32 [h, w, K] (part channels only) in map pixels, per ``config``."""
    h, w, k = heatmaps.shape
    if config.peak_method == "upsample" and config.upsample > 1:
        f = config.upsample
        # Bicubic upsampling (half-pixel centres, as cv2 and tf resize).
        up = cv2.resize(np.ascontiguousarray(heatmaps), (w * f, h * f), interpolation=cv2.INTER_CUBIC).reshape(h * f, w * f, k)
        search = up
        if config.smooth_sigma > 0:
            search = cv2.GaussianBlur(up, (0, 0), config.smooth_sigma * f).reshape(up.shape)
        yy, xx, kk = _capped(*_local_maxima(search, config.peak_threshold), up, k, config.max_peaks_per_part)
        off = _refine(search, yy, xx, kk, config.refine)
        # Upsampled pixel j is centred on map coordinate (j + 0.5) / f - 0.5.
        xy = (np.stack([xx, yy], 1).astype(np.float32) + off + 0.5) / f - 0.5
        score = up[yy, xx, kk]
    else:
        search = heatmaps
        if config.smooth_sigma > 0:
            search = cv2.GaussianBlur(np.ascontiguousarray(heatmaps), (0, 0), config.smooth_sigma).reshape(heatmaps.shape)
        yy, xx, kk = _capped(*_local_maxima(search, config.peak_threshold), heatmaps, k, config.max_peaks_per_part)
        # Refine on the map itself; the score is the unblurred value at the maximum.
        off = _refine(heatmaps, yy, xx, kk, config.refine)
        xy = np.stack([xx, yy], 1).astype(np.float32) + off
        score = heatmaps[yy, xx, kk]
    start = np.searchsorted(kk, np.arange(k + 1)).astype(np.int64)
    return Peaks(xy.astype(np.float32), np.minimum(score, 1.0).astype(np.float32), kk.astype(np.int32), start)
