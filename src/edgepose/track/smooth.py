"""Keypoint smoothing: a One Euro filter on each keypoint of each tracked person.

The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a low-pass filter whose cut-off
frequency rises with speed: still keypoints are smoothed hard (no jitter), moving ones lightly
(little lag). Per keypoint and frame, with ``dt`` the seconds since its last observation::

    alpha(fc)  = 1 / (1 + 1 / (2 pi fc dt))
    dx         = (x - x_prev) / dt                      # raw velocity, pixels per second
    dx_hat     = alpha(d_cutoff) dx + (1 - alpha(d_cutoff)) dx_hat_prev
    speed      = |mean of dx_hat over the person's found keypoints| / size
    fc         = min_cutoff + beta * speed
    x_hat      = alpha(fc) x + (1 - alpha(fc)) x_hat_prev

It is causal: the output for a frame depends only on that frame and earlier ones, so it adds no
frames of latency. Two choices differ from the per-coordinate filter of the paper, both measured
on the tuning clips (docs/tracking.md): speed is in person sizes per second (``size`` = square
root of the area of the box around the person's keypoints), so one ``beta`` works for near and
far people and any resolution; and the speed that opens the filter is the whole person's (the
mean velocity of its keypoints), whose noise is averaged over the keypoints, so a still person's
jitter does not open the filter (on the tuning clips it cut jitter half again as much as
per-keypoint speed at the same lag). A keypoint unseen for more than ``reset_s`` seconds starts afresh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroParams:
    """Parameters of the One Euro filter (defaults chosen on the tuning clips, docs/tracking.md).

    min_cutoff: cut-off frequency in Hz for a still person; lower smooths more (and lags more
        when motion starts).
    beta: how fast the cut-off rises with speed, in Hz per (person size per second); higher lags
        less on moving people and smooths them less.
    d_cutoff: cut-off frequency in Hz of the velocity estimate.
    reset_s: a keypoint unseen for longer than this (seconds) restarts from its new position.
    """

    min_cutoff: float = 0.1
    beta: float = 8.0
    d_cutoff: float = 0.7
    reset_s: float = 0.5

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0 or self.reset_s <= 0:
            raise ValueError(f"One Euro parameters must be positive (beta >= 0): {self}")


def _alpha(cutoff: np.ndarray | float, dt: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))


def one_euro_step(state_x: np.ndarray, state_dx: np.ndarray, state_t: np.ndarray, xy: np.ndarray,
                  found: np.ndarray, t: float, size: np.ndarray, p: OneEuroParams) -> np.ndarray:
    """One frame of the filter for M people at once; updates the state arrays in place.

    state_x, state_dx: float [M, K, 2] (filtered positions, filtered velocities in px/s);
    state_t: float [M, K], time each keypoint was last seen (-inf: never). xy: float [M, K, 2]
    this frame's positions in pixels; found: bool [M, K]; t: seconds; size: float [M] pixels.
    Returns the smoothed positions float [M, K, 2] (unfound keypoints: ``xy`` unchanged).
    """
    out = np.array(xy, dtype=np.float64)
    dt = t - state_t
    fresh = found & ~(dt <= p.reset_s)                 # never seen, or unseen for too long
    go = found & ~fresh & (dt > 0)
    d = np.where(go, dt, 1.0)[..., None]               # [M, K, 1]
    a_d = _alpha(p.d_cutoff, d)
    dx_hat = np.where(go[..., None], a_d * (out - state_x) / d + (1.0 - a_d) * state_dx, state_dx)
    n = np.maximum(go.sum(1), 1)[:, None]              # the person's mean velocity over its moving keypoints
    mean_v = (dx_hat * go[..., None]).sum(1) / n
    speed = np.sqrt((mean_v**2).sum(1)) / np.maximum(size, 1.0)    # [M] person sizes per second
    a = _alpha(p.min_cutoff + p.beta * speed[:, None, None], d)
    x_hat = a * out + (1.0 - a) * state_x
    out = np.where(go[..., None], x_hat, out)
    same_time = found & ~fresh & ~go                   # a repeated timestamp: keep the last estimate
    out = np.where(same_time[..., None], state_x, out)
    upd = (go | fresh)[..., None]
    state_x[...] = np.where(upd, out, state_x)
    state_dx[...] = np.where(go[..., None], dx_hat, np.where(fresh[..., None], 0.0, state_dx))
    state_t[...] = np.where(go | fresh, t, state_t)
    return out


class OneEuroFilter:
    """One Euro filters for the K keypoints of one person (the ``Tracker`` runs all its people
    through ``one_euro_step`` at once).

    >>> f = OneEuroFilter(18)
    >>> xy_smooth = f(xy, found, t, size)     # xy float [K, 2] pixels, found bool [K], t seconds
    """

    def __init__(self, num_parts: int, params: OneEuroParams | None = None) -> None:
        self.params = params or OneEuroParams()
        self.x = np.zeros((1, num_parts, 2))
        self.dx = np.zeros((1, num_parts, 2))
        self.t = np.full((1, num_parts), -np.inf)

    def __call__(self, xy: np.ndarray, found: np.ndarray, t: float, size: float) -> np.ndarray:
        """Smoothed positions float [K, 2] of the found keypoints (others are returned unchanged).

        xy: float [K, 2] positions in pixels; found: bool [K]; t: the frame's time in seconds
        (increasing); size: the person's size in pixels (> 0).
        """
        return one_euro_step(self.x, self.dx, self.t, np.asarray(xy)[None], np.asarray(found, bool)[None], t,
                             np.array([size], float), self.params)[0]
