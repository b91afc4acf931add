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
    kp = np.asarray(keypoints, np.float32).reshape(-1, k, 3)
    if resolution == "input" and stride > 1 and background != "1-sum":
        return _heatmaps_input(kp, h, w, stride, sigma, background)
    up = stride if resolution == "input" else 1
    gh, gw = h * up, w * up
    out = np.zeros((gh, gw, k + 1), np.float32)
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


def _heatmaps_input(kp: np.ndarray, h: int, w: int, stride: int, sigma: float, background: str) -> np.ndarray:
    """``heatmaps`` at input resolution without the [H, W, K] array (same maps to ~1e-7).

    Each channel is the block mean of a max of Gaussians, and the max over points is the Gaussian
    of the nearest point (one sigma for all). On a block wholly inside one point's Voronoi cell the
    mean is that point's separable mean, mean(gx) * mean(gy), the largest of the points' separable
    means; cells are convex, so a block whose four corner pixels share their nearest point is such
    a block. Only the other blocks are drawn pixel by pixel. The "1-max" background is the same
    computation over every labelled point (1 - max over parts and people, then the mean).
    """
    k = kp.shape[1]
    out = np.zeros((h, w, k + 1), np.float32)
    labelled = kp[..., 2] > 0  # [P, K]
    for c in range(k):
        out[..., c] = _area_max_gaussians(kp[labelled[:, c], c, :2], h, w, stride, sigma)
    if background == "1-max":
        out[..., k] = 1.0 - _area_max_gaussians(kp[labelled][:, :2], h, w, stride, sigma)
    else:  # "1-max-map": on the final map
        _background(out, k, background)
    return out


def _area_max_gaussians(points: np.ndarray, h: int, w: int, stride: int, sigma: float) -> np.ndarray:
    """[h, w]: the mean over each stride x stride block of max over ``points`` [N, 2] (input pixels)
    of exp(-d^2 / (2 sigma^2)), at input pixel centres (integers)."""
    if not len(points):
        return np.zeros((h, w), np.float32)
    pts = points.astype(np.float64)
    inv = 1.0 / (2.0 * sigma * sigma)
    gx = np.exp(-((np.arange(w * stride) - pts[:, 0:1]) ** 2) * inv).reshape(-1, w, stride)  # [N, w, s]
    gy = np.exp(-((np.arange(h * stride) - pts[:, 1:2]) ** 2) * inv).reshape(-1, h, stride)  # [N, h, s]
    out = (gy.mean(-1)[:, :, None] * gx.mean(-1)[:, None, :]).max(axis=0)  # exact on one-cell blocks
    if len(pts) == 1:
        return out.astype(np.float32)
    # the nearest point to each of the four corner pixels of every block: [h, w] per corner
    edges = np.arange(0, max(h, w) * stride, stride)
    dx = [(edges[:w] + e - pts[:, 0:1]) ** 2 for e in (0, stride - 1)]  # [N, w] per side
    dy = [(edges[:h] + e - pts[:, 1:2]) ** 2 for e in (0, stride - 1)]  # [N, h]
    near = [np.argmin(y[:, :, None] + x[:, None, :], axis=0) for y in dy for x in dx]
    mixed = np.nonzero((near[0] != near[1]) | (near[0] != near[2]) | (near[0] != near[3]))
    if len(mixed[0]):  # pixel by pixel: [N, M, s, s] -> max over points, mean over the block
        g = gy[:, mixed[0], :, None] * gx[:, mixed[1], None, :]
        out[mixed] = g.max(axis=0).mean(axis=(1, 2))
    return out.astype(np.float32)


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
    grid = np.array([w * up, h * up])  # drawing grid, x and y
    n_limbs = len(skeleton.limbs)
    field = np.zeros((h, w, n_limbs, 2), np.float32)
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
        lo, hi = np.minimum(a, b) - width, np.maximum(a, b) + width  # each limb's box grown by the width
        # the pixels drawn per person and limb (every pixel of the field is inside): [P, L, 2], half-open
        box0 = np.clip(np.floor(lo) - 1, 0, grid).astype(int)
        box1 = np.clip(np.ceil(hi) + 2, 0, grid).astype(int)
        for l in range(n_limbs):  # one limb at a time, on the union of its people's boxes in whole map cells
            people = np.nonzero(valid[:, l] & (box0[:, l] < box1[:, l]).all(-1))[0]
            if not len(people):
                continue
            x0, y0 = box0[people, l].min(axis=0) // up * up
            x1, y1 = -(-box1[people, l].max(axis=0) // up) * up
            f = np.zeros((y1 - y0, x1 - x0, 2), np.float32)
            count = np.zeros((y1 - y0, x1 - x0), np.float32)
            for p in people:  # in order, so that "last" keeps the last covering person's vector
                (px0, py0), (px1, py1) = box0[p, l], box1[p, l]
                xs = np.arange(px0, px1, dtype=np.float32)[None, :]
                ys = np.arange(py0, py1, dtype=np.float32)[:, None]
                dx, dy = xs - a[p, l, 0], ys - a[p, l, 1]
                ux, uy = u[p, l]
                on = np.abs(dx * uy - dy * ux) <= width
                if extent == "segment":
                    along = dx * ux + dy * uy
                    on &= (along >= 0) & (along <= length[p, l])
                else:  # the bounding box of the two ends, grown by the width
                    on &= (xs >= lo[p, l, 0]) & (xs <= hi[p, l, 0]) & (ys >= lo[p, l, 1]) & (ys <= hi[p, l, 1])
                cell = (slice(py0 - y0, py1 - y0), slice(px0 - x0, px1 - x0))
                count[cell] += on
                if overlap == "last":  # tf-pose: the last covering person's vector, divided by the count
                    f[cell][on] = u[p, l]
                else:
                    f[cell] += on[..., None] * u[p, l]
            if overlap in ("average", "last"):
                f /= np.maximum(count, 1.0)[..., None]
            field[y0 // up: y1 // up, x0 // up: x1 // up, l] = _area(f, up) if up > 1 else f
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
