"""Where an image file ends, by its own structure: the byte offset just past its last byte of image data.

Used by the zip validators (``zipsafe.check_image``) to refuse images carrying bytes after their end — a PNG
with a zip appended is a valid PNG to every decoder, and would otherwise be stored and released as it is.
Each accepted format has a finder that walks the file's structure (never trusting one size field alone):
PNG (chunks to ``IEND``), JPEG (segments and entropy-coded data to ``EOI``), GIF (blocks to the trailer),
WebP (the RIFF size), BMP (the larger of the header's file size and the pixel data's end) and classic TIFF
(the furthest byte any IFD, tag value, strip or tile uses, following sub-IFD, EXIF and GPS pointers).
``None`` means the end cannot be found (truncated or malformed); formats without a finder are not accepted.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers without a length field: TEM and the restart markers (SOI and EOI are handled apart).
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# TIFF field types → bytes per value; tags whose values point to further IFDs; strip and tile pairs.
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_TIFF_IFD_POINTERS = frozenset({330, 34665, 34853, 40965})
_TIFF_DATA = ((273, 279), (324, 325))  # (StripOffsets, StripByteCounts), (TileOffsets, TileByteCounts)
_TIFF_MAX_IFDS = 1000


def _png_end(data: bytes) -> int | None:
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length  # length, type, data, CRC
        if kind == b"IEND":
            return pos if pos <= len(data) else None
    return None


def _jpeg_entropy_end(data: bytes, pos: int) -> int | None:
    """The offset of the marker that ends the entropy-coded data starting at ``pos``."""
    while True:
        j = data.find(b"\xff", pos)
        if j < 0 or j + 1 >= len(data):
            return None
        follower = data[j + 1]
        if follower == 0x00 or 0xD0 <= follower <= 0xD7:  # a stuffed 0xFF, or a restart marker
            pos = j + 2
        elif follower == 0xFF:  # fill bytes before a marker
            pos = j + 1
        else:
            return j


def _jpeg_end(data: bytes) -> int | None:
    pos = 2  # after SOI
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            return None
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1
        if pos >= len(data):
            return None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return pos
        if marker in _JPEG_STANDALONE:
            continue
        if pos + 2 > len(data):
            return None
        (length,) = struct.unpack_from(">H", data, pos)
        pos += length
        if marker == 0xDA:  # SOS: the scan's entropy-coded data follows its header
            found = _jpeg_entropy_end(data, pos)
            if found is None:
                return None
            pos = found
    return None


def _gif_sub_blocks(data: bytes, pos: int) -> int | None:
    while pos < len(data):
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos
    return None


def _gif_end(data: bytes) -> int | None:
    if len(data) < 13:
        return None
    flags = data[10]
    pos = 13 + (3 << ((flags & 0x07) + 1) if flags & 0x80 else 0)
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:  # trailer
            return pos + 1
        if block == 0x21:  # extension: label, then sub-blocks
            found = _gif_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor, local colour table, LZW code size, sub-blocks
            if pos + 10 > len(data):
                return None
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 0x07) + 1) if local & 0x80 else 0)
            found = _gif_sub_blocks(data, pos + 1)
        else:
            return None
        if found is None:
            return None
        pos = found
    return None


def _webp_end(data: bytes) -> int | None:
    if len(data) < 12 or data[:4] != b"RIFF":
        return None
    (size,) = struct.unpack_from("<I", data, 4)
    return 8 + size + (size & 1)


def _bmp_end(data: bytes) -> int | None:
    if len(data) < 30:
        return None
    file_size, pixels_at = struct.unpack_from("<I4xI", data, 2)
    header = struct.unpack_from("<I", data, 14)[0]
    if header < 40 or len(data) < 14 + 40:
        return file_size or None  # OS/2 headers: the file size is all there is
    width, height, _, bits, _, image_size = struct.unpack_from("<iiHHII", data, 18)
    row = (abs(width) * bits + 31) // 32 * 4
    return max(file_size, pixels_at + (image_size or row * abs(height)))


def _tiff_end(data: bytes) -> int | None:
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 8 or struct.unpack_from(order + "H", data, 2)[0] != 42:
        return None  # BigTIFF (43) is not accepted
    end = 8
    pending = [struct.unpack_from(order + "I", data, 4)[0]]
    seen: set[int] = set()
    while pending:
        ifd = pending.pop()
        if ifd == 0 or ifd in seen:
            continue
        if len(seen) >= _TIFF_MAX_IFDS or ifd + 2 > len(data):
            return None
        seen.add(ifd)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        entries_end = ifd + 2 + 12 * count + 4
        if entries_end > len(data):
            return None
        end = max(end, entries_end)
        values: dict[int, tuple[int, ...]] = {}
        for k in range(count):
            tag, kind, n = struct.unpack_from(order + "HHI", data, ifd + 2 + 12 * k)
            size = _TIFF_TYPE_SIZES.get(kind, 1) * n
            at = ifd + 2 + 12 * k + 8
            if size > 4:
                at = struct.unpack_from(order + "I", data, at)[0]
                end = max(end, at + size)
            if kind in (3, 4, 13) and (tag in _TIFF_IFD_POINTERS or any(tag in pair for pair in _TIFF_DATA)):
                if at + size > len(data):
                    return None
                code = "H" if kind == 3 else "I"
                values[tag] = struct.unpack_from(f"{order}{n}{code}", data, at)
        for tag in _TIFF_IFD_POINTERS & values.keys():
            pending.extend(values[tag])
        for offsets, counts in _TIFF_DATA:
            for offset, length in zip(values.get(offsets, ()), values.get(counts, ()), strict=False):
                end = max(end, offset + length)
        pending.append(struct.unpack_from(order + "I", data, entries_end - 4)[0])
    return end


END_FINDERS: dict[str, Callable[[bytes], int | None]] = {
    "PNG": _png_end,
    "JPEG": _jpeg_end,
    "GIF": _gif_end,
    "WEBP": _webp_end,
    "BMP": _bmp_end,
    "TIFF": _tiff_end,
}


def image_end(image_format: str, data: bytes) -> int | None:
    """Offset just past the image's last byte (``None``: not found); KeyError for a format without a finder."""
    try:
        return END_FINDERS[image_format](data)
    except (struct.error, IndexError):
        return None
