"""Checking an uploaded image before decoding it: its format and its size in pixels, read from the
header, so a small file that claims a huge picture (a "decompression bomb") is refused without
allocating it."""

from __future__ import annotations

import struct

import numpy as np

from edgepose.errors import EdgeposeError
from edgepose.image_io import check_complete, decode_image

#: Formats the service accepts, by their first bytes.
FORMATS = ("JPEG", "PNG", "WebP", "BMP")


def sniff_format(data: bytes) -> str | None:
    """The image format named by the first bytes, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[:2] == b"BM":
        return "BMP"
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame segment; None if there is none."""
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > n:
                return None
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header of a JPEG, PNG, WebP or BMP file; None if unreadable."""
    fmt = sniff_format(data)
    try:
        if fmt == "PNG" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if fmt == "JPEG":
            return _jpeg_size(data)
        if fmt == "WebP":
            chunk = data[12:16]
            if chunk == b"VP8X":  # 24-bit width-1, height-1
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
        if fmt == "BMP":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
    except struct.error:  # header cut short
        return None
    return None


def check_upload(data: bytes, name: str, max_pixels: int) -> None:
    """Refuses, without decoding, what can be told from the bytes: empty, not JPEG/PNG/WebP/BMP,
    unreadable header, more than ``max_pixels`` pixels, a JPEG or PNG cut short. Raises ``EdgeposeError``."""
    if not data:
        raise EdgeposeError(f"{name}: the upload is empty")
    fmt = sniff_format(data)
    if fmt is None:
        raise EdgeposeError(f"{name}: not an image this service reads (send {', '.join(FORMATS)})")
    size = image_size(data)
    if size is None:
        raise EdgeposeError(f"{name}: {fmt} header is unreadable (corrupt or cut short)")
    w, h = size
    if w < 1 or h < 1:
        raise EdgeposeError(f"{name}: {fmt} header gives an empty picture ({w}x{h})")
    if w * h > max_pixels:
        raise EdgeposeError(f"{name}: {w}x{h} is too large (this service takes at most {max_pixels} pixels)")
    check_complete(data, name)


def decode_upload(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """An uploaded file's bytes -> BGR uint8 [h, w, 3], or ``EdgeposeError`` saying what is wrong."""
    check_upload(data, name, max_pixels)
    return decode_image(data, name, max_pixels=max_pixels)
