"""Export: the formats table, its errors, metadata errors and atomic writes (no big conversions)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError, MissingDependencyError, require
from edgepose.export import FORMATS, export, get_format, read_config
from edgepose.export.formats import default_output
from tests.conftest import CALIBRATION


def test_formats_table_rows_are_consistent():
    for name, fmt in FORMATS.items():
        assert fmt.name == name
        assert fmt.precisions and set(fmt.precisions) <= {"fp32", "fp16", "int8"}
        assert ("calibration" in fmt.options) == ("int8" in fmt.precisions)
    assert FORMATS["edgetpu"].precisions == ("int8",)
    assert FORMATS["saved_model"].is_folder and not FORMATS["tflite"].is_folder


def test_default_output_name():
    config = ModelConfig(input_size=(368, 432))
    path = default_output(config, get_format("tflite"), "int8")
    assert path == Path("runs/export/mobilenet_thin_368x432_s6_int8.tflite")
    assert default_output(config, get_format("saved_model"), "fp32").name == "mobilenet_thin_368x432_s6_fp32_saved_model"
    # edgetpu and tflite int8 files differ (target metadata) and must not overwrite each other
    assert default_output(config, get_format("edgetpu"), "int8").name == "mobilenet_thin_368x432_s6_int8_tpu.tflite"


def test_unknown_format_suggests_the_close_one():
    with pytest.raises(EdgeposeError, match=r"unknown export format 'tflit' \(did you mean 'tflite'\?\).*saved_model, onnx"):
        export(None, "tflit")


def test_impossible_pair_lists_valid_choices():
    with pytest.raises(EdgeposeError, match=r"'edgetpu' cannot be exported as fp32: it allows int8"):
        export(None, "edgetpu", "fp32")
    with pytest.raises(EdgeposeError, match=r"'onnx' cannot be exported as int8.*openvino, tflite, edgetpu"):
        export(None, "onnx", "int8")
    with pytest.raises(EdgeposeError, match=r"unknown precision 'fp61' \(did you mean 'fp16'\?\)"):
        export(None, "openvino", "fp61")


def test_unknown_option_is_named():
    with pytest.raises(EdgeposeError, match=r"format 'onnx' has no option 'opsett' \(did you mean 'opset'\?\)"):
        export(None, "onnx", opsett=13)


def test_missing_model_file(tmp_path):
    with pytest.raises(EdgeposeError, match="does not exist"):
        export(tmp_path / "nope.keras", "tflite", output=tmp_path / "x.tflite")
    assert not list(tmp_path.iterdir())


def test_missing_optional_package_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'edgepose\[openvino\]'") as err:
        require("edgepose_no_such_runtime_module", "openvino", "OpenVINO export")
    assert err.value.extra == "openvino"


def test_int8_needs_calibration(pretrained_path, tmp_path):
    with pytest.raises(EdgeposeError, match="int8 export needs calibration photos"):
        export(pretrained_path, "tflite", "int8", size=(64, 64), output=tmp_path / "m.tflite")
    with pytest.raises(EdgeposeError, match="calibration folder .* does not exist"):
        export(pretrained_path, "tflite", "int8", size=(64, 64), calibration=tmp_path / "none", output=tmp_path / "m.tflite")
    with pytest.raises(EdgeposeError, match="int8 exports only"):
        export(pretrained_path, "tflite", "fp32", calibration=CALIBRATION, output=tmp_path / "m.tflite")
    assert not list(tmp_path.iterdir())


def test_output_folder_not_writable(pretrained_path, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(EdgeposeError, match="cannot write to"):
        export(pretrained_path, "tflite", size=(64, 64), output=blocker / "m.tflite")
    with pytest.raises(EdgeposeError, match="cannot write to"):
        export(pretrained_path, "tflite", size=(64, 64), output="/proc/edgepose_export/m.tflite")


def test_wrong_suffix_for_format(pretrained_path, tmp_path):
    with pytest.raises(EdgeposeError, match=r"must end in \.xml"):
        export(pretrained_path, "openvino", size=(64, 64), output=tmp_path / "m.tflite")


def test_failed_export_leaves_no_partial_file(pretrained_path, tmp_path, monkeypatch):
    import edgepose.export.saved_model as sm
    import edgepose.export.tflite as tfl

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure after conversion")

    monkeypatch.setattr(tfl, "check_loads", broken)
    with pytest.raises(RuntimeError, match="injected"):
        export(pretrained_path, "tflite", size=(64, 64), stages=1, output=tmp_path / "m.tflite")
    assert not list(tmp_path.iterdir()), "a failed TFLite export left files behind"

    real = sm.embed_saved_model
    calls = []

    def fail_on_the_artifact(folder, config):
        calls.append(folder)
        if len(calls) > 1:  # the first call writes the shared source SavedModel; the second the artifact
            raise RuntimeError("injected failure inside the SavedModel folder")
        return real(folder, config)

    monkeypatch.setattr(sm, "embed_saved_model", fail_on_the_artifact)
    with pytest.raises(RuntimeError, match="injected"):
        export(pretrained_path, "saved_model", size=(64, 64), stages=1, output=tmp_path / "sm")
    assert not list(tmp_path.iterdir()), "a failed SavedModel export left a folder behind"


def test_read_config_errors(tmp_path):
    with pytest.raises(EdgeposeError, match="does not exist"):
        read_config(tmp_path / "missing.tflite")
    with pytest.raises(EdgeposeError, match="not a model file edgepose knows"):
        read_config(Path(__file__))
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(os.urandom(256))
    with pytest.raises(EdgeposeError, match="junk.tflite"):
        read_config(junk)


def test_read_config_of_foreign_artifacts(tmp_path):
    """Models written by other tools load but have no edgepose metadata: one clear error each."""
    import onnx
    import openvino as ov
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    onnx.save(helper.make_model(graph), tmp_path / "foreign.onnx")
    param = ov.opset13.parameter([1, 4], np.float32, name="x")
    ov.save_model(ov.Model([ov.opset13.relu(param)], [param], "foreign"), tmp_path / "foreign.xml")
    import tensorflow as tf

    fn = tf.function(lambda x: tf.nn.relu(x), input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    (tmp_path / "foreign.tflite").write_bytes(converter.convert())
    for name in ("foreign.onnx", "foreign.xml", "foreign.tflite"):
        with pytest.raises(EdgeposeError, match="has no edgepose metadata"):
            read_config(tmp_path / name)


def test_cli_reports_errors_without_traceback(capsys):
    from edgepose.cli import main

    assert main(["export", "--format", "edgetpu", "--precision", "fp16"]) == 2
    assert "allows int8" in capsys.readouterr().err
    assert main(["export", "--format", "tflite", "--size", "368x430"]) == 2
    assert "multiples of 8" in capsys.readouterr().err


def test_cli_fp16_export_says_what_was_prepared(pretrained_path, tmp_path, capsys):
    from edgepose.cli import main

    out = tmp_path / "m16.tflite"
    assert main(["export", "--format", "tflite", "--precision", "fp16", "--size", "96x112",
                 "--model", str(pretrained_path), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rescale_depthwise_for_float16" in printed and out.exists()
    assert read_config(out).quantization["prepare"]["exact"] is True
