"""The bookkeeping of one ``fit`` call, and the checks it makes before the first epoch.

:class:`Run` holds what the loop keeps between epochs: the history, the epoch the checkpoint
file holds, what the loop is doing (for the message after Ctrl-C) and a copy of the state at the
end of the last completed epoch (:class:`RunState`), which Ctrl-C goes back to. It also
remembers, per model, which checkpoint an earlier ``fit`` was writing when it changed the model,
so that ``resume=True`` without that file does not continue from part-trained weights.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from ._first_batch import check_loss_fn
from ._identity import run_identity
from ._lock import CheckpointLock
from ._storable import plain_history, plain_values
from .checkpoint import (CheckpointSaveError, check_destination, check_path, load_checkpoint,
                         rng_state, save_checkpoint, set_rng_state)
from .history import History

_CHANGED_BY_FIT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> checkpoint


def _checkpoint_key(checkpoint) -> str:
    return os.path.abspath(os.fspath(checkpoint))


class Run:
    """What one ``fit`` call keeps between epochs: the history, the epoch the checkpoint file
    holds, what the loop is doing (for the message after Ctrl-C) and the last consistent state."""

    def __init__(self, model, optimizer, scheduler, loaders, checkpoint, train_loader=None):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.loaders, self.checkpoint = loaders, checkpoint
        self.history, self.saved, self.start = History(), None, 0
        self.phase, self.state, self.restored = "training", None, False
        self.identity = run_identity(model, optimizer, train_loader)  # before a resume's state
        self.lock = CheckpointLock(checkpoint) if checkpoint is not None else None

    def resume(self) -> None:
        """Continue from the checkpoint file; without one, refuse a model fit already changed."""
        path = Path(self.checkpoint)
        if path.exists():
            self.saved, self.history = load_checkpoint(
                path, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                loaders=self.loaders, run=self.identity)
            self.start = self.saved
        elif _CHANGED_BY_FIT.get(self.model) == _checkpoint_key(path):
            raise ValueError(
                f"resume=True, but there is no checkpoint at {path} to resume from, and this "
                f"{type(self.model).__name__} was already trained by an earlier fit(..., "
                f"checkpoint={str(path)!r}) that left no file there: its weights are part-trained, "
                "and continuing from them would not be a fresh start. Build the model (and its "
                "optimizer and scheduler) again and run again; or pass resume=False to go on "
                "training this model as it is.")

    def open(self, resume: bool, epochs: int, per_batch: bool, steps: int) -> None:
        """Own the checkpoint (its lock), resume from it if asked, check that it can be written
        if epochs are left and that the schedule lasts them; then remember the state Ctrl-C goes
        back to. A failure releases the lock."""
        try:
            if self.checkpoint is not None:
                if epochs and not self.checkpoint.parent.exists():
                    try:
                        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
                    except OSError:
                        pass  # check_destination says why, and what to do
                if self.checkpoint.parent.exists():
                    self.lock.acquire()
                if resume:
                    self.resume()
                elif epochs and self.checkpoint.exists():
                    raise FileExistsError(
                        f"checkpoint={str(self.checkpoint)!r} already holds a run, and resume=False "
                        "would start a new run over it (nothing is trained or written yet). Pass "
                        "resume=True to continue that run; give this run another checkpoint path; "
                        "or delete the file if you no longer need it")
                if self.start < epochs:  # a finished run only reads its file (read-only disk)
                    check_destination(self.checkpoint, self.model)
                    check_scheduler_storable(self.scheduler, self.checkpoint)
            check_schedule(self.scheduler, per_batch, (epochs - self.start) * steps)
            self.remember()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Give the checkpoint up (remove the lock): at the end of fit, however it ends."""
        if self.lock is not None:
            self.lock.release()

    def remember(self) -> None:
        """Keep a copy of the state at the end of the last completed epoch (CPU memory)."""
        epoch = self.history.last.get("epoch", self.start) if len(self.history) else self.start
        self.state = RunState.take(epoch, self.model, self.optimizer, self.scheduler,
                                   self.loaders)

    def complete(self, row: dict) -> None:
        self.history.rows.append(row)
        self.remember()

    def restore(self) -> None:
        self.state.restore(self.model, self.optimizer, self.scheduler, self.loaders)
        self.restored = True

    def save(self, epoch: int) -> None:
        """Save this epoch; a failure stops the run with the history and the old file kept."""
        if self.checkpoint is None:
            return
        self.phase = "saving"
        try:
            save_checkpoint(self.checkpoint, model=self.model, optimizer=self.optimizer,
                            scheduler=self.scheduler, epoch=epoch, history=self.history,
                            loaders=self.loaders, run=self.identity)
        except Exception as error:
            raise CheckpointSaveError(
                f"could not save the checkpoint of epoch {epoch}: {_sentence(error)} Training "
                f"stopped after epoch {epoch}; {self._kept()}", self.history, epoch, self.saved,
            ) from error
        self.saved = epoch

    def call_back(self, callbacks: list, epoch: int) -> None:
        """Each callback in turn; one that makes the history unsaveable stops the run at once."""
        self.phase = "callbacks"
        for callback in callbacks:
            callback(epoch, self.history)
            if self.checkpoint is None:
                continue
            try:
                plain_history(self.history, self.checkpoint)
            except TypeError as error:
                name = getattr(callback, "__name__", type(callback).__name__)
                raise CheckpointSaveError(
                    f"the callback {name} put a value into the history that no checkpoint can "
                    f"hold, so the next save would fail: {_sentence(error)} Training stopped "
                    f"after epoch {epoch}; {self._kept()}", self.history, epoch, self.saved,
                ) from error

    def _kept(self) -> str:
        """What is left after a failed save: the file, the history, the model."""
        if self.saved is None:
            file = f"no checkpoint was saved to {self.checkpoint}"
            fix = "fix the cause, build the model again and train again"
        else:
            file = f"the checkpoint {self.checkpoint} still holds epoch {self.saved}, intact"
            fix = (f"fix the cause, then continue with fit(..., checkpoint="
                   f"{str(self.checkpoint)!r}, resume=True)")
        return (f"{file}; the {len(self.history)} completed epoch(s) are in this error's "
                f".history, and the model holds the weights of epoch {self.state.epoch}; {fix}.")

    def mark_model(self, steps_taken: int) -> None:
        """Remember that ``fit`` changed the model, if it did and the change was kept."""
        undone = self.restored and self.state.epoch == self.start
        if self.checkpoint is not None and steps_taken and not undone:
            _CHANGED_BY_FIT[self.model] = _checkpoint_key(self.checkpoint)

    def interrupted(self, at: tuple[int, int], steps: int) -> str:
        """The one line printed after Ctrl-C: where, what is returned, what the model holds."""
        epoch, step = at
        where = {"training": f"in epoch {epoch} at step {step} of {steps}",
                 "evaluating": f"in epoch {epoch} during the evaluation",
                 "saving": f"while saving epoch {self.state.epoch}",
                 "callbacks": f"in the callbacks after epoch {self.state.epoch}"}[self.phase]
        back = (f"at the end of epoch {self.state.epoch}" if self.state.epoch > 0
                else "as they were before the first epoch")
        if self.saved is not None:
            file = (f"the last checkpoint is {self.checkpoint} (epoch {self.saved}); continue "
                    f"with fit(..., checkpoint={str(self.checkpoint)!r}, resume=True)")
        else:
            file = "no checkpoint was saved" + ("" if self.checkpoint is None
                                                else f" to {self.checkpoint}")
        parts = "model, optimiser and scheduler" if self.scheduler else "model and optimiser"
        return (f"Interrupted {where}: returning the {len(self.history)} completed epoch(s), with "
                f"the {parts} back {back}; {file}.")


def _sentence(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if text.endswith(".") else text + "."


@dataclass
class RunState:
    """A run's state at the end of an epoch, kept in CPU memory: what Ctrl-C goes back to."""

    epoch: int
    model: dict
    optimizer: dict
    scheduler: dict | None
    loaders: list
    rng: dict

    @classmethod
    def take(cls, epoch: int, model, optimizer, scheduler, loaders) -> "RunState":
        return cls(epoch, _cpu_copy(model.state_dict()), _cpu_copy(optimizer.state_dict()),
                   copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None,
                   [_cpu_copy(loader.state_dict()) for loader in loaders], rng_state())

    def restore(self, model, optimizer, scheduler, loaders) -> None:
        model.load_state_dict(self.model)
        optimizer.load_state_dict(self.optimizer)
        if scheduler is not None:
            scheduler.load_state_dict(self.scheduler)
        for loader, state in zip(loaders, self.loaders):
            loader.load_state_dict(state)
        set_rng_state(self.rng)


def _cpu_copy(value):
    """A copy of a state dict whose tensors are on the CPU (a snapshot must not share them)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if type(value) in (dict, OrderedDict):
        copied = type(value)((key, _cpu_copy(item)) for key, item in value.items())
        if hasattr(value, "_metadata"):  # the layers' versions, which load_state_dict reads
            copied._metadata = copy.deepcopy(value._metadata)
        return copied
    if type(value) in (list, tuple):
        return type(value)(_cpu_copy(item) for item in value)
    return copy.deepcopy(value)


def attach_history(error: BaseException, history: History) -> None:
    """Give an error that ends ``fit`` the completed epochs, as ``error.history``."""
    if not hasattr(error, "history"):
        try:
            error.history = history
        except (AttributeError, TypeError):  # an exception type that takes no attributes
            pass


# ---------------------------------------------------------------------------------------------
# Checks before the first epoch

def check_before_training(model, train_loader, test_loader, loss_fn, optimizer, scheduler,
                          checkpoint, callbacks: list):
    """Everything ``fit`` can check before its first batch; returns the checkpoint's file path
    (:func:`cnnlib.checkpoint.check_path`: ``~`` expanded, a symbolic link written through)."""
    check_trainable(model)
    check_loaders(train_loader, test_loader)
    check_loss_fn(loss_fn)
    check_optimizer(model, optimizer, scheduler)
    if checkpoint is not None:
        checkpoint = check_path(checkpoint)
    check_callbacks(model, callbacks, checkpoint)
    return checkpoint


def check_fit_arguments(epochs, checkpoint, resume, callbacks) -> list:
    """``fit``'s own arguments; returns the callbacks as a list."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path of the file to resume from>")
    if callable(callbacks) or isinstance(callbacks, (str, bytes)) or not hasattr(
            callbacks, "__iter__"):
        name = getattr(callbacks, "__name__", type(callbacks).__name__)
        raise TypeError(f"callbacks must be a list of callables, got a single "
                        f"{type(callbacks).__name__}: pass callbacks=[{name}]")
    callbacks = list(callbacks)
    for index, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{index}] is a {type(callback).__name__} "
                            f"({callback!r:.60}), not a callable: each callback is called as "
                            "callback(epoch, history) after every epoch")
    return callbacks


def check_trainable(model: torch.nn.Module) -> None:
    """A model with nothing to train fails here, not with an error from deep inside autograd."""
    params = list(model.parameters())
    if not any(p.requires_grad for p in params):
        what = (f"all {len(params)} have requires_grad=False" if params
                else "it has buffers only")
        fix = ("unfreeze the layers to train with p.requires_grad_(True)" if params
               else "give it layers with weights")
        raise ValueError(f"{type(model).__name__} has no trainable parameters ({what}), so fit "
                         f"would have nothing to update: {fix}")


class SameLoaderWarning(UserWarning):
    """``fit`` was given one loader as both the training and the test loader."""


class AugmentedTestWarning(UserWarning):
    """``fit`` was given a test loader that augments (random crops and flips) its images."""


LOADER_NAMES = {"train_loader": "training", "test_loader": "test", "loader": "evaluation"}


def check_loader(name: str, loader, caller: str = "fit") -> int:
    """``len(loader)``, or a clear error for what is not a loader (a data bundle, a generator)."""
    if hasattr(loader, "train") and hasattr(loader, "test") and not hasattr(loader, "__iter__"):
        part = "data.train" if name == "train_loader" else "data.test"
        raise TypeError(f"{caller} got the whole {type(loader).__name__} (its .train and .test) "
                        f"as {name}, not one loader: pass {part}")
    if isinstance(loader, torch.Tensor):
        raise TypeError(f"{caller} got a tensor of shape {tuple(loader.shape)} as {name}, not a "
                        "loader of (images, labels) batches: build one, e.g. "
                        "TensorLoader(images, labels, batch_size=64) (cnnlib.loader) or "
                        "DataLoader(TensorDataset(images, labels), batch_size=64)")
    if isinstance(loader, torch.utils.data.Dataset):
        raise TypeError(f"{caller} got a {type(loader).__name__} (a dataset, one example at a "
                        f"time) as {name}, not a loader of batches: wrap it, e.g. "
                        "DataLoader(dataset, batch_size=64, shuffle=True) for training, "
                        "shuffle=False for testing")
    try:
        return len(loader)
    except TypeError:
        raise TypeError(f"{name} must be a loader with a length (a TensorLoader, a torch "
                        "DataLoader, or a list of (images, labels) batches); got a "
                        f"{type(loader).__name__}") from None


def check_loaders(train_loader, test_loader) -> None:
    """Empty loaders fail before the first epoch, not with a division by zero after it; so does
    a test loader that would leave images out. One loader given as both is warned about."""
    for name, loader in (("train_loader", train_loader), ("test_loader", test_loader)):
        if loader is None and name == "test_loader":
            continue
        size = check_loader(name, loader)
        if size == 0:
            fix = ("" if name == "train_loader"
                   else "; or pass test_loader=None to train without evaluating")
            raise ValueError(
                f"the {LOADER_NAMES[name]} loader has no batches (len({name}) == 0): its "
                "dataset is empty, or smaller than one batch with drop_last=True. Check the "
                f"dataset's size and the batch size{fix}")
    if test_loader is not None and test_loader is train_loader:  # a warning: chapter 3 shows it
        warnings.warn("test_loader is the training loader itself: the test accuracy will "
                      "measure memory, not generalisation. Pass the test split, e.g. data.test, "
                      "or test_loader=None", SameLoaderWarning, stacklevel=4)
    if (test_loader is not None and test_loader is not train_loader
            and getattr(test_loader, "augment", False) is True):
        warnings.warn("the test loader augments its images (augment=True): the test accuracy "
                      "will be measured on random crops and flips, not on the test images. "
                      "Build it with augment=False (and shuffle=False)", AugmentedTestWarning,
                      stacklevel=4)
    if test_loader is not None and getattr(test_loader, "drop_last", False):
        total = getattr(test_loader, "dataset_size", None)
        if total is None and hasattr(getattr(test_loader, "dataset", None), "__len__"):
            total = len(test_loader.dataset)
        batch = getattr(test_loader, "batch_size", None)
        left = total - len(test_loader) * batch if total and isinstance(batch, int) else None
        if left is None or left > 0:
            some = f"{left} of its {total} images" if left else "its last images"
            raise ValueError(f"the test loader drops its last, incomplete batch (drop_last=True), "
                             f"so {some} would never be evaluated: build it with "
                             "drop_last=False")


def check_optimizer(model: torch.nn.Module, optimizer, scheduler) -> None:
    """An optimiser that would not train this model, or a scheduler fit cannot step, fails now."""
    if optimizer is not None:
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got a "
                            f"{type(optimizer).__name__}")
        own = {id(p) for p in model.parameters()}
        if not any(id(p) in own for group in optimizer.param_groups for p in group["params"]):
            raise ValueError(
                "the optimizer updates none of the model's parameters: it was built for another "
                "model, or for this model before it was rebuilt. Build it from this one, e.g. "
                "torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)")
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("fit steps a scheduler without a metric, and ReduceLROnPlateau needs "
                         "one: step it in a callback instead, e.g. callbacks=[lambda epoch, h: "
                         "scheduler.step(h.last['test_loss'])]")
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError(
            "the scheduler was built for another optimizer than the one fit trains with"
            + (" (with optimizer=None, fit builds its own SGD): pass the scheduler's optimizer "
               "too, as optimizer=..." if optimizer is None
               else ": build it from the optimizer you pass to fit"))


def check_lr(lr) -> float:
    """The learning rate of the SGD that fit builds: a positive, finite number."""
    if isinstance(lr, str):
        raise TypeError(f"lr must be a number, got the string {lr!r}: write lr={lr.strip()}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) \
            or lr <= 0:
        raise ValueError(f"lr must be a positive, finite number (e.g. 0.01), got {lr!r}")
    return float(lr)


def check_callbacks(model: torch.nn.Module, callbacks: list, checkpoint) -> None:
    """A callback that saves a model saves this one, and no two files of the run are one."""
    own = {id(p) for p in model.parameters()}
    for callback in callbacks:
        other = getattr(callback, "model", None)
        if isinstance(other, torch.nn.Module) and not any(
                id(p) in own for p in other.parameters()):
            raise ValueError(
                f"{type(callback).__name__} was built for another model than the one fit trains "
                f"(a {type(other).__name__} that shares no weights with this "
                f"{type(model).__name__}): it would save weights that were never trained. Build "
                "it with the model you pass to fit")
    writers = ([("checkpoint=", checkpoint)] if checkpoint is not None else []) + [
        (type(c).__name__, getattr(c, "path")) for c in callbacks
        if isinstance(getattr(c, "path", None), (str, os.PathLike))]
    seen: dict = {}
    for name, path in writers:
        key = os.path.realpath(os.path.expanduser(os.fspath(path)))
        if key in seen:
            raise ValueError(
                f"{seen[key]} and {name} would write the same file, {path}: the one written last "
                "would replace the other (a model-only file cannot be resumed from). Give each "
                f"its own path, e.g. {Path(path).with_name(Path(path).stem + '_best.pt')}")
        seen[key] = name


def check_schedule(scheduler, per_batch: bool, steps: int) -> None:
    """A schedule that counts batches (one-cycle) is stepped per batch and is long enough."""
    total = getattr(scheduler, "total_steps", None)
    if scheduler is None or not isinstance(total, int):
        return
    name = type(scheduler).__name__
    if not per_batch:
        raise ValueError(f"{name} counts optimiser steps ({total:,} in all), but fit would step "
                         "it once per epoch, so it would never anneal: pass "
                         "scheduler_per_batch=True")
    left = total - scheduler.last_epoch
    if steps > left:
        raise ValueError(
            f"the {name} schedule has {left:,} step(s) left, but fit will take {steps:,} (its "
            f"epochs × the training loader's batches): it would stop with an error mid-run. "
            "Build it for as many epochs as fit runs, with the same loader: "
            "one_cycle(model, train_loader, epochs, max_lr)")


def check_scheduler_storable(scheduler, path) -> None:
    """The scheduler's state can go into a checkpoint, checked before the first epoch rather
    than at the first save (``MultiStepLR`` keeps its milestones in a ``Counter``)."""
    if scheduler is None:
        return
    try:
        plain_values(scheduler.state_dict(), "the scheduler's state", path, "scheduler")
    except TypeError as error:
        raise TypeError(
            f"{error} Checked before the first epoch: {type(scheduler).__name__} cannot be saved "
            "in a checkpoint. Use a scheduler whose state is plain numbers (StepLR, LambdaLR, "
            "OneCycleLR; for MultiStepLR's milestones, a LambdaLR with the same factors), or "
            "checkpoint=None") from None


HUGE_WEIGHT = 1e8  # far beyond any trained network's weights, far below float32's range


class DivergedWarning(UserWarning):
    """An epoch ended with finite but absurdly large weights: the run has diverged."""


def check_epoch_finite(row: dict, model: torch.nn.Module, saved) -> None:
    """A finished epoch's losses and the model's weights are finite, or the run stops before
    the epoch is recorded or saved: a step can diverge after the last loss check of an epoch."""
    bad = [key for key in ("train_loss", "test_loss")
           if key in row and not math.isfinite(row[key])]
    params = [p.detach() for p in model.parameters() if p.is_floating_point() and p.numel()]
    largest = torch.stack([p.abs().max() for p in params]).max() if params else None
    if largest is not None and not torch.isfinite(largest):  # one device sync per epoch
        bad.append("weights")
    if bad:
        kept = ("no checkpoint was written" if saved is None
                else f"the checkpoint still holds epoch {saved}")
        values = ", ".join(f"{key} {row[key]}" for key in bad if key in row)
        raise FloatingPointError(
            f"epoch {row['epoch']} ended with non-finite {' and '.join(bad)}"
            + (f" ({values})" if values else "") + ": the training diverged (in its last steps, "
            "after the loss was checked). It was neither recorded nor saved; " + kept + ". "
            "Lower the learning rate, check the data, and train again")
    if largest is not None and float(largest) > HUGE_WEIGHT:
        warnings.warn(
            f"epoch {row['epoch']} ended with a weight of {float(largest):.2g}: no trained "
            f"network has weights beyond {HUGE_WEIGHT:.0e}, so the training has diverged, "
            "although every number is still finite (its test loss and accuracy are "
            "meaningless). Lower the learning rate and train again", DivergedWarning,
            stacklevel=4)
