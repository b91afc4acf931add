"""OpenVINO IR (.xml + .bin): fp32, fp16 (weights compressed to FP16 -- the format of the Neural
Compute Stick / MYRIAD and the usual GPU/NPU format) and int8 (NNCF post-training quantization on
calibration photos). Config in the IR's ``rt_info`` as ``edgepose_config``.

Inputs and outputs stay float32 in every precision: ``image`` [1, H, W, 3] -> ``heatmaps``,
``pafs``. Note for running fp32 IRs: on CPUs with bf16 support OpenVINO computes in bf16 by
default; pass ``INFERENCE_PRECISION_HINT=f32`` to get fp32 results.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError, require
from edgepose.export.metadata import embed_openvino
from edgepose.io_utils import atomic_path

if TYPE_CHECKING:
    from edgepose.export.source import ExportSource


def convert(source: "ExportSource", precision: str = "fp32"):
    """An ``openvino.Model`` from the SavedModel of ``source.prepared(precision)``'s model."""
    ov = require("openvino", "openvino", "OpenVINO export")
    model = ov.convert_model(str(source.saved_model(precision)))
    names = [sorted(o.get_names()) for o in model.outputs]
    if names != [["heatmaps"], ["pafs"]]:
        raise EdgeposeError(f"OpenVINO named the outputs {names}, expected heatmaps then pafs")
    return model


def quantize(model, source: "ExportSource"):
    """NNCF post-training int8 quantization of an ``openvino.Model`` on the calibration photos."""
    nncf = require("nncf", "openvino", "OpenVINO int8 export")
    data = source.calibration_data()
    dataset = nncf.Dataset([x[None] for x in data])
    return nncf.quantize(model, dataset, preset=nncf.QuantizationPreset.MIXED, subset_size=len(data))


def save_ir(model, output: Path, compress_to_fp16: bool) -> list[Path]:
    """Writes ``output`` (.xml) and its .bin so that neither appears half-written: .bin first."""
    ov = require("openvino", "openvino", "OpenVINO export")
    bin_path = output.with_suffix(".bin")
    with atomic_path(output) as tmp_xml:
        tmp_bin = tmp_xml.with_suffix(".bin")
        try:
            ov.save_model(model, str(tmp_xml), compress_to_fp16=compress_to_fp16)
            os.replace(tmp_bin, bin_path)
        finally:
            if tmp_bin.exists():
                tmp_bin.unlink()
    return [output, bin_path]


def write(source: "ExportSource", precision: str, output: Path) -> tuple[ModelConfig, list[Path], dict[str, Any]]:
    """The ``openvino`` format. Returns (config, files, report)."""
    if output.suffix != ".xml":
        raise EdgeposeError(f"an OpenVINO IR is written as NAME.xml (+ NAME.bin), not {output.name}")
    quantization: dict[str, Any] = {}
    model = convert(source, precision)
    if precision == "int8":
        from edgepose.quant.fakequant import is_student

        qat = is_student(source.prepared(precision)[0])
        if not qat:
            model = quantize(model, source)
        fq = sum(1 for op in model.get_ordered_ops() if op.get_type_name() == "FakeQuantize")
        quantization = {
            "method": "quantisation-aware training: the trained ranges converted to FakeQuantize nodes, "
                      "weights as int8 constants x per-channel scales (no NNCF calibration); input and "
                      "outputs stay float32" if qat else
                      "nncf.quantize post-training (preset mixed: symmetric weights, asymmetric "
                      "activations; fast bias correction); input and outputs stay float32",
            "calibration": source.calibration_info(),
            "fake_quantize_ops": fq,
        }
    elif precision == "fp16":
        quantization = {"weights": "float16 (compressed)", "activations": "device default"}
    config = source.config_for(precision, quantization)
    embed_openvino(model, config)
    files = save_ir(model, output, compress_to_fp16=precision == "fp16")
    return config, files, {}
