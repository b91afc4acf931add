"""Throughput of training: the input pipeline (decode, augment, ground truth) per core, the
training step, and how many CPU cores keep one GPU busy.

    python -m edgepose.data.throughput --coco DIR [--size 368] [--batch 8] [--parallel 1 2]
        [--preset mobilenet_thin] [--steps 3] [--gpu-tflops 8.1] [--gpu-utilisation 0.3]
        [--convention default|map]

Prints tables (no assertions: timings depend on the machine and its load). The GPU's step time
cannot be measured on a CPU-only machine: it is estimated from the model's counted training FLOPs
(3x the forward multiply-adds x 2) and an assumed GPU throughput (``--gpu-tflops`` peak fp32 x
``--gpu-utilisation``; defaults: an NVIDIA T4's 8.1 TFLOPS at 30%, an assumption for a
depthwise-separable network, not a measurement). Cores per GPU = GPU images/s / images per
CPU-second of the whole sample (decode + augment + ground truth on one thread): rates per
CPU-second hold on a loaded machine, where wall-clock rates fall with the share of a core.
``--convention``: the ground truth drawn, "default" (``groundtruth.Convention()``: tf-pose's, at
input resolution then area-shrunk) or "map" (drawn on the map grid: sigma 7, width 1 map px,
along the segment, averaged).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def forward_macs(model) -> int:
    """Multiply-adds of one forward pass of a built Keras model with a fixed input size
    (Conv2D and DepthwiseConv2D; everything else is negligible)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * c * kh * kw
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * c_out * kh * kw * layer.input.shape[-1]
    return int(total)


class _Clock:
    """Wall time and this process's CPU time (all threads) of a block: under a shared machine's
    load the wall rate falls, the rate per CPU-second (= per fully used core) does not."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def pipeline_rates(coco, config, data, batch: int, batches: int, parallel: list[int]) -> dict[str, tuple[float, float]]:
    """{row name: (images/s wall, images per CPU-second)}: ground truth alone, the whole sample
    on one thread, tf.data."""
    from edgepose.data import groundtruth as gt
    from edgepose.data.augment import warp_keypoints
    from edgepose.data.pipeline import CocoSampler, coco_dataset

    sampler = CocoSampler(coco, config, data, cache_images=True)
    for i in range(len(coco)):  # warm the image and mask caches (decoding once, as training does)
        sampler.sample(i, 0, i)
    rates = {}
    transforms = [sampler.transform(i, 0, i) for i in range(len(coco))]
    with _Clock() as c:
        for i, tr in enumerate(transforms):
            gt.draw(warp_keypoints(coco.keypoints(i), tr), sampler.map_hw, config.stride, data.convention)
    rates["ground truth only (one thread)"] = (len(coco) / c.wall, len(coco) / c.cpu)
    n = len(coco) * 2
    with _Clock() as c:
        for j in range(n):
            sampler.sample(j % len(coco), 1, j)
    rates["augment + ground truth (one thread)"] = (n / c.wall, n / c.cpu)
    sampler.cache.enabled = False
    with _Clock() as c:
        for j in range(len(coco)):
            sampler.cache._images.clear()
            sampler.sample(j, 2, j)
    rates[DECODE_ROW] = (len(coco) / c.wall, len(coco) / c.cpu)
    for par in parallel:
        ds = coco_dataset(coco, config, data, batch_size=batch, steps=batches, parallel=par, epochs=[0, 1])
        it = iter(ds)
        next(it)
        count = 0
        with _Clock() as c:
            for _ in it:
                count += batch
        rates[f"tf.data, parallel={par}, batch {batch}"] = (count / c.wall, count / c.cpu)
    return rates


DECODE_ROW = "decode + augment + ground truth (one thread)"


# --convention: "default" is groundtruth.Convention(), "map" groundtruth.MAP_DRAWN
CONVENTION_CHOICES = ("default", "map")


def train_step_time(config, size: int, batch: int, steps: int) -> tuple[float, float]:
    """(wall seconds, CPU-seconds) per training step (forward + backward + Adam) on this CPU."""
    import keras

    from edgepose.train.loss import EuclideanLoss
    from edgepose.train.model import build_training_model

    model = build_training_model(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=EuclideanLoss())
    h = size // config.stride
    rng = np.random.default_rng(0)
    x = {"image": rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32),
         "paf_mask": np.ones((batch, h, h, config.num_pafs), np.float32),
         "heatmap_mask": np.ones((batch, h, h, config.num_heatmaps), np.float32)}
    y = [np.zeros((batch, h, h, c), np.float32) for c in (config.num_heatmaps, config.num_pafs) * config.stages]
    model.train_on_batch(x, y)  # trace and warm up
    with _Clock() as c:
        for _ in range(steps):
            model.train_on_batch(x, y)
    return c.wall / steps, c.cpu / steps


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parents[3]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coco", default=str(here.parent / "shared" / "data" / "coco_sample"))
    p.add_argument("--size", type=int, default=368)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--parallel", type=int, nargs="+", default=[1, 2])
    p.add_argument("--preset", default="mobilenet_thin")
    p.add_argument("--steps", type=int, default=3, help="training steps timed (0: skip)")
    p.add_argument("--gpu-tflops", type=float, default=8.1, help="assumed GPU peak fp32 TFLOPS (default: T4)")
    p.add_argument("--gpu-utilisation", type=float, default=0.3, help="assumed fraction of the peak reached")
    p.add_argument("--convention", choices=CONVENTION_CHOICES, default="default",
                   help="ground truth drawn: default (tf-pose's, input resolution) or map (drawn on the map)")
    args = p.parse_args(argv)

    from edgepose.data.augment import FINETUNE
    from edgepose.data.coco import CocoKeypoints
    from edgepose.data.groundtruth import MAP_DRAWN, Convention
    from edgepose.data.pipeline import DataConfig
    from edgepose.models import build_model, get_preset

    coco = CocoKeypoints(Path(args.coco) / "images", Path(args.coco) / "person_keypoints.json")
    config = get_preset(args.preset).replace(input_size=None)
    data = DataConfig(input_size=(args.size, args.size), augment=FINETUNE,
                      convention=MAP_DRAWN if args.convention == "map" else Convention())
    people = np.mean([len(coco.keypoints(i)) for i in range(len(coco))])
    rates = pipeline_rates(coco, config, data, args.batch, args.batches, args.parallel)
    print(f"input pipeline: {args.size}x{args.size}, {len(coco)} images, {people:.1f} labelled people/image, "
          f"convention {data.convention}")
    print(f"| {'what':<44} | {'images/s (wall)':>15} | {'images per CPU-second':>21} |")
    print(f"|{'-' * 46}|{'-' * 17}|{'-' * 23}|")
    for name, (wall, cpu) in rates.items():
        print(f"| {name:<44} | {wall:>15.1f} | {cpu:>21.1f} |")
    per_core = rates[DECODE_ROW][1]

    fixed = config.replace(input_size=(args.size, args.size))
    macs = forward_macs(build_model(fixed))
    train_flops = 3 * 2 * macs  # forward + backward (about twice the forward)
    gpu_rate = args.gpu_tflops * 1e12 * args.gpu_utilisation / train_flops
    print(f"\ntraining step: {args.preset}, {config.stages} stages, {args.size}x{args.size}, batch {args.batch}")
    print(f"| {'what':<44} | {'value':>12} |\n|{'-' * 46}|{'-' * 14}|")
    print(f"| {'forward multiply-adds per image':<44} | {macs / 1e9:>10.2f} G |")
    print(f"| {'training FLOPs per image (3 x 2 x MACs)':<44} | {train_flops / 1e9:>10.2f} G |")
    if args.steps:
        wall, cpu = train_step_time(fixed, args.size, args.batch, args.steps)
        print(f"| {'CPU step, wall time (this machine, measured)':<44} | {wall:>10.2f} s |")
        print(f"| {'CPU step, CPU-seconds (all threads)':<44} | {cpu:>10.2f} s |")
        print(f"| {'training images per CPU-second':<44} | {args.batch / cpu:>12.2f} |")
    print(f"| {'GPU images/s (assumed ' + f'{args.gpu_tflops:g} TFLOPS x {args.gpu_utilisation:g})':<44} "
          f"| {gpu_rate:>12.0f} |")
    print(f"| {'GPU step time, batch ' + str(args.batch) + ' (estimate)':<44} | {args.batch / gpu_rate * 1e3:>9.1f} ms |")
    print(f"| {'input-pipeline cores to keep one GPU busy':<44} | {gpu_rate / per_core:>12.1f} |")
    print(f"\n(cores = GPU images/s / {per_core:.1f} images per CPU-second of decode + augment + ground truth)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
