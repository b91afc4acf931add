"""ONNX Runtime backend for ``.onnx`` models, on any installed execution provider.

    be = ONNXRuntimeBackend.load(Path("pose.onnx"), device="CPU", threads=2)
    be = ONNXRuntimeBackend.load(Path("pose.onnx"), device="OpenVINO")   # onnxruntime-openvino

``device`` picks the execution provider: a provider's full name (``CUDAExecutionProvider``) or a
short one (CPU, CUDA/GPU, OpenVINO, TensorRT, DirectML, CoreML). The CPU provider is always added
last as a fallback for operations the chosen one lacks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError, require
from edgepose.runtime._common import (
    artifact_config,
    check_suffix,
    input_is_nchw,
    parallel_stream,
    runtime_error,
    split_outputs,
    to_nchw_if,
)
from edgepose.runtime.base import Backend

#: short device names -> ONNX Runtime execution providers
PROVIDER_ALIASES = {
    "CPU": "CPUExecutionProvider",
    "CUDA": "CUDAExecutionProvider",
    "GPU": "CUDAExecutionProvider",
    "OPENVINO": "OpenVINOExecutionProvider",
    "TENSORRT": "TensorrtExecutionProvider",
    "DIRECTML": "DmlExecutionProvider",
    "DML": "DmlExecutionProvider",
    "COREML": "CoreMLExecutionProvider",
    "ROCM": "ROCMExecutionProvider",
}


def resolve_provider(device: str, available: list[str]) -> str:
    """A device name or provider name -> an available execution provider, or EdgeposeError."""
    name = device if device.endswith("ExecutionProvider") else PROVIDER_ALIASES.get(device.upper())
    if name is None:
        raise EdgeposeError(
            f"device {device!r} is not an ONNX Runtime execution provider; use one of "
            f"{', '.join(sorted(PROVIDER_ALIASES))} or a full provider name ({', '.join(available)})"
        )
    if name not in available:
        extra = " (pip install onnxruntime-openvino)" if name == "OpenVINOExecutionProvider" else ""
        raise EdgeposeError(
            f"ONNX Runtime execution provider {name} is not installed here{extra}; available: {', '.join(available)}"
        )
    return name


class ONNXRuntimeBackend(Backend):
    """An ``onnxruntime.InferenceSession`` on one execution provider."""

    name = "onnxruntime"

    def __init__(self, path: Path, config: ModelConfig, session: Any, threads: int | None,
                 providers: list[Any] | None = None) -> None:
        super().__init__(path, config)
        self.session = session
        self.threads = threads
        self._providers = providers or ["CPUExecutionProvider"]
        self._stream_session: Any = None
        inp = session.get_inputs()[0]
        self._input_name = inp.name
        self._nchw = input_is_nchw(inp.shape)
        self._input_type = np.float16 if inp.type == "tensor(float16)" else np.float32
        self._output_names = [o.name for o in session.get_outputs()]
        self._batch_one = inp.shape[0] == 1

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        device: str = "CPU",
        threads: int | None = None,
        config: ModelConfig | None = None,
        provider_options: dict[str, Any] | None = None,
        **_: Any,
    ) -> "ONNXRuntimeBackend":
        """Opens an ``.onnx`` file on the provider ``device`` names (see module doc).

        threads: intra-op threads (default: ONNX Runtime's, one per core). provider_options:
        options of the chosen provider, e.g. ``{"device_type": "CPU"}`` for OpenVINO.
        """
        ort = require("onnxruntime", "onnx", "ONNX models (.onnx)")
        path = Path(path)
        check_suffix(path, cls.name, (".onnx",))
        provider = resolve_provider(device, ort.get_available_providers())
        providers: list[Any] = [(provider, provider_options or {})]
        if provider != "CPUExecutionProvider":
            providers.append("CPUExecutionProvider")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as e:  # noqa: BLE001 - ORT raises its own Fail/InvalidProtobuf types
            raise runtime_error(path, cls.name, e) from None
        config = artifact_config(path, config)
        return cls(path, config, session, threads, providers)

    @property
    def device(self) -> str:
        return self.session.get_providers()[0].removesuffix("ExecutionProvider")

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = self.check_input(batch)
        if self._batch_one and batch.shape[0] != 1:
            return self._per_image(batch)
        x = to_nchw_if(batch, self._nchw).astype(self._input_type, copy=False)
        outs = self.session.run(self._output_names, {self._input_name: x})
        return split_outputs(outs, self.config)

    def infer_stream(self, items: Iterable[tuple[Any, np.ndarray]], depth: int = 2
                     ) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
        """Pipelined inference, (key, x [1, H, W, 3]) in -> (key, heatmaps, pafs) out, in order.

        On the CPU provider, a second session with one intra-op thread runs one frame per core at
        once (``InferenceSession.run`` is thread-safe); other providers keep their own session.
        """
        if self.session.get_providers()[0] != "CPUExecutionProvider":
            return parallel_stream([self.infer], items, depth=depth)
        import onnxruntime as ort

        n = max(1, self.threads or os.cpu_count() or 1)
        if self._stream_session is None:
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            self._stream_session = ort.InferenceSession(str(self.path), sess_options=opts, providers=self._providers)
        session = self._stream_session

        def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x = to_nchw_if(self.check_input(x), self._nchw).astype(self._input_type, copy=False)
            return split_outputs(session.run(self._output_names, {self._input_name: x}), self.config)

        return parallel_stream([run] * n, items, depth=depth)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(threads=self.threads, providers=self.session.get_providers())
        return d
