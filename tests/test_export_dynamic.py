"""``export --dynamic``: files with a free input size, run by every CPU backend at any size.

One ``ExportSource(dynamic=True)`` of the pretrained model cut to 1 stage (the conversions are what
is tested, and 1 stage keeps them quick) writes SavedModel, ONNX, OpenVINO and TFLite fp32 files.
Each runs through its own backend at two different sizes and must give the Keras model's maps at
those sizes, and ``edgepose.load(file)`` must size a photo exactly as the Keras path does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from conftest import COCO_IMAGES
from edgepose.errors import EdgeposeError

STAGES = 1
#: (format, backend, runtime module)
DYNAMIC = [
    ("saved_model", "tensorflow", "tensorflow"),
    ("onnx", "onnxruntime", "onnxruntime"),
    ("openvino", "openvino", "openvino"),
    ("tflite", "litert", "ai_edge_litert"),
]
#: Two input sizes of different aspect ratios (multiples of 8), run one after the other.
SIZES = ((184, 248), (256, 176))
#: Same bound as the fixed-size fp32 files (tests/test_runtime.py); measured max |diff| < 1e-4 here.
FP32_MAP_ATOL = 2e-3
PHOTO = COCO_IMAGES / "000000030752.jpg"


@pytest.fixture(scope="module")
def dynamic_files(pretrained_path, tmp_path_factory):
    from edgepose.export import ExportSource, export
    from edgepose.export.formats import get_format

    folder = tmp_path_factory.mktemp("dynamic")
    out = {}
    with ExportSource(pretrained_path, stages=STAGES, dynamic=True) as source:
        for fmt, _, module in DYNAMIC:
            if importlib.util.find_spec(module) is None:
                continue
            spec = get_format(fmt)
            out[fmt] = export(source, fmt, "fp32", output=folder / f"pose{spec.suffix}").path
    return out


@pytest.fixture(scope="module")
def keras_maps(pretrained_path):
    """The Keras model (free size, 1 stage) on the photo letterboxed to each of ``SIZES``."""
    from edgepose.image_io import read_image
    from edgepose.models import load_keras
    from edgepose.preprocess import letterbox

    model, config = load_keras(pretrained_path, stages=STAGES, input_size=None)
    image = read_image(PHOTO)
    inputs = [letterbox(image, size, config)[0][None] for size in SIZES]
    return inputs, [tuple(np.asarray(t) for t in model(x, training=False)) for x in inputs]


@pytest.mark.parametrize("fmt,backend,module", DYNAMIC, ids=[d[0] for d in DYNAMIC])
def test_dynamic_file_runs_at_any_size_like_keras(dynamic_files, keras_maps, fmt, backend, module):
    from edgepose.artifact import read_config
    from edgepose.runtime import open_backend

    if fmt not in dynamic_files:
        pytest.skip(f"{module} is not installed")
    path = dynamic_files[fmt]
    assert read_config(path).input_size is None
    be = open_backend(path)
    assert be.name == backend and be.input_size is None
    inputs, expected = keras_maps
    for x, (hm_ref, paf_ref) in zip(inputs, expected):
        hm, paf = be.infer(x)
        assert hm.shape == hm_ref.shape and paf.shape == paf_ref.shape
        assert np.abs(hm - hm_ref).max() <= FP32_MAP_ATOL
        assert np.abs(paf - paf_ref).max() <= FP32_MAP_ATOL


def test_dynamic_file_sizes_photos_like_the_keras_path(dynamic_files, pretrained_path):
    """The estimator on a dynamic file runs each photo at the Keras path's size and finds its people."""
    import edgepose

    if "openvino" not in dynamic_files:
        pytest.skip("openvino is not installed")
    keras = edgepose.load(pretrained_path, stages=STAGES).predict(PHOTO)
    dyn = edgepose.load(dynamic_files["openvino"]).predict(PHOTO)
    assert dyn.input_size == keras.input_size
    assert dyn.input_size[0] == edgepose.estimator.DEFAULT_HEIGHT
    assert len(dyn.poses) == len(keras.poses) >= 1


@pytest.mark.parametrize("fmt,precision", [("tflite", "int8"), ("openvino", "int8"), ("edgetpu", "int8")])
def test_dynamic_refuses_fixed_size_targets(pretrained_path, tmp_path, fmt, precision):
    from edgepose.export import export

    with pytest.raises(EdgeposeError, match="fixed"):
        export(pretrained_path, fmt, precision, dynamic=True, calibration=tmp_path, output=None)


def test_cli_dynamic_and_size_exclude_each_other(capsys):
    from edgepose.cli import main

    with pytest.raises(SystemExit) as e:
        main(["export", "--format", "onnx", "--dynamic", "--size", "368x432"])
    assert e.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_default_output_name_of_a_dynamic_file():
    from edgepose.config import ModelConfig
    from edgepose.export.formats import default_output, get_format

    assert default_output(ModelConfig(), get_format("openvino"), "fp32").name == "mobilenet_thin_dynamic_s6_fp32.xml"
