"""Shared test fixtures: the real photos in tests/data (copied from the project's shared data, see
tests/data/README.md) and the pretrained model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
COCO_SAMPLE = DATA / "coco_sample"
COCO_IMAGES = COCO_SAMPLE / "images"
COCO_ANNOTATIONS = COCO_SAMPLE / "person_keypoints.json"
CALIBRATION = DATA / "calibration"
OCHUMAN = DATA / "ochuman"


@pytest.fixture(scope="session")
def coco_annotations() -> dict:
    return json.loads(COCO_ANNOTATIONS.read_text())


@pytest.fixture(scope="session")
def pretrained_path() -> Path:
    """The converted pretrained model; `make test` creates it, so a missing one is a failure."""
    from edgepose.paths import default_model_path

    path = default_model_path()
    if not path.exists():
        pytest.fail(f"{path} is missing: run `bash scripts/setup.sh` first")
    return path


@pytest.fixture(scope="session")
def estimator(pretrained_path):
    import edgepose

    return edgepose.load(pretrained_path)


def coco_people(annotations: dict, file_name: str, min_keypoints: int = 8) -> list[dict]:
    """Annotated people of one image with at least ``min_keypoints`` labelled keypoints."""
    image = next(im for im in annotations["images"] if im["file_name"] == file_name)
    return [a for a in annotations["annotations"]
            if a["image_id"] == image["id"] and a["num_keypoints"] >= min_keypoints and not a["iscrowd"]]
