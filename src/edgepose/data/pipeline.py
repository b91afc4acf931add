"""tf.data pipelines: COCO photos -> (training-model inputs, masked targets), and unlabelled photos.

Ground truth is made in numpy (``groundtruth``, vectorised) inside ``tf.numpy_function``, mapped
in parallel with deterministic order. Every sample's randomness comes from its own generator,
seeded by ``(seed, epoch, position in epoch)``, so an epoch is the same whatever the thread
scheduling, and training can resume mid-epoch by starting the index list at a later position.

A training batch is ``(inputs, targets)``:

- inputs: ``{"image": float32 [N, H, W, 3] (as the config's preprocessing makes it),
  "paf_mask": float32 [N, h, w, 2L], "heatmap_mask": float32 [N, h, w, K+1]}``, h = H / stride;
- targets: ``(heatmaps, pafs) * stages``, each already multiplied by its mask, in the order of
  ``build_model(config, all_stages=True)``'s outputs.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import tensorflow as tf

from edgepose.config import ModelConfig
from edgepose.data import augment as aug
from edgepose.data import groundtruth as gt
from edgepose.data.coco import CocoKeypoints
from edgepose.errors import EdgeposeError
from edgepose.skeleton import Skeleton


@dataclass(frozen=True)
class DataConfig:
    """How samples are made.

    input_size: network input (height, width) in pixels, multiples of the stride.
    convention: how heatmaps and PAFs are drawn (sigma, limb width, resolution...).
    augment: random augmentation ranges, or None for the plain letterbox (evaluation).
    seed: base seed of the shuffling and augmentation.
    """

    input_size: tuple[int, int] = (368, 368)
    convention: gt.Convention = field(default_factory=gt.Convention)
    augment: aug.AugmentConfig | None = field(default_factory=aug.AugmentConfig)
    seed: int = 0


def to_network_input(image_bgr: np.ndarray, config: ModelConfig) -> np.ndarray:
    """Pixels 0..255 BGR float [..., 3] -> what the network expects (channel order, mean, scale)."""
    x = np.asarray(image_bgr, np.float32)
    if config.channel_order == "RGB":
        x = x[..., ::-1]
    if config.input_mean != 0.0 or config.input_scale != 1.0:
        x = (x - config.input_mean) * config.input_scale
    return np.ascontiguousarray(x)


class _ImageCache:
    """Decoded images kept in memory (small datasets) or read each time."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._images: dict[Path, np.ndarray] = {}
        self._lock = threading.Lock()

    def read(self, path: Path) -> np.ndarray:
        with self._lock:
            img = self._images.get(path)
        if img is not None:
            return img
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise EdgeposeError(f"cannot read image {path} (missing or not an image)")
        if self.enabled:
            with self._lock:
                self._images[path] = img
        return img


def epoch_order(num_items: int, steps: int, batch_size: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """Item indices of one epoch: int64 [steps * batch_size], reshuffled for every pass."""
    rng = np.random.default_rng([seed, epoch, 7])
    need = steps * batch_size
    parts, have = [], 0
    while have < need:
        parts.append(rng.permutation(num_items) if shuffle else np.arange(num_items))
        have += num_items
    return np.concatenate(parts)[:need].astype(np.int64)


def steps_per_epoch(num_items: int, batch_size: int, steps: int | None = None) -> int:
    """Batches per epoch: ``steps`` if given, else one pass over the items (at least 1)."""
    return int(steps) if steps else max(1, num_items // batch_size)


class CocoSampler:
    """Makes one training sample (numpy) from an image index and a seed triple."""

    def __init__(self, coco: CocoKeypoints, config: ModelConfig, data: DataConfig, cache_images: bool) -> None:
        self.coco, self.config, self.data = coco, config, data
        self.skeleton: Skeleton = config.skeleton_def
        self.cache = _ImageCache(cache_images)
        h, w = data.input_size
        if h % config.stride or w % config.stride:
            raise EdgeposeError(f"input size {h}x{w} must be a multiple of the stride {config.stride}")
        self.map_hw = (h // config.stride, w // config.stride)

    def transform(self, index: int, epoch: int, position: int) -> aug.Transform:
        """The augmentation of sample ``position`` of ``epoch`` (the letterbox if none)."""
        hw = self.image_size(index)
        ih = self.data.input_size
        if self.data.augment is None:
            return aug.Transform(aug.letterbox_matrix(hw, ih), False)
        rng = np.random.default_rng([self.data.seed, epoch, position])
        return aug.sample_transform(hw, ih, rng, self.data.augment)

    def image_size(self, index: int) -> tuple[int, int]:
        """(height, width) of the decoded image."""
        return self.cache.read(self.coco.records[index].path).shape[:2]

    def sample(self, index: int, epoch: int, position: int) -> tuple[np.ndarray, ...]:
        """(image [H, W, 3], heatmaps [h, w, K+1], pafs [h, w, 2L], mask [h, w]), float32."""
        return self.sample_with(index, self.transform(index, epoch, position))

    def sample_with(self, index: int, t: aug.Transform) -> tuple[np.ndarray, ...]:
        """The sample of image ``index`` under a given transform (same outputs as ``sample``)."""
        image = self.cache.read(self.coco.records[index].path)
        hw = image.shape[:2]
        ignore = self.coco.ignore_mask(index, hw)
        kp = self.coco.keypoints(index)
        ih = self.data.input_size
        img = to_network_input(aug.warp_image(image, t, ih), self.config)
        kp_in = aug.warp_keypoints(kp, t, self.skeleton)
        s = self.config.stride
        hm, paf = gt.draw(kp_in, self.map_hw, s, self.data.convention, self.skeleton)
        mask = gt.loss_mask(aug.warp_mask(ignore, t, ih), s)
        return img, hm, paf, mask


def sample_table(num_items: int, steps: int, batch_size: int, seed: int, epochs: Sequence[int],
                 start_step: int, shuffle: bool) -> np.ndarray:
    """int64 [M, 3] rows (item index, epoch, position in the epoch) of every sample to make, epoch
    after epoch; the first ``start_step`` batches of the first epoch are left out (resuming)."""
    rows = []
    for i, e in enumerate(epochs):
        order = epoch_order(num_items, steps, batch_size, seed, e, shuffle)
        first = start_step * batch_size if i == 0 else 0
        rows.append(np.stack([order, np.full_like(order, e), np.arange(len(order))], axis=1)[first:])
    return np.concatenate(rows).astype(np.int64)


def _samples(table: np.ndarray, make, parallel: int | None) -> tf.data.Dataset:
    """``make`` mapped over the rows of ``table``, deterministically, in parallel."""
    opts = tf.data.Options()
    opts.deterministic = True
    ds = tf.data.Dataset.from_tensor_slices(table).with_options(opts)
    return ds.map(make, num_parallel_calls=parallel or _default_parallel(), deterministic=True)


def _default_parallel() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def coco_dataset(
    coco: CocoKeypoints,
    config: ModelConfig,
    data: DataConfig,
    *,
    batch_size: int,
    stages: int | None = None,
    epochs: Sequence[int] = (0,),
    steps: int | None = None,
    start_step: int = 0,
    shuffle: bool = True,
    parallel: int | None = None,
    cache_images: bool | None = None,
) -> tf.data.Dataset:
    """Batches for the training model: ``(inputs dict, targets tuple)`` (see module doc).

    epochs: the epochs this dataset covers, in order (each reshuffled and re-augmented with its
        own seed); ``steps`` batches each (default: one pass over the images).
    start_step: skip this many batches of the first epoch (resuming mid-epoch); skipped samples
        are never made.
    stages: how many (heatmaps, pafs) target pairs to repeat (default: ``config.stages``).
    """
    stages = config.stages if stages is None else stages
    n = len(coco)
    steps = steps_per_epoch(n, batch_size, steps)
    cache_images = n <= 2000 if cache_images is None else cache_images
    sampler = CocoSampler(coco, config, data, cache_images)
    table = sample_table(n, steps, batch_size, data.seed, epochs, start_step, shuffle)
    h, w = data.input_size
    mh, mw = sampler.map_hw
    nh, npaf = config.num_heatmaps, config.num_pafs

    def make(row: np.ndarray) -> tuple[np.ndarray, ...]:
        return sampler.sample(int(row[0]), int(row[1]), int(row[2]))

    def tf_make(row: tf.Tensor):
        img, hm, paf, mask = tf.numpy_function(
            make, [row], [tf.float32] * 4, stateful=False, name="make_sample"
        )
        img.set_shape((h, w, 3))
        hm.set_shape((mh, mw, nh))
        paf.set_shape((mh, mw, npaf))
        mask.set_shape((mh, mw))
        return img, hm, paf, mask

    def to_model(img, hm, paf, mask):
        m = mask[..., None]
        hm_mask = tf.tile(m, [1, 1, 1, nh])
        paf_mask = tf.tile(m, [1, 1, 1, npaf])
        targets = (hm * hm_mask, paf * paf_mask) * stages
        return {"image": img, "paf_mask": paf_mask, "heatmap_mask": hm_mask}, targets

    ds = _samples(table, tf_make, parallel)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(to_model, num_parallel_calls=1)
    return ds.prefetch(2)


class ImageSampler:
    """Makes one augmented unlabelled image (numpy) for distillation."""

    def __init__(self, paths: Sequence[Path], config: ModelConfig, data: DataConfig, cache_images: bool) -> None:
        self.paths, self.config, self.data = list(paths), config, data
        self.cache = _ImageCache(cache_images)

    def sample(self, index: int, epoch: int, position: int) -> np.ndarray:
        """float32 [H, W, 3], as the network expects it."""
        image = self.cache.read(self.paths[index])
        hw, ih = image.shape[:2], self.data.input_size
        if self.data.augment is None:
            t = aug.Transform(aug.letterbox_matrix(hw, ih), False)
        else:
            t = aug.sample_transform(hw, ih, np.random.default_rng([self.data.seed, epoch, position]), self.data.augment)
        return to_network_input(aug.warp_image(image, t, ih), self.config)


def image_dataset(
    paths: Sequence[Path],
    config: ModelConfig,
    data: DataConfig,
    *,
    batch_size: int,
    epochs: Sequence[int] = (0,),
    steps: int | None = None,
    start_step: int = 0,
    shuffle: bool = True,
    parallel: int | None = None,
    cache_images: bool | None = None,
) -> tf.data.Dataset:
    """Batches of augmented unlabelled images, float32 [N, H, W, 3] (same seeding as above)."""
    n = len(paths)
    steps = steps_per_epoch(n, batch_size, steps)
    sampler = ImageSampler(paths, config, data, n <= 2000 if cache_images is None else cache_images)
    table = sample_table(n, steps, batch_size, data.seed, epochs, start_step, shuffle)
    h, w = data.input_size

    def tf_make(row: tf.Tensor) -> tf.Tensor:
        img = tf.numpy_function(
            lambda r: sampler.sample(int(r[0]), int(r[1]), int(r[2])), [row], tf.float32, stateful=False
        )
        img.set_shape((h, w, 3))
        return img

    ds = _samples(table, tf_make, parallel)
    return ds.batch(batch_size, drop_remainder=True).prefetch(2)
