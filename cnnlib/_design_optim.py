"""How a design's runs are optimised: SGD with momentum under a step, one-cycle or constant
schedule, and the settings checked before any data is read. Apart from :mod:`cnnlib.designs`,
which declares the experiments, so that the designs stay a list of what each compares."""

from __future__ import annotations

import functools
import math

import torch

from .finetune import one_cycle_groups
from .optim import one_cycle


def _sgd(model, hyper: dict, budget, train_loader):
    """SGD with momentum under the design's schedule: ``"step"`` (the rate divided by 10 at the
    fractions ``decay_at`` of the epochs, as the paper), ``"one_cycle"`` (the book's usual:
    warm-up to ``lr`` over ``pct_start`` of the steps, then annealed to almost zero) or
    ``"constant"`` (``lr`` throughout).

    The step schedule is a ``LambdaLR`` rather than ``MultiStepLR``: the same rates, and a
    state that a checkpoint can hold (``MultiStepLR`` keeps its milestones in a ``Counter``).
    """
    if hyper.get("body_lr") is not None:
        raise ValueError("body_lr is read only by finetune_sgd (a pretrained body at its own "
                         "rate); this optimiser would train every weight at lr")
    if hyper.get("schedule", "step") == "constant":
        optimiser = torch.optim.SGD(model.parameters(), lr=hyper["lr"],
                                    momentum=hyper["momentum"],
                                    weight_decay=hyper["weight_decay"])
        return optimiser, None, False
    if hyper.get("schedule", "step") == "one_cycle":
        optimiser, scheduler = one_cycle(model, train_loader, budget.epochs, hyper["lr"],
                                         momentum=hyper["momentum"],
                                         nesterov=hyper.get("nesterov", False),
                                         weight_decay=hyper["weight_decay"],
                                         pct_start=hyper.get("pct_start", 0.3))
        return optimiser, scheduler, True
    optimiser = torch.optim.SGD(model.parameters(), lr=hyper["lr"], momentum=hyper["momentum"],
                                weight_decay=hyper["weight_decay"])
    milestones = sorted({max(1, round(f * budget.epochs)) for f in hyper["decay_at"]})
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, functools.partial(_step_factor, milestones=tuple(milestones)))
    return optimiser, scheduler, False


def check_hyper(hyper: dict) -> dict:
    """The optimiser's settings, checked before any data is read: a known schedule (``step``
    needs ``decay_at``, fractions of the epochs), a rate above 0, momentum from 0 to below 1,
    a weight decay of 0 or more."""
    schedule = hyper.get("schedule", "step")
    if schedule not in ("step", "one_cycle", "constant"):
        raise ValueError(f"schedule must be 'step', 'one_cycle' or 'constant', got {schedule!r}")
    if not isinstance(hyper.get("nesterov", False), bool):
        raise ValueError(f"nesterov must be True or False, got {hyper['nesterov']!r}")
    if hyper.get("nesterov") and hyper.get("schedule", "step") != "one_cycle":
        raise ValueError("nesterov is read only by the 'one_cycle' schedule; with "
                         f"{hyper.get('schedule', 'step')!r} it would be recorded but not used")
    if hyper.get("optimizer", "SGD") != "SGD":
        raise ValueError(f"the designs train with SGD (momentum); optimizer "
                         f"{hyper['optimizer']!r} would be recorded but not used")
    unread = {"pct_start": "one_cycle", "decay_at": "step"}
    for key, needs in unread.items():
        if key in hyper and schedule != needs:
            raise ValueError(f"{key} is read only by the {needs!r} schedule; with {schedule!r} "
                             "it would be recorded but not used: leave it out")
    for key, low, high, meaning in (("lr", 0, None, "above 0"),
                                    ("momentum", 0, 1, "from 0 to below 1"),
                                    ("weight_decay", 0, None, "0 or more"),
                                    ("pct_start", 0, 1, "from 0 to below 1")):
        if key not in hyper and key == "pct_start":
            continue
        value = hyper.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and value >= low \
            and (high is None or value < high) and (key != "lr" or value > 0)
        if not ok:
            raise ValueError(f"{key} must be a number {meaning}, got {value!r}")
    body_lr = hyper.get("body_lr")
    if body_lr is not None and not (isinstance(body_lr, (int, float))
                                    and not isinstance(body_lr, bool)
                                    and math.isfinite(body_lr) and 0 < body_lr <= hyper["lr"]):
        raise ValueError(f"body_lr, the pretrained body's peak rate, must be a number above 0 "
                         f"and at most lr ({hyper['lr']!r}), got {body_lr!r}")
    if body_lr is not None and schedule != "one_cycle":
        raise ValueError("body_lr is read only by the 'one_cycle' schedule; with "
                         f"{schedule!r} it would be recorded but not used: leave it out")
    decay_at = hyper.get("decay_at")
    if schedule == "step" and (not isinstance(decay_at, (list, tuple)) or not decay_at
                               or not all(isinstance(f, (int, float)) and 0 < f < 1
                                          for f in decay_at)):
        raise ValueError(f"the step schedule needs decay_at, the fractions of the epochs at "
                         f"which the rate is divided by 10 (e.g. [0.5, 0.75]), got {decay_at!r}")
    return hyper


def _step_factor(epoch: int, milestones: tuple[int, ...]) -> float:
    return 0.1 ** sum(epoch >= m for m in milestones)


def one_cycle_hyper(lr: float, weight_decay: float = 5e-4) -> dict:
    """The book's one-cycle recipe as a design's hyper-parameters (SGD, 30 % warm-up).

    ``momentum`` is what :func:`cnnlib.optim.one_cycle` hands SGD; the schedule then sets the
    momentum at every step, 0.95 to 0.85 and back, against the rate. It stays in the dict
    because the recorded runs' checkpoint names and designs were made with it.
    """
    return {"optimizer": "SGD", "schedule": "one_cycle", "lr": lr, "pct_start": 0.3,
            "momentum": 0.9, "weight_decay": weight_decay}


def finetune_sgd(model, hyper: dict, budget, train_loader):
    """A design's optimiser for a network that may be pretrained: :func:`_sgd` for one that
    trains every weight at one rate; :func:`cnnlib.finetune.one_cycle_groups` (one-cycle,
    Nesterov) for one whose body trains at ``body_lr``, or whose body is frozen (the head
    alone)."""
    frozen = any(not p.requires_grad for p in model.parameters())
    if hyper.get("body_lr") is None and not frozen:
        return _sgd(model, hyper, budget, train_loader)
    if hyper.get("body_lr") is not None and not any(
            p.requires_grad for name, p in model.named_parameters()
            if not name.startswith("fc.")):
        raise ValueError("body_lr is given but the body is frozen: leave body_lr out for a "
                         "frozen arm (only its head trains)")
    if hyper.get("schedule") != "one_cycle" or not hyper.get("nesterov"):
        raise ValueError("a pretrained body trains with the one-cycle schedule and Nesterov "
                         "momentum (cnnlib.finetune.one_cycle_groups): set schedule "
                         "'one_cycle' and nesterov True")
    optimiser, scheduler = one_cycle_groups(
        model, train_loader, budget.epochs, head_lr=hyper["lr"], body_lr=hyper.get("body_lr"),
        weight_decay=hyper["weight_decay"], pct_start=hyper.get("pct_start", 0.3))
    return optimiser, scheduler, True
