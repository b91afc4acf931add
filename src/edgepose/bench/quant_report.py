"""The int8 table of docs/int8.md: COCO AP of each preparation step, TFLite and OpenVINO int8.

    python -m edgepose.bench.quant_report --size 368x432 [--steps naive,fold_eq,gptq,bias,distill]

For every step: the prepared Keras model, its full-int8 TFLite (int8 in/out, representative
dataset = the calibration photos) and its NNCF int8 OpenVINO model, each run on coco_sample and
scored with pycocotools; heatmap MAE against fp32 on the first 12 photos; the fraction of
fp32's people that int8 finds at OKS >= 0.9. Slow on 2 CPU cores (minutes per step).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SHARED = Path(os.environ.get("EDGEPOSE_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))
#: naive: no preparation; fold_eq: the exact steps; gptq: prepare() as shipped; bias: exact
#: steps + analytic bias correction; distill: bias + distillation QAT on the calibration photos.
STEPS = ("naive", "fold_eq", "gptq", "bias", "distill")


def _row(name, backend, ref, inputs) -> dict:
    from edgepose.bench.quant_harness import coco_ap, maps, matched_fraction

    ap, poses = coco_ap(backend, SHARED / "coco_sample" / "images", SHARED / "coco_sample" / "person_keypoints.json")
    hm, _ = maps(backend, inputs[:12])
    frac, n = matched_fraction(ref["poses"], poses)
    return {"step": name, "AP": ap, "hm_mae": float(np.abs(hm - ref["hm"]).mean()), "oks90": frac, "people": n}


def main(argv: list[str] | None = None) -> None:
    from edgepose.estimator import parse_size
    from edgepose.models import load_keras
    from edgepose.paths import default_model_path
    from edgepose.bench import quant_harness as H
    from edgepose.quant.prepare import prepare
    from edgepose.runtime.keras_backend import KerasBackend

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="368x432")
    p.add_argument("--stages", type=int, default=6)
    p.add_argument("--steps", default=",".join(STEPS[:3]), help=f"comma-separated, of {', '.join(STEPS)}")
    p.add_argument("--distill-epochs", type=int, default=16)
    args = p.parse_args(argv)
    size = parse_size(args.size)
    model, config = load_keras(default_model_path(), input_size=size, stages=args.stages)
    calibration = H.load_inputs(H.image_files(SHARED / "calibration"), size, config)
    import json

    ann = json.loads((SHARED / "coco_sample" / "person_keypoints.json").read_text())
    inputs = H.load_inputs([SHARED / "coco_sample" / "images" / im["file_name"] for im in ann["images"][:12]], size, config)
    fp32 = KerasBackend(model, config)
    ap, poses = H.coco_ap(fp32, SHARED / "coco_sample" / "images", SHARED / "coco_sample" / "person_keypoints.json")
    ref = {"ap": ap, "poses": poses, "hm": H.maps(fp32, inputs)[0]}
    print(f"fp32 AP {ap:.1f} at {size[0]}x{size[1]}, {args.stages} stages")
    steps = args.steps.split(",")
    models = {}
    if "naive" in steps:
        models["naive"] = model
    if {"fold_eq", "gptq"} & set(steps):
        prep = prepare(model, config, calibration)
        models["fold_eq"] = prep.details["exact_model"]
        models["gptq"] = prep.model
    if {"bias", "distill"} & set(steps):
        models["bias"] = prepare(model, config, calibration, gptq=False, bias_correction=True).model
    if "distill" in steps:
        from edgepose.quant.qat import distill

        models["distill"], _ = distill(models["bias"], model, calibration, calibration,
                                       epochs=args.distill_epochs, batch_size=8, crop=(size[0] // 2 // 8 * 8, size[1] // 2 // 8 * 8))
    print("| step | TFLite int8 AP | OpenVINO int8 AP | heatmap MAE (TFLite / OV) | people OKS>=0.9 (TFLite / OV) |")
    print("|---|---|---|---|---|")
    for name in steps:
        m = models[name]
        t = _row(name, H.tflite_backend(H.tflite_int8(m, calibration), config), ref, inputs)
        o = _row(name, H.openvino_backend(H.openvino_int8(m, calibration), config), ref, inputs)
        print(f"| {name} | {t['AP']:.1f} | {o['AP']:.1f} | {t['hm_mae']:.4f} / {o['hm_mae']:.4f} | "
              f"{t['oks90']:.0%} / {o['oks90']:.0%} of {t['people']} |", flush=True)


if __name__ == "__main__":
    main()
