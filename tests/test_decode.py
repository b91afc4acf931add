"""The PAF decoder on maps rendered from known skeletons (tests/synthetic.py): no network needed.

Expected values are the rendered ground truth: every visible part found within 1 map pixel,
exactly one decoded person per rendered person, with exactly the visible parts.
"""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import crop_to_map, person, render

from edgepose.decode import DecoderConfig, connect_limbs, decode, find_peaks
from edgepose.pose import Pose
from edgepose.skeleton import COCO18

SHAPE = (60, 100)  # map (h, w): a 480x800 input at stride 8

# Part indices (COCO-18) used to build scenes.
NOSE, NECK, RSHO, RELB, RWRI, LSHO, LELB, LWRI = range(8)
RHIP, RKNE, RANK, LHIP, LKNE, LANK, REYE, LEYE, REAR, LEAR = range(8, 18)

CONFIGS = {
    "default": DecoderConfig(),
    "quadratic": DecoderConfig(refine="quadratic"),
    "no-refine": DecoderConfig(refine="none"),
    "upsample4": DecoderConfig(peak_method="upsample", upsample=4, refine="none"),
    "upsample8-smooth": DecoderConfig(peak_method="upsample", upsample=8, refine="quadratic", smooth_sigma=0.4),
}


def assert_people_match(poses: list[Pose], truth: list[np.ndarray], tol: float = 1.0) -> None:
    """One pose per true person (no merge, no split), exactly its visible parts, each within tol."""
    assert len(poses) == len(truth), f"{len(poses)} people decoded, {len(truth)} rendered"
    assigned = []
    for pose in poses:
        # The true person closest to this pose over the parts they both have.
        cost = []
        for kp in truth:
            both = pose.found & (kp[:, 2] > 0)
            d = np.hypot(*(pose.keypoints[both, :2] - kp[both, :2]).T)
            cost.append(d.mean() if both.any() else np.inf)
        assigned.append(int(np.argmin(cost)))
    assert sorted(assigned) == list(range(len(truth))), f"people merged or split: {assigned}"
    for pose, t in zip(poses, assigned):
        kp = truth[t]
        visible = kp[:, 2] > 0
        missing = [COCO18.parts[i] for i in np.nonzero(visible & ~pose.found)[0]]
        extra = [COCO18.parts[i] for i in np.nonzero(~visible & pose.found)[0]]
        assert not missing and not extra, f"person {t}: missing {missing}, extra {extra}"
        err = np.hypot(*(pose.keypoints[visible, :2] - kp[visible, :2]).T)
        worst = int(np.argmax(err))
        assert err.max() <= tol, (
            f"person {t}: {COCO18.parts[np.nonzero(visible)[0][worst]]} off by {err.max():.3f} px"
        )
        assert np.all(pose.keypoints[visible, 2] > 0) and 0.0 < pose.score <= 1.0


def scene_separate() -> list[np.ndarray]:
    """Three people of different sizes, apart, at non-integer positions."""
    return [person(18.3, 14.6, 40.0), person(50.7, 12.2, 44.0), person(82.4, 17.9, 36.0)]


def scene_crossing() -> list[np.ndarray]:
    """Two people whose left arms (same limb type, same channels) cross each other."""
    a = person(38.0, 15.0, 40.0)
    b = person(60.0, 15.0, 40.0, mirror=True)  # their left side faces a
    a[LELB, :2], a[LWRI, :2] = (46.2, 22.4), (55.6, 31.3)
    b[LELB, :2], b[LWRI, :2] = (55.1, 22.8), (45.3, 31.7)
    return [a, b]


def scene_touching() -> list[np.ndarray]:
    """Side by side: left wrists 2.9 px apart and left shoulders 3 px apart."""
    a = person(30.0, 15.0, 40.0)
    b = person(41.8, 15.2, 40.0, mirror=True)
    a[LWRI, :2] = (35.4, 28.4)
    b[LWRI, :2] = (38.2, 27.6)
    return [a, b]


def scene_partial() -> list[np.ndarray]:
    """Upper body only; head and shoulders only; one arm and one leg."""
    upper = [NOSE, NECK, RSHO, RELB, RWRI, LSHO, LELB, LWRI, REYE, LEYE, REAR, LEAR]
    head = [NOSE, NECK, RSHO, LSHO, REYE, LEYE, REAR, LEAR]
    side = [NECK, RSHO, RELB, RWRI, RHIP, RKNE, RANK]
    return [person(18.0, 20.0, 40.0, upper), person(50.0, 30.0, 40.0, head), person(80.0, 12.0, 40.0, side)]


def scene_border() -> list[np.ndarray]:
    """People cut by the left, bottom-right and top borders; parts outside are not labelled."""
    people = [person(4.6, 20.0, 40.0), person(90.3, 40.0, 40.0), person(50.0, 0.6, 40.0)]
    return [crop_to_map(p, SHAPE) for p in people]


SCENES = {
    "separate": scene_separate,
    "crossing": scene_crossing,
    "touching": scene_touching,
    "partial": scene_partial,
    "border": scene_border,
}


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("config", CONFIGS)
def test_decodes_rendered_people(scene: str, config: str) -> None:
    truth = SCENES[scene]()
    heatmaps, pafs = render(truth, SHAPE)
    assert_people_match(decode(heatmaps, pafs, CONFIGS[config]), truth)


def test_border_scene_really_touches_the_border() -> None:
    # Guards the scene itself: some visible parts lie within 1 px of the edges, some are cut.
    truth = scene_border()
    vis = np.concatenate([kp[kp[:, 2] > 0, :2] for kp in truth])
    assert (vis[:, 0] < 1).any() and (vis[:, 1] < 1).any() and (vis[:, 0] > SHAPE[1] - 2).any()
    assert sum(int((kp[:, 2] == 0).sum()) for kp in truth) >= 6


def test_logquadratic_refinement_is_subpixel_exact() -> None:
    # A Gaussian peak's log is a parabola: the refined interior positions are exact.
    truth = scene_separate()
    heatmaps, pafs = render(truth, SHAPE)
    assert_people_match(decode(heatmaps, pafs, DecoderConfig(refine="logquadratic")), truth, tol=0.01)


def test_refinement_beats_integer_peaks() -> None:
    truth = scene_separate()
    heatmaps, pafs = render(truth, SHAPE)

    def mean_error(config: DecoderConfig) -> float:
        errs = []
        for pose in decode(heatmaps, pafs, config):
            # Match by neck (each scene person has a distinct neck).
            kp = min(truth, key=lambda t: np.hypot(*(t[NECK, :2] - pose.keypoints[NECK, :2])))
            errs.append(np.hypot(*(pose.keypoints[:, :2] - kp[:, :2]).T))
        return float(np.concatenate(errs).mean())

    assert mean_error(DecoderConfig(refine="quadratic")) < 0.6 * mean_error(DecoderConfig(refine="none"))


def test_noisy_maps_still_decode() -> None:
    truth = scene_crossing() + [person(85.0, 14.0, 36.0)]
    heatmaps, pafs = render(truth, SHAPE)
    rng = np.random.default_rng(0)
    heatmaps = heatmaps + rng.normal(0, 0.01, heatmaps.shape).astype(np.float32)
    pafs = pafs + rng.normal(0, 0.05, pafs.shape).astype(np.float32)
    assert_people_match(decode(heatmaps, pafs), truth)


def test_collinear_limbs_use_each_peak_once() -> None:
    # Two left forearms in a row, 3 px apart: the long elbow(a) -> wrist(b) candidate also lies
    # on the field; the greedy step must pair each elbow and wrist once, with its own.
    a, b = person(20.0, 15.0, 40.0), person(45.0, 15.0, 40.0)
    a[LELB, :2], a[LWRI, :2] = (30.0, 30.0), (37.0, 30.2)
    b[LELB, :2], b[LWRI, :2] = (40.0, 30.4), (47.0, 30.6)
    heatmaps, pafs = render([a, b], SHAPE)
    config = DecoderConfig()
    peaks = find_peaks(heatmaps[..., :18], config)
    conns = connect_limbs(peaks, pafs, COCO18, config)
    forearm = COCO18.limbs.index((LELB, LWRI))
    sel = conns.limb == forearm
    ends = np.concatenate([peaks.xy[conns.a[sel]], peaks.xy[conns.b[sel]]], axis=1)  # [M, 4]
    want = np.array([np.r_[t[LELB, :2], t[LWRI, :2]] for t in (a, b)])
    assert len(ends) == 2
    # Each true forearm is one connection, both ends within 1 px.
    for w in want:
        assert np.abs(ends - w).max(axis=1).min() <= 1.0, f"forearm {w} not connected: {ends}"
    assert_people_match(decode(heatmaps, pafs), [a, b])


def test_spurious_helper_field_does_not_merge_people() -> None:
    # A false shoulder -> ear field from person a's left shoulder to person b's left ear, and no
    # competing true helper field: the limb is accepted, but the two people share part types,
    # so it must not merge them.
    no_left_ear = [p for p in range(18) if p != LEAR]
    a, b = person(30.0, 15.0, 40.0, no_left_ear), person(52.0, 15.0, 40.0, no_left_ear)
    ghost = np.zeros_like(a)
    ghost[LSHO], ghost[LEAR] = a[LSHO], b[LEAR]
    ghost[LEAR, 2] = 1.0
    b_ear = np.zeros_like(b)  # b's left ear joined to b by its eye -> ear field only
    b_ear[LEYE], b_ear[LEAR] = b[LEYE], b[LEAR]
    b_ear[LEAR, 2] = 1.0
    heatmaps, pafs = render([a, b, ghost, b_ear], SHAPE)
    config = DecoderConfig()
    conns = connect_limbs(find_peaks(heatmaps[..., :18], config), pafs, COCO18, config)
    assert (conns.limb == COCO18.limbs.index((LSHO, LEAR))).sum() == 1  # the spurious limb
    b_full = b.copy()
    b_full[LEAR, 2] = 1.0
    assert_people_match(decode(heatmaps, pafs, config), [a, b_full])


@pytest.mark.parametrize("scene", ["crossing", "touching", "border"])
def test_numba_and_numpy_limb_kernels_agree(scene: str) -> None:
    heatmaps, pafs = render(SCENES[scene](), SHAPE)
    rng = np.random.default_rng(1)
    pafs = pafs + rng.normal(0, 0.1, pafs.shape).astype(np.float32)  # scores away from 0/1
    config = DecoderConfig()
    peaks = find_peaks(heatmaps[..., :18], config)
    fast = connect_limbs(peaks, pafs, COCO18, config, kernel="numba")
    ref = connect_limbs(peaks, pafs, COCO18, config, kernel="numpy")
    assert np.array_equal(fast.a, ref.a) and np.array_equal(fast.b, ref.b)
    assert np.allclose(fast.score, ref.score, atol=1e-5)


def test_min_parts_prunes_small_people() -> None:
    truth = [person(30.0, 15.0, 40.0), person(70.0, 20.0, 40.0, [NECK, RSHO, RELB])]
    heatmaps, pafs = render(truth, SHAPE)
    assert_people_match(decode(heatmaps, pafs, DecoderConfig(min_parts=4)), truth[:1])
    assert_people_match(decode(heatmaps, pafs, DecoderConfig(min_parts=3)), truth)


def test_inputs_are_not_modified() -> None:
    heatmaps, pafs = render(scene_crossing(), SHAPE)
    h0, p0 = heatmaps.copy(), pafs.copy()
    for config in CONFIGS.values():
        decode(heatmaps, pafs, config)
    assert np.array_equal(heatmaps, h0) and np.array_equal(pafs, p0)
    # Read-only arrays (e.g. from a runtime's output buffer) are accepted.
    heatmaps.setflags(write=False)
    pafs.setflags(write=False)
    assert len(decode(heatmaps, pafs)) == 2


def test_empty_maps_give_no_people() -> None:
    h, w = SHAPE
    assert decode(np.zeros((h, w, 19), np.float32), np.zeros((h, w, 38), np.float32)) == []
    background = np.zeros((h, w, 19), np.float32)
    background[..., 18] = 1.0
    assert decode(background, np.zeros((h, w, 38), np.float32)) == []
    # Peaks without any field between them are not people either.
    heatmaps, _ = render(scene_separate(), SHAPE)
    assert decode(heatmaps, np.zeros((h, w, 38), np.float32)) == []


@pytest.mark.parametrize(
    "hshape, pshape",
    [
        ((60, 100, 17), (60, 100, 38)),  # too few heatmap channels
        ((60, 100, 19), (60, 100, 36)),  # too few PAF channels
        ((60, 100, 19), (60, 99, 38)),  # sizes differ
        ((1, 60, 100, 19), (1, 60, 100, 38)),  # a batch, not one frame
        ((60, 100), (60, 100, 38)),  # no channel axis
    ],
)
def test_wrong_shapes_raise(hshape: tuple[int, ...], pshape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="heatmaps|pafs"):
        decode(np.zeros(hshape, np.float32), np.zeros(pshape, np.float32))


def test_heatmaps_without_background_are_accepted() -> None:
    truth = scene_touching()
    heatmaps, pafs = render(truth, SHAPE)
    assert_people_match(decode(heatmaps[..., :18], pafs), truth)


def test_float16_and_int8_maps() -> None:
    truth = scene_crossing()
    heatmaps, pafs = render(truth, SHAPE)
    assert_people_match(decode(heatmaps.astype(np.float16), pafs.astype(np.float16)), truth)
    # int8 as a quantised runtime gives it: value = scale * (q - zero_point).
    hs, hz, ps, pz = 1 / 255, -128, 2 / 255, 0
    hq = np.clip(np.round(heatmaps / hs + hz), -128, 127).astype(np.int8)
    pq = np.clip(np.round(pafs / ps + pz), -128, 127).astype(np.int8)
    assert_people_match(decode(hq, pq, heatmap_quant=(hs, hz), paf_quant=(ps, pz)), truth)
    with pytest.raises(ValueError, match="quant"):
        decode(hq, pq)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        DecoderConfig(peak_method="maxpool")
    with pytest.raises(ValueError):
        DecoderConfig(refine="cubic")
    with pytest.raises(ValueError):
        DecoderConfig(paf_samples=1)
