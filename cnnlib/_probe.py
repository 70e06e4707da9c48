"""A look inside a model that leaves no trace: eval mode and no gradients while it runs, and
afterwards every module's mode as it was and the forward hooks removed.

Layer tables, architecture diagrams, the drill checker and the dead-ReLU count each run a
model with hooks. In training mode that pass would update BatchNorm's running statistics and
draw dropout masks, so all of them look through this one door.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def probing(model: nn.Module, handles: Iterable = ()) -> Iterator[nn.Module]:
    """Eval mode and ``no_grad`` inside the block; each module's mode restored and ``handles``
    (from ``register_forward_hook``) removed on the way out, even after an error."""
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            yield model
    finally:
        for module, training in modes.items():
            module.training = training
        for handle in handles:
            handle.remove()


def zeros_for(model: nn.Module, input_size) -> torch.Tensor:
    """Zeros of ``input_size`` (batch included) on the model's device and in its floating dtype
    (float32 for a model without floating parameters)."""
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    return torch.zeros(tuple(input_size), device=device, dtype=dtype)
