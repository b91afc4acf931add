"""Backends behind one protocol, chosen by file suffix or by name.

``open_backend("model.xml")`` picks OpenVINO, ``.tflite`` LiteRT, ``.onnx`` ONNX Runtime (OpenCV DNN
when onnxruntime is not installed), ``.keras`` Keras; ``backend=`` overrides the choice.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgepose.errors import EdgeposeError
from edgepose.runtime.base import Backend


@dataclass(frozen=True)
class BackendSpec:
    """Where a backend lives and which model files it opens."""

    name: str
    module: str
    cls: str
    suffixes: tuple[str, ...]
    extra: str  # the pip extra that installs its runtime
    runtime: str = ""  # the module it runs on; a suffix's first backend whose runtime is installed wins


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("keras", "edgepose.runtime.keras_backend", "KerasBackend", (".keras",), "all"),
        BackendSpec("tensorflow", "edgepose.runtime.tensorflow_backend", "TensorFlowBackend",
                    ("saved_model", ".pb"), "all"),
        BackendSpec("openvino", "edgepose.runtime.openvino_backend", "OpenVINOBackend", (".xml",), "openvino"),
        BackendSpec("litert", "edgepose.runtime.litert_backend", "LiteRTBackend", (".tflite",), "litert"),
        BackendSpec("onnxruntime", "edgepose.runtime.onnxruntime_backend", "ONNXRuntimeBackend", (".onnx",), "onnx",
                    "onnxruntime"),
        BackendSpec("opencv", "edgepose.runtime.opencv_backend", "OpenCVBackend", (".onnx",), "", "cv2"),
    )
}


def register(spec: BackendSpec) -> None:
    """Adds a backend to the table (used by the backend modules' package)."""
    BACKENDS[spec.name] = spec


def backend_for(path: Path) -> str:
    """The backend name that opens ``path`` by its suffix (a folder with saved_model.pb: tensorflow)."""
    if path.is_dir() and (path / "saved_model.pb").exists():
        suffix = "saved_model"
    else:
        suffix = path.suffix.lower()
    candidates = [spec for spec in BACKENDS.values() if suffix in spec.suffixes]
    for spec in candidates:
        if not spec.runtime or _installed(spec.runtime):
            return spec.name
    if candidates:  # none installed: the first one names its extra
        return candidates[0].name
    known = sorted({s for spec in BACKENDS.values() for s in spec.suffixes})
    raise EdgeposeError(
        f"don't know which backend opens {path.name!r} (suffix {suffix or 'none'}); "
        f"model files end in {', '.join(known)}, or pass --backend"
    )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules (blocked) counts as missing
        return False


def get_backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        close = difflib.get_close_matches(name, BACKENDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise EdgeposeError(f"unknown backend {name!r}{hint}; choose from {', '.join(BACKENDS)}")
    spec = BACKENDS[name]
    module = importlib.import_module(spec.module)
    return getattr(module, spec.cls)


def open_backend(path: str | Path, *, backend: str | None = None, **options: Any) -> Backend:
    """Loads a model file on a backend. Options (device, threads, stages, input_size...) are
    passed to the backend's ``load``; a backend ignores options it has no use for only if None."""
    path = Path(path)
    if not path.exists():
        raise EdgeposeError(f"model file {str(path)!r} does not exist")
    name = backend or backend_for(path)
    cls = get_backend_class(name)
    return cls.load(path, **{k: v for k, v in options.items() if v is not None})
