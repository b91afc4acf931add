"""``prepare_for_int8``: the edits that make mobilenet_thin survive full-integer quantisation.

Steps, in order (each measured in docs/int8.md):

1. ``fold``: remove the 24 1x1 depthwise convs (per-channel scalings) by folding them into the
   following pointwise conv. Exact.
2. ``equalize``: per-channel rescaling across ReLU / max-pool / concat so that every quantised
   activation tensor has channels of equal range, balanced against the next pointwise conv's
   weight ranges. Exact (function unchanged to ~1e-5).
3. ``bias_correction``: Conv2D biases absorb the mean output shift that int8 weight rounding
   will cause (analytic, from per-channel input means on the calibration images). Not exact by
   design: the float model moves towards what int8 will compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from edgepose.config import ModelConfig
from edgepose.quant.biascorrect import weight_bias_correct
from edgepose.quant.equalize import equalize
from edgepose.quant.fold import fold_depthwise_1x1
from edgepose.quant.stats import collect_stats

#: Version of the preparation recipe, recorded in ``config.quantization["prepare"]``.
RECIPE_VERSION = 1


@dataclass
class Preparation:
    """What ``prepare`` did.

    model: the prepared Keras model (same inputs and outputs as the original).
    config: the original config with ``quantization["prepare"]`` describing the steps, to be
        stored as metadata in the int8 artifact.
    exact: True when the prepared model computes the same function as the original (all steps
        exact); False after any step that changes the function (bias correction, fine-tuning).
    details: per-step information: "removed" (folded layers), "scales" (equalisation scales
        per conv), "exact_model" (the model after the exact steps only).
    """

    model: keras.Model
    config: ModelConfig
    exact: bool
    details: dict[str, Any] = field(default_factory=dict)


def _check_calibration(model: keras.Model, calibration: np.ndarray) -> np.ndarray:
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 4 or calibration.shape[-1] != 3 or len(calibration) == 0:
        raise ValueError(f"calibration must be float32 [N, H, W, 3] network inputs, got {calibration.shape}")
    want = tuple(model.inputs[0].shape[1:3])
    if None not in want and tuple(calibration.shape[1:3]) != want:
        raise ValueError(f"calibration inputs are {calibration.shape[1:3]}, the model takes {want}")
    return calibration


def prepare(
    model: keras.Model,
    config: ModelConfig,
    calibration: np.ndarray,
    *,
    quantile: float | None = 0.9999,
    alpha: float = 0.5,
    bias_correction: bool = True,
) -> Preparation:
    """Runs the preparation steps; see ``prepare_for_int8``.

    quantile: the per-channel activation range used to equalise (a quantile of |x| over the
        calibration pixels; None for the max).
    alpha: balance between activation and weight ranges where a Conv2D consumes the tensor.
    bias_correction: run step 3 (False: exact steps only).
    """
    calibration = _check_calibration(model, calibration)
    folded, removed = fold_depthwise_1x1(model)
    stats = collect_stats(folded, calibration, quantiles=(quantile,) if quantile and quantile < 1 else ())
    equalized, _, scales = equalize(folded, stats, quantile=quantile, alpha=alpha)
    steps = [
        {"step": "fold_depthwise_1x1", "layers": len(removed)},
        {"step": "equalize", "layers": len(scales), "quantile": quantile, "alpha": alpha,
         "calibration_images": int(len(calibration))},
    ]
    prepared = equalized
    if bias_correction:
        prepared, changes = weight_bias_correct(equalized, calibration)
        steps.append({"step": "weight_bias_correction", "layers": len(changes)})
    exact = not bias_correction
    quant = {**config.quantization, "prepare": {"recipe": RECIPE_VERSION, "exact": exact, "steps": steps}}
    return Preparation(prepared, config.replace(quantization=quant), exact,
                       {"removed": removed, "scales": scales, "exact_model": equalized})


def prepare_for_int8(model: keras.Model, config: ModelConfig, calibration: np.ndarray) -> keras.Model:
    """A model that computes the same function as ``model`` but quantises well to full int8.

    model: a fixed-size Keras pose network (``build_model`` / ``load_keras`` with an input size);
        only Conv2D, DepthwiseConv2D, ReLU, MaxPooling2D, Concatenate and Identity layers.
    config: its ModelConfig.
    calibration: float32 [N, H, W, 3] network inputs (letterboxed photos, as ``letterbox``
        makes them), the same as the representative dataset given to the int8 converter.

    Returns a new model (``model`` is untouched) with the same input and outputs. Its function
    equals the original's to ~1e-5 after the exact steps (1x1 depthwise folding, activation
    equalisation); then weight bias correction moves each Conv2D bias by the mean shift int8
    weight rounding will add (heatmap MAE vs the original ~0.016 in float, by design: the int8
    model lands closer to the original). Its layers are a subset of the original's types, so the full-int8 TFLite
    stays CONV_2D / DEPTHWISE_CONV_2D / CONCATENATION / MAX_POOL_2D. Use ``prepare`` for the
    config with ``quantization["prepare"]`` metadata describing what was done.
    """
    return prepare(model, config, calibration).model
