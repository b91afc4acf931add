"""OpenVINO backend for IR models (``model.xml`` + ``model.bin``), fp32 / fp16 / int8.

    be = OpenVINOBackend.load(Path("pose.xml"), device="CPU", hint="LATENCY", threads=2)
    heatmaps, pafs = be.infer(batch)                       # float32 [N, h, w, 19], [N, h, w, 38]
    for key, heatmaps, pafs in be.infer_stream(items): ... # AsyncInferQueue, results in order

Devices are OpenVINO's strings, passed through: ``CPU``, ``GPU``, ``GPU.1``, ``NPU``, ``AUTO``,
``AUTO:GPU,CPU``, ``MULTI:...``, ``HETERO:...`` (and ``MYRIAD`` on OpenVINO releases before 2023.0,
which still had that plugin). A device that this machine does not have is refused with the list of
the ones it has.
"""

from __future__ import annotations

import collections
import gc
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError, require
from edgepose.runtime._common import (
    artifact_config,
    check_suffix,
    input_is_nchw,
    runtime_error,
    split_outputs,
    to_nchw_if,
)
from edgepose.runtime.base import Backend

HINTS = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT")
_VIRTUAL = ("AUTO", "MULTI", "HETERO", "BATCH")


def check_device(core: Any, device: str) -> str:
    """Validates an OpenVINO device string against ``core.available_devices``; returns it upper-cased.

    Virtual devices (AUTO, MULTI, HETERO, BATCH) are checked through the devices they list.
    """
    device = device.strip().upper()
    available = list(core.available_devices)
    head, _, rest = device.partition(":")
    if head in _VIRTUAL:
        wanted = [d for d in rest.split(",") if d]
    else:
        wanted = [device]
    for d in wanted:
        base = d.split(".")[0]
        if d in available or (d == base and any(a.split(".")[0] == base for a in available)):
            continue
        why = ""
        if base == "MYRIAD":
            why = (" (OpenVINO removed the MYRIAD plugin for the Neural Compute Stick 2 in 2023.0; "
                   "this is OpenVINO " + _ov_version() + ")")
        raise EdgeposeError(
            f"OpenVINO device {d!r} is not available here{why}; available: {', '.join(available) or 'none'}"
            " (or AUTO to let OpenVINO choose)"
        )
    return device


def _ov_version() -> str:
    try:
        import openvino as ov

        return ov.get_version().split("-")[0]
    except Exception:  # noqa: BLE001 - only for a message
        return "?"


def compile_properties(config: ModelConfig, device: str, hint: str, threads: int | None,
                       inference_precision: str | None) -> dict[str, Any]:
    """``compile_model`` properties: the performance hint, the inference precision (default: f32
    for fp32 models, OpenVINO's own choice otherwise) and, on a CPU, the thread count."""
    props: dict[str, Any] = {"PERFORMANCE_HINT": hint}
    if inference_precision is None:
        inference_precision = "f32" if config.precision == "fp32" else "auto"
    inference_precision = inference_precision.lower()
    if inference_precision not in ("auto", "f32", "bf16", "f16"):
        raise EdgeposeError(f"inference precision {inference_precision!r}: choose auto, f32, bf16 or f16")
    if inference_precision != "auto":
        props["INFERENCE_PRECISION_HINT"] = inference_precision
    if threads and device.startswith("CPU"):
        props["INFERENCE_NUM_THREADS"] = int(threads)
    return props


class OpenVINOBackend(Backend):
    """A compiled OpenVINO model on one device (sync ``infer`` and async ``infer_stream``)."""

    name = "openvino"

    def __init__(self, path: Path, config: ModelConfig, compiled: Any, device: str, hint: str,
                 threads: int | None, stream_hint: str = "THROUGHPUT",
                 compile_again: Any = None) -> None:
        super().__init__(path, config)
        self.compiled = compiled
        self.stream_hint = stream_hint
        self._compile_again = compile_again  # hint -> CompiledModel, for infer_stream
        self._stream_compiled: Any = None
        self._device = device
        self.hint = hint
        self.threads = threads
        self._request = compiled.create_infer_request()
        shape = compiled.input(0).get_partial_shape()
        self._nchw = input_is_nchw([d.get_length() if d.is_static else None for d in shape])
        self._static_batch = shape[0].is_static and shape[0].get_length() == 1

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        device: str = "CPU",
        hint: str = "LATENCY",
        threads: int | None = None,
        config: ModelConfig | None = None,
        cache_dir: str | Path | None = None,
        inference_precision: str | None = None,
        stream_hint: str = "THROUGHPUT",
        **_: Any,
    ) -> "OpenVINOBackend":
        """Reads and compiles an IR model.

        device: OpenVINO device string (see module doc). hint: LATENCY (one frame at a time) or
        THROUGHPUT (several parallel requests, for ``infer_stream``). threads: CPU inference
        threads (default: OpenVINO's choice). config: override the model's embedded metadata.
        cache_dir: OpenVINO's compiled-model cache (speeds up later loads, mostly on GPU/NPU).
        stream_hint: the hint ``infer_stream`` compiles with (THROUGHPUT: several requests in
            parallel streams; video and folder throughput; compiled on first use).
        inference_precision: what the device computes in: "f32", "bf16", "f16", or "auto" for
            OpenVINO's own default (bf16 on CPUs with AVX-512 BF16 or AMX, f32 elsewhere). Default:
            "f32" for fp32 models (as exported: same results as Keras), "auto" for fp16 and int8.
        """
        ov = require("openvino", "openvino", "OpenVINO models (.xml)")
        path = Path(path)
        check_suffix(path, cls.name, (".xml",))
        if not path.with_suffix(".bin").exists():
            raise EdgeposeError(f"{path}: the weights file {path.with_suffix('.bin').name} is missing beside it")
        hint = hint.upper()
        if hint not in HINTS:
            raise EdgeposeError(f"performance hint {hint!r}: choose from {', '.join(HINTS)}")
        core = ov.Core()
        device = check_device(core, device)
        try:
            model = core.read_model(str(path))
        except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses
            raise runtime_error(path, cls.name, e) from None
        config = artifact_config(path, config)
        props = compile_properties(config, device, hint, threads, inference_precision)
        if cache_dir:
            props["CACHE_DIR"] = str(cache_dir)
        try:
            compiled = core.compile_model(model, device, props)
        except Exception as e:  # noqa: BLE001
            raise EdgeposeError(f"{path}: OpenVINO could not compile the model for {device}: {e}") from None
        stream_hint = stream_hint.upper()
        if stream_hint not in HINTS:
            raise EdgeposeError(f"stream hint {stream_hint!r}: choose from {', '.join(HINTS)}")

        def compile_again(h: str) -> Any:
            return core.compile_model(model, device, {**props, "PERFORMANCE_HINT": h})

        return cls(path, config, compiled, device, hint, threads, stream_hint, compile_again)

    @classmethod
    def from_model(cls, model: Any, config: ModelConfig, *, device: str = "CPU", hint: str = "LATENCY",
                   threads: int | None = 1, inference_precision: str | None = None) -> "OpenVINOBackend":
        """Compiles an in-memory ``openvino.Model`` (e.g. straight from ``nncf.quantize``);
        ``config`` describes it (the input size is taken from the model; None when dynamic)."""
        ov = require("openvino", "openvino", "OpenVINO models (.xml)")
        core = ov.Core()
        shape = model.inputs[0].get_partial_shape()
        size = tuple(int(shape[i].get_length()) for i in (1, 2)) if shape.is_static else None
        config = config.replace(input_size=size)
        props = compile_properties(config, device, hint.upper(), threads, inference_precision)
        return cls(None, config, core.compile_model(model, device, props), device, hint.upper(), threads)

    @property
    def device(self) -> str:
        return self._device

    def _outputs(self, request: Any) -> tuple[np.ndarray, np.ndarray]:
        """The request's outputs as new arrays (its own buffers are reused by its next inference)."""
        outs = [request.get_output_tensor(i).data for i in range(len(self.compiled.outputs))]
        heatmaps, pafs = split_outputs(outs, self.config)
        return heatmaps.copy(), pafs.copy()

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = self.check_input(batch)
        if self._static_batch and batch.shape[0] != 1:
            return self._per_image(batch)
        self._request.infer({0: to_nchw_if(batch, self._nchw)})
        return self._outputs(self._request)

    def optimal_requests(self, compiled: Any = None) -> int:
        """How many parallel requests the device wants (OpenVINO's OPTIMAL_NUMBER_OF_INFER_REQUESTS)."""
        try:
            return int((compiled or self.compiled).get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        except Exception:  # noqa: BLE001
            return 1

    def _streaming_model(self) -> Any:
        """The model compiled with ``stream_hint`` (the sync one when the hints agree)."""
        if self.stream_hint == self.hint or self._compile_again is None:
            return self.compiled
        if self._stream_compiled is None:
            self._stream_compiled = self._compile_again(self.stream_hint)
        return self._stream_compiled

    def infer_stream(self, items: Iterable[tuple[Any, np.ndarray]], depth: int = 2
                     ) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
        """Pipelined inference with an ``AsyncInferQueue``: (key, input [1, H, W, 3]) items in,
        (key, heatmaps [1, h, w, 19], pafs [1, h, w, 38]) out, in input order.

        The model is compiled with ``stream_hint`` (THROUGHPUT: on a CPU, one stream per core or
        so, each running its own frame). Up to ``max(depth, optimal requests)`` inferences are in
        flight while the caller consumes earlier results (decoding, drawing).
        """
        import openvino as ov

        compiled = self._streaming_model()
        jobs = max(1, depth, self.optimal_requests(compiled))
        queue = ov.AsyncInferQueue(compiled, jobs)
        done: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        errors: list[BaseException] = []

        def on_done(request: Any, seq: int) -> None:
            try:
                done[seq] = self._outputs(request)
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(e)

        queue.set_callback(on_done)
        pending: collections.deque[tuple[int, Any]] = collections.deque()
        seq = 0
        try:
            for key, x in items:
                x = self.check_input(x)
                # Blocks while every request is busy: that is the back-pressure.
                queue.start_async({0: to_nchw_if(x, self._nchw)}, seq)
                pending.append((seq, key))
                seq += 1
                while pending and pending[0][0] in done:
                    s, k = pending.popleft()
                    yield (k, *done.pop(s))
                if errors:
                    raise errors[0]
            queue.wait_all()
            if errors:
                raise errors[0]
            while pending:
                s, k = pending.popleft()
                yield (k, *done.pop(s))
        finally:
            queue.wait_all()
            # Free the queue here, not at interpreter exit: OpenVINO 2026.4 aborts the process
            # ("terminate called without an active exception") when the garbage collector destroys
            # an AsyncInferQueue during shutdown.
            del queue
            gc.collect()

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        try:
            compute = str(self.compiled.get_property("INFERENCE_PRECISION_HINT")).split("'")[1]
        except Exception:  # noqa: BLE001 - not every device reports it
            compute = None
        d.update(hint=self.hint, stream_hint=self.stream_hint, threads=self.threads,
                 requests=self.optimal_requests(), compute_precision=compute)
        return d
