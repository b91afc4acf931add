"""TensorFlow SavedModel: one ``serving_default`` signature, config in ``assets/``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.config import ModelConfig
from edgepose.export.metadata import embed_saved_model
from edgepose.io_utils import atomic_path

if TYPE_CHECKING:
    from edgepose.export.source import ExportSource

SIGNATURE = "serving_default"


def write_saved_model(model, config: ModelConfig, folder: Path) -> Path:
    """Writes ``model`` as a SavedModel at ``folder`` (which must not exist), config included.

    Signature ``serving_default``: input ``image`` float32 [1, H, W, 3] (H, W = config.input_size,
    or free -- any multiple of the stride -- when it is None; raw pixels as the config says), outputs ``heatmaps`` float32 [1, H/8, W/8, 19] and ``pafs``
    [1, H/8, W/8, 38]. Inference only (``training=False``), no variables to train.
    """
    import tensorflow as tf

    from edgepose.export.source import output_indices

    h, w = config.input_size or (None, None)
    hi, pi = output_indices(model, config)

    @tf.function(input_signature=[tf.TensorSpec([1, h, w, 3], tf.float32, name="image")])
    def serve(image):
        outputs = model(image, training=False)
        return {"heatmaps": outputs[hi], "pafs": outputs[pi]}

    # A plain tf.Module holding the backing tf.Variables once (keras.export.ExportArchive tracks
    # them twice, doubling the folder), and the signature.
    module = tf.Module()
    module.model_variables = [getattr(v, "value", v) for v in model.variables]
    module.serve = serve
    tf.saved_model.save(module, str(folder), signatures={SIGNATURE: serve.get_concrete_function()})
    embed_saved_model(folder, config)
    return folder


def write(source: "ExportSource", precision: str, output: Path) -> tuple[ModelConfig, list[Path], dict[str, Any]]:
    """The ``saved_model`` format: fp32 only. Returns (config, files, report)."""
    import shutil

    config = source.config_for(precision)
    with atomic_path(output, suffix="") as tmp:
        shutil.copytree(source.saved_model(), tmp)  # the one every converter reads
        embed_saved_model(tmp, config)
    return config, [output], {"signature": SIGNATURE}
