"""Test-time augmentation: the maps of a flipped and rescaled image, averaged before decoding.

As OpenPose's ``--scale_number N --scale_gap G`` (scales 1, 1-G, 1-2G, ...) and flip: the network
runs once per (scale, flip) pass; each pass's heatmaps and PAFs are resampled onto the map grid of
the plain pass (scale 1, the estimator's normal input size), a flipped pass's maps mirrored back
with left and right parts swapped (heatmaps) and the limbs' fields swapped with their x component
negated (PAFs), and all passes averaged. The decoder then runs once, on the averaged maps.

    est = edgepose.load(augment="flip,1,0.75")      # or Augment(scales=(1.0, 0.75), flip=True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgepose.errors import EdgeposeError
from edgepose.preprocess import Letterbox, dynamic_input_size, letterbox
from edgepose.skeleton import Skeleton

#: ``--augment`` without a recipe. Chosen on the tuning part of the fixed split (docs/engines.md):
#: Keras fp32, 432 tall, 27 photos.
DEFAULT_RECIPE = "flip,1,0.75,0.5"


@dataclass(frozen=True)
class Augment:
    """Which passes to average: ``scales`` (of the input height; 1.0 = the normal size) and each
    of them also ``flip``ped horizontally."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = True

    @classmethod
    def parse(cls, recipe: "str | Augment | None") -> "Augment | None":
        """ "flip", "1,0.75", "flip,1,0.75" (or "default") -> Augment; None or "" -> None."""
        if recipe is None or isinstance(recipe, Augment):
            return recipe
        text = str(recipe).strip().lower()
        if not text or text == "none":
            return None
        if text == "default":
            text = DEFAULT_RECIPE
        flip, scales = False, []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if part == "flip":
                flip = True
                continue
            try:
                s = float(part)
            except ValueError:
                raise EdgeposeError(f"augment recipe {recipe!r}: {part!r} is neither 'flip' nor a scale like 0.75") from None
            if not 0.1 <= s <= 3.0:
                raise EdgeposeError(f"augment recipe {recipe!r}: scale {s} is outside 0.1..3")
            scales.append(s)
        scales = tuple(dict.fromkeys(scales or [1.0]))
        if scales == (1.0,) and not flip:
            return None
        return cls(scales, flip)

    def describe(self) -> str:
        return ",".join((["flip"] if self.flip else []) + [f"{s:g}" for s in self.scales])

    @property
    def passes(self) -> int:
        return len(self.scales) * (2 if self.flip else 1)


def flip_channels(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How a horizontal flip moves channels, as gathers: original channel ``c`` of the maps of the
    un-flipped image is ``sign[c] * flipped_maps[..., src[c]]`` (mirrored back).

    Returns (heatmap source index [parts + 1], PAF source index [2 * limbs], PAF sign [2 * limbs]).
    """
    perm = skeleton.flip_permutation()
    hm_src = np.arange(skeleton.num_heatmaps)
    hm_src[: skeleton.num_parts] = perm
    limb_of = {pair: i for i, pair in enumerate(skeleton.limbs)}
    paf_src = np.zeros(skeleton.num_pafs, np.int64)
    paf_sign = np.ones(skeleton.num_pafs, np.float32)
    for i, (a, b) in enumerate(skeleton.limbs):
        # Limb (a, b) of the original is limb (perm a, perm b) of the flipped image, x mirrored.
        pair = (int(perm[a]), int(perm[b]))
        if pair in limb_of:
            j, direction = limb_of[pair], 1.0
        elif pair[::-1] in limb_of:
            j, direction = limb_of[pair[::-1]], -1.0
        else:
            raise ValueError(f"skeleton {skeleton.name}: limb {a}-{b} has no mirror image among its limbs")
        (cx, cy), (fx, fy) = skeleton.paf_channels[i], skeleton.paf_channels[j]
        paf_src[cx], paf_sign[cx] = fx, -direction
        paf_src[cy], paf_sign[cy] = fy, direction
    return hm_src, paf_src, paf_sign


def _axis(n_out: int, a: float, b: float, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear-interpolation taps for v = a * u + b, u = 0..n_out-1, clamped to 0..n_in-1."""
    v = np.clip(a * np.arange(n_out, dtype=np.float64) + b, 0, n_in - 1)
    i0 = np.floor(v).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (v - i0).astype(np.float32)


def _resample(maps: np.ndarray, out_hw: tuple[int, int], ax: tuple[float, float], ay: tuple[float, float]) -> np.ndarray:
    """maps [h, w, C] sampled at x = ax[0] * u + ax[1], y = ay[0] * v + ay[1] for the out grid."""
    y0, y1, wy = _axis(out_hw[0], *ay, maps.shape[0])
    x0, x1, wx = _axis(out_hw[1], *ax, maps.shape[1])
    rows = maps[y0] * (1 - wy)[:, None, None] + maps[y1] * wy[:, None, None]
    return rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]


def _content_maps(estimator, x: np.ndarray, box: Letterbox) -> tuple[np.ndarray, np.ndarray, float]:
    """Network maps over the letterboxed image only (padding cropped), float32; and infer ms."""
    stride = estimator.config.stride
    t0 = time.perf_counter()
    hm, pf = estimator.backend.infer(x[None])
    ms = (time.perf_counter() - t0) * 1e3
    mh = min(hm.shape[1], -(-box.content_size[0] // stride))
    mw = min(hm.shape[2], -(-box.content_size[1] // stride))
    return np.asarray(hm[0, :mh, :mw], np.float32), np.asarray(pf[0, :mh, :mw], np.float32), ms


def _input_size(estimator, image_hw: tuple[int, int], scale: float) -> tuple[int, int]:
    base = estimator.input_size_for(image_hw)
    if scale == 1.0:
        return base
    if estimator.backend.input_size is not None:
        raise EdgeposeError("this model has a fixed input size: --augment can flip but not rescale "
                            "(use scales 1 only, e.g. --augment flip)")
    stride = estimator.config.stride
    if isinstance(estimator.size, tuple):
        return tuple(max(stride, round(d * scale / stride) * stride) for d in base)
    return dynamic_input_size(image_hw, max(stride, round(base[0] * scale / stride) * stride), stride)


def averaged_maps(estimator, image: np.ndarray, augment: Augment
                  ) -> tuple[np.ndarray, np.ndarray, Letterbox, dict[str, float]]:
    """The averaged maps of every pass on the plain pass's grid (padding cropped).

    image: BGR uint8 [h, w, 3]. Returns (heatmaps [mh, mw, parts + 1], pafs [mh, mw, 2 * limbs],
    the plain pass's Letterbox, timings ms: preprocess (resizing, flipping), infer (all passes),
    merge (resampling and averaging)).
    """
    t0 = time.perf_counter()
    h, w = image.shape[:2]
    stride = estimator.config.stride
    cfg = estimator.config
    flipped = image[:, ::-1] if augment.flip else None
    base_x, base = letterbox(image, estimator.input_size_for((h, w)), cfg)
    mh, mw = -(-base.content_size[0] // stride), -(-base.content_size[1] // stride)
    sy0, sx0 = base.content_size[0] / h, base.content_size[1] / w
    hm_src, paf_src, paf_sign = flip_channels(cfg.skeleton_def) if augment.flip else (None, None, None)
    timings = {"preprocess": (time.perf_counter() - t0) * 1e3, "infer": 0.0, "merge": 0.0}
    hm_sum = pf_sum = None
    for scale in augment.scales:
        for flip in (False, True) if augment.flip else (False,):
            t1 = time.perf_counter()
            if scale == 1.0 and not flip:
                x, box = base_x, base
            else:
                x, box = letterbox(flipped if flip else image, _input_size(estimator, (h, w), scale), cfg)
            t2 = time.perf_counter()
            hm, pf, ms = _content_maps(estimator, x, box)
            t3 = time.perf_counter()
            sy, sx = box.content_size[0] / h, box.content_size[1] / w
            # base map u -> image x = (u + 0.5) * stride / sx0 - 0.5 -> this pass's map coordinate
            ay = (sy / sy0, 0.5 * sy / sy0 - 0.5)
            if flip:
                ax = (-sx / sx0, w * sx / stride - 0.5 * sx / sx0 - 0.5)
                hm, pf = hm[..., hm_src], pf[..., paf_src] * paf_sign
            else:
                ax = (sx / sx0, 0.5 * sx / sx0 - 0.5)
            if (hm.shape[:2] != (mh, mw)) or flip or scale != 1.0:
                hm, pf = _resample(hm, (mh, mw), ax, ay), _resample(pf, (mh, mw), ax, ay)
            hm_sum = hm if hm_sum is None else hm_sum + hm
            pf_sum = pf if pf_sum is None else pf_sum + pf
            timings["preprocess"] += (t2 - t1) * 1e3
            timings["infer"] += ms
            timings["merge"] += (time.perf_counter() - t3) * 1e3
    n = np.float32(augment.passes)
    return hm_sum / n, pf_sum / n, base, timings
