"""Validator of image classification uploads: a ZIP of class folders (``cat/1.jpg``, ``dog/2.png``...).

Every file must be an image that decodes (its extension is not trusted), inside a class folder; one wrapping
top-level folder is allowed. ``class_of`` is shared with release building so both read the layout alike.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from catalog.errors import ValidationError, quote
from catalog.scenarios import Scenario
from catalog.validators import ValidatedUpload, register
from catalog.validators.zipsafe import Member, check_image, open_zip, read_member


class ImageStats:
    """Counts and size range of the images seen."""

    def __init__(self) -> None:
        self.formats: Counter[str] = Counter()
        self.min_size: list[int] | None = None
        self.max_size: list[int] | None = None

    def add(self, info: dict[str, Any]) -> None:
        self.formats[str(info["format"])] += 1
        size = [int(info["width"]), int(info["height"])]
        self.min_size = size if self.min_size is None else [min(a, b) for a, b in zip(self.min_size, size)]
        self.max_size = size if self.max_size is None else [max(a, b) for a, b in zip(self.max_size, size)]

    def as_dict(self) -> dict[str, Any]:
        return {"formats": dict(self.formats), "min_size": self.min_size, "max_size": self.max_size}


def class_of(member: Member, filename: str) -> str:
    parts = PurePosixPath(member.path).parts
    if len(parts) < 2:
        raise ValidationError(
            f"{filename}: {quote(member.info.filename)} is not inside a class folder "
            "(expected <class>/<image>)"
        )
    return parts[0]


@register(Scenario.IMAGE_CLASSIFICATION)
def validate_image_folders(path: Path, filename: str) -> ValidatedUpload:
    counts: Counter[str] = Counter()
    stats = ImageStats()
    with open_zip(path, filename, depth=2) as (zf, members):
        if not members:
            raise ValidationError(f"{filename}: the zip holds no images")
        for member in members:
            label = class_of(member, filename)
            stats.add(check_image(read_member(zf, member, filename), f"{filename}: {member.info.filename}"))
            counts[label] += 1
    summary = {
        "images": sum(counts.values()),
        "classes": sorted(counts),
        "class_counts": dict(sorted(counts.items())),
        **stats.as_dict(),
    }
    return ValidatedUpload(content_type="application/zip", summary=summary)
