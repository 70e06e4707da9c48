"""Callbacks for :func:`cnnlib.fit`.

``fit(..., callbacks=[...])`` calls each callback as ``callback(epoch, history)`` after each
epoch, once the epoch's results are in ``history`` (``history.last``). A callback is any
callable with that signature; the ones here are objects that keep state between epochs.
"""

from __future__ import annotations

import torch

from ._storable import plain_values
from .checkpoint import check_destination, save_checkpoint


class StopTraining(Exception):
    """Raise it in a callback to end training after this epoch; ``fit`` returns the history."""


class BestCheckpoint:
    """A ``fit`` callback: save the model whenever ``key`` (default ``test_acc``) beats its best.

    The file is a :mod:`cnnlib.checkpoint` checkpoint (atomic write, safe load) whose ``extra``
    holds what inference needs besides the weights: class names, normalisation statistics.
    The path and ``extra`` are checked when it is made, before any training: a folder that
    cannot be written, or an ``extra`` no checkpoint can hold, fails at once.
    """

    def __init__(self, path, model: torch.nn.Module, key: str = "test_acc", extra=None):
        self.path, self.model, self.key = check_destination(path, model), model, key
        self.extra = plain_values(extra, "extra", self.path, "extra")
        self.best, self.epoch = None, None

    def __call__(self, epoch: int, history) -> None:
        if self.key not in history.last:
            raise KeyError(f"BestCheckpoint watches {self.key!r}, but the history has no such "
                           f"key (its keys: {sorted(history.last)}): pass a test loader to fit, "
                           "or choose another key, e.g. BestCheckpoint(..., key='train_acc')")
        value = history.last[self.key]
        if self.best is None or value > self.best:
            save_checkpoint(self.path, model=self.model, epoch=epoch, history=history,
                            extra=self.extra)
            self.best, self.epoch = value, epoch

    def __repr__(self) -> str:
        if self.best is None:
            return f"BestCheckpoint({self.path}: nothing saved yet)"
        return f"best {self.key} {self.best:.2%} at epoch {self.epoch}, saved to {self.path}"
