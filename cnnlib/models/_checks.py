"""One input check shared by every model with a fixed input: fail early, say why, say the fix.

Without it a wrong-sized image surfaces as a matrix-shape error deep in the classifier
("mat1 and mat2 shapes cannot be multiplied"), which names neither the cause nor the cure.

``check_input`` does the checking; ``CheckedInput``, the base class of the book's models, runs
it before ``forward`` (a forward pre-hook), so that ``forward`` holds only the network.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _check_dtype_and_device(x: torch.Tensor, model: nn.Module, model_name: str) -> None:
    """The input's dtype and device must be the weights' (autocast converts the dtype itself).

    Without this, float64 input (NumPy's default) fails deep in the first convolution with
    "Input type (double) and bias type (float) should be the same"."""
    weight = next((p for p in model.parameters() if p.is_floating_point()), None)
    if weight is None:
        return
    if x.device != weight.device:
        raise ValueError(f"{model_name}'s weights are on {weight.device}, the input is on "
                         f"{x.device}: move the input with x.to(cnnlib.model_device(model)), or "
                         "the model with model.to(run.device)")
    if x.dtype == weight.dtype or torch.is_autocast_enabled(x.device.type):
        return
    want = str(weight.dtype).removeprefix("torch.")
    if x.dtype == torch.float64 and weight.dtype == torch.float32:
        raise ValueError(f"{model_name} expects float32 input (the dtype of its weights), got "
                         "torch.float64 (NumPy's default; torch.from_numpy keeps it): convert "
                         "with x.float()")
    raise ValueError(f"{model_name} expects {want} input (the dtype of its weights), got "
                     f"{x.dtype}: convert with x.to({weight.dtype}), or the model with "
                     f"model.to({x.dtype})")


def check_input(x, channels: int, size: int | None, model_name: str,
                explain: Callable[[int, int], str] | None = None, *, min_size: int | None = None,
                channel_hint: str = "", model: nn.Module | None = None) -> None:
    """Raise a ``ValueError`` unless ``x`` is a float batch ``N x channels x size x size``.

    ``size=None`` with ``min_size`` accepts any spatial size from ``min_size`` up.
    ``explain(h, w)`` returns the arithmetic that shows why the size is wrong and how to fix it.
    ``model`` (the caller, ``self``) adds a check of dtype and device against its weights.
    An empty batch (N = 0) passes and gives an empty output, as in PyTorch; NaN values are not
    looked for (that would cost a GPU synchronisation per batch): ``fit`` stops at the first
    loss that is not finite.
    """
    if not isinstance(x, torch.Tensor):
        fix = ": convert with torch.from_numpy(x).float()" if hasattr(x, "__array__") else ""
        raise TypeError(f"{model_name} expects a torch.Tensor, got {type(x).__name__}{fix}")
    if x.dim() == 3:
        raise ValueError(f"{model_name} expects a batch N×C×H×W, got a single image C×H×W "
                         f"{tuple(x.shape)}: use x.unsqueeze(0)")
    if x.dim() != 4:
        raise ValueError(f"{model_name} expects a batch N×C×H×W, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{model_name} expects float input, got {x.dtype}: convert with "
                         f"x.float()/255 and normalise")
    if model is not None:
        _check_dtype_and_device(x, model, model_name)
    _, c, h, w = x.shape
    if c != channels:
        hint = channel_hint or "check the data, or build the model for these channels"
        raise ValueError(f"{model_name} expects {channels} channel(s), got {c}: {hint}")
    wrong = (size is not None and (h, w) != (size, size)) or \
            (min_size is not None and min(h, w) < min_size)
    if wrong:
        want = f"{size}×{size}" if size is not None else f"at least {min_size}×{min_size}"
        detail = explain(h, w) if explain else ""
        raise ValueError(f"{model_name} expects {want} inputs (got {h}×{w})"
                         + (f": {detail}" if detail else ""))


def _check_before_forward(model: CheckedInput, args: tuple, kwargs: dict) -> None:
    """The forward pre-hook of every :class:`CheckedInput`: check the input, change nothing.

    A module-level function, not a lambda or a closure, so that a model with its hook can be
    copied (``copy.deepcopy``) and pickled (``torch.save(model)``)."""
    if args:
        model.check_input(args[0])
    elif kwargs:  # model(x=batch)
        model.check_input(next(iter(kwargs.values())))
    # no input at all: forward itself says what is missing


class CheckedInput(nn.Module):
    """A model that checks its input before ``forward`` runs, so ``forward`` holds only the
    network, as in torchvision.

    ``__init__`` registers a forward pre-hook: every call ``model(x)`` first runs
    ``model.check_input(x)``, which each model writes with the sizes and messages of its own
    design (by calling this module's :func:`check_input`), then ``forward(x)``. A wrong input
    fails there, with the reason and the fix, instead of deep inside the network. The hook is
    part of the model: ``copy.deepcopy``, pickling and ``torch.save(model)`` keep it, and a
    model built afresh for ``load_state_dict`` has its own. Calling ``model.forward(x)``
    directly skips it, as it skips every hook in PyTorch: call the model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_forward_pre_hook(_check_before_forward, with_kwargs=True)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise an error that says the fix unless ``x`` is an input this model accepts."""
        raise NotImplementedError(f"{type(self).__name__} must define check_input(self, x)")
