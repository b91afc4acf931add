"""OpenCV DNN backend for ``.onnx`` models: needs nothing beyond the core install (opencv-python-headless).

    be = OpenCVBackend.load(Path("mobilenet_thin.onnx"), threads=2)

``.onnx`` files open on ONNX Runtime when it is installed (``edgepose[onnx]``) and on this backend
otherwise; ``--backend opencv`` picks it by name. One ``cv2.dnn.Net`` serves every input size: OpenCV
plans the shapes again when ``setInput`` gets a new size (checked against ONNX Runtime at two sizes
in ``tests/test_tfpose_onnx.py``). A Net is not safe to call from two threads, so calls are serialised.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgepose import onnx_file
from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError
from edgepose.runtime._common import artifact_config, check_suffix, input_is_nchw, runtime_error, split_outputs, to_nchw_if
from edgepose.runtime.base import Backend


class OpenCVBackend(Backend):
    """A ``cv2.dnn`` network read from an ``.onnx`` file, on the CPU."""

    name = "opencv"

    def __init__(self, path: Path, config: ModelConfig, net: Any, threads: int | None, nchw: bool) -> None:
        super().__init__(path, config)
        self.net = net
        self.threads = threads
        self._nchw = nchw
        self._outputs = list(net.getUnconnectedOutLayersNames())
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path, *, device: str = "CPU", threads: int | None = None, stages: int | None = None,
             config: ModelConfig | None = None, **_: Any) -> "OpenCVBackend":
        """Reads an ``.onnx`` file with ``cv2.dnn.readNetFromONNX``.

        device: only "CPU". threads: OpenCV's thread count (process-wide, ``cv2.setNumThreads``).
        stages: must be the file's own (an ONNX model cannot be cut; the Keras model can).
        """
        path = Path(path)
        check_suffix(path, cls.name, (".onnx",))
        if str(device).upper() != "CPU":
            raise EdgeposeError(f"the opencv backend runs on the CPU only, not {device!r}")
        config = artifact_config(path, config)
        if stages is not None and stages != config.stages:
            raise EdgeposeError(f"{path.name} has {config.stages} stages built in; --stages {stages} cuts the Keras "
                                "model (pip install 'edgepose[tf]'), or export a model with that many stages")
        if threads:
            cv2.setNumThreads(int(threads))
        try:
            net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as e:
            raise runtime_error(path, cls.name, e) from None
        if net.empty():
            raise EdgeposeError(f"{path}: opencv read an empty network from this file")
        nchw = False
        try:  # the input's declared shape tells NHWC (edgepose's own) from NCHW (other converters)
            nchw = input_is_nchw(onnx_file.input_shape(path))
        except (ValueError, OSError):
            pass
        return cls(path, config, net, threads, nchw)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = self.check_input(batch)
        x = np.ascontiguousarray(to_nchw_if(batch, self._nchw))
        with self._lock:
            self.net.setInput(x)
            try:
                outs = self.net.forward(self._outputs)
            except cv2.error as e:
                detail = runtime_error(self.path, self.name, e).args[0].rsplit(": ", 1)[-1]
                raise EdgeposeError(f"{self.path}: opencv could not run this model on a "
                                    f"{batch.shape[1]}x{batch.shape[2]} input: {detail}") from None
            outs = [np.array(o, copy=True) for o in outs]
        return split_outputs(outs, self.config)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(threads=self.threads, opencv=cv2.__version__)
        return d
