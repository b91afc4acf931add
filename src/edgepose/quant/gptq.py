"""Error-compensating int8 rounding of 1x1 conv weights (GPTQ-style), on calibration inputs.

Per-layer sensitivity (docs/int8.md) shows that after equalisation most of the remaining int8
error of mobilenet_thin comes from *rounding the weights* of the refinement stages' 1x1 convs,
not from activations. Rounding each weight to its nearest grid point ignores how errors add up
across input channels. Here, for a 1x1 conv with inputs ``X`` [P, Cin] (calibration pixels),
the input channels are rounded one at a time and the rounding error of each is compensated by
updating the not-yet-rounded weights of the same output channel, minimising ``||X (Wq - W)||``
with the inverse of ``H = X^T X`` (Frantar et al., GPTQ / optimal brain quantisation).

The result lies exactly on the symmetric per-output-channel int8 grid the converters use
(scale = max|w| / 127, the largest weight of each output channel on +-127), so TFLiteConverter
and NNCF reproduce these integers instead of rounding again. The float function changes
slightly (by design: towards what int8 can represent).
"""

from __future__ import annotations

import keras
import numpy as np

from edgepose.quant.graph import rebuild


def pointwise_layers(model: keras.Model, min_inputs: int = 8) -> list[str]:
    """Names of the 1x1, stride-1 Conv2D layers with at least ``min_inputs`` input channels."""
    out = []
    for layer in model.layers:
        if type(layer) is keras.layers.Conv2D and tuple(layer.kernel_size) == (1, 1) \
                and tuple(layer.strides) == (1, 1) and layer.kernel.shape[2] >= min_inputs:
            out.append(layer.name)
    return out


def input_hessians(model: keras.Model, layers: list[str], calibration: np.ndarray, batch_size: int = 4) -> dict[str, np.ndarray]:
    """``X^T X / P`` (float64 [Cin, Cin]) of each layer's input over every calibration pixel."""
    probe = keras.Model(model.inputs, [model.get_layer(n).input for n in layers])
    hs = {n: 0.0 for n in layers}
    count = 0
    for start in range(0, len(calibration), batch_size):
        outs = probe(calibration[start:start + batch_size], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for n, t in zip(layers, outs):
            x = np.asarray(t, dtype=np.float64).reshape(-1, t.shape[-1])
            hs[n] = hs[n] + x.T @ x
        count += int(np.prod(outs[0].shape[:3]))
    return {n: h / count for n, h in hs.items()}


def gptq_round(kernel: np.ndarray, hessian: np.ndarray, *, damp: float = 0.01) -> np.ndarray:
    """Rounds a 1x1 kernel [1, 1, Cin, O] to the per-output-channel int8 grid with error
    compensation; returns the rounded kernel (float32, same shape, on the grid).

    hessian: ``X^T X / P`` [Cin, Cin] of the layer's inputs. damp: fraction of the mean
    diagonal added to the diagonal (numerical stability; dead input channels).
    """
    w = kernel[0, 0].T.astype(np.float64)  # [O, Cin]
    scale = np.abs(w).max(axis=1, keepdims=True) / 127.0
    scale = np.where(scale > 0, scale, 1.0)
    h = hessian.copy()
    dead = np.diag(h) <= 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h[np.diag_indices_from(h)] += damp * np.mean(np.diag(h))
    order = np.argsort(-np.diag(h))  # most active inputs first
    w, h = w[:, order], h[np.ix_(order, order)]
    hinv = np.linalg.cholesky(np.linalg.inv(h)).T  # upper triangular
    q = np.zeros_like(w)
    for i in range(w.shape[1]):
        qi = np.clip(np.round(w[:, i] / scale[:, 0]), -127, 127) * scale[:, 0]
        err = (w[:, i] - qi) / hinv[i, i]
        w[:, i + 1:] -= np.outer(err, hinv[i, i + 1:])
        q[:, i] = qi
    q = q[:, np.argsort(order)]
    # Keep each output channel's largest weight on +-127 steps, so that the converter's
    # scale (max|w| / 127) is the one used here and the integers survive conversion.
    steps = np.round(q / scale).astype(np.int64)
    for o in np.nonzero(np.abs(steps).max(axis=1) < 127)[0]:
        j = int(np.argmax(np.abs(kernel[0, 0, :, o])))
        steps[o, j] = 127 if kernel[0, 0, j, o] >= 0 else -127
    q = steps * scale
    return q.T[None, None].astype(np.float32)


def gptq(model: keras.Model, calibration: np.ndarray, layers: list[str] | None = None) -> tuple[keras.Model, dict[str, float]]:
    """Returns (a model whose 1x1 Conv2D weights are GPTQ-rounded to int8 grids, the relative
    output error ``||X dW|| / ||X W||`` per layer: nearest rounding vs GPTQ as a ratio < 1).

    Hessians are taken from the float model's inputs on ``calibration`` in one pass.
    """
    layers = pointwise_layers(model) if layers is None else layers
    hessians = input_hessians(model, layers, calibration)
    weights, gains = {}, {}
    for n in layers:
        kernel, *rest = model.get_layer(n).get_weights()
        q = gptq_round(kernel, hessians[n])
        scale = np.abs(kernel).max(axis=(0, 1, 2), keepdims=True) / 127.0
        nearest = np.clip(np.round(kernel / np.where(scale > 0, scale, 1)), -127, 127) * scale

        def out_err(k):
            d = (k - kernel)[0, 0]
            return float(np.einsum("co,cd,do->", d, hessians[n], d))

        gains[n] = float(np.sqrt(out_err(q) / max(out_err(nearest), 1e-30)))
        weights[n] = [q, *rest]
    return rebuild(model, weights=weights), gains
