"""The small CNN of a popular PyTorch tutorial for MNIST: two 5×5 convolutions with batch
normalization, then one linear layer.

conv 5×5 (16) + BN + ReLU + 2×2 max-pool, conv 5×5 (32) + BN + ReLU + 2×2 max-pool, then
Linear(7·7·32, 10). Padding 2 keeps 28 → 28 and 14 → 14 through the convolutions, so the pools
take a 28×28 digit to 7×7. It is the model the tutorial trains, saves with
``torch.save(model.state_dict(), ...)`` and loads again; chapter 3 compares it with LeNet-5.
"""

from __future__ import annotations

import torch
from torch import nn

from . import _checks
from ._checks import CheckedInput
from ._registry import register


class MnistCNN(CheckedInput):
    """The tutorial's ConvNet for 1×28×28 digits (layer names as the tutorial has them)."""

    input_size = (1, 28, 28)

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.layer1 = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, stride=1, padding=2),    # 16×28×28
            nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2))                   # 16×14×14
        self.layer2 = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=5, stride=1, padding=2),   # 32×14×14
            nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2))                   # 32×7×7
        self.fc = nn.Linear(7 * 7 * 32, num_classes)

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 1, 28, "the tutorial's MNIST CNN", model=self,
                            channel_hint="it takes grayscale digits such as MNIST "
                                         "(1 channel)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.layer2(self.layer1(x)), 1))


@register("mnist_cnn")
def mnist_cnn(num_classes: int = 10) -> MnistCNN:
    """The tutorial's two-convolution MNIST CNN with batch normalization (28×28 inputs)."""
    return MnistCNN(num_classes)
