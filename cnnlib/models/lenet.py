"""LeNet-5 (LeCun et al. 1998): the convolutional network that read cheques, small enough to
write on a whiteboard. Layer names follow the paper: C = convolution, S = subsampling, F = full.
"""

from __future__ import annotations

import torch
from torch import nn

from . import _checks
from ._checks import CheckedInput
from ._registry import register


def _explain_size(h: int, w: int) -> str:
    """The 32×32 arithmetic, where the given size breaks it, and how to fix it."""
    design = "C1 (5×5) → 28, S2 → 14, C3 → 10, S4 → 5, C5 → 1"
    steps, n, fits = [], min(h, w), True
    for name, op in (("C1", lambda n: n - 4), ("S2", lambda n: n // 2), ("C3", lambda n: n - 4),
                     ("S4", lambda n: n // 2), ("C5", lambda n: n - 4)):
        if name.startswith("C") and n < 5:
            steps.append(f"{name}'s 5×5 kernel no longer fits")
            fits = False
            break
        n = op(n)
        steps.append(f"{name} → {n}")
    got = f"at {h}×{w}: " + ", ".join(steps)
    if fits and n != 1:
        got += " (C5 must give 1×1: one vector of 120 for F6)"
    if (h, w) == (28, 28):
        fix = ("Pad MNIST's 28×28 by 2 pixels per side (cnnlib.data.load_data(..., pad_to=32), "
               "or F.pad(x, (2, 2, 2, 2)) on a batch), as LeCun et al. did")
    elif max(h, w) < 32:
        fix = "Pad the images to 32×32 (cnnlib.data.load_data(..., pad_to=32), or F.pad)"
    else:
        fix = "Resize or crop the images to 32×32"
    return f"{design}; {got}. {fix}."


class LeNet5(CheckedInput):
    """LeNet-5: two convolution + subsampling stages, then C5 and two fully connected layers.

    Input 32×32: the paper padded its 28×28 digits by 2 pixels per side so that strokes reach the
    centre of C1's receptive fields even at the border; padded MNIST is what it expects.

    ``classic=True`` is the 1998 flavour: tanh and average pooling. ``classic=False`` (default) is
    the modern one: ReLU and max pooling, which train faster. The layout is the same either way,
    so the two can be compared layer by layer. Simplifications of the 1998 network, on purpose:

    * S2/S4 subsampling had a trainable coefficient and bias per map, then a squashing function;
      here it is plain average pooling (classic) or max pooling (modern).
    * C3 connected each of its 16 maps to a subset of S2's 6 maps (a partial connection table, to
      break symmetry and save weights); here every C3 map sees all 6.
    * The activation was a scaled tanh, 1.7159 tanh(2a/3); here plain tanh.
    * The output layer was 10 Euclidean RBF units with fixed ±1 codes; here a Linear layer
      trained with cross-entropy.

    C5 is a 5×5 convolution over a 5×5 input, a 400 → 120 full connection; it stays a Conv2d so
    the 1998 naming holds and the output is 1×1 before flattening.
    """

    input_size = (1, 32, 32)

    def __init__(self, num_classes: int = 10, in_channels: int = 1, classic: bool = False):
        super().__init__()
        self.input_size = (in_channels, 32, 32)
        self.classic = classic
        act = nn.Tanh if classic else nn.ReLU
        pool = nn.AvgPool2d if classic else nn.MaxPool2d
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5),  # C1: 6 maps, 32 → 28
            act(),
            pool(kernel_size=2, stride=2),             # S2: 28 → 14
            nn.Conv2d(6, 16, kernel_size=5),           # C3: 16 maps, 14 → 10
            act(),
            pool(kernel_size=2, stride=2),             # S4: 10 → 5
            nn.Conv2d(16, 120, kernel_size=5),         # C5: 120 maps, 5 → 1
            act(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(120, 84),                        # F6
            act(),
            nn.Linear(84, num_classes),                # output
        )

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, self.input_size[0], 32, "LeNet-5", _explain_size,
                            channel_hint="build it with in_channels matching the data "
                                         "(1 for MNIST, 3 for CIFAR-10)", model=self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


@register("lenet5")
def lenet5(num_classes: int = 10, in_channels: int = 1, classic: bool = False) -> LeNet5:
    """LeNet-5 for 32×32 inputs; ``classic=True`` for tanh + average pooling."""
    return LeNet5(num_classes=num_classes, in_channels=in_channels, classic=classic)
