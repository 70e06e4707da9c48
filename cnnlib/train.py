"""The book's training loop: small enough to read in one screen, honest about what it measured.

``fit`` trains for some epochs and returns a :class:`~cnnlib.history.History` of measured
numbers (loss, accuracy, learning rate, seconds per epoch); ``evaluate`` switches the model to
eval mode and turns gradients off. On CUDA the speed switches of :mod:`cnnlib.fast` are on by
default (bf16 autocast, channels-last, cuDNN autotuning, a fused optimizer); elsewhere the loop
is plain fp32. ``fast=FastSettings(...)`` turns any of them on or off.

One evaluation loop, :func:`eval_outputs`, serves ``evaluate``, ``predict`` and
``predict_probs`` (and :func:`cnnlib.diagnose.losses_per_example`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .callbacks import StopTraining
from .checkpoint import load_checkpoint, save_checkpoint
from .fast import (FastSettings, autocast, eval_batches, grad_scaler, make_optimizer, prepare,
                   restore_backend_flags, set_backend_flags, settings_for, to_device)
from .history import History, epochs_to_reach  # noqa: F401  (epochs_to_reach: chapters' import)
from .layers import Dropout
from .settings import model_device


# ---------------------------------------------------------------------------------------------
# Evaluation: one loop, four uses

def eval_outputs(model: torch.nn.Module, loader, fast: FastSettings | None = None):
    """``(logits, labels)`` for each batch of ``loader``, on the model's device.

    The one evaluation loop of the library. With ``fast`` (as ``evaluate`` does), batches are
    moved and laid out by the speed switches, an evaluation ``TensorLoader`` is read in batches
    of ``fast.eval_batch_size`` and the forward pass runs under autocast; without it, each of the
    loader's own batches runs in fp32. The caller chooses the mode (``model.eval()``) and runs
    under ``torch.inference_mode()``.
    """
    device = model_device(model)
    if fast is None:
        for x, y in loader:
            yield model(x.to(device)), y
        return
    for x, y in eval_batches(loader, fast):
        x, y = to_device(x, y, device, fast)
        with autocast(device, fast):
            logits = model(x)
        yield logits, y


@torch.inference_mode()
def evaluate(model: torch.nn.Module, loader, loss_fn=F.cross_entropy, *,
             fast: FastSettings | None = None):
    """Mean loss and accuracy over a loader, in eval mode (dropout off, BatchNorm running stats).

    Runs under ``torch.inference_mode()`` (no_grad, and no autograd bookkeeping at all), with the
    ``fast`` settings (default: on for CUDA), in batches of ``fast.eval_batch_size`` for a tensor
    loader made for evaluation.
    """
    model.eval()
    device = model_device(model)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    count = 0
    for logits, y in eval_outputs(model, loader, settings_for(device, fast)):
        total_loss += loss_fn(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        count += len(y)
    if count == 0:
        raise ValueError("evaluate() got a loader with no batches: check the dataset and its size")
    return {"loss": total_loss.item() / count, "acc": correct.item() / count}


@torch.inference_mode()
def predict(model: torch.nn.Module, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes and true labels for a whole loader, on the CPU."""
    model.eval()
    preds, labels = [], []
    for logits, y in eval_outputs(model, loader):
        preds.append(logits.argmax(1).cpu())
        labels.append(y.cpu())
    return torch.cat(preds), torch.cat(labels)


DROPOUT_KINDS = (Dropout, torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d,
                 torch.nn.Dropout3d, torch.nn.AlphaDropout)


@torch.inference_mode()
def predict_probs(model: torch.nn.Module, loader, passes: int = 1,
                  dropout: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities, ``passes × N × classes``, and the labels, on the CPU.

    ``dropout=True`` is Monte-Carlo dropout (Gal and Ghahramani 2016): the model is in eval mode
    except its dropout layers, so each pass samples another thinned network while BatchNorm
    still uses its running statistics. ``model.train()`` would also switch BatchNorm to batch
    statistics, which is not the same thing.
    """
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"passes must be a positive int, got {passes!r}")
    layers = [m for m in model.modules() if isinstance(m, DROPOUT_KINDS)]
    if dropout and not layers:
        raise ValueError("dropout=True, but the model has no dropout layer to keep switched on")
    model.eval()
    for layer in layers if dropout else ():
        layer.train()
    try:
        runs, labels = [], []
        for i in range(passes):
            outputs = list(eval_outputs(model, loader))
            runs.append(torch.cat([logits.float().softmax(1).cpu() for logits, _ in outputs]))
            if i == 0:
                labels = [y.cpu() for _, y in outputs]
    finally:
        model.eval()
    return torch.stack(runs), torch.cat(labels)


# ---------------------------------------------------------------------------------------------
# Training

def fit(model: torch.nn.Module, train_loader, test_loader=None, *, epochs: int,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 0.01,
        scheduler=None, scheduler_per_batch: bool = False, loss_fn=F.cross_entropy,
        progress: bool | None = None, callbacks=(),
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        fast: FastSettings | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs and return the measured :class:`History`.

    Without an ``optimizer``, SGD with momentum 0.9 at ``lr`` (:func:`cnnlib.optim.one_cycle`
    builds the book's usual one). A ``scheduler`` steps once per epoch, or once per batch with
    ``scheduler_per_batch=True`` (one-cycle). Progress bars show unless ``progress=False`` or
    the environment sets ``CNNLIB_PROGRESS=0`` (as the book's builds do).

    After every epoch, in this order: the epoch's row is added to the history, the model,
    optimiser, scheduler, history and random states are saved to ``checkpoint`` (if given; an
    atomic write, see :mod:`cnnlib.checkpoint`), then each callback is called as
    ``callback(epoch, history)``. With ``resume=True`` and that file present, training continues
    after the saved epoch up to ``epochs`` and the returned history holds every epoch; on the CPU
    the result equals an uninterrupted run's bit for bit. Without the file it starts afresh, so
    the same call works for the first run and every re-run.

    ``fast`` holds the speed switches (:class:`cnnlib.fast.FastSettings`; default: on for CUDA,
    off elsewhere). A callback that raises :class:`StopTraining` ends training after its epoch
    (a time-to-accuracy run stops at its target that way).

    Ctrl-C (``KeyboardInterrupt``) stops training and returns the completed epochs instead of
    raising; one printed line says where it stopped and where the last checkpoint is. A loss
    that is not finite raises ``FloatingPointError`` before its step is taken: the check runs
    every step on the CPU, every 50 steps on a GPU (each check waits for the GPU, so checking
    every step would slow training). The checkpoint is then still the last good epoch.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path of the file to resume from>")
    device = model_device(model)
    fast = settings_for(device, fast)  # every speed switch: see cnnlib/fast.py
    optimizer = optimizer or make_optimizer(model, "sgd", lr=lr, momentum=0.9, fast=fast)
    steps = TrainingSteps(prepare(model, device, fast), optimizer, loss_fn, device, fast,
                          scheduler if scheduler_per_batch else None, _show(progress))
    loaders = [loader for loader in (train_loader, test_loader) if hasattr(loader, "state_dict")]
    history, saved = History(), None
    if resume and Path(checkpoint).exists():
        saved, history = load_checkpoint(checkpoint, model=model, optimizer=optimizer,
                                         scheduler=scheduler, loaders=loaders)
    steps.at = (saved or 0, 0)
    flags = set_backend_flags(fast)
    try:
        for epoch in range((saved or 0) + 1, epochs + 1):
            start, lr_now = time.perf_counter(), optimizer.param_groups[0]["lr"]
            row = {"epoch": epoch, **steps.epoch(train_loader, epoch, epochs)}
            if scheduler is not None and not scheduler_per_batch:
                scheduler.step()
            if test_loader is not None:
                result = evaluate(steps.net, test_loader, loss_fn, fast=fast)
                row.update(test_loss=result["loss"], test_acc=result["acc"])
            history.rows.append({**row, "lr": lr_now, "seconds": time.perf_counter() - start})
            if checkpoint is not None:
                save_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler,
                                epoch=epoch, history=history, loaders=loaders)
                saved = epoch
            for callback in callbacks:
                callback(epoch, history)
    except KeyboardInterrupt:
        print(_interrupted(steps.at, len(train_loader), len(history), checkpoint, saved))
    except StopTraining:
        pass
    finally:
        restore_backend_flags(flags)
    return history


@dataclass
class TrainingSteps:
    """What every training step of one ``fit`` call shares, and one epoch of those steps."""

    net: torch.nn.Module  # the model as prepared for the device (channels-last, compiled)
    optimizer: torch.optim.Optimizer
    loss_fn: object
    device: torch.device
    fast: FastSettings
    scheduler: object = None  # stepped after every batch; None when it steps per epoch
    progress: bool = False
    at: tuple[int, int] = (0, 0)  # (epoch, step) reached, for the message after Ctrl-C

    def __post_init__(self):
        self.scaler = grad_scaler(self.device, self.fast)  # fp16 only; else passes calls through
        self.check_every = _check_every(self.device)

    def epoch(self, loader, epoch: int, epochs: int) -> dict:
        """One pass over ``loader``: the mean training loss and accuracy, as measured."""
        self.net.train()
        self.at = (epoch, 0)
        lr = self.optimizer.param_groups[0]["lr"]
        # the epoch's metrics stay on the device, in as few operations as possible: on a GPU
        # each one is a kernel launch, and a small model's step is only a few dozen
        total_loss = torch.zeros((), device=self.device)
        corrects, count, last_finite = [], 0, None
        bar = tqdm(loader, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not self.progress)
        for step, (x, y) in enumerate(bar, 1):
            self.at = (epoch, step)
            x, y = to_device(x, y, self.device, self.fast)
            with autocast(self.device, self.fast):
                logits = self.net(x)
                loss = self.loss_fn(logits.float(), y)
            total_loss.add_(loss.detach(), alpha=len(y))
            if step % self.check_every == 0 or step == len(loader):
                last_finite = _check_finite(total_loss, loss, epoch, step, lr, last_finite)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.scheduler is not None:
                self.scheduler.step()
            corrects.append((logits.argmax(1) == y).sum())
            count += len(y)
        correct = torch.stack(corrects).sum().item() if corrects else 0
        return {"train_loss": total_loss.item() / count, "train_acc": correct / count}


def _show(progress: bool | None) -> bool:
    """Progress bars: as asked, else unless the environment says ``CNNLIB_PROGRESS=0``."""
    return os.environ.get("CNNLIB_PROGRESS", "1") != "0" if progress is None else progress


def _check_every(device: torch.device) -> int:
    """Steps between checks for a non-finite loss: every step on the CPU, where the check is
    free; every 50 on a GPU, where it makes the host wait for the device."""
    return 1 if device.type == "cpu" else 50


def _check_finite(total_loss: torch.Tensor, loss: torch.Tensor, epoch: int, step: int,
                  lr: float, last_finite: tuple | None) -> tuple:
    """Raise if a loss since the last check was not finite; else return (epoch, step, loss)."""
    total, value = torch.stack([total_loss, loss.detach().float()]).tolist()  # one device sync
    if math.isfinite(total):
        return epoch, step, value
    where = (f" (last finite loss: {last_finite[2]:.6g}, epoch {last_finite[0]} step "
             f"{last_finite[1]})" if last_finite else " (no finite loss was measured before it)")
    raise FloatingPointError(
        f"the training loss became {total} in epoch {epoch}, by step {step}, at learning rate "
        f"{lr:g}{where}. Likely causes: a learning rate far too high, inputs that were not "
        "normalised, or a loss applied to the wrong tensors. Lower the learning rate and check "
        "the data. The step was not taken, and a checkpoint, if any, still holds the last "
        "completed epoch.")


def _interrupted(at: tuple[int, int], steps: int, completed: int, checkpoint, saved) -> str:
    where = (f"the last checkpoint is {checkpoint} (epoch {saved}); continue with "
             f"fit(..., checkpoint={str(checkpoint)!r}, resume=True)" if saved is not None
             else "no checkpoint was saved" + ("" if checkpoint is None else f" to {checkpoint}"))
    return (f"Interrupted in epoch {at[0]} at step {at[1]} of {steps}: returning the "
            f"{completed} completed epoch(s); {where}.")
