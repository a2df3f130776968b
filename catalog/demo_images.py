"""The demo's images, as bytes: 48-pixel shapes one class per folder (image classification) and 96-pixel scenes
with YOLO boxes (object detection), zipped with fixed dates so the same seed gives the same bytes.
``catalog.demo_data`` wraps them into demo datasets."""

from __future__ import annotations

import io
import random
import zipfile

from PIL import Image, ImageDraw

ZIP_DATE = (2024, 1, 1, 0, 0, 0)
SHAPES = ("circle", "square", "triangle")
DETECTION_CLASSES = ("circle", "square")


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def zip_members(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            # Images are already compressed; text members are deflated.
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return out.getvalue()


def _color(rng: random.Random, low: int, high: int) -> tuple[int, int, int]:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def _draw_shape(
    pen: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], color: tuple[int, int, int]
) -> None:
    x1, y1, x2, y2 = box
    if shape == "circle":
        pen.ellipse(box, fill=color)
    elif shape == "square":
        pen.rectangle(box, fill=color)
    else:
        pen.polygon([((x1 + x2) / 2, y1), (x2, y2), (x1, y2)], fill=color)


SHAPE_COLOURS = {"circle": (200, 40, 40), "square": (40, 150, 40), "triangle": (40, 60, 200)}


def shape_image(rng: random.Random, shape: str, size: int = 48) -> bytes:
    """One large shape in its class colour (varied a little), at a random size and place, on a light
    background: colour and outline both tell the class, so a small model trained from scratch on the CPU
    learns it in a few epochs."""
    image = Image.new("RGB", (size, size), _color(rng, 200, 255))
    side = rng.randint(size // 2, size - 6)
    x, y = rng.randint(2, size - side - 2), rng.randint(2, size - side - 2)
    colour = tuple(min(255, max(0, c + rng.randint(-35, 35))) for c in SHAPE_COLOURS[shape])
    _draw_shape(ImageDraw.Draw(image), shape, (x, y, x + side, y + side), colour)  # type: ignore[arg-type]
    return png(image)


def class_folders_zip(per_class: int, *, seed: int) -> bytes:
    rng = random.Random(seed)
    return zip_members(
        {
            f"{shape}/{shape}-{i:03d}.png": shape_image(rng, shape)
            for shape in SHAPES
            for i in range(per_class)
        }
    )


def scene(rng: random.Random, size: int = 96) -> tuple[bytes, list[tuple[int, float, float, float, float]]]:
    """An image with one to three non-overlapping shapes, and their YOLO boxes (class, cx, cy, w, h)."""
    image = Image.new("RGB", (size, size), _color(rng, 190, 255))
    pen = ImageDraw.Draw(image)
    boxes: list[tuple[int, int, int, int]] = []
    labels = []
    for _ in range(rng.randint(1, 3)):
        for _attempt in range(20):
            side = rng.randint(16, 36)
            x, y = rng.randint(1, size - side - 1), rng.randint(1, size - side - 1)
            box = (x, y, x + side, y + side)
            if all(
                box[2] < b[0] - 2 or b[2] < box[0] - 2 or box[3] < b[1] - 2 or b[3] < box[1] - 2
                for b in boxes
            ):
                break
        else:
            continue
        cls = rng.randrange(len(DETECTION_CLASSES))
        _draw_shape(pen, DETECTION_CLASSES[cls], box, _color(rng, 0, 120))
        boxes.append(box)
        labels.append(
            (
                cls,
                (box[0] + box[2]) / 2 / size,
                (box[1] + box[3]) / 2 / size,
                (box[2] - box[0]) / size,
                (box[3] - box[1]) / size,
            )
        )
    return png(image), labels


def yolo_zip(n: int, *, seed: int) -> bytes:
    rng = random.Random(seed)
    members = {"classes.txt": ("\n".join(DETECTION_CLASSES) + "\n").encode()}
    for i in range(n):
        image, labels = scene(rng)
        members[f"images/scene-{i:03d}.png"] = image
        members[f"labels/scene-{i:03d}.txt"] = "".join(
            f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in labels
        ).encode()
    return zip_members(members)
