"""``prepare_for_fp16``: per-channel rescaling so that float16 weights keep the model's function.

float16 keeps 11 significant bits, so rounding a weight moves it by at most 2^-12 of itself. That
is harmless almost everywhere in mobilenet_thin, except in its first depthwise conv
(``Conv2d_1_depthwise``): its 3x3 kernels have taps up to 21.8 that nearly cancel, and its input is
on the raw-pixel scale, so on smooth image regions the filter's response is a small difference of
large products and rounding each tap independently changes that response by far more than 2^-12
of it. Measured (Keras, float32 compute, 55 coco_sample photos at 368x432): rounding every weight
to float16 moves single map values by up to 0.125 / 0.192 (heatmaps / PAFs); rounding every
weight except that one layer's, by 0.024 / 0.030.

The fix keeps the file pure float16. A depthwise conv that feeds a Conv2D with nothing in between
(``graph.depthwise_conv_pairs``) can have its output channel c multiplied by any s > 0 and the
conv's input channel c divided by s without changing the function. For each channel, s is chosen
in [1, 2) -- one octave, so every position relative to the float16 grid is reachable -- among 256
candidates, to minimise the error of the rounded kernel on smooth inputs, in the original units:
``(sum of tap errors)^2 + 0.01 * sum of squared tap errors``, assuming the converter rounds to
nearest (TFLite's and OpenVINO's float16 compression both do). No data is needed, and the
returned model is still float32 and computes the original function.
Measured through the exported files (TFLite and OpenVINO fp16, f32 compute, same photos): max diff
0.023 / 0.027, 99.99th percentile 0.008 / 0.014 (docs/fp16.md).
"""

from __future__ import annotations

import keras
import numpy as np

from edgepose.quant.graph import LayerGraph, depthwise_conv_pairs, rebuild

#: Version of this recipe, recorded in the artifact's ``quantization["prepare"]``.
RECIPE_VERSION = 1
#: Candidate scales: 1 + k / 256 for k = 0..255.
NUM_SCALES = 256
#: Weight of the squared tap errors next to the squared error of the taps' sum.
TAP_WEIGHT = 0.01


def to_float16(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to the nearest float16 values, as float32 (what a float16 converter stores)."""
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


def best_scales(kernel: np.ndarray, num_scales: int = NUM_SCALES) -> np.ndarray:
    """Per output channel of a depthwise kernel [kh, kw, C, 1], the scale s in [1, 2) whose
    float16 rounding of ``s * kernel`` has the smallest smooth-input error (see module doc)."""
    taps = np.moveaxis(kernel[..., 0], -1, 0).reshape(kernel.shape[2], -1).astype(np.float64)  # [C, kh*kw]
    best_cost = np.full(len(taps), np.inf)
    best = np.ones(len(taps), dtype=np.float32)
    for s in 1.0 + np.arange(num_scales, dtype=np.float32) / np.float32(num_scales):
        err = to_float16(taps * s).astype(np.float64) / float(s) - taps
        cost = err.sum(axis=1) ** 2 + TAP_WEIGHT * (err ** 2).sum(axis=1)
        better = cost < best_cost
        best_cost[better] = cost[better]
        best[better] = s
    return best


def prepare_for_fp16(model: keras.Model) -> tuple[keras.Model, dict]:
    """(a new model computing the same function whose weights round well to float16, metadata).

    The metadata is ``{"recipe", "exact", "steps"}`` for ``config.quantization["prepare"]``.
    ``model`` is untouched; the new model equals it to float32 rounding (~1e-5 on real photos).
    """
    graph = LayerGraph(model)
    weights: dict[str, list[np.ndarray]] = {}
    pairs = depthwise_conv_pairs(graph)
    for dw_name, conv_name in pairs:
        dw_kernel, *dw_bias = model.get_layer(dw_name).get_weights()
        s = best_scales(dw_kernel)
        weights[dw_name] = [dw_kernel * s[None, None, :, None]] + [b * s for b in dw_bias]
        kernel, *rest = model.get_layer(conv_name).get_weights()
        weights[conv_name] = [kernel / s[None, None, :, None], *rest]
    info = {"recipe": RECIPE_VERSION, "exact": True,
            "steps": [{"step": "rescale_depthwise_for_float16", "layers": len(pairs), "scales": NUM_SCALES}]}
    return rebuild(model, weights=weights), info
