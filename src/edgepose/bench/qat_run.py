"""One quantisation-aware training run, exported and measured: how docs/int8.md's QAT rows were made.

    python -m edgepose.bench.qat_run --calibration ../shared/data/calibration \\
        --qat-images train_photos/ --images ../shared/data/coco_sample/images \\
        --annotations ../shared/data/coco_sample/person_keypoints.json --steps 300 --part tuning

Trains one fake-quant student (``edgepose.export(..., qat_steps=N)``'s path, shared by both files),
writes the full-int8 TFLite and the OpenVINO int8 IR, and prints their COCO AP on ``--part`` of the
fixed split, with the same-size fp32 model's AP and their agreement with it (``bench.agreement``), as
JSON (and appends it to ``--log``). ``--qat-images`` must not hold evaluation photos.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def run_tag(args: argparse.Namespace) -> str:
    """The output files' stem: the options that differ between docs/int8.md's rows."""
    pieces = [
        "mse" if args.range_rule == "mse" else "",
        "gptq" if args.gptq else "",
        "" if args.snap and not args.keep_dead else "old",
        f"s{args.steps}", f"lr{args.lr:g}", f"rlr{args.range_lr:g}", f"w{args.people_weight:g}",
        "cos" if args.schedule == "cosine" else "",
        f"seed{args.seed}" if args.seed else "",
        args.size,
    ]
    return "_".join(p for p in pieces if p)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="432x576")
    p.add_argument("--calibration", required=True)
    p.add_argument("--qat-images")
    p.add_argument("--images", required=True)
    p.add_argument("--annotations", required=True)
    p.add_argument("--part", default="tuning", help="comma-separated parts of the fixed split (or 'all')")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--range-lr", type=float, default=1e-3)
    p.add_argument("--people-weight", type=float, default=4.0)
    p.add_argument("--crop", default="184x216")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--quantile", type=float, default=1.0, help="initial ranges: 1 = min/max, else a percentile")
    p.add_argument("--range-rule", choices=("minmax", "mse"), default="minmax",
                   help="initial ranges with --quantile 1: min/max, or shrunk by x^2-weighted MSE")
    p.add_argument("--no-gptq", dest="gptq", action="store_false", help="start from fold + equalise only")
    p.add_argument("--keep-dead", action="store_true",
                   help="do not zero the always-0 channels (the student before 2026-12-03 05:00; diagnostics)")
    p.add_argument("--no-snap", dest="snap", action="store_false",
                   help="do not round the biases to LiteRT's int32 grid (the student before 2026-12-03 05:00)")
    p.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                   help="learning rates constant, or cosine-decayed to 0 over --steps")
    p.add_argument("--seed", type=int, default=0, help="training sample order and augmentation seed")
    p.add_argument("--formats", default="tflite,openvino")
    p.add_argument("--out", default="runs/qat")
    p.add_argument("--log", default="runs/qat/log.jsonl")
    args = p.parse_args(argv)

    from edgepose.bench.agreement import measure, split_parts
    from edgepose.estimator import parse_fixed_size
    from edgepose.export import ExportSource, export

    parts = split_parts(p, args.part)

    size = parse_fixed_size(args.size)
    crop = parse_fixed_size(args.crop)
    options = {"learning_rate": args.lr, "range_learning_rate": args.range_lr, "people_weight": args.people_weight,
               "crop": crop, "batch_size": args.batch, "quantile": args.quantile if args.quantile < 1 else None,
               "gptq": args.gptq, "range_rule": args.range_rule, "zero_dead": not args.keep_dead, "snap": args.snap,
               "schedule": args.schedule, "seed": args.seed}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = run_tag(args)
    t0 = time.time()
    row = {"tag": tag, **{k: v for k, v in vars(args).items()}}
    with ExportSource(None, size=size, calibration=args.calibration, qat_steps=args.steps,
                      qat_images=args.qat_images, qat_options=options) as src:
        src.prepared("int8")
        row["train_seconds"] = round(time.time() - t0)
        row["losses"] = src.qat_report.losses
        files = {}
        for fmt in args.formats.split(","):
            suffix = ".tflite" if fmt == "tflite" else ".xml"
            files[fmt] = export(src, fmt, "int8", output=out / f"{tag}{suffix}").path
    row["export_seconds"] = round(time.time() - t0)
    measured = measure(list(files.values()), args.images, args.annotations, parts, size)
    for part, found in measured.items():
        row[f"fp32_{part}_AP"] = round(found["fp32_AP"], 1)
        for fmt, path in files.items():
            row[f"{fmt}_{part}_AP"] = round(found[str(path)]["AP"], 1)
            row[f"{fmt}_{part}_agreement"] = {k: v for k, v in found[str(path)].items() if k != "AP"}
    row["total_seconds"] = round(time.time() - t0)
    print(json.dumps(row))
    with open(args.log, "a") as f:
        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
