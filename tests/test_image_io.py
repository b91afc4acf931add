"""Reading images: every kind of bad or unusual file gets a clear answer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgepose.errors import EdgeposeError
from edgepose.image_io import expand_inputs, read_image
from tests.conftest import COCO_IMAGES

PHOTO = COCO_IMAGES / "000000000790.jpg"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    image = cv2.imread(str(PHOTO))
    assert image is not None
    return image


def test_reads_a_jpeg_as_bgr8(photo):
    image = read_image(PHOTO)
    assert image.dtype == np.uint8 and image.shape == photo.shape
    assert np.array_equal(image, photo)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"this is not an image at all\n" * 20, "not a readable image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "truncated PNG"),
    ],
)
def test_bad_files_are_named(tmp_path, content, message):
    f = tmp_path / "bad.png"
    f.write_bytes(content)
    with pytest.raises(EdgeposeError, match=message):
        read_image(f)


def test_truncated_jpeg(tmp_path):
    data = PHOTO.read_bytes()
    f = tmp_path / "cut.jpg"
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(EdgeposeError, match="truncated JPEG"):
        read_image(f)


def test_corrupt_jpeg_body(tmp_path):
    data = bytearray(PHOTO.read_bytes())
    data[2:600] = b"\x00" * 598  # wipe the headers, keep start and end markers
    f = tmp_path / "corrupt.jpg"
    f.write_bytes(bytes(data))
    with pytest.raises(EdgeposeError, match="not a readable image"):
        read_image(f)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(EdgeposeError, match="no such file"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(EdgeposeError, match="folder"):
        read_image(tmp_path)


def test_grayscale_rgba_and_16bit(tmp_path, photo):
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    out = read_image(tmp_path / "gray.png")
    assert out.shape == photo.shape and np.array_equal(out[..., 0], gray) and np.array_equal(out[..., 2], gray)

    rgba = cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA)
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    out = read_image(tmp_path / "rgba.png")
    assert out.shape == photo.shape and np.array_equal(out, photo)  # opaque alpha: pixels unchanged

    deep = photo.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    out = read_image(tmp_path / "deep.png")
    assert out.dtype == np.uint8 and np.abs(out.astype(int) - photo).max() <= 1


def test_expand_inputs_lists_what_is_missing(tmp_path):
    (tmp_path / "a.jpg").write_bytes(PHOTO.read_bytes())
    (tmp_path / "notes.txt").write_text("not media")
    files, problems = expand_inputs([tmp_path, tmp_path / "ghost.jpg"])
    assert files == [tmp_path / "a.jpg"]
    assert problems == [(str(tmp_path / "ghost.jpg"), "no such file or folder")]
