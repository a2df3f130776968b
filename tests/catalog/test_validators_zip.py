"""Zip validators (image classification, YOLO detection) and the zip safety checks they share."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from catalog.errors import ValidationError
from catalog.validators import validate_upload
from infra.settings import reset_settings
from tests.catalog.samples import (
    class_zip,
    lying_zip,
    make_zip,
    png,
    yolo_members,
    yolo_zip,
    zip_with_symlink,
)

pytestmark = pytest.mark.usefixtures("fresh_settings")


def refused(scenario: str, path: Path, *fragments: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_upload(scenario, path, path.name)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


# -- image classification ----------------------------------------------------------------------------------


@pytest.mark.parametrize("wrapper", ["", "pets/"])
def test_class_folders_valid(tmp_path: Path, wrapper: str) -> None:
    path = class_zip(tmp_path / "pets.zip", {"cat": 3, "dog": 2}, wrapper=wrapper)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("__MACOSX/cat/._1.png", b"junk")  # macOS metadata is skipped, not refused
        zf.writestr(f"{wrapper}cat/.DS_Store", b"junk")
    summary = validate_upload("image_classification", path, "pets.zip").summary
    assert summary["images"] == 5 and summary["classes"] == ["cat", "dog"]
    assert summary["class_counts"] == {"cat": 3, "dog": 2}
    assert summary["formats"] == {"PNG": 5} and summary["min_size"] == [16, 12]


def test_single_class_folder_is_not_taken_for_a_wrapper(tmp_path: Path) -> None:
    summary = validate_upload(
        "image_classification", class_zip(tmp_path / "c.zip", {"cat": 2}), "c.zip"
    ).summary
    assert summary["classes"] == ["cat"]


def test_image_refusals(tmp_path: Path) -> None:
    refused(
        "image_classification",
        make_zip(tmp_path / "a.zip", {"cat/1.png": png(), "dog/2.png": b"not an image"}),
        "dog/2.png",
        "not a decodable image",
    )
    truncated = png(size=(64, 64))[:-30]
    refused(
        "image_classification",
        make_zip(tmp_path / "b.zip", {"cat/1.png": truncated}),
        "cat/1.png",
        "not a decodable image",
    )
    refused(
        "image_classification",
        make_zip(tmp_path / "c.zip", {"1.png": png(), "cat/2.png": png()}),
        "'1.png'",
        "not inside a class folder",
    )
    refused("image_classification", make_zip(tmp_path / "d.zip", {"__MACOSX/x": b"j"}), "no images")


# -- zip safety (shared) -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("../evil/1.png", "'..'"),
        ("cat/../../1.png", "'..'"),
        ("/etc/cat/1.png", "absolute path"),
        ("C:/cat/1.png", "absolute path"),
        ("..\\cat\\1.png", "'..'"),
    ],
)
def test_unsafe_paths(tmp_path: Path, name: str, fragment: str) -> None:
    path = make_zip(tmp_path / "x.zip", {"cat/ok.png": png(), name: png()})
    refused("image_classification", path, name.replace("\\", "\\\\") if "\\" in name else name, fragment)


def test_symlink_refused(tmp_path: Path) -> None:
    refused("image_classification", zip_with_symlink(tmp_path / "l.zip"), "cat/link.png", "symbolic link")


def test_zip_bomb_ratio(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bomb.zip", {"cat/1.png": png(), "cat/zeros.png": b"\0" * (20 << 20)})
    refused("image_classification", path, "cat/zeros.png", "expands", "zip bomb")


VALIDATE_IN_CHILD = """
import json, sys
from pathlib import Path
from catalog.errors import ValidationError
from catalog.validators import validate_upload
path = Path(sys.argv[2])
try:
    validate_upload(sys.argv[1], path, path.name)
    error = None
except ValidationError as exc:
    error = str(exc)
# VmHWM is this process's own peak since exec; ru_maxrss would also count the parent's memory at fork time.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"error": error, "maxrss": hwm * 1024}))
"""


@pytest.mark.parametrize(
    ("scenario", "name", "extra"),
    [
        ("image_classification", "cat/bomb.png", {}),
        (
            "object_detection",
            "labels/img0.txt",
            {k: v for k, v in yolo_members().items() if k != "labels/img0.txt"},
        ),
    ],
)
def test_member_whose_size_header_lies_is_refused_in_bounded_memory(
    tmp_path: Path, scenario: str, name: str, extra: dict[str, bytes]
) -> None:
    """1 MB on disk, 1 GiB inflated, both headers declaring 1 MB: refused, and the validating process's peak
    memory (its own high-water mark, VmHWM: exact) stays far below the inflated size."""
    path = lying_zip(
        tmp_path / "lie.zip",
        name=name,
        extra={k: v.encode() if isinstance(v, str) else v for k, v in extra.items()},
    )
    assert path.stat().st_size < 2 << 20
    proc = subprocess.run(
        [sys.executable, "-c", VALIDATE_IN_CHILD, scenario, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["error"] is not None and name in out["error"], out
    assert "more than the" in out["error"] and "declares" in out["error"], out["error"]
    assert out["maxrss"] < 300 * 1024 * 1024, out


def test_member_shorter_than_declared_is_refused(tmp_path: Path) -> None:
    refused(
        "image_classification",
        lying_zip(tmp_path / "s.zip", inflated=1000, declared=5000),
        "cat/bomb.png",
        "ends after 1000",
        "5000 bytes",
    )


# -- bytes after the end of an image ----------------------------------------------------------------------


def encoded(fmt: str, **options: object) -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (40, 30), (20, 120, 200))
    ImageDraw.Draw(img).ellipse([5, 5, 30, 25], fill=(250, 250, 0))
    if options.pop("palette", False):
        img = img.convert("P")
    frames = options.pop("frames", None)
    out = io.BytesIO()
    if frames:
        img.save(
            out, format=fmt, save_all=True, append_images=[img.rotate(90 * i) for i in range(1, 3)], **options
        )
    else:
        img.save(out, format=fmt, **options)
    return out.getvalue()


def png_with_text() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "x" * 300, zip=True)
    return encoded("PNG", pnginfo=info)


IMAGES = {
    "png": lambda: encoded("PNG"),
    "png-palette": lambda: encoded("PNG", palette=True),
    "png-text": png_with_text,
    "jpeg": lambda: encoded("JPEG", quality=90),
    "jpeg-progressive": lambda: encoded("JPEG", progressive=True, optimize=True),
    "jpeg-restart-markers": lambda: encoded("JPEG", restart_marker_blocks=1),
    "gif": lambda: encoded("GIF"),
    "gif-animated": lambda: encoded("GIF", frames=True, loop=0, duration=100),
    "bmp": lambda: encoded("BMP"),
    "webp": lambda: encoded("WEBP", quality=80),
    "webp-lossless": lambda: encoded("WEBP", lossless=True),
    "tiff": lambda: encoded("TIFF"),
    "tiff-lzw": lambda: encoded("TIFF", compression="tiff_lzw"),
    "tiff-pages": lambda: encoded("TIFF", frames=True),
}
APPENDED_ZIP = b"PK\x03\x04" + bytes(26) + b"evil.sh" + b"#!/bin/sh\necho hi\n"


@pytest.mark.parametrize("kind", list(IMAGES))
def test_images_are_accepted_whole_and_refused_with_bytes_appended(tmp_path: Path, kind: str) -> None:
    image = IMAGES[kind]()
    ok = validate_upload(
        "image_classification", make_zip(tmp_path / "ok.zip", {"cat/1.img": image}), "ok.zip"
    )
    assert ok.summary["images"] == 1
    fmt = ok.summary["formats"].popitem()[0]
    carrier = make_zip(tmp_path / "bad.zip", {"cat/1.img": image + APPENDED_ZIP, "cat/2.img": image})
    refused("image_classification", carrier, "cat/1.img", "bytes follow the end of the", f"{fmt} image")
    # NUL padding after the end carries nothing and is accepted.
    padded = make_zip(tmp_path / "pad.zip", {"cat/1.img": image + bytes(16)})
    assert validate_upload("image_classification", padded, "pad.zip").summary["images"] == 1


def test_a_png_carrying_a_zip_is_refused_in_a_yolo_upload(tmp_path: Path) -> None:
    import io

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("payload.txt", "hidden")
    path = yolo_zip(tmp_path / "y.zip", **{"images/img1.png": png(box=True) + inner.getvalue()})
    refused("object_detection", path, "images/img1.png", "bytes follow the end of the PNG image")


def test_formats_without_a_known_end_are_not_accepted(tmp_path: Path) -> None:
    refused(
        "image_classification",
        make_zip(tmp_path / "t.zip", {"cat/1.tga": encoded("TGA")}),
        "cat/1.tga",
        "TGA images are not accepted",
        "PNG, JPEG",
    )


def test_zip_total_uncompressed_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_UPLOAD_MAX_UNCOMPRESSED_BYTES", "1000")
    reset_settings()
    path = make_zip(
        tmp_path / "big.zip",
        {f"cat/{i}.png": png(size=(32, 32)) for i in range(20)},
        compression=zipfile.ZIP_STORED,
    )
    refused("image_classification", path, "expands to more than 1000 bytes")


def test_zip_member_count_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_UPLOAD_MAX_ZIP_MEMBERS", "3")
    reset_settings()
    refused("image_classification", class_zip(tmp_path / "m.zip", {"cat": 4}), "4 zip entries", "limit of 3")


def test_image_pixel_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_UPLOAD_MAX_IMAGE_PIXELS", "100")
    reset_settings()
    refused(
        "image_classification",
        class_zip(tmp_path / "p.zip", {"cat": 1}),
        "cat/0.png",
        "16x12",
        "over the limit",
    )


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "n.zip"
    path.write_bytes(png())
    refused("image_classification", path, "not a ZIP")


# -- YOLO object detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("classes_file", ["classes.txt", "data.yaml"])
def test_yolo_valid(tmp_path: Path, classes_file: str) -> None:
    summary = validate_upload("object_detection", yolo_zip(tmp_path / "y.zip", classes_file), "y.zip").summary
    assert summary["classes"] == ["circle", "square"]
    assert summary["images"] == 4 and summary["labelled_images"] == 3 and summary["background_images"] == 1
    assert summary["boxes"] == 6 and summary["boxes_per_class"] == {"circle": 5, "square": 1}


def test_yolo_wrapped_in_a_folder(tmp_path: Path) -> None:
    members = {f"ds/{k}": v for k, v in yolo_members().items()}
    summary = validate_upload("object_detection", make_zip(tmp_path / "w.zip", members), "w.zip").summary
    assert summary["images"] == 4


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (
            {"labels/img1.txt": "0 0.5 0.5 1.4 0.2\n"},
            ("labels/img1.txt", "line 1", "w=1.4", "outside [0, 1]"),
        ),
        (
            {"labels/img2.txt": "0 0.5 0.5 0.1 0.1\n7 0.5 0.5 0.2 0.2\n"},
            ("labels/img2.txt", "line 2", "unknown class id 7"),
        ),
        ({"labels/img0.txt": "0 0.5 0.5 0.2\n"}, ("labels/img0.txt", "expected 5 values")),
        ({"labels/ghost.txt": "0 0.5 0.5 0.2 0.2\n"}, ("labels/ghost.txt", "no matching image")),
        ({"images/img1.png": b"GIF89a broken"}, ("images/img1.png", "not a decodable image")),
        ({"labels/img0.txt": "cat 0.5 0.5 0.2 0.2\n"}, ("line 1", "not an integer")),
    ],
)
def test_yolo_refusals(tmp_path: Path, overrides: dict[str, str | bytes], fragments: tuple[str, ...]) -> None:
    refused("object_detection", yolo_zip(tmp_path / "y.zip", **overrides), *fragments)


def test_yolo_needs_class_names(tmp_path: Path) -> None:
    members = {k: v for k, v in yolo_members().items() if k != "classes.txt"}
    refused("object_detection", make_zip(tmp_path / "a.zip", members), "no classes.txt or data.yaml")
    members["data.yaml"] = "names: [a, b\n"
    refused("object_detection", make_zip(tmp_path / "b.zip", members), "data.yaml", "not valid YAML")
    members["data.yaml"] = "names:\n  0: a\n  2: b\n"
    refused("object_detection", make_zip(tmp_path / "c.zip", members), "without gaps")
