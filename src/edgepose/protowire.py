"""The protobuf wire format, by hand: enough to read a TensorFlow GraphDef and write/read an ONNX model.

No protobuf, onnx or tensorflow package is needed, so a core install can convert the pretrained
graph and read an ``.onnx`` file's metadata. Messages are decoded into ``{field_number: [values]}``
(varints as int, length-delimited fields as bytes, fixed32/64 as bytes); the caller knows the schema
and decodes nested messages, packed numbers and strings itself. Encoding goes the other way with
``field_*`` helpers that return the bytes of one field.
"""

from __future__ import annotations

import struct
from collections import defaultdict

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """(value, next position) of the varint at ``pos``."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def parse(data: bytes | memoryview) -> dict[int, list]:
    """One message's fields: ``{number: [value, ...]}`` in file order.

    Varints come back as unsigned ints (see ``signed``), length-delimited fields as ``bytes``,
    fixed 32/64-bit fields as their raw 4/8 bytes. Groups (wire types 3/4) are refused.
    """
    data = memoryview(data)
    fields: dict[int, list] = defaultdict(list)
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos)
        number, kind = key >> 3, key & 7
        if kind == VARINT:
            value, pos = read_varint(data, pos)
        elif kind == LEN:
            size, pos = read_varint(data, pos)
            if pos + size > end:
                raise WireError(f"field {number}: length {size} runs past the end of the message")
            value, pos = bytes(data[pos:pos + size]), pos + size
        elif kind == FIXED32:
            value, pos = bytes(data[pos:pos + 4]), pos + 4
        elif kind == FIXED64:
            value, pos = bytes(data[pos:pos + 8]), pos + 8
        else:
            raise WireError(f"field {number}: unsupported wire type {kind}")
        if pos > end:
            raise WireError(f"field {number}: truncated")
        fields[number].append(value)
    return fields


def signed(value: int) -> int:
    """An int64 field's varint (two's complement in 64 bits) as a Python int."""
    return value - (1 << 64) if value >= 1 << 63 else value


def packed_varints(values: list) -> list[int]:
    """A repeated integer field, packed (bytes) or not (ints), as signed ints."""
    out: list[int] = []
    for v in values:
        if isinstance(v, int):
            out.append(signed(v))
            continue
        pos = 0
        while pos < len(v):
            x, pos = read_varint(v, pos)
            out.append(signed(x))
    return out


def packed_floats(values: list) -> list[float]:
    """A repeated float field, packed (one bytes run) or not (4 bytes each), as floats."""
    raw = b"".join(values)
    if len(raw) % 4:
        raise WireError("a float field's length is not a multiple of 4")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def text(values: list, default: str = "") -> str:
    """The last value of a string field (protobuf: last one wins), decoded as UTF-8."""
    return values[-1].decode("utf-8") if values else default


# --- encoding ----------------------------------------------------------------------------------

def varint(value: int) -> bytes:
    """A varint; negative ints as 64-bit two's complement (int32/int64 fields)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(number: int, kind: int) -> bytes:
    return varint(number << 3 | kind)


def field_int(number: int, value: int) -> bytes:
    return _key(number, VARINT) + varint(int(value))


def field_bytes(number: int, value: bytes | str) -> bytes:
    """A length-delimited field: bytes, a UTF-8 string or an encoded message."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _key(number, LEN) + varint(len(value)) + value


def field_float(number: int, value: float) -> bytes:
    return _key(number, FIXED32) + struct.pack("<f", value)


def field_packed_ints(number: int, values) -> bytes:
    return field_bytes(number, b"".join(varint(int(v)) for v in values))
