"""Keras 3 / TensorFlow backend for ``.keras`` files (any input size that is a multiple of 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.config import ModelConfig
from edgepose.runtime.base import Backend


class KerasBackend(Backend):
    name = "keras"

    def __init__(self, model, config: ModelConfig, path: Path | None = None) -> None:
        import tensorflow as tf

        super().__init__(path, config)
        self.model = model
        # One traced graph for every input size: a convolutional net needs no retracing.
        spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        self._fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        # Trace now, on a tiny input, so the first real frame is not charged for it.
        fixed = config.input_size or (8 * config.stride, 8 * config.stride)
        self._fn(tf.zeros((1, *fixed, 3), tf.float32))

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        stages: int | None = None,
        input_size: tuple[int, int] | None = None,
        device: str = "CPU",
    ) -> "KerasBackend":
        """Opens a ``.keras`` file; ``stages`` / ``input_size`` rebuild it cut or fixed-size."""
        from edgepose.errors import EdgeposeError
        from edgepose.models import load_keras

        if device.upper() != "CPU":
            raise EdgeposeError(f"the keras backend runs on CPU here; device {device!r} is not available")

        kwargs = {}
        if stages is not None:
            kwargs["stages"] = stages
        if input_size is not None:
            kwargs["input_size"] = input_size
        try:
            model, config = load_keras(path, **kwargs)
        except ValueError as e:  # the loader's messages name the file and the problem
            raise EdgeposeError(str(e)) from None
        return cls(model, config, path)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = self.check_input(batch)
        heatmaps, pafs = self._fn(batch)
        return heatmaps.numpy(), pafs.numpy()
