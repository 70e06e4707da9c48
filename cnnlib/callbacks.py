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

    Better is higher for an accuracy (a key ending in ``acc``) and lower for a loss (ending in
    ``loss``); for any other key, say which with ``higher=True`` or ``higher=False``.

    The file is a :mod:`cnnlib.checkpoint` checkpoint (atomic write, safe load) whose ``extra``
    holds what inference needs besides the weights: class names, normalisation statistics.
    The path and ``extra`` are checked when it is made, before any training: a folder that
    cannot be written, or an ``extra`` no checkpoint can hold, fails at once.
    """

    def __init__(self, path, model: torch.nn.Module, key: str = "test_acc", extra=None,
                 higher: bool | None = None):
        self.path, self.model, self.key = check_destination(path, model), model, key
        self.higher = better_direction(key, higher)
        self.extra = plain_values(extra, "extra", self.path, "extra")
        self.best, self.epoch = None, None

    def __call__(self, epoch: int, history) -> None:
        if self.key not in history.last:
            raise KeyError(f"BestCheckpoint watches {self.key!r}, but the history has no such "
                           f"key (its keys: {sorted(history.last)}): pass a test loader to fit, "
                           "or choose another key, e.g. BestCheckpoint(..., key='train_acc')")
        value = history.last[self.key]
        if self.best is None or (value > self.best if self.higher else value < self.best):
            save_checkpoint(self.path, model=self.model, epoch=epoch, history=history,
                            extra=self.extra)
            self.best, self.epoch = value, epoch

    def __repr__(self) -> str:
        if self.best is None:
            return f"BestCheckpoint({self.path}: nothing saved yet)"
        shown = f"{self.best:.2%}" if self.key.endswith("acc") else f"{self.best:.4g}"
        return f"best {self.key} {shown} at epoch {self.epoch}, saved to {self.path}"


def better_direction(key: str, higher: bool | None) -> bool:
    """Whether a higher ``key`` is better: as given, else from its name (``*acc``: higher,
    ``*loss``: lower); another key must say which."""
    if higher is not None:
        if not isinstance(higher, bool):
            raise TypeError(f"higher must be True or False, got {higher!r}")
        return higher
    if not isinstance(key, str):
        raise TypeError(f"key must be a history key such as 'test_acc', got {key!r}")
    if key.endswith("acc"):
        return True
    if key.endswith("loss"):
        return False
    raise ValueError(f"BestCheckpoint cannot tell whether a higher {key!r} is better: say so "
                     "with higher=True (an accuracy, a score) or higher=False (a loss, an error)")
