"""--augment (flip and scales averaged before decoding) and --render openpose, on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.errors import EdgeposeError
from edgepose.pose import Pose
from edgepose.skeleton import COCO18
from tests.conftest import COCO_IMAGES

PHOTO = COCO_IMAGES / "000000000790.jpg"  # four people around a table


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_flipped_maps_mapped_back_match_the_plain_maps(estimator):
    """The flipped photo's maps, mirrored back with left/right channels swapped and the PAF x
    component negated, agree with the plain photo's maps; mirrored without the swap they do not."""
    from edgepose.augment import _content_maps, _resample, flip_channels
    from edgepose.image_io import read_image
    from edgepose.preprocess import letterbox

    image = read_image(PHOTO)
    h, w = image.shape[:2]
    x, box = letterbox(image, estimator.input_size_for((h, w)), estimator.config)
    hm, pf, _ = _content_maps(estimator, x, box)
    xf, boxf = letterbox(np.ascontiguousarray(image[:, ::-1]), estimator.input_size_for((h, w)), estimator.config)
    hmf, pff, _ = _content_maps(estimator, xf, boxf)
    hm_src, paf_src, sign = flip_channels(COCO18)
    sx = box.content_size[1] / w
    ax, ay = (-1.0, w * sx / 8 - 1.0), (1.0, 0.0)  # map x -> mirrored map x (stride 8)
    hm_back = _resample(hmf[..., hm_src], hm.shape[:2], ax, ay)
    pf_back = _resample(pff[..., paf_src] * sign, pf.shape[:2], ax, ay)
    parts = slice(0, COCO18.num_parts)
    # measured on this photo: 0.96 and 0.96 mapped; 0.30 and 0.18 mirrored only
    assert _corr(hm[..., parts], hm_back[..., parts]) > 0.9
    assert _corr(pf, pf_back) > 0.9
    assert _corr(hm[..., parts], hmf[:, ::-1, parts]) < 0.5
    assert _corr(pf, pff[:, ::-1]) < 0.5


def test_augmented_prediction_finds_the_same_people(estimator):
    import edgepose

    plain = estimator.predict(PHOTO)
    est = edgepose.load(estimator.backend.path, augment="flip,1,0.75")
    aug = est.predict(PHOTO)
    assert est.describe()["augment"] == "flip,1,0.75" and "augment" not in estimator.describe()
    assert len(aug.poses) == len(plain.poses) == 4
    assert aug.input_size == plain.input_size and set(aug.timings_ms) >= {"infer", "merge", "decode"}
    # every augmented person lies on a plain person: mean distance of shared parts < 10 px
    for p in aug.poses:
        best = min(np.linalg.norm(p.keypoints[(p.found & q.found), :2] - q.keypoints[(p.found & q.found), :2],
                                  axis=1).mean() if (p.found & q.found).any() else 1e9 for q in plain.poses)
        assert best < 10


@pytest.mark.parametrize("recipe, message", [("flip,huge", "neither 'flip' nor a scale"), ("flip,9", "outside")])
def test_bad_augment_recipe(recipe, message):
    from edgepose.augment import Augment

    with pytest.raises(EdgeposeError, match=message):
        Augment.parse(recipe)


def test_openpose_render_colours_widths_and_order():
    from edgepose.render import draw_openpose

    kp = np.zeros((18, 3), np.float32)
    kp[1] = (100, 50, 0.9)   # neck
    kp[2] = (40, 50, 0.8)    # right shoulder: limb 0 neck-right shoulder, OpenPose red (255, 0, 0)
    kp[16] = (40, 150, 0.7)  # right ear: the ear-shoulder helper limb is not drawn
    photo = np.full((200, 160, 3), 255, np.uint8)
    out = draw_openpose(photo, [Pose(kp, 0.8)])
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (0, 0, 0)                      # black background, the photo is not drawn
    assert tuple(out[50, 70]) == (0, 0, 153)                  # limb midpoint: red at 60 %, BGR
    assert tuple(out[50 + 3, 70]) == (0, 0, 153) and tuple(out[50 + 6, 70]) == (0, 0, 0)  # 4 px half-width
    assert tuple(out[50, 100]) == (0, 85, 255)                # neck joint drawn over the limb, full colour
    assert tuple(out[100, 40]) == (0, 0, 0)                   # no shoulder-ear limb
    assert tuple(out[150, 40]) == tuple(int(c) for c in COCO18.colors[16][::-1])  # the ear joint itself
