"""Validator of object detection uploads: a YOLO ZIP with ``images/``, ``labels/`` and ``classes.txt`` or
``data.yaml`` (``names`` as a list or an ``{id: name}`` map).

Each ``labels/<path>.txt`` belongs to ``images/<path>.<ext>``; a line is ``class cx cy w h`` with a known
class id and coordinates in [0, 1]. Images without a label file are background images. ``read_layout`` and
``parse_labels`` are shared with release building, which re-reads entries the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from catalog.errors import ValidationError, quote
from catalog.scenarios import Scenario
from catalog.validators import ValidatedUpload, register
from catalog.validators.images import ImageStats
from catalog.validators.zipsafe import Member, check_image, open_zip, read_member

MARKERS = frozenset({"images", "labels", "classes.txt", "data.yaml", "data.yml"})


@dataclass
class YoloLayout:
    classes: list[str]
    images: dict[str, Member] = field(default_factory=dict)  # key: path under images/ without suffix
    labels: dict[str, Member] = field(default_factory=dict)  # key: path under labels/ without .txt


def _names_from_yaml(data: bytes, where: str) -> list[str]:
    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(f"{where}: not valid YAML ({exc})") from None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise ValidationError(f"{where}: 'names' keys must be class ids 0..n-1") from None
        if ids != list(range(len(ids))):
            raise ValidationError(
                f"{where}: 'names' ids must be 0..{len(ids) - 1} without gaps, got {quote(ids)}"
            )
        return [str(names.get(i, names.get(str(i)))) for i in ids]
    if isinstance(names, list):
        return [str(n) for n in names]
    raise ValidationError(f"{where}: no 'names' list or map of class names")


def read_layout(zf: Any, members: list[Member], filename: str) -> YoloLayout:
    by_path = {m.path: m for m in members}
    class_file = next((by_path[n] for n in ("classes.txt", "data.yaml", "data.yml") if n in by_path), None)
    if class_file is None:
        raise ValidationError(f"{filename}: no classes.txt or data.yaml at the root of the zip")
    raw = read_member(zf, class_file, filename)
    where = f"{filename}: {class_file.info.filename}"
    if class_file.path == "classes.txt":
        try:
            classes = [line.strip() for line in raw.decode("utf-8-sig").splitlines() if line.strip()]
        except UnicodeDecodeError:
            raise ValidationError(f"{where}: not UTF-8 text") from None
    else:
        classes = _names_from_yaml(raw, where)
    if not classes:
        raise ValidationError(f"{where}: lists no classes")
    counts = Counter(classes)  # one pass: list.count per name would be quadratic in the number of classes
    dupes = sorted(c for c, n in counts.items() if n > 1)
    if dupes:
        raise ValidationError(f"{where}: duplicate class name(s) {quote(dupes)}")
    layout = YoloLayout(classes=classes)
    for member in members:
        parts = PurePosixPath(member.path).parts
        if parts[0] == "images" and len(parts) > 1:
            key = str(PurePosixPath(*parts[1:]).with_suffix(""))
            if key in layout.images:
                raise ValidationError(
                    f"{filename}: {quote(member.info.filename)} and "
                    f"{quote(layout.images[key].info.filename)} share one label file name"
                )
            layout.images[key] = member
        elif parts[0] == "labels" and len(parts) > 1:
            if PurePosixPath(member.path).suffix != ".txt":
                raise ValidationError(
                    f"{filename}: {quote(member.info.filename)}: label files must end in .txt"
                )
            layout.labels[str(PurePosixPath(*parts[1:]).with_suffix(""))] = member
    if not layout.images:
        raise ValidationError(f"{filename}: no images under images/")
    orphans = sorted(set(layout.labels) - set(layout.images))
    if orphans:
        raise ValidationError(
            f"{filename}: {quote(layout.labels[orphans[0]].info.filename)} has no matching image "
            f"under images/ ({len(orphans)} label file(s) without an image)"
        )
    return layout


def parse_labels(data: bytes, where: str, n_classes: int) -> list[tuple[int, float, float, float, float]]:
    """Boxes of one label file; errors name the file and line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{where}: not UTF-8 text") from None
    boxes = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise ValidationError(
                f"{where}: line {number}: expected 5 values 'class cx cy w h', got {len(fields)}"
            )
        try:
            cls = int(fields[0])
        except ValueError:
            raise ValidationError(
                f"{where}: line {number}: class id {quote(fields[0])} is not an integer"
            ) from None
        if not 0 <= cls < n_classes:
            raise ValidationError(
                f"{where}: line {number}: unknown class id {cls} "
                f"(the zip names {n_classes} class(es): 0..{n_classes - 1})"
            )
        try:
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            raise ValidationError(
                f"{where}: line {number}: box values must be numbers: {quote(line.strip())}"
            ) from None
        for name, value in (("cx", cx), ("cy", cy), ("w", w), ("h", h)):
            if not 0.0 <= value <= 1.0:
                raise ValidationError(
                    f"{where}: line {number}: {name}={value:g} is outside [0, 1] "
                    "(YOLO coordinates are normalised to the image size)"
                )
        if w == 0 or h == 0:
            raise ValidationError(f"{where}: line {number}: box has zero width or height")
        boxes.append((cls, cx, cy, w, h))
    return boxes


@register(Scenario.OBJECT_DETECTION)
def validate_yolo_zip(path: Path, filename: str) -> ValidatedUpload:
    per_class: Counter[int] = Counter()
    stats = ImageStats()
    with open_zip(path, filename, markers=MARKERS) as (zf, members):
        layout = read_layout(zf, members, filename)
        for key, member in layout.images.items():
            stats.add(check_image(read_member(zf, member, filename), f"{filename}: {member.info.filename}"))
            label = layout.labels.get(key)
            if label is not None:
                boxes = parse_labels(
                    read_member(zf, label, filename),
                    f"{filename}: {label.info.filename}",
                    len(layout.classes),
                )
                per_class.update(b[0] for b in boxes)
    summary = {
        "images": len(layout.images),
        "labelled_images": len(layout.labels),
        "background_images": len(layout.images) - len(layout.labels),
        "boxes": sum(per_class.values()),
        "classes": layout.classes,
        "boxes_per_class": {layout.classes[i]: per_class.get(i, 0) for i in range(len(layout.classes))},
        **stats.as_dict(),
    }
    return ValidatedUpload(content_type="application/zip", summary=summary)
