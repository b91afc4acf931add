"""Per-channel activation statistics of every conv output on calibration inputs.

"Output" means the tensor an int8 runtime quantises: the conv's output, or its ReLU's output when
a ReLU is the conv's only consumer (TFLite and OpenVINO fuse the two).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from edgepose.quant.graph import CONVS, LayerGraph


@dataclass
class ChannelStats:
    """Per-channel ranges of one conv's quantised output, float32 [C] each, in activation units.

    absmax: max |x| over every calibration pixel.
    quantiles: {q: value}: the q-quantile of |x| per channel (q e.g. 0.999), from a random
        subsample of pixels.
    """

    absmax: np.ndarray
    quantiles: dict[float, np.ndarray]

    def range(self, q: float | None) -> np.ndarray:
        """Per-channel range: the max (q None or 1) or a quantile of |x|."""
        return self.absmax if q is None or q >= 1.0 else self.quantiles[q]

    def scaled(self, s: np.ndarray) -> "ChannelStats":
        """The stats of ``x / s`` (per channel)."""
        return ChannelStats(self.absmax / s, {q: v / s for q, v in self.quantiles.items()})


def quantised_output(graph: LayerGraph, conv: str) -> str:
    """Name of the layer whose output is the quantised tensor of ``conv`` (it or its ReLU)."""
    consumers = graph.consumers[conv]
    if len(consumers) == 1 and isinstance(graph.layers[consumers[0]], keras.layers.ReLU):
        return consumers[0]
    return conv


def collect_stats(
    model: keras.Model,
    calibration: np.ndarray,
    *,
    quantiles: tuple[float, ...] = (0.9999,),
    batch_size: int = 4,
) -> dict[str, ChannelStats]:
    """Statistics of every conv's quantised output on ``calibration`` (float32 [N, H, W, 3]
    network inputs), keyed by conv layer name. Quantiles are exact (a running per-channel
    top-k over every calibration pixel)."""
    graph = LayerGraph(model)
    convs = [n for n in graph.order if isinstance(graph.layers[n], CONVS)]
    taps = [graph.layers[quantised_output(graph, c)].output for c in convs]
    probe = keras.Model(model.inputs, taps)
    n = len(calibration)
    absmax: list[np.ndarray | None] = [None] * len(convs)
    tops: list[np.ndarray | None] = [None] * len(convs)  # [k, C] largest |x| so far
    for start in range(0, n, batch_size):
        outs = probe(calibration[start:start + batch_size], training=False)
        for i, t in enumerate(outs):
            a = np.abs(np.asarray(t))  # [B, h, w, C]
            m = a.max(axis=(0, 1, 2))
            absmax[i] = m if absmax[i] is None else np.maximum(absmax[i], m)
            if not quantiles:
                continue
            total = n * a.shape[1] * a.shape[2]
            k = int(np.ceil((1.0 - min(quantiles)) * total)) + 1
            flat = a.reshape(-1, a.shape[-1])
            if tops[i] is not None:
                flat = np.concatenate([tops[i], flat])
            if len(flat) > k:
                flat = np.partition(flat, len(flat) - k, axis=0)[-k:]
            tops[i] = flat
    out = {}
    for i, c in enumerate(convs):
        qs = {}
        if quantiles:
            top = np.sort(tops[i], axis=0)[::-1]  # descending, [k, C]
            total = n * int(taps[i].shape[1]) * int(taps[i].shape[2])
            for q in quantiles:
                j = min(len(top) - 1, int(np.floor((1.0 - q) * total)))
                qs[q] = top[j].astype(np.float32)
        out[c] = ChannelStats(absmax[i].astype(np.float32), qs)
    return out
