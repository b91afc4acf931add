"""Video streaming: a real video made from a COCO photo; streamed results equal per-frame predict."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import COCO_IMAGES
from edgepose.errors import EdgeposeError
from edgepose.video import is_camera, parse_source, process_video, stream_predictions

PHOTO = COCO_IMAGES / "000000000790.jpg"
FRAMES = 8
SIZE = 224  # network input height: small keeps the test quick; the comparison is size-independent


def make_pan_video(path: Path, frames: int = FRAMES, fps: float = 10.0) -> list[np.ndarray]:
    """Writes an mp4v video panning across a COCO photo; returns the frames as decoded back
    (compression changes pixels, so references must be computed on the decoded frames)."""
    image = cv2.imread(str(PHOTO))
    h, w = image.shape[:2]
    ch, cw = int(h * 0.8) // 2 * 2, int(w * 0.6) // 2 * 2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (cw, ch))
    assert writer.isOpened()
    for i in range(frames):
        x = (w - cw) * i // (frames - 1)
        y = (h - ch) * i // (frames - 1)
        writer.write(np.ascontiguousarray(image[y : y + ch, x : x + cw]))
    writer.release()
    cap = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        decoded.append(frame)
    cap.release()
    assert len(decoded) == frames
    return decoded


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path_factory.mktemp("video") / "pan.mp4"
    return path, make_pan_video(path)


@pytest.fixture(scope="module")
def small_estimator(pretrained_path):
    import edgepose

    return edgepose.load(pretrained_path, size=SIZE)


def _same(a, b) -> None:
    assert len(a.poses) == len(b.poses)
    for p, q in zip(a.poses, b.poses):
        np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-3)
        assert p.score == pytest.approx(q.score, abs=1e-5)


def test_stream_predictions_equal_per_frame_predict(video, small_estimator):
    _, frames = video
    expected = [small_estimator.predict(f) for f in frames]
    got = list(stream_predictions(small_estimator, iter(frames)))
    assert len(got) == len(frames)
    assert sum(len(e.poses) for e in expected) > 0, "the photo shows people: the test needs some"
    for (frame, pred), ref, src in zip(got, expected, frames):
        assert frame is src  # in order, the frame itself
        _same(pred, ref)
        assert set(pred.timings_ms) == {"preprocess", "infer", "decode"}


def test_process_video_writes_video_and_json(video, small_estimator, tmp_path):
    path, frames = video
    expected = [small_estimator.predict(f) for f in frames]
    out_video, out_json = tmp_path / "out" / "pan.mp4", tmp_path / "out" / "pan.json"
    summary = process_video(small_estimator, path, out_video, out_json, progress=False)
    assert summary["frames"] == FRAMES and summary["mode"] == "streaming"
    assert summary["people"] == sum(len(e.poses) for e in expected)
    data = json.loads(out_json.read_text())
    assert [f["frame"] for f in data["frames"]] == list(range(FRAMES))
    for rec, ref in zip(data["frames"], expected):
        assert len(rec["people"]) == len(ref.poses)
        for person, pose in zip(rec["people"], ref.poses):
            np.testing.assert_allclose(person["pose_keypoints_2d"], pose.keypoints.ravel(), atol=0.01)
    cap = cv2.VideoCapture(str(out_video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == frames[0].shape[1::-1]
    cap.release()
    # no temporary files left behind
    assert sorted(p.name for p in out_video.parent.iterdir()) == ["pan.json", "pan.mp4"]


def test_sync_mode_gives_the_same_json(video, small_estimator, tmp_path):
    path, _ = video
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    process_video(small_estimator, path, None, a, progress=False, stream=True)
    process_video(small_estimator, path, None, b, progress=False, stream=False)
    fa, fb = json.loads(a.read_text())["frames"], json.loads(b.read_text())["frames"]
    assert [f["people"] for f in fa] == [f["people"] for f in fb]


def test_truncated_video_is_one_clear_message(video, small_estimator, tmp_path, capsys):
    path, _ = video
    cut = tmp_path / "cut.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "cut_out.mp4"
    try:
        summary = process_video(small_estimator, cut, out, None, progress=False)
    except EdgeposeError as e:  # the container index is at the end: nothing readable
        assert "cut.mp4" in str(e)
        assert not out.exists()
    else:
        assert summary["frames"] < FRAMES
        assert "ended early" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_unreadable_video_is_one_clear_message(small_estimator, tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(EdgeposeError, match="bad.mp4"):
        process_video(small_estimator, bad, tmp_path / "o.mp4", tmp_path / "o.json", progress=False)
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.json").exists()


def test_missing_camera_is_one_clear_message(small_estimator, tmp_path):
    with pytest.raises(EdgeposeError, match="camera 7"):
        process_video(small_estimator, "camera:7", None, tmp_path / "cam.json", progress=False, max_frames=3)


def test_camera_sources_parse():
    assert parse_source("camera:0") == 0 and parse_source("cam:2") == 2 and parse_source(1) == 1
    assert parse_source("clip.mp4") == "clip.mp4" and not is_camera("videos/clip.mp4")
    assert is_camera("webcam:0")


def test_error_in_the_pipeline_reaches_the_caller(small_estimator):
    def frames():
        yield np.zeros((64, 64, 3), np.uint8)
        raise RuntimeError("camera unplugged")

    with pytest.raises(RuntimeError, match="unplugged"):
        list(stream_predictions(small_estimator, frames()))
