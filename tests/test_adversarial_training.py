"""Adversarial cases for checkpoints, ``fit`` and Ctrl-C: what a new user (or a bad day) does.

Each case is a row of a table: a scenario and its expected outcome, which is either a clear
error (its type, and a pattern its message must match: what was wrong, and what was expected or
how to fix it) or a documented behaviour, checked by assertions. Groups: checkpoint files,
checkpoint values, destinations, fit arguments, interrupts and resuming.

Everything runs on a tiny network (16 inputs, 8 hidden units with dropout, 3 classes) and 40
random 4×4 images, with momentum, a StepLR scheduler and an augmenting loader, so every state
a checkpoint holds is exercised and each case takes milliseconds.
"""

from __future__ import annotations

import copy
import errno
import os
import re
import shutil
import json
import socket
import struct
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
import torch
from torch import nn

from cnnlib import checkpoint as ckpt
from cnnlib._lock import CheckpointInUseError, StaleLockWarning
from cnnlib._storable import digest
from cnnlib._first_batch import LossWarning
from cnnlib._fit_checks import AugmentedTestWarning, DivergedWarning, SameLoaderWarning
from cnnlib.callbacks import BestCheckpoint, StopTraining
from cnnlib.checkpoint import (CheckpointError, CheckpointSaveError, load_checkpoint,
                               read_checkpoint, save_checkpoint)
from cnnlib.history import History
from cnnlib.loader import TensorLoader
from cnnlib.optim import one_cycle
from cnnlib.data import DataBundle
from cnnlib.train import _show, evaluate, fit, predict

CORRUPTED = r"is corrupted: .*The file cannot be trusted: delete it and resume from an earlier copy"
UNREADABLE = CORRUPTED.replace("is corrupted: ", "is corrupted: it is not a readable torch file "
                                                 r"\(truncated or damaged\): ")
STEPS = 4  # training batches per epoch


# --- the tiny run -------------------------------------------------------------------------------

def tiny(seed: int = 0, scheduler: bool = True, hidden: int = 8) -> SimpleNamespace:
    """Everything a run needs, from the seed alone: what a fresh process would build."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, hidden), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(hidden, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    images = torch.randint(0, 256, (40, 1, 4, 4), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    labels = torch.arange(40) % 3
    return SimpleNamespace(
        model=model, optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5) if scheduler else None,
        train=TensorLoader(images[:32], labels[:32], batch_size=8, augment=True, padding=1,
                           seed=seed),
        test=TensorLoader(images[32:], labels[32:], batch_size=8, shuffle=False))


def train(run: SimpleNamespace, epochs: int = 3, **kwargs) -> History:
    return fit(run.model, run.train, run.test, epochs=epochs, optimizer=run.optimizer,
               scheduler=run.scheduler, progress=False, **kwargs)


def weights(model: nn.Module) -> dict:
    return {key: value.clone() for key, value in model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def measured(history) -> list[dict]:
    """The rows without the wall-clock column, the one number a rerun may change."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]


class Recorder:
    """A callback that keeps a copy of the model and optimiser state at the end of each epoch."""

    def __init__(self, run: SimpleNamespace):
        self.run = run
        self.states = {0: self.take()}

    def take(self) -> dict:
        return {"model": weights(self.run.model),
                "optimizer": copy.deepcopy(self.run.optimizer.state_dict()),
                "lr": self.run.optimizer.param_groups[0]["lr"]}

    def __call__(self, epoch, history):
        self.states[epoch] = self.take()

    def matches(self, epoch: int) -> bool:
        now, then = self.take(), self.states[epoch]
        buffers = [(a["momentum_buffer"], b["momentum_buffer"]) for a, b in
                   zip(now["optimizer"]["state"].values(), then["optimizer"]["state"].values())]
        return (same(now["model"], then["model"]) and now["lr"] == then["lr"]
                and len(now["optimizer"]["state"]) == len(then["optimizer"]["state"])
                and all(torch.equal(a, b) for a, b in buffers))


def press_ctrl_c(model: nn.Module, call: int, training: bool = True):
    """Raise KeyboardInterrupt in the ``call``-th forward pass in training (or eval) mode."""
    calls = []

    def hook(module, inputs):
        if module.training == training:
            calls.append(1)
            if len(calls) == call:
                raise KeyboardInterrupt
    return model.register_forward_pre_hook(hook)


def fail_save(monkeypatch, on_call: int, error: BaseException):
    """``torch.save`` that works until its ``on_call``-th call, which writes half and fails."""
    real, calls = torch.save, []

    def save(obj, file, *args, **kwargs):
        calls.append(1)
        if len(calls) == on_call:
            file.write(b"PK\x03\x04 half a file")
            raise error
        return real(obj, file, *args, **kwargs)
    monkeypatch.setattr(torch, "save", save)


def disk_full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def zip_member_offset(path: Path, suffix: str) -> int:
    """Where the bytes of the archive member whose name ends with ``suffix`` start."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(suffix))
    raw = path.read_bytes()
    name_length, extra_length = struct.unpack("<HH", raw[info.header_offset + 26:
                                                          info.header_offset + 30])
    return info.header_offset + 30 + name_length + extra_length


def flip_bit(path: Path, offset: int, bit: int = 3) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 1 << bit
    path.write_bytes(bytes(raw))


def no_leftovers(folder: Path) -> bool:
    """No temporary or probe file left next to the checkpoint."""
    return not [p for p in folder.iterdir() if p.name.startswith(".")]


# --- the table ------------------------------------------------------------------------------------

@dataclass
class Case:
    group: str
    name: str
    run: Callable  # run(ctx) does the adversarial thing; returns what `then` checks
    error: type | None = None  # expected exception type; None: a documented behaviour
    message: str = ""  # regex the message must match (re.S)
    then: Callable | None = None  # then(ctx, result or error): assertions afterwards
    root_skips: bool = False  # chmod does not stop root: skip when running as root

    @property
    def id(self) -> str:
        return f"{self.group}: {self.name}"


class Ctx:
    """One case's world: a folder, monkeypatch, captured output, a checkpoint path."""

    def __init__(self, tmp_path: Path, monkeypatch, capsys):
        self.tmp, self.mp, self.capsys = tmp_path, monkeypatch, capsys
        self.path = tmp_path / "runs" / "tiny.pt"
        self.before = None  # a file's bytes, kept to show that it did not change

    def good_file(self, epochs: int = 1) -> Path:
        """A real checkpoint, written by fit."""
        train(tiny(), epochs=epochs, checkpoint=self.path)
        self.before = self.path.read_bytes()
        return self.path

    def load(self, path: Path | None = None):
        run = tiny(seed=1)
        return load_checkpoint(path or self.path, model=run.model, optimizer=run.optimizer,
                               scheduler=run.scheduler, loaders=[run.train, run.test])

    def printed(self) -> str:
        return self.capsys.readouterr().out

    def intact(self) -> bool:
        """The file is what it was before the case, and still loads."""
        return self.path.read_bytes() == self.before and bool(read_checkpoint(self.path))


CASES: list[Case] = []


def case(group, name, error=None, message="", then=None, root_skips=False):
    def add(run):
        CASES.append(Case(group, name, run, error, message, then, root_skips))
        return run
    return add


def never_unsafe_advice(ctx, error):
    assert "weights_only=False" not in str(error) and "malicious" not in str(error)
    assert str(ctx.path) in str(error)


# === checkpoint files =============================================================================

FILES = "checkpoint files"


@case(FILES, "truncated to half its size", CheckpointError,
      UNREADABLE.replace(".*", r".*zip archive is incomplete .*cut short.*", 1),
      then=never_unsafe_advice)
def _(ctx):
    raw = ctx.good_file().read_bytes()
    ctx.path.write_bytes(raw[:len(raw) // 2])
    ctx.load()


@case(FILES, "truncated to 200 bytes, resumed by fit", CheckpointError, UNREADABLE,
      then=never_unsafe_advice)
def _(ctx):
    ctx.path.write_bytes(ctx.good_file().read_bytes()[:200])
    train(tiny(), checkpoint=ctx.path, resume=True)


@case(FILES, "empty file", CheckpointError,
      UNREADABLE.replace(".*", r"it is empty \(0 bytes\).*", 1), then=never_unsafe_advice)
def _(ctx):
    ctx.path.parent.mkdir()
    ctx.path.write_bytes(b"")
    ctx.load()


@case(FILES, "random bytes", CheckpointError,
      UNREADABLE.replace(".*", r"it does not start as every torch.save file .a zip archive.*", 1),
      then=never_unsafe_advice)
def _(ctx):
    ctx.path.parent.mkdir()
    ctx.path.write_bytes(np.random.default_rng(0).bytes(5000))
    ctx.load()


@case(FILES, "random bytes behind a zip signature", CheckpointError,
      UNREADABLE.replace(".*", r"the zip archive is incomplete.*", 1), then=never_unsafe_advice)
def _(ctx):
    ctx.path.parent.mkdir()
    ctx.path.write_bytes(b"PK\x03\x04" + np.random.default_rng(1).bytes(5000))
    ctx.load()


@case(FILES, "one flipped bit in the weights", CheckpointError,
      UNREADABLE.replace(".*", r"its part \w+/data/0 fails its CRC check.*", 1),
      then=never_unsafe_advice)
def _(ctx):
    path = ctx.good_file()
    flip_bit(path, zip_member_offset(path, "/data/0") + 5)
    ctx.load()


@case(FILES, "one flipped bit in the pickled structure", CheckpointError,
      UNREADABLE.replace(".*", r"its part \w+/data.pkl fails its CRC check.*", 1),
      then=never_unsafe_advice)
def _(ctx):
    path = ctx.good_file()
    flip_bit(path, zip_member_offset(path, "/data.pkl") + 40)
    ctx.load()


@case(FILES, "a weight edited and the archive rewritten", CheckpointError,
      CORRUPTED.replace(".*", r"the SHA-256 digest of its values does not match.*edited.*", 1),
      then=never_unsafe_advice)
def _(ctx):
    state = torch.load(ctx.good_file(), weights_only=True)
    state["model"]["1.weight"][0, 0] += 1e-6  # a valid file, CRCs and all, with other values
    torch.save(state, ctx.path)
    ctx.load()


@case(FILES, "the digest removed", CheckpointError, CORRUPTED, then=never_unsafe_advice)
def _(ctx):
    state = torch.load(ctx.good_file(), weights_only=True)
    del state["sha256"]
    torch.save(state, ctx.path)
    ctx.load()


@case(FILES, "a format version from the future", CheckpointError,
      r"tiny.pt was written by a newer cnnlib \(checkpoint format 99; this cnnlib reads formats "
      r"up to 2\): upgrade cnnlib")
def _(ctx):
    state = torch.load(ctx.good_file(), weights_only=True)
    state["version"] = 99
    torch.save(state, ctx.path)
    ctx.load()


def version_1(ctx) -> Path:
    """A checkpoint as cnnlib wrote it before digests: no sha256, no class names."""
    state = torch.load(ctx.good_file(), weights_only=True)
    for key in ("sha256", "optimizer_type", "scheduler_type"):
        del state[key]
    state["version"] = 1
    torch.save(state, ctx.path)
    return ctx.path


@case(FILES, "a version-1 file (no digest) still loads",
      then=lambda ctx, result: result == 1)
def _(ctx):
    run = tiny(seed=1)
    epoch, history = load_checkpoint(version_1(ctx), model=run.model, optimizer=run.optimizer,
                                     scheduler=run.scheduler, loaders=[run.train, run.test])
    assert epoch == 1 and history["epoch"] == [1]
    assert same(weights(run.model), read_checkpoint(ctx.path)["model"])
    return epoch


@case(FILES, "a version-1 file with a flipped bit", CheckpointError,
      UNREADABLE.replace(".*", r"its part \w+/data/0 fails its CRC check.*", 1),
      then=never_unsafe_advice)
def _(ctx):
    path = version_1(ctx)
    flip_bit(path, zip_member_offset(path, "/data/0") + 1)
    ctx.load()


called = []


class Payload:
    """Unpickling this calls ``called.append``: what a malicious file does with ``os.system``."""

    def __reduce__(self):
        return called.append, ("code from the file",)


def nothing_ran(ctx, error):
    assert called == [] and "trust" in str(error)


@case(FILES, "a malicious pickle", CheckpointError,
      r"contains arbitrary Python objects.*execute code from the file.*If you trust where the "
      r"file came from, load it by hand with torch.load\(.*weights_only=False\)", then=nothing_ran)
def _(ctx):
    ctx.path.parent.mkdir()
    torch.save({"model": Payload()}, ctx.path)
    ctx.load()


@case(FILES, "a plain state_dict, not a checkpoint", CheckpointError,
      r"is not a cnnlib checkpoint \(found \['0.bias', '0.weight'\]\). A plain state_dict "
      r"loads with model.load_state_dict\(torch.load")
def _(ctx):
    ctx.path.parent.mkdir()
    torch.save(nn.Sequential(nn.Linear(2, 2)).state_dict(), ctx.path)
    ctx.load()


@case(FILES, "a folder given as the file", IsADirectoryError,
      r"runs is a folder, not a checkpoint file: give the path of the file in it")
def _(ctx):
    ctx.path.parent.mkdir()
    ctx.load(ctx.path.parent)


@case(FILES, "a file that is not there", FileNotFoundError,
      r"no checkpoint at .*tiny.pt.*check the path, or train without resume to create it")
def _(ctx):
    ctx.load()


@case(FILES, "a file nobody may read", PermissionError, r"tiny.pt", root_skips=True)
def _(ctx):
    ctx.good_file().chmod(0o000)
    try:
        ctx.load()
    finally:
        ctx.path.chmod(0o600)


# === checkpoint values ==========================================================================

VALUES = "checkpoint values"


def save_row(ctx, **values):
    """Save a checkpoint whose history's second row holds ``values``, over a good file."""
    run = tiny()
    ctx.good_file()
    rows = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5, **values}]
    save_checkpoint(ctx.path, model=run.model, epoch=2, history=rows)
    return read_checkpoint(ctx.path)["history"][1]


def save_extra(ctx, extra):
    run = tiny()
    ctx.good_file()
    save_checkpoint(ctx.path, model=run.model, epoch=2, history=[], extra=extra)
    return read_checkpoint(ctx.path)["extra"]


def nothing_written(ctx, error):
    assert ctx.intact() and no_leftovers(ctx.path.parent)
    assert str(ctx.path) in str(error)


def exactly(expected: dict):
    def check(ctx, stored):
        for key, value in expected.items():
            assert stored[key] == value and type(stored[key]) is type(value), (key, stored[key])
    return check


@case(VALUES, "NumPy float32 in the history becomes the same float",
      then=exactly({"lr": float(np.float32(0.1))}))
def _(ctx):
    return save_row(ctx, lr=np.float32(0.1))


@case(VALUES, "NumPy int64 and bool_ in the history become int and bool",
      then=exactly({"count": 7, "ok": True}))
def _(ctx):
    return save_row(ctx, count=np.int64(7), ok=np.bool_(True))


@case(VALUES, "a one-number tensor in the history becomes a float",
      then=exactly({"grad_norm": 0.5}))
def _(ctx):
    return save_row(ctx, grad_norm=torch.tensor(0.5))


@case(VALUES, "NumPy scalars inside a list in the history", then=exactly({"per_class": [0.5, 1]}))
def _(ctx):
    return save_row(ctx, per_class=[np.float64(0.5), np.int32(1)])


@case(VALUES, "a NumPy array in the history", TypeError,
      r"the history may hold only tensors, numbers, strings, None.*weights_only=True.*got a "
      r"ndarray at row 2 \(epoch 2\), key 'grads'\. Convert it first: .*x.tolist\(\) or "
      r"torch.from_numpy\(x\).*Nothing was written to .*tiny.pt", then=nothing_written)
def _(ctx):
    save_row(ctx, grads=np.ones(3))


@case(VALUES, "a Path in the history", TypeError,
      r"the history may hold only .*got a \w*Path at row 2 \(epoch 2\), key 'folder'\. Store "
      r"str\(path\) instead", then=nothing_written)
def _(ctx):
    save_row(ctx, folder=Path("runs"))


class Thing:
    pass


@case(VALUES, "an object in the history", TypeError,
      r"the history may hold only .*got a Thing at row 2 \(epoch 2\), key 'note'\. Store its "
      r"numbers, or its str\(\), instead", then=nothing_written)
def _(ctx):
    save_row(ctx, note=Thing())


@case(VALUES, "a history row that is not a dict", TypeError,
      r"the history's row 1 is a list, not a dict of values. Nothing was written",
      then=nothing_written)
def _(ctx):
    ctx.good_file()
    save_checkpoint(ctx.path, model=tiny().model, epoch=2, history=[[1, 0.5]])


@case(VALUES, "NumPy float64 in extra becomes a float", then=exactly({"mean": 0.5}))
def _(ctx):
    return save_extra(ctx, {"mean": np.float64(0.5)})


@case(VALUES, "a NumPy array in extra", TypeError,
      r"extra may hold only tensors.*got a ndarray at extra\['std'\]\. Convert it first",
      then=nothing_written)
def _(ctx):
    save_extra(ctx, {"std": np.array([0.3, 0.3])})


@case(VALUES, "a Path in extra", TypeError,
      r"extra may hold only .*got a \w*Path at extra\['root'\]\. Store str\(path\)",
      then=nothing_written)
def _(ctx):
    save_extra(ctx, {"root": Path("data")})


@case(VALUES, "a function in extra", TypeError,
      r"extra may hold only .*got a function at extra\['transform'\]\[0\]\. Store its name "
      r"instead: a checkpoint cannot hold code", then=nothing_written)
def _(ctx):
    save_extra(ctx, {"transform": [lambda x: x]})


@case(VALUES, "an optimizer whose param group holds a Path", TypeError,
      r"the optimizer's state may hold only .*got a \w*Path at "
      r"optimizer\['param_groups'\]\[0\]\['log'\]", then=nothing_written)
def _(ctx):
    run = tiny()
    ctx.good_file()
    run.optimizer.param_groups[0]["log"] = Path("log.txt")
    save_checkpoint(ctx.path, model=run.model, optimizer=run.optimizer, epoch=2, history=[])


@case(VALUES, "weights that went NaN", FloatingPointError,
      r"not saving .*tiny.pt: the model's 1.weight holds NaN.*previous checkpoint.*kept",
      then=nothing_written)
def _(ctx):
    run = tiny()
    ctx.good_file()
    with torch.no_grad():
        run.model[1].weight[0, 0] = float("nan")
    save_checkpoint(ctx.path, model=run.model, epoch=2, history=[])


@case(VALUES, "a negative epoch", ValueError, r"epoch must be a non-negative int, got -1")
def _(ctx):
    save_checkpoint(ctx.path, model=tiny().model, epoch=-1, history=[])


# === destinations ===============================================================================

PLACES = "destinations"


def untrained(ctx, error):
    """Refused before the first epoch: nothing was trained."""
    assert same(weights(ctx.run.model), ctx.start)


def before_training(ctx, **kwargs):
    ctx.run = tiny()
    ctx.start = weights(ctx.run.model)
    train(ctx.run, **kwargs)


@case(PLACES, "a folder as the checkpoint path", IsADirectoryError,
      r"checkpoint='.*runs' is a folder, not a file: give the path of a file in it, such as "
      r"'.*runs/run.pt'", then=untrained)
def _(ctx):
    ctx.path.parent.mkdir()
    before_training(ctx, checkpoint=ctx.path.parent)


@case(PLACES, "a read-only folder", PermissionError,
      r"cannot write the checkpoint .*tiny.pt \(Permission denied\): the folder .*runs is not "
      r"writable .*choose a folder you can write to", then=untrained, root_skips=True)
def _(ctx):
    ctx.path.parent.mkdir()
    ctx.path.parent.chmod(0o500)
    try:
        before_training(ctx, checkpoint=ctx.path)
    finally:
        ctx.path.parent.chmod(0o700)


def refuse_writes(ctx, code=errno.EACCES):
    def mkstemp(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    ctx.mp.setattr(tempfile, "mkstemp", mkstemp)


@case(PLACES, "a read-only folder (simulated, for root)", PermissionError,
      r"cannot write the checkpoint .*tiny.pt \(Permission denied\): the folder .*runs is not "
      r"writable .*choose a folder you can write to .checkpoint=..., or CNNLIB_CHECKPOINTS",
      then=untrained)
def _(ctx):
    refuse_writes(ctx)
    before_training(ctx, checkpoint=ctx.path)


@case(PLACES, "a file where the folder should be", FileExistsError,
      r"cannot write the checkpoint .*runs/tiny.pt .*a file is in the way of the folder .*runs: "
      r"choose another folder, or remove that file", then=untrained)
def _(ctx):
    ctx.path.parent.write_text("not a folder")
    before_training(ctx, checkpoint=ctx.path)


@case(PLACES, "a full disk before the first epoch", OSError,
      r"cannot write the checkpoint .*tiny.pt \(No space left on device\): the disk that holds "
      r".*runs is full: free some space, or choose a folder on another disk", then=untrained)
def _(ctx):
    refuse_writes(ctx, errno.ENOSPC)
    before_training(ctx, checkpoint=ctx.path)


@case(PLACES, "less room than the weights need", OSError,
      r"the disk that holds .*runs has 100 bytes free, but a checkpoint of this model needs "
      r"more than 652 \(its weights alone\): free some space", then=untrained)
def _(ctx):
    ctx.mp.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(free=100))
    before_training(ctx, checkpoint=ctx.path)


@case(PLACES, "a checkpoint path that is a number", TypeError,
      r"checkpoint must be a file path \(a str or pathlib.Path\), got a int: 7", then=untrained)
def _(ctx):
    before_training(ctx, checkpoint=7)


@case(PLACES, "an empty checkpoint path", ValueError,
      r"checkpoint is an empty path: give a file path such as 'runs/run.pt', or "
      r"checkpoint=None", then=untrained)
def _(ctx):
    before_training(ctx, checkpoint="")


def stopped_after_2(ctx, error):
    """The history of the completed epochs is on the error; the file holds epoch 1, intact;
    the model holds epoch 2, as the history says."""
    assert error.history["epoch"] == [1, 2] and error.epoch == 2 and error.saved == 1
    assert read_checkpoint(ctx.path)["epoch"] == 1 and no_leftovers(ctx.path.parent)
    assert isinstance(error.__cause__, OSError)
    reference = tiny()
    train(reference, epochs=2)
    assert same(weights(ctx.run.model), weights(reference.model))


def train_to_fail(ctx, **kwargs):
    ctx.run = tiny()
    return train(ctx.run, **kwargs)


@case(PLACES, "a full disk on the save of epoch 2", CheckpointSaveError,
      r"could not save the checkpoint of epoch 2: cannot write the checkpoint .*tiny.pt \(No "
      r"space left on device\): the disk that holds .*runs is full: free some space.* Training "
      r"stopped after epoch 2; the checkpoint .*tiny.pt still holds epoch 1, intact; the 2 "
      r"completed epoch\(s\) are in this error's .history, and the model holds the weights of "
      r"epoch 2; fix the cause, then continue with fit\(..., checkpoint='.*tiny.pt', "
      r"resume=True\)", then=stopped_after_2)
def _(ctx):
    fail_save(ctx.mp, 2, disk_full())
    train_to_fail(ctx, checkpoint=ctx.path)


@case(PLACES, "the rename failing on the save of epoch 2", CheckpointSaveError,
      r"could not save the checkpoint of epoch 2: cannot write the checkpoint .*tiny.pt "
      r"\(Invalid cross-device link\).*still holds epoch 1, intact", then=stopped_after_2)
def _(ctx):
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        return real(src, dst)
    ctx.mp.setattr(ckpt.os, "replace", replace)
    train_to_fail(ctx, checkpoint=ctx.path)


def nothing_saved(ctx, error):
    assert error.history["epoch"] == [1] and error.saved is None and not ctx.path.exists()


@case(PLACES, "a full disk on the first save", CheckpointSaveError,
      r"could not save the checkpoint of epoch 1: .*No space left.*Training stopped after epoch "
      r"1; no checkpoint was saved to .*tiny.pt; the 1 completed epoch\(s\) are in this error's "
      r".history.*build the model again and train again", then=nothing_saved)
def _(ctx):
    fail_save(ctx.mp, 1, disk_full())
    train(tiny(), checkpoint=ctx.path)


@case(PLACES, "the folder turning read-only after epoch 1", CheckpointSaveError,
      r"could not save the checkpoint of epoch 2: .*is not writable.*still holds epoch 1, intact")
def _(ctx):
    train(tiny(), checkpoint=ctx.path,
          callbacks=[lambda epoch, history: refuse_writes(ctx) if epoch == 1 else None])


@case(PLACES, "the folder deleted during the run is made again",
      then=lambda ctx, history: read_checkpoint(ctx.path)["epoch"] == 3)
def _(ctx):
    history = train(tiny(), checkpoint=ctx.path, callbacks=[
        lambda epoch, h: shutil.rmtree(ctx.path.parent) if epoch == 1 else None])
    assert history["epoch"] == [1, 2, 3] and read_checkpoint(ctx.path)["epoch"] == 3
    return history


@case(PLACES, "a finished run resumed from a read-only folder only reads its file")
def _(ctx):
    ctx.good_file(epochs=3)
    refuse_writes(ctx)
    run = tiny()
    history = train(run, checkpoint=ctx.path, resume=True)
    assert history["epoch"] == [1, 2, 3] and ctx.intact()
    assert same(weights(run.model), read_checkpoint(ctx.path)["model"])


@case(PLACES, "a read-only folder with epochs left to train", PermissionError,
      r"cannot write the checkpoint .*tiny.pt \(Permission denied\)")
def _(ctx):
    ctx.good_file(epochs=2)
    refuse_writes(ctx)
    train(tiny(), checkpoint=ctx.path, resume=True)


@case(PLACES, "BestCheckpoint into a folder fails when it is made", IsADirectoryError,
      r"checkpoint='.*runs' is a folder, not a file")
def _(ctx):
    ctx.path.parent.mkdir()
    BestCheckpoint(ctx.path.parent, tiny().model)


@case(PLACES, "BestCheckpoint with a NumPy array in extra fails when it is made", TypeError,
      r"extra may hold only .*got a ndarray at extra\['mean'\]. Convert it first")
def _(ctx):
    BestCheckpoint(ctx.path, tiny().model, extra={"mean": np.zeros(3)})


# === fit arguments ==============================================================================

ARGS = "fit arguments"


def loaders(images: int = 8):
    data = torch.zeros(images, 1, 4, 4, dtype=torch.uint8)
    return TensorLoader(data, torch.zeros(images, dtype=torch.long), batch_size=8)


def empty_loader():
    """A loader with no batches. TensorLoader refuses to be built empty, so fit's own check is
    reached only through other loaders, such as a DataLoader over an empty dataset."""
    dataset = torch.utils.data.TensorDataset(torch.zeros(0, 1, 4, 4),
                                             torch.zeros(0, dtype=torch.long))
    return torch.utils.data.DataLoader(dataset, batch_size=8)


@case(ARGS, "an empty training loader", ValueError,
      r"the training loader has no batches \(len\(train_loader\) == 0\): its dataset is empty, "
      r"or smaller than one batch with drop_last=True. Check the dataset's size and the batch "
      r"size")
def _(ctx):
    fit(tiny().model, empty_loader(), epochs=1, progress=False)


@case(ARGS, "an empty test loader", ValueError,
      r"the test loader has no batches \(len\(test_loader\) == 0\).*or pass test_loader=None")
def _(ctx):
    fit(tiny().model, loaders(8), empty_loader(), epochs=1, progress=False)


class Hollow:
    """A loader whose len() promises a batch that never comes."""

    def __len__(self):
        return 1

    def __iter__(self):
        return iter(())


@case(ARGS, "a loader that says it has batches but yields none", ValueError,
      r"the training loader yielded no batches in epoch 1, although len\(\) said 1: check how it "
      r"iterates")
def _(ctx):
    fit(tiny().model, Hollow(), epochs=1, progress=False)


@case(ARGS, "a generator as the loader", TypeError,
      r"train_loader must be a loader with a length \(a TensorLoader, a torch DataLoader, or a "
      r"list of \(images, labels\) batches\); got a generator")
def _(ctx):
    fit(tiny().model, (batch for batch in loaders(8)), epochs=1, progress=False)


@case(ARGS, "a model without parameters", ValueError,
      r"Flatten has no parameters or buffers, so it has nothing to train.*registered")
def _(ctx):
    fit(nn.Flatten(), loaders(8), epochs=1, progress=False)


@case(ARGS, "a model with buffers only", ValueError,
      r"BatchNorm1d has no trainable parameters \(it has buffers only\), so fit would have "
      r"nothing to update: give it layers with weights")
def _(ctx):
    fit(nn.BatchNorm1d(3, affine=False), loaders(8), epochs=1, progress=False)


@case(ARGS, "a model whose parameters are all frozen", ValueError,
      r"Sequential has no trainable parameters \(all 4 have requires_grad=False\).*unfreeze the "
      r"layers to train with p.requires_grad_\(True\)")
def _(ctx):
    model = tiny().model.requires_grad_(False)
    fit(model, loaders(8), epochs=1, progress=False)


@case(ARGS, "epochs=0 trains nothing and writes nothing")
def _(ctx):
    run = tiny()
    start = weights(run.model)
    history = train(run, epochs=0, checkpoint=ctx.path)
    assert len(history) == 0 and same(weights(run.model), start) and not ctx.path.exists()


@case(ARGS, "negative epochs", ValueError, r"epochs must be a non-negative int, got -2")
def _(ctx):
    train(tiny(), epochs=-2)


@case(ARGS, "a float number of epochs", ValueError, r"epochs must be a non-negative int, got 2.0")
def _(ctx):
    train(tiny(), epochs=2.0)


@case(ARGS, "resume=True without a checkpoint path", ValueError,
      r"resume=True needs checkpoint=<path of the file to resume from>")
def _(ctx):
    train(tiny(), resume=True)


@case(ARGS, "resume='False', a string (truthy)", TypeError,
      r"resume must be True or False, got 'False': resume=True continues the run")
def _(ctx):
    train(tiny(), epochs=1, checkpoint=ctx.path)
    train(tiny(), checkpoint=ctx.path, resume="False")


@case(ARGS, "an optimizer built for another model", ValueError,
      r"the optimizer updates none of the model's parameters: it was built for another model, "
      r"or for this model before it was rebuilt. Build it from this one")
def _(ctx):
    run, other = tiny(), tiny()
    fit(run.model, run.train, epochs=1, optimizer=other.optimizer, progress=False)


@case(ARGS, "a scheduler built for another optimizer", ValueError,
      r"the scheduler was built for another optimizer than the one fit trains with: build it "
      r"from the optimizer you pass to fit")
def _(ctx):
    run, other = tiny(), tiny()
    fit(run.model, run.train, epochs=1, optimizer=run.optimizer, scheduler=other.scheduler,
        progress=False)


@case(ARGS, "a scheduler without its optimizer", ValueError,
      r"the scheduler was built for another optimizer .*with optimizer=None, fit builds its own "
      r"SGD.: pass the scheduler's optimizer too")
def _(ctx):
    run = tiny()
    fit(run.model, run.train, epochs=1, scheduler=run.scheduler, progress=False)


@case(ARGS, "ReduceLROnPlateau, which needs a metric", ValueError,
      r"ReduceLROnPlateau needs one: step it in a callback instead")
def _(ctx):
    run = tiny()
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(run.optimizer)
    fit(run.model, run.train, epochs=1, optimizer=run.optimizer, scheduler=plateau,
        progress=False)


def record(epoch, history):
    pass


@case(ARGS, "a single callback instead of a list", TypeError,
      r"callbacks must be a list of callables, got a single function: pass callbacks=\[record\]")
def _(ctx):
    train(tiny(), callbacks=record)


@case(ARGS, "a callback that is not callable", TypeError,
      r"callbacks\[1\] is a str \('record'\), not a callable: each callback is called as "
      r"callback\(epoch, history\)")
def _(ctx):
    train(tiny(), callbacks=[record, "record"])


def fails_in_epoch_2(epoch, history):
    if epoch == 2:
        raise ValueError("my callback's own bug")


def own_error_with_history(ctx, error):
    assert error.history["epoch"] == [1, 2] and read_checkpoint(ctx.path)["epoch"] == 2


@case(ARGS, "a callback's own error propagates, with the history attached", ValueError,
      r"^my callback's own bug$", then=own_error_with_history)
def _(ctx):
    train(tiny(), checkpoint=ctx.path, callbacks=[fails_in_epoch_2])


@case(ARGS, "StopTraining from a callback returns the history")
def _(ctx):
    def stop(epoch, history):
        if epoch == 2:
            raise StopTraining
    history = train(tiny(), epochs=5, checkpoint=ctx.path, callbacks=[stop])
    assert history["epoch"] == [1, 2] and read_checkpoint(ctx.path)["epoch"] == 2


@case(ARGS, "a callback adding NumPy scalars to the history: saved as numbers")
def _(ctx):
    def add(epoch, history):
        history.last["grad_norm"] = np.float64(epoch / 4)
    history = train(tiny(), checkpoint=ctx.path, callbacks=[add])
    assert history["grad_norm"] == [0.25, 0.5, 0.75]
    saved = read_checkpoint(ctx.path)["history"]  # epoch 3's row was saved before its callback
    assert [row.get("grad_norm") for row in saved] == [0.25, 0.5, None]


def add_array(epoch, history):
    history.last["grads"] = np.ones(2)


def still_resumable(ctx, error):
    """The last good checkpoint is there, it loads, and the history is on the error."""
    assert error.history["epoch"] == [1] and error.saved == 1
    assert read_checkpoint(ctx.path)["epoch"] == 1
    assert measured(train(tiny(), checkpoint=ctx.path, resume=True)) == measured(
        train(tiny()))  # and it resumes to the uninterrupted run


@case(ARGS, "a callback adding a NumPy array to the history", CheckpointSaveError,
      r"the callback add_array put a value into the history that no checkpoint can hold, so the "
      r"next save would fail: the history may hold only .*got a ndarray at row 1 \(epoch 1\), "
      r"key 'grads'. Convert it first.* Training stopped after epoch 1; the checkpoint "
      r".*tiny.pt still holds epoch 1, intact; the 1 completed epoch\(s\) are in this error's "
      r".history", then=still_resumable)
def _(ctx):
    train(tiny(), checkpoint=ctx.path, callbacks=[add_array])


@case(ARGS, "a callback adding a Path to the history", CheckpointSaveError,
      r"the callback <lambda> put a value .*got a \w*Path at row 1 \(epoch 1\), key 'saved_to'. "
      r"Store str\(path\) instead", then=still_resumable)
def _(ctx):
    train(tiny(), checkpoint=ctx.path,
          callbacks=[lambda epoch, history: history.last.update(saved_to=ctx.tmp)])


@case(ARGS, "a NumPy array in the history without a checkpoint: kept, nothing to save")
def _(ctx):
    history = train(tiny(), epochs=2, callbacks=[add_array])
    assert [type(g) for g in history["grads"]] == [np.ndarray, np.ndarray]


def nan_at(model: nn.Module, call: int):
    """The ``call``-th training batch's output becomes NaN."""
    calls = []

    def hook(module, inputs, output):
        if module.training:
            calls.append(1)
            if len(calls) == call:
                return output * float("nan")
    return model.register_forward_hook(hook)


@case(ARGS, "a loss that becomes NaN: the error carries the history", FloatingPointError,
      r"the training loss became nan in epoch 2, by step 2.*Lower the learning rate",
      then=lambda ctx, error: error.history["epoch"] == [1] or pytest.fail("no history"))
def _(ctx):
    run = tiny()
    nan_at(run.model, STEPS + 2)
    train(run, checkpoint=ctx.path)


@case(ARGS, "evaluate on an empty loader", ValueError,
      r"evaluate\(\) got a loader with no batches: check the dataset and its size")
def _(ctx):
    evaluate(tiny().model, empty_loader())


@case(ARGS, "predict on an empty loader", ValueError,
      r"predict\(\) got a loader with no batches: check the dataset and its size")
def _(ctx):
    predict(tiny().model, empty_loader())


@case(ARGS, "evaluate with a model without parameters", ValueError,
      r"Flatten has no parameters or buffers")
def _(ctx):
    evaluate(nn.Flatten(), loaders(8))


# === interrupts and resuming ====================================================================

RESUME = "interrupts and resuming"


def ctrl_c(ctx, call: int, training: bool = True, epochs: int = 3, **kwargs):
    """Train with Ctrl-C at the ``call``-th forward pass; return (history, printed line)."""
    ctx.run = tiny()
    ctx.recorder = Recorder(ctx.run)
    press_ctrl_c(ctx.run.model, call, training)
    history = train(ctx.run, epochs=epochs, checkpoint=ctx.path,
                    callbacks=[ctx.recorder, *kwargs.pop("callbacks", [])], **kwargs)
    return history, ctx.printed()


@case(RESUME, "Ctrl-C in the middle of epoch 2: model and history agree")
def _(ctx):
    history, out = ctrl_c(ctx, STEPS + 2)
    assert history["epoch"] == [1] and ctx.recorder.matches(1)
    assert ctx.run.scheduler.get_last_lr() == [0.05]
    assert out == (f"Interrupted in epoch 2 at step 2 of {STEPS}: returning the 1 completed "
                   "epoch(s), with the model, optimiser and scheduler back at the end of epoch 1; "
                   f"the last checkpoint is {ctx.path} (epoch 1); continue with fit(..., "
                   f"checkpoint={str(ctx.path)!r}, resume=True).\n")


@case(RESUME, "Ctrl-C in the first epoch: the model is as it was given")
def _(ctx):
    history, out = ctrl_c(ctx, 3)
    assert len(history) == 0 and ctx.recorder.matches(0)
    assert "back as they were before the first epoch; no checkpoint was saved to" in out


@case(RESUME, "Ctrl-C during the evaluation: the scheduler's step is undone too")
def _(ctx):
    history, out = ctrl_c(ctx, 2, training=False)  # the test set is one batch: epoch 2's
    assert history["epoch"] == [1] and ctx.recorder.matches(1)
    assert ctx.run.scheduler.get_last_lr() == [0.05] and ctx.run.optimizer.param_groups[0][
        "lr"] == 0.05
    assert out.startswith("Interrupted in epoch 2 during the evaluation: returning the 1 ")


@case(RESUME, "Ctrl-C during the save of epoch 2: the model holds epoch 2, the file epoch 1")
def _(ctx):
    fail_save(ctx.mp, 2, KeyboardInterrupt())
    history, out = ctrl_c(ctx, 10 ** 6)
    ctx.mp.undo()
    reference = tiny()
    train(reference, epochs=2)
    assert history["epoch"] == [1, 2] and same(weights(ctx.run.model), weights(reference.model))
    assert read_checkpoint(ctx.path)["epoch"] == 1 and no_leftovers(ctx.path.parent)
    assert out.startswith("Interrupted while saving epoch 2: returning the 2 completed epoch(s)")
    assert f"the last checkpoint is {ctx.path} (epoch 1)" in out


@case(RESUME, "Ctrl-C in a callback after epoch 2: the file holds epoch 2")
def _(ctx):
    def interrupt(epoch, history):
        if epoch == 2:
            raise KeyboardInterrupt
    history, out = ctrl_c(ctx, 10 ** 6, callbacks=[interrupt])
    assert history["epoch"] == [1, 2] and ctx.recorder.matches(2)
    assert read_checkpoint(ctx.path)["epoch"] == 2
    assert out.startswith("Interrupted in the callbacks after epoch 2: returning the 2 ")


@pytest.fixture(scope="module")
def uninterrupted():
    run = tiny()
    history = train(run)
    return weights(run.model), measured(history)


@case(RESUME, "Ctrl-C, then resume in a fresh process: bit for bit the uninterrupted run")
def _(ctx):
    ctrl_c(ctx, 2 * STEPS + 1)
    run = tiny()
    history = train(run, checkpoint=ctx.path, resume=True)
    assert ctx.is_reference(run.model, history)


@case(RESUME, "Ctrl-C in epoch 1, then resume=True with the same objects: a clean start")
def _(ctx):
    ctrl_c(ctx, 2)  # no file yet; the model, optimiser, loaders and generators are put back
    history = train(ctx.run, checkpoint=ctx.path, resume=True)
    assert ctx.is_reference(ctx.run.model, history)


def part_trained_refused(ctx):
    return train(ctx.run, checkpoint=ctx.path, resume=True)


REFUSED = (r"resume=True, but there is no checkpoint at .*tiny.pt to resume from, and this "
           r"Sequential was already trained by an earlier fit\(..., checkpoint='.*tiny.pt'\) that "
           r"left no file there: its weights are part-trained.*Build the model \(and its "
           r"optimizer and scheduler\) again and run again; or pass resume=False")


@case(RESUME, "Ctrl-C during the first save, then resume=True with the same model", ValueError,
      REFUSED)
def _(ctx):
    fail_save(ctx.mp, 1, KeyboardInterrupt())
    history, _ = ctrl_c(ctx, 10 ** 6)
    assert history["epoch"] == [1] and not ctx.path.exists()
    part_trained_refused(ctx)


@case(RESUME, "a NaN at step 2 of epoch 1, then resume=True with the same model", ValueError,
      REFUSED)
def _(ctx):
    ctx.run = tiny()
    handle = nan_at(ctx.run.model, 2)  # one step was taken before it
    with pytest.raises(FloatingPointError):
        train(ctx.run, checkpoint=ctx.path)
    handle.remove()
    part_trained_refused(ctx)


@case(RESUME, "resume=True without a file, with a new model: starts afresh")
def _(ctx):
    run = tiny()
    history = train(run, checkpoint=ctx.path, resume=True)
    assert ctx.is_reference(run.model, history)


def resume_with(ctx, change: Callable):
    """Save epoch 1, then resume it with the parts that ``change(run)`` altered."""
    ctx.good_file(epochs=1)
    run = tiny()
    change(run)
    ctx.run, ctx.start = run, weights(run.model)
    train(run, checkpoint=ctx.path, resume=True)


def nothing_loaded(ctx, error):
    assert same(weights(ctx.run.model), ctx.start) and ctx.intact()


@case(RESUME, "resume with another optimizer type", CheckpointError,
      r"the checkpoint .*tiny.pt was saved with optimizer SGD, but optimizer Adam was given: "
      r"their states do not mix. Pass a SGD built as in the run that saved it",
      then=nothing_loaded)
def _(ctx):
    def adam(run):
        run.optimizer, run.scheduler = torch.optim.Adam(run.model.parameters()), None
    resume_with(ctx, adam)


@case(RESUME, "resume with another scheduler type", CheckpointError,
      r"was saved with scheduler StepLR, but scheduler ExponentialLR was given: their states do "
      r"not mix", then=nothing_loaded)
def _(ctx):
    def exponential(run):
        run.scheduler = torch.optim.lr_scheduler.ExponentialLR(run.optimizer, 0.9)
    resume_with(ctx, exponential)


@case(RESUME, "resume without the scheduler the run was saved with", CheckpointError,
      r"was saved with scheduler StepLR, but scheduler=None was given: resuming without it would "
      r"change the run. Pass a scheduler built as in the run that saved it", then=nothing_loaded)
def _(ctx):
    resume_with(ctx, lambda run: setattr(run, "scheduler", None))


@case(RESUME, "resume with a scheduler the run was saved without", CheckpointError,
      r"holds no scheduler state, but scheduler StepLR was given: pass scheduler=None")
def _(ctx):
    train(tiny(scheduler=False), epochs=1, checkpoint=ctx.path)
    train(tiny(), checkpoint=ctx.path, resume=True)


@case(RESUME, "resume with a model of other shapes", CheckpointError,
      r"the checkpoint .*tiny.pt does not fit the model/optimiser/scheduler given \(was it saved "
      r"from a different one\?\): the model is a Sequential, and 1.weight is 8×16 in the file, "
      r"6×16 in the model.*Build the model the run was saved from", then=nothing_loaded)
def _(ctx):
    def narrower(run):
        other = tiny(hidden=6)
        run.model, run.optimizer, run.scheduler = other.model, other.optimizer, other.scheduler
    resume_with(ctx, narrower)


@case(RESUME, "resume with a model trained further than the file: the file's weights win")
def _(ctx):
    ctx.good_file(epochs=1)
    run = tiny()
    train(run, epochs=3)  # trained further, with no checkpoint
    history = train(run, checkpoint=ctx.path, resume=True)
    assert ctx.is_reference(run.model, history)


@case(RESUME, "resume with fewer loaders than were saved", CheckpointError,
      r"holds the state of 2 loader\(s\) but 1 were given: pass the same loaders, in the same "
      r"order", then=nothing_loaded)
def _(ctx):
    resume_with(ctx, lambda run: setattr(run, "test", None))


@case(RESUME, "resume with fewer epochs than were saved: the saved history, no training")
def _(ctx):
    ctx.good_file(epochs=3)
    run = tiny()
    history = train(run, epochs=2, checkpoint=ctx.path, resume=True)
    assert history["epoch"] == [1, 2, 3] and ctx.intact()
    assert same(weights(run.model), read_checkpoint(ctx.path)["model"])


@case(RESUME, "resume a file without optimizer state with an optimizer", CheckpointError,
      r"holds no optimizer state, but optimizer SGD was given: pass optimizer=None")
def _(ctx):
    run = tiny()
    save_checkpoint(ctx.path, model=run.model, epoch=1, history=[])  # as BestCheckpoint saves
    load_checkpoint(ctx.path, model=run.model, optimizer=run.optimizer)


# === issue 27: one run, one file per writer; the model against its data; finished epochs =======
# Found by a tester who had not read these suites: every case lost work, trained on the wrong
# thing silently, or failed with a traceback from inside torch.

MODEL = "the model against its data"


@case(PLACES, "checkpoint and BestCheckpoint on one path", ValueError,
      r"checkpoint= and BestCheckpoint would write the same file, .*tiny.pt: the one written "
      r"last would replace the other .*Give each its own path, e.g. .*tiny_best.pt",
      then=untrained)
def _(ctx):
    run = tiny()
    ctx.run, ctx.start = run, weights(run.model)
    train(run, checkpoint=ctx.path, callbacks=[BestCheckpoint(ctx.path, run.model)])


@case(PLACES, "two BestCheckpoints on one path, one spelt with ..", ValueError,
      r"BestCheckpoint and BestCheckpoint would write the same file", then=untrained)
def _(ctx):
    run = tiny()
    ctx.run, ctx.start = run, weights(run.model)
    other = ctx.path.parent / ".." / "runs" / ctx.path.name
    train(run, callbacks=[BestCheckpoint(ctx.path, run.model, key="train_acc"),
                          BestCheckpoint(other, run.model, key="train_loss")])


@case(PLACES, "a checkpoint path with ~: the home folder, not a folder named ~")
def _(ctx):
    ctx.mp.setenv("HOME", str(ctx.tmp / "home"))
    ctx.mp.chdir(ctx.tmp)
    train(tiny(), epochs=1, checkpoint="~/runs/x.pt")
    assert (ctx.tmp / "home" / "runs" / "x.pt").is_file() and not (ctx.tmp / "~").exists()


@case(PLACES, "a checkpoint path with ~ and a user that does not exist", ValueError,
      r"checkpoint='~nosuchuser_cnnlib/run.pt' starts with '~nosuchuser_cnnlib', but there is "
      r"no home folder for it \(no such user, or HOME is not set\): write the full path",
      then=untrained)
def _(ctx):
    before_training(ctx, checkpoint="~nosuchuser_cnnlib/run.pt")


@case(PLACES, "a BestCheckpoint on the checkpoint's lock file", ValueError,
      r"BestCheckpoint would write .*tiny.pt.lock, but a name ending in .lock is the lock file "
      r"fit keeps beside a checkpoint .*Give a path that does not end in .lock", then=untrained)
def _(ctx):
    run = tiny()
    ctx.run, ctx.start = run, weights(run.model)
    lock = ctx.path.with_name(ctx.path.name + ".lock")
    try:
        train(run, checkpoint=ctx.path,
              callbacks=[BestCheckpoint(lock, run.model, key="train_acc")])
    finally:
        assert not lock.exists() and not ctx.path.exists()


@case(PLACES, "a checkpoint path that ends with /", IsADirectoryError,
      r"checkpoint='.*runs/' ends with a separator, so it names a folder, not a file: give the "
      r"path of a file in it, such as '.*runs/run.pt'", then=untrained)
def _(ctx):
    before_training(ctx, checkpoint=str(ctx.path.parent) + "/")
    assert not ctx.path.parent.exists()


@case(PLACES, "a checkpoint that is a symbolic link (a Drive file): written through")
def _(ctx):
    drive = ctx.tmp / "drive" / "tiny.pt"
    drive.parent.mkdir()
    train(tiny(), epochs=1, checkpoint=drive)
    ctx.path.parent.mkdir()
    ctx.path.symlink_to(drive)
    history = train(tiny(), epochs=2, checkpoint=ctx.path, resume=True)
    assert ctx.path.is_symlink() and history["epoch"] == [1, 2]
    assert read_checkpoint(drive)["epoch"] == 2


@case(PLACES, "BestCheckpoint built for another model", ValueError,
      r"BestCheckpoint was built for another model than the one fit trains \(a Sequential that "
      r"shares no weights with this Sequential\): it would save weights that were never "
      r"trained. Build it with the model you pass to fit", then=untrained)
def _(ctx):
    run, other = tiny(), tiny()
    ctx.run, ctx.start = run, weights(run.model)
    train(run, callbacks=[BestCheckpoint(ctx.path, other.model)])


@case(PLACES, "BestCheckpoint watching test_loss keeps the lowest")
def _(ctx):
    run = tiny()
    best = BestCheckpoint(ctx.path, run.model, key="test_loss")
    history = train(run, epochs=3, callbacks=[best])
    losses = history["test_loss"]
    assert best.best == min(losses) and best.epoch == 1 + losses.index(min(losses))
    assert read_checkpoint(ctx.path)["epoch"] == best.epoch and "%" not in repr(best)


@case(PLACES, "BestCheckpoint on a key of unknown direction", ValueError,
      r"BestCheckpoint cannot tell whether a higher 'lr' is better: say so with higher=True")
def _(ctx):
    BestCheckpoint(ctx.path, tiny().model, key="lr")


def labelled(labels, num_classes=None, **kwargs):
    images = torch.zeros(len(labels), 1, 4, 4, dtype=torch.uint8)
    return TensorLoader(images, torch.as_tensor(labels), batch_size=4, num_classes=num_classes,
                        **kwargs)


def fit_model(ctx, model, train_loader=None, test_loader=None, **kwargs):
    """fit ``model`` (weights kept in ``ctx.start``) on a loader of labels 0..2."""
    ctx.run = SimpleNamespace(model=model)
    ctx.start = weights(model)
    return fit(model, train_loader or labelled([0, 1, 2, 0]), test_loader, epochs=1,
               progress=False, **kwargs)


class Returns(nn.Module):
    """The tiny model, with its output passed through ``then``."""

    def __init__(self, then):
        super().__init__()
        self.net, self.then = tiny().model, then

    def forward(self, x):
        return self.then(self.net(x))


@case(MODEL, "a loss module instead of a loss function", TypeError,
      r"loss_fn is the module CrossEntropyLoss\(\), but fit and evaluate need a loss function "
      r"that takes reduction= .*pass F.cross_entropy, or functools.partial", then=untrained)
def _(ctx):
    fit_model(ctx, tiny().model, test_loader=labelled([0, 1]), loss_fn=nn.CrossEntropyLoss())


@case(MODEL, "labels beyond the model's outputs", ValueError,
      r"a label is 7, but the model has 3 outputs \(classes 0 to 2\): build it with as many "
      r"outputs as the data has classes \(e.g. num_classes=8\)", then=untrained)
def _(ctx):
    fit_model(ctx, tiny().model, labelled([0, 1, 7, 2]))


@case(MODEL, "test labels beyond the model's outputs: before training", ValueError,
      r"the test loader has a label 5, but the model has 3 outputs", then=untrained)
def _(ctx):
    fit_model(ctx, tiny().model, test_loader=labelled([0, 5]))


@case(MODEL, "float labels with a classification loss", RuntimeError,
      r"the loss failed on the first batch: the model's output is \(4, 3\) torch.float32, the "
      r"labels are \(4,\) torch.float32. Class labels must be integers: convert them with "
      r"labels.long\(\)", then=untrained)
def _(ctx):
    fit_model(ctx, tiny().model, labelled([0.0, 1.0, 2.0, 0.0]))


@case(MODEL, "a float64 model", TypeError,
      r"the model's weights are torch.float64, but the loader gives torch.float32 images: "
      r"convert the model with model.float\(\)", then=untrained)
def _(ctx):
    fit_model(ctx, tiny().model.double())


@case(MODEL, "a model that returns a tuple", TypeError,
      r"the model returned a tuple, not a tensor of logits: .*Return them from forward\(\)",
      then=untrained)
def _(ctx):
    fit_model(ctx, Returns(lambda logits: (logits, logits)))


@case(MODEL, "a model that returns N×C×1×1 scores", ValueError,
      r"the model returned 4×3×1×1 scores \(N×C×1×1\), not N×C: flatten them .*x.flatten\(1\)",
      then=untrained)
def _(ctx):
    fit_model(ctx, Returns(lambda logits: logits[:, :, None, None]))


@case(MODEL, "more outputs than the data has classes", ValueError,
      r"the model has 3 outputs, but the data has 2 classes \(the loader's num_classes\).*Build "
      r"it with num_classes=2", then=untrained)
def _(ctx):
    fit_model(ctx, tiny().model, labelled([0, 1, 1, 0], num_classes=2))


@case(MODEL, "fit(model, train, train): a warning (chapter 3 makes this slip on purpose)",
      SameLoaderWarning,
      r"test_loader is the training loader itself: the test accuracy will measure memory, not "
      r"generalisation. Pass the test split, e.g. data.test, or test_loader=None",
      then=untrained)
def _(ctx):
    train_loader = labelled([0, 1, 2, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SameLoaderWarning)
        fit_model(ctx, tiny().model, train_loader, train_loader)


@case(MODEL, "a test loader that drops its last batch", ValueError,
      r"the test loader drops its last, incomplete batch \(drop_last=True\), so 2 of its 10 "
      r"images would never be evaluated: build it with drop_last=False", then=untrained)
def _(ctx):
    fit_model(ctx, tiny().model, test_loader=labelled([0, 1] * 5, drop_last=True))


@case(MODEL, "evaluate(model, data) with the whole bundle", TypeError,
      r"evaluate got the whole DataBundle \(its .train and .test\) as loader, not one loader: "
      r"pass data.test")
def _(ctx):
    loader = labelled([0, 1])
    evaluate(tiny().model, DataBundle(loader, loader, ("a", "b"), (0.0,), (1.0,), (1, 4, 4)))


@case(MODEL, "evaluate with a model that returns a tuple", TypeError,
      r"the model returned a tuple, not a tensor of logits")
def _(ctx):
    evaluate(Returns(lambda logits: (logits,)), labelled([0, 1]))


@case(MODEL, "evaluate with a loss module", TypeError, r"loss_fn is the module NLLLoss\(\)")
def _(ctx):
    evaluate(tiny().model, labelled([0, 1]), nn.NLLLoss())


@case(ARGS, "lr as a string", TypeError,
      r"lr must be a number, got the string '0.01': write lr=0.01")
def _(ctx):
    fit(tiny().model, loaders(8), epochs=1, lr="0.01", progress=False)


def one_cycle_for(run, epochs):
    return torch.optim.lr_scheduler.OneCycleLR(run.optimizer, max_lr=0.1,
                                               total_steps=epochs * STEPS)


@case(ARGS, "a one-cycle schedule stepped per epoch", ValueError,
      r"OneCycleLR counts optimiser steps \(12 in all\), but fit would step it once per epoch, "
      r"so it would never anneal: pass scheduler_per_batch=True")
def _(ctx):
    run = tiny()
    run.scheduler = one_cycle_for(run, 3)
    train(run, epochs=3)


@case(ARGS, "a one-cycle schedule shorter than the run", ValueError,
      r"the OneCycleLR schedule has 4 step\(s\) left, but fit will take 12 .*Build it for as "
      r"many epochs as fit runs")
def _(ctx):
    run = tiny()
    run.scheduler = one_cycle_for(run, 1)
    train(run, epochs=3, scheduler_per_batch=True)


def nan_gradient_at(model: nn.Module, call: int):
    """The ``call``-th backward pass leaves NaN gradients: the loss was finite, the step is not."""
    calls = []
    weight = model[1].weight

    def hook(grad):
        calls.append(1)
        return grad * float("nan") if len(calls) == call else grad
    return weight.register_hook(hook)


def diverged_unsaved(ctx, error):
    assert error.history["epoch"] == [1] and read_checkpoint(ctx.path)["epoch"] == 1


@case(ARGS, "NaN weights from the last step of an epoch: not recorded, not saved",
      FloatingPointError,
      r"epoch 2 ended with non-finite test_loss and weights \(test_loss nan\): the training "
      r"diverged .*neither recorded nor saved; the checkpoint still holds epoch 1",
      then=diverged_unsaved)
def _(ctx):
    run = tiny()
    nan_gradient_at(run.model, 2 * STEPS)
    train(run, checkpoint=ctx.path)


@case(ARGS, "lr=1e30 on one batch: diverged weights are not saved", FloatingPointError,
      r"epoch 1 ended with non-finite .*no checkpoint was written",
      then=lambda ctx, error: not ctx.path.exists() or pytest.fail("saved"))
def _(ctx):
    images = torch.randint(0, 256, (8, 1, 4, 4), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    data = TensorLoader(images, torch.arange(8) % 3, batch_size=8)
    fit(tiny().model, data, data.__class__(images, torch.arange(8) % 3, batch_size=8),
        epochs=1, lr=1e30, checkpoint=ctx.path, progress=False)


@case(ARGS, "History().best() on an empty history", ValueError,
      r"the history is empty, so it has no best 'test_acc': train first")
def _(ctx):
    History().best()


@case(ARGS, "History.best() without test accuracy", KeyError,
      r"the history has no 'test_acc'; its keys are \['epoch', 'train_acc'\]: pass a test "
      r"loader to fit")
def _(ctx):
    History([{"epoch": 1, "train_acc": 0.5}]).best()


@case(ARGS, "History.best('test_loss') is the lowest loss")
def _(ctx):
    rows = [{"epoch": 1, "test_loss": 2.0}, {"epoch": 2, "test_loss": 0.5},
            {"epoch": 3, "test_loss": 1.0}]
    assert History(rows).best("test_loss")["epoch"] == 2


@case(ARGS, "CNNLIB_PROGRESS=false hides the progress bars")
def _(ctx):
    for value in ("false", "False", "no", "off", "0"):
        ctx.mp.setenv("CNNLIB_PROGRESS", value)
        assert _show(None) is False
    ctx.mp.setenv("CNNLIB_PROGRESS", "1")
    assert _show(None) is True and _show(False) is False


# --- one run per checkpoint, and what a resume changes (issue 27) -----------------------------------

def live_process():
    """A process that runs for the length of a case: another run's stand-in."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    return process


def lock_of(ctx, pid: int, host: str | None = None) -> Path:
    lock = ctx.path.with_name(ctx.path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                "started": "2024-05-01 10:00:00", "token": "theirs"}))
    return lock


def recorded(call) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught]


def other_data(run: SimpleNamespace, images: int = 32, batch_size: int = 8) -> SimpleNamespace:
    data = torch.randint(0, 256, (40, 1, 4, 4), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(0))
    run.train = TensorLoader(data[:images], torch.arange(images) % 3, batch_size=batch_size,
                             augment=True, padding=1, seed=0)
    return run


@case(RESUME, "a second fit on a checkpoint another process trains with", CheckpointInUseError,
      r"the checkpoint .*tiny.pt is in use: process \d+ on .* has been training with it since "
      r"2024-05-01 10:00:00 \(lock file .*tiny.pt.lock\)\. .*resuming would continue the other "
      r"run\. Wait until it ends, or give this run its own checkpoint=",
      then=lambda ctx, error: ctx.intact() and ctx.lock.exists() and ctx.other.kill() is None)
def _(ctx):
    ctx.good_file()
    ctx.other = live_process()
    ctx.lock = lock_of(ctx, ctx.other.pid)
    train(tiny(), checkpoint=ctx.path, resume=True)


@case(RESUME, "a lock from another machine (a shared drive) is refused", CheckpointInUseError,
      r"in use: process 4242 on colab-other has been training .* if that run is over .*, delete "
      r".*tiny.pt.lock", then=lambda ctx, error: ctx.intact() and ctx.lock.exists())
def _(ctx):
    ctx.good_file()
    ctx.lock = lock_of(ctx, 4242, "colab-other")
    train(tiny(), checkpoint=ctx.path, resume=True)


@case(RESUME, "fit in a callback on the run's own checkpoint", CheckpointInUseError,
      r"in use: this process \(another fit call, in a callback or a thread\)",
      then=lambda ctx, error: not ctx.path.with_name("tiny.pt.lock").exists())
def _(ctx):
    train(tiny(), checkpoint=ctx.path, callbacks=[
        lambda epoch, history: train(tiny(seed=2), checkpoint=ctx.path)])


@case(RESUME, "a lock left by a killed run is taken over, with a warning")
def _(ctx):
    ctx.good_file()
    dead = live_process()
    dead.kill()
    dead.wait()
    lock = lock_of(ctx, dead.pid)
    with pytest.warns(StaleLockWarning, match=rf"left by a run \(process {dead.pid} on .*\) "
                                              r"that no longer runs: .*Taking the checkpoint over"):
        history = train(tiny(), checkpoint=ctx.path, resume=True)
    assert history["epoch"] == [1, 2, 3] and not lock.exists()


@case(RESUME, "the lock is gone after the run, an error and Ctrl-C")
def _(ctx):
    lock = ctx.path.with_name("tiny.pt.lock")
    seen = []
    train(tiny(), epochs=1, checkpoint=ctx.path, callbacks=[lambda e, h: seen.append(
        lock.exists())])
    assert seen == [True] and not lock.exists()

    def fail(epoch, history):
        raise RuntimeError("a callback's own error")
    with pytest.raises(RuntimeError):
        train(tiny(), checkpoint=ctx.path, resume=True, callbacks=[fail])
    assert not lock.exists()
    ctrl_c(ctx, 2, resume=True)
    assert not lock.exists() and sorted(p.name for p in ctx.path.parent.iterdir()) == ["tiny.pt"]


@case(RESUME, "resuming with another lr is a warning that names it")
def _(ctx):
    ctx.good_file()
    run = tiny()
    run.optimizer.param_groups[0]["lr"] = 0.05
    assert recorded(lambda: train(run, epochs=2, checkpoint=ctx.path, resume=True)) == [
        "resuming with lr 0.05, the checkpoint was saved with 0.1: the saved optimizer state "
        "replaces it"]
    assert run.optimizer.param_groups[0]["lr"] == 0.025  # the saved run's schedule, as said
    # the file still says the run's own lr: resuming as it began is not warned about
    assert recorded(lambda: train(tiny(), checkpoint=ctx.path, resume=True)) == []


@case(RESUME, "resuming with another dataset or batch size is a warning that names it")
def _(ctx):
    ctx.good_file()
    assert recorded(lambda: train(other_data(tiny(), images=24), epochs=2, checkpoint=ctx.path,
                                  resume=True)) == [
        "resuming with 24 training images, the checkpoint was saved with 32: the remaining "
        "epochs see other data, with another number of steps each"]
    assert recorded(lambda: train(other_data(tiny(), images=24, batch_size=4),
                                  checkpoint=ctx.path, resume=True)) == [
        "resuming with batch size 4, the checkpoint was saved with 8: the remaining epochs take "
        "steps of another size, and another number of them"]


class Renamed(nn.Sequential):
    """Another architecture whose weights have the same names and shapes."""


@case(RESUME, "resuming another architecture with the same weight names", CheckpointError,
      r"does not fit the model given: it was saved from a Sequential \(163 parameters\), but the "
      r"model given is a Renamed \(163\): another architecture\. Build the model",
      then=lambda ctx, error: ctx.intact())
def _(ctx):
    ctx.good_file()
    run = tiny()
    run.model = Renamed(*run.model)
    train(run, checkpoint=ctx.path, resume=True)


@case(RESUME, "a checkpoint saved before the run's identity resumes without a word")
def _(ctx):
    state = torch.load(ctx.good_file(), weights_only=True)
    del state["run"], state["sha256"]
    state["sha256"] = digest(state, ctx.path)
    torch.save(state, ctx.path)
    run = tiny()
    run.optimizer.param_groups[0]["lr"] = 0.05
    assert recorded(lambda: train(run, checkpoint=ctx.path, resume=True)) == []
    assert read_checkpoint(ctx.path)["run"]["lr"] == [0.05]  # what the later saves record


@case(RESUME, "a new run (resume=False) on a finished run's checkpoint is refused before training",
      FileExistsError, r"checkpoint='.*tiny.pt' already holds a run, and resume=False would start a "
      r"new run over it \(nothing is trained or written yet\)\. Pass resume=True to continue that "
      r"run; give this run another checkpoint path; or delete the file",
      then=lambda ctx, error: ctx.intact() and not ctx.path.with_name("tiny.pt.lock").exists())
def _(ctx):
    ctx.good_file(epochs=2)
    run = tiny(seed=1)
    before = weights(run.model)
    try:
        train(run, epochs=1, checkpoint=ctx.path)
    finally:
        assert same(weights(run.model), before)  # not a step taken


# --- the tester's second round: loaders that are not loaders, misused losses -------------------

def warned(category, pattern):
    """A check that the run warned once with ``category``, its message matching ``pattern``."""
    def check(ctx, caught):
        hits = [w for w in caught if issubclass(w.category, category)]
        assert len(hits) == 1 and re.search(pattern, str(hits[0].message), re.S), caught
    return check


def caught_while(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return caught


@case(ARGS, "a tensor given as the training loader", TypeError,
      r"fit got a tensor of shape \(32, 1, 4, 4\) as train_loader, not a loader of \(images, "
      r"labels\) batches: build one, e.g. TensorLoader\(images, labels, batch_size=64\)")
def _(ctx):
    fit(tiny().model, tiny().train.images.float(), None, epochs=1, progress=False)


@case(ARGS, "a dataset given as the training loader", TypeError,
      r"fit got a TensorDataset \(a dataset, one example at a time\) as train_loader, not a "
      r"loader of batches: wrap it, e.g. DataLoader\(dataset, batch_size=64, shuffle=True\)")
def _(ctx):
    data = torch.utils.data.TensorDataset(torch.rand(8, 1, 4, 4), torch.arange(8) % 3)
    fit(tiny().model, data, None, epochs=1, progress=False)


@case(ARGS, "a dataset given to evaluate", TypeError,
      r"evaluate got a TensorDataset \(a dataset, one example at a time\) as loader")
def _(ctx):
    evaluate(tiny().model, torch.utils.data.TensorDataset(torch.rand(8, 1, 4, 4),
                                                          torch.arange(8) % 3))


@case(ARGS, "F.nll_loss on raw scores: a negative loss, warned on the first batch",
      then=warned(LossWarning, r"the loss on the first batch is -?[\d.e-]+, below 0.*Use "
                               r"loss_fn=F.cross_entropy on the scores"))
def _(ctx):
    run = tiny()
    with torch.no_grad():
        run.model[-1].bias.copy_(torch.tensor([5.0, 5.0, 5.0]))  # scores well above 0
    return caught_while(lambda: train(run, epochs=1, loss_fn=torch.nn.functional.nll_loss))


@case(ARGS, "a model ending in softmax trained with F.cross_entropy is warned about",
      then=warned(LossWarning, r"the model's outputs are probabilities already .*F.cross_entropy "
                               r"applies its own softmax.*Remove the final softmax"))
def _(ctx):
    run = tiny()
    run.model.append(nn.Softmax(dim=1))
    return caught_while(lambda: train(run, epochs=1))


@case(ARGS, "MultiStepLR with a checkpoint: refused before the first epoch", TypeError,
      r"the scheduler's state may hold only .*got a Counter at scheduler\['milestones'\].* "
      r"Checked before the first epoch: MultiStepLR cannot be saved in a checkpoint",
      then=untrained)
def _(ctx):
    ctx.run = tiny(scheduler=False)
    ctx.start = weights(ctx.run.model)
    ctx.run.scheduler = torch.optim.lr_scheduler.MultiStepLR(ctx.run.optimizer, [1, 2])
    train(ctx.run, epochs=3, checkpoint=ctx.path)


@case(ARGS, "lr=1e30 on one batch: finite but absurd weights are called diverged",
      then=warned(DivergedWarning, r"epoch 1 ended with a weight of .*e\+\d\d: no trained "
                                   r"network has weights beyond 1e\+08, so the training has "
                                   r"diverged"))
def _(ctx):
    run = tiny(scheduler=False)
    run.train = TensorLoader(run.train.images, run.train.labels, batch_size=32)  # one step
    run.model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))  # stays finite at any rate
    run.optimizer = torch.optim.SGD(run.model.parameters(), lr=1e30)
    return caught_while(lambda: train(run, epochs=1))


@case(ARGS, "a healthy run warns about no loss", then=lambda ctx, caught: not [
    w for w in caught if issubclass(w.category, (LossWarning, AugmentedTestWarning))])
def _(ctx):
    return caught_while(lambda: train(tiny(), epochs=1))


@case(ARGS, "an augmenting test loader is warned about",
      then=warned(AugmentedTestWarning, r"the test loader augments its images \(augment=True\).*"
                                        r"Build it with augment=False"))
def _(ctx):
    run = tiny()
    run.test = TensorLoader(run.test.images, run.test.labels, batch_size=8, augment=True)
    return caught_while(lambda: train(run, epochs=1))


@case(ARGS, "F.mse_loss with class labels: the error says to use F.cross_entropy", RuntimeError,
      r"the loss failed on the first batch: .*The labels are class indices, one per image, and "
      r"this loss compares the output with a target of its own shape .*use F.cross_entropy")
def _(ctx):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own broadcasting warning
        train(tiny(), epochs=1, loss_fn=torch.nn.functional.mse_loss)


@case(ARGS, "a loader that yields dicts", TypeError,
      r"a batch must be \(images, labels\), two tensors; the loader gave \(str, str\): a dict's "
      r"two keys\? A loader that yields dicts needs a collate_fn")
def _(ctx):
    batches = [{"image": torch.rand(8, 1, 4, 4), "label": torch.arange(8) % 3}]
    fit(tiny().model, batches, None, epochs=1, progress=False)


@case(ARGS, "one_cycle with a negative max_lr", ValueError,
      r"max_lr must be a positive, finite number, got -0.05: it is the peak learning rate")
def _(ctx):
    run = tiny()
    one_cycle(run.model, run.train, 2, max_lr=-0.05)


# --- running the table ----------------------------------------------------------------------------

@pytest.fixture
def ctx(tmp_path, monkeypatch, capsys, uninterrupted):
    context = Ctx(tmp_path, monkeypatch, capsys)
    context.is_reference = lambda model, history: (same(weights(model), uninterrupted[0])
                                                   and measured(history) == uninterrupted[1])
    yield context
    called.clear()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_adversarial_case(case, ctx):
    if case.root_skips and os.geteuid() == 0:
        pytest.skip("running as root: chmod does not stop root from reading or writing")
    if case.error is None:
        outcome = case.run(ctx)
    else:
        with pytest.raises(case.error) as info:
            case.run(ctx)
        outcome = info.value
        assert re.search(case.message, str(outcome), re.S), (
            f"the message does not match {case.message!r}:\n{outcome}")
    if case.then is not None:
        assert case.then(ctx, outcome) is not False


def test_the_table_is_large_and_grouped():
    groups = {}
    for c in CASES:
        groups.setdefault(c.group, []).append(c)
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)
    assert set(groups) == {FILES, VALUES, PLACES, ARGS, RESUME, MODEL}
    assert all(len(cases) >= 6 for cases in groups.values())
