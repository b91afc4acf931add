"""Reading images and videos with errors that say what is wrong with the file."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from edgepose.errors import EdgeposeError

_GIF_1X1 = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
            b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def _opencv_reads_gif() -> bool:
    """OpenCV decodes GIFs (first frame) from 4.7 on, in builds that include its GIF reader."""
    try:
        return cv2.imdecode(np.frombuffer(_GIF_1X1, np.uint8), cv2.IMREAD_UNCHANGED) is not None
    except cv2.error:
        return False


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jp2", ".ppm", ".pgm",
                            *((".gif",) if _opencv_reads_gif() else ())})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
MAX_PIXELS = 20000 * 20000


def check_complete(data: bytes, name: str) -> None:
    """Rejects JPEG and PNG files that were cut short (OpenCV decodes them with grey holes)."""
    if data[:3] == b"\xff\xd8\xff" and b"\xff\xd9" not in data[-4096:]:
        raise EdgeposeError(f"{name}: truncated JPEG (no end-of-image marker); the file is incomplete")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-64:]:
        raise EdgeposeError(f"{name}: truncated PNG (no IEND chunk); the file is incomplete")


def to_bgr8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Any decoded image (gray, BGR, BGRA; 8 or 16 bit; float 0..1) -> BGR uint8 [h, w, 3]."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise EdgeposeError(f"{name}: expected an image [h, w] or [h, w, 1|3|4], got shape {image.shape}")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise EdgeposeError(f"{name}: unsupported pixel type {image.dtype}")
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        # Composite over white, as an image viewer shows a transparent picture.
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        return (image[:, :, :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(image)


def read_image(path: str | Path, *, apply_exif: bool = True) -> np.ndarray:
    """Reads an image file as BGR uint8 [h, w, 3].

    Gray, RGBA (composited over white) and 16-bit images are converted. ``apply_exif`` rotates by
    the EXIF orientation tag (off for COCO evaluation: annotations refer to the stored pixels).
    Raises ``EdgeposeError`` for a missing, empty, truncated, corrupt or non-image file.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise EdgeposeError(f"{name}: no such file")
    if path.is_dir():
        raise EdgeposeError(f"{name}: is a folder, not an image")
    return decode_image(path.read_bytes(), name, apply_exif=apply_exif)


def decode_image(data: bytes, name: str = "image", *, apply_exif: bool = True,
                 max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An encoded image file's bytes -> BGR uint8 [h, w, 3], as ``read_image`` reads a file.

    Raises ``EdgeposeError`` for empty, truncated, corrupt or non-image bytes, or more than
    ``max_pixels`` pixels.
    """
    if not data:
        raise EdgeposeError(f"{name}: the file is empty")
    check_complete(data, name)
    flags = cv2.IMREAD_UNCHANGED if not apply_exif else (cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise EdgeposeError(f"{name}: not a readable image (corrupt, or a format OpenCV cannot decode)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise EdgeposeError(f"{name}: {image.shape[1]}x{image.shape[0]} is too large (max {max_pixels} pixels)")
    return to_bgr8(image, name)


def describe_skipped(skipped: list[Path]) -> str:
    """'3 files skipped, suffixes not read: .txt (2), .gif (1)' for a folder run's summary."""
    from collections import Counter

    counts = Counter(f.suffix.lower() or "(no suffix)" for f in skipped)
    kinds = ", ".join(f"{suffix} ({n})" for suffix, n in counts.most_common())
    return f"{len(skipped)} file{'s' if len(skipped) != 1 else ''} in folders skipped, suffixes not read: {kinds}"


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def expand_inputs(
    inputs: list[str | Path], skipped: list[Path] | None = None
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files and folders -> (media files in order, [(input, problem)] for inputs that don't exist).

    Folders are searched (not recursively) for image and video files by suffix (GIFs when OpenCV
    reads them: their first frame); the other files found in folders are appended to ``skipped``.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found, other = [], []
            for f in sorted(p.iterdir()):
                if f.is_file():
                    (found if f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES else other).append(f)
            if skipped is not None:
                skipped.extend(other)
            if not found:
                problems.append((str(p), "folder holds no image or video files"))
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            problems.append((str(p), "no such file or folder"))
    return files, problems


def iter_video(source: str | Path | int) -> Iterator[np.ndarray]:
    """Yields BGR uint8 frames of a video file or a camera index (int)."""
    cap = open_video(source)
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield frame
    finally:
        cap.release()


def open_video(source: str | Path | int) -> "cv2.VideoCapture":
    """Opens a video file or camera index, or raises ``EdgeposeError`` saying why not."""
    if isinstance(source, (str, Path)) and not str(source).isdigit():
        path = Path(source)
        if not path.exists():
            raise EdgeposeError(f"{path}: no such video file")
        if path.stat().st_size == 0:
            raise EdgeposeError(f"{path}: the video file is empty")
        cap = cv2.VideoCapture(str(path))
        what = str(path)
    else:
        cap = cv2.VideoCapture(int(source))
        what = f"camera {int(source)}"
    if not cap.isOpened():
        raise EdgeposeError(f"{what}: cannot be opened as a video (corrupt, unsupported codec, or no such camera)")
    return cap
