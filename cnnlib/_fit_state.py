"""What one ``fit`` call keeps between epochs, and the state Ctrl-C goes back to.

:class:`FitState` holds the history, the epoch the run starts after (``start``: 0, or the
resumed one), what the loop is doing (``phase``, for the message after Ctrl-C) and a copy of
the state at the end of the last completed epoch (:class:`Snapshot`). The checkpoint file is
not its business: :class:`cnnlib._fit_checkpoint.FitCheckpoint` owns it.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass

import torch

from .checkpoint import rng_state, set_rng_state
from .history import History


class FitState:
    """What one ``fit`` call keeps between epochs: the history, where it started, what the loop
    is doing, and the last consistent state (:meth:`remember`, :meth:`restore`)."""

    def __init__(self, model, optimizer, scheduler, loaders: list):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.loaders = loaders
        self.history, self.start = History(), 0
        self.phase, self.snapshot, self.restored = "training", None, False

    def remember(self) -> None:
        """Keep a copy of the state at the end of the last completed epoch (CPU memory)."""
        epoch = self.history.last.get("epoch", self.start) if len(self.history) else self.start
        self.snapshot = Snapshot.take(epoch, self.model, self.optimizer, self.scheduler,
                                      self.loaders)

    def complete(self, row: dict) -> None:
        """Add a finished epoch's row and remember the state it ended in."""
        self.history.rows.append(row)
        self.remember()

    def restore(self) -> None:
        """Go back to the last completed epoch (after Ctrl-C)."""
        self.snapshot.restore(self.model, self.optimizer, self.scheduler, self.loaders)
        self.restored = True

    def kept_changes(self, steps_taken: int) -> bool:
        """Whether this fit call changed the model and the change was kept (not undone)."""
        undone = self.restored and self.snapshot.epoch == self.start
        return bool(steps_taken) and not undone

    def interrupted(self, at: tuple[int, int], steps: int, file: str) -> str:
        """The one line printed after Ctrl-C: where, what is returned, what the model holds;
        ``file`` says where the checkpoint stands (:meth:`FitCheckpoint.report`)."""
        epoch, step = at
        done = self.snapshot.epoch
        where = {"training": f"in epoch {epoch} at step {step} of {steps}",
                 "evaluating": f"in epoch {epoch} during the evaluation",
                 "saving": f"while saving epoch {done}",
                 "callbacks": f"in the callbacks after epoch {done}"}[self.phase]
        back = (f"at the end of epoch {done}" if done > 0
                else "as they were before the first epoch")
        parts = "model, optimiser and scheduler" if self.scheduler else "model and optimiser"
        return (f"Interrupted {where}: returning the {len(self.history)} completed epoch(s), with "
                f"the {parts} back {back}; {file}.")


@dataclass
class Snapshot:
    """A run's state at the end of an epoch, kept in CPU memory: what Ctrl-C goes back to."""

    epoch: int
    model: dict
    optimizer: dict
    scheduler: dict | None
    loaders: list
    rng: dict

    @classmethod
    def take(cls, epoch: int, model, optimizer, scheduler, loaders) -> "Snapshot":
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
