"""The book's training loop: small enough to read in one screen, honest about what it measured.

``fit`` trains for some epochs and returns a :class:`History` of measured numbers (loss,
accuracy, learning rate, seconds per epoch); ``evaluate`` switches the model to eval mode and
turns gradients off. On CUDA the speed switches of :mod:`cnnlib.fast` are on by default (bf16
autocast, channels-last, cuDNN autotuning, a fused optimizer); elsewhere the loop is plain fp32.
``fast=FastSettings(...)`` turns any of them on or off.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import fast as _fast
from .checkpoint import load_checkpoint, save_checkpoint
from .fast import FastSettings


class StopTraining(Exception):
    """Raise it in a callback to end training after this epoch; ``fit`` returns the history."""


@dataclass
class History:
    """One row per epoch: every value was measured during the run, none is typed in."""

    rows: list[dict] = field(default_factory=list)

    def __getitem__(self, key: str) -> list:
        return [row.get(key) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}

    def best(self, key: str = "test_acc") -> dict:
        return max(self.rows, key=lambda row: row[key])

    def __repr__(self) -> str:
        keys = [k for k in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                            "seconds") if self.rows and k in self.rows[0]]
        lines = ["  ".join(f"{k:>10}" for k in keys)]
        for row in self.rows:
            lines.append("  ".join(_fmt(k, row[k]) for k in keys))
        return "\n".join(lines)


def _fmt(key, value) -> str:
    if key == "epoch":
        return f"{value:>10d}"
    if key.endswith("acc"):
        return f"{100 * value:>9.2f}%"
    if key == "lr":
        return f"{value:>10.2e}"
    return f"{value:>10.4f}"


def autocast(device: torch.device, enabled: bool | None = None):
    """The forward pass's autocast context (kept for older code): see :func:`cnnlib.fast.autocast`."""
    return _fast.autocast(device, _fast.settings_for(device, amp=enabled))


def epochs_to_reach(history: History, key: str, threshold: float, below: bool = False):
    """The first epoch whose ``key`` reached ``threshold`` (``>=``, or ``<=`` with ``below``).

    ``None`` if no epoch did: "never, within the epochs run", which is a result too. This is how
    "ReLU trains six times faster" becomes a number read off two histories.
    """
    values = history[key]
    if not values or values[0] is None:
        keys = sorted(history.rows[0]) if len(history) else []
        raise KeyError(f"the history has no {key!r}; its keys are {keys}")
    for row in history.rows:
        if (row[key] <= threshold) if below else (row[key] >= threshold):
            return row["epoch"]
    return None


@torch.inference_mode()
def evaluate(model: torch.nn.Module, loader, loss_fn=F.cross_entropy, amp: bool | None = None,
             *, fast: FastSettings | None = None):
    """Mean loss and accuracy over a loader, in eval mode (dropout off, BatchNorm running stats).

    Runs under ``torch.inference_mode()`` (no_grad, and no autograd bookkeeping at all), with the
    ``fast`` settings (default: on for CUDA), in batches of ``fast.eval_batch_size`` for a tensor
    loader made for evaluation.
    """
    model.eval()
    device = next(model.parameters()).device
    fast = _fast.settings_for(device, fast, amp)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    count = 0
    for x, y in _fast.eval_batches(loader, fast):
        x, y = _fast.to_device(x, y, device, fast)
        with _fast.autocast(device, fast):
            logits = model(x)
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
    device = next(model.parameters()).device
    preds, labels = [], []
    for x, y in loader:
        preds.append(model(x.to(device)).argmax(1).cpu())
        labels.append(y.cpu())
    return torch.cat(preds), torch.cat(labels)


def _dropout_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    from .layers import Dropout
    kinds = (Dropout, torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d,
             torch.nn.Dropout3d, torch.nn.AlphaDropout)
    return [m for m in model.modules() if isinstance(m, kinds)]


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
    layers = _dropout_modules(model)
    if dropout and not layers:
        raise ValueError("dropout=True, but the model has no dropout layer to keep switched on")
    model.eval()
    for layer in layers if dropout else ():
        layer.train()
    device = next(model.parameters()).device
    try:
        runs, labels = [], []
        for i in range(passes):
            probs = []
            for x, y in loader:
                probs.append(model(x.to(device)).float().softmax(1).cpu())
                if i == 0:
                    labels.append(y.cpu())
            runs.append(torch.cat(probs))
    finally:
        model.eval()
    return torch.stack(runs), torch.cat(labels)


def fit(model: torch.nn.Module, train_loader, test_loader=None, *, epochs: int,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 0.01,
        scheduler=None, scheduler_per_batch: bool = False, loss_fn=F.cross_entropy,
        amp: bool | None = None, progress: bool | None = None, callbacks=(),
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        fast: FastSettings | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs and return the measured :class:`History`.

    Without an ``optimizer``, SGD with momentum 0.9 at ``lr``. A ``scheduler`` steps once per
    epoch, or once per batch with ``scheduler_per_batch=True`` (one-cycle). Progress bars show
    unless ``progress=False`` or the environment sets ``CNNLIB_PROGRESS=0`` (as the book's builds
    do).

    After every epoch, in this order: the epoch's row is added to the history, the model,
    optimiser, scheduler, history and random states are saved to ``checkpoint`` (if given; an
    atomic write, see :mod:`cnnlib.checkpoint`), then each callback is called as
    ``callback(epoch, history)``. With ``resume=True`` and that file present, training continues
    after the saved epoch up to ``epochs`` and the returned history holds every epoch; on the CPU
    the result equals an uninterrupted run's bit for bit. Without the file it starts afresh, so
    the same call works for the first run and every re-run.

    ``fast`` holds the speed switches (:class:`cnnlib.fast.FastSettings`; default: on for CUDA,
    off elsewhere); ``amp``, when given, overrides ``fast.amp``. A callback that raises
    :class:`StopTraining` ends training after its epoch (a time-to-accuracy run stops at its
    target that way).

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
    device = next(model.parameters()).device
    fast = _fast.settings_for(device, fast, amp)  # every speed switch: see cnnlib/fast.py
    net = _fast.prepare(model, device, fast)  # channels-last and/or compiled: same parameters
    optimizer = optimizer or _fast.make_optimizer(model, "sgd", lr=lr, momentum=0.9, fast=fast)
    scaler = _fast.grad_scaler(device, fast)  # fp16 only; otherwise it passes calls through
    if progress is None:
        progress = os.environ.get("CNNLIB_PROGRESS", "1") != "0"
    loaders = [loader for loader in (train_loader, test_loader) if hasattr(loader, "state_dict")]
    history, done, saved = History(), 0, None
    if resume and Path(checkpoint).exists():
        done, history = load_checkpoint(checkpoint, model=model, optimizer=optimizer,
                                        scheduler=scheduler, loaders=loaders)
        saved = done
    check_every = _check_every(device)
    epoch, step, last_finite = done, 0, None
    cudnn_flags = _fast.set_backend_flags(fast)
    try:
        for epoch in range(done + 1, epochs + 1):
            model.train()
            start = time.perf_counter()
            lr_now = optimizer.param_groups[0]["lr"]
            total_loss = torch.zeros((), device=device)
            corrects = []  # one count per step, added up once per epoch
            count, step = 0, 0
            bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False,
                       disable=not progress)
            for step, (x, y) in enumerate(bar, 1):
                x, y = _fast.to_device(x, y, device, fast)
                with _fast.autocast(device, fast):
                    logits = net(x)
                    loss = loss_fn(logits.float(), y)
                # the epoch's metrics stay on the device, in as few operations as possible: on a
                # GPU each one is a kernel launch, and a small model's step is only a few dozen
                total_loss.add_(loss.detach(), alpha=len(y))
                if step % check_every == 0 or step == len(train_loader):
                    last_finite = _check_finite(total_loss, loss, epoch, step, lr_now,
                                                last_finite)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if scheduler is not None and scheduler_per_batch:
                    scheduler.step()
                corrects.append((logits.argmax(1) == y).sum())
                count += len(y)
            if scheduler is not None and not scheduler_per_batch:
                scheduler.step()
            correct = torch.stack(corrects).sum().item() if corrects else 0
            row = {"epoch": epoch, "train_loss": total_loss.item() / count,
                   "train_acc": correct / count}
            if test_loader is not None:
                result = evaluate(net, test_loader, loss_fn, fast=fast)
                row.update(test_loss=result["loss"], test_acc=result["acc"])
            row.update(lr=lr_now, seconds=time.perf_counter() - start)
            history.rows.append(row)
            if checkpoint is not None:
                save_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler,
                                epoch=epoch, history=history, loaders=loaders)
                saved = epoch
            for callback in callbacks:
                callback(epoch, history)
    except KeyboardInterrupt:
        print(_interrupted(epoch, step, len(train_loader), len(history), checkpoint, saved))
    except StopTraining:
        pass
    finally:
        _fast.restore_backend_flags(cudnn_flags)
    return history


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


def _interrupted(epoch: int, step: int, steps: int, completed: int, checkpoint, saved) -> str:
    where = (f"the last checkpoint is {checkpoint} (epoch {saved}); continue with "
             f"fit(..., checkpoint={str(checkpoint)!r}, resume=True)" if saved is not None
             else "no checkpoint was saved" + ("" if checkpoint is None else f" to {checkpoint}"))
    return (f"Interrupted in epoch {epoch} at step {step} of {steps}: returning the {completed} "
            f"completed epoch(s); {where}.")
