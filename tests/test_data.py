"""Ground truth on real coco_sample annotations: heatmap peaks, PAFs, masks, flips, pipeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.config import ModelConfig
from edgepose.data import augment as aug
from edgepose.data import groundtruth as gt
from edgepose.data.coco import CocoKeypoints, coco17_to_coco18
from edgepose.errors import EdgeposeError
from edgepose.skeleton import COCO18

DATA = Path(__file__).resolve().parent / "data"
COCO_DIR = DATA / "coco_sample"
IMAGES, ANNOTATIONS = COCO_DIR / "images", COCO_DIR / "person_keypoints.json"
INPUT = (368, 368)
STRIDE = 8
# drawn on the map grid (exact Gaussians and limb rectangles per map pixel; the input-resolution
# default is checked against per-pixel references in test_train_finetune.py)
ON_MAP = gt.Convention(sigma=7.0, limb_width=1.0, resolution="map", paf_extent="segment", paf_overlap="average")


@pytest.fixture(scope="module")
def coco() -> CocoKeypoints:
    return CocoKeypoints(IMAGES, ANNOTATIONS)


@pytest.fixture(scope="module")
def sampler(coco):
    from edgepose.data.pipeline import CocoSampler, DataConfig

    return CocoSampler(coco, ModelConfig(), DataConfig(input_size=INPUT, augment=None, convention=ON_MAP),
                       cache_images=True)


def letterbox_keypoints(coco: CocoKeypoints, i: int, sampler) -> np.ndarray:
    t = sampler.transform(i, 0, 0)
    return aug.warp_keypoints(coco.keypoints(i), t)


def test_coco17_to_18_neck_is_shoulder_midpoint(coco):
    checked = 0
    for i in range(len(coco)):
        for ann in coco.records[i].annotations:
            kp17 = np.asarray(ann["keypoints"], np.float32).reshape(17, 3)
            kp18 = coco17_to_coco18(kp17)
            ls, rs = kp17[5], kp17[6]  # COCO-17 left/right shoulder
            if ls[2] > 0 and rs[2] > 0:
                np.testing.assert_allclose(kp18[1, :2], (ls[:2] + rs[:2]) / 2)
                checked += 1
            else:
                assert np.all(kp18[1] == 0)
            np.testing.assert_array_equal(kp18[COCO18.part_index("left_wrist")], kp17[9] * (kp17[9, 2] > 0))
    assert checked > 50


def test_heatmap_peaks_at_keypoints_subpixel(coco, sampler):
    """A log-parabola through the 3x3 peak recovers each isolated keypoint's map position."""
    s_map = ON_MAP.sigma / STRIDE
    errors = []
    for i in range(len(coco)):
        _, hm, _, _ = sampler.sample_with(i, sampler.transform(i, 0, 0))
        kp = letterbox_keypoints(coco, i, sampler)
        m = gt.to_map_coords(kp[..., :2], STRIDE)
        h, w = hm.shape[:2]
        for p in range(len(kp)):
            for k in range(COCO18.num_parts):
                if kp[p, k, 2] <= 0:
                    continue
                x, y = m[p, k]
                others = np.delete(m[:, k], p, axis=0)[np.delete(kp[:, k, 2], p) > 0]
                if len(others) and np.min(np.hypot(*(others - (x, y)).T)) < 6 * s_map:
                    continue  # another person's same part is close: the max of two Gaussians
                cx, cy = int(round(x)), int(round(y))
                if not (1 <= cx < w - 1 and 1 <= cy < h - 1):
                    continue
                patch = np.log(hm[cy - 1:cy + 2, cx - 1:cx + 2, k].astype(np.float64))
                assert hm[cy, cx, k] == hm[cy - 1:cy + 2, cx - 1:cx + 2, k].max()
                dx = 0.5 * (patch[1, 0] - patch[1, 2]) / (patch[1, 0] - 2 * patch[1, 1] + patch[1, 2])
                dy = 0.5 * (patch[0, 1] - patch[2, 1]) / (patch[0, 1] - 2 * patch[1, 1] + patch[2, 1])
                errors.append(np.hypot(cx + dx - x, cy + dy - y))
        assert np.allclose(hm[..., -1], np.clip(1 - hm[..., :-1].max(-1), 0, 1))
    assert len(errors) > 200
    assert max(errors) < 1e-4  # map pixels (measured max 1.6e-7 over 1090 keypoints)


def _segment_distance(px: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((px - a) @ ab) / max(ab @ ab, 1e-12), 0, 1)
    return np.linalg.norm(px - (a + t[:, None] * ab), axis=1)


def test_pafs_unit_along_limbs_zero_elsewhere(coco, sampler):
    width = ON_MAP.limb_width
    unit_checked = 0
    for i in range(len(coco)):
        _, _, paf, _ = sampler.sample_with(i, sampler.transform(i, 0, 0))
        kp = letterbox_keypoints(coco, i, sampler)
        m = gt.to_map_coords(kp[..., :2], STRIDE)
        h, w = paf.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w]
        px = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
        for l, ((a, b), (cx, cy)) in enumerate(zip(COCO18.limbs, COCO18.paf_channels)):
            field = paf[..., [cx, cy]].reshape(-1, 2)
            norms = np.linalg.norm(field, axis=1)
            assert norms.max() <= 1 + 1e-5
            people = [p for p in range(len(kp)) if kp[p, a, 2] > 0 and kp[p, b, 2] > 0]
            dist = np.full(len(px), np.inf)
            for p in people:
                dist = np.minimum(dist, _segment_distance(px, m[p, a].astype(np.float64), m[p, b].astype(np.float64)))
            assert np.all(norms[dist > width + 1e-4] == 0), "field away from every limb"
            for p in people:
                pa, pb = m[p, a].astype(np.float64), m[p, b].astype(np.float64)
                length = np.linalg.norm(pb - pa)
                if length < 2:
                    continue
                mid = np.round((pa + pb) / 2).astype(int)
                if not (0 <= mid[0] < w and 0 <= mid[1] < h):
                    continue
                q = mid.astype(np.float64)
                # near: within the field's square-capped rectangle of another person's limb
                near = [o for o in people if o != p and _segment_distance(
                    q[None], m[o, a].astype(np.float64), m[o, b].astype(np.float64))[0] <= width * 1.5]
                if near or _segment_distance(q[None], pa, pb)[0] > width - 0.05:
                    continue
                v = paf[mid[1], mid[0], [cx, cy]]
                np.testing.assert_allclose(v, (pb - pa) / length, atol=1e-5)
                unit_checked += 1
    assert unit_checked > 100


def test_masks_cover_unannotated_and_crowd_people(coco, sampler):
    from pycocotools.coco import COCO

    api = COCO(str(ANNOTATIONS))
    covered = 0
    for i in range(len(coco)):
        rec = coco.records[i]
        ignored = [a for a in rec.annotations if a["iscrowd"] or a["num_keypoints"] == 0]
        _, _, _, mask = sampler.sample_with(i, sampler.transform(i, 0, 0))
        t = sampler.transform(i, 0, 0)
        cover = np.zeros(INPUT, np.float32)
        for a in ignored:
            seg = api.annToMask(a).astype(np.float32)
            cover = np.maximum(cover, cv2.warpAffine(seg, t.matrix, INPUT[::-1], flags=cv2.INTER_LINEAR))
        frac = cover.reshape(INPUT[0] // 8, 8, INPUT[1] // 8, 8).mean(axis=(1, 3))
        assert np.all(mask[frac >= 0.75] == 0), "an ignored person is not masked"
        assert np.all(mask[frac == 0] == 1), "a cell without ignored people is masked"
        covered += int((frac >= 0.75).sum())
        # labelled people's keypoints stay in the loss unless they stand inside an ignored region
        kp = letterbox_keypoints(coco, i, sampler)
        for x, y, v in kp.reshape(-1, 3):
            mx, my = (int(round(c)) for c in gt.to_map_coords(np.array([x, y]), 8))
            if v > 0 and 0 <= mx < mask.shape[1] and 0 <= my < mask.shape[0] and frac[my, mx] == 0:
                assert mask[my, mx] == 1
    assert covered > 100  # cells: coco_sample has 9 crowd + 101 unannotated people in these images


def test_horizontal_flip_swaps_left_and_right(coco, sampler):
    perm = COCO18.flip_permutation()
    limb_of = {pair: l for l, pair in enumerate(COCO18.limbs)}
    flipped_limb = [limb_of[(perm[a], perm[b])] for a, b in COCO18.limbs]
    ch = np.asarray(COCO18.paf_channels)
    for i in (0, 3, 9, 15):
        t0 = sampler.transform(i, 0, 0)
        t1 = aug.Transform(aug.flip_matrix(INPUT[1]) @ np.vstack([t0.matrix, [0, 0, 1]]), True)
        img0, hm0, paf0, m0 = sampler.sample_with(i, t0)
        img1, hm1, paf1, m1 = sampler.sample_with(i, t1)
        assert np.abs(img1 - img0[:, ::-1]).max() <= 1.0  # cv2 fixed-point bilinear: measured 1 of 255
        np.testing.assert_array_equal(m1, m0[:, ::-1])
        np.testing.assert_allclose(hm1[..., :-1], hm0[:, ::-1][..., list(perm)], atol=1e-5)
        np.testing.assert_allclose(hm1[..., -1], hm0[:, ::-1, -1], atol=1e-5)
        for l, fl in enumerate(flipped_limb):
            np.testing.assert_allclose(paf1[..., ch[fl, 0]], -paf0[:, ::-1, ch[l, 0]], atol=1e-4)
            np.testing.assert_allclose(paf1[..., ch[fl, 1]], paf0[:, ::-1, ch[l, 1]], atol=1e-4)
        # the person's left wrist is now where the mirrored right wrist was
        lw, rw = COCO18.part_index("left_wrist"), COCO18.part_index("right_wrist")
        if hm0[..., rw].max() > 0.5:
            y, x = np.unravel_index(hm0[..., rw].argmax(), hm0.shape[:2])
            assert hm1[y, hm0.shape[1] - 1 - x, lw] == pytest.approx(hm0[y, x, rw], abs=1e-5)


def test_pipeline_batches_are_seeded_masked_and_resumable(coco):
    from edgepose.data.pipeline import DataConfig, coco_dataset

    cfg = ModelConfig(stages=2)
    data = DataConfig(input_size=(128, 96), seed=3)
    full = list(coco_dataset(coco, cfg, data, batch_size=2, epochs=[0, 1], steps=3, parallel=2))
    again = list(coco_dataset(coco, cfg, data, batch_size=2, epochs=[0, 1], steps=3, parallel=2))
    resumed = list(coco_dataset(coco, cfg, data, batch_size=2, epochs=[0, 1], steps=3, start_step=2, parallel=2))
    assert len(full) == 6 and len(resumed) == 4
    inputs, targets = full[0]
    assert inputs["image"].shape == (2, 128, 96, 3)
    assert inputs["heatmap_mask"].shape == (2, 16, 12, 19) and inputs["paf_mask"].shape == (2, 16, 12, 38)
    assert len(targets) == 4 and targets[0].shape == (2, 16, 12, 19) and targets[1].shape == (2, 16, 12, 38)
    for (x, y), (x2, y2) in zip(full, again):
        np.testing.assert_array_equal(x["image"], x2["image"])
        np.testing.assert_array_equal(y[1], y2[1])
    for (x, _), (x2, _) in zip(full[2:], resumed):
        np.testing.assert_array_equal(x["image"], x2["image"])
    assert not np.array_equal(full[0][0]["image"], full[3][0]["image"])  # epochs differ
    for x, y in full:
        assert np.all(np.asarray(y[0])[np.asarray(x["heatmap_mask"]) == 0] == 0)


def test_not_coco_annotations_fail_clearly(tmp_path):
    bad = tmp_path / "list.json"
    bad.write_text("[1, 2, 3]")
    with pytest.raises(EdgeposeError, match="not a COCO person-keypoints annotation file.*list"):
        CocoKeypoints(IMAGES, bad)
    no_kp = tmp_path / "detections.json"
    no_kp.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}],
                                 "annotations": [{"image_id": 1, "bbox": [0, 0, 1, 1], "category_id": 1}]}))
    with pytest.raises(EdgeposeError, match="keypoints"):
        CocoKeypoints(IMAGES, no_kp)
    with pytest.raises(EdgeposeError, match="not valid JSON"):
        CocoKeypoints(IMAGES, IMAGES / "000000000790.jpg")
    with pytest.raises(EdgeposeError, match="does not exist"):
        CocoKeypoints(IMAGES, tmp_path / "nothing.json")


def test_missing_images_fail_clearly(tmp_path):
    some = tmp_path / "images"
    some.mkdir()
    for name in sorted(p.name for p in IMAGES.iterdir())[:3]:
        shutil.copy(IMAGES / name, some / name)
    with pytest.raises(EdgeposeError, match=r"\d+ of \d+ images named in .* are missing from"):
        CocoKeypoints(some, ANNOTATIONS)
