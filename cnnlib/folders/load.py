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
import math
import os
import unicodedata
import warnings
from collections import Counter
from pathlib import Path

import torch
from torchvision.datasets import ImageFolder

from .._args import finite_number
from .files import file_sha256, is_image_name, load_rgb
from .scan import FolderScan, scan_folder


class ImageFolderError(ValueError):
    """A folder that does not have the layout ``root/<class>/<image files>``."""


class UndecodableImageError(ImageFolderError):
    """Image files that cannot be decoded; ``.files`` lists ``(path, reason)``."""

    def __init__(self, message: str, files):
        super().__init__(message)
        self.files = files


class ImageFolderWarning(UserWarning):
    """Something about an image folder to know before training on it; loading goes on."""


class SkippedImagesWarning(ImageFolderWarning):
    """Undecodable image files were left out of a dataset (``on_error="skip"``)."""


class OneSidedClassWarning(ImageFolderWarning):
    """A split left every image of a class on one side (:func:`stable_split`): a class with
    too few images to have one in training and one in validation."""


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
        """Class names in Unicode's composed form (NFC): "café" typed on Linux and "café" as
        macOS stores it (NFD) are one class, whose folders' images are all loaded under it.
        ``class_to_idx`` maps each folder name as it is on disk to its class's index."""
        folders = sorted(e.name for e in os.scandir(directory)
                         if e.is_dir() and not e.name.startswith("."))
        classes = sorted({unicodedata.normalize("NFC", name) for name in folders})
        index = {c: i for i, c in enumerate(classes)}
        return classes, {name: index[unicodedata.normalize("NFC", name)] for name in folders}


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
                 salt: str = "", labels=None) -> tuple[list[int], list[int]]:
    """Train and validation indices decided file by file from a hash: adding files moves none.

    ``key="name"`` hashes the path (relative to ``root`` if given, so the split survives moving
    the folder); ``key="content"`` hashes the bytes, which also survives renaming and puts
    byte-identical copies on the same side. ``salt`` draws a different split. Deciding file by
    file means a class with few images can land entirely on one side: that gives a
    :class:`OneSidedClassWarning` naming the class (its class is ``labels[i]``, by default each
    file's folder name), and the split is returned all the same.
    """
    val_fraction = finite_number("val_fraction", val_fraction)
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}: the share "
                         "of the files that goes to validation, e.g. 0.15")
    if key not in ("name", "content"):
        raise ValueError(f"key must be 'name' or 'content', got {key!r}")
    paths = [Path(path) for path in paths]
    classes = [p.parent.name for p in paths] if labels is None else list(labels)
    if len(classes) != len(paths):
        raise ValueError(f"{len(paths)} paths but {len(classes)} labels: one label per file")
    train, val = [], []
    for index, path in enumerate(paths):
        if key == "content":
            text = file_sha256(path)
        else:
            relative = path.absolute().relative_to(Path(root).absolute()) if root else path
            text = relative.as_posix()
        value = int(hashlib.sha256((salt + text).encode()).hexdigest()[:16], 16) / 16 ** 16
        (val if value < val_fraction else train).append(index)
    _warn_one_sided(classes, train, val, val_fraction)
    return train, val


def _warn_one_sided(classes: list, train: list[int], val: list[int], val_fraction: float) -> None:
    """One OneSidedClassWarning for every class found on only one side of a split."""
    in_train, in_val = Counter(classes[i] for i in train), Counter(classes[i] for i in val)
    lines = []
    for name in sorted(set(in_train) | set(in_val), key=str):
        count = in_train[name] + in_val[name]
        if not in_val[name]:
            lines.append(f"  {name!r} ({count} image(s)): only in training, so validation "
                         "says nothing about it")
        elif not in_train[name]:
            lines.append(f"  {name!r} ({count} image(s)): only in validation, so the model "
                         "never trains on it")
    if lines:
        need = math.ceil(1 / min(val_fraction, 1 - val_fraction))
        warnings.warn(
            f"stable_split: {len(lines)} class(es) ended up on one side of the split:\n"
            + "\n".join(lines) + f"\nWith val_fraction={val_fraction:g} a class needs about "
            f"{need} images to expect one on each side. Fix: add images to the class, merge or "
            "drop it, or draw another split with salt='1'.", OneSidedClassWarning, stacklevel=3)


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
        root = Path(source).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"no folder {root.absolute()}" + (" (it is a file)" if
                                    root.exists() else "") + ": class_counts counts the images "
                                    "in a folder of class folders; give its path")
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
