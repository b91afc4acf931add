"""Quantisation-aware fine-tuning by distillation: the fp32 model teaches its int8-simulated copy.

The student is the prepared model with int8 simulated the way the converters quantise it:
per-output-channel symmetric int8 weights (depthwise: per channel), per-tensor 8-bit
activations with fixed ranges from calibration (the quantised output of every conv, after its
fused ReLU, and every concat). Gradients pass the rounding straight through. The loss is the
mean squared difference between the student's heatmaps / PAFs and the fp32 teacher's on
unlabelled photos (no labels needed), with horizontal flips and small shifts.

After training, the weights go back into a plain Keras model of the same layers, which the
converters quantise as usual (representative dataset): its function is *not* the original's.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from edgepose.quant.graph import CONVS, LayerGraph, rebuild


def _fake_quant_weights(kernel, depthwise: bool, enabled: bool = True):
    import tensorflow as tf

    if not enabled:
        return kernel
    axes = [0, 1, 3] if depthwise else [0, 1, 2]
    scale = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=axes, keepdims=True), 1e-12) / 127.0
    q = tf.clip_by_value(tf.round(kernel / scale), -127.0, 127.0) * scale
    return kernel + tf.stop_gradient(q - kernel)


def _fake_quant_act(x, lo: float, hi: float):
    import tensorflow as tf

    return tf.quantization.fake_quant_with_min_max_args(x, min=lo, max=hi, num_bits=8)


class QConv2D(keras.layers.Conv2D):
    """Conv2D with int8-simulated weights (and output, when ``act_range`` is set)."""

    act_range: tuple[float, float] | None = None
    quantize_weights: bool = True

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, _fake_quant_weights(kernel, False, self.quantize_weights))

    def call(self, inputs):
        y = super().call(inputs)
        return y if self.act_range is None else _fake_quant_act(y, *self.act_range)


class QDepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """DepthwiseConv2D with int8-simulated weights and output."""

    act_range: tuple[float, float] | None = None
    quantize_weights: bool = True

    def call(self, inputs):
        from keras import ops

        y = ops.depthwise_conv(inputs, _fake_quant_weights(self.kernel, True, self.quantize_weights), strides=self.strides,
                               padding=self.padding, dilation_rate=self.dilation_rate,
                               data_format=self.data_format)
        if self.use_bias:
            y = y + self.bias
        return y if self.act_range is None else _fake_quant_act(y, *self.act_range)


class QReLU(keras.layers.ReLU):
    act_range: tuple[float, float] = (0.0, 6.0)

    def call(self, inputs):
        return _fake_quant_act(super().call(inputs), *self.act_range)


class QConcatenate(keras.layers.Concatenate):
    act_range: tuple[float, float] = (-1.0, 1.0)

    def call(self, inputs):
        return _fake_quant_act(super().call(inputs), *self.act_range)


def tensor_ranges(model: keras.Model, calibration: np.ndarray, batch_size: int = 4) -> dict[str, tuple[float, float]]:
    """(min, max) over calibration of every layer output an int8 runtime quantises (conv outputs
    not followed by a lone ReLU, ReLU outputs, concat outputs), by layer name; always
    containing 0 as the converters make it."""
    graph = LayerGraph(model)
    names = []
    for n in graph.order:
        layer = graph.layers[n]
        if isinstance(layer, (keras.layers.ReLU, keras.layers.Concatenate)):
            names.append(n)
        elif isinstance(layer, CONVS):
            cons = graph.consumers[n]
            if not (len(cons) == 1 and isinstance(graph.layers[cons[0]], keras.layers.ReLU)):
                names.append(n)
    probe = keras.Model(model.inputs, [graph.layers[n].output for n in names])
    lo = {n: 0.0 for n in names}
    hi = {n: 0.0 for n in names}
    for start in range(0, len(calibration), batch_size):
        for n, t in zip(names, probe(calibration[start:start + batch_size], training=False)):
            t = np.asarray(t)
            lo[n] = min(lo[n], float(t.min()))
            hi[n] = max(hi[n], float(t.max()))
    return {n: (lo[n], hi[n]) for n in names}


def fake_quant_model(
    model: keras.Model,
    ranges: dict[str, tuple[float, float]],
    *,
    weights: bool = True,
    activations: bool = True,
    only=None,
) -> keras.Model:
    """The int8-simulating copy of ``model`` (same layer names and weights).

    weights / activations: simulate int8 weights / activations (for sensitivity analysis).
    only: a predicate on layer names; layers for which it is False stay float.
    """
    graph = LayerGraph(model)
    swap = {keras.layers.Conv2D: QConv2D, keras.layers.DepthwiseConv2D: QDepthwiseConv2D,
            keras.layers.ReLU: QReLU, keras.layers.Concatenate: QConcatenate}
    new = {}
    for n in graph.order:
        cls = swap.get(type(graph.layers[n]))
        if cls is None:
            continue
        layer = cls.from_config(graph.layers[n].get_config())
        selected = only is None or only(n)
        layer.act_range = ranges.get(n) if activations and selected else None
        if cls in (QConv2D, QDepthwiseConv2D):
            layer.quantize_weights = weights and selected
        elif layer.act_range is None:
            continue
        new[n] = layer
    return rebuild(model, replace_layers=new)


def rebuild_free_size(model: keras.Model) -> keras.Model:
    """The same layers and weights with a free input height and width."""
    return rebuild(model, input_shape=(None, None, model.inputs[0].shape[-1]))


@dataclass
class DistillReport:
    """losses: mean training loss per epoch; steps: optimiser steps taken."""

    losses: list[float]
    steps: int


def _augment(x: np.ndarray, rng: np.random.Generator, crop: tuple[int, int] | None) -> np.ndarray:
    """A random horizontal flip and a random ``crop`` (height, width) of one input [H, W, 3]."""
    if rng.integers(2):
        x = x[:, ::-1]
    if crop is not None:
        y0 = int(rng.integers(0, x.shape[0] - crop[0] + 1))
        x0 = int(rng.integers(0, x.shape[1] - crop[1] + 1))
        x = x[y0:y0 + crop[0], x0:x0 + crop[1]]
    return np.ascontiguousarray(x)


def distill(
    student_model: keras.Model,
    teacher: keras.Model,
    calibration: np.ndarray,
    images: np.ndarray,
    *,
    epochs: int = 2,
    batch_size: int = 4,
    crop: tuple[int, int] | None = None,
    learning_rate: float = 2e-5,
    seed: int = 0,
    log=print,
) -> tuple[keras.Model, DistillReport]:
    """Fine-tunes ``student_model`` (prepared, same function as ``teacher``) so that its
    int8-simulated outputs match the fp32 ``teacher``'s on ``images`` (float32 [N, H, W, 3]
    network inputs, unlabelled, augmented with flips and, with ``crop`` (height, width, multiples
    of 8), random crops: the nets are fully convolutional, and teacher and student see the same
    crop, so training on crops is ~4x cheaper than on whole 368x432 inputs).

    Activation ranges are fixed from ``calibration`` before training. Returns (a plain Keras
    model with the fine-tuned weights, the report).
    """
    import tensorflow as tf

    fixed_model = student_model
    ranges = tensor_ranges(student_model, calibration)
    student_model = rebuild_free_size(student_model)
    teacher = rebuild_free_size(teacher)
    student = fake_quant_model(student_model, ranges)
    opt = keras.optimizers.Adam(learning_rate)
    rng = np.random.default_rng(seed)
    variables = student.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(x, hm_t, paf_t):
        with tf.GradientTape() as tape:
            hm, paf = student(x, training=True)
            loss = tf.reduce_mean(tf.square(hm - hm_t)) + tf.reduce_mean(tf.square(paf - paf_t))
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        return loss

    teacher_fn = tf.function(lambda x: teacher(x, training=False))
    losses, steps = [], 0
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        total = []
        for start in range(0, len(order), batch_size):
            batch = np.stack([_augment(images[i], rng, crop) for i in order[start:start + batch_size]])
            hm_t, paf_t = teacher_fn(batch)
            total.append(float(step(batch, hm_t, paf_t)))
            steps += 1
        losses.append(float(np.mean(total)))
        log(f"distill epoch {epoch + 1}/{epochs}: loss {losses[-1]:.6f}")
    weights = {layer.name: layer.get_weights() for layer in student.layers if layer.weights}
    return rebuild(fixed_model, weights=weights), DistillReport(losses, steps)
