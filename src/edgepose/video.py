"""Videos and cameras: frames in, poses and an annotated video out, with inference overlapped.

The pipeline keeps every stage busy at once::

    reader thread         main thread                       writer thread
    read + letterbox ──►  infer (async / own thread)  ──►   draw + encode frame
       frame t+2          decode frame t, JSON              frame t-1

Inference of frame t+1 runs while frame t is decoded and drawn: on OpenVINO through its
``AsyncInferQueue`` (``backend.infer_stream``), on other backends in an inference thread (every
runtime releases the GIL while it computes). Queues are bounded, so memory stays constant for
any length of video; per-frame JSON is streamed to disk; output files appear whole or not at all.

    summary = process_video(est, "clip.mp4", Path("out.mp4"), Path("out.json"), tracker=Tracker())
    summary = process_sequence(est, "frames/", Path("out.mp4"), Path("out.json"), fps=30)
    for frame, pred in stream_predictions(est, frames):  ...   # any iterable of BGR frames
"""

from __future__ import annotations

import collections
import contextlib
import json
import queue
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import cv2
import numpy as np

from edgepose.errors import EdgeposeError
from edgepose.image_io import open_video
from edgepose.io_utils import atomic_path

#: how many frames may wait between two stages (bounds memory; 2 is enough to hide jitter)
QUEUE_DEPTH = 2
_CAMERA = re.compile(r"^(?:camera|cam|webcam|video)?:?(\d+)$", re.IGNORECASE)
_END = object()


def parse_source(source: str | Path | int) -> str | int:
    """A video file path, or a camera index from ``0``, ``"camera:0"``, ``"cam:1"``, ``"webcam:0"``."""
    if isinstance(source, int):
        return source
    text = str(source)
    m = _CAMERA.match(text)
    if m and not Path(text).exists():
        return int(m.group(1))
    return text


def is_camera(source: str | Path | int) -> bool:
    """True if ``source`` names a camera (see ``parse_source``)."""
    return isinstance(parse_source(source), int)


def source_name(source: str | Path | int) -> str:
    src = parse_source(source)
    return f"camera:{src}" if isinstance(src, int) else Path(src).name


# --------------------------------------------------------------------------------------------
# stages


class _Stage(threading.Thread):
    """A daemon thread that runs ``body`` and keeps its exception for the main thread."""

    def __init__(self, name: str, body: Callable[[], None]) -> None:
        super().__init__(name=f"edgepose-{name}", daemon=True)
        self._body = body
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._body()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self.error = e


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Puts ``item`` unless ``stop`` is set meanwhile; False if it was not put."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, producer: _Stage) -> Any:
    """Next item from ``q``; raises the producer's error if it died without sending ``_END``."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if not producer.is_alive():
                if producer.error is not None:
                    raise producer.error
                try:
                    return q.get_nowait()
                except queue.Empty:
                    return _END


def threaded_infer_stream(backend: Any, items: Iterable[tuple[Any, np.ndarray]], depth: int = QUEUE_DEPTH
                          ) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
    """``infer_stream`` for backends without their own: ``backend.infer`` in one inference thread.

    (key, input float32 [1, H, W, 3]) in -> (key, heatmaps [1, h, w, 19], pafs [1, h, w, 38]) out,
    in order, with up to ``depth`` inputs queued ahead of the inference thread.
    """
    from edgepose.runtime._common import parallel_stream

    return parallel_stream([backend.infer], items, depth=depth)


def infer_stream(backend: Any, items: Iterable[tuple[Any, np.ndarray]], depth: int = QUEUE_DEPTH
                 ) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
    """Pipelined inference on any backend: its own ``infer_stream`` (OpenVINO's async queue;
    LiteRT and ONNX Runtime: one single-threaded worker per core) or one inference thread."""
    own = getattr(backend, "infer_stream", None)
    if own is not None:
        return own(items, depth=depth)
    return threaded_infer_stream(backend, items, depth=depth)


def stream_predictions(estimator: Any, frames: Iterable[np.ndarray], *, depth: int = QUEUE_DEPTH
                       ) -> Iterator[tuple[np.ndarray, Any]]:
    """Poses of a stream of BGR uint8 frames [h, w, 3], pipelined: yields (frame, Prediction).

    Frames are read and letterboxed in a reader thread, inferred ahead (see ``infer_stream``) and
    decoded here, so reading, inference and decoding of different frames overlap. Results are
    those of ``estimator.predict(frame)``, in order. ``Prediction.timings_ms`` holds preprocess,
    infer (submit to result, including waiting for a free request) and decode.
    """
    from edgepose.estimator import Prediction

    prepared: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        for frame in frames:
            t0 = time.perf_counter()
            x, box = estimator.preprocess(frame)
            t1 = time.perf_counter()
            if not _put(prepared, (frame, x, box, (t1 - t0) * 1e3), stop):
                return
        _put(prepared, _END, stop)

    reader = _Stage("reader", read)
    reader.start()
    submitted: dict[int, float] = {}

    def items() -> Iterator[tuple[Any, np.ndarray]]:
        i = 0
        while (item := _get(prepared, reader)) is not _END:
            frame, x, box, pre_ms = item
            submitted[i] = time.perf_counter()
            yield (i, frame, box, pre_ms), x[None]
            i += 1

    try:
        for (i, frame, box, pre_ms), hm, pf in infer_stream(estimator.backend, items(), depth=depth):
            t2 = time.perf_counter()
            poses = estimator.postprocess(hm[0], pf[0], box)
            t3 = time.perf_counter()
            timings = {"preprocess": pre_ms, "infer": (t2 - submitted.pop(i)) * 1e3, "decode": (t3 - t2) * 1e3}
            yield frame, Prediction(poses, tuple(frame.shape[:2]), tuple(box.input_size), timings)
        if reader.error is not None:
            raise reader.error
    finally:
        stop.set()
        reader.join(timeout=30)


def sync_predictions(estimator: Any, frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, Any]]:
    """The same as ``stream_predictions``, one frame at a time (the baseline it is measured against)."""
    for frame in frames:
        yield frame, estimator.predict(frame)


# --------------------------------------------------------------------------------------------
# video files and cameras


class _Frames:
    """Frames of an opened capture; counts them, notes each one's index and time in ``meta`` (read
    by the main thread in the same order) and stops cleanly on Ctrl-C for a camera.

    A file's frame i is at i / fps seconds; a camera's frames are timed by the clock as read.
    """

    def __init__(self, cap: "cv2.VideoCapture", camera: bool, max_frames: int | None, fps: float = 25.0) -> None:
        self.cap = cap
        self.camera = camera
        self.max_frames = max_frames
        self.fps = fps
        self.count = 0
        self.stop = threading.Event()
        self.meta: collections.deque[dict] = collections.deque()
        self.failed: list[tuple[str, str]] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        t0 = None
        while not self.stop.is_set() and (self.max_frames is None or self.count < self.max_frames):
            ok, frame = self.cap.read()
            if not ok or frame is None:
                return
            now = time.perf_counter()
            t0 = now if t0 is None else t0
            self.meta.append({"frame": self.count,
                              "time_s": round(now - t0 if self.camera else self.count / self.fps, 4)})
            self.count += 1
            yield frame


class _SequenceFrames(_Frames):
    """The image files of a folder, in name order, as the frames of a video at ``fps``.

    Files that cannot be read are skipped and listed in ``failed``; frame i (counting skipped
    ones) is at i / fps seconds.
    """

    def __init__(self, files: list[Path], fps: float, max_frames: int | None) -> None:
        super().__init__(None, False, max_frames, fps)
        self.files = files

    def __iter__(self) -> Iterator[np.ndarray]:
        from edgepose.image_io import read_image

        for i, path in enumerate(self.files):
            if self.stop.is_set() or (self.max_frames is not None and self.count >= self.max_frames):
                return
            try:
                frame = read_image(path)
            except EdgeposeError as e:
                self.failed.append((str(path), str(e).removeprefix(f"{path}: ")))
                continue
            self.meta.append({"frame": i, "time_s": round(i / self.fps, 4), "image": path.name})
            self.count += 1
            yield frame


def sequence_files(folder: str | Path) -> list[Path]:
    """The image files of a folder in natural name order (frame_2 before frame_10)."""
    from edgepose.image_io import IMAGE_SUFFIXES

    def key(p: Path) -> list:
        return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]

    folder = Path(folder)
    if not folder.is_dir():
        raise EdgeposeError(f"{folder}: --sequence needs a folder of frames")
    files = sorted((f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES), key=key)
    if not files:
        raise EdgeposeError(f"{folder}: the folder holds no image files")
    return files


class _VideoSink:
    """Draws poses on frames and encodes them in a writer thread, into a temporary file."""

    def __init__(self, path: Path, fps: float, depth: int = QUEUE_DEPTH, draw: Callable | None = None) -> None:
        self.path = path
        self.fps = fps
        self.draw = draw
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.thread = _Stage("writer", self._run)
        self.thread.start()

    def _run(self) -> None:
        from edgepose.render import draw_poses

        writer = None
        try:
            while (item := self.q.get()) is not _END:
                frame, poses = item
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
                    if not writer.isOpened():
                        raise EdgeposeError(f"{self.path}: OpenCV cannot write an mp4v video here")
                drawn = (self.draw or draw_poses)(frame, poses)
                if drawn.shape[:2] != (h, w):  # a sequence's frames may differ in size
                    drawn = cv2.resize(drawn, (w, h), interpolation=cv2.INTER_AREA)
                writer.write(drawn)
        finally:
            if writer is not None:
                writer.release()

    def _send(self, item: Any) -> None:
        while True:
            if self.thread.error is not None:
                raise self.thread.error
            if not self.thread.is_alive():
                raise EdgeposeError(f"{self.path}: the video writer stopped")
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def write(self, frame: np.ndarray, poses: list) -> None:
        """Queues one frame [h, w, 3] BGR uint8 and its poses (blocks while the writer is behind)."""
        self._send((frame, poses))

    def close(self) -> None:
        """Waits for every frame to be written; raises the writer's error, if any."""
        self._send(_END)
        self.thread.join()
        if self.thread.error is not None:
            raise self.thread.error

    def abort(self) -> None:
        """Stops the writer without waiting for queued frames (the temporary file is discarded)."""
        with contextlib.suppress(queue.Empty):
            while True:
                self.q.get_nowait()
        with contextlib.suppress(queue.Full):
            self.q.put_nowait(_END)
        self.thread.join(timeout=30)


class _JsonFrames:
    """``{"video": ..., "frames": [...]}`` written frame by frame (constant memory)."""

    def __init__(self, f: Any, source: str) -> None:
        self.f = f
        self.n = 0
        f.write('{"video": ' + json.dumps(source) + ', "frames": [\n')

    def add(self, record: dict) -> None:
        self.f.write((",\n" if self.n else "") + json.dumps(record))
        self.n += 1

    def close(self, extra: dict) -> None:
        tail = "".join(f", {json.dumps(k)}: {json.dumps(v)}" for k, v in extra.items())
        self.f.write("\n]" + tail + "}\n")


def process_video(estimator: Any, source: str | Path | int, video_out: Path | None, json_out: Path | None, *,
                  render: bool = True, progress: bool = True, stream: bool = True,
                  max_frames: int | None = None, tracker: Any | None = None, draw: Callable | None = None) -> dict:
    """Runs ``estimator`` on every frame of a video file or camera; writes the annotated video
    (mp4v) and the per-frame JSON, each atomically.

    source: a video file, or a camera as ``0`` / ``"camera:0"``. stream: overlap reading,
    inference and decoding (False: one frame after the other). max_frames: stop after this many
    (a camera otherwise runs until Ctrl-C, which ends it cleanly). tracker: an
    ``edgepose.track.Tracker`` (or anything with ``update(poses, time_s) -> poses``) run on each
    frame's poses, in order: people then carry a ``track_id``. draw: how frames are rendered,
    ``(frame, poses) -> frame`` (default ``render.draw_poses``).
    The JSON holds per frame its index, ``time_s`` (seconds into the source) and people, and at
    the end ``source_fps`` (the video's own rate) and ``processing_fps`` (frames processed per second).
    Returns {"frames": n, "people": total, "fps": processing frames per second, "source_fps": ...,
    "mode": ...}. Raises EdgeposeError for a source that cannot be opened or yields no frame.
    """
    src = parse_source(source)
    camera = isinstance(src, int)
    name = f"camera:{src}" if camera else str(src)
    cap = open_video(src)
    fps_in = cap.get(cv2.CAP_PROP_FPS)
    fps_in = fps_in if fps_in and 1.0 <= fps_in <= 240.0 else 25.0
    total = None if camera else (int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None)
    frames = _Frames(cap, camera, max_frames, fps_in)
    try:
        summary = _process(estimator, frames, name, source_name(src), fps_in, total, video_out, json_out,
                           render=render, progress=progress, stream=stream, max_frames=max_frames, tracker=tracker,
                           camera=camera, draw=draw)
    finally:
        cap.release()
    done = summary["frames"]
    if total and done < total and max_frames is None:
        print(f"warning: {name}: the video ended early ({done} of {total} frames readable); "
              "results cover the frames read", file=sys.stderr)
    return summary


def process_sequence(estimator: Any, folder: str | Path, video_out: Path | None, json_out: Path | None, *,
                     fps: float = 25.0, render: bool = True, progress: bool = True, stream: bool = True,
                     max_frames: int | None = None, tracker: Any | None = None, draw: Callable | None = None) -> dict:
    """``process_video`` for a folder of frames (a camera's image dump): its image files in natural
    name order are the frames of a video at ``fps``. Unreadable files are skipped; the summary's
    ``"failed"`` lists them as (file, why), and the JSON names each frame's ``image``.
    """
    if fps <= 0:
        raise EdgeposeError(f"the frame rate must be positive, got {fps}")
    files = sequence_files(folder)
    frames = _SequenceFrames(files, fps, max_frames)
    summary = _process(estimator, frames, str(folder), Path(folder).name, fps, len(files), video_out, json_out,
                       render=render, progress=progress, stream=stream, max_frames=max_frames, tracker=tracker,
                       camera=False, draw=draw)
    summary["failed"] = list(frames.failed)
    return summary


def _process(estimator: Any, frames: _Frames, name: str, label: str, fps_in: float, total: int | None,
             video_out: Path | None, json_out: Path | None, *, render: bool, progress: bool, stream: bool,
             max_frames: int | None, tracker: Any | None, camera: bool, draw: Callable | None = None) -> dict:
    """The loop of ``process_video`` and ``process_sequence``: frames -> poses -> video + JSON."""
    from tqdm import tqdm

    people = 0
    done = 0
    recent: collections.deque[float] = collections.deque(maxlen=30)
    with contextlib.ExitStack() as stack:
        sink = None
        if render and video_out is not None:
            tmp_video = stack.enter_context(atomic_path(video_out))
            sink = _VideoSink(tmp_video, fps_in, draw=draw)
        jframes = None
        if json_out is not None:
            tmp_json = stack.enter_context(atomic_path(json_out))
            jframes = _JsonFrames(stack.enter_context(open(tmp_json, "w")), name)
        bar = stack.enter_context(tqdm(total=total if max_frames is None else min(total or max_frames, max_frames),
                                       desc=label, unit="frame", disable=not progress,
                                       file=sys.stderr, leave=False))
        # Augmented passes are run by estimator.predict only: one frame after the other.
        stream = stream and getattr(estimator, "augment", None) is None
        run = stream_predictions(estimator, frames) if stream else sync_predictions(estimator, frames)
        t0 = time.perf_counter()
        try:
            try:
                for frame, pred in run:
                    meta = frames.meta.popleft()
                    poses, timings = pred.poses, dict(pred.timings_ms)
                    if tracker is not None:
                        t_track = time.perf_counter()
                        poses = tracker.update(poses, time_s=meta["time_s"])
                        timings["track"] = (time.perf_counter() - t_track) * 1e3
                    people += len(poses)
                    if jframes is not None:
                        jframes.add({**meta, "timings_ms": {k: round(v, 3) for k, v in timings.items()},
                                     "people": [{**p.to_dict(), **p.to_openpose()} for p in poses]})
                    if sink is not None:
                        sink.write(frame, poses)
                    done += 1
                    now = time.perf_counter()
                    recent.append(now)
                    bar.update(1)
                    if len(recent) > 1:
                        bar.set_postfix(fps=f"{(len(recent) - 1) / (recent[-1] - recent[0]):.1f}", refresh=False)
            except KeyboardInterrupt:
                if not camera:
                    raise
                frames.stop.set()  # a camera ends with Ctrl-C: keep what was recorded
            finally:
                if hasattr(run, "close"):
                    run.close()
            if done == 0:
                raise EdgeposeError(f"{name}: no frame could be read"
                                    + (" (is the camera in use?)" if camera else
                                       " from the video (corrupt or unsupported codec)"
                                       if not isinstance(frames, _SequenceFrames) else " (no readable image)"))
            elapsed = time.perf_counter() - t0
            if sink is not None:
                sink.close()
            if jframes is not None:
                tail = {"source_fps": round(fps_in, 3), "processing_fps": round(done / elapsed, 3),
                        "backend": estimator.describe()}
                if tracker is not None and hasattr(tracker, "describe"):
                    tail["tracking"] = tracker.describe()
                if frames.failed:
                    tail["failed"] = [{"file": f, "error": why} for f, why in frames.failed]
                jframes.close(tail)
        except BaseException:
            if sink is not None:
                sink.abort()
            raise
    return {"frames": done, "people": people, "fps": done / elapsed if elapsed > 0 else 0.0,
            "source_fps": fps_in, "mode": "streaming" if stream else "sync"}
