"""One input check shared by every model with a fixed input: fail early, say why, say the fix.

Without it a wrong-sized image surfaces as a matrix-shape error deep in the classifier
("mat1 and mat2 shapes cannot be multiplied"), which names neither the cause nor the cure.
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
