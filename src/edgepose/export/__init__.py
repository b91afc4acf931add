"""Export a Keras pose model to every edge target, with its config inside each artifact.

    from edgepose.export import export, read_config
    result = export(None, "tflite", "int8", size=(368, 432), calibration="photos/")
    result.path            # runs/export/mobilenet_thin_368x432_s6_int8.tflite (size given)
    read_config(result.path).quantization["tensors"]["heatmaps"]   # {"dtype": "int8", "scale": ..}

Formats and the precisions each allows are in ``edgepose.export.formats.FORMATS``. To write several
artifacts from one loaded model (sharing its SavedModel and calibration set), use ``ExportSource``:

    with ExportSource(None, size=(184, 216), calibration="photos/") as src:
        export(src, "openvino", "fp16"); export(src, "tflite", "int8")
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError, require
from edgepose.export.calibration import DEFAULT_NUM_CALIBRATION
from edgepose.export.formats import FORMATS, PRECISIONS, ExportFormat, _did_you_mean, default_output, get_format
from edgepose.artifact import read_config
from edgepose.export.calibration import calibration_files
from edgepose.export.source import (
    DEFAULT_SIZE,
    DYNAMIC_FORMATS,
    DYNAMIC_PRECISIONS,
    NEEDS_CALIBRATION,
    ExportSource,
    planned_config,
    resolve_model_path,
)

__all__ = [
    "FORMATS", "PRECISIONS", "ExportFormat", "ExportResult", "ExportSource", "export", "get_format", "read_config",
]

#: The Python package each extra must bring, checked before any work starts.
_EXTRA_MODULES = {"openvino": ("openvino", "nncf"), "onnx": ("onnx", "tf2onnx"), "litert": ("ai_edge_litert",)}


@dataclass
class ExportResult:
    """What ``export`` wrote.

    path: the main artifact (file, or folder for a SavedModel); files: everything written
    (e.g. the IR's .bin, the Edge TPU report); config: the ModelConfig embedded in the artifact;
    report: format-specific notes (quantization preparation, Edge TPU mapping, timings, sizes).
    """

    path: Path
    format: str
    precision: str
    config: ModelConfig
    files: list[Path] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        """Total size of the written files (a folder counts its contents)."""
        total = 0
        for f in self.files:
            total += sum(p.stat().st_size for p in f.rglob("*") if p.is_file()) if f.is_dir() else f.stat().st_size
        return total


def check_writable(output: Path) -> None:
    """EdgeposeError unless ``output``'s folder exists (or can be made) and accepts new files."""
    folder = output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise EdgeposeError(f"cannot write to {folder}: {e.strerror or e}") from None


def _check_options(fmt: ExportFormat, options: dict[str, Any]) -> None:
    unknown = [k for k in options if k not in fmt.options]
    if unknown:
        k = unknown[0]
        hint = _did_you_mean(k, fmt.options)
        allowed = ", ".join(fmt.options) or "none"
        raise EdgeposeError(f"format {fmt.name!r} has no option {k!r}{hint}; its options: {allowed}")


def export(
    model: str | os.PathLike | ExportSource | None,
    format: str,
    precision: str = "fp32",
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    stages: int | None = None,
    calibration: str | os.PathLike | None = None,
    output: str | os.PathLike | None = None,
    num_calibration: int = DEFAULT_NUM_CALIBRATION,
    prepare_int8: bool = True,
    dynamic: bool = False,
    qat_steps: int | None = None,
    qat_images: str | os.PathLike | None = None,
    **options: Any,
) -> ExportResult:
    """Writes ``model`` as ``format`` at ``precision``; returns the ``ExportResult``.

    model: an edgepose ``.keras`` file, None for the pretrained default, or an ``ExportSource``
        (then size/stages/calibration/num_calibration/prepare_int8 come from it).
    format: a name in ``FORMATS`` (saved_model, onnx, openvino, tflite, edgetpu).
    precision: fp32, fp16 or int8, as the format allows.
    size: fixed (height, width) input in pixels, multiples of 8. stages: keep the first K stages.
    dynamic: free height and width instead of ``size`` (saved_model, onnx, openvino, tflite; fp32
        and fp16): runtimes then size each image like the Keras path (432 tall, width following).
    calibration: folder of photos for int8 (letterboxed like at inference); num_calibration: at most
        this many of them. prepare_int8: apply ``edgepose.quant.prepare_for_int8`` when it exists.
    qat_steps: int8 by quantisation-aware training (``edgepose.quant.fakequant``): this many
        distillation steps of a fake-quant student whose trained ranges the converters use instead
        of calibrating (0: calibration ranges, untrained). qat_images: folder of photos to train on
        (default: the calibration folder). None: the post-training recipe.
    output: the artifact path; default ``runs/export/<preset>_<H>x<W>_s<K>_<precision><suffix>``.
    options: format options from the table (e.g. ``opset=17`` for onnx).

    The artifact appears whole or not at all. Raises EdgeposeError for a bad format/precision pair,
    an unknown option, a missing model or calibration folder, an unwritable output folder, and
    MissingDependencyError (naming the pip extra) when a needed package is not installed.
    """
    fmt = get_format(format)
    precision = fmt.check_precision(str(precision).lower())
    _check_options(fmt, {k: v for k, v in options.items() if k not in ("calibration", "num_calibration")})
    if calibration is not None and precision != "int8" and not isinstance(model, ExportSource):
        raise EdgeposeError(f"calibration photos are used by int8 exports only (this is {precision})")
    dynamic = model.dynamic if isinstance(model, ExportSource) else bool(dynamic)
    if dynamic and fmt.name not in DYNAMIC_FORMATS:
        raise EdgeposeError(f"{fmt.name} needs a fixed input size (the Edge TPU compiler refuses dynamic shapes); "
                            f"--dynamic works for {', '.join(DYNAMIC_FORMATS)}")
    if (qat_steps is not None or qat_images is not None) and precision != "int8" and not isinstance(model, ExportSource):
        raise EdgeposeError(f"quantisation-aware training (--qat-steps) makes int8 files (this is {precision})")
    if qat_images is not None and qat_steps is None:
        raise EdgeposeError("--qat-images is for quantisation-aware training: give --qat-steps N too")
    if dynamic and precision not in DYNAMIC_PRECISIONS:
        raise EdgeposeError(f"--dynamic exports {' and '.join(DYNAMIC_PRECISIONS)}; {precision} is calibrated "
                            "at one size for fixed-shape targets: give --size HxW instead")
    for module in _EXTRA_MODULES.get(fmt.extra or "", ()):
        require(module, fmt.extra, f"{fmt.name} export")

    own = not isinstance(model, ExportSource)
    if own:  # everything that can be checked without loading the network, first
        path = resolve_model_path(model)
        planned = planned_config(path, None if dynamic else size, stages)
        if precision == "int8":
            if calibration is None:
                raise EdgeposeError(NEEDS_CALIBRATION)
            calibration_files(calibration)
            if qat_images is not None:
                calibration_files(qat_images)
    else:
        planned = model.config
    out = Path(output) if output is not None else default_output(planned, fmt, precision)
    ending = "." + fmt.suffix.rsplit(".", 1)[-1]
    if fmt.is_folder and out.suffix:
        raise EdgeposeError(f"a {fmt.name} is a folder; give --output a folder name, not {out.name}")
    if not fmt.is_folder and out.suffix.lower() != ending:
        raise EdgeposeError(f"a {fmt.name} file must end in {ending}, not {out.name}")
    check_writable(out)

    source = ExportSource(path, size=size, stages=stages, calibration=calibration,
                          num_calibration=num_calibration, prepare_int8=prepare_int8, dynamic=dynamic,
                          qat_steps=qat_steps, qat_images=qat_images) if own else model
    try:
        if precision == "int8":
            source.calibration_data()  # fail early, before any conversion, if the photos are unusable
        writer = importlib.import_module(f"edgepose.export.{fmt.module}")
        t0 = time.perf_counter()
        config, files, report = writer.write(source, precision, out, **options)
        report = {**report, "seconds": round(time.perf_counter() - t0, 1)}
    finally:
        if own:
            source.close()
    result = ExportResult(out, fmt.name, precision, config, files, report)
    result.report["size_bytes"] = result.size_bytes
    return result
