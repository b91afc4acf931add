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


def _as_float_map(
    a: np.ndarray, name: str, quant: tuple[float, float] | None
) -> np.ndarray:
    """float32 view or copy of a map; integer maps are dequantised as scale * (q - zero_point)."""
    a = np.asarray(a)
    if a.ndim != 3:
        raise ValueError(f"{name} must be [h, w, C], got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        if quant is None:
            raise ValueError(
                f"{name} has integer dtype {a.dtype}: pass {name[:-1]}_quant=(scale, zero_point) to dequantise"
            )
        scale, zero = quant
        return (a.astype(np.float32) - np.float32(zero)) * np.float32(scale)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} must be a float or integer array, got dtype {a.dtype}")
    if quant is not None:
        scale, zero = quant
        return (a.astype(np.float32) - np.float32(zero)) * np.float32(scale)
    # float16/float64 are converted; a contiguous float32 map is used as is (read only).
    return np.ascontiguousarray(a, dtype=np.float32)


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
        value = scale * (q - zero_point).

    Returns poses sorted by decreasing score, keypoints float32 [K, 3] as x, y in map pixels
    (sub-pixel; pixel centres at integers) and the heatmap peak value (0 when missing). Map them
    to the image with ``Letterbox.map_to_image(xy, stride)``. The inputs are not modified.
    """
    hm = _as_float_map(heatmaps, "heatmaps", heatmap_quant)
    pf = _as_float_map(pafs, "pafs", paf_quant)
    k = skeleton.num_parts
    if hm.shape[2] not in (k, k + 1):
        raise ValueError(f"heatmaps must have {k + 1} channels ({k} parts + background), got {hm.shape}")
    if pf.shape[2] != skeleton.num_pafs:
        raise ValueError(f"pafs must have {skeleton.num_pafs} channels, got {pf.shape}")
    if hm.shape[:2] != pf.shape[:2]:
        raise ValueError(f"heatmaps {hm.shape} and pafs {pf.shape} must have the same height and width")
    if hm.shape[0] < 1 or hm.shape[1] < 1:
        raise ValueError(f"maps must be at least 1x1, got {hm.shape}")
    peaks = find_peaks(hm[..., :k], config)
    if len(peaks) == 0:
        return []
    conns = connect_limbs(peaks, pf, skeleton, config)
    return group_people(peaks, conns, skeleton, config)
