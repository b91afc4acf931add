"""The one exception type users see: a message that says what went wrong and what to do."""


class EdgeposeError(Exception):
    """An error caused by the user's input or environment (bad file, missing backend, ...).

    The CLI prints its message alone, without a traceback, and exits non-zero.
    """


class MissingDependencyError(EdgeposeError):
    """An optional package is not installed; the message names the extra that brings it."""

    def __init__(self, package: str, extra: str, what: str = "") -> None:
        purpose = f" for {what}" if what else ""
        super().__init__(
            f"{package} is not installed; it is needed{purpose}. "
            f"Install it with: pip install 'edgepose[{extra}]'"
        )
        self.package = package
        self.extra = extra


def require(module: str, extra: str, what: str = ""):
    """Imports an optional module or raises ``MissingDependencyError`` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(module.split(".")[0], extra, what) from e


#: top-level module -> the extra of ``pip install 'edgepose[EXTRA]'`` that brings it
EXTRA_OF_MODULE = {
    "tensorflow": "tf", "keras": "tf", "pycocotools": "eval",
    "openvino": "openvino", "nncf": "openvino", "ai_edge_litert": "litert",
    "onnxruntime": "onnx", "onnx": "onnx", "tf2onnx": "onnx",
    "matplotlib": "plot", "skimage": "demo", "scipy": "track", "motmetrics": "track",
}


def extra_for_module(module: str) -> str | None:
    """The extra that installs ``module`` (a top-level import name), from the table above or else from
    edgepose's own package metadata (extras other features declare); None if none does."""
    import re
    from importlib import metadata

    top = module.split(".")[0]
    if top in EXTRA_OF_MODULE:
        return EXTRA_OF_MODULE[top]
    want = re.sub(r"[-_.]+", "-", top).lower()
    try:
        requirements = metadata.requires("edgepose") or []
    except metadata.PackageNotFoundError:
        return None
    for req in requirements:
        name = re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0]
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", req)
        if extra and re.sub(r"[-_.]+", "-", name).lower() == want:
            return extra.group(1)
    return None


def missing_module_error(e: ModuleNotFoundError, what: str = "") -> EdgeposeError | None:
    """A ``MissingDependencyError`` for an import of an optional package that failed, else None."""
    extra = extra_for_module(e.name or "") if e.name else None
    return MissingDependencyError(e.name.split(".")[0], extra, what) if extra else None
