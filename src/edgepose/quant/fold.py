"""Fold 1x1 depthwise convolutions into the pointwise convolution that follows them.

A 1x1 depthwise conv without bias is a per-channel scaling ``y[..., c] = d[c] * x[..., c]``;
followed by a 1x1 (or any) conv ``z = W * y + b`` it equals ``z = (W * diag(d)) x + b``. The
scaling layer is removed, so its output tensor (whose channels the scaling spreads over a wide
range: the reason full-int8 PTQ fails on mobilenet_thin) never has to be quantised. Exact up
to float rounding.
"""

from __future__ import annotations

import keras
import numpy as np

from edgepose.quant.graph import LayerGraph, depthwise_conv_pairs, rebuild


def foldable_pairs(model: keras.Model) -> list[tuple[str, str]]:
    """(depthwise, conv) name pairs that can be folded: a 1x1, stride-1, bias-free, linear
    depthwise conv (multiplier 1) whose only consumer is a Conv2D fed by it alone."""
    pairs = []
    for dw, conv in depthwise_conv_pairs(LayerGraph(model)):
        cfg = model.get_layer(dw).get_config()
        if tuple(cfg["kernel_size"]) == (1, 1) and tuple(cfg["strides"]) == (1, 1) and not cfg["use_bias"]:
            pairs.append((dw, conv))
    return pairs


def fold_depthwise_1x1(model: keras.Model) -> tuple[keras.Model, list[str]]:
    """Returns (a new model without the foldable 1x1 depthwise convs, names of those removed).

    The function is unchanged (max abs output difference ~1e-6 on real photos).
    """
    pairs = foldable_pairs(model)
    weights: dict[str, list[np.ndarray]] = {}
    for dw_name, conv_name in pairs:
        d = model.get_layer(dw_name).get_weights()[0][0, 0, :, 0]  # [C]
        kernel, *rest = model.get_layer(conv_name).get_weights()  # [kh, kw, C, O]
        weights[conv_name] = [kernel * d[None, None, :, None], *rest]
    removed = [dw for dw, _ in pairs]
    return rebuild(model, remove=set(removed), weights=weights), removed
