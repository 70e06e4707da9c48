"""ResNet (He, Zhang, Ren and Sun 2016): learn a residual F(x), output F(x) + x.

Deeper plain networks train *worse* than shallower ones, on the training set too (the
degradation problem): stacking more layers makes even the identity hard to learn. A shortcut
that adds the block's input to its output makes the identity the default (F = 0), so extra depth
no longer makes training harder (in the paper, up to 152 layers on ImageNet). It does not make
depth free: the paper's 1202-layer CIFAR-10 network fits its training set as well as the 110-layer
one and tests worse (7.93 % against 6.43 % error), which the authors put down to overfitting.
This module builds both families of the paper, with the same blocks:

* ImageNet (``resnet18/34/50``): 7×7/2 stem, max-pool, four stages of 64-128-256-512 channels.
  Module names equal torchvision's (``conv1``, ``bn1``, ``layer1``..``layer4``, ``downsample``,
  ``fc``), so its state_dicts, pretrained ones included, load as they are.
* CIFAR-10 (section 4.2, ``resnet20/56``): 3×3 stem, three stages of 16-32-64 channels with n
  blocks each, 6n + 2 weighted layers; ``plain20/56`` are the same networks without shortcuts.
* ``resnet18_cifar``: ResNet-18's widths with the CIFAR stem, the model most tutorials train.

The code reads like torchvision's ``models/resnet.py``, minus what the book does not use
(groups, dilation, custom norm layers).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..arithmetic import conv_output_size, pool_output_size
from . import _checks
from ._checks import CheckedInput
from ._registry import register


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution, padding 1: keeps the size (stride 1) or halves it (stride 2).

    No bias: the BatchNorm that follows subtracts the mean, which would cancel it.
    """
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution: mixes channels at each pixel (bottlenecks, projection shortcuts)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """The paper's option A: a parameter-free shortcut for a block that changes shape.

    Stride-2 subsampling by keeping every other pixel, and zeros for the new channels (the
    identity on the old ones). The paper used it on CIFAR-10 so that ResNets and their plain
    twins have exactly the same parameters.
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int = 1):
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"zero-padding can only add channels ({in_planes} → {out_planes}); "
                             f"use shortcut_type='B' (a 1×1 projection)")
        self.extra = out_planes - in_planes
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # (W, H, C): zeros after the last channel


def _check_shortcut(block: nn.Module, inplanes: int, out: int, stride: int) -> None:
    """A block's shortcut must exist exactly when it can be added, and fit when it changes shape."""
    if not block.shortcut and block.downsample is not None:
        raise ValueError("a plain block (shortcut=False) has no shortcut to project: "
                         "pass downsample=None")
    if block.shortcut and block.downsample is None and (stride != 1 or inplanes != out):
        raise ValueError(f"the block changes shape ({inplanes} → {out} channels, stride "
                         f"{stride}), so x cannot be added as is: pass downsample, e.g. a "
                         f"1×1 conv + BN (what ResNet._make_layer builds)")


class BasicBlock(nn.Module):
    """Two 3×3 convolutions and a shortcut: relu(bn2(conv2(relu(bn1(conv1(x))))) + x).

    ``downsample`` maps x to the output's shape when the block changes it (stride 2 or more
    channels); it is ``None`` otherwise, and the shortcut is the identity. ``shortcut=False``
    builds the plain twin of the block: the same layers, nothing added.
    """

    expansion: int = 1  # output channels = planes × expansion

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, shortcut: bool = True):
        super().__init__()
        # Both self.conv1 and self.downsample downsample the input when stride != 1
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride
        self.shortcut = shortcut
        _check_shortcut(self, inplanes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        if self.shortcut:
            identity = x if self.downsample is None else self.downsample(x)
            out += identity
        return self.relu(out)  # after the addition


class Bottleneck(nn.Module):
    """1×1 (reduce to ``planes``) → 3×3 → 1×1 (expand to 4 × ``planes``), plus a shortcut.

    The 1×1 layers make a deep block cheap: 256 → 64 → 64 → 256 channels costs 69,632
    weights, against 589,824 for a single 3×3 convolution from 256 to 256 channels.

    The stride sits on the 3×3 convolution, as in torchvision ("ResNet v1.5"); the paper put it
    on the first 1×1, which skips three quarters of the pixels before any 3×3 kernel sees them.
    """

    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, shortcut: bool = True):
        super().__init__()
        # Both self.conv2 and self.downsample downsample the input when stride != 1
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.shortcut = shortcut
        _check_shortcut(self, inplanes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)

        out = self.conv3(out)
        out = self.bn3(out)

        if self.shortcut:
            identity = x if self.downsample is None else self.downsample(x)
            out += identity
        return self.relu(out)


STEMS = ("imagenet", "cifar")


class ResNet(CheckedInput):
    """A stem, one stage (``layer1``, ``layer2``, ...) per entry of ``layers``, then
    global average pooling and one Linear layer.

    Stage i has ``layers[i]`` blocks of ``widths[i]`` planes; every stage but the first halves
    the size in its first block. ``stem="imagenet"`` is 7×7/2 conv + BN + ReLU + 3×3/2 max-pool
    (224 → 56 before layer1); ``stem="cifar"`` is a 3×3/1 conv + BN + ReLU and no max-pool, since
    a 32×32 image has no resolution to spare.

    ``shortcut=False`` builds the plain twin (no shortcuts at all). Where a block changes shape,
    ``shortcut_type="B"`` (default) projects x with a 1×1 conv + BN named ``downsample`` as in
    torchvision; ``"A"`` pads with zeros instead (parameter-free, the paper's CIFAR-10 choice).
    Both are identity shortcuts everywhere else.

    ``zero_init_residual=True`` sets the last BN's scale (gamma) of each block to zero, so each
    residual branch starts at 0 and each block as the identity: the network trains as a shallow
    one at first (Goyal et al. 2017, "Accurate, large minibatch SGD").

    Any input from 1×1 up works (``min_input_size``): every downsampling layer pads, so a side n
    becomes ceil(n/2) and never 0. Up to 32×32 (ImageNet stem) the last stage outputs one pixel.
    """

    min_input_size = 1

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int],
                 num_classes: int = 1000, stem: str = "imagenet",
                 widths: Sequence[int] = (64, 128, 256, 512), zero_init_residual: bool = False,
                 shortcut: bool = True, shortcut_type: str = "B"):
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        if shortcut_type not in ("A", "B"):
            raise ValueError(f"shortcut_type must be 'A' (zero-padding) or 'B' (1×1 projection), "
                             f"got {shortcut_type!r}")
        if len(layers) != len(widths) or not layers:
            raise ValueError(f"one width per stage: got {len(layers)} stage(s) {list(layers)} and "
                             f"{len(widths)} width(s) {list(widths)}")
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1
               for n in (*layers, *widths)):
            raise ValueError(f"layers and widths must be positive ints, got {list(layers)} and "
                             f"{list(widths)}")
        if zero_init_residual and not shortcut:
            raise ValueError("zero_init_residual needs shortcuts: a plain block whose last BN is "
                             "zero outputs zeros, and the network learns nothing")
        self.block, self.stem = block, stem
        self.layers, self.widths = tuple(layers), tuple(widths)
        self.shortcut, self.shortcut_type = shortcut, shortcut_type
        convs_per_block = 3 if issubclass(block, Bottleneck) else 2
        self.depth = sum(layers) * convs_per_block + 2  # weighted layers, as the paper counts them
        self.name = (f"{'ResNet' if shortcut else 'Plain'}-{self.depth}"
                     + (" (CIFAR)" if stem == "cifar" else ""))
        self.input_size = (3, 224, 224) if stem == "imagenet" else (3, 32, 32)

        self.inplanes = widths[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3,
                                   bias=False)                                  # 224 → 112
        else:
            self.conv1 = conv3x3(3, self.inplanes)                              # 32 → 32
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = (nn.MaxPool2d(kernel_size=3, stride=2, padding=1)        # 112 → 56
                        if stem == "imagenet" else nn.Identity())
        for i, (blocks, planes) in enumerate(zip(layers, widths)):
            self.add_module(f"layer{i + 1}",
                            self._make_layer(block, planes, blocks, stride=1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)

        for m in self.modules():  # He et al. 2015 initialisation, as torchvision
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int,
                    stride: int = 1) -> nn.Sequential:
        """One stage: a first block that may change the shape, then ``blocks - 1`` that keep it."""
        downsample = None
        out = planes * block.expansion
        if self.shortcut and (stride != 1 or self.inplanes != out):
            if self.shortcut_type == "B":
                downsample = nn.Sequential(conv1x1(self.inplanes, out, stride),
                                           nn.BatchNorm2d(out))
            else:
                downsample = ZeroPadShortcut(self.inplanes, out, stride)
        layers = [block(self.inplanes, planes, stride, downsample, shortcut=self.shortcut)]
        self.inplanes = out
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, shortcut=self.shortcut))
        return nn.Sequential(*layers)

    def stages(self) -> list[nn.Sequential]:
        """``layer1``, ``layer2``, ... in order: four for the ImageNet shape, three for CIFAR's."""
        return [getattr(self, f"layer{i + 1}") for i in range(len(self.layers))]

    def stage_shapes(self, size: int) -> list[tuple[int, int, int]]:
        """(C, H, W) after each stage for a size×size input, from the arithmetic alone."""
        if self.stem == "imagenet":
            n = pool_output_size(conv_output_size(size, 7, 2, 3), 3, 2, 1)
        else:
            n = conv_output_size(size, 3, 1, 1)
        shapes = []
        for i, planes in enumerate(self.widths):
            if i > 0:
                n = conv_output_size(n, 3, 2, 1)  # the first block's stride-2 3×3
            shapes.append((planes * self.block.expansion, n, n))
        return shapes

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, None, self.name, min_size=self.min_input_size,
                            channel_hint="ResNets take RGB images", model=self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)

        for stage in self.stages():
            x = stage(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


# ---------------------------------------------------------------------------------------------
# Builders

@register("resnet18")
def resnet18(num_classes: int = 1000, zero_init_residual: bool = False) -> ResNet:
    """ResNet-18 for ImageNet (state_dict-compatible with torchvision's)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, zero_init_residual=zero_init_residual)


@register("resnet34")
def resnet34(num_classes: int = 1000, zero_init_residual: bool = False) -> ResNet:
    """ResNet-34 for ImageNet (state_dict-compatible with torchvision's)."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, zero_init_residual=zero_init_residual)


@register("resnet50")
def resnet50(num_classes: int = 1000, zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 for ImageNet, bottleneck blocks (state_dict-compatible with torchvision's)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual=zero_init_residual)


@register("resnet18_cifar")
def resnet18_cifar(num_classes: int = 10, zero_init_residual: bool = False) -> ResNet:
    """ResNet-18's widths (64-512) with the CIFAR stem: 3×3/1 conv, no max-pool."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, stem="cifar",
                  zero_init_residual=zero_init_residual)


def cifar_resnet(depth: int, num_classes: int = 10, shortcut: bool = True,
                 shortcut_type: str = "B", zero_init_residual: bool = False) -> ResNet:
    """The paper's CIFAR-10 network of ``depth`` = 6n + 2 layers: 16-32-64 channels, n blocks
    per stage. ``shortcut=False`` gives its plain twin.

    The paper used option A (``shortcut_type="A"``: zero-padding, no parameters); option B (a
    1×1 conv + BN where the shape changes, 2,752 more weights at any depth) is the default here,
    as in torchvision's ImageNet ResNets; on ImageNet it did slightly better than A (paper,
    Table 3).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"the CIFAR ResNets have 6n + 2 layers (20, 32, 44, 56, 110, ...), "
                         f"got depth {depth!r}")
    n = (depth - 2) // 6
    return ResNet(BasicBlock, [n, n, n], num_classes, stem="cifar", widths=(16, 32, 64),
                  zero_init_residual=zero_init_residual, shortcut=shortcut,
                  shortcut_type=shortcut_type)


@register("resnet20")
def resnet20(num_classes: int = 10, shortcut_type: str = "B",
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-20 for CIFAR-10 (n = 3)."""
    return cifar_resnet(20, num_classes, shortcut_type=shortcut_type,
                        zero_init_residual=zero_init_residual)


@register("resnet56")
def resnet56(num_classes: int = 10, shortcut_type: str = "B",
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-56 for CIFAR-10 (n = 9)."""
    return cifar_resnet(56, num_classes, shortcut_type=shortcut_type,
                        zero_init_residual=zero_init_residual)


@register("plain20")
def plain20(num_classes: int = 10) -> ResNet:
    """ResNet-20 without its shortcuts: the shallow side of the degradation experiment."""
    return cifar_resnet(20, num_classes, shortcut=False)


@register("plain56")
def plain56(num_classes: int = 10) -> ResNet:
    """ResNet-56 without its shortcuts: deeper, yet worse than plain20 even on training data."""
    return cifar_resnet(56, num_classes, shortcut=False)
