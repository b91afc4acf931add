"""``edgepose predict``: poses on images, folders and videos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgepose.cli.common import add_model_options, load_from_args
from edgepose.record import image_record

EXAMPLES = """examples:
  edgepose predict photo.jpg                        writes runs/predict/photo.jpg and photo.json
  edgepose predict photos/ clip.mp4 --output out/   a folder of images and a video
  edgepose predict photos/ --coco-results dets.json COCO keypoint results for evaluation
  edgepose predict photo.jpg --model pose_int8.tflite
  edgepose predict camera:0 --output live/          a webcam, until Ctrl-C
  edgepose predict big_folder/ --output out/        again later: skips images this model already did
  edgepose predict clip.mp4 --track --smooth        person IDs (track_id) and steady keypoints
  edgepose predict frames/ --sequence --fps 30 --track   a folder of frames as one video
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="find people and their poses in images, folders or videos",
                       description="Find people and their 18 keypoints in images, folders of images and videos. "
                       "Writes one annotated image (or video) and one JSON file per input.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders of images, video files, "
                   "cameras (camera:0)")
    add_model_options(p)
    o = p.add_argument_group("output")
    o.add_argument("--output", "-o", default="runs/predict", metavar="DIR", help="where results go (default: %(default)s)")
    o.add_argument("--coco-results", metavar="FILE", help="also write all poses as one COCO keypoint-results JSON list "
                   "(image_id = the number in each file name)")
    o.add_argument("--no-render", action="store_true", help="write JSON only, no annotated images/videos")
    o.add_argument("--overwrite", action="store_true", help="redo inputs whose JSON is already in --output "
                   "(default: skip them, so an interrupted run resumes)")
    o.add_argument("--quiet", "-q", action="store_true", help="print only the summary and errors")
    o.add_argument("--verbose", "-v", action="store_true", help="also list the files in folders that were skipped "
                   "because their suffix is not an image or video edgepose reads (the summary counts them)")
    v = p.add_argument_group("video (files, cameras, --sequence; ignored for single images)")
    v.add_argument("--track", action="store_true", help="give each person a track_id that stays the same across "
                   "frames (JSON, and one colour + ID label per person on the video)")
    v.add_argument("--track-buffer", type=int, default=30, metavar="N", help="frames a hidden person keeps "
                   "their ID (default: %(default)s)")
    v.add_argument("--smooth", action="store_true", help="One Euro smoothing of each person's keypoints, no added "
                   "latency (implies --track; parameters in docs/tracking.md)")
    v.add_argument("--sequence", action="store_true", help="treat each folder INPUT as the frames of one video "
                   "(files in natural name order) instead of separate images")
    v.add_argument("--fps", type=float, default=25.0, help="frame rate of --sequence folders (default: %(default)s)")
    p.set_defaults(run=run)


def _unique_stem(path: Path, seen: set[str]) -> str:
    stem, i = path.stem, 1
    while stem in seen:
        stem, i = f"{path.stem}_{i}", i + 1
    seen.add(stem)
    return stem


def _done_by_same_model(record_path: Path, described: dict) -> bool:
    """True if an earlier run wrote this input's JSON with the same model and settings."""
    try:
        return json.loads(record_path.read_text()).get("model") == json.loads(json.dumps(described))
    except (OSError, ValueError, AttributeError):  # absent, or not a whole JSON object: redo it
        return False


def _poses_from_record(path: Path) -> list:
    """The poses of a JSON written by an earlier run (for --coco-results of skipped images)."""
    import numpy as np

    from edgepose.pose import Pose

    people = json.loads(path.read_text())["people"]
    return [Pose(np.asarray(p["pose_keypoints_2d"], np.float32).reshape(-1, 3), p["score"]) for p in people]


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edgepose.errors import EdgeposeError
    from edgepose.eval.coco import coco_image_id
    from edgepose.image_io import describe_skipped, expand_inputs, is_video, read_image
    from edgepose.io_utils import write_atomic
    from edgepose.render import draw_poses

    from edgepose.video import is_camera

    cameras = [i for i in args.inputs if is_camera(i) and not Path(i).exists()]
    unread: list[Path] = []
    sequences = [Path(i) for i in args.inputs if args.sequence and Path(i).is_dir()]
    files, failed = expand_inputs([i for i in args.inputs if i not in cameras and Path(i) not in sequences],
                                  skipped=unread)
    files = [*files, *sequences, *cameras]
    if args.track_buffer < 0 or args.fps <= 0:
        raise EdgeposeError("--track-buffer must be >= 0 and --fps positive")
    if not files and failed:
        for item, why in failed:
            print(f"  {item}: {why}", file=sys.stderr)
        raise EdgeposeError("nothing to do: no input could be found")
    est = load_from_args(args)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    described = est.describe()
    coco: list[dict] = []
    seen: set[str] = set()
    people_total = 0
    skipped = 0
    show_bar = len(files) > 1 and not args.quiet
    bar = tqdm(files, desc="predict", unit="file", disable=not show_bar, file=sys.stderr)
    for path in bar:
        camera = path in cameras
        stem = _unique_stem(Path(str(path).replace(":", "")) if camera else path, seen)
        if not args.overwrite and not camera and _done_by_same_model(out_dir / f"{stem}.json", described):
            skipped += 1
            if args.coco_results and not is_video(path):
                image_id = coco_image_id(path)
                if image_id is not None:
                    coco.extend(p.to_coco_result(image_id) for p in _poses_from_record(out_dir / f"{stem}.json"))
            continue
        try:
            if path in sequences:
                from edgepose.video import process_sequence

                summary = process_sequence(est, path, out_dir / f"{stem}.mp4", out_dir / f"{stem}.json", fps=args.fps,
                                           render=not args.no_render, progress=not args.quiet,
                                           tracker=_tracker(args))
                people_total += summary["people"]
                failed.extend(summary["failed"])
                msg = f"{path}: {summary['frames']} frames, {summary['fps']:.1f} FPS -> {out_dir / stem}.mp4"
            elif camera or is_video(path):
                from edgepose.video import process_video

                summary = process_video(est, path, out_dir / f"{stem}.mp4", out_dir / f"{stem}.json",
                                        render=not args.no_render, progress=not args.quiet, tracker=_tracker(args))
                people_total += summary["people"]
                msg = f"{path}: {summary['frames']} frames, {summary['fps']:.1f} FPS -> {out_dir / stem}.mp4"
            else:
                image = read_image(path)
                pred = est.predict(image)
                people_total += len(pred.poses)
                write_atomic(out_dir / f"{stem}.json", json.dumps(image_record(path, pred, described), indent=1))
                if not args.no_render:
                    import cv2

                    ok, buf = cv2.imencode(".jpg", draw_poses(image, pred.poses), [cv2.IMWRITE_JPEG_QUALITY, 92])
                    write_atomic(out_dir / f"{stem}.jpg", buf.tobytes())
                if args.coco_results:
                    image_id = coco_image_id(path)
                    if image_id is None:
                        raise EdgeposeError(f"{path}: no number in the file name to use as COCO image_id")
                    coco.extend(p.to_coco_result(image_id) for p in pred.poses)
                t = pred.timings_ms
                msg = (f"{path}: {_people(len(pred.poses))} ({pred.input_size[0]}x{pred.input_size[1]}, "
                       f"infer {t['infer']:.0f} ms, decode {t['decode']:.1f} ms) -> {out_dir / stem}.json")
        except EdgeposeError as e:
            failed.append((str(path), str(e).removeprefix(f"{path}: ")))
            continue
        if not args.quiet:
            (bar.write if show_bar else print)(msg)
    if args.coco_results:
        write_atomic(args.coco_results, json.dumps(coco))
    ok = len(files) - sum(1 for f, _ in failed if Path(f) in set(files))
    if skipped:
        print(f"{skipped} input(s) skipped: done by the same model in an earlier run (--overwrite redoes them)")
    if unread:
        print(describe_skipped(unread) + ("" if args.verbose else " (--verbose lists them)"))
        if args.verbose:
            for f in unread:
                print(f"  skipped {f}")
    print(f"{ok} of {len(files)} inputs done, {_people(people_total)} found; results in {out_dir}/"
          + (f"; COCO results in {args.coco_results}" if args.coco_results else ""))
    if failed:
        print(f"{len(failed)} input(s) failed:", file=sys.stderr)
        for item, why in failed:
            print(f"  {item}: {why}", file=sys.stderr)
        return 1
    return 0


def _tracker(args: argparse.Namespace):
    """A fresh tracker for one video if --track or --smooth was given, else None."""
    if not (args.track or args.smooth):
        return None
    from edgepose.track import Tracker

    return Tracker(args.track_buffer, smooth=args.smooth)


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"
