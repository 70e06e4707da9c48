"""The book's optimiser set-up in one call: SGD with momentum under a one-cycle schedule.

Most chapters train the same way: SGD with momentum and weight decay, and a learning rate that
rises to a peak over the first part of training and then anneals to almost zero, stepped after
every batch (Smith's one-cycle policy, in ``torch.optim.lr_scheduler.OneCycleLR``'s version).
:func:`one_cycle` builds both from the model, the training loader, the number of epochs and the
peak rate, so a chapter writes one line instead of six, and every chapter writes it the same way:

    optimizer, scheduler = one_cycle(model, data.train, epochs, max_lr=0.05)
    history = fit(model, data.train, data.test, epochs=epochs, optimizer=optimizer,
                  scheduler=scheduler, scheduler_per_batch=True)
"""

from __future__ import annotations

import copy
import numbers
import warnings

import torch

from .fast import FastSettings, make_optimizer


def warmup_fraction(pct_start: float, total_steps: int) -> float:
    """``pct_start``, raised to two steps of warm-up on short runs: OneCycleLR divides by zero
    when the warm-up is exactly one step (e.g. a quick run of 4 steps at 0.25)."""
    if total_steps >= 4 and pct_start * total_steps < 2:
        return min(0.5, 2 / total_steps)
    return pct_start


def one_cycle(model: torch.nn.Module, loader, epochs: int, max_lr: float, *,
              momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 5e-4,
              pct_start: float = 0.3, fast: FastSettings | None = None):
    """``(optimizer, scheduler)``: SGD over ``model`` and a one-cycle schedule of
    ``epochs * len(loader)`` steps peaking at ``max_lr``; pass both to ``fit`` with
    ``scheduler_per_batch=True``.

    ``pct_start`` is the share of the steps spent warming up (OneCycleLR's default, 0.3).
    The schedule also sets the momentum at every step, against the rate: 0.95 at the start,
    0.85 at the peak, back to 0.95 at the end (OneCycleLR's defaults, as Smith's one-cycle
    policy prescribes). ``momentum`` is therefore only the optimiser's value before the
    schedule starts, which OneCycleLR overwrites: it does not change the run.
    The optimizer is fused on CUDA, as ``fast`` says (:mod:`cnnlib.fast`).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if isinstance(max_lr, bool) or not isinstance(max_lr, numbers.Real) or not (
            0 < max_lr < float("inf")):
        raise ValueError(f"max_lr must be a positive, finite number, got {max_lr!r}: it is the "
                         "peak learning rate of the cycle, e.g. 0.05")
    steps = len(loader)
    if steps == 0:
        raise ValueError("the training loader has no batches, so there is nothing to schedule: "
                         "check the dataset's size and the batch size")
    optimizer = make_optimizer(model, "sgd", lr=max_lr, momentum=momentum, nesterov=nesterov,
                               weight_decay=weight_decay, fast=fast)
    total = epochs * steps
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=total, pct_start=warmup_fraction(pct_start, total))
    return optimizer, scheduler


def schedule_trace(optimizer, scheduler, steps: int) -> dict[str, list[float]]:
    """The learning rate and momentum of the first parameter group at each of ``steps``
    steps of ``scheduler``, read from a copy, so that the real optimiser and schedule are
    left where they are (a figure of the schedule a run is about to use)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if getattr(scheduler, "optimizer", None) is not optimizer:
        raise ValueError("the scheduler belongs to another optimiser: pass the pair that "
                         "was built together, e.g. optimizer, scheduler = one_cycle(...)")
    optimizer, scheduler = copy.deepcopy((optimizer, scheduler))
    group = optimizer.param_groups[0]
    trace: dict[str, list[float]] = {"lr": [], "momentum": []}
    with warnings.catch_warnings():  # the copy's step is the scheduler's wrapper, copied
        warnings.filterwarnings("ignore", message=r"Seems like `optimizer\.step\(\)` has been")
        for step in range(steps):
            trace["lr"].append(float(group["lr"]))
            trace["momentum"].append(float(group.get("momentum", group.get("betas", (0,))[0])))
            if step < steps - 1:  # no step after the last rate read
                optimizer.step()  # no gradients: the weights stay; the schedule wants it
                scheduler.step()
    return trace
