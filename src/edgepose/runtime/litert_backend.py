"""LiteRT (TensorFlow Lite) backend via ``ai-edge-litert``: fp32 / fp16 / int8 ``.tflite`` files,
and ``*_edgetpu.tflite`` files on a Coral Edge TPU through the ``libedgetpu.so.1`` delegate.

    be = LiteRTBackend.load(Path("pose_int8.tflite"), threads=2)
    heatmaps, pafs = be.infer(batch)        # float32 in, float32 out, whatever the model's types

Integer models are quantised on the way in and dequantised on the way out with the scale and
zero point stored in the model, so callers always see float32.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError, require
from edgepose.quiet import native_log
from edgepose.runtime._common import (
    artifact_config,
    check_suffix,
    dequantize,
    input_is_nchw,
    parallel_stream,
    quantize,
    runtime_error,
    split_outputs,
    to_nchw_if,
)
from edgepose.runtime.base import Backend

#: The Edge TPU runtime library (``apt install libedgetpu1-std`` from Coral's repository).
EDGETPU_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}


def is_edgetpu_model(path: Path) -> bool:
    """True for files compiled by ``edgetpu_compiler`` (named ``*_edgetpu.tflite`` by it)."""
    return path.name.lower().endswith("_edgetpu.tflite")


def load_edgetpu_delegate(device: str | None = None) -> Any:
    """The Edge TPU delegate, or EdgeposeError saying what is missing.

    device: None for the first Edge TPU, else Coral's ``usb``, ``usb:0``, ``pci:0``...
    """
    import platform

    from ai_edge_litert.interpreter import load_delegate

    lib = EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")
    options = {"device": device} if device else {}
    why = ""
    hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_ignore_half_built_delegate, hook)
    try:
        try:
            return load_delegate(lib, options)
        except (ValueError, RuntimeError, OSError) as e:
            why = str(e)
        # leaving the except block freed the half-built Delegate; its __del__ has run by now
    finally:
        sys.unraisablehook = hook
    raise EdgeposeError(
        f"this is an Edge TPU model, and the Edge TPU delegate could not be loaded ({lib}: {why}). "
        "Install the Edge TPU runtime (libedgetpu1-std, https://coral.ai/docs/accelerator/get-started) "
        "and plug in a Coral device, or run the plain .tflite export on the CPU instead"
    )


def _ignore_half_built_delegate(hook, unraisable) -> None:
    """LiteRT's ``Delegate.__del__`` raises AttributeError when its ``__init__`` failed (the library
    or device is missing), and Python prints that traceback at exit; the failure itself is reported
    as one clear error instead. Anything else goes to ``hook``."""
    if unraisable.exc_type is AttributeError and getattr(unraisable.object, "__qualname__", "") == "Delegate.__del__":
        return
    hook(unraisable)


def _allocated(**kwargs) -> Any:
    """A LiteRT interpreter (``Interpreter(**kwargs)``) with its tensors allocated, its native
    notices kept off the terminal (``quiet.native_log``)."""
    from ai_edge_litert.interpreter import Interpreter

    with native_log():
        interpreter = Interpreter(**kwargs)
        interpreter.allocate_tensors()
    return interpreter


class LiteRTBackend(Backend):
    """A LiteRT interpreter on the CPU (XNNPACK) or on an Edge TPU."""

    name = "litert"

    def __init__(self, path: Path, config: ModelConfig, interpreter: Any, device: str,
                 threads: int | None, delegates: list | None = None, stream_interpreters: int = 1) -> None:
        super().__init__(path, config)
        self.stream_interpreters = max(1, int(stream_interpreters))
        self.interpreter = interpreter
        self._delegates = delegates or []
        self._workers: list[LiteRTBackend] = []
        self._device = device
        self.threads = threads
        self._in = interpreter.get_input_details()[0]
        self._outs = interpreter.get_output_details()
        self._nchw = input_is_nchw(list(self._in["shape_signature"]))
        # A dynamic-size file (``export --dynamic``) has -1 for height and width in its signature:
        # the interpreter is resized to each input (``_fit``).
        hw = self._in["shape_signature"][2:4] if self._nchw else self._in["shape_signature"][1:3]
        self.dynamic = bool(any(int(v) < 0 for v in hw))
        self._in_quant = self._qparams(self._in)
        self._out_quant = [self._qparams(d) for d in self._outs]

    @staticmethod
    def _qparams(detail: dict) -> tuple[np.ndarray, np.ndarray] | None:
        """(scales, zero_points) of an integer tensor, None for a float one."""
        if not np.issubdtype(detail["dtype"], np.integer):
            return None
        qp = detail.get("quantization_parameters") or {}
        scales = np.asarray(qp.get("scales", []), np.float32)
        zeros = np.asarray(qp.get("zero_points", []), np.int64)
        if scales.size == 0:
            scale, zero = detail["quantization"]
            scales, zeros = np.float32([scale]), np.int64([zero])
        if scales.size == 0 or not np.all(scales > 0):
            raise EdgeposeError(f"tensor {detail['name']!r} is {detail['dtype'].__name__} without quantization parameters")
        return (scales if scales.size > 1 else scales[0]), (zeros if zeros.size > 1 else zeros[0])

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        threads: int | None = None,
        device: str | None = None,
        config: ModelConfig | None = None,
        stream_interpreters: int = 1,
        **_: Any,
    ) -> "LiteRTBackend":
        """Opens a ``.tflite`` file.

        threads: CPU threads (default: all cores). device: ``CPU`` (default), or for
        ``*_edgetpu.tflite`` files ``EdgeTPU`` / Coral's ``usb``, ``usb:0``, ``pci:0``.
        config: override the model's embedded metadata. stream_interpreters: how many
        single-threaded interpreters ``infer_stream`` runs side by side (default 1: this one, in
        an inference thread, with ``threads`` threads; on this 2-core machine under load, two
        single-threaded ones measured slower, see docs/benchmark.md).
        """
        require("ai_edge_litert", "litert", "LiteRT models (.tflite)")
        path = Path(path)
        check_suffix(path, cls.name, (".tflite",))
        threads = int(threads) if threads else (os.cpu_count() or 1)
        delegates = []
        if is_edgetpu_model(path):
            tpu = None if (device or "").upper() in ("", "EDGETPU", "TPU") else device
            delegates.append(load_edgetpu_delegate(tpu))
            shown = "EdgeTPU" + (f":{tpu}" if tpu else "")
        elif device and device.upper() != "CPU":
            raise EdgeposeError(
                f"device {device!r}: the litert backend runs plain .tflite models on the CPU; "
                "an Edge TPU needs a *_edgetpu.tflite file (edgepose export --format edgetpu)"
            )
        else:
            shown = "CPU"
        try:
            interpreter = _allocated(model_path=str(path), num_threads=threads, experimental_delegates=delegates)
        except (ValueError, RuntimeError) as e:
            if "edgetpu-custom-op" in str(e):
                raise EdgeposeError(f"{path}: this model holds Edge TPU operations; name it *_edgetpu.tflite "
                                    "so that the Edge TPU delegate is used") from None
            raise runtime_error(path, cls.name, e) from None
        config = artifact_config(path, config)
        return cls(path, config, interpreter, shown, threads, delegates, stream_interpreters)

    @classmethod
    def from_bytes(cls, content: bytes, config: ModelConfig, *, threads: int = 1) -> "LiteRTBackend":
        """A CPU interpreter on an in-memory flatbuffer (e.g. straight from a converter, before
        any metadata is written); ``config`` describes the model (input size and precision are
        taken from the flatbuffer)."""
        require("ai_edge_litert", "litert", "LiteRT models (.tflite)")
        interpreter = _allocated(model_content=bytes(content), num_threads=int(threads))
        detail = interpreter.get_input_details()[0]
        dynamic = any(int(v) < 0 for v in detail["shape_signature"][1:3])
        size = None if dynamic else tuple(int(v) for v in detail["shape"][1:3])
        precision = "int8" if np.issubdtype(detail["dtype"], np.integer) else config.precision
        return cls(None, config.replace(input_size=size, precision=precision), interpreter, "CPU", int(threads))

    @property
    def device(self) -> str:
        return self._device

    def stream_workers(self) -> int:
        """Interpreters ``infer_stream`` runs side by side (an Edge TPU is one device: one)."""
        return 1 if self._delegates else self.stream_interpreters

    def infer_stream(self, items: Iterable[tuple[Any, np.ndarray]], depth: int = 2
                     ) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
        """Pipelined inference, (key, x [1, H, W, 3]) in -> (key, heatmaps, pafs) out, in order.

        Inference runs in its own thread while the caller decodes earlier frames; with
        ``stream_interpreters`` > 1, that many single-threaded interpreters (made on first use) run
        different frames at once. Results are those of ``infer``.
        """
        n = self.stream_workers()
        if n == 1:
            return parallel_stream([self.infer], items, depth=depth)
        while len(self._workers) < n:
            it = _allocated(model_path=str(self.path), num_threads=1)
            self._workers.append(LiteRTBackend(self.path, self.config, it, self._device, 1))
        return parallel_stream([w.infer for w in self._workers[:n]], items, depth=depth)

    def _invoke(self, x: np.ndarray) -> list[np.ndarray]:
        """One image [1, H, W, 3] float32 -> raw outputs dequantised to float32."""
        it = self.interpreter
        x = to_nchw_if(x, self._nchw)
        if self._in_quant is not None:
            scale, zero = self._in_quant
            x = quantize(x, float(scale), int(zero), self._in["dtype"])
        elif x.dtype != self._in["dtype"]:
            x = x.astype(self._in["dtype"])
        it.set_tensor(self._in["index"], x)
        it.invoke()
        outs = []
        for detail, q in zip(self._outs, self._out_quant):
            y = it.get_tensor(detail["index"])
            outs.append(dequantize(y, *q) if q is not None else y.astype(np.float32, copy=True))
        return outs

    def _fit(self, batch: np.ndarray) -> None:
        """Resizes a dynamic-size interpreter's input to ``batch``'s height and width (once per
        new size; LiteRT re-plans its tensors and delegates on ``allocate_tensors``)."""
        hw = list(self._in["shape"][2:4] if self._nchw else self._in["shape"][1:3])
        if hw == list(batch.shape[1:3]):
            return
        h, w = batch.shape[1:3]
        shape = [1, 3, h, w] if self._nchw else [1, h, w, 3]
        self.interpreter.resize_tensor_input(self._in["index"], shape, strict=True)
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()[0]
        self._outs = self.interpreter.get_output_details()

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = self.check_input(batch)
        if self.dynamic:
            self._fit(batch)
        if list(self._in["shape"][1:3] if not self._nchw else self._in["shape"][2:4]) != list(batch.shape[1:3]):
            h, w = self._in["shape"][1:3] if not self._nchw else self._in["shape"][2:4]
            raise ValueError(f"this model takes {h}x{w} inputs, got {batch.shape[1]}x{batch.shape[2]}")
        if batch.shape[0] != 1:
            return self._per_image(batch)
        return split_outputs(self._invoke(batch), self.config)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(threads=self.threads, input_type=np.dtype(self._in["dtype"]).name)
        return d
