"""COCO keypoint AP every epoch, through the project's own predict + eval path, and TensorBoard
images of predicted maps beside the ground truth.

``ValidationAP`` turns the training model into the inference network (``inference_model``),
wraps it in the Keras backend and ``PoseEstimator`` at the default predict settings (432 px tall,
width following each photo, default decoder) and runs ``edgepose.eval.validate`` on each
validation set. It adds ``val_ap`` (the first set, in AP points 0..100) and ``val_ap_<name>`` for
every set to the epoch logs, so the checkpoint callback, the CSV and TensorBoard that come after it
see them; the checkpoint keeps the epoch with the highest ``val_ap``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import keras
import numpy as np

from edgepose.config import ModelConfig
from edgepose.train.callbacks import optimizer_step
from edgepose.train.model import inference_model


@dataclass(frozen=True)
class ValSet:
    """One validation set: a name (for logs), images folder, COCO annotations, split part or None."""

    name: str
    images: Path
    annotations: Path
    part: str | None = None


def evaluate_ap(network: keras.Model, config: ModelConfig, sets: list[ValSet]) -> dict[str, float]:
    """{set name: COCO keypoint AP in points (0..100)} of an inference network, default predict."""
    from edgepose.estimator import PoseEstimator
    from edgepose.eval import validate
    from edgepose.runtime.keras_backend import KerasBackend

    estimator = PoseEstimator(KerasBackend(network, config))
    out = {}
    for s in sets:
        res = validate(estimator, s.images, s.annotations, progress=False, part=s.part)
        out[s.name] = 100.0 * res["metrics"]["AP"]
    return out


def _colour(x: np.ndarray, top: float = 1.0) -> np.ndarray:
    """[h, w] float -> [h, w, 3] uint8 (JET), 0..top."""
    return cv2.applyColorMap(np.clip(x / top * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)


def panel(image: np.ndarray, config: ModelConfig, truth: tuple[np.ndarray, np.ndarray],
          pred: tuple[np.ndarray, np.ndarray], mask: np.ndarray) -> np.ndarray:
    """One TensorBoard picture, uint8 [2h', 3w', 3] (RGB): top row photo | heatmaps truth |
    heatmaps predicted; bottom row loss mask | PAF length truth | PAF length predicted (maps are
    the max over parts and the max vector length over limbs, scaled up to the photo)."""
    h, w = image.shape[:2]
    x = image / config.input_scale + config.input_mean if config.input_scale != 1.0 else image
    photo = np.clip(x, 0, 255).astype(np.uint8)
    if config.channel_order == "RGB":
        photo = photo[..., ::-1]
    k = config.num_heatmaps - 1

    def up(m):
        return cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)

    def paf_len(p):
        return np.sqrt(p[..., 0::2] ** 2 + p[..., 1::2] ** 2).max(-1)

    top = [photo, _colour(up(truth[0][..., :k].max(-1))), _colour(up(pred[0][..., :k].max(-1)))]
    bottom = [_colour(up(mask.astype(np.float32))), _colour(up(paf_len(truth[1]))), _colour(up(paf_len(pred[1])))]
    return np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)[..., ::-1]


class ValidationAP(keras.callbacks.Callback):
    """AP per epoch on ``sets`` (the first picks the best checkpoint), printed, in the logs, in
    ``out_dir/val_ap.csv`` (with the starting model as epoch 0) and in TensorBoard with
    ``images`` pictures of predicted vs ground-truth maps.

    config: the run's ModelConfig. images: how many photos of the first set to picture (0: none).
    input_size: the training crop the pictures use (letterboxed, no augmentation).
    """

    def __init__(self, sets: list[ValSet], config: ModelConfig, out_dir: Path | None, *,
                 input_size: tuple[int, int], images: int = 3, log: Callable[[str], None] | None = None,
                 evaluate_start: bool = True, convention=None) -> None:
        super().__init__()
        self.sets, self.config, self.out_dir = sets, config, out_dir
        self.input_size, self.n_images, self.log = input_size, images, log
        self.evaluate_start = evaluate_start
        self.convention = convention
        self._writer = None
        self._samples = None

    # -- helpers
    def _network(self) -> keras.Model:
        return inference_model(self.model, self.config)

    def _record(self, epoch: int, step: int, aps: dict[str, float]) -> None:
        if self.out_dir is None:
            return
        path = self.out_dir / "val_ap.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["epoch", "optimizer_step", *[f"ap_{s.name}" for s in self.sets]])
            w.writerow([epoch, step, *[f"{aps[s.name]:.2f}" for s in self.sets]])

    def _tensorboard(self, network: keras.Model, step: int, aps: dict[str, float]) -> None:
        if self.out_dir is None:
            return
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.out_dir / "tensorboard"))
        scalars = summary_pb2.SummaryMetadata()
        scalars.plugin_data.plugin_name = "scalars"
        images = summary_pb2.SummaryMetadata()
        images.plugin_data.plugin_name = "images"
        with self._writer.as_default():
            for name, ap in aps.items():
                tf.summary.write(f"val_ap_{name}", tf.constant(ap, tf.float32), step=step, metadata=scalars)
            for i, (image, truth, mask) in enumerate(self._pictured()):
                hm, paf = (np.asarray(m)[0] for m in network(image[None], training=False))
                pic = panel(image, self.config, truth, (hm, paf), mask)
                ok, png = cv2.imencode(".png", pic[..., ::-1])
                tensor = tf.constant([str(pic.shape[1]), str(pic.shape[0]), png.tobytes()])
                tf.summary.write(f"maps/{i}", tensor, step=step, metadata=images)
        self._writer.flush()

    def _pictured(self):
        """(image, (heatmaps, pafs) truth, mask) of the first photos of the first set."""
        if self._samples is None:
            self._samples = []
            if self.n_images and self.sets:
                from edgepose.data.coco import CocoKeypoints
                from edgepose.data.pipeline import CocoSampler, DataConfig
                from edgepose.eval.split import files_of

                s = self.sets[0]
                coco = CocoKeypoints(s.images, s.annotations, files=files_of(s.part) if s.part else None)
                data = DataConfig(input_size=self.input_size, augment=None,
                                  convention=self.convention or DataConfig().convention)
                sampler = CocoSampler(coco, self.config, data, cache_images=False)
                for i in range(min(self.n_images, len(coco))):
                    img, hm, paf, mask = sampler.sample(i, 0, i)
                    self._samples.append((img, (hm, paf), mask))
        return self._samples

    def _run(self, epoch: int, logs: dict | None) -> dict[str, float]:
        network = self._network()
        aps = evaluate_ap(network, self.config, self.sets)
        step = optimizer_step(self.model)
        self._record(epoch, step, aps)
        self._tensorboard(network, step, aps)
        if logs is not None:
            logs["val_ap"] = aps[self.sets[0].name]
            for name, ap in aps.items():
                logs[f"val_ap_{name}"] = ap
        if self.log:
            self.log(f"epoch {epoch}: AP " + ", ".join(f"{n} {ap:.2f}" for n, ap in aps.items())
                     + " (COCO keypoint AP, default predict)")
        return aps

    # -- Keras hooks
    def on_train_begin(self, logs=None) -> None:
        if self.evaluate_start:
            self.evaluate_start = False  # once per run, not per fit() call
            self._run(0, None)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._run(epoch + 1, logs)
