"""Whole-model training checkpoints: one ``.keras`` file, written atomically, that holds the
training model, its optimizer state, the ModelConfig and the trainer's position.

Members added to Keras's zip (Keras ignores them): ``edgepose_config.json`` (as
``edgepose.models.save_keras`` writes it) and ``edgepose_train_state.json`` (``TrainState``).
A checkpoint is written to a temporary file in the same folder and renamed over the old one,
so a crash (even SIGKILL) leaves the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError
from edgepose.io_utils import atomic_path
from edgepose.models.io import CONFIG_MEMBER

STATE_MEMBER = "edgepose_train_state.json"
LAST = "last.keras"
BEST = "best.keras"


@dataclass
class TrainState:
    """Where training is.

    epoch: the epoch in progress (0-based); ``step`` batches of it are done (0 = not started).
    iterations: the optimizer's step count when this state was written (= batches trained).
    steps_per_epoch: batches per epoch (fixed for a run: resuming needs the same epoch layout).
    best: best value of ``monitor`` at an epoch end so far (None before the first).
    run: the arguments the run started with (data, sizes, seeds), for resuming and provenance;
        ``run["resumes"]`` lists each resume's starting {epoch, step, iterations}.
    """

    epoch: int = 0
    step: int = 0
    iterations: int = 0
    steps_per_epoch: int = 0
    monitor: str = "loss"
    best: float | None = None
    run: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "TrainState":
        d = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def save_checkpoint(model: keras.Model, config: ModelConfig, state: TrainState, path: str | os.PathLike) -> Path:
    """Writes the whole (compiled) model + config + state to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as zf:
            zf.writestr(CONFIG_MEMBER, config.to_json())
            zf.writestr(STATE_MEMBER, state.to_json())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    return path


def read_checkpoint_info(path: str | os.PathLike) -> tuple[ModelConfig, TrainState]:
    """(config, state) of a checkpoint, without loading the model."""
    path = Path(path)
    if not path.is_file():
        raise EdgeposeError(f"no checkpoint at {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if CONFIG_MEMBER not in names or STATE_MEMBER not in names:
                raise EdgeposeError(
                    f"{path} is not an edgepose training checkpoint (no {CONFIG_MEMBER} / {STATE_MEMBER})"
                )
            config = ModelConfig.from_json(zf.read(CONFIG_MEMBER))
            state = TrainState.from_json(zf.read(STATE_MEMBER))
    except (zipfile.BadZipFile, OSError, ValueError, TypeError) as e:
        raise EdgeposeError(f"{path} is not a readable edgepose training checkpoint ({e})") from e
    return config, state


def load_checkpoint(path: str | os.PathLike) -> tuple[keras.Model, ModelConfig, TrainState]:
    """(compiled training model with its optimizer state, config, state). Call inside the
    strategy's scope when training distributed."""
    from edgepose.train import loss as _loss  # noqa: F401  (registers EuclideanLoss)

    config, state = read_checkpoint_info(path)
    try:
        model = keras.saving.load_model(path, compile=True)
    except Exception as e:  # Keras raises many types for a damaged file
        raise EdgeposeError(f"{path}: Keras could not load the checkpoint ({type(e).__name__}: {e})") from e
    return model, config, state


def remove_partial_files(folder: str | os.PathLike) -> list[Path]:
    """Deletes temporary files a killed writer left (``.<name>.*.part.keras``); returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    leftovers = [p for p in folder.iterdir() if p.name.startswith(".") and ".part" in p.name]
    for p in leftovers:
        if p.is_dir():
            import shutil

            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return leftovers
