"""One input check shared by every model with a fixed input: fail early, say why, say the fix.

Without it a wrong-sized image surfaces as a matrix-shape error deep in the classifier
("mat1 and mat2 shapes cannot be multiplied"), which names neither the cause nor the cure.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def check_input(x, channels: int, size: int | None, model_name: str,
                explain: Callable[[int, int], str] | None = None, *, min_size: int | None = None,
                channel_hint: str = "") -> None:
    """Raise a ``ValueError`` unless ``x`` is a float batch ``N x channels x size x size``.

    ``size=None`` with ``min_size`` accepts any spatial size from ``min_size`` up.
    ``explain(h, w)`` returns the arithmetic that shows why the size is wrong and how to fix it.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model_name} expects a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        raise ValueError(f"{model_name} expects a batch N×C×H×W, got a single image C×H×W "
                         f"{tuple(x.shape)}: use x.unsqueeze(0)")
    if x.dim() != 4:
        raise ValueError(f"{model_name} expects a batch N×C×H×W, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{model_name} expects float input, got {x.dtype}: convert with "
                         f"x.float()/255 and normalise")
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
