"""GoogLeNet (Szegedy et al. 2015): Inception modules, parallel branches cheapened by 1×1 convs.

An Inception module runs four branches side by side on the same input and concatenates their
channels: a 1×1 convolution; a 1×1 *reduction* then a 3×3; a 1×1 reduction then a 5×5; a 3×3
max-pool then a 1×1 *projection*. The reductions shrink the channels before the expensive
convolutions, which is what keeps a 22-layer network at a few million parameters.

``googlenet`` is torchvision's ``googlenet(aux_logits=False)``: the same modules, names and
parameter count (6,624,904), so state_dicts load both ways. torchvision builds the "5×5"
branch with a 3×3 kernel, a known bug it keeps so that its trained weights still load
(pytorch/vision issue 906); ``big_kernel=5`` gives the paper's 5×5. The paper's auxiliary
classifiers exist only to train the network (their losses, weighted 0.3, are added to the
main one) and are discarded at inference, so this model leaves them out.

``googlenet_cifar`` keeps the nine Inception modules and their proportions for 32×32 images:
a 3×3 stem, the modules at 16×16, 8×8 and 4×4, at ``width`` of the paper's channels.
"""

from __future__ import annotations

import torch
from torch import nn

from .._args import finite_number, whole_number
from . import _checks
from ._checks import CheckedInput
from ._registry import register

# The paper's Table 1: (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj) per module.
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
POOL_AFTER = ("3b", "4e")  # a stride-2 max-pool follows these modules


def out_channels(config: tuple[int, ...]) -> int:
    """A module's output channels: the four branches' outputs, concatenated."""
    ch1x1, _, ch3x3, _, ch5x5, pool_proj = config
    return ch1x1 + ch3x3 + ch5x5 + pool_proj


class BasicConv2d(nn.Module):
    """Convolution (no bias: the batch norm after it has one), batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches on one input, concatenated along the channels. Every branch keeps
    the height and width (padding), so the outputs can be stacked."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, big_kernel: int = 5):
        super().__init__()
        big_kernel = _big_kernel(big_kernel)
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),          # reduction
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),          # reduction
            BasicConv2d(ch5x5red, ch5x5, kernel_size=big_kernel, padding=big_kernel // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),  # keeps the size
            BasicConv2d(in_channels, pool_proj, kernel_size=1),         # projection
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, 1)


def _big_kernel(value) -> int:
    kernel = whole_number("big_kernel", value, meaning="the third branch's kernel: 5 (the "
                          "paper) or 3 (torchvision's googlenet)")
    if kernel not in (3, 5):
        raise ValueError(f"big_kernel is the third branch's kernel: 5 (the paper) or 3 "
                         f"(torchvision's googlenet), got {value!r}")
    return kernel


def _check_head(num_classes, dropout) -> tuple[int, float]:
    """``num_classes`` and ``dropout`` checked as ``get_model`` checks ``num_classes``."""
    num_classes = whole_number("num_classes", num_classes, 1,
                               meaning="it is the number of outputs, one per class")
    dropout = finite_number("dropout", dropout, meaning="a probability in [0, 1)")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout is a probability in [0, 1), got {dropout!r}")
    return num_classes, dropout


def _scaled(config: tuple[int, ...], width: float) -> tuple[int, ...]:
    return tuple(max(1, round(c * width)) for c in config)


def _inceptions(model: nn.Module, in_channels: int, width: float, big_kernel: int) -> int:
    """Add ``inception3a`` ... ``inception5b`` (and the pools between them, ``maxpool3`` and
    ``maxpool4`` as torchvision names them) to ``model``; return the last one's channels."""
    channels = in_channels
    for name, config in INCEPTION.items():
        config = _scaled(config, width)
        model.add_module(f"inception{name}", Inception(channels, *config, big_kernel=big_kernel))
        channels = out_channels(config)
        if name == "3b":
            model.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        elif name == "4e":
            model.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
    return channels


def _init(model: nn.Module) -> None:
    """torchvision's initialisation: truncated normal (sd 0.01) weights, BN at 1 and 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


class GoogLeNet(CheckedInput):
    """GoogLeNet for 224×224 ImageNet images, without the auxiliary classifiers: a stem of
    three convolutions and two pools (224 → 28), nine Inception modules with two pools between
    them (28 → 14 → 7), global average pooling, dropout and one linear layer."""

    input_size = (3, 224, 224)
    min_input_size = 15  # torchvision's min_size: smaller inputs vanish in the pools

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, big_kernel: int = 3):
        super().__init__()
        num_classes, dropout = _check_head(num_classes, dropout)
        big_kernel = _big_kernel(big_kernel)
        self.name = "GoogLeNet" + (" (5×5 branches)" if big_kernel == 5 else "")
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)   # 224 → 112
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)             # → 56
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)             # → 28
        channels = _inceptions(self, 192, 1.0, big_kernel)                    # → 14 → 7
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(channels, num_classes)
        _init(self)

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, None, self.name, min_size=self.min_input_size,
                            channel_hint="GoogLeNet takes RGB images", model=self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.inception3b(self.inception3a(x))
        x = self.maxpool3(x)
        x = self.inception4a(x)
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        x = self.inception4e(x)
        x = self.maxpool4(x)
        x = self.inception5b(self.inception5a(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


class GoogLeNetCifar(CheckedInput):
    """The nine Inception modules for 32×32 images at ``width`` of the paper's channels: a
    3×3 stem conv and one pool (32 → 16) instead of the ImageNet stem's 224 → 28, so that
    the modules work at 16×16, 8×8 and 4×4."""

    input_size = (3, 32, 32)

    def __init__(self, num_classes: int = 10, width: float = 0.25, dropout: float = 0.2,
                 big_kernel: int = 5):
        super().__init__()
        width = finite_number("width", width, meaning="a fraction of the paper's channels, "
                              "in (0, 1], such as 0.25")
        if not 0 < width <= 1:
            raise ValueError(f"width is a fraction of the paper's channels, in (0, 1]; "
                             f"got {width!r}")
        num_classes, dropout = _check_head(num_classes, dropout)
        big_kernel = _big_kernel(big_kernel)
        self.width = width
        self.name = f"GoogLeNet for CIFAR (width {width:g})"
        stem = max(1, round(192 * width))
        self.conv1 = BasicConv2d(3, stem, kernel_size=3, padding=1)           # 32 → 32
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)             # → 16
        channels = _inceptions(self, stem, width, big_kernel)                 # → 8 → 4
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(channels, num_classes)
        _init(self)

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, 32, self.name, model=self,
                            channel_hint="it takes RGB images such as CIFAR-10")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool1(self.conv1(x))
        x = self.inception3b(self.inception3a(x))
        x = self.maxpool3(x)
        x = self.inception4a(x)
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        x = self.inception4e(x)
        x = self.maxpool4(x)
        x = self.inception5b(self.inception5a(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


@register("googlenet")
def googlenet(num_classes: int = 1000, big_kernel: int = 3) -> GoogLeNet:
    """torchvision's googlenet(aux_logits=False); ``big_kernel=5`` for the paper's 5×5."""
    return GoogLeNet(num_classes, big_kernel=big_kernel)


@register("googlenet_cifar")
def googlenet_cifar(num_classes: int = 10, width: float = 0.25) -> GoogLeNetCifar:
    """GoogLeNet's nine Inception modules for CIFAR-10, a quarter wide by default."""
    return GoogLeNetCifar(num_classes, width)
