"""Zip safety shared by the zip validators and by release building: refuse before anything is extracted.

Checked from the central directory first: not a zip, too many members, ``..`` or absolute paths (also with
backslashes or drive letters), symlinks, encrypted members, duplicate names, total uncompressed size and
compression ratios (zip bombs), all from the *declared* sizes. A declared size may lie (a 1 MB member that
declares 1 MB and inflates to 1 GiB), so it is never trusted when reading: members are only read by
``stream_member`` (and ``read_member``/``copy_member`` on top of it), in chunks, counting the inflated bytes,
and a member is refused the moment it inflates past its declared size — or when it ends short of it. Memory
stays at one chunk (``copy_member``) or the declared size, which the checks above bounded. Also owns the
layout helpers: junk files (``__MACOSX``, dotfiles) are skipped and one wrapping top-level folder is looked
through.
"""

from __future__ import annotations

import copy
import io
import stat
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from catalog.errors import ValidationError, quote
from catalog.validators.imageend import END_FINDERS, image_end
from infra.settings import get_settings

# A member this small cannot be a meaningful bomb on its own; only its share of the total counts.
RATIO_MIN_BYTES = 1 << 20
CHUNK_BYTES = 1 << 16
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True, slots=True)
class Member:
    """A regular file of the zip: ``path`` is relative to the layout root (wrapping folder removed)."""

    path: str
    info: zipfile.ZipInfo


def _check_name(name: str, filename: str) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or pure.is_absolute():
        raise ValidationError(f"{filename}: zip entry {quote(name)} has an absolute path")
    if ".." in pure.parts:
        raise ValidationError(
            f"{filename}: zip entry {quote(name)} has a '..' path component (path traversal)"
        )


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _is_junk(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return any(p == "__MACOSX" or p.startswith(".") for p in parts) or parts[-1].lower() in JUNK_NAMES


def check_zip(zf: zipfile.ZipFile, filename: str) -> list[zipfile.ZipInfo]:
    """Every safety check on the central directory; returns the regular file members."""
    limits = get_settings().datasets
    infos = zf.infolist()
    if len(infos) > limits.max_zip_members:
        raise ValidationError(
            f"{filename}: {len(infos)} zip entries, more than the limit of "
            f"{limits.max_zip_members} (MLOPS_UPLOAD_MAX_ZIP_MEMBERS)"
        )
    seen: set[str] = set()
    total = compressed = 0
    files: list[zipfile.ZipInfo] = []
    for info in infos:
        _check_name(info.filename, filename)
        if _is_symlink(info):
            raise ValidationError(
                f"{filename}: zip entry {quote(info.filename)} is a symbolic link; links are refused"
            )
        if info.flag_bits & 0x1:
            raise ValidationError(f"{filename}: zip entry {quote(info.filename)} is encrypted")
        if info.filename in seen:
            raise ValidationError(f"{filename}: zip entry {quote(info.filename)} appears twice")
        seen.add(info.filename)
        if info.is_dir():
            continue
        if info.file_size > RATIO_MIN_BYTES and info.file_size > limits.max_compression_ratio * max(
            info.compress_size, 1
        ):
            raise ValidationError(
                f"{filename}: zip entry {quote(info.filename)} expands {info.file_size / max(info.compress_size, 1):.0f}"
                f" times ({info.compress_size} → {info.file_size} bytes), over the limit of "
                f"{limits.max_compression_ratio:g} (zip bomb?)"
            )
        total += info.file_size
        compressed += info.compress_size
        if total > limits.max_uncompressed_bytes:
            raise ValidationError(
                f"{filename}: the zip expands to more than {limits.max_uncompressed_bytes} bytes "
                f"(limit MLOPS_UPLOAD_MAX_UNCOMPRESSED_BYTES; reached at {quote(info.filename)})"
            )
        files.append(info)
    if total > RATIO_MIN_BYTES and total > limits.max_compression_ratio * max(compressed, 1):
        raise ValidationError(
            f"{filename}: the zip expands {total / max(compressed, 1):.0f} times, over the limit "
            f"of {limits.max_compression_ratio:g} (zip bomb?)"
        )
    return files


def _strip_wrapper(paths: list[str], markers: frozenset[str], depth: int) -> str:
    """The one top-level folder wrapping everything (as zipping a folder produces), or ''.

    Only when every path would keep at least ``depth`` parts: ``cat/1.jpg`` alone is a class folder.
    """
    tops = {PurePosixPath(p).parts[0] for p in paths}
    if len(tops) == 1 and all(len(PurePosixPath(p).parts) > depth for p in paths):
        top = next(iter(tops))
        if top not in markers:
            return top + "/"
    return ""


@contextmanager
def open_zip(
    path: Path, filename: str, *, markers: frozenset[str] = frozenset(), depth: int = 1
) -> Iterator[tuple[zipfile.ZipFile, list[Member]]]:
    """The checked zip and its regular, non-junk members; ``markers`` are top-level names of the layout and
    ``depth`` the fewest path parts a member has in it."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValidationError(f"{filename}: not a ZIP archive") from None
    with zf:
        infos = [i for i in check_zip(zf, filename) if not _is_junk(i.filename.replace("\\", "/"))]
        names = [i.filename.replace("\\", "/") for i in infos]
        prefix = _strip_wrapper(names, markers, depth) if names else ""
        yield zf, [Member(path=n[len(prefix) :], info=i) for n, i in zip(names, infos, strict=True)]


def stream_member(zf: zipfile.ZipFile, member: Member, filename: str) -> Iterator[bytes]:
    """The member's inflated bytes in chunks of at most ``CHUNK_BYTES``, counted against its declared size:
    refused as soon as it inflates past it, or if it ends before it."""
    declared = member.info.file_size
    # zipfile stops a member at its declared size, after inflating whatever one read() asked for (all of it
    # for zf.read). Small reads of a copy declaring two chunks more show a lie one chunk past the declared
    # size, before zipfile reaches that size and reports a mere CRC mismatch.
    probe = copy.copy(member.info)
    probe.file_size = declared + 2 * CHUNK_BYTES
    where = f"{filename}: zip entry {quote(member.info.filename)}"
    seen = 0
    try:
        with zf.open(probe) as src:
            while chunk := src.read(CHUNK_BYTES):
                seen += len(chunk)
                if seen > declared:
                    raise ValidationError(
                        f"{where} inflates to more than the {declared} bytes its header "
                        "declares (corrupt, or a zip bomb)"
                    )
                yield chunk
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as exc:
        raise ValidationError(f"{where} cannot be read ({exc})") from None
    if seen != declared:
        raise ValidationError(
            f"{where} ends after {seen} of the {declared} bytes its header declares (corrupt)"
        )


def read_member(zf: zipfile.ZipFile, member: Member, filename: str) -> bytes:
    """The whole member (at most its declared size, see ``stream_member``)."""
    return b"".join(stream_member(zf, member, filename))


def copy_member(zf: zipfile.ZipFile, member: Member, dst: BinaryIO, filename: str) -> int:
    """Copy the member into ``dst`` one chunk at a time; returns its size."""
    size = 0
    for chunk in stream_member(zf, member, filename):
        dst.write(chunk)
        size += len(chunk)
    return size


def check_image(data: bytes, where: str) -> dict[str, object]:
    """Format and size of an image that fully decodes; ``where`` names it in the error.

    Images carrying bytes after their end (a PNG with a zip appended, a JPEG with a video after its EOI) are
    refused, not stripped: the upload is stored byte for byte as sent, so the user re-saves the image. NUL
    padding after the end (some encoders write it; it carries nothing) is accepted. Only formats whose end
    ``imageend`` can find are accepted.
    """
    limit = get_settings().datasets.max_image_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
                if width * height > limit:
                    raise ValidationError(
                        f"{where}: {width}x{height} pixels is over the limit of {limit} "
                        "(MLOPS_UPLOAD_MAX_IMAGE_PIXELS)"
                    )
                img.verify()
            # verify() checks structure only; loading decodes every pixel, catching truncated files.
            with Image.open(io.BytesIO(data)) as img:
                img.load()
    except ValidationError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise ValidationError(f"{where}: not a decodable image ({exc})") from None
    if fmt not in END_FINDERS:
        raise ValidationError(f"{where}: {fmt} images are not accepted (accepted: {', '.join(END_FINDERS)})")
    end = image_end(fmt, data)
    if end is None:
        raise ValidationError(
            f"{where}: the end of this {fmt} image cannot be found (truncated or malformed)"
        )
    if end < len(data) and data[end:].strip(b"\0"):
        raise ValidationError(
            f"{where}: {len(data) - end} bytes follow the end of the {fmt} image (data appended "
            "to an image, such as an archive, is refused: save the image again without it)"
        )
    return {"format": fmt, "width": width, "height": height}


def is_image_name(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES
