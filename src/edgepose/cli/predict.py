"""``edgepose predict``: poses on images, folders and videos."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgepose.cli.common import add_model_options, load_from_args
from edgepose.record import image_record  # noqa: F401 - the per-image JSON, importable from here as before

EXAMPLES = """examples:
  edgepose predict photo.jpg                        writes runs/predict/photo.jpg and photo.json
  edgepose predict photos/ clip.mp4 --output out/   a folder of images and a video
  edgepose predict photos/ --coco-results dets.json COCO keypoint results for evaluation
  edgepose predict photo.jpg --model pose_int8.tflite
  edgepose predict camera:0 --output live/          a webcam, until Ctrl-C
  edgepose predict big_folder/ --output out/        again later: skips images this model already did
  edgepose predict clip.mp4 --track --smooth        person IDs (track_id) and steady keypoints
  edgepose predict frames/ --sequence --fps 30 --track   a folder of frames as one video
  edgepose predict photos/ --engine ray --workers 2 --coco-results dets.json   Ray Data, 2 actors; + people.parquet
  edgepose predict s3://bucket/list.parquet --engine ray --address auto -o /mnt/shared/out
  edgepose predict photo.jpg --render openpose      photo.png: the skeleton on black, for OpenPose ControlNets
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="find people and their poses in images, folders or videos",
                       description="Find people and their 18 keypoints in images, folders of images and videos. "
                       "Writes one annotated image (or video) and one JSON file per input.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders of images, video files, "
                   "cameras (camera:0), manifests (.txt, .csv, .parquet of paths); paths or URIs (s3://, gs://, file://)")
    add_model_options(p)
    e = p.add_argument_group("engine")
    e.add_argument("--engine", choices=("local", "ray"), default="local", help="local: one process (default); "
                   "ray: Ray Data, the model in a pool of actors on this machine or a cluster (pip install 'edgepose[ray]')")
    e.add_argument("--address", metavar="ADDR", help="--engine ray: the cluster to join (auto, ray://HOST:10001); "
                   "default: start a local one")
    e.add_argument("--workers", type=int, metavar="N", help="--engine ray: actors, each with its own model and "
                   "--threads threads (default 1) (default: the cluster's CPUs but one, / threads; a local cluster "
                   "has this machine's CPUs + 1)")
    o = p.add_argument_group("output")
    o.add_argument("--output", "-o", default="runs/predict", metavar="DIR", help="where results go (default: %(default)s)")
    o.add_argument("--coco-results", metavar="FILE", help="also write all poses as one COCO keypoint-results JSON list "
                   "(image_id = the number in each file name)")
    o.add_argument("--no-render", action="store_true", help="write JSON only, no annotated images/videos")
    o.add_argument("--render", choices=("overlay", "openpose"), default="overlay",
                   help="overlay: poses drawn on the photo (default); openpose: the skeleton alone on black in "
                   "OpenPose's colours, the conditioning image of OpenPose ControlNets")
    o.add_argument("--parquet", metavar="FILE", help="also write one row per person (input, frame, person, score, "
                   "keypoints) as Parquet (--engine ray: default OUTPUT/people.parquet)")
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


def run(args: argparse.Namespace) -> int:
    from edgepose.engines.inputs import expand
    from edgepose.engines.outputs import finish
    from edgepose.engines.work import Options
    from edgepose.errors import EdgeposeError
    from edgepose.video import is_camera

    cameras = [i for i in args.inputs if is_camera(i) and not Path(i).exists()]
    if cameras and args.engine != "local":
        raise EdgeposeError(f"cameras ({', '.join(cameras)}) run on the local engine only")
    if args.track_buffer < 0 or args.fps <= 0:
        raise EdgeposeError("--track-buffer must be >= 0 and --fps positive")
    sequences = [Path(i) for i in args.inputs if args.sequence and Path(i).is_dir()]
    unread: list = []
    items, failed = expand([i for i in args.inputs if i not in cameras and Path(i) not in sequences], skipped=unread)
    items = [*items, *sequences]
    if not items and not cameras and failed:
        for item, why in failed:
            print(f"  {item}: {why}", file=sys.stderr)
        raise EdgeposeError("nothing to do: no input could be found")
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    render = None if args.no_render else args.render
    track = args.track_buffer if (args.track or args.smooth) else None
    options = Options(str(out_dir), render=render, overwrite=args.overwrite, coco=bool(args.coco_results),
                      progress=not args.quiet, track_buffer=track, smooth=args.smooth, sequence_fps=args.fps)
    if args.engine == "ray":
        from edgepose.cli.common import load_kwargs_from_args
        from edgepose.engines.ray_data import run_ray

        results = run_ray(items, load_kwargs_from_args(args), options, address=args.address,
                          workers=args.workers, threads=args.threads, quiet=args.quiet)
        parquet = args.parquet or str(out_dir / "people.parquet")
    else:
        from edgepose.engines.local import run_local

        results = run_local(load_from_args(args), items, options, cameras=cameras, quiet=args.quiet)
        parquet = args.parquet
    if unread:
        from edgepose.image_io import describe_skipped

        print(describe_skipped(unread) + ("" if args.verbose else " (--verbose lists them)"))
        if args.verbose:
            for f in unread:
                print(f"  skipped {f}")
    return finish(results, failed, out_dir, coco_results=args.coco_results, parquet=parquet,
                  total=len(items) + len(cameras))
