"""Checkpoints that survive a crash, are verified when read, and resume a run exactly.

A checkpoint holds everything the next epoch depends on: the model, optimiser and scheduler
state (and their class names), the epoch and the history so far, and every random number
generator's state (Python, NumPy, torch on the CPU and on each GPU, and each ``TensorLoader``'s
own generator). Restoring all of it is what makes a resumed CPU run equal an uninterrupted one
bit for bit.

Four promises:

* **Nothing unloadable is written.** Every value is checked before the file is opened. NumPy
  scalars and 0-d tensors in the history become plain numbers (lossless); anything that
  ``weights_only`` loading would refuse (a NumPy array, a ``Path``, any other object) is a
  ``TypeError`` naming where it is and how to convert it, and the previous file stays as it was.
* **Atomic saves.** The file is written under a temporary name in the same folder, flushed to
  disk, then renamed over the old one (``os.replace``). A crash, a full disk or Ctrl-C in the
  middle of a save leaves the previous checkpoint whole, never a half-written file.
* **Verified loads.** The file stores a SHA-256 digest of everything in it. Reading checks the
  zip archive's CRCs (every ``torch.save`` file is a zip), then the digest: a truncated, damaged
  or edited file is reported as corrupted, with its path, instead of loading wrong weights.
* **Safe loads.** Everything is stored as tensors and plain Python values, so loading uses
  ``torch.load(..., weights_only=True)``, which cannot run code from the file. A well-formed file
  that holds arbitrary pickled objects is refused with an explanation instead of being executed
  (a damaged file never reaches that point, so it is never mistaken for one).

Format versions: 2 (this one) stores the digest and the optimiser's and scheduler's class names,
and, since issue 27, what identifies the run (``run``: model class, optimiser, lr, data and batch
size; files without it load, and resuming them compares nothing).
Files of version 1 (cnnlib before the second reliability round) have neither: they still load,
checked by the zip's CRCs only, and resuming cannot check the optimiser's type against them.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import re
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from ._args import expand_home
from ._identity import ResumeWarning, compare
from ._storable import digest, plain_history, plain_values
from .history import History

FORMAT = "cnnlib.checkpoint"
VERSION = 2
ZIP_MAGIC = b"PK\x03\x04"  # how every torch.save file (a zip archive) begins
UNTRUSTED = ("The file cannot be trusted: delete it and resume from an earlier copy, or train "
             "again.")


def checkpoint_path(name: str) -> Path:
    """Where the book keeps a checkpoint called ``name``: in ``$CNNLIB_CHECKPOINTS`` if set,
    else in ``checkpoints/`` under the current folder.

    In Colab the current folder is ``/content``, which is lost with the runtime; point
    ``CNNLIB_CHECKPOINTS`` at a folder on Google Drive to keep checkpoints across sessions
    (*How to use this book* shows how).
    """
    if not name or Path(name).name != name:
        raise ValueError(f"name must be a file name such as '04_alexnet.pt', got {name!r}; the "
                         "folder comes from CNNLIB_CHECKPOINTS")
    folder = os.environ.get("CNNLIB_CHECKPOINTS", "").strip() or "checkpoints"
    return Path(folder).expanduser() / name


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely, or does not fit what it is loaded into."""


class CheckpointSaveError(RuntimeError):
    """``fit`` could not save a checkpoint and stopped; what it had done is not lost.

    ``history``: the completed epochs; ``epoch``: the epoch whose save failed (or after which a
    callback made the history unsaveable); ``saved``: the epoch the checkpoint file still holds
    (``None`` when none was saved). The original error is the ``__cause__``.
    """

    def __init__(self, message: str, history=None, epoch=None, saved=None):
        super().__init__(message)
        self.history, self.epoch, self.saved = history, epoch, saved


# ---------------------------------------------------------------------------------------------
# Saving

def save_checkpoint(path, *, model: torch.nn.Module, optimizer=None, scheduler=None, epoch: int,
                    history, loaders=(), extra=None, run=None) -> Path:
    """Write everything a resumed run needs to ``path``, atomically; return the path.

    ``history`` is a :class:`~cnnlib.history.History` (or a list of row dicts). ``loaders`` are
    objects with ``state_dict()`` such as :class:`~cnnlib.loader.TensorLoader`; pass the same
    ones, in the same order, to :func:`load_checkpoint`. ``extra`` is yours: plain Python values
    and tensors only, so that the file stays loadable with ``weights_only=True``. Every value is
    checked before anything is written: a value that could not be loaded back is a ``TypeError``
    and a model whose weights went NaN or infinite a ``FloatingPointError``; either way the last
    good file stays as it was. ``run`` is what identifies the run (``fit`` stores
    :func:`cnnlib._identity.run_identity`), compared when it is resumed.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
    path = check_path(path)
    extra = plain_values(extra, "extra", path, "extra")
    run = plain_values(run, "run", path, "run")
    rows = plain_history(history, path)
    weights = model.state_dict()
    _check_finite_weights(weights, path)
    state = {
        "format": FORMAT, "version": VERSION, "epoch": epoch,
        "model": weights,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "optimizer_type": _class_name(optimizer),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scheduler_type": _class_name(scheduler),
        "history": rows,
        "rng": rng_state(),
        "loaders": [loader.state_dict() for loader in loaders],
        "extra": extra,
        "run": run,
    }
    state["sha256"] = digest(state, path)  # also refuses what weights_only loading would
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_save(state, path)
    except OSError as error:
        raise _destination_error(path, error) from error
    return path


def check_path(path) -> Path:
    """The file a checkpoint at ``path`` is written to: the one place that checks such a path.

    ``~`` is expanded (``"~/runs/x.pt"`` is in your home folder, not in a folder named ``~``);
    a folder, or a path that ends with a separator (``"runs/"``), is refused; a symbolic link
    (a file on Google Drive linked into the working folder) is written through: the path of
    the file it points to is returned, so that a save replaces that file and the link stays.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path (a str or pathlib.Path), got a "
                        f"{type(path).__name__}: {path!r}")
    text = os.fspath(path)
    if isinstance(text, bytes):
        raise TypeError(f"checkpoint must be a str or pathlib.Path, got bytes: {text!r}")
    if not text.strip():
        raise ValueError("checkpoint is an empty path: give a file path such as 'runs/run.pt', "
                         "or checkpoint=None to train without one")
    if text.endswith(("/", os.sep)):
        raise _os_error(errno.EISDIR, f"checkpoint={text!r} ends with a separator, so it names a "
                                      "folder, not a file: give the path of a file in it, such "
                                      f"as {str(Path(text) / 'run.pt')!r}")
    path = expand_home(text, "checkpoint")
    if path.is_dir():
        raise _os_error(errno.EISDIR, f"checkpoint={text!r} is a folder, not a file: give the "
                                      f"path of a file in it, such as {str(path / 'run.pt')!r}")
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def check_destination(path, model: torch.nn.Module | None = None) -> Path:
    """Fail now, not after an epoch, if a checkpoint cannot be written at ``path``.

    Checks the path (:func:`check_path`), creates the folder, writes and removes a small probe
    file there, and, given the ``model``, checks that the disk has room for at least one copy of
    its weights. Raises an ``OSError`` (``IsADirectoryError``, ``PermissionError``...) that names
    the path and says what to do.
    """
    path = check_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(b"cnnlib probe")
                file.flush()
                os.fsync(file.fileno())
        finally:
            Path(probe).unlink(missing_ok=True)
    except OSError as error:
        raise _destination_error(path, error) from error
    if model is not None:
        _check_room(path, sum(t.nelement() * t.element_size() for t in model.state_dict().values()
                              if isinstance(t, torch.Tensor)))
    return path


def _check_room(path: Path, needed: int) -> None:
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return  # a file system that does not say: the save itself will tell
    if free < needed:
        raise _os_error(errno.ENOSPC, f"the disk that holds {path.parent} has {free:,} bytes "
                                      f"free, but a checkpoint of this model needs more than "
                                      f"{needed:,} (its weights alone): free some space, or "
                                      "choose a folder on another disk for checkpoint=")


def _destination_error(path: Path, error: OSError) -> OSError:
    """The same kind of ``OSError``, saying which path, what went wrong, and what to do."""
    reason = error.strerror or str(error)
    if isinstance(error, IsADirectoryError) or path.is_dir():
        fix = f"{path} is a folder: give the path of a file in it, such as {path / 'run.pt'}"
    elif isinstance(error, (NotADirectoryError, FileExistsError)):
        fix = (f"a file is in the way of the folder {path.parent}: choose another folder, or "
               "remove that file")
    elif isinstance(error, PermissionError) or error.errno in (errno.EROFS, errno.EACCES):
        fix = (f"the folder {path.parent} is not writable (read-only, or not yours): choose a "
               "folder you can write to (checkpoint=..., or CNNLIB_CHECKPOINTS)")
    elif error.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = (f"the disk that holds {path.parent} is full: free some space, or choose a folder "
               "on another disk")
    else:
        fix = f"check that {path.parent} is a folder you can write to"
    return _os_error(error.errno, f"cannot write the checkpoint {path} ({reason}): {fix}")


def _os_error(code: int | None, message: str) -> OSError:
    """An ``OSError`` of the subclass ``code`` maps to, whose text is ``message`` alone."""
    kind = type(OSError(code, "")) if code is not None else OSError
    error = kind(message)
    error.errno = code
    return error


def _check_finite_weights(weights: dict, path: Path) -> None:
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise FloatingPointError(
                f"not saving {path}: the model's {name} holds NaN or infinite values, so the "
                "training diverged; the previous checkpoint, if any, is kept as it was")


def _class_name(obj) -> str | None:
    return None if obj is None else type(obj).__name__


def _atomic_save(state: dict, path: Path) -> None:
    """Temporary file in the same folder, flush + fsync, then one rename: all or nothing."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C included: never leave the temporary file behind
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (POSIX); not possible, and not needed, on Windows
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)


# ---------------------------------------------------------------------------------------------
# Loading

def load_checkpoint(path, *, model: torch.nn.Module, optimizer=None, scheduler=None, loaders=(),
                    run=None):
    """Restore a checkpoint written by :func:`save_checkpoint` into the given objects.

    Returns ``(epoch, history)``: the last completed epoch and the :class:`~cnnlib.history.History`
    up to it. Also restores every random number generator, so training continues as if it had
    never stopped. Everything is checked before anything is changed: a model whose layers or
    shapes differ, an optimiser or scheduler of another type than the saved one (or one given
    where none was saved, and the reverse) and another number of loaders are a
    :class:`CheckpointError`, and the objects stay as they were. Given ``run`` (what identifies
    the resuming run, :func:`cnnlib._identity.run_identity`), a model of another class than the
    saved one is a :class:`CheckpointError` too, and another learning rate, data size or batch
    size a :class:`ResumeWarning` that names the change (files saved without it: no check);
    ``run["lr"]`` then becomes the saved one, which the restored optimiser state holds.
    """
    state = read_checkpoint(path)
    loaders = list(loaders)
    wrong, changes = compare(state.get("run"), run)
    if wrong:
        raise CheckpointError(f"the checkpoint {path} does not fit the model given: {wrong}")
    _check_model_fits(path, state["model"], model)
    _check_same_type(path, "optimizer", optimizer, state, resuming=optimizer is not None)
    _check_same_type(path, "scheduler", scheduler, state, resuming=optimizer is not None)
    if len(loaders) != len(state["loaders"]):
        raise CheckpointError(f"the checkpoint {path} holds the state of {len(state['loaders'])} "
                              f"loader(s) but {len(loaders)} were given: pass the same loaders, "
                              "in the same order, as when it was saved")
    for change in changes:
        warnings.warn(change, ResumeWarning, stacklevel=3)
    try:
        model.load_state_dict(state["model"])
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise CheckpointError(f"the checkpoint {path} does not fit the model/optimiser/scheduler "
                              f"given (was it saved from a different one?): {error}") from error
    for loader, loader_state in zip(loaders, state["loaders"]):
        loader.load_state_dict(loader_state)
    set_rng_state(state["rng"])
    if run is not None and (state.get("run") or {}).get("lr") is not None:
        run["lr"] = state["run"]["lr"]  # the saved optimiser state replaced the one given
    return state["epoch"], History([dict(row) for row in state["history"]])


def _check_model_fits(path, saved: dict, model: torch.nn.Module) -> None:
    """Layer names and shapes, compared before any weight is copied into the model."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
    shapes = [f"{key} is {_shape(saved[key])} in the file, {_shape(own[key])} in the model"
              for key in own if key in saved and hasattr(own[key], "shape")
              and tuple(saved[key].shape) != tuple(own[key].shape)]
    problems = ([f"the file lacks {', '.join(missing[:3])}"] if missing else []) + (
        [f"the model has no {', '.join(unexpected[:3])}"] if unexpected else []) + shapes[:3]
    if problems:
        raise CheckpointError(f"the checkpoint {path} does not fit the model/optimiser/scheduler "
                              f"given (was it saved from a different one?): the model is a "
                              f"{type(model).__name__}, and {'; '.join(problems)}. Build the "
                              "model the run was saved from, or train afresh without resume")


def _shape(tensor) -> str:
    return "×".join(map(str, tensor.shape)) or "a scalar"


def _check_same_type(path, part: str, given, state: dict, resuming: bool) -> None:
    """The optimiser (or scheduler) given must be of the saved type, and there when saved."""
    saved_type = state.get(f"{part}_type")  # None in version-1 files
    has_saved = state.get(part) is not None
    if given is None:
        if resuming and has_saved:
            saved = f"{part} {saved_type}" if saved_type else f"a {part}"
            raise CheckpointError(
                f"the checkpoint {path} was saved with {saved}, but {part}=None was given: "
                f"resuming without it would change the run. Pass a {part} built as in the run "
                f"that saved it ({part}=...)")
        return
    name = type(given).__name__
    if not has_saved:
        raise CheckpointError(f"the checkpoint {path} holds no {part} state, but {part} {name} "
                              f"was given: pass {part}=None to resume it as it was saved, or "
                              "train afresh without resume")
    if saved_type is not None and saved_type != name:
        raise CheckpointError(f"the checkpoint {path} was saved with {part} {saved_type}, but "
                              f"{part} {name} was given: their states do not mix. Pass a "
                              f"{saved_type} built as in the run that saved it, or train afresh "
                              "without resume")


def read_checkpoint(path, map_location="cpu") -> dict:
    """The checkpoint's contents as a dict, verified and read safely (``weights_only=True``).

    Tensors land on the CPU by default; ``load_state_dict`` then copies them to wherever the
    model and optimiser live. A truncated, damaged or edited file is a :class:`CheckpointError`
    that says the file is corrupted.
    """
    path = expand_home(path, "path")
    if path.is_dir():
        raise _os_error(errno.EISDIR, f"{path} is a folder, not a checkpoint file: give the path "
                                      "of the file in it (such as .../run.pt)")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (absolute: {path.resolve()}): "
                                "check the path, or train without resume to create it")
    _check_archive(path)
    state = _load(path, map_location)
    _check_format(path, state)
    return state


def _corrupted(path, reason: str) -> CheckpointError:
    return CheckpointError(f"{path} is corrupted: it is not a readable torch file (truncated or "
                           f"damaged): {reason}. {UNTRUSTED}")


def _check_archive(path: Path) -> None:
    """The zip archive is whole: it starts as one, its directory is there, every CRC matches."""
    size = path.stat().st_size
    with open(path, "rb") as file:
        head = file.read(len(ZIP_MAGIC))
    if size == 0:
        raise _corrupted(path, "it is empty (0 bytes)")
    if head != ZIP_MAGIC:
        raise _corrupted(path, f"it does not start as every torch.save file (a zip archive) "
                               f"does; its first bytes are {head!r}, {size:,} bytes in all")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as error:
        raise _corrupted(path, f"the zip archive is incomplete ({size:,} bytes: {error}), as a "
                               "copy or download cut short leaves it") from error
    if damaged is not None:
        raise _corrupted(path, f"its part {damaged} fails its CRC check, so its bytes changed "
                               "after it was written")


def _load(path: Path, map_location) -> dict:
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:  # a whole archive (CRCs checked) with objects in it
        found = re.findall(r"GLOBAL ([\w.]+)", str(error))
        raise CheckpointError(
            f"{path} contains arbitrary Python objects, not only tensors and plain values"
            + (f" (it refers to {found[0]})" if found else "") + ", so it was not loaded: "
            "loading it would execute code from the file. cnnlib's own checkpoints never contain "
            "such objects. If you trust where the file came from, load it by hand with "
            f"torch.load({str(path)!r}, weights_only=False)."
        ) from error
    except (RuntimeError, EOFError, KeyError, ValueError, IndexError, OSError) as error:
        if isinstance(error, (FileNotFoundError, PermissionError)):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(f"{path} is not a readable torch file: torch.load failed with "
                              f"{type(error).__name__}: {first}") from error


def _check_format(path: Path, state) -> None:
    """A cnnlib checkpoint of a version this code reads, whose digest matches its values."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        keys = sorted(map(str, state))[:8] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not a cnnlib checkpoint (found {keys}). A plain state_dict loads with "
            "model.load_state_dict(torch.load(path, weights_only=True)).")
    version = state.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path} is corrupted: its format version is {version!r}, not a "
                              f"positive int. {UNTRUSTED}")
    if version > VERSION:
        raise CheckpointError(f"{path} was written by a newer cnnlib (checkpoint format "
                              f"{version}; this cnnlib reads formats up to {VERSION}): upgrade "
                              "cnnlib to load it")
    if version >= 2:
        _check_digest(path, state)


def _check_digest(path: Path, state: dict) -> None:
    stored = state.get("sha256")
    if not isinstance(stored, str):
        raise CheckpointError(f"{path} is corrupted: it has no digest, although every checkpoint "
                              f"of format {state['version']} stores one. {UNTRUSTED}")
    values = {key: value for key, value in state.items() if key != "sha256"}
    try:
        matches = digest(values, path) == stored
    except TypeError:  # a value no cnnlib checkpoint holds
        matches = False
    if not matches:
        raise CheckpointError(
            f"{path} is corrupted: the SHA-256 digest of its values does not match the one stored "
            "when it was saved, so its contents changed after saving (damaged on disk or in a "
            f"copy, or edited). {UNTRUSTED}")


# ---------------------------------------------------------------------------------------------
# Random number generators

def rng_state() -> dict:
    """Every global random generator's state, as tensors and plain values."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "state": list(mt), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        else:  # another machine: seed what matches, the rest keep their own state
            for index, cuda_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
                torch.cuda.set_rng_state(cuda_state, index)
    if "mps" in state and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])
