"""Keeps TensorFlow's and LiteRT's native chatter off the terminal.

TensorFlow's C++ runtime prints several lines when it is first imported (CUDA not found, oneDNN
notices) before its logging can be configured, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them. The
CLI installs an import hook that silences file descriptor 2 only while ``tensorflow`` itself is
first imported; Python errors raised by that import are still shown. LiteRT prints
"INFO: Created TensorFlow Lite XNNPACK delegate for CPU." for every interpreter and its converter a
debug line per int8 conversion, from C++, whatever the log level: ``native_log`` keeps those off
and lets everything else through.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import sys
import tempfile

# Lines of native notices ``native_log`` drops: LiteRT's INFO lines, the int8 converter's settings.
NOTICES = ("INFO: ", "fully_quantize: ")


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


@contextlib.contextmanager
def native_log(drop: tuple[str, ...] = NOTICES):
    """Captures what is written to the process-level stderr (fd 2) inside the block, then writes
    it back without the lines that start with one of ``drop``; all of it when the block raises, so
    a native error message is never lost. For short calls (an interpreter, a conversion): output
    inside the block appears only when it ends."""
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
            if not failed:
                text = "".join(line for line in text.splitlines(keepends=True) if not line.startswith(drop))
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()


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
