"""Activation-range equalisation: per-channel rescaling that leaves the function unchanged.

For a conv P whose output reaches other convs only through ReLU, max-pool and concat (which all
commute with a positive per-channel scale: ``relu(x / s) = relu(x) / s``), dividing P's output
channel c (kernel and bias) by ``s[c] > 0`` and multiplying the matching input channel of every
consumer conv by ``s[c]`` changes nothing in float. It changes what int8 sees:

* P's output tensor is quantised per tensor, so channels with very different ranges share one
  step size; dividing each by its own range makes every channel use the whole int8 grid;
* P's weights are quantised per output channel, so their scaling costs nothing;
* a depthwise consumer is quantised per channel too (free), but a Conv2D consumer is quantised
  per *output* channel: scaling its input channels moves the range problem into its weights.

So ``s = a`` (the activation range) when every consumer is depthwise, and a balance
``s = a^alpha / w^(1 - alpha)`` (``w`` = the consumer's relative weight range of that input
channel; alpha = 0.5 is cross-layer equalisation's geometric mean) when a Conv2D consumes it.
Outputs of the model are never rescaled.
"""

from __future__ import annotations

import keras
import numpy as np

from edgepose.quant.graph import LayerGraph, rebuild
from edgepose.quant.stats import ChannelStats

_EPS = 1e-3  # channel ranges below _EPS * the largest are treated as _EPS * the largest


def _consumer_offsets(graph: LayerGraph, producer: str) -> list[tuple[str, int]]:
    """(consumer conv, offset of ``producer``'s channels in its input) for every consumer."""
    out = []
    for c in graph.conv_consumers(producer):
        offset = 0
        for seg in graph.segments(c) or []:
            if seg.producer == producer:
                out.append((c, offset))
                break
            offset += seg.channels
        else:
            raise ValueError(f"{producer} feeds {c} but is not among its input segments")
    return out


def relative_input_range(kernel: np.ndarray) -> np.ndarray:
    """Per input channel, the largest |w| relative to its output channel's largest |w|.

    kernel: Conv2D kernel [kh, kw, Cin, O]. Returns float32 [Cin] in 0..1: how much of the
    per-output-channel int8 weight grid that input channel uses at most.
    """
    a = np.abs(kernel).max(axis=(0, 1))  # [Cin, O]
    per_out = np.maximum(a.max(axis=0, keepdims=True), 1e-12)
    return (a / per_out).max(axis=1).astype(np.float32)


def equalization_scales(
    model: keras.Model,
    stats: dict[str, ChannelStats],
    *,
    quantile: float | None = None,
    alpha: float = 0.5,
) -> dict[str, np.ndarray]:
    """Per-channel scales ``s`` (float32 [C], > 0) for every conv whose output can be rescaled.

    quantile: which statistic is the channel's activation range (None: the max of |x|).
    """
    graph = LayerGraph(model)
    scales = {}
    for name in graph.order:
        layer = graph.layers[name]
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            continue
        if graph.reaches_output(name) or not graph.conv_consumers(name):
            continue
        a = stats[name].range(quantile).astype(np.float64)
        a = np.maximum(a, _EPS * a.max() + 1e-12)
        w = None
        for consumer, offset in _consumer_offsets(graph, name):
            clayer = graph.layers[consumer]
            if type(clayer) is keras.layers.Conv2D:
                r = relative_input_range(clayer.get_weights()[0])[offset:offset + len(a)]
                w = r if w is None else np.maximum(w, r)
        if w is None:
            s = a
        else:
            w = np.maximum(w.astype(np.float64), _EPS * w.max() + 1e-12)
            s = a**alpha / w ** (1.0 - alpha)
            s = s / np.exp(np.mean(np.log(s))) * np.exp(np.mean(np.log(a)))
        scales[name] = s.astype(np.float32)
    return scales


def apply_scales(model: keras.Model, scales: dict[str, np.ndarray]) -> keras.Model:
    """A new model where conv ``p``'s output channels are divided by ``scales[p]`` and every
    consumer's matching input channels multiplied by it (function unchanged)."""
    graph = LayerGraph(model)
    weights = {n: [w.copy() for w in graph.layers[n].get_weights()] for n in graph.order
               if graph.layers[n].weights}
    for name, s in scales.items():
        w = weights[name]
        if isinstance(graph.layers[name], keras.layers.DepthwiseConv2D):
            w[0] /= s[None, None, :, None]  # kernel [kh, kw, C, 1]
        else:
            w[0] /= s[None, None, None, :]  # kernel [kh, kw, Cin, C]
        if len(w) > 1:
            w[1] /= s
        for consumer, offset in _consumer_offsets(graph, name):
            k = weights[consumer][0]
            k[:, :, offset:offset + len(s)] *= s.reshape((-1,) + (1,) * (k.ndim - 3))
    return rebuild(model, weights=weights)


def equalize(
    model: keras.Model,
    stats: dict[str, ChannelStats],
    *,
    quantile: float | None = None,
    alpha: float = 0.5,
) -> tuple[keras.Model, dict[str, ChannelStats], dict[str, np.ndarray]]:
    """Equalises activation ranges; returns (new model, its updated stats, the scales used)."""
    scales = equalization_scales(model, stats, quantile=quantile, alpha=alpha)
    new_stats = {n: (st.scaled(scales[n]) if n in scales else st) for n, st in stats.items()}
    return apply_scales(model, scales), new_stats, scales
