"""A multilayer perceptron with dropout: the network of the dropout paper's MNIST experiments.

Srivastava et al. (2014) showed dropout first on fully connected networks for MNIST (784 inputs,
two or three hidden layers of 1024 or 2048 ReLUs). This is that shape, with the book's
from-scratch :class:`cnnlib.layers.Dropout` after each hidden layer (and optionally on the
input), so that the dropout chapter trains the layer it writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers import Dropout
from . import _checks
from ._checks import CheckedInput
from ._registry import register


class MLP(CheckedInput):
    """flatten → [dropout] → (linear → ReLU → dropout) per hidden layer → linear.

    ``dropout`` is the probability of *dropping* a hidden unit (PyTorch's convention; the paper's
    p is the probability of keeping one), ``input_dropout`` the same for input pixels.
    """

    def __init__(self, input_size: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (1024, 1024),
                 num_classes: int = 10, dropout: float = 0.5, input_dropout: float = 0.0):
        super().__init__()
        if len(input_size) != 3 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1
                                       for n in input_size):
            raise ValueError(f"input_size must be (C, H, W) of positive ints, got {input_size!r}")
        if not hidden or any(isinstance(n, bool) or not isinstance(n, int) or n < 1
                             for n in hidden):
            raise ValueError(f"hidden must be a non-empty list of positive ints, got {hidden!r}")
        self.input_size = tuple(input_size)
        c, h, w = self.input_size
        layers: list[nn.Module] = [nn.Flatten()]
        if input_dropout:
            layers.append(Dropout(input_dropout))
        width = c * h * w
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU(inplace=True), Dropout(dropout)]
            width = units
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def check_input(self, x: torch.Tensor) -> None:
        c, h, _ = self.input_size
        _checks.check_input(x, c, h, "MLP", model=self,
                            channel_hint="build it with input_size=(C, H, W) of your data")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register("mlp")
def mlp(num_classes: int = 10, input_size: Sequence[int] = (1, 28, 28),
        hidden: Sequence[int] = (1024, 1024), dropout: float = 0.5,
        input_dropout: float = 0.0) -> MLP:
    """784-1024-1024-10 with dropout 0.5 on the hidden units: the dropout chapter's network."""
    return MLP(input_size, hidden, num_classes, dropout, input_dropout)
