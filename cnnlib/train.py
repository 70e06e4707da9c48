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

import importlib.util
import math
import os
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

if importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm  # a widget bar in notebooks, a text bar elsewhere
else:  # tqdm.auto would warn "IProgress not found" in a notebook and draw no bar
    from tqdm.std import tqdm

from ._first_batch import (check_inputs, check_loss_fn, check_outputs, check_test_labels,
                           first_loss)
from ._fit_checkpoint import FitCheckpoint
from ._fit_checks import (check_before_training, check_epoch_finite, check_fit_arguments,
                          check_loader, check_lr, check_schedule)
from ._fit_state import FitState, attach_history
from .callbacks import StopTraining
from .fast import (FastSettings, autocast, eval_batches, grad_scaler, make_optimizer, prepare,
                   restore_backend_flags, set_backend_flags, settings_for, to_device)
from .history import History, epochs_to_reach  # noqa: F401  (older code imports it here)
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
    check_loss_fn(loss_fn)
    check_loader("loader", loader, "evaluate")
    model.eval()
    device = model_device(model)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    count = 0
    for logits, y in eval_outputs(model, loader, settings_for(device, fast)):
        if count == 0:
            check_outputs(logits, y)
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
    if not preds:
        raise ValueError("predict() got a loader with no batches: check the dataset and its size")
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
            if not outputs:
                raise ValueError("predict_probs() got a loader with no batches: check the "
                                 "dataset and its size")
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
    the environment sets ``CNNLIB_PROGRESS=0`` (as the book's builds do). ``epochs=0`` trains
    nothing and returns an empty history.

    Everything that can be checked before training is: the arguments, empty loaders, a test
    loader that drops images (one that is the training loader is warned about), a loss module
    instead of a function, a model without trainable parameters, an optimiser built for
    another model, a one-cycle schedule not stepped per batch or shorter than the run, a
    callback built for another model or writing the checkpoint's own file, and, when there are
    epochs left to train, whether a checkpoint can be written at ``checkpoint`` (``~``
    expanded, a symbolic link written through). ``fit`` hands ``checkpoint`` and ``resume`` to
    one object, :class:`cnnlib._fit_checkpoint.FitCheckpoint`, which checks, resumes, saves and
    reports. The first batch is checked against the model before the first step
    (:mod:`cnnlib._first_batch`: the weights' dtype, an N × C output, labels within it, as many
    outputs as the loader's ``num_classes``). So no mistake shows up only after a whole epoch.

    After every epoch, in this order: the epoch's row is added to the history, the model,
    optimiser, scheduler, history and random states are saved to ``checkpoint`` (if given; an
    atomic write, see :mod:`cnnlib.checkpoint`), then each callback is called as
    ``callback(epoch, history)``. With ``resume=True`` and that file present, training continues
    after the saved epoch up to ``epochs`` (the file's weights, optimiser and scheduler state
    replace the ones given, whatever they held) and the returned history holds every epoch; on
    the CPU the result equals an uninterrupted run's bit for bit. The optimiser and scheduler
    must be of the types the file was saved with, and the model of its class; another learning
    rate, training-set size or batch size than the file's is a
    :class:`~cnnlib._identity.ResumeWarning` that names the change. While it trains, a run owns
    its checkpoint: a lock file beside it (``<checkpoint>.lock``, removed when ``fit`` ends,
    however it ends) makes a second ``fit`` on the same path a
    :class:`~cnnlib._lock.CheckpointInUseError` naming the process that trains; a lock left by a
    killed run is taken over with a warning. With ``resume=False`` an existing file at
    ``checkpoint`` is refused before training (``FileExistsError``): a new run never overwrites an
    earlier one; resume it, or give another path. Without the file it starts from the model as
    given, so the same call works for the first run and every re-run, except with a model that
    an earlier ``fit`` with this ``checkpoint`` already changed without leaving the file: that
    is refused, because it would silently continue from part-trained weights.

    ``fast`` holds the speed switches (:class:`cnnlib.fast.FastSettings`; default: on for CUDA,
    off elsewhere). A callback that raises :class:`StopTraining` ends training after its epoch
    (a time-to-accuracy run stops at its target that way).

    How a run ends early, and what is then true:

    * Ctrl-C (``KeyboardInterrupt``) returns the completed epochs instead of raising, with the
      model, optimiser, scheduler, loaders and random generators put back as they were at the end
      of the last completed epoch (or before the first), so that model and history agree; one
      printed line says so and where the last checkpoint is. To make that possible ``fit`` keeps
      a copy of those states, taken at the end of each epoch, in CPU memory: one more copy of
      the weights and the optimiser's buffers, small for the book's models.
    * A checkpoint that cannot be saved (a full disk, a folder that became read-only, a value a
      callback put into the history that no checkpoint can hold) raises
      :class:`~cnnlib.checkpoint.CheckpointSaveError`: the previous checkpoint is intact, the
      completed epochs are in its ``history``, and the model holds the last completed epoch. An
      error, not a return like Ctrl-C: the run did not stop because you asked it to.
    * An epoch that ends with a non-finite training or test loss, or non-finite weights (a
      step after the last loss check diverged), raises ``FloatingPointError`` before the epoch
      is recorded or saved: the checkpoint keeps the last good epoch.
    * Any other error (a loss that is not finite, a callback's own error) propagates as it is,
      with the completed epochs attached as ``error.history``; the model then holds the weights
      of the moment it happened. A loss that is not finite raises ``FloatingPointError`` before
      its step is taken: the check runs every step on the CPU, every 50 steps on a GPU (each
      check waits for the GPU, so checking every step would slow training). The checkpoint is
      then still the last good epoch.
    """
    callbacks = check_fit_arguments(epochs, callbacks)
    file = FitCheckpoint(checkpoint, resume, callbacks)  # from here on, the checkpoint's owner
    device = model_device(model)  # a clear error for a model without parameters or buffers
    check_before_training(model, train_loader, test_loader, loss_fn, optimizer, scheduler,
                          callbacks)
    fast = settings_for(device, fast)  # every speed switch: see cnnlib/fast.py
    optimizer = optimizer or make_optimizer(model, "sgd", lr=check_lr(lr), momentum=0.9,
                                            fast=fast)
    steps = TrainingSteps(prepare(model, device, fast), optimizer, loss_fn, device, fast,
                          scheduler if scheduler_per_batch else None, _show(progress),
                          classes=getattr(train_loader, "num_classes", None),
                          test_loader=test_loader)
    loaders = [loader for loader in (train_loader, test_loader) if hasattr(loader, "state_dict")]
    state = FitState(model, optimizer, scheduler, loaders)
    with file.open(state, epochs, train_loader):  # locked, resumed, writable; unlocked at the end
        check_schedule(scheduler, scheduler_per_batch, (epochs - state.start) * len(train_loader))
        state.remember()  # what Ctrl-C goes back to
        steps.at, flags = (state.start, 0), set_backend_flags(fast)
        try:
            for epoch in range(state.start + 1, epochs + 1):
                state.phase, start = "training", time.perf_counter()
                lr_now = optimizer.param_groups[0]["lr"]
                row = {"epoch": epoch, **steps.epoch(train_loader, epoch, epochs)}
                if scheduler is not None and not scheduler_per_batch:
                    scheduler.step()
                if test_loader is not None:
                    state.phase = "evaluating"
                    result = evaluate(steps.net, test_loader, loss_fn, fast=fast)
                    row.update(test_loss=result["loss"], test_acc=result["acc"])
                check_epoch_finite(row, model, file.saved)
                state.complete({**row, "lr": lr_now, "seconds": time.perf_counter() - start})
                state.phase = "saving"
                file.save(epoch)
                state.phase = "callbacks"
                for callback in callbacks:
                    callback(epoch, state.history)
                    file.check_history(callback, epoch)  # else the next save would fail
        except KeyboardInterrupt:
            state.restore()
            print(state.interrupted(steps.at, len(train_loader), file.report()))
        except StopTraining:
            pass
        except Exception as error:
            attach_history(error, state.history)
            raise
        finally:
            restore_backend_flags(flags)
            file.model_changed(state.kept_changes(steps.taken))
    return state.history


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
    taken: int = 0  # optimiser steps taken: did this fit call change the model?
    classes: int | None = None  # the data's number of classes, when the loader says it
    test_loader: object = None  # its labels are checked against the model's outputs

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
            if not self.taken:  # the first batch of this fit call: does the model fit the data?
                check_inputs(self.net, x)
            with autocast(self.device, self.fast):
                logits = self.net(x)
                loss = (self.loss_fn(logits.float(), y) if self.taken
                        else self.first_loss(logits, y))
            total_loss.add_(loss.detach(), alpha=len(y))
            if step % self.check_every == 0 or step == len(loader):
                last_finite = _check_finite(total_loss, loss, epoch, step, lr, last_finite)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.taken += 1
            if self.scheduler is not None:
                self.scheduler.step()
            corrects.append((logits.argmax(1) == y).sum())
            count += len(y)
        if count == 0:
            raise ValueError(f"the training loader yielded no batches in epoch {epoch}, although "
                             f"len() said {len(loader)}: check how it iterates")
        correct = torch.stack(corrects).sum().item()
        return {"train_loss": total_loss.item() / count, "train_acc": correct / count}


    def first_loss(self, logits, y) -> torch.Tensor:
        """The first batch's loss, after its output is checked against the labels (and the test
        loader's labels): every mismatch is a clear error before the first step."""
        check_outputs(logits, y, self.classes)
        if self.test_loader is not None:
            check_test_labels(self.test_loader, logits.shape[-1])
        return first_loss(self.loss_fn, logits, y)


OFF = ("0", "false", "no", "off", "")


def _show(progress: bool | None) -> bool:
    """Progress bars: as asked, else unless the environment says ``CNNLIB_PROGRESS=0`` (or
    ``false``, ``no``, ``off``, in any case)."""
    if progress is not None:
        return progress
    return os.environ.get("CNNLIB_PROGRESS", "1").strip().lower() not in OFF


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
