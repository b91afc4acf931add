"""Measures the training input pipeline: samples per second, serial numpy and tf.data parallel.

    python -m edgepose.data.throughput [--size 368] [--batch 8] [--parallel 1 2 4]

Prints a table (no assertions: timings depend on the machine and its load).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parents[3]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coco", default=str(here.parent / "shared" / "data" / "coco_sample"))
    p.add_argument("--size", type=int, default=368)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--parallel", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)

    from edgepose.config import ModelConfig
    from edgepose.data import groundtruth as gt
    from edgepose.data.coco import CocoKeypoints
    from edgepose.data.pipeline import CocoSampler, DataConfig, coco_dataset

    coco = CocoKeypoints(Path(args.coco) / "images", Path(args.coco) / "person_keypoints.json")
    config = ModelConfig(stages=3)
    data = DataConfig(input_size=(args.size, args.size))
    sampler = CocoSampler(coco, config, data, cache_images=True)
    for i in range(len(coco)):  # warm the image and mask caches
        sampler.sample(i, 0, i)
    n = len(coco) * 2
    t = time.perf_counter()
    for j in range(n):
        sampler.sample(j % len(coco), 1, j)
    serial = n / (time.perf_counter() - t)

    # the ground truth alone, on the people of each image
    kps = [sampler.transform(i, 0, 0) for i in range(len(coco))]
    h = args.size // 8
    t = time.perf_counter()
    for i, tr in enumerate(kps):
        from edgepose.data.augment import warp_keypoints

        k = warp_keypoints(coco.keypoints(i), tr)
        gt.heatmaps(k, (h, h), 8)
        gt.pafs(k, (h, h), 8)
    gt_rate = len(coco) / (time.perf_counter() - t)
    people = np.mean([len(coco.keypoints(i)) for i in range(len(coco))])

    print(f"input {args.size}x{args.size}, maps {h}x{h}, {len(coco)} images, {people:.1f} labelled people/image")
    print(f"{'what':<34} {'samples/s':>10}")
    print(f"{'heatmaps + PAFs only (numpy)':<34} {gt_rate:>10.1f}")
    print(f"{'whole sample, serial (numpy)':<34} {serial:>10.1f}")
    for par in args.parallel:
        ds = coco_dataset(coco, config, data, batch_size=args.batch, steps=args.batches, parallel=par,
                          epochs=[0, 1])
        it = iter(ds)
        next(it)
        t = time.perf_counter()
        count = 0
        for _ in it:
            count += args.batch
        rate = count / (time.perf_counter() - t)
        print(f"{f'tf.data, parallel={par}, batch {args.batch}':<34} {rate:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
