"""Where a step writes: a new or empty folder, or one that cnnlib itself wrote, never yours.

``overwrite=True`` (:func:`cnnlib.folders.normalise_images`,
:func:`cnnlib.folders.export_image_folder`) deletes a non-empty output folder only when cnnlib
wrote it: every folder these functions write is recorded in a small file outside it
(``$XDG_CACHE_HOME/cnnlib/written_folders.json``, by default under ``~/.cache``), by path and by
the folder's identity on disk (device and inode), so that a folder you made, or put in its
place, is never taken for one. A folder that is not recorded (your photos, your notes, a trained
model) is refused with an error, not deleted. The record also lists the files cnnlib wrote in
the folder, so that a file you saved into it afterwards (your notes) is never deleted either:
``overwrite=True`` then refuses the folder and names your files. The record lives outside the
folder so that nothing extra appears in it. :func:`check_own` refuses a folder that is not
cnnlib's, or holds files of yours, before a step that changes files in place
(:func:`cnnlib.folders.make_messy`). :func:`check_apart` refuses an output folder that is, holds, or
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


def _files(folder: Path) -> list[str]:
    """Every file (and link) under ``folder``, as sorted paths relative to it."""
    found = []
    for parent, dirs, names in os.walk(folder):  # links to folders are listed, not followed
        links = [d for d in dirs if os.path.islink(os.path.join(parent, d))]
        found += [Path(parent, name).relative_to(folder).as_posix() for name in names + links]
    return sorted(found)


def _record(folder: Path, files=()) -> None:
    """Remember that cnnlib wrote ``folder`` and the ``files`` in it (best effort: if the record
    cannot be written, a later ``overwrite=True`` refuses the folder, which loses nothing)."""
    written = _read()
    written[str(folder.resolve())] = {"id": _identity(folder), "files": sorted(files)}
    path = _registry()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".written.", suffix=".tmp")
        with os.fdopen(fd, "w") as file:
            json.dump(written, file)
        os.replace(tmp, path)
    except OSError:
        pass


def record_contents(folder: Path) -> None:
    """Record every file now in ``folder`` as cnnlib's: called when a step that writes there
    ends (however it ends), so the files it wrote can be written again with overwrite=True."""
    if folder.is_dir():
        _record(folder, _files(folder))


def _entry(folder: Path) -> dict | None:
    entry = _read().get(str(folder.resolve()))
    if isinstance(entry, list):  # written by an earlier cnnlib: the folder, not its files
        entry = {"id": entry, "files": None}
    if not isinstance(entry, dict) or entry.get("id") != _identity(folder):
        return None
    return entry


def written_by_cnnlib(folder: Path) -> bool:
    """True if ``folder`` is the very folder (same path, same inode) that cnnlib wrote."""
    return _entry(folder) is not None


def foreign_files(folder: Path) -> list[str] | None:
    """The files in cnnlib's ``folder`` that cnnlib did not write (relative paths), or None when
    the record does not list its files (a folder written by an earlier cnnlib)."""
    entry = _entry(folder)
    if entry is None or entry.get("files") is None:
        return None
    own = set(entry["files"])
    return [name for name in _files(folder) if name not in own]


def _named(files: list[str]) -> str:
    shown = ", ".join(files[:5])
    return shown + (f" and {len(files) - 5} more" if len(files) > 5 else "")


def check_own(folder: Path, what: str) -> None:
    """Refuse to ``what`` in ``folder`` unless it is empty, or cnnlib wrote it and every file
    in it."""
    if folder.is_dir() and not any(folder.iterdir()):
        return
    if not written_by_cnnlib(folder):
        raise FileExistsError(
            f"{folder} was not written by cnnlib.folders (it may be your own images), and {what} "
            "changes files in place. Work on a copy that cnnlib writes: "
            "export_image_folder(images, labels, classes, <new folder>), or "
            "normalise_images(scan_folder(<your folder>), <new folder>)")
    foreign = foreign_files(folder)
    if foreign:
        raise FileExistsError(
            f"{folder} holds {len(foreign)} file(s) that cnnlib did not write ({_named(foreign)}), "
            f"and {what} changes files in place: nothing was changed. Move those files out, or "
            "work on a new copy")


def prepare_output(root: Path, overwrite: bool) -> None:
    """An empty folder ``root`` to write into, recorded as cnnlib's.

    A non-empty ``root`` is deleted only with ``overwrite=True``, only if cnnlib wrote it
    (:func:`written_by_cnnlib`) and only if it holds nothing else (:func:`foreign_files`);
    otherwise it is refused, and nothing in it is touched. The caller records what it then
    writes with :func:`record_contents`.
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
        foreign = foreign_files(root)
        if foreign is None:
            raise FileExistsError(
                f"{root} was written by an earlier version of cnnlib, which did not record the "
                "files it wrote, so overwrite=True cannot tell them from files you added and "
                "deletes nothing. Delete the folder yourself (after saving anything of yours in "
                "it), or choose a new folder")
        if foreign:
            raise FileExistsError(
                f"{root} was written by cnnlib, but it now holds {len(foreign)} file(s) that "
                f"cnnlib did not write ({_named(foreign)}): overwrite=True deletes only what cnnlib "
                "wrote, so nothing was deleted. Move those files out of the folder (or delete "
                "them yourself) and run again, or choose a new folder")
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
