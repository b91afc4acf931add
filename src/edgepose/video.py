"""Videos and cameras: frames in, poses and an annotated video out."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2

from edgepose.errors import EdgeposeError
from edgepose.image_io import open_video
from edgepose.io_utils import atomic_path, write_atomic
from edgepose.render import draw_poses


def process_video(estimator, source, video_out: Path | None, json_out: Path | None, *,
                  render: bool = True, progress: bool = True) -> dict:
    """Runs ``estimator`` on every frame; writes the annotated video and per-frame JSON.

    Returns {"frames": n, "people": total, "fps": frames per second end to end}.
    """
    from tqdm import tqdm

    cap = open_video(source)
    fps_in = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    frames_json = []
    people = 0
    writer = None
    t0 = time.perf_counter()
    ctx = atomic_path(video_out) if (render and video_out) else None
    tmp = ctx.__enter__() if ctx else None
    try:
        with tqdm(total=total, desc=Path(str(source)).name, unit="frame", disable=not progress, file=sys.stderr, leave=False) as bar:
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                pred = estimator.predict(frame)
                people += len(pred.poses)
                frames_json.append({"frame": i, "people": [{**p.to_dict(), **p.to_openpose()} for p in pred.poses]})
                if tmp is not None:
                    if writer is None:
                        h, w = frame.shape[:2]
                        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps_in, (w, h))
                    writer.write(draw_poses(frame, pred.poses))
                i += 1
                bar.update(1)
                bar.set_postfix(fps=f"{i / (time.perf_counter() - t0):.1f}")
        if i == 0:
            raise EdgeposeError(f"{source}: no frame could be read from the video")
        if writer is not None:
            writer.release()
            writer = None
        if ctx:
            ctx.__exit__(None, None, None)
            ctx = None
    except BaseException as e:
        if writer is not None:
            writer.release()
        if ctx:
            ctx.__exit__(type(e), e, e.__traceback__)
        raise
    finally:
        cap.release()
    elapsed = time.perf_counter() - t0
    if total and i < total:
        print(f"warning: {source}: the video ended early ({i} of {total} frames readable)", file=sys.stderr)
    if json_out:
        write_atomic(json_out, json.dumps({"video": str(source), "frames": frames_json}))
    return {"frames": i, "people": people, "fps": i / elapsed if elapsed > 0 else 0.0}
