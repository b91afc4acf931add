"""The Keras architecture, the presets and .keras save/load (no pretrained weights needed)."""

from __future__ import annotations

import zipfile

import keras
import numpy as np
import pytest

from edgepose.config import ModelConfig
from edgepose.models import PRESETS, build_model, get_preset, load_keras, read_config, save_keras
from edgepose.models.io import CONFIG_MEMBER
from conftest import COCO_IMAGES

EXPORTABLE = {"InputLayer", "Conv2D", "DepthwiseConv2D", "ReLU", "MaxPooling2D", "Concatenate", "Identity"}


def _weighted_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if layer.weights]


def _random_input(h: int, w: int, n: int = 1) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (n, h, w, 3)).astype(np.float32)


def test_outputs_are_two_separate_named_maps_at_stride_8():
    model = build_model(get_preset("mobilenet_thin"))
    assert model.input_shape == (None, None, None, 3)
    assert model.inputs[0].name == "image"
    assert model.output_names == ["heatmaps", "pafs"]
    heatmaps, pafs = model(_random_input(96, 128, n=2))
    assert heatmaps.shape == (2, 12, 16, 19) and pafs.shape == (2, 12, 16, 38)


def test_fixed_input_size_and_stage_cut():
    config = get_preset("mobilenet_thin").replace(stages=2, input_size=(64, 80))
    model = build_model(config)
    assert model.input_shape == (None, 64, 80, 3)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 8, 10, 19), (None, 8, 10, 38)]
    assert not any("Stage3" in layer.name for layer in model.layers)


def test_all_stages_model_shares_weight_layer_names():
    config = get_preset("mobilenet_thin").replace(stages=3)
    single, every = build_model(config), build_model(config, all_stages=True)
    assert every.output_names == [f"stage{k}_{m}" for k in (1, 2, 3) for m in ("heatmaps", "pafs")]
    assert sorted(_weighted_names(single)) == sorted(_weighted_names(every))
    assert single.count_params() == every.count_params()


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_use_only_exportable_layers(name):
    config = get_preset(name)
    assert config.preset == name and config.input_mean == 0 and config.input_scale == 1
    model = build_model(config)
    assert {type(layer).__name__ for layer in model.layers} <= EXPORTABLE
    heatmaps, pafs = model(_random_input(64, 64))
    assert heatmaps.shape == (1, 8, 8, 19) and pafs.shape == (1, 8, 8, 38)


def test_smaller_presets_are_smaller():
    full = build_model(get_preset("mobilenet_thin")).count_params()
    for name in PRESETS:
        if name != "mobilenet_thin":
            assert build_model(get_preset(name)).count_params() < full, name
    # A lightweight refinement stage is cheaper than a tf-pose one at the same width.
    two_dsconv = build_model(ModelConfig(stages=2)).count_params()
    two_light = build_model(ModelConfig(stages=2, refinement="lightweight")).count_params()
    assert two_light < two_dsconv


def test_unknown_preset_lists_names_and_suggests():
    with pytest.raises(ValueError, match="Did you mean 'mobilenet_thin'") as e:
        get_preset("mobilenet_thn")
    assert all(name in str(e.value) for name in PRESETS)


def test_bad_architecture_knobs():
    with pytest.raises(ValueError, match="refinement"):
        build_model(ModelConfig(refinement="transformer"))
    with pytest.raises(ValueError, match="stride"):
        build_model(ModelConfig(stride=4))


def test_save_load_round_trip_keeps_config_and_outputs(tmp_path):
    config = get_preset("thin_w050").replace(weights_sha256="0" * 64)
    model = build_model(config, all_stages=True)
    path = save_keras(model, config, tmp_path / "m.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]  # no temporary left behind
    x = _random_input(64, 96)
    expected = [o.numpy() for o in model(x)]

    loaded, loaded_config = load_keras(path)
    assert loaded_config == config and read_config(path) == config
    assert loaded.output_names == model.output_names
    for a, b in zip(loaded(x), expected):
        np.testing.assert_array_equal(a.numpy(), b)
    # Plain Keras still reads the file.
    assert keras.saving.load_model(path).output_names == model.output_names

    # Rebuilt at stage 2 with a fixed input size: the stage-2 maps, same weights.
    cut, cut_config = load_keras(path, stages=2, input_size=(64, 96), all_stages=False)
    assert cut_config == config.replace(stages=2, input_size=(64, 96))
    assert cut.input_shape == (None, 64, 96, 3) and cut.output_names == ["heatmaps", "pafs"]
    for a, b in zip(cut(x), expected[2:4]):
        np.testing.assert_array_equal(a.numpy(), b)


def test_bad_model_files_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no model file"):
        load_keras(tmp_path / "missing.keras")
    photo = sorted(COCO_IMAGES.glob("*.jpg"))[0]
    with pytest.raises(ValueError, match="not a .keras model file"):
        load_keras(photo)

    config = get_preset("thin_w050")
    model = build_model(config)
    plain = tmp_path / "plain.keras"
    model.save(plain)
    with pytest.raises(ValueError, match="not an edgepose model"):
        load_keras(plain)

    good = save_keras(model, config, tmp_path / "good.keras")
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.keras"):
        load_keras(truncated)

    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, b"{not json" if item.filename == CONFIG_MEMBER else data)
    with pytest.raises(ValueError, match="unreadable edgepose model config"):
        load_keras(broken)

    with pytest.raises(ValueError, match="has 3 stages"):
        load_keras(good, stages=4)
    with pytest.raises(ValueError, match=".keras"):
        save_keras(model, config, tmp_path / "model.h5")
