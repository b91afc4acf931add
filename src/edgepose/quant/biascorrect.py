"""Bias correction: remove the mean shift that int8 rounding puts on each conv output channel.

Two ways, both only moving Conv2D biases:

* ``weight_bias_correct`` (analytic, as in data-free quantisation): rounding a kernel to the
  per-channel symmetric int8 grid the converters use changes ``W`` by ``dW``; the output mean
  then moves by ``dW . E[x]``, with ``E[x]`` the per-channel input mean on calibration images.
  A depthwise conv has no bias, so its shift is pushed through the 1x1 conv that follows it.
  Fast (no conversion), runtime-independent.
* ``bias_correct`` (empirical, below).

Empirical bias correction against a full-int8 TFLite model.

Quantisation error is not zero-mean per channel: rounded weights and clipped / rounded inputs
shift each conv output channel's mean. Here the shift is measured, not modelled: run the int8
TFLite model (every intermediate tensor kept) and the float Keras model on calibration images,
take each Conv2D output channel's mean difference (over the pixels where the float output is
active, since a fused ReLU hides the rest), and subtract it from that conv's bias. Corrections
of early layers change the error downstream, so this repeats a few times, re-converting each
time. Not exact: the float function moves by the corrections (small, measured).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import keras
import numpy as np

from edgepose.quant.graph import LayerGraph, rebuild
from edgepose.quant.stats import quantised_output

_WEIGHT_NAME = re.compile(r"/([^/;]+?)(?:_\d+)?/(?:convolution|depthwise)")


def tflite_conv_outputs(tflite_model: bytes) -> dict[str, int]:
    """Keras layer name -> index of its (dequantisable) output tensor, for every CONV_2D /
    DEPTHWISE_CONV_2D op of a TFLite model converted from Keras (layer name from the weights)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite_model)
    details = interp.get_tensor_details()
    out = {}
    for op in interp._get_ops_details():
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        m = _WEIGHT_NAME.search(details[op["inputs"][1]]["name"])
        if m:
            out[m.group(1)] = int(op["outputs"][0])
    return out


def conv_output_errors(
    reference: keras.Model, tflite_model: bytes, inputs: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-channel mean error (int8 - float ``reference``) of every biased Conv2D's quantised
    output (the TFLite model must have the reference's layer names),
    float32 [C] in activation units, averaged over ``inputs`` (float32 [N, H, W, 3]) and over
    the pixels where the float output is positive (all pixels for a conv without ReLU)."""
    from ai_edge_litert.interpreter import Interpreter

    graph = LayerGraph(reference)
    convs = [n for n in graph.order
             if type(graph.layers[n]) is keras.layers.Conv2D and graph.layers[n].use_bias]
    index = tflite_conv_outputs(tflite_model)
    convs = [c for c in convs if c in index]
    probe = keras.Model(reference.inputs, [graph.layers[quantised_output(graph, c)].output for c in convs])
    interp = Interpreter(model_content=tflite_model, experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    details = interp.get_tensor_details()
    sums = {c: 0.0 for c in convs}
    counts = {c: 0.0 for c in convs}
    for x in inputs:
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            xq = np.clip(np.round(x / scale + zero), -128, 127).astype(inp["dtype"])
        else:
            xq = x
        interp.set_tensor(inp["index"], xq[None])
        interp.invoke()
        floats = probe(x[None], training=False)
        for c, f in zip(convs, floats):
            f = np.asarray(f)[0]
            d = details[index[c]]
            scale, zero = d["quantization"]
            q = (interp.get_tensor(index[c])[0].astype(np.float32) - zero) * scale
            relu = quantised_output(graph, c) != c
            w = (f > 0).astype(np.float32) if relu else np.ones_like(f)
            sums[c] = sums[c] + ((q - f) * w).sum(axis=(0, 1))
            counts[c] = counts[c] + w.sum(axis=(0, 1))
    return {c: (sums[c] / np.maximum(counts[c], 1.0)).astype(np.float32) for c in convs}


def bias_correct(
    model: keras.Model,
    calibration: np.ndarray,
    convert: Callable[[keras.Model, np.ndarray], bytes],
    *,
    iterations: int = 2,
    images: int = 16,
    damping: float = 1.0,
) -> tuple[keras.Model, list[float]]:
    """Returns (a model with corrected Conv2D biases, mean |correction| per iteration).

    Measured on mobilenet_thin (docs/int8.md): it diverges (int8 AP 22.6 -> 0.0): the mean error
    after a fused ReLU is not the pre-activation shift, and correcting all layers from one
    measurement compounds downstream. Kept for experiments, not used by ``prepare``.

    Errors are always measured against the float ``model`` given (the reference), so later
    iterations remove what is left of the shift instead of chasing their own corrections.

    convert: makes the full-int8 TFLite of a Keras model from calibration inputs (as
        ``edgepose.bench.quant_harness.tflite_int8``); the corrections are measured on the first ``images``
        calibration inputs and the model is converted with all of them.
    damping: fraction of the measured shift removed per iteration (1 = all of it).
    """
    reference, sizes = model, []
    for _ in range(iterations):
        tfl = convert(model, calibration)
        errors = conv_output_errors(reference, tfl, calibration[:images])
        weights = {}
        for name, e in errors.items():
            kernel, bias = model.get_layer(name).get_weights()
            weights[name] = [kernel, bias - damping * e]
        sizes.append(float(np.mean([np.abs(e).mean() for e in errors.values()])))
        model = rebuild(model, weights=weights)
    return model, sizes


def int8_weight_error(kernel: np.ndarray, depthwise: bool) -> np.ndarray:
    """``Wq - W`` for symmetric per-output-channel int8 rounding (scale = max|w| / 127).

    kernel: Conv2D [kh, kw, Cin, O] (per O) or DepthwiseConv2D [kh, kw, C, 1] (per C)."""
    axes = (0, 1, 3) if depthwise else (0, 1, 2)
    scale = np.abs(kernel).max(axis=axes, keepdims=True) / 127.0
    scale = np.where(scale > 0, scale, 1.0)
    return np.clip(np.round(kernel / scale), -127, 127) * scale - kernel


def input_means(model: keras.Model, calibration: np.ndarray, batch_size: int = 4) -> dict[str, np.ndarray]:
    """Per-channel mean of every conv's input over ``calibration``: {conv name: float64 [Cin]}."""
    graph = LayerGraph(model)
    convs = [n for n in graph.order if isinstance(graph.layers[n], (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))]
    probe = keras.Model(model.inputs, [graph.layers[n].input for n in convs])
    sums = [0.0] * len(convs)
    for start in range(0, len(calibration), batch_size):
        for i, t in enumerate(probe(calibration[start:start + batch_size], training=False)):
            sums[i] = sums[i] + np.asarray(t, dtype=np.float64).mean(axis=(1, 2)).sum(axis=0)
    return {c: sums[i] / len(calibration) for i, c in enumerate(convs)}


def weight_bias_correct(
    model: keras.Model, calibration: np.ndarray, means: dict[str, np.ndarray] | None = None
) -> tuple[keras.Model, dict[str, np.ndarray]]:
    """Returns (a model whose Conv2D biases cancel the mean output shift of int8 weight
    rounding, the bias change per Conv2D layer in activation units).

    Each conv's shift ``sum_{kh,kw,c} dW[.., c, o] E[x_c]`` is subtracted from its bias; a
    depthwise conv's shift ``delta_c`` is subtracted through the 1x1 Conv2D consuming it
    (``W[0, 0] . delta``). Padding zeros at the borders are ignored (E[x] is an interior mean).
    """
    means = means if means is not None else input_means(model, calibration)
    graph = LayerGraph(model)
    weights = {n: [w.copy() for w in graph.layers[n].get_weights()] for n in graph.order if graph.layers[n].weights}
    changes: dict[str, np.ndarray] = {}
    for name in graph.order:
        layer = graph.layers[name]
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            continue
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        kernel = weights[name][0]
        dw = int8_weight_error(kernel, depthwise)
        if depthwise:
            delta = (dw[..., 0] * means[name]).sum(axis=(0, 1))  # [C]
            (consumer,) = graph.consumers[name] if len(graph.consumers[name]) == 1 else (None,)
            if consumer is None or type(graph.layers[consumer]) is not keras.layers.Conv2D \
                    or graph.layers[consumer].kernel_size != (1, 1) or not graph.layers[consumer].use_bias:
                continue
            target, shift = consumer, delta @ weights[consumer][0][0, 0]
        else:
            if not layer.use_bias:
                continue
            target, shift = name, np.einsum("hwco,c->o", dw, means[name])
        weights[target][1] = weights[target][1] - shift.astype(np.float32)
        changes[target] = changes.get(target, 0.0) - shift
    return rebuild(model, weights=weights), changes
