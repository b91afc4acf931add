"""Distillation: a student edgepose model learns a teacher's maps on unlabelled photos.

The teacher is any edgepose ``.keras`` model (e.g. the imported pretrained mobilenet_thin); it
runs inside the input pipeline on each augmented batch and its final heatmaps and PAFs are the
targets of every student stage (masks all ones, the same training model and Euclidean loss as
``train``). The student is built from a preset, so the result is a normal edgepose model saved
with ``save_keras`` and its config: the exporters take it unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError
from edgepose.train.strategy import describe, make_strategy
from edgepose.train.trainer import Run, parse_size, student_config

RAW = ModelConfig()  # raw BGR 0..255: what the image pipeline makes before each model's own scaling


def _network_input(raw_bgr: tf.Tensor, config: ModelConfig) -> tf.Tensor:
    """[N, H, W, 3] BGR 0..255 -> the config's channel order, mean and scale (TF ops)."""
    x = raw_bgr[..., ::-1] if config.channel_order == "RGB" else raw_bgr
    if config.input_mean != 0.0 or config.input_scale != 1.0:
        x = (x - config.input_mean) * config.input_scale
    return x


def load_teacher(teacher_path: str | os.PathLike):
    """(model, config) of an edgepose .keras model; EdgeposeError for anything else."""
    from edgepose.models import load_keras

    try:
        return load_keras(teacher_path)
    except ValueError as e:
        raise EdgeposeError(f"cannot use {teacher_path} as a teacher: {e}") from None


def distillation_error(
    student, student_config: ModelConfig, teacher, teacher_config: ModelConfig,
    paths: Sequence[Path], input_size: tuple[int, int], batch_size: int = 4,
) -> dict[str, float]:
    """Mean squared student-teacher difference per map element on letterboxed photos.

    Returns {"heatmaps": mse, "pafs": mse} over all images (no augmentation).
    """
    from edgepose.data.pipeline import DataConfig, image_dataset

    ds = image_dataset(paths, RAW, DataConfig(input_size=input_size, augment=None), batch_size=1, shuffle=False)
    ds = ds.unbatch().batch(batch_size)
    sums, count = np.zeros(2), 0
    for raw in ds:
        t = teacher(_network_input(raw, teacher_config), training=False)
        s = student(_network_input(raw, student_config), training=False)
        for i in range(2):
            sums[i] += float(tf.reduce_sum(tf.square(s[i] - t[i])))
        count += int(raw.shape[0])
    n_hm = count * int(np.prod(t[0].shape[1:])) / int(t[0].shape[0])
    n_paf = count * int(np.prod(t[1].shape[1:])) / int(t[1].shape[0])
    return {"heatmaps": float(sums[0] / n_hm), "pafs": float(sums[1] / n_paf)}


def distill(
    teacher_path: str | os.PathLike,
    images_dir: str | os.PathLike,
    preset: str = "thin_w050",
    *,
    epochs: int = 10,
    out_dir: str | os.PathLike = "runs/distill",
    resume: bool = False,
    init: str | os.PathLike | None = None,
    input_size: int | str | Sequence[int] = 368,
    batch_size: int = 8,
    strategy: str | None = None,
    steps_per_epoch: int | None = None,
    lr: float = 1e-3,
    warmup_steps: int = 100,
    augment: bool = True,
    seed: int = 0,
    save_every_steps: int | None = None,
    normalize_input: bool | None = None,
    parallel: int | None = None,
    verbose: int | str = "auto",
) -> Path:
    """Trains a ``preset`` student on ``teacher_path``'s outputs over the photos in ``images_dir``.

    Same run folder, checkpoints, resume and logs as ``train``; returns ``out_dir/model.keras``.
    init: None, "imported" or a .keras path to start the student from (where layers match).
    normalize_input: as in ``train`` (default: scaled inputs from scratch, raw pixels with init).
    """
    from edgepose.data.augment import AugmentConfig
    from edgepose.data.coco import list_images
    from edgepose.data.pipeline import DataConfig, image_dataset, steps_per_epoch as _steps

    dist = make_strategy(strategy)
    config = student_config(preset, init, normalize_input)
    paths = list_images(images_dir)
    teacher, teacher_config = load_teacher(teacher_path)
    if teacher_config.stride != config.stride:
        raise EdgeposeError(f"teacher stride {teacher_config.stride} differs from the student's {config.stride}")
    if teacher_config.skeleton != config.skeleton:
        raise EdgeposeError(f"teacher skeleton {teacher_config.skeleton} differs from the student's {config.skeleton}")
    if teacher_config.input_size is not None:
        raise EdgeposeError(f"teacher {teacher_path} has a fixed input size; use a Keras model with a free input size")
    run_args = {
        "kind": "distill", "teacher": str(teacher_path), "images_dir": str(images_dir),
        "input_size": list(parse_size(input_size)), "batch_size": int(batch_size), "seed": int(seed),
        "augment": bool(augment), "lr": float(lr), "init": None if init is None else str(init), "epochs": int(epochs),
    }
    r = Run(out_dir, dist, verbose)
    resumed = r.open(config, resume=resume, run=run_args, steps_per_epoch=_steps(len(paths), batch_size, steps_per_epoch),
                     epochs=epochs, lr=lr, warmup_steps=warmup_steps, init=init)
    assert r.state is not None and r.config is not None
    saved = r.state.run if resumed else run_args
    r.log(f"{describe(dist)}; teacher {teacher_path}; {len(paths)} photos, {r.state.steps_per_epoch} steps per epoch")
    data = DataConfig(input_size=tuple(saved["input_size"]), augment=AugmentConfig() if saved["augment"] else None,
                      seed=saved["seed"])
    stages, s_config = r.config.stages, r.config

    @tf.function
    def teacher_maps(raw):
        hm, paf = teacher(_network_input(raw, teacher_config), training=False)
        return hm, paf

    def to_batch(raw):
        hm, paf = teacher_maps(raw)
        inputs = {"image": _network_input(raw, s_config),
                  "paf_mask": tf.ones_like(paf), "heatmap_mask": tf.ones_like(hm)}
        return inputs, (hm, paf) * stages

    def make_dataset(epoch_list: list[int], start_step: int) -> tf.data.Dataset:
        ds = image_dataset(paths, RAW, data, batch_size=saved["batch_size"], epochs=epoch_list,
                           steps=r.state.steps_per_epoch, start_step=start_step, parallel=parallel)
        return ds.map(to_batch, num_parallel_calls=1).prefetch(1)

    r.fit(make_dataset, epochs, every_steps=save_every_steps)
    return r.finish()
