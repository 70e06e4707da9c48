"""A small four-layer CNN for controlled experiments: change one thing, keep everything else.

AlexNet's paper argues for three of its choices with small networks on CIFAR-10: ReLU against
tanh (its Figure 1, a four-layer CNN), local response normalisation, and overlapping against
plain max-pooling. ``SmallCNN`` is such a network, cheap enough to train twice on a CPU, with
the activation, the normalisation and the pooling as arguments, so a comparison differs in
exactly one of them.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import LocalResponseNorm
from . import _checks
from ._checks import CheckedInput
from ._registry import register

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}

# kernel, stride, padding of each max-pool. Both halve 32 → 16 → 8 → 4, so the classifier and
# the parameter count are the same and only the overlap differs: padding 1 lets the 3×3 windows
# at stride 2 give floor((32 + 2 - 3)/2) + 1 = 16 outputs, as 2×2 windows do.
POOLS = {"plain": (2, 2, 0), "overlapping": (3, 2, 1)}


class SmallCNN(CheckedInput):
    """conv5-pool-conv5-pool-conv3-pool-linear for 3×32×32 images: four layers with weights.

    ``activation`` is "relu" or "tanh"; ``pool`` is "plain" (2×2, stride 2: windows side by
    side) or "overlapping" (3×3, stride 2, AlexNet's choice). ``lrn=True`` puts the paper's
    local response normalisation after the first two activations, before their pools, where
    AlexNet has it. ``width`` is the first layer's channel count; the next two have twice as
    many.
    """

    input_size = (3, 32, 32)

    def __init__(self, activation: str = "relu", pool: str = "plain", width: int = 16,
                 num_classes: int = 10, lrn: bool = False):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {sorted(POOLS)}, got {pool!r}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        if not isinstance(lrn, bool):
            raise ValueError(f"lrn must be True or False, got {lrn!r}")
        act = ACTIVATIONS[activation]
        k, s, p = POOLS[pool]
        w = width
        def norm():  # a layer of its own at each place (hooks and summaries tell them apart)
            return [LocalResponseNorm()] if lrn else []

        self.features = nn.Sequential(
            nn.Conv2d(3, w, kernel_size=5, padding=2), act(), *norm(),
            nn.MaxPool2d(k, s, p),                                   # 32 → 16
            nn.Conv2d(w, 2 * w, kernel_size=5, padding=2), act(), *norm(),
            nn.MaxPool2d(k, s, p),                                   # 16 → 8
            nn.Conv2d(2 * w, 2 * w, kernel_size=3, padding=1), act(),
            nn.MaxPool2d(k, s, p),                                   # 8 → 4
        )
        self.classifier = nn.Linear(2 * w * 4 * 4, num_classes)

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, 32, "SmallCNN", model=self,
                            channel_hint="it takes RGB images such as CIFAR-10")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register("small_cnn")
def small_cnn(activation: str = "relu", pool: str = "plain", width: int = 16,
              num_classes: int = 10, lrn: bool = False) -> SmallCNN:
    """The four-layer CNN of the book's ReLU/tanh, LRN and pooling experiments (32×32)."""
    return SmallCNN(activation=activation, pool=pool, width=width, num_classes=num_classes,
                    lrn=lrn)
