"""The checks ``fit`` makes before its first epoch, and after each.

Before: its own arguments, the model, the loaders, the loss, the optimiser and scheduler, the
callbacks and the learning rate, so that no mistake shows up only after a whole epoch (the
checkpoint path is checked by its owner, :class:`cnnlib._fit_checkpoint.FitCheckpoint`; the
model and loss against the first batch, in :mod:`cnnlib._first_batch`). After each epoch:
finite losses and weights (:func:`check_epoch_finite`).
"""

from __future__ import annotations

import math
import warnings

import torch

from ._first_batch import check_loss_fn


# ---------------------------------------------------------------------------------------------
# Checks before the first epoch

def check_fit_arguments(epochs, callbacks) -> list:
    """``fit``'s own arguments (but the checkpoint's); returns the callbacks as a list."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
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


def check_before_training(model, train_loader, test_loader, loss_fn, optimizer, scheduler,
                          callbacks: list) -> None:
    """Everything ``fit`` can check about the model and its data before its first batch."""
    check_trainable(model)
    check_loaders(train_loader, test_loader)
    check_loss_fn(loss_fn)
    check_optimizer(model, optimizer, scheduler)
    check_callbacks(model, callbacks)


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


def check_callbacks(model: torch.nn.Module, callbacks: list) -> None:
    """A callback that saves a model saves this one."""
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
