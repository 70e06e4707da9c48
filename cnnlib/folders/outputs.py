"""Where a step writes: a new or empty folder, or one that cnnlib itself wrote, never yours.

``overwrite=True`` (:func:`cnnlib.folders.normalise_images`,
:func:`cnnlib.folders.export_image_folder`) deletes a non-empty output folder only when cnnlib
wrote it: every folder these functions write is recorded in a small file outside it
(``$XDG_CACHE_HOME/cnnlib/written_folders.json``, by default under ``~/.cache``), by path and by
the folder's identity on disk (device and inode), so that a folder you made, or put in its
place, is never taken for one. A folder that is not recorded (your photos, your notes, a trained
model) is refused with an error, not deleted. The record lives outside the folder so that
nothing extra appears in it. :func:`check_apart` refuses an output folder that is, holds, or
lies inside the folder being read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path


def _registry() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or "~/.cache"
    return Path(cache).expanduser() / "cnnlib" / "written_folders.json"


def _identity(folder: Path) -> list[int]:
    info = folder.stat()
    return [info.st_dev, info.st_ino]


def _read() -> dict:
    try:
        written = json.loads(_registry().read_text())
    except (OSError, ValueError):
        return {}
    return written if isinstance(written, dict) else {}


def _record(folder: Path) -> None:
    """Remember that cnnlib wrote ``folder`` (best effort: if the record cannot be written, a
    later ``overwrite=True`` refuses the folder, which loses nothing)."""
    written = _read()
    written[str(folder.resolve())] = _identity(folder)
    path = _registry()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".written.", suffix=".tmp")
        with os.fdopen(fd, "w") as file:
            json.dump(written, file)
        os.replace(tmp, path)
    except OSError:
        pass


def written_by_cnnlib(folder: Path) -> bool:
    """True if ``folder`` is the very folder (same path, same inode) that cnnlib wrote."""
    return _read().get(str(folder.resolve())) == _identity(folder)


def prepare_output(root: Path, overwrite: bool) -> None:
    """An empty folder ``root`` to write into, recorded as cnnlib's.

    A non-empty ``root`` is deleted only with ``overwrite=True`` and only if cnnlib wrote it
    (:func:`written_by_cnnlib`); otherwise it is refused, and nothing in it is touched.
    """
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} is a file, not a folder: choose a folder to write into")
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} exists and is not empty; pass overwrite=True to delete "
                                  "it and write it again, or choose another folder")
        if not written_by_cnnlib(root):
            raise FileExistsError(
                f"{root} exists, is not empty, and was not written by cnnlib.folders (it may hold "
                "your own files), so overwrite=True does not delete it: overwrite deletes only a "
                "folder that cnnlib wrote. Choose a new folder, or empty or delete this one "
                "yourself")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    _record(root)


def check_apart(out, source, what: str = "the scanned folder") -> Path:
    """``out`` as a ``Path``, if it is neither ``source``, nor inside it, nor holding it."""
    out = Path(out).expanduser()
    target, root = out.resolve(), Path(source).resolve()
    if target == root or root in target.parents or target in root.parents:
        relation = ("is" if target == root else "lies inside" if root in target.parents
                    else "holds")
        raise ValueError(
            f"out={str(out)!r} {relation} {what} {root}: writing there would mix the copy with "
            "the originals, and overwrite=True would delete them. Choose a folder outside it, "
            f"e.g. {root.parent / (root.name + '_clean')}")
    return out
