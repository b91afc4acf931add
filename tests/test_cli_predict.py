"""`edgepose predict` end to end on real photos, and its answers to bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgepose.cli import main
from tests.conftest import COCO_IMAGES

PHOTO = COCO_IMAGES / "000000000790.jpg"  # four people around a table


@pytest.fixture(scope="module")
def model_args(pretrained_path):
    return ["--model", str(pretrained_path)]


def test_predict_writes_json_and_image(tmp_path, model_args, capsys):
    code = main(["predict", str(PHOTO), "--output", str(tmp_path), *model_args,
                 "--coco-results", str(tmp_path / "coco.json")])
    assert code == 0
    record = json.loads((tmp_path / "000000000790.json").read_text())
    assert record["width"] == 640 and record["height"] == 422
    assert len(record["people"]) >= 3
    for person in record["people"]:
        assert len(person["pose_keypoints_2d"]) == 18 * 3
        for x, y, s in person["keypoints"].values():
            assert 0 <= x < 640 and 0 <= y < 422 and 0 < s <= 1.5
    rendered = cv2.imread(str(tmp_path / "000000000790.jpg"))
    assert rendered.shape == (422, 640, 3)
    coco = json.loads((tmp_path / "coco.json").read_text())
    assert {r["image_id"] for r in coco} == {790}
    assert all(len(r["keypoints"]) == 51 and r["category_id"] == 1 for r in coco)
    assert "4 people" in capsys.readouterr().out or len(record["people"]) != 4


def _bad_files(folder, photo):
    """A folder with good photos and every kind of bad or odd file."""
    folder.mkdir()
    data = PHOTO.read_bytes()
    (folder / "good.jpg").write_bytes(data)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "text.png").write_text("not a picture")
    cv2.imwrite(str(folder / "gray.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "deep16.png"), photo.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "tiny.png"), photo[:1, :1])
    cv2.imwrite(str(folder / "huge.jpg"), cv2.resize(photo, (6000, 3956)))
    return {"empty.jpg": "empty", "truncated.jpg": "truncated", "text.png": "not a readable image"}


def test_folder_with_bad_files_processes_the_rest(tmp_path, model_args, capsys):
    photo = cv2.imread(str(PHOTO))
    bad = _bad_files(tmp_path / "in", photo)
    code = main(["predict", str(tmp_path / "in"), "--output", str(tmp_path / "out"), *model_args, "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "3 input(s) failed" in err
    for name, why in bad.items():
        line = next(ln for ln in err.splitlines() if name in ln)
        assert why in line
    assert "Traceback" not in err
    written = {p.stem for p in (tmp_path / "out").glob("*.json")}
    assert written == {"good", "gray", "rgba", "deep16", "tiny", "huge"}
    people = {s: len(json.loads((tmp_path / "out" / f"{s}.json").read_text())["people"]) for s in written}
    assert people["tiny"] == 0
    # The same photo in colour, grey, RGBA, 16-bit and 9x larger: the same people are found.
    for stem in ("gray", "rgba", "deep16", "huge"):
        assert abs(people[stem] - people["good"]) <= 1, people


@pytest.mark.parametrize("model, message", [
    ("missing.keras", "does not exist"),
    ("weights.bin", "don't know which backend"),
    ("garbage.keras", "keras"),
])
def test_missing_or_wrong_model_file(tmp_path, capsys, model, message):
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 100)
    (tmp_path / "garbage.keras").write_bytes(b"PK\x03\x04 not really a zip")
    code = main(["predict", str(PHOTO), "--model", str(tmp_path / model), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_size_and_stages(tmp_path, model_args, capsys):
    assert main(["predict", str(PHOTO), "--size", "370x432", *model_args, "-o", str(tmp_path)]) == 2
    assert "multiples of 8" in capsys.readouterr().err
    assert main(["predict", str(PHOTO), "--size", "big", *model_args, "-o", str(tmp_path)]) == 2
    assert "HxW" in capsys.readouterr().err


def test_nothing_to_do(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "ghost.jpg"), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "nothing to do" in err


def test_console_script_has_help_with_examples():
    out = subprocess.run([sys.executable, "-m", "edgepose", "predict", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "examples:" in out and "--coco-results" in out


def test_rerun_with_other_settings_is_not_skipped(tmp_path, model_args, capsys):
    args = ["predict", str(PHOTO), "--output", str(tmp_path), "--no-render", "-q", *model_args]
    assert main(args) == 0
    assert main(args) == 0
    assert "1 input(s) skipped" in capsys.readouterr().out
    assert main([*args, "--size", "368"]) == 0  # another input size: the old JSON is not its result
    out = capsys.readouterr().out
    assert "skipped" not in out
    assert json.loads((tmp_path / "000000000790.json").read_text())["model"]["size"] == 368
