"""Calibration photos for int8 exports, preprocessed exactly as at inference time."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError

#: How many calibration photos int8 exports use by default (all of them if the folder has fewer).
DEFAULT_NUM_CALIBRATION = 100


def calibration_files(folder: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """Image files of ``folder`` (sorted by name, first ``limit``); EdgeposeError if there are none."""
    from edgepose.image_io import IMAGE_SUFFIXES

    folder = Path(folder)
    if not folder.is_dir():
        raise EdgeposeError(f"calibration folder {str(folder)!r} does not exist (int8 needs a folder of photos)")
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EdgeposeError(f"calibration folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files[:limit] if limit else files


def load_calibration(folder: str | os.PathLike, config: ModelConfig,
                     limit: int | None = DEFAULT_NUM_CALIBRATION) -> np.ndarray:
    """Network inputs of the calibration photos: float32 [N, H, W, 3] at ``config.input_size``.

    Each photo is letterboxed with ``edgepose.preprocess.letterbox`` (aspect kept, padded bottom and
    right, the config's channel order, mean and scale), exactly as the estimator feeds the network.
    Unreadable files are skipped; EdgeposeError if none is readable.
    """
    from edgepose.image_io import read_image
    from edgepose.preprocess import letterbox

    if config.input_size is None:
        raise ValueError("calibration needs a fixed input size (config.input_size)")
    batch = []
    for f in calibration_files(folder, limit):
        try:
            image = read_image(f)
        except EdgeposeError:
            continue
        batch.append(letterbox(image, config.input_size, config)[0])
    if not batch:
        raise EdgeposeError(f"none of the calibration images in {folder} could be read")
    return np.stack(batch)
