"""Keras callbacks of the trainer: checkpoints (every epoch, every N steps, best kept)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Callable

import keras

from edgepose.config import ModelConfig
from edgepose.io_utils import atomic_path
from edgepose.train.checkpoint import BEST, LAST, TrainState, save_checkpoint


def optimizer_step(model: keras.Model) -> int:
    """The optimizer's step count (also when it is a tf.distribute mirrored variable)."""
    import tensorflow as tf

    v = model.optimizer.iterations
    return int(tf.convert_to_tensor(getattr(v, "value", v)).numpy())


class Checkpoint(keras.callbacks.Callback):
    """Keeps ``TrainState`` current and writes ``last.keras`` / ``best.keras`` atomically
    (best: lowest ``state.monitor`` for a loss, highest for ``val_ap*``).

    folder: checkpoint folder. state: updated in place (its epoch/step are where fit starts).
    every_steps: also write ``last.keras`` every this many batches inside an epoch (None: only at
        epoch ends). A checkpoint at step s of epoch e resumes at batch s of epoch e.
    write: False on non-chief workers (they keep the state but write nothing).
    log: where to say what was written (None: quiet).
    """

    def __init__(
        self,
        folder: str | Path,
        config: ModelConfig,
        state: TrainState,
        *,
        every_steps: int | None = None,
        write: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.config = config
        self.state = state
        self.every_steps = every_steps
        self.write = write
        self.log = log

    def _save(self, name: str) -> None:
        self.state.iterations = optimizer_step(self.model)
        if self.write:
            save_checkpoint(self.model, self.config, self.state, self.folder / name)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if epoch != self.state.epoch:
            self.state.epoch, self.state.step = epoch, 0

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.state.step += 1
        if self.every_steps and self.state.step % self.every_steps == 0 and self.state.step < self.state.steps_per_epoch:
            self._save(LAST)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        value = logs.get(self.state.monitor)
        self.state.epoch, self.state.step = epoch + 1, 0
        higher = self.state.monitor.startswith("val_ap")  # AP: higher is better; losses: lower
        improved = value is not None and math.isfinite(value) and (
            self.state.best is None or (value > self.state.best if higher else value < self.state.best))
        if improved:
            self.state.best = float(value)
        self._save(LAST)
        if improved and self.write:
            with atomic_path(self.folder / BEST) as tmp:
                shutil.copyfile(self.folder / LAST, tmp)
        if self.log:
            best = " (best)" if improved else ""
            shown = "n/a" if value is None else f"{value:.4g}"
            self.log(f"epoch {epoch + 1}: {self.state.monitor}={shown}{best}, checkpoint at "
                     f"optimizer step {self.state.iterations}")


class TensorBoardScalars(keras.callbacks.Callback):
    """Per-epoch losses and learning rate as TensorBoard scalars (``logs`` of fit).

    Writes event files with TensorFlow's core ``tf.summary.write`` and the "scalars" plugin tag,
    so it works without the ``tensorboard`` package (which Keras's own callback needs).
    Steps on the x axis are optimizer steps, so resumed runs continue the same curves.
    """

    def __init__(self, log_dir: str | Path) -> None:
        super().__init__()
        self.log_dir = str(log_dir)
        self._writer = None

    def on_train_begin(self, logs=None) -> None:
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        meta = summary_pb2.SummaryMetadata()
        meta.plugin_data.plugin_name = "scalars"
        step = optimizer_step(self.model)
        values = dict(logs or {})
        lr = self.model.optimizer.learning_rate
        values["learning_rate"] = float(lr(step) if callable(lr) else lr)
        values["epoch"] = epoch + 1
        with self._writer.as_default():
            for tag, value in values.items():
                tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=meta)
        self._writer.flush()

    def on_train_end(self, logs=None) -> None:
        if self._writer is not None:
            self._writer.flush()
