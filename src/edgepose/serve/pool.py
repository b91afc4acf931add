"""A bounded pool of inference workers: each worker thread owns one estimator (runtimes such as
LiteRT's interpreter or an OpenVINO infer request are not shared between threads) and takes jobs from
one bounded queue; a full queue refuses the job at once, so overload becomes a quick 503 rather than
a growing backlog."""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgepose.errors import EdgeposeError
from edgepose.estimator import DEFAULT_HEIGHT, PoseEstimator, parse_size
from edgepose.record import image_record

log = logging.getLogger("edgepose.serve")

#: Per-request heights a model of free input size accepts (multiples of its stride in this range);
#: each distinct size keeps a small estimator view, so the set is bounded.
MIN_HEIGHT, MAX_HEIGHT = 64, 1024
# (a photo's input is at most 4x as wide as tall: ``preprocess.MAX_ASPECT``; a 1 x 40000 strip is
# fitted into that, so no photo can ask for an input wider than 4 * MAX_HEIGHT)


class QueueFull(Exception):
    """Every worker is busy and the waiting line is full (HTTP 503)."""


class BadInput(EdgeposeError):
    """The client's image or options are wrong (HTTP 400)."""


@dataclass(frozen=True)
class Job:
    image: np.ndarray
    name: str
    size: str | None
    enqueued: float


class InferencePool:
    """``workers`` threads, each with its own estimator from ``make_estimator()``, behind a queue of
    ``queue_size`` waiting jobs.

    ``submit(image, name, size)`` returns a Future of the image's JSON record (as ``edgepose predict``
    writes it) or raises ``QueueFull``/``BadInput``. Uploads are decoded before they are submitted
    (``serve.images.decode_upload``), so a bad file never takes a place in the queue.
    """

    def __init__(self, make_estimator: Callable[[], PoseEstimator], workers: int = 1, queue_size: int = 8,
                 max_pixels: int = 40_000_000) -> None:
        if workers < 1:
            raise EdgeposeError(f"--workers must be at least 1, got {workers}")
        if queue_size < 0:
            raise EdgeposeError(f"--queue must be 0 or more, got {queue_size}")
        self.workers = workers
        self.queue_size = queue_size
        self.max_pixels = max_pixels
        # A slot per worker plus the waiting line: a job is refused only when all are taken.
        self._jobs: queue.Queue = queue.Queue(maxsize=workers + queue_size)
        self._estimators = [make_estimator() for _ in range(workers)]
        self.described = self._estimators[0].describe()
        self.config = self._estimators[0].config
        self.fixed_size = self._estimators[0].backend.input_size
        self.stride = self._estimators[0].config.stride
        self.default_size = self._estimators[0].size
        self._busy = 0
        self._lock = threading.Lock()
        self.counts = {"done": 0, "bad_input": 0, "failed": 0, "refused": 0}
        self._threads = [threading.Thread(target=self._work, args=(est,), name=f"edgepose-infer-{i}", daemon=True)
                         for i, est in enumerate(self._estimators)]
        for t in self._threads:
            t.start()

    # -- the client side --------------------------------------------------------------------------
    def check_size(self, size: str | None) -> str | None:
        """Validates a per-request ``size`` ("H" or "HxW"); raises ``BadInput`` saying why not."""
        if size is None or size == "":
            return None
        try:
            hw = parse_size(size)
        except EdgeposeError as e:
            raise BadInput(str(e)) from None
        if self.fixed_size is not None:
            if hw not in (tuple(self.fixed_size), self.fixed_size[0]):
                raise BadInput(f"this model is fixed to {self.fixed_size[0]}x{self.fixed_size[1]} inputs; "
                               f"size {size!r} needs a re-export")
            return None
        for v in hw if isinstance(hw, tuple) else (hw,):
            if not MIN_HEIGHT <= v <= MAX_HEIGHT or v % self.stride:
                raise BadInput(f"size {size!r}: each side must be a multiple of {self.stride} "
                               f"from {MIN_HEIGHT} to {MAX_HEIGHT}")
        return str(size)

    def submit(self, image: np.ndarray, name: str = "upload", size: str | None = None) -> Future:
        """Queues one decoded image (BGR uint8 [h, w, 3]); raises ``BadInput`` (400) for a bad
        ``size`` or ``QueueFull`` (503) at once."""
        size = self.check_size(size)
        fut: Future = Future()
        try:
            self._jobs.put_nowait((Job(image, name, size, time.perf_counter()), fut))
        except queue.Full:
            with self._lock:
                self.counts["refused"] += 1
            raise QueueFull(f"all {self.workers} worker(s) busy and {self.queue_size} request(s) waiting; "
                            "try again shortly") from None
        return fut

    def bad_input(self) -> None:
        """Counts an upload refused before it reached the pool."""
        self._count("bad_input")

    def status(self) -> dict:
        with self._lock:
            busy = self._busy
            counts = dict(self.counts)
        return {"workers": self.workers, "busy": busy, "waiting": max(0, self._jobs.qsize()),
                "queue_size": self.queue_size, "alive": sum(t.is_alive() for t in self._threads), **counts}

    def close(self) -> None:
        """Stops the workers after the jobs already queued."""
        for _ in self._threads:
            self._jobs.put((None, None))
        for t in self._threads:
            t.join(timeout=30)

    # -- the worker side --------------------------------------------------------------------------
    def _work(self, est: PoseEstimator) -> None:
        views: dict[str, PoseEstimator] = {}
        while True:
            job, fut = self._jobs.get()
            if job is None:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            with self._lock:
                self._busy += 1
            try:
                waited = (time.perf_counter() - job.enqueued) * 1e3
                runner = est
                if job.size is not None:
                    runner = views.pop(job.size, None) or PoseEstimator(est.backend, est.decoder, job.size)
                    views[job.size] = runner  # most recently used last
                    if len(views) > 16:
                        del views[next(iter(views))]
                pred = runner.predict(job.image)
                pred.timings_ms["queue"] = waited
                record = image_record(job.name, pred, runner.describe())
            except EdgeposeError as e:
                self._count("bad_input")
                fut.set_exception(BadInput(str(e)))
            except Exception as e:  # never let a job end the worker
                log.exception("inference failed on %s", job.name)
                self._count("failed")
                fut.set_exception(e)
            else:
                self._count("done")
                fut.set_result(record)
            finally:
                with self._lock:
                    self._busy -= 1
                del job, fut

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1
