"""OpenPose's bottom-up decoder: heatmap peaks -> PAF-scored limbs -> people.

    from edgepose.decode import decode, DecoderConfig
    poses = decode(heatmaps, pafs)            # keypoints in map pixels
    xy = letterbox.map_to_image(poses[0].keypoints[:, :2], stride=8)

Steps (each in its own module): ``peaks.find_peaks`` (NMS + sub-pixel refinement),
``limbs.connect_limbs`` (PAF line integral + greedy assignment per limb type),
``group.group_people`` (assembly, person score, pruning). Numpy, plus one numba kernel for the
PAF line integral (compiled once and cached on disk; call ``warm_up()`` at start-up so the first
frame does not pay it). The caller's arrays are never modified.
"""

from __future__ import annotations

import numpy as np

from edgepose.decode.config import DecoderConfig
from edgepose.decode.group import group_people
from edgepose.decode.limbs import Connections, connect_limbs, warm_up
from edgepose.decode.peaks import Peaks, find_peaks
from edgepose.pose import Pose
from edgepose.skeleton import COCO18, Skeleton

__all__ = [
    "DecoderConfig", "decode", "warm_up", "Peaks", "Connections", "find_peaks", "connect_limbs", "group_people",
]

_DEFAULT_CONFIG = DecoderConfig()


def _quant_params(quant: object, name: str) -> tuple[np.float32, np.float32]:
    """(scale, zero_point) as float32, or a ValueError saying what is expected."""
    try:
        scale, zero = (float(v) for v in quant)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (scale, zero_point), two numbers, not {quant!r}") from None
    if not (np.isfinite(scale) and np.isfinite(zero)):
        raise ValueError(f"{name} must be finite numbers, not {quant!r}")
    return np.float32(scale), np.float32(zero)


def _check_map(a: object, name: str, quant: tuple[float, float] | None) -> np.ndarray:
    """The map as an array [h, w, C] of a float or (with ``quant``) integer dtype, or a ValueError."""
    a = np.asarray(a)
    if a.ndim == 4:
        raise ValueError(f"{name} has shape {a.shape}: decode takes one image's maps [h, w, C]; "
                         f"pass {name}[i] for image i of a batch")
    if a.ndim != 3:
        raise ValueError(f"{name} must be [h, w, C], got shape {a.shape}")
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a float or integer array, got dtype {a.dtype}")
    if a.dtype.kind in "iu" and quant is None:
        raise ValueError(
            f"{name} has integer dtype {a.dtype}: pass {name[:-1]}_quant=(scale, zero_point) to dequantise"
        )
    return a


def _as_float_map(
    a: np.ndarray, name: str, quant: tuple[float, float] | None, channels: int | None, contiguous: bool
) -> np.ndarray:
    """float32 [h, w, channels] map to decode (all channels for None): a view of the caller's array
    when it is a finite float32 array (and C-contiguous, if ``contiguous``; only read), a new array
    otherwise. Integer maps are dequantised as scale * (q - zero_point); non-finite values (NaN,
    +-inf) become 0, i.e. missing."""
    if quant is not None:
        scale, zero = _quant_params(quant, f"{name[:-1]}_quant")
        full = (a.astype(np.float32) - zero) * scale
    else:
        # float16/float64 are converted (values beyond float32 become inf, then missing).
        full = np.asarray(a, dtype=np.float32)
    # NaN propagates through max and min, +-inf shows in one of them: two fast passes, no copy.
    if full.size and not (np.isfinite(full.max()) and np.isfinite(full.min())):
        full = np.where(np.isfinite(full), full, np.float32(0.0))  # a new array: the input stays as it is
    out = full if channels is None else full[..., :channels]
    return np.ascontiguousarray(out) if contiguous else out


def decode(
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    config: DecoderConfig = _DEFAULT_CONFIG,
    skeleton: Skeleton = COCO18,
    *,
    heatmap_quant: tuple[float, float] | None = None,
    paf_quant: tuple[float, float] | None = None,
) -> list[Pose]:
    """People from one frame's network outputs.

    heatmaps: [h, w, K + 1] (K part channels then background; [h, w, K] is accepted too),
        ~0..1. pafs: [h, w, 2L] PAF x/y channels as in ``skeleton.paf_channels``. Both at map
        resolution (stride 8). float32 is used directly; float16/float64 are converted; int8 or
        uint8 maps need ``heatmap_quant`` / ``paf_quant`` = (scale, zero_point) so that
        value = scale * (q - zero_point). NaN and +-inf values count as missing (0).

    Time and memory per frame are bounded by ``config``'s caps (peaks per part, limb candidates
    per limb type, people), not by what the maps hold: uniform noise at 200x200 decodes in about
    45-50 ms and 10 MB on one core (``python -m edgepose.bench.decoder --worst-case``, docs/decoder.md).

    Returns poses sorted by decreasing score, keypoints float32 [K, 3] as x, y in map pixels
    (sub-pixel; pixel centres at integers) and the heatmap peak value (0 when missing). Map them
    to the image with ``Letterbox.map_to_image(xy, stride)``. The inputs are not modified.
    Raises ValueError (only) for maps of the wrong shape or dtype, or bad quantisation parameters.
    """
    hm = _check_map(heatmaps, "heatmaps", heatmap_quant)
    pf = _check_map(pafs, "pafs", paf_quant)
    k = skeleton.num_parts
    if hm.shape[2] not in (k, k + 1):
        raise ValueError(f"heatmaps must have {k + 1} channels ({k} parts + background), got {hm.shape}")
    if pf.shape[2] != skeleton.num_pafs:
        raise ValueError(f"pafs must have {skeleton.num_pafs} channels, got {pf.shape}")
    if hm.shape[:2] != pf.shape[:2]:
        raise ValueError(f"heatmaps {hm.shape} and pafs {pf.shape} must have the same height and width")
    if hm.shape[0] < 1 or hm.shape[1] < 1:
        raise ValueError(f"maps must be at least 1x1, got {hm.shape}")
    with np.errstate(over="ignore", invalid="ignore"):  # overflows are handled where they matter
        hm = _as_float_map(hm, "heatmaps", heatmap_quant, k, contiguous=False)
        pf = _as_float_map(pf, "pafs", paf_quant, None, contiguous=True)  # read by the numba kernel
        peaks = find_peaks(hm, config)
        if len(peaks) == 0:
            return []
        conns = connect_limbs(peaks, pf, skeleton, config)
        return group_people(peaks, conns, skeleton, config)
