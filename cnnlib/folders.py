"""Your own images, from a folder of files to a trained model: find the mess, fix it, load it.

A folder of photos collected by hand is never as clean as MNIST. Files are cut short or are not
images at all, some are grayscale or carry an alpha channel, sizes differ, phones store pixels
sideways with an EXIF tag to rotate them, the same picture turns up twice (sometimes once in the
training and once in the test folder), a few sit in the wrong class folder, and one class has far
fewer examples than the others. Each step here finds or fixes one of these, with a report:

* :func:`scan_folder` opens every file and lists what it found; :func:`find_duplicates` finds
  exact copies (SHA-256 of the bytes) and near copies (a perceptual hash, :func:`dhash`);
* :func:`normalise_images` writes a clean copy: RGB, upright, one size, duplicates left out;
* :func:`checked_image_folder` loads a folder like ``torchvision.datasets.ImageFolder``, but
  undecodable files either raise an error that names them or are skipped with a warning that
  names them, never silently; :func:`stable_split` splits by file hash;
* :func:`losses_per_example`, :class:`BestCheckpoint` and :func:`predict_file` cover training
  and using the model.

:func:`export_image_folder` and :func:`make_messy` are the book's simulation of a real folder:
they write a real dataset out as image files and then damage it in recorded ways (a
:class:`Mess`), so that a chapter can check that the cleaning found what was injected.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.datasets import ImageFolder

# torchvision's IMG_EXTENSIONS: the files ImageFolder considers (case-insensitive)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
EXIF_ORIENTATION = 0x0112


def is_image_name(path) -> bool:
    """True for a file name with an image extension that is not hidden (``.DS_Store``...)."""
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def load_rgb(path, background=(255, 255, 255), upright: bool = True) -> Image.Image:
    """Open an image file as upright RGB: the EXIF rotation applied, transparency on ``background``.

    ``upright=False`` keeps the pixels as stored. A module-level function (not a lambda or a
    notebook function) on purpose: DataLoader workers started with ``spawn`` (Windows, macOS)
    must be able to import it.
    """
    with Image.open(path) as image:
        if upright:
            image = ImageOps.exif_transpose(image)  # phones store pixels sideways + a rotation tag
        else:
            image.load()
        if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
            image = image.convert("RGBA")
            flat = Image.new("RGBA", image.size, (*background, 255))
            return Image.alpha_composite(flat, image).convert("RGB")
        return image.convert("RGB")


def image_tensor(path, upright: bool = True) -> torch.Tensor:
    """A file as a uint8 3 x H x W tensor (through :func:`load_rgb`), e.g. for ``plots.show_images``."""
    array = np.asarray(load_rgb(path, upright=upright))
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _prepare_output(root: Path, overwrite: bool) -> None:
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} exists and is not empty; pass overwrite=True to delete "
                                  "it and write it again, or choose another folder")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)


def _open(path, mode: str) -> Image.Image:
    """A file's pixels in ``mode``, with the file closed again (Windows cannot delete open files)."""
    with Image.open(path) as image:
        return image.convert(mode)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


# ---------------------------------------------------------------------------------------------
# The book's simulation of a real folder


def sample_per_class(labels: torch.Tensor, keep, n: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of ``n`` random examples (seeded) of each label in ``keep``."""
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
    With ``overwrite=True`` an existing ``root`` is deleted first.
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise TypeError(f"images must be a uint8 N x C x H x W tensor with 1 or 3 channels, got "
                        f"{images.dtype} {tuple(images.shape)}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    root = Path(root)
    _prepare_output(root, overwrite)
    ids = range(len(images)) if ids is None else [int(i) for i in ids]
    paths = []
    for image, label, index in zip(images, labels, ids):
        folder = root / classes[int(label)]
        folder.mkdir(exist_ok=True)
        array = image.permute(1, 2, 0).numpy()
        path = folder / f"img_{index:05d}.{format}"
        Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(path, quality=95)
        paths.append(path)
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
            return _relative(item, self.root) if item is not None else ""

        kinds = [("class imbalance (images deleted)", sum(self.removed.values()),
                  ", ".join(f"{c}: -{n}" for c, n in self.removed.items())),
                 ("mislabeled (wrong class folder)", len(self.mislabeled), example(self.mislabeled)),
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
        from .summary import format_table

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
                          if _open(copy, "RGB").size != common]
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


def _split_folders(root: Path) -> list[Path]:
    """The split folders if ``root`` holds splits (``train`` first, then the others sorted),
    else ``[root]``."""
    subfolders = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if subfolders and all(any(q.is_dir() for q in p.iterdir()) for p in subfolders):
        return sorted(subfolders, key=lambda p: (p.name != "train", p.name))
    return [root]


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
    """
    root = Path(root).absolute()
    rng = random.Random(seed)
    splits = _split_folders(root)
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
        _open(path, "L").save(path)
        mess.grayscale.append(path)

    for _, path in take(rgba):
        target = path.with_suffix(".png")
        image = _open(path, "RGBA")  # opaque, but four channels
        path.unlink()
        image.save(target)
        mess.rgba.append(target)

    for _, path in take(resized):
        side = rng.choice([40, 48, 64, 96])
        ratio = rng.choice([1.0, 1.0, 0.75, 1.33])
        image = _open(path, "RGB")
        image.resize((side, round(side * ratio)), Image.Resampling.BICUBIC).save(path)
        mess.resized.append(path)

    for _, path in take(rotated):
        target = path.with_suffix(".jpg")
        image = _open(path, "RGB").transpose(Image.Transpose.ROTATE_90)
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
        image = _open(path, "RGB")
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


# ---------------------------------------------------------------------------------------------
# Finding the problems


@dataclass
class FileRecord:
    """One file as :func:`scan_folder` found it. ``status`` is "ok", "corrupt" or "not_image"."""

    path: Path                 # absolute
    rel: str                   # relative to the scanned root, with / separators
    split: str                 # first folder under the root when the root holds splits, else ""
    label: str                 # the class folder the file is in ("" if none)
    status: str
    nbytes: int
    format: str | None = None
    mode: str | None = None
    size: tuple | None = None  # (width, height), as PIL gives it
    orientation: int = 1       # EXIF orientation; 1 = stored upright
    error: str | None = None


@dataclass
class FolderScan:
    """Every file under a root, opened and checked; ``summary()`` or ``repr`` to read it."""

    root: Path
    records: list
    hidden_folders: list = field(default_factory=list)
    empty_folders: list = field(default_factory=list)

    @property
    def images(self) -> list[FileRecord]:
        return [r for r in self.records if r.status == "ok"]

    @property
    def corrupt(self) -> list[FileRecord]:
        return [r for r in self.records if r.status == "corrupt"]

    @property
    def non_images(self) -> list[FileRecord]:
        return [r for r in self.records if r.status == "not_image"]

    @property
    def rotated(self) -> list[FileRecord]:
        return [r for r in self.images if r.orientation != 1]

    def modes(self) -> Counter:
        return Counter(r.mode for r in self.images)

    def sizes(self) -> Counter:
        return Counter(r.size for r in self.images)

    def rows(self, width: int = 56) -> list[dict]:
        """One row per finding, its examples cut to ``width`` characters."""
        def fit(items) -> str:
            shown = []
            for item in items:
                if len("; ".join(shown + [item])) > width - 12 and shown:
                    return "; ".join(shown) + f"; ... (+{len(items) - len(shown)})"
                shown.append(item)
            return "; ".join(shown)

        def top(counter, text=str) -> str:
            return fit([f"{text(k)}: {v:,}" for k, v in counter.most_common()]).replace(";", ",")

        root = Path(self.root).absolute()
        folders = [f"{_relative(p, root)}/"
                   for p in dict.fromkeys(self.hidden_folders + self.empty_folders)]
        return [
            {"found": "decodable images", "count": len(self.images),
             "examples": "modes " + top(self.modes())},
            {"found": "image sizes (w x h)", "count": len(self.sizes()),
             "examples": top(self.sizes(), text=lambda s: f"{s[0]}x{s[1]}")},
            {"found": "EXIF-rotated", "count": len(self.rotated),
             "examples": fit([r.rel for r in self.rotated])},
            {"found": "undecodable", "count": len(self.corrupt),
             "examples": "listed below" if self.corrupt else ""},
            {"found": "not images", "count": len(self.non_images),
             "examples": fit([r.rel for r in self.non_images])},
            {"found": "hidden or empty folders", "count": len(folders), "examples": fit(folders)},
        ]

    def summary(self) -> str:
        from .summary import format_table

        splits = sorted({r.split for r in self.records if r.split})
        classes = sorted({r.label for r in self.images})
        head = (f"{self.root}: {len(self.records):,} files"
                + (f" in {len(splits)} splits ({', '.join(splits)})" if splits else "")
                + f", {len(classes)} class folders")
        text = head + "\n" + format_table(self.rows())
        if self.corrupt:
            text += "\nundecodable:\n" + "\n".join(f"  {r.rel}: {r.error}" for r in self.corrupt)
        return text

    __repr__ = summary


def check_image(path) -> dict:
    """Open a file twice, as ``verify()`` and as a full decode; what PIL says, or the error.

    ``verify()`` checks the file's structure without decoding pixels; some damage (a JPEG cut
    short) only shows when the pixels are decoded, so both are needed.
    """
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
            image.load()
            return {"format": image.format, "mode": image.mode, "size": image.size,
                    "orientation": orientation}
    except Exception as error:  # PIL raises several kinds: OSError, SyntaxError, ValueError...
        message = str(error).split("\n")[0].replace(f"'{path}'", "").replace(str(path), "")
        message = message.strip(" :") or "no details"
        return {"error": f"{type(error).__name__}: {message}"}


def scan_folder(root) -> FolderScan:
    """Open every file under ``root`` (walked in sorted order) and record what it is.

    Files without an image extension, and hidden files, are "not_image" and are not opened;
    the rest are checked with :func:`check_image`. Hidden folders (``.ipynb_checkpoints``) and
    folders with no files are listed too: ``ImageFolder`` would take them for classes.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root} (absolute: {root.absolute()})")
    holds_splits = _split_folders(root) != [root]
    records, hidden, empty = [], [], []
    for folder, dirs, names in os.walk(root):
        folder = Path(folder)
        dirs.sort()
        hidden += [folder.absolute() / d for d in dirs if d.startswith(".")]
        if folder != root and not names and not dirs:
            empty.append(folder.absolute())
        for name in sorted(names):
            path = folder / name
            rel = _relative(path, root)
            parts = rel.split("/")
            split = parts[0] if holds_splits and len(parts) > 1 else ""
            label = parts[-2] if len(parts) > (2 if holds_splits else 1) else ""
            record = FileRecord(path.absolute(), rel, split, label, "not_image",
                                path.stat().st_size)
            if is_image_name(path):
                found = check_image(path)
                record.status = "corrupt" if "error" in found else "ok"
                for key, value in found.items():
                    setattr(record, key, value)
            records.append(record)
    return FolderScan(root, records, hidden, empty)


def file_sha256(path) -> str:
    """The SHA-256 of a file's bytes: equal for byte-identical copies, whatever their names."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dhash(image: Image.Image, size: int = 8) -> np.ndarray:
    """Difference hash: ``size * size`` bits, "is this pixel brighter than its right neighbour?"
    on a ``(size + 1) x size`` grayscale thumbnail.

    Resizing, re-encoding and small colour shifts change few bits; a different picture changes
    about half. Compare two hashes by their Hamming distance (the number of differing bits).
    """
    gray = image.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS)
    pixels = np.asarray(gray, dtype=np.int16)
    return (pixels[:, 1:] > pixels[:, :-1]).ravel()


def average_hash(image: Image.Image, size: int = 8) -> np.ndarray:
    """Average hash: ``size * size`` bits, "is this pixel brighter than the thumbnail's mean?"."""
    pixels = np.asarray(image.convert("L").resize((size, size), Image.Resampling.LANCZOS),
                        dtype=np.float32)
    return (pixels > pixels.mean()).ravel()


def hamming_pairs(hashes: np.ndarray, max_distance: int, block: int = 1024):
    """All pairs ``i < j`` of rows of a 0/1 matrix within ``max_distance`` differing bits.

    Distances as a matrix product, ``d = a·(1-b) + (1-a)·b``, a block of rows at a time: one
    NumPy call per block, not one Python step per pair.
    """
    bits = hashes.astype(np.float32)
    pairs = []
    for start in range(0, len(bits), block):
        a = bits[start:start + block]
        distance = a @ (1 - bits).T + (1 - a) @ bits.T
        rows, cols = np.nonzero(distance <= max_distance)
        keep = cols > rows + start
        pairs += [(int(i) + start, int(j), int(distance[i, j]))
                  for i, j in zip(rows[keep], cols[keep])]
    return pairs


@dataclass
class Duplicates:
    """Groups of files that hold the same picture; :meth:`redundant` says which to leave out."""

    records: list                              # the FileRecords compared
    exact: list                                # groups of indices with identical bytes
    near: list                                 # (i, j, distance) pairs of similar pictures
    groups: list                               # exact and near merged: lists of indices

    def paths(self, group) -> list[Path]:
        return [self.records[i].path for i in group]

    def pairs(self) -> set:
        """Every pair of files in a group, as frozensets of two paths."""
        return {frozenset((self.records[i].path, self.records[j].path))
                for g in self.groups for a, i in enumerate(g) for j in g[a + 1:]}

    def across_splits(self) -> list[list[int]]:
        """The groups with members in more than one split: leaks from training into testing."""
        return [g for g in self.groups if len({self.records[i].split for i in g}) > 1]

    def leaked(self, split: str = "test") -> list[Path]:
        """Files of ``split`` that have a copy (exact or near) in another split."""
        return [self.records[i].path for g in self.across_splits() for i in g
                if self.records[i].split == split]

    def redundant(self, split_order=("train",)) -> list[Path]:
        """All but one file of each group: keep the copy in the earliest split of
        ``split_order`` (so a test copy of a training image goes), then the largest image."""
        rank = {s: i for i, s in enumerate(split_order)}

        def preference(i):
            r = self.records[i]
            return rank.get(r.split, len(rank)), -(r.size[0] * r.size[1]), r.rel

        return [self.records[i].path for g in self.groups for i in sorted(g, key=preference)[1:]]

    def rows(self) -> list[dict]:
        in_exact = sum(len(g) for g in self.exact)
        return [{"found": "exact duplicate groups", "count": len(self.exact),
                 "files": in_exact},
                {"found": "near-duplicate pairs", "count": len(self.near),
                 "files": len({i for p in self.near for i in p[:2]})},
                {"found": "groups after merging", "count": len(self.groups),
                 "files": sum(len(g) for g in self.groups)},
                {"found": "groups across splits", "count": len(self.across_splits()),
                 "files": sum(len(g) for g in self.across_splits())},
                {"found": "files to leave out", "count": len(self.redundant()),
                 "files": len(self.redundant())}]

    def __repr__(self) -> str:
        from .summary import format_table

        return format_table(self.rows())


def find_duplicates(scan: FolderScan, max_distance: int = 4, hash_size: int = 8,
                    hash_function=dhash) -> Duplicates:
    """Exact duplicates by SHA-256, near duplicates by perceptual hash, over a scan's images.

    ``max_distance`` is the largest Hamming distance between two hashes (of ``hash_size ** 2``
    bits) still called a near duplicate: larger finds more re-encoded or resized copies and
    more different-but-similar pictures. Look at what it finds before deleting anything.
    """
    records = scan.images
    by_digest: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        by_digest.setdefault(file_sha256(record.path), []).append(i)
    exact = [g for g in by_digest.values() if len(g) > 1]
    first = [g[0] for g in by_digest.values()]  # one file per distinct content
    hashes = np.stack([hash_function(load_rgb(records[i].path), hash_size) for i in first]) \
        if first else np.zeros((0, hash_size * hash_size), dtype=bool)
    near = [(first[i], first[j], d) for i, j, d in hamming_pairs(hashes, max_distance)]
    parent = list(range(len(records)))  # union-find: merge exact groups and near pairs

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in [(g[0], k) for g in exact for k in g[1:]] + [(i, j) for i, j, _ in near]:
        parent[find(i)] = find(j)
    members: dict[int, list[int]] = {}
    for i in range(len(records)):
        members.setdefault(find(i), []).append(i)
    groups = [g for g in members.values() if len(g) > 1]
    return Duplicates(records, exact, near, groups)


def detection_scores(found, injected) -> dict:
    """Precision (what share of the found is real) and recall (what share of the real was found)."""
    found, injected = set(found), set(injected)
    hits = len(found & injected)
    return {"injected": len(injected), "found": len(found), "correct": hits,
            "precision": hits / len(found) if found else float("nan"),
            "recall": hits / len(injected) if injected else float("nan")}


# ---------------------------------------------------------------------------------------------
# Fixing them


def resize_and_crop(image: Image.Image, size: int) -> Image.Image:
    """Shorter side to ``size`` (antialiased), then the centre ``size x size``: no stretching."""
    scale = size / min(image.size)
    new = (max(size, round(image.width * scale)), max(size, round(image.height * scale)))
    image = image.resize(new, Image.Resampling.BICUBIC, reducing_gap=None)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


def normalise_images(scan: FolderScan, out, *, size: int = 32, exclude=(),
                     overwrite: bool = False) -> dict[Path, Path]:
    """Write every decodable image of ``scan`` to ``out`` as upright RGB ``size x size`` PNG.

    The folder layout and file names are kept (only the extension becomes .png); undecodable
    files, non-images, hidden folders and the paths in ``exclude`` (e.g.
    ``Duplicates.redundant()``) are left out. Returns ``{source path: written path}``, both
    absolute.
    """
    out = Path(out)
    _prepare_output(out, overwrite)
    exclude = {Path(p).absolute() for p in exclude}
    written: dict[Path, Path] = {}
    taken = set()
    for record in scan.images:
        if record.path in exclude or any(part.startswith(".") for part in record.rel.split("/")):
            continue
        target = out / Path(record.rel).with_suffix(".png")
        stem, n = target.stem, 1
        while target in taken:  # img_1.jpg and img_1.png in one folder: keep both
            target = target.with_name(f"{stem}_{n}.png")
            n += 1
        taken.add(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        resize_and_crop(load_rgb(record.path), size).save(target)
        written[record.path] = target.absolute()
    return written


# ---------------------------------------------------------------------------------------------
# Loading, with explicit choices


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


# ---------------------------------------------------------------------------------------------
# Training and using the model


class BestCheckpoint:
    """A ``fit`` callback: save the model whenever ``key`` (default ``test_acc``) beats its best.

    The file is a :mod:`cnnlib.checkpoint` checkpoint (atomic write, safe load) whose ``extra``
    holds what inference needs besides the weights: class names, normalisation statistics.
    """

    def __init__(self, path, model: torch.nn.Module, key: str = "test_acc", extra=None):
        self.path, self.model, self.key, self.extra = Path(path), model, key, extra
        self.best, self.epoch = None, None

    def __call__(self, epoch: int, history) -> None:
        from .checkpoint import save_checkpoint

        value = history.last[self.key]
        if self.best is None or value > self.best:
            save_checkpoint(self.path, model=self.model, epoch=epoch, history=history,
                            extra=self.extra)
            self.best, self.epoch = value, epoch

    def __repr__(self) -> str:
        if self.best is None:
            return f"BestCheckpoint({self.path}: nothing saved yet)"
        return f"best {self.key} {self.best:.2%} at epoch {self.epoch}, saved to {self.path}"


@torch.inference_mode()
def losses_per_example(model: torch.nn.Module, dataset, batch_size: int = 256):
    """Loss, predicted class and its probability for every example, in the dataset's order.

    Sorting a training set by loss puts first the images the model finds least believable:
    hard examples, and mislabeled ones. A list of candidates to look at, not a verdict.
    """
    model.eval()
    device = next(model.parameters()).device
    losses, preds, probs = [], [], []
    for x, y in torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False):
        logits = model(x.to(device)).float()
        p = logits.softmax(1)
        losses.append(torch.nn.functional.cross_entropy(logits, y.to(device),
                                                        reduction="none").cpu())
        top = p.max(1)
        preds.append(top.indices.cpu())
        probs.append(top.values.cpu())
    return torch.cat(losses), torch.cat(preds), torch.cat(probs)


@dataclass
class Prediction:
    """What :func:`predict_file` saw and said."""

    path: Path
    image: Image.Image    # the file as loaded (upright RGB, full size)
    label: str
    probability: float
    probabilities: dict   # class -> probability

    def __str__(self) -> str:
        return f"{self.path.name}: {self.label} {100 * self.probability:.1f} %"


@torch.inference_mode()
def predict_file(model: torch.nn.Module, path, transform, classes) -> Prediction:
    """Classify one image file: load (:func:`load_rgb`), transform, one forward pass, softmax.

    ``transform`` must be the evaluation transform the model was validated with (resize,
    tensor, normalisation with the *training* statistics), or the probabilities mean nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file {path} (absolute: {path.absolute()})")
    image = load_rgb(path)
    model.eval()
    device = next(model.parameters()).device
    probs = model(transform(image).unsqueeze(0).to(device)).float().softmax(1)[0].cpu()
    if len(probs) != len(classes):
        raise ValueError(f"the model gives {len(probs)} outputs but {len(classes)} class names "
                         "were passed: use the class list saved with the model")
    best = int(probs.argmax())
    return Prediction(path, image, classes[best], float(probs[best]),
                      {c: float(p) for c, p in zip(classes, probs)})
