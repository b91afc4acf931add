"""Variance-preserving initialisation for training from scratch.

The network has no normalisation layers and ~40 conv layers deep (backbone + stages), so Keras's
default Glorot-uniform kernels shrink the signal at every ReLU: measured on ``thin_w050`` at
128x128, the backbone features have std 5e-4 and the outputs 2e-8 and do not depend on the input
(the network can then only learn constant maps). Drawing each kernel with variance
``gain / fan_in`` (He: gain 2 before a ReLU, LeCun: gain 1 otherwise, e.g. a depthwise conv
followed by its pointwise conv, or an output layer) keeps the features at std ~0.5 and the
outputs input-dependent (std of the difference between two inputs' outputs ~0.3).
"""

from __future__ import annotations

import keras
import numpy as np


def _feeds_relu(layer: keras.layers.Layer) -> bool:
    nodes = getattr(layer, "_outbound_nodes", [])
    return any(isinstance(getattr(n, "operation", None), keras.layers.ReLU) for n in nodes)


def _is_output(layer: keras.layers.Layer) -> bool:
    """A conv whose result is a map (not fed to a ReLU or another conv): a stage output."""
    nodes = getattr(layer, "_outbound_nodes", [])
    convs = (keras.layers.ReLU, keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
    return bool(nodes) and not any(isinstance(getattr(n, "operation", None), convs) for n in nodes)


def variance_preserving_init(model: keras.Model, seed: int = 0, output_gain: float = 0.0) -> int:
    """Redraws every Conv2D/DepthwiseConv2D kernel of ``model`` (normal, std sqrt(gain/fan_in))
    and zeroes the biases; returns how many layers were set. Seeded, deterministic.

    output_gain: gain of the convs that produce the heatmaps/PAFs (0: they start at zero, so the
        first loss is the targets' own energy instead of a large random one that kills ReLUs).
    """
    rng = np.random.default_rng(seed)
    count = 0
    for layer in model.layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            continue
        kernel = layer.kernel
        kh, kw, cin = kernel.shape[:3]
        fan_in = kh * kw if isinstance(layer, keras.layers.DepthwiseConv2D) else kh * kw * cin
        gain = 2.0 if _feeds_relu(layer) else (output_gain if _is_output(layer) else 1.0)
        kernel.assign(rng.normal(0.0, np.sqrt(gain / fan_in), kernel.shape).astype(np.float32))
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.zeros(layer.bias.shape, np.float32))
        count += 1
    return count
