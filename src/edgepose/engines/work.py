"""One input, start to end: read, predict, write JSON and render; the same code for every engine."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgepose.engines.inputs import Input, is_uri, is_video_input, read_bytes, read_image_input, suffix_of
from edgepose.engines.records import done_by_same_model, load_record, person_rows, poses_of
from edgepose.errors import EdgeposeError


@dataclass(frozen=True)
class Options:
    """How inputs are processed.

    out_dir: where JSON and renders go (on a cluster: a folder every node sees).
    render: "overlay" (poses on the photo), "openpose" (skeleton on black) or None (JSON only).
    overwrite: redo inputs whose JSON an earlier run with the same model wrote.
    coco: also return COCO keypoint results (``image_id`` = the number in the file name).
    progress: per-video progress bars.
    track_buffer: track people across a video's frames, keeping a hidden person's ID this many
        frames (None: no tracking); smooth: One Euro smoothing of tracked keypoints.
    sequence_fps: frame rate of folder inputs run as one video (``--sequence``).
    """

    out_dir: str
    render: str | None = "overlay"
    overwrite: bool = False
    coco: bool = False
    progress: bool = False
    track_buffer: int | None = None
    smooth: bool = False
    sequence_fps: float = 25.0

    def tracker(self):
        """A fresh tracker for one video, or None."""
        if self.track_buffer is None and not self.smooth:
            return None
        from edgepose.track import Tracker

        return Tracker(30 if self.track_buffer is None else self.track_buffer, smooth=self.smooth)


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def _coco_of(item: Input, people: list[dict]) -> list[dict]:
    """COCO keypoint results of a record's people (``image_id`` = the number in the file name)."""
    from edgepose.eval.coco import coco_image_id

    image_id = coco_image_id(str(item))
    if image_id is None:
        raise EdgeposeError(f"{item}: no number in the file name to use as COCO image_id")
    return [p.to_coco_result(image_id) for p in poses_of(people)]


def _write_image(path: Path, image) -> None:
    """JPEG for overlays on photos; lossless PNG for OpenPose renders (flat colours on black)."""
    import cv2

    from edgepose.io_utils import write_atomic

    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix == ".jpg" else []
    ok, buf = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise EdgeposeError(f"{path}: OpenCV could not encode the rendered image")
    write_atomic(path, buf.tobytes())


def process(estimator, item: Input, stem: str, described: dict, options: Options) -> dict:
    """Runs one image or video input; never raises for a bad input.

    Returns {"input", "stem", "status": "done" | "skipped" | "failed", "error", "people" (total),
    "frames", "rows" (``records.person_rows``), "coco" (COCO results of an image), "message",
    for a --sequence folder "failed_files" (frames that could not be read, as (file, why)),
    and for a processed image "timings_ms": read (file to pixels), the estimator's steps, write
    (JSON and render)}.
    """
    from edgepose.io_utils import write_atomic
    from edgepose.record import image_record
    from edgepose.render import renderer

    out_dir = Path(options.out_dir)
    name = str(item)
    sequence = isinstance(item, Path) and item.is_dir()  # a folder given with --sequence: one video
    video = sequence or is_video_input(item)
    json_path = out_dir / f"{stem}.json"
    result = {"input": name, "stem": stem, "status": "done", "error": None, "people": 0, "frames": 0,
              "rows": [], "coco": [], "message": ""}
    try:
        record = None if options.overwrite else load_record(json_path)
        render_suffix = ".mp4" if video else ".png" if options.render == "openpose" else ".jpg"
        render_path = out_dir / f"{stem}{render_suffix}"
        if done_by_same_model(record, described) and (not options.render or render_path.exists()):
            result["status"] = "skipped"
            result["rows"] = person_rows(record, name)
            result["people"] = len(result["rows"])
            result["frames"] = len(record.get("frames", [None]))
            if options.coco and not video:
                result["coco"] = _coco_of(item, record["people"])
            return result
        draw = renderer(options.render) if options.render else None
        if video:
            from edgepose.video import process_sequence, process_video

            if sequence:
                summary = process_sequence(estimator, item, render_path, json_path, fps=options.sequence_fps,
                                           render=draw is not None, progress=options.progress,
                                           tracker=options.tracker(), draw=draw)
                result["failed_files"] = summary["failed"]  # unreadable frames, skipped and listed
            else:
                with _local_copy(item) as path:
                    summary = process_video(estimator, path, render_path, json_path, render=draw is not None,
                                            progress=options.progress, tracker=options.tracker(), draw=draw)
            record = load_record(json_path)
            result.update(frames=summary["frames"], people=summary["people"], rows=person_rows(record, name),
                          message=f"{name}: {summary['frames']} frames, {summary['fps']:.1f} FPS -> {out_dir / stem}.mp4")
            return result
        t0 = time.perf_counter()
        image = read_image_input(item)
        t1 = time.perf_counter()
        pred = estimator.predict(image)
        t2 = time.perf_counter()
        record = image_record(name, pred, described)
        write_atomic(json_path, json.dumps(record, indent=1))
        if draw is not None:
            _write_image(render_path, draw(image, pred.poses))
        result["timings_ms"] = {"read": (t1 - t0) * 1e3, **pred.timings_ms, "write": (time.perf_counter() - t2) * 1e3}
        result.update(frames=1, people=len(pred.poses), rows=person_rows(record, name))
        t = pred.timings_ms
        result["message"] = (f"{name}: {_people(len(pred.poses))} ({pred.input_size[0]}x{pred.input_size[1]}, "
                             f"infer {t['infer']:.0f} ms, decode {t['decode']:.1f} ms) -> {json_path}")
        if options.coco:  # from the JSON's rounded keypoints, as for a resumed run: the same list either way
            result["coco"] = _coco_of(item, record["people"])
    except EdgeposeError as e:
        result.update(status="failed", error=str(e).removeprefix(f"{name}: "))
    return result


class _local_copy:
    """A local path for a video input: the file itself, or a temporary copy of a URI's content."""

    def __init__(self, item: Input) -> None:
        self.item = item
        self.tmp: str | None = None

    def __enter__(self) -> str | Path:
        if not is_uri(self.item):
            return self.item
        fd, self.tmp = tempfile.mkstemp(suffix=suffix_of(self.item))
        with os.fdopen(fd, "wb") as f:
            f.write(read_bytes(self.item))
        return self.tmp

    def __exit__(self, *exc) -> None:
        if self.tmp is not None:
            os.unlink(self.tmp)
