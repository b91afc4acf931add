"""Demonstration: over-fit a small model on two coco_sample photos, then decode and score OKS.

    python -m edgepose.train.overfit_demo [--size 256] [--steps 300] [--out /tmp/edgepose_overfit]

Trains ``train(...)`` from scratch without augmentation on the two photos whose single labelled
person is largest, decodes the trained model's maps with ``edgepose.decode.decode`` and prints
each annotated person's OKS against the best-matching decoded pose (COCO's per-keypoint
sigmas). Too slow for the test suite (minutes on 2 CPU cores); the numbers go in the report.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

def pick_images(annotations: Path, n: int = 2) -> list[dict]:
    """The ``n`` images with exactly one annotated person (no crowd/unlabelled), largest first."""
    data = json.loads(annotations.read_text())
    by_img: dict[int, list[dict]] = {}
    for a in data["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    good = []
    for img in data["images"]:
        anns = by_img.get(img["id"], [])
        if len(anns) == 1 and anns[0]["num_keypoints"] >= 12 and not anns[0]["iscrowd"]:
            good.append((anns[0]["area"], img, anns[0]))
    good.sort(key=lambda t: -t[0])
    return [{"image": img, "annotation": ann} for _, img, ann in good[:n]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = Path(__file__).resolve().parents[3]
    p.add_argument("--coco", default=str(here.parent / "shared" / "data" / "coco_sample"))
    p.add_argument("--preset", default="thin_w050")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--out", default="/tmp/edgepose_overfit")
    args = p.parse_args(argv)

    import cv2

    from edgepose.decode import decode
    from edgepose.models import load_keras
    from edgepose.preprocess import letterbox
    from edgepose.train import train

    coco = Path(args.coco)
    chosen = pick_images(coco / "person_keypoints.json")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    subset = out / "two_photos.json"
    full = json.loads((coco / "person_keypoints.json").read_text())
    subset.write_text(json.dumps({
        "images": [c["image"] for c in chosen], "annotations": [c["annotation"] for c in chosen],
        "categories": full["categories"],
    }))
    epochs, per_epoch = max(1, args.steps // 50), min(50, args.steps)
    t0 = time.time()
    model_path = train(coco / "images", subset, args.preset, epochs=epochs, steps_per_epoch=per_epoch,
                       out_dir=out / "run", resume=True, input_size=args.size, batch_size=2, lr=args.lr,
                       warmup_steps=20, augment=False, verbose=2)
    print(f"trained {epochs * per_epoch} steps in {time.time() - t0:.0f} s")
    print((out / "run" / "log.csv").read_text())
    model, config = load_keras(model_path)
    from edgepose.eval.oks import oks

    for c in chosen:
        image = cv2.imread(str(coco / "images" / c["image"]["file_name"]))
        x, lb = letterbox(image, (args.size, args.size), config)
        hm, paf = (np.asarray(o[0]) for o in model(x[None], training=False))
        poses = decode(hm, paf)
        gt17 = np.asarray(c["annotation"]["keypoints"], np.float32).reshape(17, 3)
        scores = []
        for pose in poses:
            kp = pose.to_coco17()
            kp[:, :2] = lb.map_to_image(kp[:, :2], config.stride)
            scores.append(oks(kp, gt17, c["annotation"]["area"]))
        best = max(scores, default=0.0)
        print(f"image {c['image']['id']}: {len(poses)} pose(s) decoded, best OKS {best:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
