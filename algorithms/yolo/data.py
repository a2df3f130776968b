"""Image releases as YOLO training data: the splits of an extracted release, and the folder / yaml that
ultralytics reads for a fit or a validation.

Release layouts (docs/architecture.md): image_classification ``{split}/{class}/{file}``; object_detection
``{split}/images/*``, ``{split}/labels/*.txt`` and ``data.yaml`` (class ids already rewritten onto the
release's class list). An ``ImageSplit`` is a list of image files (with class indices for classification)
plus ``monitor``: the split ultralytics validates on after each epoch (the release's val split for the train
split; without one, the training images themselves).

Ultralytics wants class folders named ``train``/``val`` for classification: ``write_classify_root`` links
the files into such a tree with a folder for every class (empty ones too, so class indices always match the
model's). Detection takes plain lists of image paths (labels found by ``/images/`` → ``/labels/``).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from algorithms.base.release import Release, ReleaseError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".dng", ".mpo", ".heic"}
)
CLASSIFY, DETECT = "classify", "detect"
SEED = 0
HOLDOUT_FRACTION = 0.2
_EXTRACTED = "release"
_DONE = ".extracted"


@dataclass(frozen=True)
class ImageSplit:
    """Images of one split (or of a holdout/combination of splits) of an extracted release."""

    task: str
    names: tuple[str, ...]
    images: tuple[Path, ...]
    labels: tuple[int, ...] = ()  # classification: class index per image
    monitor: ImageSplit | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.images)

    def monitored(self) -> ImageSplit:
        """The data ultralytics validates on after each epoch."""
        return self.monitor if self.monitor is not None and len(self.monitor) else self


def extracted(release: Release) -> Path:
    """The release unpacked beside its zip (once per process and zip)."""
    root = release.path.parent / _EXTRACTED
    if not (root / _DONE).exists():
        release.extract(root)
        (root / _DONE).touch()
    return root


def release_names(release: Release, task: str) -> tuple[str, ...]:
    """Class names in model order: detection keeps data.yaml's id order, classification sorts them (the
    order ultralytics gives class folders)."""
    root = extracted(release)
    if task == DETECT:
        data_yaml = root / "data.yaml"
        if not data_yaml.is_file():
            raise ReleaseError("an object_detection release needs data.yaml at its root")
        names = (yaml.safe_load(data_yaml.read_text()) or {}).get("names")
        if isinstance(names, dict):
            return tuple(str(names[k]) for k in sorted(names, key=int))
        if isinstance(names, list):
            return tuple(str(n) for n in names)
        raise ReleaseError("data.yaml has no 'names'")
    found = {str(c) for c in release.manifest.get("classes") or []}
    for split in release.splits:
        found |= {
            PurePosixPath(f).parts[1] for f in release.split_files(split) if len(PurePosixPath(f).parts) >= 3
        }
    return tuple(sorted(found))


def read_image_split(release: Release, split: str, task: str, *, with_monitor: bool = True) -> ImageSplit:
    """The images of ``split`` (as listed by the manifest); the train split monitors on val when present."""
    root = extracted(release)
    names = release_names(release, task)
    index = {n: i for i, n in enumerate(names)}
    images: list[Path] = []
    labels: list[int] = []
    for member in release.split_files(split):
        parts = PurePosixPath(member).parts
        if PurePosixPath(member).suffix.lower() not in IMAGE_SUFFIXES or len(parts) < 3:
            continue
        if task == DETECT:
            if parts[1] == "images":
                images.append(root.joinpath(*parts))
        else:
            images.append(root.joinpath(*parts))
            labels.append(index[parts[1]])
    if not images:
        raise ReleaseError(f"split {split!r} of the release has no images")
    monitor = None
    if with_monitor and split == "train" and release.has_split("val"):
        monitor = read_image_split(release, "val", task, with_monitor=False)
    return ImageSplit(task=task, names=names, images=tuple(images), labels=tuple(labels), monitor=monitor)


def holdout(split: ImageSplit, fraction: float = HOLDOUT_FRACTION) -> tuple[ImageSplit, ImageSplit]:
    """(fit part, held-out part): stratified by class for classification, seeded; the fit part monitors on
    the held-out part."""
    rng = random.Random(SEED)
    order = list(range(len(split)))
    rng.shuffle(order)
    held: set[int] = set()
    if split.task == CLASSIFY:
        for cls in sorted(set(split.labels)):
            members = [i for i in order if split.labels[i] == cls]
            if len(members) >= 2:
                held.update(members[: max(1, round(len(members) * fraction))])
    else:
        held.update(order[: max(1, round(len(order) * fraction))])
    keep = [i for i in range(len(split)) if i not in held]
    if not keep or not held:
        raise ValueError(f"too few training images ({len(split)}) to hold out validation images for tuning")
    val = _subset(split, sorted(held), None)
    return _subset(split, keep, val), val


def _subset(split: ImageSplit, indices: list[int], monitor: ImageSplit | None) -> ImageSplit:
    return replace(
        split,
        images=tuple(split.images[i] for i in indices),
        labels=tuple(split.labels[i] for i in indices) if split.labels else (),
        monitor=monitor,
    )


def combine(train: ImageSplit, val: ImageSplit) -> ImageSplit:
    """Train then val, monitoring on val (the fit after tuning learns from both)."""
    return replace(train, images=train.images + val.images, labels=train.labels + val.labels, monitor=val)


def write_classify_root(directory: Path, train: ImageSplit, val: ImageSplit) -> Path:
    """``directory/{train,val}/{class}/`` with symlinks to the images; every class folder exists in both."""
    for name, split in (("train", train), ("val", val)):
        for cls in train.names:
            (directory / name / cls).mkdir(parents=True, exist_ok=True)
        for k, (image, label) in enumerate(zip(split.images, split.labels, strict=True)):
            # One file may sit in several release splits under the same name: prefix the position.
            os.symlink(image.resolve(), directory / name / train.names[label] / f"{k}_{image.name}")
    return directory


def write_detect_yaml(directory: Path, splits: dict[str, ImageSplit]) -> Path:
    """A data.yaml whose splits are lists of absolute image paths (``{directory}/{split}.txt``)."""
    directory.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"path": str(directory)}
    names: tuple[str, ...] = ()
    for name, split in splits.items():
        listing = directory / f"{name}.txt"
        listing.write_text("".join(f"{p.resolve()}\n" for p in split.images))
        data[name] = str(listing)
        names = split.names
    data["nc"] = len(names)
    data["names"] = dict(enumerate(names))
    path = directory / "data.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path
