"""Small generated uploads for every scenario (tests make their own data; nothing is read from disk)."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def series_csv(n: int = 50, *, extra: str = "", label: bool = True, start: str = "2024-01-01") -> str:
    import pandas as pd

    stamps = pd.date_range(start, periods=n, freq="h")
    head = "timestamp,value" + (",label" if label else "") + (f",{extra}" if extra else "")
    rows = [head]
    for i, t in enumerate(stamps):
        cells = [t.isoformat(), f"{10 + (i % 7) * 0.5:.2f}"]
        if label:
            cells.append("1" if i % 17 == 0 else "0")
        if extra:
            cells.append(f"{i * 0.1:.1f}")
        rows.append(",".join(cells))
    return "\n".join(rows) + "\n"


def text_csv(n: int = 12) -> str:
    samples = [
        ("这部电影太好看了", "pos"),
        ("服务很差，不会再来", "neg"),
        ("great value, works well", "pos"),
        ("质量一般般", "neutral"),
    ]
    rows = ["text,label"] + [f'"{samples[i % 4][0]} {i}",{samples[i % 4][1]}' for i in range(n)]
    return "\n".join(rows) + "\n"


def png(
    color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (16, 12), box: bool = False
) -> bytes:
    img = Image.new("RGB", size, color)
    if box:
        ImageDraw.Draw(img).rectangle([4, 3, 11, 8], fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def make_zip(path: Path, members: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def class_zip(path: Path, classes: dict[str, int] | None = None, *, wrapper: str = "") -> Path:
    classes = classes or {"cat": 3, "dog": 2}
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    members = {
        f"{wrapper}{name}/{i}.png": png(colors[k % 3])
        for k, (name, n) in enumerate(classes.items())
        for i in range(n)
    }
    return make_zip(path, members)


def yolo_members(classes_file: str = "classes.txt", n: int = 3) -> dict[str, bytes | str]:
    members: dict[str, bytes | str] = {}
    if classes_file == "classes.txt":
        members["classes.txt"] = "circle\nsquare\n"
    else:
        members["data.yaml"] = "names:\n  0: circle\n  1: square\n"
    for i in range(n):
        members[f"images/img{i}.png"] = png(box=True)
        members[f"labels/img{i}.txt"] = f"{i % 2} 0.5 0.45 0.5 0.5\n0 0.2 0.2 0.1 0.1\n"
    members["images/background.png"] = png()
    return members


def yolo_zip(path: Path, classes_file: str = "classes.txt", **overrides: bytes | str) -> Path:
    return make_zip(path, {**yolo_members(classes_file), **overrides})


def zip_with_symlink(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("cat/1.png", png())
        info = zipfile.ZipInfo("cat/link.png")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return path


def lying_zip(
    path: Path,
    *,
    name: str = "cat/bomb.png",
    inflated: int = 1 << 30,
    declared: int | None = None,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A zip whose member ``name`` inflates to ``inflated`` zero bytes while its local header and central
    directory both declare ``declared`` (default: its compressed size, a harmless-looking ratio of 1)."""
    import struct

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in (extra or {}).items():
            zf.writestr(member, data)
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w") as dst:
            block = bytes(1 << 20)
            for _ in range(inflated // len(block)):
                dst.write(block)
            dst.write(bytes(inflated % len(block)))
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    lie = info.compress_size if declared is None else declared
    raw = bytearray(path.read_bytes())
    local = info.header_offset
    assert raw[local : local + 4] == b"PK\x03\x04"
    struct.pack_into("<I", raw, local + 22, lie)  # uncompressed size in the local header
    eocd = raw.rindex(b"PK\x05\x06")
    (entry,) = struct.unpack_from("<I", raw, eocd + 16)  # offset of the central directory
    while True:
        assert raw[entry : entry + 4] == b"PK\x01\x02"
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", raw, entry + 28)
        if raw[entry + 46 : entry + 46 + name_len] == name.encode():
            struct.pack_into("<I", raw, entry + 24, lie)  # uncompressed size in the central directory
            break
        entry += 46 + name_len + extra_len + comment_len
    path.write_bytes(bytes(raw))
    return path
