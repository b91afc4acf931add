"""Keeps TensorFlow's start-up chatter off the terminal of the command-line tool.

TensorFlow's C++ runtime prints several lines when it is first imported (CUDA not found, oneDNN
notices) before its logging can be configured, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them. The
CLI installs an import hook that silences file descriptor 2 only while ``tensorflow`` itself is
first imported; Python errors raised by that import are still shown.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import sys


@contextlib.contextmanager
def silenced_stderr_fd():
    """Redirects the process-level stderr (fd 2) to /dev/null inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietTensorflowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one shot: let the real finders locate the package
        with silenced_stderr_fd():
            importlib.import_module("tensorflow")
        return sys.modules["tensorflow"].__spec__


def install() -> None:
    """Silences TensorFlow's native start-up messages for the rest of this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorflowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorflowFinder())
