"""AlexNet (Krizhevsky, Sutskever and Hinton 2012) and the three shapes readers meet in the wild.

* ``alexnet_paper``: the network of the paper, 227×227 input, two-GPU groups, LRN, paper init.
* ``alexnet_torchvision``: torchvision's single-GPU variant (the one with pretrained weights).
* ``alexnet_cifar`` and ``alexnet_half``: CIFAR-sized (32×32) adaptations found in tutorials.

All four read the same way: ``features`` -> (``avgpool``) -> flatten -> ``classifier``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..arithmetic import conv_output_size, pool_output_size
from ..layers import LocalResponseNorm
from . import _checks
from ._checks import CheckedInput
from ._registry import register

# The paper's architecture (section 3.5, Figure 2), for chapters to show next to the code.
PAPER_LAYERS = (
    {"layer": "conv1", "design": "96 kernels 11×11×3, stride 4", "then": "ReLU, LRN, max-pool 3/2"},
    {"layer": "conv2", "design": "256 kernels 5×5×48, padding 2, 2 groups (GPUs)",
     "then": "ReLU, LRN, max-pool 3/2"},
    {"layer": "conv3", "design": "384 kernels 3×3×256, padding 1, sees both GPUs' maps",
     "then": "ReLU"},
    {"layer": "conv4", "design": "384 kernels 3×3×192, padding 1, 2 groups", "then": "ReLU"},
    {"layer": "conv5", "design": "256 kernels 3×3×192, padding 1, 2 groups",
     "then": "ReLU, max-pool 3/2"},
    {"layer": "fc6", "design": "4096 units from 256×6×6 = 9216",
     "then": "ReLU, dropout 0.5 on its outputs"},
    {"layer": "fc7", "design": "4096 units", "then": "ReLU, dropout 0.5 on its outputs"},
    {"layer": "fc8", "design": "1000 units (classes)", "then": "softmax (in the loss)"},
)


def _trace(n: int, steps) -> str:
    """``conv1 → 55, pool1 → 27, ...`` for one side ``n``, up to where a window stops fitting.

    ``steps`` are ``(name, kind, kernel, stride, padding)`` with kind "conv" or "pool".
    """
    out = []
    for name, kind, k, s, p in steps:
        size = conv_output_size if kind == "conv" else pool_output_size
        try:
            n = size(n, k, s, p)
        except ValueError:
            out.append(f"{name}'s {k}×{k} window no longer fits ({n} + 2·{p} < {k})")
            break
        out.append(f"{name} → {n}")
    return ", ".join(out)


def _fixed_size_explain(design: int, steps, last: str, fix: str):
    """An ``explain(h, w)`` for check_input: the design's arithmetic next to the given size's."""
    def explain(h: int, w: int) -> str:
        n = h if h != design else w
        return (f"at {design}: {_trace(design, steps)} ({last}); at {n}: {_trace(n, steps)}. "
                f"{fix}.")
    return explain


# ---------------------------------------------------------------------------------------------
# The paper's AlexNet

_PAPER_STEPS = (("conv1", "conv", 11, 4, 0), ("pool1", "pool", 3, 2, 0),
                ("conv2", "conv", 5, 1, 2), ("pool2", "pool", 3, 2, 0),
                ("pool3", "pool", 3, 2, 0))  # conv3-5 (3×3, padding 1) keep the size


def _explain_paper(h: int, w: int) -> str:
    n = h if h != 227 else w
    value = (n - 11) / 4 + 1
    why = "not a whole number: windows do not tile the image" if value != int(value) else \
        "a whole number, but the paper's network is defined at 227"
    return (f"conv1 (11×11, stride 4, no padding) gives ({n} − 11)/4 + 1 = {value:g}, {why}. "
            f"At 227: (227 − 11)/4 + 1 = 55, the paper's 55×55 maps; then "
            f"{_trace(55, _PAPER_STEPS[1:])}: the 256×6×6 that fc6 expects. The paper's text says "
            f"224×224, but only 227 gives its 55×55 maps. Resize or crop to 227, or use "
            f"alexnet_torchvision (padding 2 and adaptive pooling) for other sizes.")


class AlexNetPaper(CheckedInput):
    """AlexNet as published: five convolutions, three fully connected layers, 227×227×3 input.

    The paper split every layer over two GPUs; ``groups=2`` reproduces that: conv2, conv4 and
    conv5 see only the maps on their own GPU, conv3 and the FC layers see both. ``groups=1`` is the
    same network on one device (more weights). ``lrn`` keeps local response normalisation after
    conv1 and conv2 (an ``nn.Identity`` otherwise, so layer indices do not move). ``init="paper"``
    is section 5: weights from N(0, 0.01²), biases 1 in conv2, conv4, conv5 and the hidden FC
    layers (to give ReLUs positive inputs early on) and 0 elsewhere; ``init="pytorch"`` keeps
    PyTorch's default initialisation.

    The paper says 224×224 inputs, but 11×11 kernels at stride 4 only give its 55×55 maps from 227.
    """

    input_size = (3, 227, 227)

    def __init__(self, num_classes: int = 1000, groups: int = 2, lrn: bool = True,
                 dropout: float = 0.5, init: str = "paper"):
        super().__init__()
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or 32 % groups:
            raise ValueError(f"groups must divide the channel counts it splits (96 into conv2, "
                             f"256 and 384 in conv2, conv4, conv5), so one of 1, 2, 4, 8, 16, 32; "
                             f"got {groups!r}. The paper's groups=2 is its two GPUs")
        if init not in ("paper", "pytorch"):
            raise ValueError(f"init must be 'paper' (section 5: N(0, 0.01), some biases 1) or "
                             f"'pytorch' (PyTorch's default), got {init!r}")
        self.groups = groups

        def norm():
            return LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0) if lrn else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),                    # conv1: 227 → 55
            nn.ReLU(inplace=True),
            norm(),
            nn.MaxPool2d(kernel_size=3, stride=2),                         # pool1: 55 → 27
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=groups),   # conv2: 27
            nn.ReLU(inplace=True),
            norm(),
            nn.MaxPool2d(kernel_size=3, stride=2),                         # pool2: 27 → 13
            nn.Conv2d(256, 384, kernel_size=3, padding=1),                 # conv3: 13, all maps
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=groups),  # conv4: 13
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=groups),  # conv5: 13
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                         # pool3: 13 → 6
        )
        # Dropout as section 4.2 describes it: "setting to zero the output of each hidden neuron
        # with probability 0.5", in the first two fully connected layers, so on the outputs of
        # fc6 and fc7. (torchvision's AlexNet drops the inputs of fc6 and fc7 instead.)
        self.classifier = nn.Sequential(
            nn.Linear(256 * 6 * 6, 4096),                                  # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),                                         # fc7
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),                                  # fc8
        )
        if init == "paper":
            self._paper_init()

    def _paper_init(self) -> None:
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        fcs = [m for m in self.classifier if isinstance(m, nn.Linear)]
        ones = {convs[1], convs[3], convs[4], fcs[0], fcs[1]}  # conv2, conv4, conv5, fc6, fc7
        for layer in convs + fcs:
            nn.init.normal_(layer.weight, mean=0.0, std=0.01)
            nn.init.constant_(layer.bias, 1.0 if layer in ones else 0.0)

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, 227, "AlexNet (paper)", _explain_paper,
                            channel_hint="AlexNet takes RGB images", model=self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


# ---------------------------------------------------------------------------------------------
# torchvision's AlexNet

_TORCHVISION_STEPS = (("conv1", "conv", 11, 4, 2), ("pool1", "pool", 3, 2, 0),
                      ("conv2", "conv", 5, 1, 2), ("pool2", "pool", 3, 2, 0),
                      ("pool3", "pool", 3, 2, 0))


def _explain_torchvision(h: int, w: int) -> str:
    n = min(h, w)
    return (f"at {n}: {_trace(n, _TORCHVISION_STEPS)}; at 63: {_trace(63, _TORCHVISION_STEPS)}. "
            f"Each 3×3/2 max-pool needs at least 3 pixels, so conv1 must give at least 15. "
            f"Upsample the images (e.g. F.interpolate) or use alexnet_cifar for 32×32.")


class AlexNetTorchvision(CheckedInput):
    """torchvision's AlexNet: the paper's layers on one GPU, with other widths (64-192-384-256-256;
    torchvision cites Krizhevsky's 2014 "one weird trick" paper, whose widths are
    64-192-384-384-256), no LRN, conv1 padded by 2, and an adaptive average pool after the last
    max-pool (both are there) that makes the classifier see 256×6×6 whatever the input size.

    Layer names (``features.0.weight``, ...) equal torchvision's, so its pretrained state_dict
    loads as is. Any input of at least 63×63 works (``min_input_size``): below that the third
    max-pool has no 3×3 window left.
    """

    input_size = (3, 224, 224)
    min_input_size = 63  # conv1 → 15, pool1 → 7, pool2 → 3, pool3 → 1
    title = "AlexNet (torchvision)"  # how input errors name the model
    widths = (64, 192, 384, 256, 256)  # conv1 … conv5
    hidden = 4096  # fc6 and fc7

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        c1, c2, c3, c4, c5 = self.widths
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, kernel_size=11, stride=4, padding=2),  # conv1: 224 → 55
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                  # 55 → 27
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),            # conv2
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                  # 27 → 13
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),            # conv3
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),            # conv4
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),            # conv5
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                  # 13 → 6
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))                 # any size → 6×6
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(c5 * 6 * 6, self.hidden),                     # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(self.hidden, self.hidden),                    # fc7
            nn.ReLU(inplace=True),
            nn.Linear(self.hidden, num_classes),                    # fc8
        )

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, None, self.title, _explain_torchvision,
                            min_size=self.min_input_size,
                            channel_hint="AlexNet takes RGB images", model=self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class AlexNetHalf224(AlexNetTorchvision):
    """The half-width AlexNet of a popular blog article, at its 224×224 inputs.

    torchvision's geometry (conv1 11×11/4 padded by 2: 224 → 55, 3×3/2 pools: 27, 13, 6) with
    one GPU's half of the paper's widths, 48-128-192-192-128, and a 2048-2048 classifier on
    128×6×6 = 4,608 numbers. An adaptive average pool makes the classifier see 6×6 from any input
    of at least 63×63, as in torchvision's AlexNet. ``alexnet_half`` is the same idea at 32×32.
    """

    title = "AlexNet (half width, 224)"
    widths = (48, 128, 192, 192, 128)
    hidden = 2048

    def __init__(self, num_classes: int = 5, dropout: float = 0.5):
        super().__init__(num_classes=num_classes, dropout=dropout)


# ---------------------------------------------------------------------------------------------
# CIFAR-sized variants (32×32)

_CIFAR_STEPS = (("conv1", "conv", 3, 2, 1), ("pool1", "pool", 2, 2, 0),
                ("conv2", "conv", 3, 1, 1), ("pool2", "pool", 2, 2, 0),
                ("pool3", "pool", 2, 2, 0))


class AlexNetCifar(CheckedInput):
    """AlexNet shrunk for CIFAR-10, the layout common in tutorial repositories.

    An 11×11/4 first layer would turn a 32×32 image into 6×6 at once, so the first convolution is
    3×3 with stride 2, and each max-pool is 2×2: 32 → 16 → 8 → 4 → 2. The widths (64-192-384-
    256-256) and the 4096-4096 classifier are torchvision's, so most of the weights sit in the FC
    layers, as in the original; so is the dropout, on the inputs of fc1 and fc2 (the paper drops
    the outputs of its fc6 and fc7: see ``AlexNetPaper``).
    """

    input_size = (3, 32, 32)

    def __init__(self, num_classes: int = 10, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1),   # conv1: 32 → 16
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),                            # 16 → 8
            nn.Conv2d(64, 192, kernel_size=3, padding=1),           # conv2
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),                            # 8 → 4
            nn.Conv2d(192, 384, kernel_size=3, padding=1),          # conv3
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),          # conv4
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),          # conv5
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),                            # 4 → 2
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 2 * 2, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    _explain = staticmethod(_fixed_size_explain(
        32, _CIFAR_STEPS, "256×2×2 for the first Linear",
        "Resize the images to 32×32, or use alexnet_torchvision for larger ones"))

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, 32, "AlexNet (CIFAR)", self._explain,
                            channel_hint="it takes RGB images such as CIFAR-10", model=self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


_HALF_STEPS = (("conv1", "conv", 5, 1, 2), ("pool1", "pool", 2, 2, 0),
               ("conv2", "conv", 5, 1, 2), ("pool2", "pool", 2, 2, 0),
               ("pool3", "pool", 2, 2, 0))


class AlexNetHalf(CheckedInput):
    """The half-width AlexNet shape popularised by a blog article, adapted to 32×32.

    Half of the paper's widths (48-128-192-192-128: one GPU's share) and a 2048-2048 classifier.
    The article kept 224×224 inputs; here conv1 is 5×5 with stride 1 and padding 2 (an 11×11/4
    layer would leave too little of a 32×32 image), conv2 5×5 as in the paper, and each max-pool
    is 2×2: 32 → 16 → 8 → 4, so the classifier sees 128×4×4.
    """

    input_size = (3, 32, 32)

    def __init__(self, num_classes: int = 10, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 48, kernel_size=5, padding=2),             # conv1: 32
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),                            # 32 → 16
            nn.Conv2d(48, 128, kernel_size=5, padding=2),           # conv2
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),                            # 16 → 8
            nn.Conv2d(128, 192, kernel_size=3, padding=1),          # conv3
            nn.ReLU(inplace=True),
            nn.Conv2d(192, 192, kernel_size=3, padding=1),          # conv4
            nn.ReLU(inplace=True),
            nn.Conv2d(192, 128, kernel_size=3, padding=1),          # conv5
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),                            # 8 → 4
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(128 * 4 * 4, 2048),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(2048, 2048),
            nn.ReLU(inplace=True),
            nn.Linear(2048, num_classes),
        )

    _explain = staticmethod(_fixed_size_explain(
        32, _HALF_STEPS, "128×4×4 for the first Linear",
        "Resize the images to 32×32"))

    def check_input(self, x: torch.Tensor) -> None:
        _checks.check_input(x, 3, 32, "AlexNet (half width)", self._explain,
                            channel_hint="it takes RGB images such as CIFAR-10", model=self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


# ---------------------------------------------------------------------------------------------
# Builders

@register("alexnet_paper")
def alexnet_paper(num_classes: int = 1000, groups: int = 2, lrn: bool = True,
                  dropout: float = 0.5, init: str = "paper") -> AlexNetPaper:
    """AlexNet as in the 2012 paper (227×227; ``groups=2`` for its two GPUs)."""
    return AlexNetPaper(num_classes=num_classes, groups=groups, lrn=lrn, dropout=dropout, init=init)


@register("alexnet_half224")
def alexnet_half224(num_classes: int = 5, dropout: float = 0.5) -> AlexNetHalf224:
    """The blog article's half-width AlexNet at 224×224 (five classes by default, as its folder)."""
    return AlexNetHalf224(num_classes=num_classes, dropout=dropout)


@register("alexnet_torchvision")
def alexnet_torchvision(num_classes: int = 1000, dropout: float = 0.5) -> AlexNetTorchvision:
    """torchvision's AlexNet layout (state_dict-compatible), any input from 63×63."""
    return AlexNetTorchvision(num_classes=num_classes, dropout=dropout)


@register("alexnet_cifar")
def alexnet_cifar(num_classes: int = 10, dropout: float = 0.5) -> AlexNetCifar:
    """AlexNet for 32×32 CIFAR images (first conv 3×3/2, 2×2 pools)."""
    return AlexNetCifar(num_classes=num_classes, dropout=dropout)


@register("alexnet_half")
def alexnet_half(num_classes: int = 10, dropout: float = 0.5) -> AlexNetHalf:
    """Half-width AlexNet (48-128-192-192-128) for 32×32 images."""
    return AlexNetHalf(num_classes=num_classes, dropout=dropout)
