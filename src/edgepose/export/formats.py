"""The one table of export formats: what each writes, the precisions it allows, what it needs.

    fmt = get_format("tflite"); fmt.check_precision("int8")
    default_output(config, fmt, "int8")  ->  runs/export/mobilenet_thin_368x432_s6_int8.tflite

A wrong name or an impossible pair (``edgetpu`` + ``fp32``) raises ``EdgeposeError`` listing the
valid choices, with a "did you mean" for typos.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError

PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
#: Where exports go when no --output is given (relative to the working directory, like runs/predict).
DEFAULT_EXPORT_DIR = Path("runs") / "export"


@dataclass(frozen=True)
class ExportFormat:
    """One row of the formats table.

    name: what users type (``--format NAME``).
    suffix: appended to the default file stem; ``"_saved_model"`` (no dot) names a folder.
    precisions: precisions this format can hold, the first one is the default.
    options: extra keyword options of ``export()`` that this format reads (besides size/stages/output).
    extra: the pip extra that installs what the exporter needs (None: the core install suffices).
    module: the module under ``edgepose.export`` that writes it (``write(source, precision, path)``).
    description: one line for ``--help`` and error messages.
    """

    name: str
    suffix: str
    precisions: tuple[str, ...]
    options: tuple[str, ...]
    extra: str | None
    module: str
    description: str

    @property
    def is_folder(self) -> bool:
        """True when the artifact is a folder (SavedModel), not a file."""
        return not self.suffix.startswith(".") and "." not in self.suffix

    def check_precision(self, precision: str) -> str:
        """Returns ``precision`` if this format allows it; EdgeposeError listing the valid ones if not."""
        if precision not in PRECISIONS:
            raise EdgeposeError(
                f"unknown precision {precision!r}{_did_you_mean(precision, PRECISIONS)}; "
                f"choose from {', '.join(PRECISIONS)}"
            )
        if precision not in self.precisions:
            others = [f.name for f in FORMATS.values() if precision in f.precisions]
            raise EdgeposeError(
                f"format {self.name!r} cannot be exported as {precision}: it allows "
                f"{', '.join(self.precisions)}. Formats that allow {precision}: {', '.join(others)}"
            )
        return precision


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("saved_model", "_saved_model", ("fp32",), (), None, "saved_model",
                     "TensorFlow SavedModel folder (TF Serving, tf.saved_model.load)"),
        ExportFormat("onnx", ".onnx", ("fp32",), ("opset",), "onnx", "onnx",
                     "ONNX (opset 17) for ONNX Runtime and friends"),
        ExportFormat("openvino", ".xml", ("fp32", "fp16", "int8"), ("calibration", "num_calibration"),
                     "openvino", "openvino",
                     "OpenVINO IR (.xml + .bin); fp16 = compressed weights (Neural Compute Stick), "
                     "int8 = NNCF post-training quantization"),
        ExportFormat("tflite", ".tflite", ("fp32", "fp16", "int8"), ("calibration", "num_calibration"),
                     None, "tflite",
                     "TensorFlow Lite / LiteRT; int8 = full-integer with int8 input and outputs"),
        ExportFormat("edgetpu", ".tflite", ("int8",), ("calibration", "num_calibration"), None, "edgetpu",
                     "full-int8 TFLite for the Coral Edge TPU plus an op mapping report "
                     "(and the compiled _edgetpu.tflite when edgetpu_compiler is installed)"),
    )
}


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word).lower(), list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def get_format(name: str) -> ExportFormat:
    """The table row for ``name`` (case-insensitive); EdgeposeError with the choices if unknown."""
    key = str(name).strip().lower().replace("-", "_")
    if key in FORMATS:
        return FORMATS[key]
    raise EdgeposeError(
        f"unknown export format {name!r}{_did_you_mean(key, FORMATS)}; "
        f"choose from {', '.join(FORMATS)}"
    )


def default_output(config: ModelConfig, fmt: ExportFormat, precision: str,
                   folder: Path = DEFAULT_EXPORT_DIR) -> Path:
    """``folder/<preset>_<H>x<W>_s<stages>_<precision><suffix>``, e.g. mobilenet_thin_368x432_s6_int8.tflite
    (``<preset>_dynamic_s<stages>...`` for a dynamic input size).

    The edgetpu format adds ``_tpu`` (``..._int8_tpu.tflite``, compiled to ``..._int8_tpu_edgetpu.tflite``)
    so that it does not overwrite the tflite int8 file, whose metadata differs."""
    size = "dynamic" if config.input_size is None else "{}x{}".format(*config.input_size)
    tag = "_tpu" if fmt.name == "edgetpu" else ""
    return Path(folder) / f"{config.preset}_{size}_s{config.stages}_{precision}{tag}{fmt.suffix}"


def formats_table() -> str:
    """The table as text, for ``--help``."""
    rows = [f"  {f.name:<12} {'/'.join(f.precisions):<15} {f.description}" for f in FORMATS.values()]
    return "\n".join([f"  {'format':<12} {'precisions':<15} what it writes", *rows])
