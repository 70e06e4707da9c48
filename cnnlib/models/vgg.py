"""VGG (Simonyan and Zisserman 2015): depth from stacks of 3×3 convolutions, and nothing else.

The paper's Table 1 gives six configurations, A to E, as columns of layers; :data:`CONFIGS`
holds them as data, one entry per layer: an int is a 3×3 convolution with that many output
channels (stride 1, padding 1, so the size is kept), ``(c, 1)`` a 1×1 convolution (only in C),
``"M"`` a 2×2 max-pool with stride 2 (it halves the size), ``"LRN"`` local response
normalisation (only in A-LRN). Every configuration has five pools, so a 224×224 image reaches
the classifier as 512×7×7; three fully connected layers follow (4096, 4096, 1000), with dropout
on the outputs of the first two.

The ImageNet models (``vgg11`` ... ``vgg19``) are state_dict-compatible with torchvision's and
have the same parameter counts. ``vgg11_cifar`` and ``vgg16_cifar`` keep a configuration's
layers for 32×32 images at a fraction of the width (five pools take 32 to 1), with one linear
layer on the last feature vector: a network a CPU can train in minutes per epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers import LocalResponseNorm
from . import _checks
from ._checks import CheckedInput
from ._registry import register

CONFIGS: dict[str, list] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M",
          512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}
NAMES = {"A": "VGG-11", "A-LRN": "VGG-11 (LRN)", "B": "VGG-13", "C": "VGG-16 (1×1)",
         "D": "VGG-16", "E": "VGG-19"}


def weight_layers(config: str) -> int:
    """The paper's depth of a configuration: its convolutions plus three fully connected layers."""
    return sum(not isinstance(entry, str) for entry in CONFIGS[config]) + 3


def make_features(config: Sequence, in_channels: int = 3, batch_norm: bool = False,
                  width: float = 1.0) -> nn.Sequential:
    """The convolutional part of a configuration, as torchvision's ``make_layers`` builds it
    (conv, [BatchNorm,] ReLU; pools), so that state_dicts match. ``width`` scales the channels."""
    layers: list[nn.Module] = []
    channels = in_channels
    for entry in config:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif entry == "LRN":
            layers.append(LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0))
        else:
            out, kernel = entry if isinstance(entry, tuple) else (entry, 3)
            out = max(1, round(out * width))
            layers.append(nn.Conv2d(channels, out, kernel_size=kernel, padding=kernel // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            channels = out
    return nn.Sequential(*layers)


def _init(model: nn.Module) -> None:
    """torchvision's initialisation: He-normal convolutions, N(0, 0.01) linear layers."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def _explain_imagenet(h: int, w: int) -> str:
    sides, n = [], min(h, w)
    for _ in range(5):
        n //= 2
        sides.append(str(n))
    return (f"its five 2×2 pools halve the side five times ({min(h, w)} → {' → '.join(sides)}), "
            f"and fc6 expects the 512×7×7 that only 224 gives (224 / 32 = 7). Resize or crop "
            "the images to 224×224 (the paper's training crops), or build vgg11_cifar or "
            "vgg16_cifar (get_model) for 32×32 images")


class VGG(CheckedInput):
    """A VGG configuration for 224×224 RGB images: ``features``, then three FC layers."""

    input_size = (3, 224, 224)

    def __init__(self, config: str = "D", num_classes: int = 1000, batch_norm: bool = False,
                 dropout: float = 0.5):
        super().__init__()
        if config not in CONFIGS:
            raise ValueError(f"config must be one of {sorted(CONFIGS)} (the paper's Table 1), "
                             f"got {config!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout is a probability in [0, 1), got {dropout!r}")
        self.config = config
        self.name = NAMES[config] + (" with BN" if batch_norm else "")
        self.features = make_features(CONFIGS[config], batch_norm=batch_norm)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),  # fc6
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),         # fc7
            nn.Linear(4096, num_classes),                                              # fc8
        )
        _init(self)

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, 224, self.name, _explain_imagenet)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class VGGCifar(CheckedInput):
    """A VGG configuration for 32×32 images at ``width`` of the paper's channels (1/4: 16 to
    128), with one linear layer on the 1×1 feature vector that five pools leave."""

    input_size = (3, 32, 32)

    def __init__(self, config: str = "A", num_classes: int = 10, width: float = 0.25,
                 batch_norm: bool = False):
        super().__init__()
        if config not in CONFIGS:
            raise ValueError(f"config must be one of {sorted(CONFIGS)}, got {config!r}")
        if not 0 < width <= 1:
            raise ValueError(f"width is a fraction of the paper's channels, in (0, 1]; "
                             f"got {width!r}")
        self.config, self.width = config, width
        self.name = (f"{NAMES[config]} for CIFAR (width {width:g})"
                     + (" with BN" if batch_norm else ""))
        self.features = make_features(CONFIGS[config], batch_norm=batch_norm, width=width)
        self.classifier = nn.Linear(max(1, round(512 * width)), num_classes)
        _init(self)

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, 32, self.name,
                            channel_hint="it takes RGB images such as CIFAR-10")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register("vgg")
def vgg(config: str = "D", num_classes: int = 1000, batch_norm: bool = False) -> VGG:
    """Any configuration of the paper's Table 1 by letter: "A", "A-LRN", "B", "C", "D", "E"."""
    return VGG(config, num_classes, batch_norm)


@register("vgg11")
def vgg11(num_classes: int = 1000, batch_norm: bool = False) -> VGG:
    """VGG-11, configuration A (torchvision's vgg11)."""
    return VGG("A", num_classes, batch_norm)


@register("vgg13")
def vgg13(num_classes: int = 1000, batch_norm: bool = False) -> VGG:
    """VGG-13, configuration B (torchvision's vgg13)."""
    return VGG("B", num_classes, batch_norm)


@register("vgg16")
def vgg16(num_classes: int = 1000, batch_norm: bool = False) -> VGG:
    """VGG-16, configuration D (torchvision's vgg16)."""
    return VGG("D", num_classes, batch_norm)


@register("vgg19")
def vgg19(num_classes: int = 1000, batch_norm: bool = False) -> VGG:
    """VGG-19, configuration E (torchvision's vgg19)."""
    return VGG("E", num_classes, batch_norm)


@register("vgg11_cifar")
def vgg11_cifar(num_classes: int = 10, width: float = 0.25,
                batch_norm: bool = False) -> VGGCifar:
    """VGG-11's layers for CIFAR-10, at a quarter of its width by default (16 to 128 channels)."""
    return VGGCifar("A", num_classes, width, batch_norm)


@register("vgg16_cifar")
def vgg16_cifar(num_classes: int = 10, width: float = 0.25,
                batch_norm: bool = False) -> VGGCifar:
    """VGG-16's thirteen convolutions for CIFAR-10, a quarter wide by default."""
    return VGGCifar("D", num_classes, width, batch_norm)
