"""Loading a folder as a dataset, with explicit choices; splits and statistics of the result.

:func:`checked_image_folder` is ``torchvision.datasets.ImageFolder`` after a check of every
file: undecodable files raise an error that names them, or are skipped with a warning that
names them, never silently, and a wrong layout says what was expected. :class:`ImageFiles`
is a plain list of files as a dataset. :func:`stable_split` splits by a hash of each file, so
that adding files moves none; :func:`class_counts`, :func:`stack_images` and
:func:`image_channel_stats` read what was loaded.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import Counter
from pathlib import Path

import torch
from torchvision.datasets import ImageFolder

from .files import file_sha256, is_image_name, load_rgb
from .scan import FolderScan, scan_folder


class ImageFolderError(ValueError):
    """A folder that does not have the layout ``root/<class>/<image files>``."""


class UndecodableImageError(ImageFolderError):
    """Image files that cannot be decoded; ``.files`` lists ``(path, reason)``."""

    def __init__(self, message: str, files):
        super().__init__(message)
        self.files = files


class SkippedImagesWarning(UserWarning):
    """Undecodable image files were left out of a dataset (``on_error="skip"``)."""


def _list_files(records, n=5) -> str:
    lines = [f"  {r.rel}: {r.error}" for r in records[:n]]
    if len(records) > n:
        lines.append(f"  ... and {len(records) - n} more")
    return "\n".join(lines)


def _check_layout(root: Path, scan: FolderScan) -> list[str]:
    """The class folder names, or an ImageFolderError that says what was expected and found."""
    expected = ("ImageFolder expects root/<class>/<image files>: one folder per class, each "
                "with at least one image")
    if not root.is_dir():
        raise ImageFolderError(f"no folder {root} (absolute: {root.absolute()}). {expected}.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        loose = [r.rel for r in scan.records if "/" not in r.rel]
        found = (f"found {len(loose)} file(s) directly in it ({', '.join(loose[:3])}"
                 f"{', ...' if len(loose) > 3 else ''})" if loose else "it is empty")
        raise ImageFolderError(f"{root} holds no class folders; {found}. {expected}. Fix: put "
                               "each class's images in a folder named after the class "
                               "(root/cat/1.jpg, root/dog/2.jpg).")
    ok_by_class = Counter(r.rel.split("/")[0] for r in scan.images)
    direct = Counter(r.rel.split("/")[0] for r in scan.images if r.rel.count("/") == 1)
    if not any(direct.values()) and all(ok_by_class[c] for c in classes):
        inner = sorted({r.rel.split("/")[1] for r in scan.images})
        raise ImageFolderError(
            f"{root} looks like a folder of splits, not of classes: its folders "
            f"({', '.join(classes)}) hold no images themselves, only folders "
            f"({', '.join(inner[:5])}{', ...' if len(inner) > 5 else ''}). Loading it would make "
            f"{', '.join(classes)} the classes. Fix: pass one split, e.g. {root / classes[0]}.")
    empty = [c for c in classes if not ok_by_class[c]]
    if empty:
        details = []
        for c in empty:
            inside = [r for r in scan.records if r.rel.split("/")[0] == c]
            what = ", ".join(f"{r.rel.split('/', 1)[1]} ({r.status.replace('_', ' ')})"
                             for r in inside[:3]) or "nothing"
            details.append(f"  {c}/: {what}")
        raise ImageFolderError(
            f"{root}: {len(empty)} class folder(s) hold no decodable image:\n"
            + "\n".join(details) + f"\n{expected}. Fix: add images to each, or delete the folder "
            "if it is not a class.")
    return classes


class _InSet:
    """``is_valid_file`` as a picklable object (a lambda would break spawn workers)."""

    def __init__(self, allowed):
        self.allowed = allowed

    def __call__(self, path) -> bool:
        return str(Path(path).absolute()) in self.allowed


class CheckedImageFolder(ImageFolder):
    """An ImageFolder whose hidden folders (``.ipynb_checkpoints``) are never classes; built by
    :func:`checked_image_folder`, with ``skipped`` and ``ignored`` files listed."""

    skipped: list = []
    ignored: list = []

    def find_classes(self, directory):
        classes = sorted(e.name for e in os.scandir(directory)
                         if e.is_dir() and not e.name.startswith("."))
        return classes, {c: i for i, c in enumerate(classes)}


def checked_image_folder(root, transform=None, *, on_error: str = "raise", scan=None,
                         target_transform=None) -> CheckedImageFolder:
    """``torchvision.datasets.ImageFolder`` after a check of every file, with an explicit choice.

    ``on_error="raise"``: any undecodable image file raises :class:`UndecodableImageError`
    naming the files. ``on_error="skip"``: they are left out, with a
    :class:`SkippedImagesWarning` naming them; the dataset's ``skipped`` lists them. A layout
    problem (no class folders, an empty class folder, a folder of splits) raises
    :class:`ImageFolderError` saying what was expected, what was found, and how to fix it.
    Hidden folders (``.ipynb_checkpoints``) are never classes; files without an image
    extension are ignored, as ImageFolder does, and listed in ``ignored``. Images are read
    with :func:`load_rgb`. ``scan`` reuses a :func:`scan_folder` of ``root`` (the check decodes
    every file once).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    root = Path(root)
    if scan is None or Path(scan.root).absolute() != root.absolute():
        scan = scan_folder(root) if root.is_dir() else FolderScan(root, [])
    _check_layout(root, scan)
    bad = [r for r in scan.corrupt if not r.rel.startswith(".")]
    if bad and on_error == "raise":
        raise UndecodableImageError(
            f"{root}: {len(bad)} image file(s) cannot be decoded:\n{_list_files(bad)}\n"
            "Fix: delete or replace them, or pass on_error='skip' to leave them out (with a "
            "warning that names them).", [(r.path, r.error) for r in bad])
    if bad:
        warnings.warn(f"{root}: skipped {len(bad)} undecodable image file(s):\n"
                      f"{_list_files(bad)}", SkippedImagesWarning, stacklevel=2)
    good = {str(r.path) for r in scan.images}
    dataset = CheckedImageFolder(str(root.absolute()), transform=transform,
                                 target_transform=target_transform, loader=load_rgb,
                                 is_valid_file=_InSet(good))
    dataset.skipped = [(r.path, r.error) for r in bad]
    dataset.ignored = [r.path for r in scan.non_images] + list(scan.hidden_folders)
    return dataset


class ImageFiles(torch.utils.data.Dataset):
    """A list of image files with their labels as a dataset (read with :func:`load_rgb`)."""

    def __init__(self, paths, labels, transform=None):
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.paths, self.labels, self.transform = [Path(p) for p in paths], list(labels), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        image = load_rgb(self.paths[index])
        return (self.transform(image) if self.transform else image), self.labels[index]


def stable_split(paths, val_fraction: float, *, root=None, key: str = "name",
                 salt: str = "") -> tuple[list[int], list[int]]:
    """Train and validation indices decided file by file from a hash: adding files moves none.

    ``key="name"`` hashes the path (relative to ``root`` if given, so the split survives moving
    the folder); ``key="content"`` hashes the bytes, which also survives renaming and puts
    byte-identical copies on the same side. ``salt`` draws a different split.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    if key not in ("name", "content"):
        raise ValueError(f"key must be 'name' or 'content', got {key!r}")
    train, val = [], []
    for index, path in enumerate(paths):
        path = Path(path)
        if key == "content":
            text = file_sha256(path)
        else:
            relative = path.absolute().relative_to(Path(root).absolute()) if root else path
            text = relative.as_posix()
        value = int(hashlib.sha256((salt + text).encode()).hexdigest()[:16], 16) / 16 ** 16
        (val if value < val_fraction else train).append(index)
    return train, val


def dataset_labels(dataset) -> list[int]:
    """The labels of an ImageFolder, an :class:`ImageFiles` or a ``Subset`` of one, unread."""
    if isinstance(dataset, torch.utils.data.Subset):
        labels = dataset_labels(dataset.dataset)
        return [labels[i] for i in dataset.indices]
    for name in ("targets", "labels"):
        if hasattr(dataset, name):
            return [int(t) for t in getattr(dataset, name)]
    raise TypeError(f"cannot read the labels of a {type(dataset).__name__} without loading it")


def class_counts(source, classes=None) -> dict[str, int]:
    """Images per class of a dataset (ImageFolder, Subset...) or of a folder of class folders."""
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        return {c.name: sum(1 for p in c.rglob("*") if p.is_file() and is_image_name(p))
                for c in sorted(root.iterdir()) if c.is_dir() and not c.name.startswith(".")}
    base = source
    while isinstance(base, torch.utils.data.Subset):
        base = base.dataset
    classes = classes or base.classes
    counts = Counter(dataset_labels(source))
    return {c: counts.get(i, 0) for i, c in enumerate(classes)}


def stack_images(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """A dataset of same-size uint8 images as one ``N x C x H x W`` tensor and its labels, for
    :func:`cnnlib.data.channel_stats` or a :class:`cnnlib.TensorLoader` (small images only)."""
    images, labels = zip(*dataset) if len(dataset) else ((), ())
    if not images:
        raise ValueError("stack_images got an empty dataset")
    shapes = Counter(tuple(x.shape) for x in images)
    if len(shapes) > 1:
        raise ValueError(f"images of {len(shapes)} different shapes ({shapes.most_common(3)}): "
                         "resize them to one size first (normalise_images)")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def image_channel_stats(dataset) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (0..1 scale) of a dataset of uint8 ``C x H x W`` images, streamed.

    The same 256-bin histogram count as :func:`cnnlib.data.channel_stats`, one image at a
    time: exact, images of any size, never the whole dataset in memory. Use the training split.
    """
    counts = None
    for image, _ in dataset:
        if not isinstance(image, torch.Tensor) or image.dtype != torch.uint8:
            raise TypeError("image_channel_stats needs uint8 tensors: build the dataset with "
                            "transform=torchvision.transforms.PILToTensor()")
        hist = torch.stack([torch.bincount(c.reshape(-1), minlength=256) for c in image])
        counts = hist if counts is None else counts + hist
    if counts is None:
        raise ValueError("image_channel_stats got an empty dataset")
    counts = counts.double()
    values = torch.arange(256, dtype=torch.float64) / 255
    n = counts[0].sum()
    means = (counts * values).sum(1) / n
    stds = ((counts * (values - means[:, None]) ** 2).sum(1) / (n - 1)).sqrt()
    return tuple(means.tolist()), tuple(stds.tolist())
