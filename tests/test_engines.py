"""`edgepose predict --engine ray` on a real local Ray cluster (2 CPUs), against the local engine."""

from __future__ import annotations

import json

import pytest

from edgepose.cli import main
from tests.conftest import COCO_IMAGES

pytest.importorskip("ray")
pq = pytest.importorskip("pyarrow.parquet")

PHOTOS = ["000000000790.jpg", "000000030752.jpg", "000000033601.jpg"]  # 4, 2 and 1 people


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster for the module, as `ray start` would give on a 2-CPU node."""
    import ray

    from edgepose.engines.ray_data import connect

    connect(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    for name in PHOTOS:
        (folder / name).write_bytes((COCO_IMAGES / name).read_bytes())
    data = (COCO_IMAGES / PHOTOS[0]).read_bytes()
    (folder / "000000000001.jpg").write_bytes(data[: len(data) // 3])  # truncated: must fail, not stop the run
    import cv2

    frame = cv2.imread(str(COCO_IMAGES / PHOTOS[2]))
    frame = cv2.resize(frame, (frame.shape[1] // 4 * 2, frame.shape[0] // 4 * 2))  # half size, even sides
    video = cv2.VideoWriter(str(folder / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, frame.shape[1::-1])
    for _ in range(3):
        video.write(frame)
    video.release()
    return folder


def _people_per_image(out_dir) -> dict[str, int]:
    """People per photo, and per frame of a video (stem_frame)."""
    counts = {}
    for p in out_dir.glob("*.json"):
        record = json.loads(p.read_text())
        for f in record.get("frames", [{"frame": None, "people": record.get("people")}]):
            counts[p.stem if f["frame"] is None else f"{p.stem}_{f['frame']}"] = len(f["people"])
    return counts


def _sorted(results: list[dict]) -> list[tuple]:
    return sorted((r["image_id"], r["score"], tuple(r["keypoints"])) for r in results)


@pytest.mark.slow
def test_ray_engine_equals_local_engine_and_resumes(ray_cluster, inputs, tmp_path, pretrained_path, capsys):
    model = ["--model", str(pretrained_path)]
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    assert main(["predict", str(inputs), "-o", str(local), "--coco-results", str(tmp_path / "local.json"),
                 "--parquet", str(tmp_path / "local.parquet"), "-q", *model]) == 1
    assert main(["predict", str(inputs), "-o", str(ray_out), "--coco-results", str(tmp_path / "ray.json"),
                 "--engine", "ray", "--workers", "2", "-q", *model]) == 1
    err = capsys.readouterr().err
    assert "000000000001.jpg: truncated JPEG" in err and "Traceback" not in err

    # Equal COCO results, the same people per image and video frame, the same renders and Parquet rows.
    local_coco = json.loads((tmp_path / "local.json").read_text())
    assert {r["image_id"] for r in local_coco} == {790, 30752, 33601}
    assert _sorted(json.loads((tmp_path / "ray.json").read_text())) == _sorted(local_coco)
    people = _people_per_image(local)
    assert people == _people_per_image(ray_out) and sum(people.values()) >= 6
    assert {k for k in people if k.startswith("clip_")} == {"clip_0", "clip_1", "clip_2"}
    assert sorted(p.name for p in ray_out.glob("*.jpg")) == sorted(p.name for p in local.glob("*.jpg")) != []
    local_rows = pq.read_table(tmp_path / "local.parquet").to_pylist()
    ray_rows = pq.read_table(ray_out / "people.parquet").to_pylist()
    assert len(ray_rows) == sum(people.values())
    key = lambda r: (r["input"], r["frame"], r["person"])  # noqa: E731
    assert sorted(ray_rows, key=key) == sorted(local_rows, key=key)
    assert all(len(r["keypoints"]) == 18 * 3 for r in ray_rows)
    assert {r["frame"] for r in ray_rows if r["input"].endswith(".jpg")} == {0}
    assert (ray_out / "clip.mp4").stat().st_size > 0

    # Resume from a Parquet manifest of file:// URIs: every photo was done by the same model.
    import pyarrow as pa

    manifest = tmp_path / "list.parquet"
    pq.write_table(pa.table({"path": [(inputs / n).as_uri() for n in PHOTOS]}), manifest)
    assert main(["predict", str(manifest), "-o", str(ray_out), "--coco-results", str(tmp_path / "again.json"),
                 "--engine", "ray", "--workers", "1", *model]) == 0
    out = capsys.readouterr().out
    assert "3 input(s) skipped" in out and "3 of 3 inputs done" in out
    assert _sorted(json.loads((tmp_path / "again.json").read_text())) == _sorted(local_coco)
    assert len(pq.read_table(ray_out / "people.parquet")) == sum(r["input"].endswith(".jpg") for r in ray_rows)


def test_manifests_list_their_inputs(tmp_path):
    from edgepose.engines.inputs import expand

    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "list.txt").write_text("# photos\na.jpg\n\nmissing.jpg\n")
    (tmp_path / "list.csv").write_text(f"path,label\n{(tmp_path / 'a.jpg').as_uri()},1\n")
    (tmp_path / "empty.csv").write_text("path\n")
    items, problems = expand([str(tmp_path / "list.txt"), str(tmp_path / "list.csv"), str(tmp_path / "empty.csv")])
    assert [str(i) for i in items] == [str(tmp_path / "a.jpg"), (tmp_path / "a.jpg").as_uri()]
    assert dict(problems) == {str(tmp_path / "missing.jpg"): "no such file or folder",
                              str(tmp_path / "empty.csv"): "the manifest lists no inputs"}


def test_ray_engine_refuses_more_workers_than_cpus(ray_cluster, tmp_path, capsys):
    assert main(["predict", str(COCO_IMAGES / PHOTOS[0]), "-o", str(tmp_path), "--engine", "ray",
                 "--workers", "3"]) == 2
    assert "needs 3 CPUs; the Ray cluster has 2" in capsys.readouterr().err
