"""Generated image releases for the YOLO tests and the vision benchmark: colour-coded class folders
(image_classification) and shapes with YOLO labels (object_detection), zipped in the published layout."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np
import yaml
from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 200, 40),
    "blue": (40, 40, 220),
}
SHAPES: tuple[str, ...] = ("square", "disc")


def png(array: np.ndarray | Image.Image, fmt: str = "PNG") -> bytes:
    picture = array if isinstance(array, Image.Image) else Image.fromarray(array)
    buf = io.BytesIO()
    picture.save(buf, format=fmt)
    return buf.getvalue()


def colour_image(rng: np.random.Generator, colour: tuple[int, int, int], size: int = 32) -> bytes:
    noise = rng.normal(0, 25, (size, size, 3)) + np.array(colour)
    return png(noise.clip(0, 255).astype(np.uint8))


def shapes_image(rng: np.random.Generator, size: int = 64, max_objects: int = 2) -> tuple[bytes, str]:
    """A noisy background with 1..max_objects non-overlapping shapes; (JPEG bytes, YOLO label text)."""
    picture = Image.fromarray(rng.integers(180, 256, (size, size, 3), dtype=np.uint8))
    pen = ImageDraw.Draw(picture)
    lines, taken = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        side = int(rng.integers(size // 4, size // 2))
        for _attempt in range(20):
            x, y = (int(v) for v in rng.integers(0, size - side, 2))
            if all(x + side <= a or a + s <= x or y + side <= b or b + s <= y for a, b, s in taken):
                break
        else:
            continue
        taken.append((x, y, side))
        cls = int(rng.integers(0, len(SHAPES)))
        fill = tuple(int(v) for v in rng.integers(0, 120, 3))
        (pen.rectangle if SHAPES[cls] == "square" else pen.ellipse)(
            [x, y, x + side - 1, y + side - 1], fill=fill
        )
        lines.append(
            f"{cls} {(x + side / 2) / size:.6f} {(y + side / 2) / size:.6f} {side / size:.6f} "
            f"{side / size:.6f}\n"
        )
    return png(picture, "JPEG"), "".join(lines)


def release_zip(
    scenario: str, members: dict[str, dict[str, bytes]], classes: list[str], extra: dict[str, bytes]
) -> bytes:
    buf = io.BytesIO()
    splits: dict[str, Any] = {}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for split, files in members.items():
            for name, content in files.items():
                zf.writestr(name, content)
            images = [n for n in files if "/labels/" not in n]
            splits[split] = {"files": list(files), "samples": len(images)}
        for name, content in extra.items():
            zf.writestr(name, content)
        manifest = {
            "format": 1,
            "dataset_id": 9,
            "dataset": "generated",
            "version": "v1",
            "scenario": scenario,
            "splits": splits,
            "classes": classes,
        }
        zf.writestr("manifest.json", json.dumps(manifest))
    return buf.getvalue()


def classification_release(counts: dict[str, int], seed: int = 0, size: int = 32) -> bytes:
    """``counts``: split → images per class."""
    rng = np.random.default_rng(seed)
    members: dict[str, dict[str, bytes]] = {}
    for split, n in counts.items():
        members[split] = {
            f"{split}/{cls}/1_{cls}{i}.png": colour_image(rng, rgb, size)
            for cls, rgb in COLOURS.items()
            for i in range(n)
        }
    return release_zip("image_classification", members, list(COLOURS), {})


def detection_release(counts: dict[str, int], seed: int = 0, size: int = 64) -> bytes:
    """``counts``: split → images; YOLO layout with data.yaml."""
    rng = np.random.default_rng(seed)
    members: dict[str, dict[str, bytes]] = {}
    for split, n in counts.items():
        files: dict[str, bytes] = {}
        for i in range(n):
            image, labels = shapes_image(rng, size)
            files[f"{split}/images/2_s{i}.jpg"] = image
            files[f"{split}/labels/2_s{i}.txt"] = labels.encode()
        members[split] = files
    data = {
        "path": ".",
        **{s: f"{s}/images" for s in counts},
        "nc": len(SHAPES),
        "names": dict(enumerate(SHAPES)),
    }
    return release_zip(
        "object_detection", members, list(SHAPES), {"data.yaml": yaml.safe_dump(data).encode()}
    )
