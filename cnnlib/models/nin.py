"""Network in Network (Lin, Chen and Yan 2014): mlpconv layers and global average pooling.

An *mlpconv* layer is a convolution followed by 1×1 convolutions: a small multilayer
perceptron slid over the image, the same at every pixel. NiN ends without fully connected
layers: its last mlpconv layer gives one feature map per class, and *global average pooling*
turns each map into that class's score. ``head="fc"`` keeps the same mlpconv layers and ends
as VGG does instead (flatten, two hidden fully connected layers with dropout, then the
classes), so that the two heads can be compared on one body.

``nin_cifar`` is a narrow version for 32×32 images, with batch normalization after every
convolution (chapter 7; the 2014 paper had none): three mlpconv layers of 5×5, 5×5 and 3×3
kernels at 32×32, 16×16 and 8×8, as in the paper's CIFAR-10 network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._args import finite_number, whole_number
from . import _checks
from ._checks import CheckedInput
from ._registry import register

HEADS = ("gap", "fc")


def _widths(widths) -> tuple[int, ...]:
    """Three positive whole numbers (NumPy's too), as a tuple of ints, or a clear error."""
    try:
        given = tuple(widths)
        if len(given) == 3:
            return tuple(whole_number("widths", w, 1) for w in given)
    except (TypeError, ValueError):  # not a sequence, or a bool, a float, 0...
        pass
    else:
        widths = given
    raise ValueError(f"widths are the three mlpconv layers' channels, three positive ints, "
                     f"got {widths!r}")


def _conv(in_channels: int, out_channels: int, kernel: int, relu: bool = True) -> list:
    """Convolution (no bias: batch norm follows), batch norm, ReLU; the size is kept."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
              nn.BatchNorm2d(out_channels)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


def mlpconv(in_channels: int, out_channels: int, kernel: int,
            last: int | None = None, last_relu: bool = True) -> nn.Sequential:
    """A k×k convolution, then two 1×1 convolutions (the per-pixel MLP). ``last`` sets the
    last 1×1's output channels (NiN's last layer: one per class)."""
    last = out_channels if last is None else last
    return nn.Sequential(*_conv(in_channels, out_channels, kernel),
                         *_conv(out_channels, out_channels, 1),
                         *_conv(out_channels, last, 1, relu=last_relu))


class NiNCifar(CheckedInput):
    """Three mlpconv layers with a 3×3 max-pool (stride 2) after the first two, then either
    NiN's head (``"gap"``: the last 1×1 convolution gives ``num_classes`` maps, averaged) or
    VGG's (``"fc"``: flatten, ``hidden``-wide FC, ReLU, dropout, twice, then the classes)."""

    input_size = (3, 32, 32)

    def __init__(self, num_classes: int = 10, head: str = "gap",
                 widths: Sequence[int] = (32, 64, 64), hidden: int = 512,
                 dropout: float = 0.5):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be 'gap' (NiN's global average pooling) or 'fc' "
                             f"(VGG's fully connected layers), got {head!r}")
        widths = _widths(widths)
        num_classes = whole_number("num_classes", num_classes, 1,
                                   meaning="it is the number of outputs, one per class")
        hidden = whole_number("hidden", hidden, 1, meaning="the width of the FC head's layers")
        dropout = finite_number("dropout", dropout, meaning="a probability in [0, 1)")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout is a probability in [0, 1), got {dropout!r}")
        self.head, self.widths = head, widths
        self.name = f"NiN for CIFAR ({'global average pooling' if head == 'gap' else 'FC'} head)"
        w1, w2, w3 = widths
        gap = head == "gap"
        self.features = nn.Sequential(
            mlpconv(3, w1, 5),                                                 # 32×32
            nn.MaxPool2d(3, stride=2, padding=1),                              # → 16
            mlpconv(w1, w2, 5),
            nn.MaxPool2d(3, stride=2, padding=1),                              # → 8
            mlpconv(w2, w3, 3, last=num_classes if gap else w3, last_relu=not gap),
        )
        if gap:
            self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        else:
            self.classifier = nn.Sequential(
                nn.Flatten(),
                nn.Linear(w3 * 8 * 8, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        for m in self.modules():  # He initialisation, as the book's other networks
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, 32, self.name, model=self,
                            channel_hint="it takes RGB images such as CIFAR-10")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register("nin_cifar")
def nin_cifar(num_classes: int = 10, head: str = "gap",
              widths: Sequence[int] = (32, 64, 64)) -> NiNCifar:
    """A narrow NiN for CIFAR-10; ``head="fc"`` swaps global average pooling for VGG's head."""
    return NiNCifar(num_classes, head, widths)
