"""``edgepose predict`` over folders (resume, --overwrite), models of every backend, cameras."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import COCO_IMAGES
from edgepose.cli import main

PHOTOS = ["000000000790.jpg", "000000030752.jpg", "000000033601.jpg"]


@pytest.fixture(scope="module")
def model_args(pretrained_path) -> list[str]:
    """A quick model: the LiteRT export shared with test_runtime (fast to load), else Keras."""
    import importlib.util

    if importlib.util.find_spec("ai_edge_litert") is None:
        return ["--model", str(pretrained_path), "--size", "224"]
    from test_runtime import exported

    return ["--model", str(exported("tflite", "fp32"))]


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for name in PHOTOS:
        shutil.copy(COCO_IMAGES / name, d / name)
    return d


def test_rerun_skips_finished_inputs_unless_overwrite(folder, tmp_path, capsys, model_args):
    out = tmp_path / "out"
    args = ["predict", str(folder), "--output", str(out), "--no-render", "-q", *model_args]
    assert main([*args, "--coco-results", str(tmp_path / "first.json")]) == 0
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert sorted(first) == sorted(n.replace(".jpg", ".json") for n in PHOTOS)
    (out / "000000030752.json").unlink()  # as if the first run had been interrupted there
    capsys.readouterr()
    assert main([*args, "--coco-results", str(tmp_path / "second.json")]) == 0
    said = capsys.readouterr().out
    assert "2 input(s) skipped" in said
    assert (out / "000000030752.json").exists()
    for name in ("000000000790.json", "000000033601.json"):
        assert (out / name).stat().st_mtime_ns == first[name]  # untouched
    # COCO results of a resumed run still cover every image (skipped ones read back from their JSON)
    a = json.loads((tmp_path / "first.json").read_text())
    b = json.loads((tmp_path / "second.json").read_text())
    key = lambda r: (r["image_id"], r["score"])  # noqa: E731
    assert sorted(map(key, a)) == sorted(map(key, b))
    assert main([*args, "--overwrite"]) == 0
    assert all((out / n).stat().st_mtime_ns != first[n] for n in ("000000000790.json", "000000033601.json"))


def test_camera_that_is_not_there(tmp_path, capsys, model_args):
    code = main(["predict", "camera:9", "--output", str(tmp_path), "-q", *model_args])
    assert code == 1
    assert "camera 9" in capsys.readouterr().err


def test_val_part_runs_only_that_part_of_the_split(tmp_path, capsys, model_args):
    from conftest import COCO_ANNOTATIONS
    from edgepose.eval.split import TUNING

    on_disk = {p.name for p in COCO_IMAGES.iterdir()}
    annotated = {im["file_name"] for im in json.loads(COCO_ANNOTATIONS.read_text())["images"]}
    expected = on_disk & annotated & set(TUNING)
    assert 0 < len(expected) < len(on_disk & annotated)
    out = tmp_path / "val.json"
    assert main(["val", "--images", str(COCO_IMAGES), "--annotations", str(COCO_ANNOTATIONS),
                 "--part", "tuning", "--json", str(out), *model_args]) == 0
    report = json.loads(out.read_text())
    assert report["part"] == "tuning" and report["images"] == len(expected)
    assert "(tuning part)" in capsys.readouterr().out


def test_val_on_the_folder_above_the_images_says_where_they_are(capsys, model_args):
    """The dataset folder instead of its images/ folder: one line naming the folder to pass."""
    from conftest import COCO_ANNOTATIONS

    code = main(["val", "--images", str(COCO_IMAGES.parent), "--annotations", str(COCO_ANNOTATIONS),
                 "--part", "evaluation", *model_args])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert f"pass --images {COCO_IMAGES}" in err and "of the evaluation part" in err
