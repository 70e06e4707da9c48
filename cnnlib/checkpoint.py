"""Checkpoints that survive a crash and resume a run exactly where it stopped.

A checkpoint holds everything the next epoch depends on: the model, optimiser and scheduler
state, the epoch and the history so far, and every random number generator's state (Python,
NumPy, torch on the CPU and on each GPU, and each ``TensorLoader``'s own generator). Restoring all
of it is what makes a resumed CPU run equal an uninterrupted one bit for bit.

Two promises:

* **Atomic saves.** The file is written under a temporary name in the same folder, flushed to
  disk, then renamed over the old one (``os.replace``). A crash or Ctrl-C in the middle of a save
  leaves the previous checkpoint whole, never a half-written file.
* **Safe loads.** Everything is stored as tensors and plain Python values, so loading uses
  ``torch.load(..., weights_only=True)``, which cannot run code from the file. A file that holds
  arbitrary pickled objects is refused with an explanation instead of being executed.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

from .history import History

FORMAT = "cnnlib.checkpoint"
VERSION = 1


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


def save_checkpoint(path, *, model: torch.nn.Module, optimizer=None, scheduler=None, epoch: int,
                    history, loaders=(), extra=None) -> Path:
    """Write everything a resumed run needs to ``path``, atomically; return the path.

    ``history`` is a :class:`~cnnlib.history.History` (or a list of row dicts). ``loaders`` are
    objects with ``state_dict()`` such as :class:`~cnnlib.loader.TensorLoader`; pass the same
    ones, in the same order, to :func:`load_checkpoint`. ``extra`` is yours: plain Python values
    and tensors only, so that the file stays loadable with ``weights_only=True``. A model whose
    weights went NaN or infinite is not saved (``FloatingPointError``): the last good file stays.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
    _check_plain("extra", extra)
    weights = model.state_dict()
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise FloatingPointError(
                f"not saving {path}: the model's {name} holds NaN or infinite values, so the "
                "training diverged; the previous checkpoint, if any, is kept as it was")
    rows = history.rows if hasattr(history, "rows") else history
    state = {
        "format": FORMAT, "version": VERSION, "epoch": epoch,
        "model": weights,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": [{key: _plain_number(value) for key, value in row.items()} for row in rows],
        "rng": rng_state(),
        "loaders": [loader.state_dict() for loader in loaders],
        "extra": extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(state, path)
    return path


def load_checkpoint(path, *, model: torch.nn.Module, optimizer=None, scheduler=None, loaders=()):
    """Restore a checkpoint written by :func:`save_checkpoint` into the given objects.

    Returns ``(epoch, history)``: the last completed epoch and the :class:`~cnnlib.history.History`
    up to it. Also restores every random number generator, so training continues as if it had
    never stopped.
    """
    state = read_checkpoint(path)
    try:
        model.load_state_dict(state["model"])
        if optimizer is not None and state["optimizer"] is not None:
            optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise CheckpointError(f"the checkpoint {path} does not fit the model/optimiser/scheduler "
                              f"given (was it saved from a different one?): {error}") from error
    loaders = list(loaders)
    if len(loaders) != len(state["loaders"]):
        raise CheckpointError(f"the checkpoint {path} holds the state of {len(state['loaders'])} "
                              f"loader(s) but {len(loaders)} were given: pass the same loaders, "
                              "in the same order, as when it was saved")
    for loader, loader_state in zip(loaders, state["loaders"]):
        loader.load_state_dict(loader_state)
    set_rng_state(state["rng"])
    return state["epoch"], History([dict(row) for row in state["history"]])


def read_checkpoint(path, map_location="cpu") -> dict:
    """The checkpoint's contents as a dict, read safely (``weights_only=True``).

    Tensors land on the CPU by default; ``load_state_dict`` then copies them to wherever the
    model and optimiser live.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (absolute: {path.resolve()}): "
                                "check the path, or train without resume to create it")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.findall(r"GLOBAL ([\w.]+)", str(error))
        raise CheckpointError(
            f"{path} contains arbitrary Python objects, not only tensors and plain values"
            + (f" (it refers to {found[0]})" if found else "") + ", so it was not loaded: "
            "loading it would execute code from the file. cnnlib's own checkpoints never contain "
            "such objects. If you trust where the file came from, load it by hand with "
            f"torch.load({str(path)!r}, weights_only=False)."
        ) from error
    except (RuntimeError, EOFError, KeyError) as error:
        raise CheckpointError(f"{path} is not a readable torch file (truncated or damaged?): "
                              f"{error}") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        keys = sorted(state)[:8] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not a cnnlib checkpoint (found {keys}). A plain state_dict loads with "
            "model.load_state_dict(torch.load(path, weights_only=True)).")
    return state


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


def _plain_number(value):
    """History values as plain Python numbers: a 0-d tensor or NumPy scalar becomes a float/int."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(name: str, value) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(name, key)
            _check_plain(name, item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(name, item)
    elif not isinstance(value, _PLAIN):
        raise TypeError(f"{name} may hold only tensors, numbers, strings, None, and lists, tuples "
                        f"or dicts of them (so the checkpoint loads with weights_only=True); got "
                        f"a {type(value).__name__}")
