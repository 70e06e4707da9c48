"""The book's simulation of a real folder: a clean dataset written out as files, then damaged.

:func:`export_image_folder` writes tensors as ``root/<class>/img_<id>.png``;
:func:`make_messy` damages the folder in recorded ways and returns the record, a :class:`Mess`,
so that a chapter can clean the folder without looking and then score what the cleaning found
against what was injected (:meth:`Mess.score`, :func:`detection_scores`).
"""

from __future__ import annotations

import io
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from .._args import whole_number
from ..tables import format_table
from .duplicates import Duplicates
from .files import EXIF_ORIENTATION, is_image_name, open_as, relative_name, split_folders
from .outputs import check_own, prepare_output, record_contents
from .scan import FolderScan


def sample_per_class(labels: torch.Tensor, keep, n: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of ``n`` random examples (seeded) of each label in ``keep``."""
    n = whole_number("n", n, 1, meaning="it is the number of examples to take per class")
    g = torch.Generator().manual_seed(seed)
    picked = []
    for label in keep:
        where = (labels == label).nonzero().flatten()
        if len(where) < n:
            raise ValueError(f"label {label} has {len(where)} examples, fewer than {n}")
        picked.append(where[torch.randperm(len(where), generator=g)[:n]])
    return torch.cat(picked).sort().values


def jpeg_copy(image: Image.Image, quality: int = 75) -> Image.Image:
    """The image saved as JPEG at ``quality`` and read back: a re-encoded copy, in memory."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def export_image_folder(images: torch.Tensor, labels, classes, root, *, ids=None,
                        format: str = "png", overwrite: bool = False) -> list[Path]:
    """Write uint8 ``N x C x H x W`` images as ``root/<class>/img_<id>.<format>``; return the paths.

    ``ids`` name the files (default ``0..N-1``; pass the dataset indices to keep provenance).
    With ``overwrite=True`` an existing ``root`` is deleted first, if cnnlib wrote it
    (:func:`cnnlib.folders.outputs.prepare_output`; a folder of your own is refused).
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise TypeError(f"images must be a uint8 N x C x H x W tensor with 1 or 3 channels, got "
                        f"{images.dtype} {tuple(images.shape)}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    outside = [int(y) for y in labels if not 0 <= int(y) < len(classes)]
    if outside:
        raise ValueError(f"labels must be indices into classes (0 to {len(classes) - 1}), got "
                         f"{outside[0]} ({len(outside)} label(s) outside): pass the dataset's "
                         "full class list, e.g. DATASETS['cifar10'].classes")
    root = Path(root)
    prepare_output(root, overwrite)
    ids = range(len(images)) if ids is None else [int(i) for i in ids]
    paths = []
    try:
        for image, label, index in zip(images, labels, ids):
            folder = root / classes[int(label)]
            folder.mkdir(exist_ok=True)
            array = image.permute(1, 2, 0).numpy()
            path = folder / f"img_{index:05d}.{format}"
            Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(path, quality=95)
            paths.append(path)
    finally:
        record_contents(root)  # what it wrote, however it ended: overwrite=True may replace it
    return paths


@dataclass
class Mess:
    """What :func:`make_messy` did to a folder, file by file: the answer key for the cleaning."""

    root: Path
    removed: dict = field(default_factory=dict)            # class -> images deleted (imbalance)
    mislabeled: dict = field(default_factory=dict)         # path now -> the class it belongs to
    grayscale: list = field(default_factory=list)
    rgba: list = field(default_factory=list)
    resized: list = field(default_factory=list)
    rotated: list = field(default_factory=list)            # pixels sideways + EXIF orientation tag
    exact_duplicates: list = field(default_factory=list)   # (original, copy)
    near_duplicates: list = field(default_factory=list)    # (original, resized JPEG copy)
    corrupt: list = field(default_factory=list)
    non_images: list = field(default_factory=list)
    empty_folders: list = field(default_factory=list)

    def rows(self) -> list[dict]:
        """One row per kind of problem, with how many were injected and one example."""
        def example(items):
            item = next(iter(items), None)
            if isinstance(item, tuple):
                item = item[1]
            return relative_name(item, self.root) if item is not None else ""

        kinds = [("class imbalance (images deleted)", sum(self.removed.values()),
                  ", ".join(f"{c}: -{n}" for c, n in self.removed.items())),
                 ("mislabeled (wrong class folder)", len(self.mislabeled),
                  example(self.mislabeled)),
                 ("grayscale", len(self.grayscale), example(self.grayscale)),
                 ("RGBA", len(self.rgba), example(self.rgba)),
                 ("other sizes", len(self.resized), example(self.resized)),
                 ("EXIF-rotated", len(self.rotated), example(self.rotated)),
                 ("exact duplicates", len(self.exact_duplicates), example(self.exact_duplicates)),
                 ("near duplicates", len(self.near_duplicates), example(self.near_duplicates)),
                 ("undecodable", len(self.corrupt), example(self.corrupt)),
                 ("not images", len(self.non_images), example(self.non_images)),
                 ("empty folders", len(self.empty_folders), example(self.empty_folders))]
        return [{"injected": kind, "count": n, "example": ex} for kind, n, ex in kinds]

    def __repr__(self) -> str:
        return format_table(self.rows())

    def duplicate_pairs(self) -> set:
        """Every injected (original, copy) pair, as frozensets: the answer key for duplicates."""
        return {frozenset(pair) for pair in self.exact_duplicates + self.near_duplicates}

    def score(self, scan: FolderScan, duplicates: Duplicates | None = None) -> list[dict]:
        """Precision and recall of a scan (and a duplicate search) against what was injected.

        Found but not injected is not always wrong: the source dataset may have had the
        problem already (CIFAR-10 has near duplicates of its own). Look before you judge.
        """
        common = scan.sizes().most_common(1)[0][0] if scan.images else None
        resized_copies = [copy for _, copy in self.near_duplicates
                          if open_as(copy, "RGB").size != common]
        checks = [
            ("undecodable", [r.path for r in scan.corrupt], self.corrupt),
            ("not images", [r.path for r in scan.non_images], self.non_images),
            ("grayscale", [r.path for r in scan.images if r.mode in ("L", "1", "I", "I;16")],
             self.grayscale),
            ("RGBA", [r.path for r in scan.images if r.mode in ("RGBA", "LA")], self.rgba),
            ("other sizes", [r.path for r in scan.images if r.size != common],
             self.resized + resized_copies),
            ("EXIF-rotated", [r.path for r in scan.rotated], self.rotated),
            ("hidden or empty folders", scan.hidden_folders + scan.empty_folders,
             self.empty_folders),
        ]
        if duplicates is not None:
            checks.append(("duplicate pairs", duplicates.pairs(), self.duplicate_pairs()))
        rows = []
        for name, found, injected in checks:
            result = detection_scores(found, injected)
            rows.append({"problem": name, **result,
                         "precision": f"{result['precision']:.0%}",
                         "recall": f"{result['recall']:.0%}"})
        return rows


def _class_files(split: Path) -> dict[str, list[Path]]:
    return {c.name: sorted(p for p in c.iterdir() if is_image_name(p))
            for c in sorted(split.iterdir()) if c.is_dir() and not c.name.startswith(".")}


def _fresh_name(folder: Path, suffix: str, counter: list) -> Path:
    """A new ``img_<n>`` name in ``folder``, numbered after every id already used."""
    counter[0] += 1
    return folder / f"img_{counter[0]:05d}{suffix}"


def make_messy(root, *, seed: int = 0, minority: str | None = None, minority_keep: float = 0.2,
               mislabeled: int = 20, grayscale: int = 10, rgba: int = 10, resized: int = 20,
               rotated: int = 5, exact_duplicates: int = 20, near_duplicates: int = 20,
               across_splits: float = 0.5, corrupt: int = 3,
               empty_folder: str | None = ".ipynb_checkpoints") -> Mess:
    """Damage a clean image folder the way real collections are damaged; return the record.

    The book's simulation of real-world mess, for teaching: the chapter cleans the folder
    without looking at the record, then scores its findings against it. ``root`` holds class
    folders, or split folders (``train``, ``test``) of class folders; the first split is the
    training split. Seeded: the same call on the same folder does the same damage. Each
    damaged file is damaged in one way only, so the record is unambiguous:

    * ``minority``: that class keeps only ``minority_keep`` of its images in every split;
    * ``mislabeled`` training images are moved to another class's folder;
    * ``grayscale``, ``rgba``, ``resized`` (upscaled to 40 to 96 pixels, aspect ratio changed
      for some) and ``rotated`` (pixels turned, an EXIF tag to turn them back) images;
    * ``exact_duplicates`` (byte copies) and ``near_duplicates`` (resized by up to 25 % and
      re-saved as JPEG) of training images, a share ``across_splits`` of them into the
      *next* split (a leak), the rest into the same split under a new name;
    * ``corrupt`` files: cut short, empty, or a web page saved under an image name;
    * stray files (``.DS_Store``, ``notes.txt``) and an empty ``empty_folder`` in the first split.

    It changes files in place, so it works only on a copy that cnnlib wrote
    (:func:`export_image_folder`, :func:`cnnlib.folders.normalise_images`): ``root``, or each of
    its split folders, must be a folder cnnlib wrote, holding no file of yours
    (:func:`cnnlib.folders.outputs.check_own`); a folder of your own photos is refused before
    anything is touched. What it leaves is recorded as cnnlib's, so ``overwrite=True`` can write
    the copy again.
    """
    root = Path(root).absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}: make_messy damages a folder that "
                                "export_image_folder wrote")
    splits = split_folders(root)
    owned = [root] if root in splits else splits
    for folder in owned:
        check_own(folder, "make_messy")
    try:
        return _damage(root, splits, seed, minority, minority_keep, mislabeled, grayscale, rgba,
                       resized, rotated, exact_duplicates, near_duplicates, across_splits,
                       corrupt, empty_folder)
    finally:
        for folder in owned:
            record_contents(folder)


def _damage(root, splits, seed, minority, minority_keep, mislabeled, grayscale, rgba, resized,
            rotated, exact_duplicates, near_duplicates, across_splits, corrupt,
            empty_folder) -> Mess:
    """The damage :func:`make_messy` describes, to a folder already checked to be cnnlib's."""
    rng = random.Random(seed)
    mess = Mess(root=root)
    files = {split: _class_files(split) for split in splits}
    all_names = [p.stem for split in files.values() for paths in split.values() for p in paths]
    counter = [max((int(n[4:]) for n in all_names if n[4:].isdigit()), default=0)]

    if minority is not None:
        for split, classes in files.items():
            if minority not in classes:
                raise ValueError(f"no class folder {minority!r} in {split}; "
                                 f"found {sorted(classes)}")
            paths = classes[minority]
            keep = max(1, round(minority_keep * len(paths)))
            for path in paths[keep:]:
                path.unlink()
            mess.removed[minority] = mess.removed.get(minority, 0) + len(paths) - keep
            classes[minority] = paths[:keep]

    train = files[splits[0]]
    pool = [(c, p) for c, paths in train.items() for p in paths]
    wanted = (mislabeled + grayscale + rgba + resized + rotated + exact_duplicates
              + near_duplicates + corrupt)
    if wanted > len(pool):
        raise ValueError(f"asked to damage {wanted} training images but there are {len(pool)}")
    chosen = rng.sample(pool, wanted)

    def take(n):
        picked, chosen[:] = chosen[:n], chosen[n:]
        return picked

    class_names = sorted(train)
    for true_class, path in take(mislabeled):
        wrong = rng.choice([c for c in class_names if c != true_class])
        target = splits[0] / wrong / path.name
        path.rename(target)
        mess.mislabeled[target] = true_class

    for _, path in take(grayscale):
        open_as(path, "L").save(path)
        mess.grayscale.append(path)

    for _, path in take(rgba):
        target = path.with_suffix(".png")
        image = open_as(path, "RGBA")  # opaque, but four channels
        path.unlink()
        image.save(target)
        mess.rgba.append(target)

    for _, path in take(resized):
        side = rng.choice([40, 48, 64, 96])
        ratio = rng.choice([1.0, 1.0, 0.75, 1.33])
        image = open_as(path, "RGB")
        image.resize((side, round(side * ratio)), Image.Resampling.BICUBIC).save(path)
        mess.resized.append(path)

    for _, path in take(rotated):
        target = path.with_suffix(".jpg")
        image = open_as(path, "RGB").transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = 6  # "rotate 90° clockwise to display": undoes ROTATE_90
        path.unlink()
        image.save(target, quality=95, exif=exif)
        mess.rotated.append(target)

    def destination(path: Path) -> Path:
        """Same class, a new name; in the next split (a leak) for a share ``across_splits``."""
        split_index = 0
        if len(splits) > 1 and rng.random() < across_splits:
            split_index = 1
        return splits[split_index] / path.parent.name

    for _, path in take(exact_duplicates):
        copy = _fresh_name(destination(path), path.suffix, counter)
        shutil.copyfile(path, copy)
        mess.exact_duplicates.append((path, copy))

    for _, path in take(near_duplicates):
        copy = _fresh_name(destination(path), ".jpg", counter)
        image = open_as(path, "RGB")
        scale = rng.uniform(0.85, 1.25)
        size = (max(8, round(image.width * scale)), max(8, round(image.height * scale)))
        image.resize(size, Image.Resampling.BICUBIC).save(copy, quality=rng.randint(70, 90))
        mess.near_duplicates.append((path, copy))

    damage = [lambda data: data[:len(data) // 2],  # a download cut short
              lambda data: b"",                     # an empty file
              lambda data: b"<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>\n"]
    for i, (_, path) in enumerate(take(corrupt)):
        path.write_bytes(damage[i % len(damage)](path.read_bytes()))
        mess.corrupt.append(path)

    first_class = splits[0] / class_names[0]
    strays = {splits[0] / ".DS_Store": bytes(rng.randrange(256) for _ in range(6148)),
              first_class / ".DS_Store": bytes(rng.randrange(256) for _ in range(6148)),
              first_class / "notes.txt": b"photos from the old camera; some may be blurry\n"}
    for path, data in strays.items():
        path.write_bytes(data)
        mess.non_images.append(path)
    if empty_folder:
        folder = splits[0] / empty_folder
        folder.mkdir(exist_ok=True)
        mess.empty_folders.append(folder)
    return mess


def detection_scores(found, injected) -> dict:
    """Precision (what share of the found is real) and recall (what share of the real was found)."""
    found, injected = set(found), set(injected)
    hits = len(found & injected)
    return {"injected": len(injected), "found": len(found), "correct": hits,
            "precision": hits / len(found) if found else float("nan"),
            "recall": hits / len(injected) if injected else float("nan")}
