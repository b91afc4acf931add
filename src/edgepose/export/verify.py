"""Run exported artifacts directly on their runtimes, and compare them with the Keras model.

Small and dependency-light on purpose: until the runtime backends land, tests and the export
report use these to check parity (``max_abs_diff``) and that int8 models find the same people
(``match_people``, by OKS).

    run = ArtifactRunner("m_int8.tflite")
    heatmaps, pafs = run(batch)            # float32 [N, h, w, 19], [N, h, w, 38]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from edgepose.config import ModelConfig
from edgepose.errors import require
from edgepose.export.metadata import artifact_kind, read_config
from edgepose.pose import Pose
from edgepose.runtime.base import Backend

#: COCO's per-keypoint OKS constants (sigmas) in COCO-17 order.
COCO17_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0

Maps = tuple[np.ndarray, np.ndarray]


def _keras_runner(path: Path, config: ModelConfig) -> Callable[[np.ndarray], Maps]:
    from edgepose.models import load_keras

    model, _ = load_keras(path)

    def run(batch: np.ndarray) -> Maps:
        h, p = model.predict(batch, verbose=0)
        return h, p

    return run


def _saved_model_runner(path: Path, config: ModelConfig) -> Callable[[np.ndarray], Maps]:
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]

    def run(batch: np.ndarray) -> Maps:
        out = [signature(image=tf.constant(x[None])) for x in batch]
        return (np.concatenate([o["heatmaps"].numpy() for o in out]), np.concatenate([o["pafs"].numpy() for o in out]))

    return run


def _onnx_runner(path: Path, config: ModelConfig, threads: int = 2) -> Callable[[np.ndarray], Maps]:
    ort = require("onnxruntime", "onnx", "running .onnx files")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> Maps:
        out = [session.run(["heatmaps", "pafs"], {name: x[None]}) for x in batch]
        return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])

    return run


def _openvino_runner(path: Path, config: ModelConfig, threads: int = 2) -> Callable[[np.ndarray], Maps]:
    ov = require("openvino", "openvino", "running OpenVINO IRs")
    # f32: without the hint, CPUs with bf16 units compute fp32 IRs in bf16 (max diff ~0.1).
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                          "INFERENCE_NUM_THREADS": threads})
    heat, paf = compiled.output("heatmaps"), compiled.output("pafs")
    request = compiled.create_infer_request()

    def run(batch: np.ndarray) -> Maps:
        hs, ps = [], []
        for x in batch:
            r = request.infer({0: x[None]})
            hs.append(np.array(r[heat]))
            ps.append(np.array(r[paf]))
        return np.concatenate(hs), np.concatenate(ps)

    return run


def _tflite_runner(path: Path, config: ModelConfig, threads: int = 2) -> Callable[[np.ndarray], Maps]:
    litert = require("ai_edge_litert.interpreter", "litert", "running .tflite files")
    interpreter = litert.Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    outs = {d["name"]: d for d in interpreter.get_output_details()}

    def quantize(x: np.ndarray, d: dict) -> np.ndarray:
        if not np.issubdtype(d["dtype"], np.integer):
            return x.astype(d["dtype"])
        scale, zero = d["quantization"]
        info = np.iinfo(d["dtype"])
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(d["dtype"])

    def dequantize(q: np.ndarray, d: dict) -> np.ndarray:
        if not np.issubdtype(d["dtype"], np.integer):
            return q.astype(np.float32)
        scale, zero = d["quantization"]
        return (q.astype(np.float32) - zero) * np.float32(scale)

    def run(batch: np.ndarray) -> Maps:
        hs, ps = [], []
        for x in batch:
            interpreter.set_tensor(inp["index"], quantize(x[None], inp))
            interpreter.invoke()
            hs.append(dequantize(interpreter.get_tensor(outs["heatmaps"]["index"]), outs["heatmaps"]))
            ps.append(dequantize(interpreter.get_tensor(outs["pafs"]["index"]), outs["pafs"]))
        return np.concatenate(hs), np.concatenate(ps)

    return run


_RUNNERS = {"keras": _keras_runner, "saved_model": _saved_model_runner, "onnx": _onnx_runner,
            "openvino": _openvino_runner, "tflite": _tflite_runner}


class ArtifactRunner:
    """Any edgepose artifact on its own runtime: float32 [N, H, W, 3] -> (heatmaps, pafs) float32.

    Integer (int8) models are quantized/dequantized with the scales stored in the file. OpenVINO
    runs on CPU with f32 inference precision (so fp32 IRs give fp32 results on bf16-capable CPUs).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.kind = artifact_kind(self.path)
        self.config = read_config(self.path)
        self._run = _RUNNERS[self.kind](self.path, self.config)

    def __call__(self, batch: np.ndarray) -> Maps:
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        return self._run(batch)


class ArtifactBackend(Backend):
    """An ``ArtifactRunner`` behind the runtime ``Backend`` protocol, so ``PoseEstimator`` and
    ``edgepose.eval.validate`` can run exported models before the real backends exist."""

    name = "artifact"

    def __init__(self, path: str | os.PathLike) -> None:
        runner = ArtifactRunner(path)
        super().__init__(runner.path, runner.config)
        self.name = f"artifact:{runner.kind}"
        self._runner = runner

    def infer(self, batch: np.ndarray) -> Maps:
        return self._runner(self.check_input(batch))


def max_abs_diff(a: Maps, b: Maps) -> tuple[float, float]:
    """(max |heatmaps diff|, max |pafs diff|) over all pixels and channels."""
    return float(np.max(np.abs(a[0] - b[0]))), float(np.max(np.abs(a[1] - b[1])))


def oks(reference: Pose, other: Pose, min_area: float = 4.0) -> float:
    """COCO object keypoint similarity of ``other`` to ``reference`` (both in the same pixels).

    Keypoints visible in the reference count; one missing in ``other`` scores 0. The object area
    is the reference keypoints' bounding-box area (at least ``min_area`` pixels^2).
    """
    ref, oth = reference.to_coco17(), other.to_coco17()
    visible = ref[:, 2] > 0
    if not visible.any():
        return 0.0
    _, _, w, h = reference.bbox()
    area = max(w * h, min_area)
    d2 = np.sum((ref[:, :2] - oth[:, :2]) ** 2, axis=1)
    k2 = (2 * COCO17_SIGMAS) ** 2
    sim = np.exp(-d2 / (2 * area * k2))
    sim = np.where(oth[:, 2] > 0, sim, 0.0)
    return float(sim[visible].mean())


def match_people(reference: list[Pose], other: list[Pose], threshold: float = 0.9) -> tuple[int, int, list[float]]:
    """Greedy one-to-one matching by OKS: (reference people matched with OKS >= threshold,
    reference people, best OKS per reference person)."""
    pairs = sorted(((oks(r, o), i, j) for i, r in enumerate(reference) for j, o in enumerate(other)), reverse=True)
    best = [0.0] * len(reference)
    used_r, used_o = set(), set()
    for score, i, j in pairs:
        if i in used_r or j in used_o:
            continue
        used_r.add(i)
        used_o.add(j)
        best[i] = score
    return sum(s >= threshold for s in best), len(reference), best


def coco_ap(path: str | os.PathLike, images_dir: str | os.PathLike, annotations: str | os.PathLike,
            *, own_runner: bool = False) -> dict:
    """COCO keypoint metrics of an exported artifact on a folder of annotated photos.

    Runs through ``edgepose.load`` (the runtime backends), or through ``ArtifactBackend`` with
    ``own_runner=True``; returns ``edgepose.eval.validate``'s result (``["metrics"]["AP"]``...).
    """
    from edgepose.estimator import PoseEstimator, load
    from edgepose.eval import validate

    estimator = PoseEstimator(ArtifactBackend(path)) if own_runner else load(path)
    return validate(estimator, images_dir, annotations, progress=False)
