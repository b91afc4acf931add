"""The one small protocol every backend implements.

A backend takes network-ready input (float32 [N, H, W, 3], already resized and normalised as its
``config`` says) and returns float32 heatmaps [N, h, w, 19] and PAFs [N, h, w, 38]. Quantised
models quantise and dequantise inside the backend, so callers only ever see float32.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.config import ModelConfig


class Backend(abc.ABC):
    """A loaded pose network on one runtime and device."""

    #: short runtime name, e.g. "keras", "openvino", "litert", "onnxruntime"
    name: str = ""

    def __init__(self, path: Path | None, config: ModelConfig) -> None:
        self.path = path
        self.config = config

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(height, width) the network is fixed to, or None if it accepts any multiple of stride."""
        return self.config.input_size

    @property
    def device(self) -> str:
        return "CPU"

    @abc.abstractmethod
    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 [N, H, W, 3] network input -> (heatmaps [N, h, w, 19], pafs [N, h, w, 38])."""

    def _per_image(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Runs a model fixed to batch 1 over a batch [N, H, W, 3], one image at a time."""
        parts = [self.infer(batch[i : i + 1]) for i in range(batch.shape[0])]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def describe(self) -> dict[str, Any]:
        """What runs where, for logs, JSON and benchmark tables."""
        return {
            "backend": self.name,
            "device": self.device,
            "model": str(self.path) if self.path else None,
            "precision": self.config.precision,
            "input_size": list(self.input_size) if self.input_size else None,
            "stages": self.config.stages,
        }

    def check_input(self, batch: np.ndarray) -> np.ndarray:
        """Validates shape and dtype of a network input batch; returns it as float32."""
        batch = np.asarray(batch)
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"network input must be [N, H, W, 3], got {batch.shape}")
        fixed = self.input_size
        if fixed is not None and tuple(batch.shape[1:3]) != tuple(fixed):
            raise ValueError(
                f"this model is fixed to {fixed[0]}x{fixed[1]} inputs, got {batch.shape[1]}x{batch.shape[2]}"
            )
        stride = self.config.stride
        if batch.shape[1] % stride or batch.shape[2] % stride:
            raise ValueError(f"input height and width must be multiples of {stride}, got {batch.shape[1:3]}")
        return batch.astype(np.float32, copy=False)
