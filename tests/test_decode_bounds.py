"""The decoder stays bounded and well-behaved on any maps: caps, non-finite values, fuzzing.

The fuzz test (hypothesis) feeds maps a broken, untrained or badly quantised model can produce —
noise, constants, NaN/inf, negatives, huge values, int8/uint8 with quantisation parameters, odd
layouts, 0..250 pixels a side, any channel count — and checks what must hold for all of them: a
clear ValueError on wrong shapes or dtypes and nothing else, the inputs untouched, keypoints
inside the map, the caps respected, the same result when several threads decode at once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from synthetic import person, render

from conftest import COCO_IMAGES
from edgepose.decode import DecoderConfig, connect_limbs, decode, find_peaks
from edgepose.pose import Pose
from edgepose.skeleton import COCO18

NO_CAPS = DecoderConfig(max_peaks_per_part=None, max_limb_candidates=None, max_people=None)

FUZZ_CONFIGS = {
    "default": DecoderConfig(),
    "int8": DecoderConfig.for_precision("int8"),
    "tight caps": DecoderConfig(max_peaks_per_part=3, max_limb_candidates=2, max_people=1, min_parts=1),
    "quadratic, smoothed": DecoderConfig(refine="quadratic", smooth_sigma=0.7),
    "centroid": DecoderConfig(refine="centroid"),
    # Without caps or with upsampling, time grows with the map: only used on small maps.
    "no caps": NO_CAPS,
    "upsample4": DecoderConfig(peak_method="upsample", upsample=4, refine="quadratic"),
}
SMALL_ONLY = {"no caps": 16 * 16, "upsample4": 32 * 32}

SPECIAL = (np.nan, np.inf, -np.inf, -1.0, -1e30, 1e30, 0.0, 1.0)


def _content(rng: np.random.Generator, kind: str, shape: tuple[int, int, int], constant: float,
             heat: bool) -> np.ndarray:
    """float32 map of one kind: what broken or real networks give."""
    h, w, c = shape
    if kind == "noise":  # untrained / broken: heatmaps uniform 0..1, PAFs standard normal
        return rng.random(shape, np.float32) if heat else rng.standard_normal(shape, np.float32)
    if kind == "constant":
        return np.full(shape, constant, np.float32)
    if kind == "checker":  # a maximum every other pixel
        with np.errstate(invalid="ignore"):  # 0 * inf
            checker = (np.indices((h, w)).sum(0) % 2)[..., None].astype(np.float32)
            return np.broadcast_to(checker * np.float32(constant), shape).copy()
    # "people": network-like maps of 1..3 rendered people, channels cut to the drawn count.
    people = [person(rng.uniform(0, max(w, 1)), rng.uniform(0, max(h, 1)), rng.uniform(4, 60))
              for _ in range(int(rng.integers(1, 4)))]
    hm, pf = render(people, (h, w))
    full = hm if heat else pf
    out = np.zeros(shape, np.float32)
    out[..., : min(c, full.shape[2])] = full[..., :c]
    return out


def _finish(rng: np.random.Generator, a: np.ndarray, dtype: str, special: float,
            quant: tuple[float, float], layout: str) -> np.ndarray:
    """Sprinkles special values, converts to ``dtype`` (quantising integer maps) and lays out."""
    if special > 0 and a.size:
        mask = rng.random(a.shape) < special
        a[mask] = np.asarray(SPECIAL, np.float32)[rng.integers(0, len(SPECIAL), int(mask.sum()))]
    if dtype in ("int8", "uint8"):
        info = np.iinfo(dtype)
        scale, zero = quant
        q = np.nan_to_num(a, nan=0.0, posinf=1e9, neginf=-1e9) / np.float32(scale) + np.float32(zero)
        a = np.clip(np.round(q), info.min, info.max).astype(dtype)
    elif dtype in ("bool", "complex64"):
        a = np.nan_to_num(a).astype(dtype)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            a = a.astype(dtype)  # float16: large values become inf
    if layout == "fortran":
        a = np.asfortranarray(a)
    elif layout == "strided":  # a view into a bigger array (e.g. a batch's sliced outputs)
        big = np.zeros((a.shape[0], a.shape[1] * 2, a.shape[2]), a.dtype)
        big[:, ::2] = a
        a = big[:, ::2]
    elif layout == "readonly":  # a runtime's output buffer
        a.setflags(write=False)
    return a


@st.composite
def decode_cases(draw) -> dict:
    """One case: mostly valid maps of any content, size, dtype and layout; about one in three has
    exactly one thing wrong (channel count, sizes, rank, dtype, quantisation parameters)."""
    h, w = draw(st.integers(1, 250)), draw(st.integers(1, 250))
    wrong = draw(st.sampled_from(["nothing"] * 14 + ["hm_ch", "pf_ch", "hw", "ndim", "dtype", "quant", "empty"]))
    case = {
        "h": h, "w": w,
        "hm_ch": draw(st.sampled_from([18, 19])),
        "pf_ch": 38,
        "pf_hw": (h, w),
        "ndim": 3,
        "dtype": draw(st.sampled_from(["float32", "float16", "float64", "int8", "uint8"])),
        "kind": draw(st.sampled_from(["noise", "people", "people", "constant", "checker"])),
        "constant": draw(st.sampled_from(SPECIAL + (0.5, 0.02))),
        "special": draw(st.sampled_from([0.0, 0.0, 0.01, 0.3])),
        "layout": draw(st.sampled_from(["contiguous", "fortran", "strided", "readonly"])),
        "quant": "given",
        "config": draw(st.sampled_from(sorted(FUZZ_CONFIGS))),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }
    if wrong == "hm_ch":
        case["hm_ch"] = draw(st.integers(1, 17))
    elif wrong == "pf_ch":
        case["pf_ch"] = draw(st.integers(1, 37))
    elif wrong == "hw":
        case["pf_hw"] = draw(st.tuples(st.integers(0, 250), st.integers(0, 250)).filter(lambda t: t != (h, w)))
    elif wrong == "ndim":
        case["ndim"] = draw(st.sampled_from([2, 4]))
    elif wrong == "dtype":
        case["dtype"] = draw(st.sampled_from(["bool", "complex64"]))
    elif wrong == "quant":
        case["quant"] = draw(st.sampled_from(["none", "bad"]))
    elif wrong == "empty":  # 0 pixels high or wide
        case["h"], case["w"] = draw(st.sampled_from([(0, w), (h, 0), (0, 0)]))
        case["pf_hw"] = (case["h"], case["w"])
    if SMALL_ONLY.get(case["config"], 1e9) < h * w:
        case["config"] = "default"
    if case["kind"] == "people" and h * w > 64 * 64:
        case["kind"] = "noise"  # rendering large maps is the test's cost, not the decoder's
    return case


def _build(case: dict) -> tuple[np.ndarray, np.ndarray, dict, bool]:
    """Maps, decode keyword arguments and whether the decoder must accept them (from the spec:
    [h, w, 18 or 19] heatmaps and [h, w, 38] PAFs of the same h, w >= 1, float or quantised integer)."""
    rng = np.random.default_rng(case["seed"])
    int_map = case["dtype"] in ("int8", "uint8")
    good_quant = {"int8": (1 / 255, -128), "uint8": (2 / 255, 128)}.get(case["dtype"], (0.01, 3))
    quant = {"given": good_quant if int_map else None, "none": None,
             "bad": [(float("nan"), 0), (1.0,), ("x", 0), None][int(rng.integers(0, 4))]}[case["quant"]]
    maps = []
    for ch, hw, heat in ((case["hm_ch"], (case["h"], case["w"]), True),
                         (case["pf_ch"], case["pf_hw"], False)):
        a = _content(rng, case["kind"], (*hw, ch), case["constant"], heat)
        a = _finish(rng, a, case["dtype"], case["special"], good_quant, case["layout"])
        if case["ndim"] == 2:
            a = a[..., 0]
        elif case["ndim"] == 4:
            a = a[None]
        maps.append(a)
    kwargs = {"heatmap_quant": quant, "paf_quant": quant} if quant is not None else {}
    bad_quant = case["quant"] == "bad" and quant is not None
    valid = (
        case["ndim"] == 3
        and case["hm_ch"] in (18, 19) and case["pf_ch"] == 38
        and case["pf_hw"] == (case["h"], case["w"]) and case["h"] >= 1 and case["w"] >= 1
        and case["dtype"] not in ("bool", "complex64")
        and (not int_map or quant is not None)
        and not bad_quant
    )
    return maps[0], maps[1], kwargs, valid


def _check_poses(poses: list[Pose], h: int, w: int, config: DecoderConfig) -> None:
    assert isinstance(poses, list)
    if config.max_people is not None:
        assert len(poses) <= config.max_people
    scores = [p.score for p in poses]
    assert scores == sorted(scores, reverse=True)
    # Pixel centres at integers: the map covers -0.5..w-0.5; the sub-pixel method stays on centres.
    lo, hi_x, hi_y = (-0.5, w - 0.5, h - 0.5) if config.peak_method == "upsample" else (0.0, w - 1.0, h - 1.0)
    for p in poses:
        kp = p.keypoints
        assert kp.shape == (18, 3) and kp.dtype == np.float32 and np.isfinite(kp).all()
        assert np.isfinite(p.score)
        found = kp[:, 2] > 0
        assert found.sum() >= config.min_parts
        assert (kp[found, 2] <= 1.0).all()
        assert (kp[found, 0] >= lo).all() and (kp[found, 0] <= hi_x).all(), kp[found, 0]
        assert (kp[found, 1] >= lo).all() and (kp[found, 1] <= hi_y).all(), kp[found, 1]


@settings(max_examples=50, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(decode_cases())
def test_fuzz_decode_any_maps(case: dict) -> None:
    heatmaps, pafs, kwargs, valid = _build(case)
    config = FUZZ_CONFIGS[case["config"]]
    before = [(a.tobytes(), a.dtype, a.shape, a.strides, a.flags.writeable) for a in (heatmaps, pafs)]
    event("valid" if valid else "invalid: ValueError")
    if not valid:
        with pytest.raises(ValueError, match="heatmaps|pafs|quant|maps"):
            decode(heatmaps, pafs, config, **kwargs)
    else:
        poses = decode(heatmaps, pafs, config, **kwargs)
        _check_poses(poses, case["h"], case["w"], config)
        event("people found" if poses else "no people")
        # Several maps at once: two threads decoding the same arrays get the same people.
        with ThreadPoolExecutor(2) as pool:
            again = list(pool.map(lambda _: decode(heatmaps, pafs, config, **kwargs), range(2)))
        for other in again:
            assert [p.keypoints.tobytes() for p in other] == [p.keypoints.tobytes() for p in poses]
    after = [(a.tobytes(), a.dtype, a.shape, a.strides, a.flags.writeable) for a in (heatmaps, pafs)]
    assert after == before, "decode modified its input"


def test_peak_cap_keeps_the_highest_peaks_of_each_part() -> None:
    rng = np.random.default_rng(3)
    hm = rng.random((60, 70, 18), dtype=np.float32)
    every = find_peaks(hm, NO_CAPS)
    capped = find_peaks(hm, NO_CAPS.replace(max_peaks_per_part=5))
    assert np.diff(every.start).min() > 5  # noise has many maxima per part
    for k in range(18):
        all_scores = every.score[every.start[k]:every.start[k + 1]]
        kept = slice(capped.start[k], capped.start[k + 1])
        assert np.array_equal(np.sort(capped.score[kept]), np.sort(all_scores)[-5:])
        # The kept peaks are peaks of the uncapped search (same positions), not new ones.
        all_xy = {tuple(v) for v in every.xy[every.start[k]:every.start[k + 1]].tolist()}
        assert {tuple(v) for v in capped.xy[kept].tolist()} <= all_xy


def test_limb_candidate_cap_keeps_the_best_candidates() -> None:
    # Two rows of four people: every limb type has 8 x 8 candidates, 8 of them right.
    people = [person(12.0 + 22 * i, 10.0 + 30 * j, 24.0) for i in range(4) for j in range(2)]
    heatmaps, pafs = render(people, (64, 96))
    peaks = find_peaks(heatmaps[..., :18], NO_CAPS)
    every = connect_limbs(peaks, pafs, COCO18, NO_CAPS)
    one = connect_limbs(peaks, pafs, COCO18, NO_CAPS.replace(max_limb_candidates=1))
    assert np.bincount(every.limb).max() == 8
    # With one candidate per limb type, each type keeps its best-scoring connection only.
    assert np.array_equal(one.limb, np.unique(every.limb))
    for li, a, b in zip(one.limb, one.a, one.b):
        first = np.nonzero(every.limb == li)[0][0]
        assert (a, b) == (every.a[first], every.b[first])


def test_people_cap_keeps_the_best_people() -> None:
    people = [person(15.0, 12.0, 40.0), person(45.0, 14.0, 36.0), person(75.0, 11.0, 44.0, list(range(8)))]
    heatmaps, pafs = render(people, (60, 100))
    every = decode(heatmaps, pafs, NO_CAPS)
    two = decode(heatmaps, pafs, NO_CAPS.replace(max_people=2))
    assert len(every) == 3 and len(two) == 2
    assert [p.keypoints.tobytes() for p in two] == [p.keypoints.tobytes() for p in every[:2]]


def test_non_finite_values_count_as_missing() -> None:
    people = [person(20.0, 14.0, 40.0), person(60.0, 12.0, 44.0)]
    heatmaps, pafs = render(people, (60, 100))
    clean = decode(heatmaps, pafs)
    assert len(clean) == 2
    rng = np.random.default_rng(5)
    hm, pf = heatmaps.copy(), pafs.copy()
    # Far from any part or limb: NaN and +-inf where the clean maps are (nearly) zero.
    hm_bg = (hm[..., :18] < 1e-6) & (rng.random(hm[..., :18].shape) < 0.2)
    hm[..., :18][hm_bg] = rng.choice([np.nan, np.inf, -np.inf], size=int(hm_bg.sum()))
    pf_bg = (pf == 0) & (rng.random(pf.shape) < 0.2)
    pf[pf_bg] = rng.choice([np.nan, np.inf, -np.inf], size=int(pf_bg.sum()))
    got = decode(hm, pf)
    assert [p.keypoints.tobytes() for p in got] == [p.keypoints.tobytes() for p in clean]
    # A map that is all inf or all NaN has nothing in it.
    assert decode(np.full_like(heatmaps, np.inf), pafs) == []
    assert decode(heatmaps, np.full_like(pafs, np.nan)) == []


@pytest.mark.parametrize("quant", [(1.0,), ("scale", 0), (float("inf"), 0), 3.0])
def test_bad_quantisation_parameters_raise(quant: object) -> None:
    q = np.zeros((8, 8, 19), np.int8)
    with pytest.raises(ValueError, match="heatmap_quant"):
        decode(q, np.zeros((8, 8, 38), np.float32), heatmap_quant=quant)


def test_a_batch_gets_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"one image's maps.*heatmaps\[i\]"):
        decode(np.zeros((2, 8, 8, 19), np.float32), np.zeros((2, 8, 8, 38), np.float32))


@pytest.mark.parametrize("name", ["max_peaks_per_part", "max_limb_candidates", "max_people"])
@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_config_rejects_bad_caps(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        DecoderConfig(**{name: value})


def test_default_caps_leave_the_busiest_test_photo_unchanged(estimator) -> None:
    """On the test photo with the most peaks of one part (31 at the default size: measured
    2026-12-02), the default caps decode exactly the same people as no caps."""
    from edgepose.estimator import decode_to_image
    from edgepose.image_io import read_image

    x, box = estimator.preprocess(read_image(COCO_IMAGES / "000000538113.jpg", apply_exif=False))
    heatmaps, pafs = estimator.backend.infer(x[None])
    peaks = find_peaks(np.ascontiguousarray(heatmaps[0][..., :18]), NO_CAPS)
    assert np.diff(peaks.start).max() > DecoderConfig().max_peaks_per_part // 2  # half the cap would bind
    capped = decode_to_image(heatmaps[0], pafs[0], box, estimator.config, DecoderConfig())
    uncapped = decode_to_image(heatmaps[0], pafs[0], box, estimator.config, NO_CAPS)
    assert len(uncapped) >= 10
    assert [p.keypoints.tobytes() for p in capped] == [p.keypoints.tobytes() for p in uncapped]


def test_noise_maps_at_200x200_stay_within_the_memory_bound() -> None:
    """What a broken model gives for a 1600-pixel input: before the caps this ran out of memory
    (> 20 GB); now what decode allocates peaks at a few MB (5.6 measured; the bound is 100)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    hm = rng.random((200, 200, 19), dtype=np.float32)
    pf = rng.standard_normal((200, 200, 38), dtype=np.float32)
    decode(hm, pf)  # numba kernels compiled or loaded before measuring
    tracemalloc.start()
    try:
        poses = decode(hm, pf)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(poses) == DecoderConfig().max_people  # noise "finds" as many people as allowed
    assert peak < 100e6, f"{peak / 1e6:.1f} MB"
