"""What ``predict`` runs on: image and video files, folders of them, manifests, any pyarrow filesystem.

An input is a local path (``Path``) or a URI with a scheme (``s3://bucket/a.jpg``, ``gs://...``,
``file:///abs/a.jpg``), read through ``pyarrow.fs``. A manifest is a ``.txt`` (one path per line,
``#`` comments), ``.csv`` or ``.parquet`` file whose ``path`` column (else its first column) lists
inputs; relative entries are taken relative to the manifest's folder.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from edgepose.errors import EdgeposeError, require
from edgepose.image_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, decode_image, expand_inputs

MANIFEST_SUFFIXES = frozenset({".txt", ".csv", ".parquet", ".pq"})
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")

Input = Path | str  # a local path, or a URI string


def is_uri(item: Input) -> bool:
    return isinstance(item, str) and bool(_URI.match(item))


def as_input(text: str | Path) -> Input:
    """A command-line argument -> Path, or the URI string it is."""
    return str(text) if is_uri(str(text)) else Path(text)


def _posix(item: Input) -> PurePosixPath:
    return PurePosixPath(urlparse(item).path) if is_uri(item) else PurePosixPath(Path(item).as_posix())


def suffix_of(item: Input) -> str:
    return _posix(item).suffix.lower()


def name_of(item: Input) -> str:
    """The file name an input's outputs are named after (``a.jpg`` of ``s3://b/x/a.jpg``)."""
    return _posix(item).name


def is_video_input(item: Input) -> bool:
    return suffix_of(item) in VIDEO_SUFFIXES


def _filesystem(uri: str):
    """(pyarrow FileSystem, path inside it) for a URI; messages name the problem, not a traceback."""
    fs_mod = require("pyarrow.fs", "ray", "inputs on other filesystems (s3://, gs://, file://, ...)")
    try:
        return fs_mod.FileSystem.from_uri(uri)
    except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ... for a bad URI
        raise EdgeposeError(f"{uri}: cannot open its filesystem ({e})") from None


def read_bytes(item: Input) -> bytes:
    """The whole content of a local file or a URI."""
    if not is_uri(item):
        path = Path(item)
        if not path.exists():
            raise EdgeposeError(f"{item}: no such file")
        if path.is_dir():
            raise EdgeposeError(f"{item}: is a folder, not an image")
        return path.read_bytes()
    fs, path = _filesystem(item)
    try:
        with fs.open_input_file(path) as f:
            return f.readall()
    except FileNotFoundError:
        raise EdgeposeError(f"{item}: no such file") from None
    except OSError as e:
        raise EdgeposeError(f"{item}: cannot be read ({e})") from None


def read_image_input(item: Input):
    """An image input -> BGR uint8 [h, w, 3] (``read_image``'s checks and messages)."""
    return decode_image(read_bytes(item), str(item))


def _join(base: Input, entry: str) -> Input:
    """A manifest entry, relative ones taken from the manifest's folder."""
    if is_uri(entry) or Path(entry).is_absolute():
        return as_input(entry)
    if is_uri(base):
        return base.rsplit("/", 1)[0] + "/" + entry
    return Path(base).parent / entry


def read_manifest(item: Input) -> list[Input]:
    """The inputs a .txt, .csv or .parquet manifest lists."""
    data = read_bytes(item)
    suffix = suffix_of(item)
    if suffix == ".txt":
        entries = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines()]
        entries = [e for e in entries if e and not e.startswith("#")]
    else:
        pa = require("pyarrow", "ray", "CSV and Parquet manifests")
        import io

        try:
            if suffix == ".csv":
                import pyarrow.csv as pacsv

                table = pacsv.read_csv(io.BytesIO(data))
            else:
                import pyarrow.parquet as pq

                table = pq.read_table(pa.BufferReader(data))
        except (pa.ArrowException, OSError) as e:
            raise EdgeposeError(f"{item}: not a readable {suffix[1:]} manifest ({e})") from None
        if table.num_columns == 0:
            raise EdgeposeError(f"{item}: the manifest has no columns")
        column = "path" if "path" in table.column_names else table.column_names[0]
        entries = [str(v) for v in table.column(column).to_pylist() if v is not None and str(v).strip()]
    if not entries:
        raise EdgeposeError(f"{item}: the manifest lists no inputs")
    return [_join(item, e) for e in entries]


def _list_folder(item: Input, skipped: list) -> list[Input]:
    """The media files of a folder, sorted; its other files are appended to ``skipped``."""
    if not is_uri(item):
        found, _ = expand_inputs([item], skipped=skipped)
        return found
    fs, path = _filesystem(item)
    import pyarrow.fs as pafs

    base = item.rstrip("/")
    files = sorted(f"{base}/{PurePosixPath(i.path).name}" for i in fs.get_file_info(pafs.FileSelector(path))
                   if i.type == pafs.FileType.File)
    skipped.extend(f for f in files if suffix_of(f) not in MEDIA_SUFFIXES)
    return [f for f in files if suffix_of(f) in MEDIA_SUFFIXES]


def _kind(item: Input) -> str:
    """'file', 'folder' or 'missing'."""
    if not is_uri(item):
        p = Path(item)
        return "folder" if p.is_dir() else "file" if p.exists() else "missing"
    fs, path = _filesystem(item)
    import pyarrow.fs as pafs

    t = fs.get_file_info(path).type
    return "folder" if t == pafs.FileType.Directory else "missing" if t == pafs.FileType.NotFound else "file"


def expand(inputs: list[str | Path], skipped: list | None = None) -> tuple[list[Input], list[tuple[str, str]]]:
    """Arguments -> (media inputs in order, [(argument, problem)]).

    Folders are searched (not recursively) for image and video files by suffix, their other files
    appended to ``skipped``; manifests are replaced by the inputs they list (which may be folders,
    not manifests).
    """
    skipped = [] if skipped is None else skipped
    out: list[Input] = []
    problems: list[tuple[str, str]] = []

    def add(item: Input, from_manifest: bool) -> None:
        kind = _kind(item)
        if kind == "missing":
            problems.append((str(item), "no such file or folder"))
        elif kind == "folder":
            found = _list_folder(item, skipped)
            if not found:
                problems.append((str(item), "folder holds no image or video files"))
            out.extend(found)
        elif suffix_of(item) in MANIFEST_SUFFIXES and not from_manifest:
            try:
                for entry in read_manifest(item):
                    add(entry, True)
            except EdgeposeError as e:
                problems.append((str(item), str(e).removeprefix(f"{item}: ")))
        else:
            out.append(item)

    for arg in inputs:
        try:
            add(as_input(arg), False)
        except EdgeposeError as e:
            problems.append((str(arg), str(e).removeprefix(f"{arg}: ")))
    return out, problems
