"""Finding the problems: open every file under a folder and record what it is.

:func:`scan_folder` walks a folder (of classes, or of splits of classes) and checks each file
with :func:`check_image`; the :class:`FolderScan` it returns lists the decodable images with
their mode, size and EXIF orientation, the undecodable files with PIL's reason, the files that
are not images, and the hidden or empty folders that ImageFolder would take for classes.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..tables import format_table
from .files import EXIF_ORIENTATION, is_image_name, relative_name, split_folders


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
        folders = [f"{relative_name(p, root)}/"
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


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (a link to nothing, a FIFO, a socket), or None.

    Opening a FIFO would wait for a writer forever, so these are never opened."""
    try:
        info = path.stat()
    except OSError as error:
        target = os.readlink(path) if path.is_symlink() else None
        return (f"a symbolic link to {target}, which does not exist" if target is not None
                else f"cannot be read ({error.strerror or error})")
    if stat.S_ISREG(info.st_mode):
        return None
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) else "a socket"
            if stat.S_ISSOCK(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode)
            or stat.S_ISBLK(info.st_mode) else "not a regular file")
    return f"{kind}, not a file: it was not opened"


def scan_folder(root) -> FolderScan:
    """Open every file under ``root`` (walked in sorted order) and record what it is.

    Files without an image extension, and hidden files, are "not_image" and are not opened;
    the rest are checked with :func:`check_image`. What is not a regular file (a symbolic link
    to nothing, a named pipe, a socket) is never opened: with an image name it is "corrupt",
    with the reason, otherwise "not_image". Hidden folders (``.ipynb_checkpoints``) and
    folders with no files are listed too: ``ImageFolder`` would take them for classes.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root} (absolute: {root.absolute()})")
    holds_splits = split_folders(root) != [root]
    records, hidden, empty = [], [], []
    for folder, dirs, names in os.walk(root):
        folder = Path(folder)
        dirs.sort()
        hidden += [folder.absolute() / d for d in dirs if d.startswith(".")]
        if folder != root and not names and not dirs:
            empty.append(folder.absolute())
        for name in sorted(names):
            path = folder / name
            rel = relative_name(path, root)
            parts = rel.split("/")
            split = parts[0] if holds_splits and len(parts) > 1 else ""
            label = parts[-2] if len(parts) > (2 if holds_splits else 1) else ""
            special = _not_a_file(path)
            record = FileRecord(path.absolute(), rel, split, label, "not_image",
                                0 if special else path.stat().st_size)
            if special:
                record.status = "corrupt" if is_image_name(path) else "not_image"
                record.error = special
            elif is_image_name(path):
                found = check_image(path)
                record.status = "corrupt" if "error" in found else "ok"
                for key, value in found.items():
                    setattr(record, key, value)
            records.append(record)
    return FolderScan(root, records, hidden, empty)
