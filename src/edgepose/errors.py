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
