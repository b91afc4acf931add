"""Reading the ModelConfig inside any edgepose artifact, without a runtime or the exporters.

Where the config (JSON, ``ModelConfig.to_json``) lives in each format:

=============  =================================================================
.keras         zip member ``edgepose_config.json`` (``edgepose.models.save_keras``)
SavedModel     ``assets/edgepose_config.json`` inside the folder
.onnx          ``metadata_props`` entry ``edgepose_config``
.xml (OpenVINO) ``<rt_info><edgepose_config value="..."/>`` in the IR
.tflite        flatbuffer ``Model.metadata`` entry ``edgepose_config`` -> a buffer of UTF-8 JSON
=============  =================================================================

``read_config(path)`` needs no runtime: the ``.keras`` zip is read with ``zipfile``, the IR as XML,
the TFLite flatbuffer with the schema module bundled in ai_edge_litert (or tensorflow), ONNX with
``edgepose.onnx_file`` (a wire-format reader, no onnx package). It sits below both the runtime backends and the exporters (which write the
metadata, ``edgepose.export.metadata``), so neither imports the other.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from edgepose.config import METADATA_KEY, ModelConfig
from edgepose.errors import EdgeposeError

SAVED_MODEL_CONFIG = Path("assets") / f"{METADATA_KEY}.json"
#: The zip member of a ``.keras`` file that holds the config (Keras itself ignores it).
KERAS_CONFIG_MEMBER = "edgepose_config.json"


def tflite_schema():
    """The generated flatbuffer schema module of TFLite (from ai_edge_litert, else tensorflow)."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated as schema
        except ImportError:
            from edgepose.errors import MissingDependencyError

            raise MissingDependencyError("ai_edge_litert", "litert", "reading .tflite files") from None
    return schema


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").exists()


def artifact_kind(path: str | os.PathLike) -> str:
    """"keras", "saved_model", "onnx", "openvino" or "tflite", from the path; EdgeposeError otherwise."""
    path = Path(path)
    if is_saved_model(path):
        return "saved_model"
    kinds = {".keras": "keras", ".onnx": "onnx", ".xml": "openvino", ".tflite": "tflite"}
    kind = kinds.get(path.suffix.lower())
    if kind is None:
        raise EdgeposeError(
            f"{path}: not a model file edgepose knows (.keras, .onnx, .xml, .tflite or a SavedModel folder)"
        )
    return kind


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value or "")


def read_keras_config(path: str | os.PathLike) -> ModelConfig:
    """The ModelConfig stored in an edgepose ``.keras`` file, without loading the model (or Keras).

    Raises ValueError for a missing, corrupt or non-edgepose file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no model file at {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .keras model file (not a zip archive: corrupt or another format)")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            text = zf.read(KERAS_CONFIG_MEMBER) if KERAS_CONFIG_MEMBER in names else None
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{path}: corrupt model file ({e})") from e
    if text is None:
        raise ValueError(
            f"{path} is not an edgepose model: it has no {KERAS_CONFIG_MEMBER} "
            "(save models with edgepose.models.save_keras)"
        )
    try:
        return ModelConfig.from_json(text)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: unreadable edgepose model config ({e})") from e


def read_tflite_metadata(data: bytes) -> dict[str, bytes]:
    """All metadata entries of a TFLite flatbuffer: name -> bytes (read lazily, no full unpack)."""
    schema = tflite_schema()
    model = schema.Model.GetRootAs(data, 0) if hasattr(schema.Model, "GetRootAs") else schema.Model.GetRootAsModel(data, 0)
    out = {}
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        buf = model.Buffers(entry.Buffer())
        if buf.DataLength():
            out[_text(entry.Name())] = buf.DataAsNumpy().tobytes()
        elif buf.Offset() > 1:  # large models keep buffers after the flatbuffer
            out[_text(entry.Name())] = bytes(data[buf.Offset(): buf.Offset() + buf.Size()])
        else:
            out[_text(entry.Name())] = b""
    return out


def _config_text(path: Path, kind: str) -> str | bytes | None:
    if kind == "saved_model":
        f = path / SAVED_MODEL_CONFIG
        return f.read_text() if f.is_file() else None
    if kind == "onnx":
        from edgepose import onnx_file

        return onnx_file.metadata(path).get(METADATA_KEY)
    if kind == "openvino":
        import xml.etree.ElementTree as ET

        root = ET.parse(path).getroot()
        node = root.find(f"./rt_info/{METADATA_KEY}")
        return None if node is None else node.get("value")
    if kind == "tflite":
        return read_tflite_metadata(path.read_bytes()).get(METADATA_KEY)
    raise AssertionError(kind)


def read_config(path: str | os.PathLike) -> ModelConfig:
    """The ModelConfig embedded in any edgepose artifact (.keras, SavedModel, .onnx, .xml, .tflite).

    Raises EdgeposeError for a missing file, an unknown format, a corrupt file or a model without
    edgepose metadata (e.g. exported by another tool).
    """
    path = Path(path)
    if not path.exists():
        raise EdgeposeError(f"model file {str(path)!r} does not exist")
    kind = artifact_kind(path)
    if kind == "keras":
        try:
            return read_keras_config(path)
        except ValueError as e:
            raise EdgeposeError(str(e)) from None
    try:
        text = _config_text(path, kind)
    except EdgeposeError:
        raise
    except Exception as e:  # parse errors of each format's reader
        raise EdgeposeError(f"{path}: cannot read this {kind} model ({type(e).__name__}: {e})") from None
    if text is None:
        raise EdgeposeError(
            f"{path} has no edgepose metadata ({METADATA_KEY!r}); it was not exported by edgepose "
            "(`edgepose export`), so its input size, scaling and outputs are unknown"
        )
    try:
        return ModelConfig.from_json(text)
    except (ValueError, TypeError) as e:
        raise EdgeposeError(f"{path}: unreadable edgepose metadata ({e})") from None
