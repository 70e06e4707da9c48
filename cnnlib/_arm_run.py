"""What run_arm checks around one training run: its arguments, before any data is read, and
after ``fit`` a run that Ctrl-C stopped or whose weights blew up, neither of which is recorded
as a finished run. Apart from :mod:`cnnlib.experiments` so that the command stays one job."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
from torch import nn

from ._args import whole_number
from ._fit_checks import HUGE_WEIGHT
from .checkpoint import read_checkpoint
from .shift import InputPercentiles


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


def follow(exp, model: nn.Module, checkpoint: Path | None, steps: int, quick: bool):
    """The InputPercentiles a design's probe asks for, and the followed module's name, checked
    before any training: a resumed run would have only part of the trace, so a checkpoint
    that exists is refused; the probe must return a module of the model. A design without a
    probe follows nothing."""
    if exp.probe is None:
        return contextlib.nullcontext(), None
    if checkpoint is not None and checkpoint.exists():
        raise FileExistsError(
            f"{checkpoint} holds a run of {exp.name}, which follows a layer's input from the "
            "first step: a resumed or finished run would record only part of the trace. "
            "Move the checkpoint away (or pass replace=True) to train it again from the start")
    try:
        module = exp.probe(model)
    except Exception as error:
        raise RuntimeError(f"{exp.name}'s probe raised {type(error).__name__}: {error}; it "
                           "must return the module of the built model whose input to "
                           "follow") from error
    names = {id(m): name for name, m in model.named_modules()}
    if not isinstance(module, nn.Module) or id(module) not in names:
        got = type(module).__name__ + (" that is not part of the model"
                                       if isinstance(module, nn.Module) else "")
        raise TypeError(f"{exp.name}'s probe must return a module of the built model (the "
                        f"one whose input to follow), got {got}")
    every = 1 if quick else exp.probe_every
    if every >= steps:
        raise ValueError(f"{exp.name}'s probe_every ({every}) is not below the run's {steps} "
                         "steps, so the trace would hold one point: lower it")
    return InputPercentiles(module, every=every, model=model), names[id(module)]


def probe_trace(name: str, follower, module_name: str, steps: int) -> dict:
    """The trace a run keeps, refused if the followed module never got a training input."""
    trace = follower.to_dict()
    if not trace["steps"]:
        raise RuntimeError(f"{name}'s probe followed {module_name}, which got no training "
                           f"input in {steps} steps ({follower.skipped} call(s) without "
                           "values): return a module the network calls in its forward")
    return {"module": module_name, **trace}

