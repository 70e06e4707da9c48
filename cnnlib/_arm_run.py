"""What run_arm checks around one training run: its arguments, before any data is read, and
after ``fit`` a run that Ctrl-C stopped or whose weights blew up, neither of which is recorded
as a finished run. Apart from :mod:`cnnlib.experiments` so that the command stays one job."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ._args import whole_number
from ._fit_checks import HUGE_WEIGHT
from .checkpoint import read_checkpoint


def huge_weights(model: torch.nn.Module) -> list[str]:
    """What fit's DivergedWarning says, for a model that ended with weights beyond any
    trained network's; an empty list for one that did not."""
    largest = max((p.detach().abs().max().item() for p in model.parameters()
                   if p.is_floating_point() and p.numel()), default=0.0)
    if largest <= HUGE_WEIGHT:
        return []
    return [f"its weights reach {largest:.2g}, and no trained network has weights beyond "
            f"{HUGE_WEIGHT:.0e}, so the training has diverged (its test loss and accuracy are "
            "meaningless)"]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run before its last epoch: nothing was recorded, and its checkpoint
    (if it has one) holds the completed epochs, from which the same call resumes."""


def stopped_line(name: str, arm: str, seed: int, done: int, epochs: int, checkpoint) -> str:
    """The one line that says where a run stopped, what is kept, and how to go on."""
    head = (f"{name} {arm} seed {seed}: stopped (Ctrl-C) after epoch {done} of {epochs}, "
            "not recorded")
    saved = None
    if checkpoint is not None and checkpoint.is_file():
        try:
            saved = read_checkpoint(checkpoint)["epoch"]
        except Exception:  # noqa: BLE001 - the line must still come; the file says why later
            saved = None
    if saved:
        return (f"{head}; its checkpoint {checkpoint} holds epoch {saved}: run the same "
                f"command (or run_arm call) again to resume from epoch {saved + 1}")
    if checkpoint is not None:
        return f"{head}; no epoch was saved: run the same command again to start it over"
    return (f"{head}; without a checkpoint folder it starts over when run again: pass "
            "--checkpoints FOLDER (checkpoints=) so that a stopped run resumes")


def check_types(*, hyper, out, checkpoints, **flags) -> None:
    """The flags are True or False, ``hyper`` a dict, the folders paths: checked before any
    data is read ("no" is a true string, and a record would hold it as the flag's value)."""
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{key} must be True or False, got {value!r} "
                            f"(a {type(value).__name__})")
    if hyper is not None and not isinstance(hyper, dict):
        raise TypeError(f"hyper must be a dict of the hyper-parameters a pilot changes, such "
                        f"as {{'lr': 0.1}}, or None; got {hyper!r} (a {type(hyper).__name__})")
    for key, value in (("out", out), ("checkpoints", checkpoints)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{key} must be a folder (a str or Path) or None, got {value!r} "
                            f"(a {type(value).__name__})")
        if value is not None and not str(value).strip():
            raise ValueError(f"the {key} folder is empty: name a folder (e.g. "
                             "'checkpoints'), or pass None")
        if value is not None and Path(value).expanduser().is_file():
            raise FileExistsError(f"{key} is a folder, and {value} is a file: name a folder")


def whole_seed(seed) -> int:
    """A run's seed as a plain int (a record stores it as JSON), in torch's range."""
    return whole_number("seed", seed, 0, 2**64 - 1, meaning="the seed fixes the initial "
                        "weights and the order of the batches")
