"""A small view of a Keras functional model as a graph of layers, and a rebuild that edits it.

The quantisation steps need three things from a model: who feeds whom (by layer name), which
conv output channels arrive at which conv input channels (through ReLU, max-pool and concat,
which all commute with a positive per-channel scale), and a way to rebuild the model with
some layers removed and some weights replaced, without touching the original.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

#: Layers a positive per-channel scale passes through unchanged: f(x / s) = f(x) / s.
PASSTHROUGH = (keras.layers.ReLU, keras.layers.MaxPooling2D, keras.layers.Concatenate)
CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


@dataclass(frozen=True)
class Segment:
    """``channels`` consecutive input channels of a conv that come from conv ``producer``
    (all of its output channels, in order)."""

    producer: str
    channels: int


class LayerGraph:
    """Producers and consumers of every layer of a single-use functional model, by name."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.layers: dict[str, keras.layers.Layer] = {op.name: op for op in model.operations}
        self.order: list[str] = [op.name for op in model.operations]
        self.inputs: dict[str, list[str]] = {}
        self.consumers: dict[str, list[str]] = {name: [] for name in self.order}
        for name, layer in self.layers.items():
            nodes = layer._inbound_nodes
            if len(nodes) != 1:
                raise ValueError(f"layer {name} is used {len(nodes)} times; only single-use layers are supported")
            srcs = [t._keras_history.operation.name for t in nodes[0].input_tensors]
            self.inputs[name] = srcs
            for s in srcs:
                self.consumers[s].append(name)
        self.output_layers = [t._keras_history.operation.name for t in model.outputs]

    def kind(self, name: str) -> type:
        return type(self.layers[name])

    def segments(self, name: str) -> list[Segment] | None:
        """Input channels of layer ``name`` as segments of conv outputs, through passthrough
        layers; None when some channels come from the model input (they cannot be scaled)."""
        if len(self.inputs[name]) != 1:
            raise ValueError(f"{name} has {len(self.inputs[name])} inputs")
        return self._segments_of(self.inputs[name][0])

    def _segments_of(self, name: str) -> list[Segment] | None:
        layer = self.layers[name]
        if isinstance(layer, CONVS):
            return [Segment(name, int(layer.output.shape[-1]))]
        if isinstance(layer, PASSTHROUGH):
            out: list[Segment] = []
            for src in self.inputs[name]:
                seg = self._segments_of(src)
                if seg is None:
                    return None
                out.extend(seg)
            return out
        return None

    def reaches_output(self, name: str) -> bool:
        """True when the output of ``name`` reaches a model output through passthrough or
        identity layers (its scale is then visible and must stay 1)."""
        if name in self.output_layers:
            return True
        for c in self.consumers[name]:
            layer = self.layers[c]
            if isinstance(layer, CONVS):
                continue
            if not isinstance(layer, PASSTHROUGH) or self.reaches_output(c):
                return True
        return False

    def conv_consumers(self, name: str) -> list[str]:
        """Convs that read the output of ``name`` (through passthrough layers)."""
        out = []
        for c in self.consumers[name]:
            if isinstance(self.layers[c], CONVS):
                out.append(c)
            elif isinstance(self.layers[c], PASSTHROUGH):
                out.extend(self.conv_consumers(c))
        return sorted(set(out), key=self.order.index)


def depthwise_conv_pairs(graph: LayerGraph) -> list[tuple[str, str]]:
    """(depthwise, conv) name pairs with nothing in between: a linear depthwise conv (multiplier
    1, not a model output) whose only consumer is a Conv2D fed by it alone. A per-channel scale
    can move from the depthwise output channels to the conv's input channels without changing
    the function."""
    pairs = []
    for name in graph.order:
        layer = graph.layers[name]
        if not isinstance(layer, keras.layers.DepthwiseConv2D):
            continue
        cfg = layer.get_config()
        if cfg.get("depth_multiplier", 1) != 1 or cfg.get("activation") not in (None, "linear"):
            continue
        consumers = graph.consumers[name]
        if len(consumers) != 1 or name in graph.output_layers:
            continue
        (nxt,) = consumers
        if type(graph.layers[nxt]) is keras.layers.Conv2D and graph.inputs[nxt] == [name]:
            pairs.append((name, nxt))
    return pairs


def rebuild(
    model: keras.Model,
    *,
    remove: set[str] | frozenset[str] = frozenset(),
    weights: dict[str, list[np.ndarray]] | None = None,
    replace_layers: dict[str, keras.layers.Layer] | None = None,
    input_shape: tuple | None = None,
) -> keras.Model:
    """A new model with fresh layers (the original is untouched).

    remove: names of single-input layers to drop (their consumers read their input instead).
    weights: new weights by layer name (as ``layer.get_weights()``); other layers keep theirs.
    replace_layers: new (unbuilt) layer objects to use instead of the named ones.
    input_shape: a new input shape without the batch axis, e.g. (None, None, 3).
    Input and output names and order stay the same (and shapes, unless ``input_shape``).
    """
    weights = weights or {}
    replace_layers = replace_layers or {}
    graph = LayerGraph(model)
    tensors: dict[str, object] = {}
    new_layers: dict[str, keras.layers.Layer] = {}
    for name in graph.order:
        layer = graph.layers[name]
        if isinstance(layer, keras.layers.InputLayer):
            t = model.inputs[[i._keras_history.operation.name for i in model.inputs].index(name)]
            shape = t.shape[1:] if input_shape is None else input_shape
            tensors[name] = keras.Input(shape=shape, dtype=t.dtype, name=name)
            continue
        args = [tensors[s] for s in graph.inputs[name]]
        if name in remove:
            if len(args) != 1:
                raise ValueError(f"cannot remove {name}: it has {len(args)} inputs")
            tensors[name] = args[0]
            continue
        new = replace_layers.get(name) or layer.__class__.from_config(layer.get_config())
        x = args if isinstance(layer, keras.layers.Concatenate) else args[0]
        tensors[name] = new(x)
        new_layers[name] = new
        w = weights.get(name, layer.get_weights())
        if w:
            new.set_weights(w)
    outputs = [tensors[n] for n in graph.output_layers]
    inputs = [tensors[i._keras_history.operation.name] for i in model.inputs]
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=model.name)
