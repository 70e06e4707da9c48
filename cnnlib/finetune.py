"""Fine-tuning a pretrained network: a new head, a frozen body, a smaller rate for the body.

Three steps that every fine-tuning takes, each with a trap this module closes:

- :func:`new_head` replaces the last layer with a fresh one for the new classes (its input
  width read from the old one, so it fits any network whose head is one ``nn.Linear``).
- :func:`freeze` stops the body from learning. ``requires_grad = False`` alone stops the
  gradients, not batch normalisation: in training mode a BN layer still replaces its running
  mean and variance with the new data's, so a "frozen" body changes anyway. Here the frozen BN
  layers are held in evaluation mode at every forward pass. :func:`unfreeze` undoes it all
  (the second stage of a fine-tuning, or a part of the body at a time).
- :func:`one_cycle_groups` is :func:`cnnlib.optim.one_cycle` with two parameter groups, the
  body at a smaller (or equal) peak rate than the head (per-layer learning rates), or the head
  alone when the body is frozen.
"""
from __future__ import annotations

import numbers

import torch
from torch import nn

from .optim import warmup_fraction


def _head_module(model: nn.Module, head: str) -> nn.Linear:
    module = getattr(model, head, None)
    if not isinstance(module, nn.Linear):
        found = type(module).__name__ if module is not None else "nothing"
        raise ValueError(f"model.{head} should be the network's last nn.Linear (its head), "
                         f"found {found}: pass head= the attribute's name")
    return module


def new_head(model: nn.Module, num_classes: int, head: str = "fc") -> nn.Linear:
    """Replace ``model.<head>`` with a new ``nn.Linear`` to ``num_classes`` outputs; return it.

    The new layer is on the old one's device and dtype, and initialised as PyTorch does.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    old = _head_module(model, head)
    layer = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    layer = layer.to(device=old.weight.device, dtype=old.weight.dtype)
    setattr(model, head, layer)
    return layer


def _hold_in_eval(module: nn.Module, inputs) -> None:
    module.train(False)


def _held(module: nn.Module) -> list[int]:
    """The ids of the pre-hooks with which :func:`freeze` holds ``module`` in eval mode."""
    return [key for key, hook in module._forward_pre_hooks.items() if hook is _hold_in_eval]


def _batch_norms(module: nn.Module):
    return (m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


def freeze(model: nn.Module, head: str = "fc") -> int:
    """Freeze everything but ``model.<head>``; return the number of weights frozen.

    Frozen parameters get ``requires_grad = False``, and the batch-norm layers outside the head
    are held in evaluation mode (a forward pre-hook), so that their running statistics stay
    the pretrained ones whatever ``model.train()`` says. Freezing twice adds no second hook;
    :func:`unfreeze` removes them (``requires_grad_(True)`` alone does not).
    """
    head_module = _head_module(model, head)
    kept = {id(p) for p in head_module.parameters()}
    frozen = 0
    for p in model.parameters():
        if id(p) not in kept:
            p.requires_grad_(False)
            frozen += p.numel()
    inside_head = set(head_module.modules())
    for m in _batch_norms(model):
        if m not in inside_head:
            if not _held(m):
                m.register_forward_pre_hook(_hold_in_eval)
            m.train(False)
    return frozen


def unfreeze(module: nn.Module) -> int:
    """Undo :func:`freeze` in ``module``: every parameter trains again and its batch-norm
    layers follow ``train()``/``eval()`` again; return the number of weights made trainable.

    ``module`` is the whole model, or a part of the body (``model.layer3``) to unfreeze that
    part alone. Its batch-norm layers take the mode of ``module`` (training after
    ``model.train()``), so that their running statistics adapt to the new data.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"unfreeze takes an nn.Module (the model or a part of it), got "
                        f"{type(module).__name__}")
    thawed = 0
    for p in module.parameters():
        if not p.requires_grad:
            p.requires_grad_(True)
            thawed += p.numel()
    for m in _batch_norms(module):
        for key in _held(m):
            del m._forward_pre_hooks[key]
        m.train(module.training)
    return thawed


def _rate(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            0 < value < float("inf")):
        raise ValueError(f"{name} must be a positive, finite number, got {value!r}")
    return float(value)


def one_cycle_groups(model: nn.Module, loader, epochs: int, head_lr: float,
                     body_lr: float | None = None, head: str = "fc", *,
                     nesterov: bool = True, weight_decay: float = 5e-4,
                     pct_start: float = 0.25):
    """``(optimizer, scheduler)``: SGD with a one-cycle schedule peaking at ``head_lr`` for
    ``model.<head>`` and at ``body_lr`` for every other trainable parameter.

    A frozen body (no trainable parameter outside the head, see :func:`freeze`) gives one
    group, the head's, and ``body_lr`` must then be None. Pass both to ``fit`` with
    ``scheduler_per_batch=True``.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    head_params = [p for p in _head_module(model, head).parameters() if p.requires_grad]
    kept = {id(p) for p in head_params}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in kept]
    if not head_params:
        raise ValueError(f"model.{head} has no trainable parameters: nothing would learn")
    groups = [{"params": head_params, "lr": _rate("head_lr", head_lr)}]
    if body and body_lr is None:
        raise ValueError("the body has trainable parameters but body_lr is None: give its peak "
                         "rate (smaller than head_lr), or freeze it with cnnlib.finetune.freeze")
    if not body and body_lr is not None:
        raise ValueError("body_lr given but the body is frozen (no trainable parameter "
                         "outside the head): leave body_lr out")
    if body:
        body_rate = _rate("body_lr", body_lr)
        if body_rate > groups[0]["lr"]:
            raise ValueError(
                f"body_lr={body_lr!r} is larger than head_lr={head_lr!r}: the pretrained body "
                f"learns at the smaller rate, the new head at the larger one. The arguments "
                f"are (model, loader, epochs, head_lr, body_lr): swap the two rates, or pass "
                f"them by name")
        groups.insert(0, {"params": body, "lr": body_rate})
    steps = len(loader)
    if steps == 0:
        raise ValueError("the training loader has no batches: check the dataset and batch size")
    optimizer = torch.optim.SGD(groups, momentum=0.9, nesterov=nesterov,
                                weight_decay=weight_decay)
    total = epochs * steps
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in groups], total_steps=total,
        pct_start=warmup_fraction(pct_start, total))
    return optimizer, scheduler
