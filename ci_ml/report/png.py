"""Is this a PNG, and a small one? [pure]

Plot images from a fork's artifact are hostile bytes that the comment would publish under the
repository's name. Starting with PNG's signature proves nothing, so the file is walked chunk by
chunk: IHDR first with bounded dimensions, every chunk's CRC right, image data present, IEND
last with nothing after it. The pixels are never decompressed here.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 8 << 20
MAX_PIXELS = 40_000_000  # a 6,000 x 6,000 figure and change: far beyond any plot we draw


def png_problem(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS
) -> str | None:
    """None when `data` is a well-formed PNG within the bounds, else what is wrong with it."""
    if len(data) > max_bytes:
        return f"over {max_bytes} bytes"
    if not data.startswith(SIGNATURE):
        return "not a PNG (no PNG signature)"
    offset = len(SIGNATURE)
    seen: list[bytes] = []
    while offset < len(data):
        if offset + 12 > len(data):
            return "truncated chunk"
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        end = offset + 12 + length
        if length > len(data) or end > len(data):
            return "truncated chunk"
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : end])
        if zlib.crc32(kind + body) != crc:
            return f"bad CRC in chunk {kind!r}"
        if not seen and kind != b"IHDR":
            return "the first chunk is not IHDR"
        if kind == b"IHDR":
            problem = _header_problem(body, max_pixels)
            if problem:
                return problem
        seen.append(kind)
        offset = end
        if kind == b"IEND":
            break
    if not seen or seen[-1] != b"IEND":
        return "no IEND chunk"
    if offset != len(data):
        return "data after IEND"
    if b"IDAT" not in seen:
        return "no image data"
    return None


def _header_problem(body: bytes, max_pixels: int) -> str | None:
    if len(body) != 13:
        return "malformed IHDR"
    width, height = struct.unpack(">II", body[:8])
    if width == 0 or height == 0 or width * height > max_pixels:
        return f"{width}x{height} pixels is outside 1..{max_pixels}"
    return None
