"""``prepare_for_int8``: the edits that make mobilenet_thin survive full-integer quantisation.

Steps, in order (each measured in docs/int8.md):

1. ``fold``: remove the 24 1x1 depthwise convs (per-channel scalings) by folding them into the
   following pointwise conv. Exact.
2. ``equalize``: per-channel rescaling across ReLU / max-pool / concat so that every quantised
   activation tensor has channels of equal range, balanced against the next pointwise conv's
   weight ranges. Exact (function unchanged to ~1e-5).
3. ``gptq``: the 1x1 conv weights are rounded to the converters' per-channel int8 grid with
   error compensation across input channels (GPTQ, from calibration input statistics), so the
   converters find them already on the grid. Not exact by design (float heatmap MAE ~0.002):
   the weight rounding error the network sees drops ~6x.
4. ``bias_correction`` (off by default; superseded by 3): Conv2D biases absorb the mean output
   shift of nearest int8 weight rounding.
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
from edgepose.quant.gptq import gptq as gptq_round_weights
from edgepose.quant.stats import collect_stats

#: Version of the preparation recipe, recorded in ``config.quantization["prepare"]``.
RECIPE_VERSION = 2


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
    gptq: bool = True,
    bias_correction: bool = False,
) -> Preparation:
    """Runs the preparation steps; see ``prepare_for_int8``.

    quantile: the per-channel activation range used to equalise (a quantile of |x| over the
        calibration pixels; None for the max).
    alpha: balance between activation and weight ranges where a Conv2D consumes the tensor.
    gptq: run step 3 (False with bias_correction False: exact steps only).
    bias_correction: run step 4 (measured: TFLite +2.1 AP after step 2 alone, but OpenVINO
        -3.0 as NNCF corrects biases itself; a no-op after step 3, whose weights are on the grid).
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
    if gptq:
        prepared, gains = gptq_round_weights(prepared, calibration)
        steps.append({"step": "gptq", "layers": len(gains),
                      "median_error_ratio": round(float(np.median(list(gains.values()))), 3)})
    if bias_correction:
        prepared, changes = weight_bias_correct(prepared, calibration)
        steps.append({"step": "weight_bias_correction", "layers": len(changes)})
    exact = not (bias_correction or gptq)
    quant = {**config.quantization, "prepare": {"recipe": RECIPE_VERSION, "exact": exact, "steps": steps}}
    return Preparation(prepared, config.replace(quantization=quant), exact,
                       {"removed": removed, "scales": scales, "exact_model": equalized})


def prepare_for_int8(model: keras.Model, config: ModelConfig, calibration: np.ndarray) -> keras.Model:
    """A model that computes (almost) the same function as ``model`` but quantises well to full
    int8, for TFLiteConverter (full int8, representative dataset) and NNCF alike.

    model: a fixed-size Keras pose network (``build_model`` / ``load_keras`` with an input size);
        only Conv2D, DepthwiseConv2D, ReLU, MaxPooling2D, Concatenate and Identity layers.
    config: its ModelConfig.
    calibration: float32 [N, H, W, 3] network inputs (letterboxed photos, as ``letterbox``
        makes them), the same as the representative dataset given to the int8 converter.

    Returns a new model (``model`` is untouched) with the same input and outputs. Its function
    equals the original's to ~1e-5 after the exact steps (1x1 depthwise folding, activation
    equalisation); then GPTQ rounding puts the 1x1 conv weights on the int8 grid (float heatmap
    MAE vs the original ~0.002, by design; no fine-tuning, no training). Its layers are a subset
    of the original's types, so the full-int8 TFLite stays CONV_2D / DEPTHWISE_CONV_2D /
    CONCATENATION / MAX_POOL_2D (plus the int8->int8 QUANTIZE the converter adds before the shared
    feature concat, as for the original model). Use ``prepare`` for the config with
    ``quantization["prepare"]`` metadata describing what was done.

    Measured on coco_sample at 368x432, 6 stages (docs/int8.md): COCO AP fp32 27.3; full-int8
    TFLite 0.0 unprepared, 26.7 prepared; NNCF OpenVINO int8 0.0 unprepared, 26.3 prepared.
    """
    return prepare(model, config, calibration).model
