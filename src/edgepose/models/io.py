"""Saving and loading Keras models with their ModelConfig inside the ``.keras`` file.

A ``.keras`` file is a zip archive; edgepose adds one member, ``edgepose_config.json``, that
Keras itself ignores (``keras.saving.load_model`` still loads the file as usual).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import keras

from edgepose.artifact import KERAS_CONFIG_MEMBER, read_keras_config
from edgepose.config import ModelConfig
from edgepose.io_utils import atomic_path

CONFIG_MEMBER = KERAS_CONFIG_MEMBER
_AS_SAVED: Any = object()  # "keep what the file says" marker for load_keras arguments


def save_keras(model: keras.Model, config: ModelConfig, path: str | os.PathLike) -> Path:
    """Writes ``model`` with ``config`` embedded to ``path`` (must end in ``.keras``), atomically."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"a Keras model file must end in .keras: {path}")
    with atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as zf:
            zf.writestr(CONFIG_MEMBER, config.to_json())
    return path


def read_config(path: str | os.PathLike) -> ModelConfig:
    """The ModelConfig stored in an edgepose ``.keras`` file, without loading the model.

    Raises ValueError for a missing, corrupt or non-edgepose file (``edgepose.artifact.read_keras_config``).
    """
    return read_keras_config(path)


def transfer_weights(src: keras.Model, dst: keras.Model, *, strict: bool = True) -> list[str]:
    """Copies weights from ``src`` into ``dst`` layer by layer, matched by layer name.

    strict: every weight-carrying layer of ``dst`` must exist in ``src`` with the same shapes
    (ValueError otherwise); when False, layers that are missing or differ in shape are skipped.
    Returns the names of the layers copied.
    """
    src_layers = {layer.name: layer for layer in src.layers}
    copied, problems = [], []
    for layer in dst.layers:
        if not layer.weights:
            continue
        other = src_layers.get(layer.name)
        if other is None:
            problems.append(f"{layer.name}: not in the source model")
            continue
        shapes = [tuple(w.shape) for w in layer.weights]
        other_shapes = [tuple(w.shape) for w in other.weights]
        if shapes != other_shapes:
            problems.append(f"{layer.name}: shapes {other_shapes} in the source, {shapes} here")
            continue
        layer.set_weights(other.get_weights())
        copied.append(layer.name)
    if strict and problems:
        raise ValueError("cannot transfer weights: " + "; ".join(problems))
    return copied


def _has_all_stages(model: keras.Model) -> bool:
    return any(name.startswith("stage") for name in model.output_names)


def _is_training_model(model: keras.Model) -> bool:
    """The trainer's model (image + loss masks in, masked stage outputs out), e.g. a checkpoint."""
    return len(model.inputs) > 1


def load_keras(
    path: str | os.PathLike,
    *,
    stages: int | None = None,
    input_size: tuple[int, int] | None = _AS_SAVED,
    all_stages: bool | None = None,
) -> tuple[keras.Model, ModelConfig]:
    """Loads an edgepose ``.keras`` file: returns (model, config).

    stages, input_size, all_stages: when given and different from the file, the network is
    rebuilt that way (``input_size=None`` for a free input size) and the weights are copied by
    layer name, e.g. ``load_keras(path, stages=3, input_size=(368, 432))`` from a 6-stage model.
    A training checkpoint (``edgepose train``'s ``checkpoints/*.keras``: extra mask inputs, masked
    outputs) loads as its inference network: the masks and the optimizer state are dropped.
    Raises ValueError for a missing, corrupt or non-edgepose file.
    """
    from edgepose.models.mobilenet_thin import build_model

    config = read_config(path)
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:
        raise ValueError(f"{path}: Keras could not load the model ({type(e).__name__}: {e})") from e

    training = _is_training_model(model)  # a training checkpoint: keep the network, drop the masks
    saved_all = _has_all_stages(model) and not training
    want = config.replace(
        stages=config.stages if stages is None else int(stages),
        input_size=config.input_size if input_size is _AS_SAVED else input_size,
    )
    want_all = saved_all if all_stages is None else bool(all_stages)
    if want == config and want_all == saved_all and not training:
        return model, config
    if want.stages > config.stages:
        raise ValueError(f"{path} has {config.stages} stages; cannot load it with {want.stages}")
    rebuilt = build_model(want, all_stages=want_all)
    try:
        transfer_weights(model, rebuilt)
    except ValueError as e:
        raise ValueError(f"{path}: the network in the file does not match its config ({e})") from None
    return rebuilt, want
