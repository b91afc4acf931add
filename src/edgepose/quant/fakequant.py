"""Quantisation-aware training whose trained ranges reach the int8 converters.

A *QAT student* is the Keras pose network with int8 simulated exactly where the converters
quantise it, using TensorFlow's own fake-quant ops so that the converters read the ranges from
the graph instead of calibrating:

- weights: ``FakeQuantWithMinMaxVarsPerChannel`` (symmetric, narrow range [-127, 127], one
  range per output channel; for depthwise convs per channel), range = max |w| of the channel;
- activations: ``FakeQuantWithMinMaxVars`` (8 bits, asymmetric) with **trainable** min / max
  (``ActQuant`` layers), initialised from calibration ranges, on the model input (fixed 0..255),
  after every conv (after its ReLU when one follows) and after every concat. Max-pooling keeps
  its input's range, as in the converters.

Training (``train_qat``, from the ``prepare``d model) distils the fp32 teacher into the student with a loss that weighs pixels
by the teacher's evidence of people (``people_weights``). Gradients reach both the weights (the
rounding passes straight through) and the ranges (the fake-quant gradients).

Export: ``TFLiteConverter`` turns a SavedModel of the student into a full-integer model using the
ranges of the fake-quant ops (``optimizations=[DEFAULT]``, no representative dataset), and
``openvino.convert_model`` turns every fake-quant op into a ``FakeQuantize`` node carrying the same
ranges (no NNCF calibration). See ``edgepose.export.tflite`` / ``edgepose.export.openvino`` and
docs/int8.md. Nothing here imports runtime or export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from edgepose.quant.graph import CONVS, LayerGraph

#: Suffix of the ActQuant layer that follows a quantised layer output.
FQ_SUFFIX = "_fq"
#: Name of the input's ActQuant layer.
INPUT_FQ = "image_fq"
#: Version of the QAT recipe, recorded in the artifacts' metadata.
QAT_RECIPE_VERSION = 2  # 2: dead channels zeroed (int32 bias overflow in LiteRT)


def _fq_kernel(kernel, depthwise: bool):
    """Per-output-channel symmetric int8 fake quantisation of a conv kernel (range = max |w|)."""
    import tensorflow as tf

    if depthwise:  # [kh, kw, C, 1] -> channels last for the per-channel op
        kh, kw, c, m = kernel.shape
        k = tf.reshape(kernel, [kh, kw, 1, c * m])
    else:
        k = kernel
    bound = tf.stop_gradient(tf.maximum(tf.reduce_max(tf.abs(k), axis=[0, 1, 2]), 1e-8))
    q = tf.quantization.fake_quant_with_min_max_vars_per_channel(k, -bound, bound, num_bits=8, narrow_range=True)
    return tf.reshape(q, kernel.shape) if depthwise else q


@keras.saving.register_keras_serializable("edgepose")
class QATConv2D(keras.layers.Conv2D):
    """Conv2D whose kernel is fake-quantised per output channel (int8, symmetric)."""

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, _fq_kernel(kernel, False))


@keras.saving.register_keras_serializable("edgepose")
class QATDepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """DepthwiseConv2D whose kernel is fake-quantised per channel (int8, symmetric)."""

    def call(self, inputs):
        from keras import ops

        y = ops.depthwise_conv(inputs, _fq_kernel(self.kernel, True), strides=self.strides, padding=self.padding,
                               dilation_rate=self.dilation_rate, data_format=self.data_format)
        if self.use_bias:
            y = y + self.bias
        return y if self.activation is None else self.activation(y)


@keras.saving.register_keras_serializable("edgepose")
class ActQuant(keras.layers.Layer):
    """8-bit fake quantisation of an activation tensor with a trainable range [range_min, range_max].

    lo, hi: the initial range. train_min: whether the minimum trains (False for tensors that are
    never negative, e.g. after ReLU: it stays at ``lo`` = 0). trainable=False fixes both.
    """

    def __init__(self, lo: float = 0.0, hi: float = 6.0, train_min: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.lo, self.hi, self.train_min = float(lo), float(hi), bool(train_min)

    def build(self, input_shape):
        self.range_min = self.add_weight(name="range_min", shape=(), trainable=self.train_min,
                                         initializer=keras.initializers.Constant(self.lo))
        self.range_max = self.add_weight(name="range_max", shape=(),
                                         initializer=keras.initializers.Constant(self.hi))

    def call(self, x):
        import tensorflow as tf

        return tf.quantization.fake_quant_with_min_max_vars(x, self.range_min, self.range_max, num_bits=8,
                                                           narrow_range=False)

    def get_config(self):
        return {**super().get_config(), "lo": self.lo, "hi": self.hi, "train_min": self.train_min}

    def compute_output_shape(self, input_shape):
        return input_shape


def quantised_tensors(model: keras.Model) -> list[str]:
    """Names of the layers whose output an int8 runtime quantises with its own range: ReLUs,
    concats, and convs not followed by a lone ReLU (which the converters fuse into the conv).
    A tensor read only by concats has none of its own: TFLite's quantiser gives it the concat's
    range (checked on a converted file), so the student simulates exactly that."""
    graph = LayerGraph(model)
    names = []
    for n in graph.order:
        layer = graph.layers[n]
        cons = graph.consumers[n]
        if cons and all(isinstance(graph.layers[c], keras.layers.Concatenate) for c in cons):
            continue
        if isinstance(layer, (keras.layers.ReLU, keras.layers.Concatenate)):
            names.append(n)
        elif isinstance(layer, CONVS):
            cons = graph.consumers[n]
            if not (len(cons) == 1 and isinstance(graph.layers[cons[0]], keras.layers.ReLU)):
                names.append(n)
    return names


def calibration_ranges(model: keras.Model, calibration: np.ndarray, *, quantile: float | None = 0.9999,
                       batch_size: int = 2, rule: str = "minmax") -> dict[str, tuple[float, float]]:
    """Initial (min, max) of every quantised tensor (``quantised_tensors``) over ``calibration``
    (float32 [N, H, W, 3] network inputs): per image the ``quantile`` of the values at each end
    averaged over images; ``quantile`` None: the min and max over all of them, as the converters'
    calibration takes them. Always containing 0.

    rule "mse": with ``quantile`` None, the min / max range shrunk by the factor c (0.1..1) that
    minimises the quantisation error weighted by x^2 on a sample of each tensor's values (large
    values count most: unweighted MSE or percentiles clip too much here, docs/int8.md)."""
    if rule not in ("minmax", "mse"):
        raise ValueError(f"unknown range rule {rule!r}; choose minmax or mse")
    names = quantised_tensors(model)
    graph = LayerGraph(model)
    probe = keras.Model(model.inputs, [graph.layers[n].output for n in names])
    lows: dict[str, list[float]] = {n: [] for n in names}
    highs: dict[str, list[float]] = {n: [] for n in names}
    shrink = rule == "mse" and quantile is None
    rng = np.random.default_rng(0)
    samples: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for start in range(0, len(calibration), batch_size):
        outs = probe(calibration[start:start + batch_size], training=False)
        for n, t in zip(names, outs):
            t = np.asarray(t)
            if shrink:
                flat = t.reshape(-1)
                samples[n].append(rng.choice(flat, size=min(flat.size, 20000), replace=False))
            for one in t:
                v = one.reshape(-1)
                if quantile is None:
                    lo, hi = float(v.min()), float(v.max())
                else:
                    lo, hi = (float(x) for x in np.quantile(v, [1 - quantile, quantile]))
                lows[n].append(lo)
                highs[n].append(hi)
    if quantile is None:  # the converters' min / max calibration
        ranges = {n: (min(0.0, float(np.min(lows[n]))), max(1e-3, float(np.max(highs[n])))) for n in names}
        if shrink:
            ranges = {n: _shrunk(np.concatenate(samples[n]), *ranges[n]) for n in names}
        return ranges
    return {n: (min(0.0, float(np.mean(lows[n]))), max(1e-3, float(np.mean(highs[n])))) for n in names}


def _shrunk(v: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """(c * lo, c * hi) for the c in 0.1..1 with the least x^2-weighted 8-bit quantisation error of ``v``."""
    weight = v.astype(np.float64) ** 2
    best, best_err = 1.0, np.inf
    for c in np.linspace(0.1, 1.0, 37):
        step = c * (hi - lo) / 255.0
        q = np.clip(np.round((v - c * lo) / step), 0, 255) * step + c * lo
        err = float(np.sum(weight * (q - v) ** 2))
        if err < best_err:
            best, best_err = float(c), err
    return best * lo, max(1e-3, best * hi)


def _past_pooling(graph: LayerGraph, name: str) -> str:
    """The layer whose output feeds ``name``, past any max-pooling (which keeps its input's range)."""
    src = graph.inputs[name][0]
    while isinstance(graph.layers[src], keras.layers.MaxPooling2D):
        src = graph.inputs[src][0]
    return src


def _input_bound(graph: LayerGraph, name: str, ranges: dict[str, tuple[float, float]],
                 input_range: tuple[float, float]) -> float | None:
    """max |x| the quantised input of layer ``name`` can take (its producer's range, through
    max-pooling); None when unknown."""
    src = _past_pooling(graph, name)
    if src in ranges:
        return max(abs(v) for v in ranges[src])
    if isinstance(graph.layers[src], keras.layers.InputLayer):
        return max(abs(v) for v in input_range)
    return None


def dead_channels(model: keras.Model, ranges: dict[str, tuple[float, float]],
                  input_range: tuple[float, float] = (0.0, 255.0)) -> dict[str, np.ndarray]:
    """{conv layer name: output channels that are 0 for every input} among the convs followed by a
    plain ReLU: bias + max |x| * sum |w| < 0, with max |x| the range of the conv's quantised input
    (``ranges``, the fake quantisation clamps to it). The pretrained network has such channels
    (weights ~1e-8, bias -30 to -140); LiteRT cannot hold their bias: bias / (input scale x weight
    scale) is beyond int32, the converter saturates it and the integer sum wraps around, so the
    channel outputs up to 255 steps where it should output 0 (docs/int8.md)."""
    graph = LayerGraph(model)
    out = {}
    for name in graph.order:
        layer = graph.layers[name]
        cons = graph.consumers[name]
        if not isinstance(layer, CONVS) or not layer.use_bias or len(cons) != 1:
            continue
        relu = graph.layers[cons[0]]
        if not (isinstance(relu, keras.layers.ReLU) and relu.max_value is None and not relu.negative_slope
                and not relu.threshold):
            continue
        bound = _input_bound(graph, name, ranges, input_range)
        if bound is None:
            continue
        kernel, bias = (np.asarray(w) for w in layer.get_weights()[:2])
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kernel = kernel.reshape(*kernel.shape[:2], 1, -1)
        reach = bound * np.abs(kernel).sum(axis=(0, 1, 2))
        dead = np.nonzero(bias + reach < 0)[0]
        if dead.size:
            out[name] = dead
    return out


def build_student(model: keras.Model, ranges: dict[str, tuple[float, float]],
                  input_range: tuple[float, float] = (0.0, 255.0),
                  dead: dict[str, np.ndarray] | None = None) -> keras.Model:
    """The QAT student of ``model``: same layer names and weights, convs with fake-quantised
    kernels, and an ``ActQuant`` (named ``<layer>_fq``, trainable range initialised from
    ``ranges``) after every layer in ``ranges`` and on the input (fixed ``input_range``).
    Input shape as ``model``'s (use ``rebuild`` with free height/width for training on crops).
    The channels in ``dead`` ({conv name: channels}; None: ``dead_channels``, those always 0) get
    weights and bias exactly 0: the same outputs, and a bias LiteRT can hold (0 stays 0 in
    training: ReLU passes no gradient there); ``{}`` keeps them as they are (diagnostics only)."""
    graph = LayerGraph(model)
    if dead is None:
        dead = dead_channels(model, ranges, input_range)
    swap = {keras.layers.Conv2D: QATConv2D, keras.layers.DepthwiseConv2D: QATDepthwiseConv2D}
    tensors: dict[str, Any] = {}
    for name in graph.order:
        layer = graph.layers[name]
        if isinstance(layer, keras.layers.InputLayer):
            t = model.inputs[0]
            x = keras.Input(shape=t.shape[1:], dtype=t.dtype, name=name)
            inp = x
            fq = ActQuant(*input_range, train_min=False, trainable=False, name=INPUT_FQ)
            tensors[name] = fq(x)
            continue
        args = [tensors[s] for s in graph.inputs[name]]
        cls = swap.get(type(layer), type(layer))
        new = cls.from_config(layer.get_config())
        y = new(args if isinstance(layer, keras.layers.Concatenate) else args[0])
        if layer.get_weights():
            weights = [np.array(w) for w in layer.get_weights()]
            if name in dead:
                c = dead[name]
                if isinstance(layer, keras.layers.DepthwiseConv2D):
                    weights[0].reshape(*weights[0].shape[:2], -1)[..., c] = 0.0
                else:
                    weights[0][..., c] = 0.0
                weights[1][c] = 0.0
            new.set_weights(weights)
        if name in ranges:
            lo, hi = ranges[name]
            nonneg = isinstance(layer, keras.layers.ReLU) or lo >= 0
            y = ActQuant(0.0 if nonneg else lo, hi, train_min=not nonneg, name=name + FQ_SUFFIX)(y)
        tensors[name] = y
    outputs = [tensors[n] for n in graph.output_layers]
    return keras.Model(inp, outputs, name=model.name)


def snap_biases(model: keras.Model) -> int:
    """Rounds every conv bias of a student to the int32 grid LiteRT stores it on (step = input
    scale x weight scale of the channel: the nudged scale (max - min) / 255 of the ActQuant before
    the conv, max |w| / 127), in place; returns how many convs changed. Afterwards the student and the
    LiteRT file add the same bias: without it each conv's rounded bias moves ~1 % of its outputs by
    one step, which the next layers amplify (docs/int8.md)."""
    graph = LayerGraph(model)
    done = 0
    for name in graph.order:
        layer = graph.layers[name]
        if not isinstance(layer, CONVS) or not layer.use_bias:
            continue
        quant = graph.layers[_past_pooling(graph, name)]
        if not isinstance(quant, ActQuant):
            continue
        s_in = (float(quant.range_max.numpy()) - float(quant.range_min.numpy())) / 255.0
        kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights()[:2])
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kernel = kernel.reshape(*kernel.shape[:2], 1, -1)
        s_w = np.maximum(np.abs(kernel).max(axis=(0, 1, 2)), 1e-8) / 127.0
        step = s_in * s_w
        layer.bias.assign((np.round(bias / step) * step).astype(np.float32))
        done += 1
    return done


def is_student(model: keras.Model) -> bool:
    """True when ``model`` carries trained int8 ranges (``ActQuant`` layers)."""
    return any(isinstance(layer, ActQuant) for layer in model.layers)


def student_ranges(model: keras.Model) -> dict[str, tuple[float, float]]:
    """{layer name: (min, max)} of every ``ActQuant`` of a student (as trained)."""
    return {layer.name: (float(layer.range_min.numpy()), float(layer.range_max.numpy()))
            for layer in model.layers if isinstance(layer, ActQuant)}


def with_input_size(model: keras.Model, size: tuple[int, int] | None) -> keras.Model:
    """The same student (layers, weights, ranges) with input (height, width) ``size`` (None: free)."""
    shape = (None, None, 3) if size is None else (*size, 3)
    clone = keras.models.clone_model(model, input_tensors=keras.Input(shape=shape, name=model.inputs[0].name))
    clone.set_weights(model.get_weights())
    return clone


def people_weights(heatmaps, pafs, weight: float):
    """Per-pixel loss weight [N, h, w, 1]: 1 + ``weight`` * (max over the part heatmaps
    (background channel excluded) + max |PAF| component), clipped to [0, 1] each, so that pixels
    where the teacher sees people count up to 1 + 2 * weight times the background."""
    import tensorflow as tf

    parts = tf.clip_by_value(tf.reduce_max(heatmaps[..., :-1], axis=-1, keepdims=True), 0.0, 1.0)
    limbs = tf.clip_by_value(tf.reduce_max(tf.abs(pafs), axis=-1, keepdims=True), 0.0, 1.0)
    return 1.0 + weight * (parts + limbs)


def augment(image: np.ndarray, rng: np.random.Generator, crop: tuple[int, int]) -> np.ndarray:
    """One training sample [crop_h, crop_w, 3] from a network input [H, W, 3]: random scale
    (0.6-1.4, nearest), random crop (padded with 0 = the letterbox fill where the scaled image
    is smaller), random horizontal flip."""
    h, w = image.shape[:2]
    s = float(rng.uniform(0.6, 1.4))
    nh, nw = max(8, int(round(h * s))), max(8, int(round(w * s)))
    ys = np.minimum((np.arange(nh) / s).astype(int), h - 1)
    xs = np.minimum((np.arange(nw) / s).astype(int), w - 1)
    scaled = image[ys][:, xs]
    ch, cw = crop
    out = np.zeros((ch, cw, 3), np.float32)
    y0 = int(rng.integers(0, max(1, nh - ch + 1)))
    x0 = int(rng.integers(0, max(1, nw - cw + 1)))
    part = scaled[y0:y0 + ch, x0:x0 + cw]
    out[:part.shape[0], :part.shape[1]] = part
    if rng.integers(2):
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


@dataclass
class QATReport:
    """What ``train_qat`` did: steps, loss per logging interval, ranges before / after."""

    steps: int
    losses: list[float] = field(default_factory=list)
    recipe: dict[str, Any] = field(default_factory=dict)


def train_qat(
    model: keras.Model,
    calibration: np.ndarray,
    images: np.ndarray,
    *,
    steps: int = 200,
    batch_size: int = 4,
    crop: tuple[int, int] = (184, 216),
    learning_rate: float = 1e-5,
    range_learning_rate: float = 1e-3,
    people_weight: float = 4.0,
    quantile: float | None = None,
    range_rule: str = "minmax",
    zero_dead: bool = True,
    snap: bool = True,
    schedule: str = "constant",
    seed: int = 0,
    log=print,
) -> tuple[keras.Model, QATReport]:
    """Quantisation-aware distillation: returns (the trained QAT student at ``model``'s input size,
    the report).

    model: the fp32 network (also the teacher), e.g. after ``prepare`` (fold, equalise, GPTQ); the
        student has its input size.
    calibration: float32 [N, h, w, 3] network inputs for the initial ranges (any size, e.g.
        ``stat_crops`` of the calibration photos).
    images: float32 [M, H', W', 3] network inputs to train on (unlabelled; never evaluation photos),
        augmented by ``augment`` into ``crop`` (height, width; multiples of 8) samples.
    steps: optimiser steps (0: the student with calibration ranges, untrained).
    learning_rate: Adam for the weights; range_learning_rate: Adam for the ranges.
    people_weight: ``people_weights``'s weight (0: plain mean squared error).
    quantile: initial ranges (``calibration_ranges``); None (min / max, as the converters
        calibrate) measured 26.1 / 26.0 AP (TFLite / OpenVINO, evaluation part, 432x576, no training)
        against 22.5 / 22.7 with the 99.99th percentile.
    range_rule: "minmax" or "mse" (``calibration_ranges``'s rule; with ``quantile`` None).
    zero_dead: zero the always-0 channels (``dead_channels``; False only to diagnose what they
        do to the LiteRT file).
    snap: round the trained biases to LiteRT's int32 grid at the end (``snap_biases``).
    schedule: "constant" learning rates, or "cosine" decay of both to 0 over ``steps``.
    """
    import tensorflow as tf

    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', not {schedule!r}")
    size = tuple(model.inputs[0].shape[1:3])
    fixed = None if None in size else size
    free_teacher = with_input_size(model, None)
    ranges = calibration_ranges(free_teacher, calibration, quantile=quantile, rule=range_rule)
    dead = dead_channels(free_teacher, ranges) if zero_dead else {}
    free_student = build_student(free_teacher, ranges, dead=dead)
    if quantile:
        range_init = f"quantile {quantile}"
    else:
        range_init = "min/max" if range_rule == "minmax" else "min/max shrunk by x^2-weighted MSE"
    recipe = {"recipe": QAT_RECIPE_VERSION, "steps": int(steps), "batch_size": batch_size, "crop": list(crop),
              "learning_rate": learning_rate, "range_learning_rate": range_learning_rate,
              "people_weight": people_weight, "range_init": range_init,
              "range_init_samples": int(len(calibration)), "training_images": int(len(images)),
              "dead_channels_zeroed": int(sum(len(c) for c in dead.values())),
              "biases_on_int32_grid": bool(snap), "schedule": schedule, "seed": int(seed)}
    if steps <= 0:
        if snap:
            snap_biases(free_student)
        return with_input_size(free_student, fixed), QATReport(0, [], recipe)
    range_vars = [v for layer in free_student.layers if isinstance(layer, ActQuant) for v in layer.trainable_weights]
    range_ids = {id(v) for v in range_vars}
    weight_vars = [v for v in free_student.trainable_weights if id(v) not in range_ids]

    def rate(peak: float):
        return peak if schedule == "constant" else keras.optimizers.schedules.CosineDecay(peak, steps)

    opt_w = keras.optimizers.Adam(rate(learning_rate))
    opt_r = keras.optimizers.Adam(rate(range_learning_rate))

    def step(x):
        hm_t, paf_t = free_teacher(x, training=False)
        w = people_weights(hm_t, paf_t, people_weight)
        with tf.GradientTape() as tape:
            hm, paf = free_student(x, training=True)
            loss = (tf.reduce_mean(w * tf.square(hm - hm_t)) + tf.reduce_mean(w * tf.square(paf - paf_t))) \
                / tf.reduce_mean(w)
        grads = tape.gradient(loss, weight_vars + range_vars)
        opt_w.apply_gradients(zip(grads[:len(weight_vars)], weight_vars))
        opt_r.apply_gradients(zip(grads[len(weight_vars):], range_vars))
        return loss

    if steps >= 10:  # tracing costs about a minute: worth it for real runs only
        step = tf.function(step, reduce_retracing=True)
    rng = np.random.default_rng(seed)
    losses, window = [], []
    every = max(1, steps // 10)
    for i in range(steps):
        batch = np.stack([augment(images[j], rng, crop) for j in rng.integers(0, len(images), batch_size)])
        window.append(float(step(tf.constant(batch))))
        if (i + 1) % every == 0 or i + 1 == steps:
            losses.append(float(np.mean(window)))
            log(f"qat step {i + 1}/{steps}: loss {losses[-1]:.6f}")
            window = []
    if snap:
        snap_biases(free_student)
    return with_input_size(free_student, fixed), QATReport(steps, losses, recipe)


def stat_crops(inputs: np.ndarray, per_image: int = 2, seed: int = 0) -> np.ndarray:
    """``per_image`` random crops of half the height and width (multiples of 8) of each network
    input [N, H, W, 3]: statistics at the pixel scale of the full input for a quarter of the memory
    (the nets are fully convolutional)."""
    rng = np.random.default_rng(seed)
    h, w = inputs.shape[1:3]
    ch, cw = max(8, h // 16 * 8), max(8, w // 16 * 8)
    out = []
    for x in inputs:
        for _ in range(per_image):
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            out.append(x[y0:y0 + ch, x0:x0 + cw])
    return np.stack(out)
