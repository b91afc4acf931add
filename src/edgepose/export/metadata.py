"""Writing the ModelConfig into every artifact (the exporters' side).

Where each format keeps it, and reading it back without a runtime or the exporters:
``edgepose.artifact`` (below both runtime and export).
"""

from __future__ import annotations

from pathlib import Path

from edgepose.artifact import SAVED_MODEL_CONFIG, _text, tflite_schema
from edgepose.config import METADATA_KEY, ModelConfig

# --------------------------------------------------------------------------- writing


def embed_tflite(flatbuffer: bytes, config: ModelConfig) -> bytes:
    """Returns the TFLite model with ``config`` as metadata entry ``edgepose_config`` (replacing one)."""
    import flatbuffers
    import numpy as np

    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    data = np.frombuffer(config.to_json().encode("utf-8"), dtype=np.uint8)
    model.metadata = [m for m in (model.metadata or []) if _text(m.name) != METADATA_KEY]
    buffer = schema.BufferT()
    buffer.data = data
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(flatbuffer) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def embed_onnx(model, config: ModelConfig) -> None:
    """Sets ``metadata_props[edgepose_config]`` on an ``onnx.ModelProto`` in place."""
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    prop = model.metadata_props.add()
    prop.key = METADATA_KEY
    prop.value = config.to_json()


def embed_openvino(model, config: ModelConfig) -> None:
    """Sets ``rt_info[edgepose_config]`` on an ``openvino.Model`` in place (saved into the IR)."""
    model.set_rt_info(config.to_json(), [METADATA_KEY])


def embed_saved_model(folder: Path, config: ModelConfig) -> Path:
    """Writes ``assets/edgepose_config.json`` into a SavedModel folder (TF ignores the file)."""
    target = Path(folder) / SAVED_MODEL_CONFIG
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(config.to_json())
    return target
