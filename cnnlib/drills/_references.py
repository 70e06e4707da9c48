"""The drills' answers: the book's models by name, the input each is checked on, layer names.

Every reference is built from ``cnnlib.models``, so a drill checks against the very model the
chapters train; the builders import lazily, and a reference model is only built when checked.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from functools import lru_cache

from torch import nn

from .. import models
from ._steps import Trace
from ._trace import trace


@dataclass(frozen=True)
class Reference:
    """A drill's answer: a model builder, the input it is checked on, and names for its layers.

    ``labels`` name the compared layers in order (``C1, S2, ...`` for LeNet-5); without them the
    module names are used. ``alternatives`` are references on the same input that a model failing
    this one might match instead (``lenet5_classic`` for ``lenet5``). ``hints`` are
    ``(label, topic, sentence)``: the fact to remember, added when the first difference is at that
    layer and its explanation mentions ``topic`` ("" for any). ``compare_outputs``: when every
    layer matches, also copy the reference's weights in and compare the output values (for
    modules whose layers alone do not fix the output: the Inception module's torch.cat).
    """

    name: str
    title: str
    build: Callable[[], nn.Module]
    input_size: tuple[int, int, int]
    labels: tuple[str, ...] | None = None
    alternatives: tuple[str, ...] = ()
    hints: tuple[tuple[str, str, str], ...] = ()
    compare_outputs: bool = False

    @property
    def short(self) -> str:
        """The title without its parenthesis: "LeNet-5", "AlexNet", "ResNet basic block"."""
        return self.title.split(" (")[0]

    def hint(self, label: str, message: str) -> str:
        """The fact to remember about layer ``label``, if it bears on ``message``."""
        return next((text for at, topic, text in self.hints
                     if at == label and topic in message), "")


_REFERENCES: dict[str, Reference] = {}


def register_reference(reference: Reference) -> Reference:
    """Make ``reference`` available to :func:`check` by its name."""
    if reference.name in _REFERENCES:
        raise ValueError(f"reference {reference.name!r} is already registered")
    _REFERENCES[reference.name] = reference
    return reference


def list_references() -> list[str]:
    """The names :func:`check` accepts, sorted."""
    return sorted(_REFERENCES)


def get_reference(name: str) -> Reference:
    """The :class:`Reference` registered as ``name``; a clear error naming the choices otherwise."""
    if name not in _REFERENCES:
        close = difflib.get_close_matches(str(name), _REFERENCES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown drill reference {name!r}{hint}; available: "
                         f"{', '.join(sorted(_REFERENCES))}")
    return _REFERENCES[name]


def _lenet(classic: bool) -> Callable[[], nn.Module]:
    return lambda: models.LeNet5(classic=classic)


def _block(kind: str, inplanes: int, planes: int, stride: int = 1) -> Callable[[], nn.Module]:
    """A residual block with torchvision's projection (1×1 conv + BN) where the shape changes."""
    def build():
        cls = models.resnet.BasicBlock if kind == "basic" else models.resnet.Bottleneck
        out = planes * cls.expansion
        downsample = None
        if stride != 1 or inplanes != out:
            downsample = nn.Sequential(models.resnet.conv1x1(inplanes, out, stride),
                                       nn.BatchNorm2d(out))
        return cls(inplanes, planes, stride, downsample)
    return build


def _bottleneck_v1(inplanes: int, planes: int, stride: int) -> Callable[[], nn.Module]:
    """The paper's bottleneck (v1): the block's stride on the first 1×1, the 3×3 at stride 1."""
    def build():
        block = _block("bottleneck", inplanes, planes, stride)()
        block.conv1 = models.resnet.conv1x1(inplanes, planes, stride)
        block.conv2 = models.resnet.conv3x3(planes, planes)
        return block
    return build


def _inception(name: str) -> Callable[[], nn.Module]:
    """GoogLeNet's Inception module ``name`` ("3a"...) with the paper's 5×5 kernel."""
    def build():
        config = models.GOOGLENET_INCEPTION[name]
        channels = {"3a": 192}[name]
        return models.Inception(channels, *config, big_kernel=5)
    return build


def _registered(name: str, **kwargs) -> Callable[[], nn.Module]:
    return lambda: models.get_model(name, **kwargs)


_LENET_LABELS = ("C1", "S2", "C3", "S4", "C5", "F6", "output")
_GPU_SPLIT = ("conv2, conv4 and conv5 see only the maps on their own GPU: groups=2; conv3 and "
              "the fully connected layers see both")
_LRN = "LRN comes after the ReLU and before the max-pool, in conv1 and conv2 only"
_VGG16_LABELS = ("conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1",
                 "conv3_2", "conv3_3", "pool3", "conv4_1", "conv4_2", "conv4_3", "pool4", "conv5_1",
                 "conv5_2", "conv5_3", "pool5", "fc6", "fc7", "fc8")
_VGG_CONV = ("every convolution is 3×3 with stride 1 and padding 1, so it keeps the size; only "
             "the five 2×2 max-pools (stride 2) halve it")
_VGG_WIDTHS = "the widths are 64, 128, 256, 512, 512: they double after each pool, up to 512"
_FIVE = ("the third branch is a 1×1 reduction then a 5×5 convolution (padding 2), as in the "
         "paper; torchvision's googlenet has a 3×3 there, a known bug it keeps for its weights")
_POOL = ("the pool branch is a 3×3 max-pool with stride 1 and padding 1 (the size is kept), then "
         "a 1×1 projection")
_INCEPTION_3A = ("3a's channels (the paper's Table 1): 64; 96 → 128; 16 → 32; pool → 32; "
                 "64 + 128 + 32 + 32 = 256 out")
_STACKED = ("the checker reads the branches in the order torch.cat stacks them, whatever order "
            "forward runs them in; 3a stacks the 1×1 (64), the 3×3 (128), the 5×5 (32) and the "
            "pool's projection (32)")
_STRIDE = ("torchvision (\"ResNet v1.5\") puts the stride on the 3×3 conv2; the paper put it on "
           "the first 1×1, which skips three quarters of the pixels before any 3×3 sees them")

for _reference in (
    Reference("lenet5", "LeNet-5 (ReLU, max pooling)", _lenet(False), (1, 32, 32),
              _LENET_LABELS, alternatives=("lenet5_classic",)),
    Reference("lenet5_classic", "LeNet-5 (1998: tanh, average pooling)", _lenet(True),
              (1, 32, 32), _LENET_LABELS, alternatives=("lenet5",)),
    Reference("alexnet_paper", "AlexNet (the 2012 paper, two GPUs: groups=2)",
              _registered("alexnet_paper", init="pytorch"), (3, 227, 227),
              ("conv1", "LRN1", "pool1", "conv2", "LRN2", "pool2", "conv3", "conv4", "conv5",
               "pool3", "fc6", "fc7", "fc8"),
              hints=(("conv1", "outputs", "the paper says 224×224, but only 227 gives its 55×55 "
                                          "maps with 11×11 kernels at stride 4 and no padding"),
                     ("LRN1", "", _LRN), ("LRN2", "", _LRN),
                     ("pool1", "", "overlapping pooling: 3×3 windows, stride 2"),
                     *((conv, "groups", _GPU_SPLIT) for conv in ("conv2", "conv4", "conv5")))),
    Reference("alexnet_torchvision", "AlexNet (torchvision's one-GPU layout)",
              _registered("alexnet_torchvision"), (3, 224, 224),
              ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool3", "avgpool",
               "fc6", "fc7", "fc8")),
    Reference("alexnet_cifar", "AlexNet for CIFAR-10 (32×32)", _registered("alexnet_cifar"),
              (3, 32, 32), ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5",
                            "pool3", "fc1", "fc2", "fc3")),
    Reference("vgg16", "VGG-16 (configuration D, 224×224)", _registered("vgg16"), (3, 224, 224),
              _VGG16_LABELS,
              hints=(*((label, "", _VGG_CONV) for label in _VGG16_LABELS if "conv" in label
                       and label.endswith("_1")),
                     *((label, "channels", _VGG_WIDTHS) for label in _VGG16_LABELS
                       if "conv" in label),
                     ("fc6", "", "fc6 sees the last pool's 512×7×7 = 25,088 values: "
                                 "224 / 2⁵ = 7"))),
    Reference("basic_block", "ResNet basic block (64 → 64, identity shortcut)",
              _block("basic", 64, 64), (64, 56, 56)),
    Reference("basic_block_down", "ResNet basic block (64 → 128, stride 2, projection shortcut)",
              _block("basic", 64, 128, 2), (64, 56, 56)),
    Reference("bottleneck", "ResNet bottleneck block (256 → 64 → 256, identity shortcut)",
              _block("bottleneck", 256, 64), (256, 56, 56)),
    Reference("bottleneck_down", "ResNet bottleneck block (256 → 128 → 512, stride 2, "
                                 "projection shortcut)",
              _block("bottleneck", 256, 128, 2), (256, 56, 56),
              alternatives=("bottleneck_down_v1",),
              hints=(("conv1", "stride", _STRIDE), ("conv2", "stride", _STRIDE))),
    Reference("bottleneck_down_v1", "ResNet bottleneck block as in the paper (v1: stride 2 on "
                                    "the first 1×1; 256 → 128 → 512, projection shortcut)",
              _bottleneck_v1(256, 128, 2), (256, 56, 56),
              alternatives=("bottleneck_down",),
              hints=(("conv1", "stride", _STRIDE), ("conv2", "stride", _STRIDE))),
    Reference("inception", "Inception module 3a (192 → 256 channels, the paper's 5×5)",
              _inception("3a"), (192, 28, 28), compare_outputs=True,
              hints=(("branch3.1.conv", "", _FIVE), ("branch4.0", "", _POOL),
                     ("branch1.conv", "outputs", _STACKED),
                     *((f"{label}.conv", "params", _INCEPTION_3A) for label in
                       ("branch1", "branch2.0", "branch2.1", "branch3.0", "branch3.1",
                        "branch4.1")))),
    Reference("resnet18", "ResNet-18 (ImageNet, 224×224)", _registered("resnet18"),
              (3, 224, 224)),
    Reference("resnet18_cifar", "ResNet-18 for CIFAR-10 (32×32)", _registered("resnet18_cifar"),
              (3, 32, 32)),
    Reference("resnet20", "ResNet-20 (CIFAR-10; the paper's design, with option B shortcuts)",
              _registered("resnet20"), (3, 32, 32)),
):
    register_reference(_reference)


def reference_trace(name: str, input_size: tuple | None = None) -> Trace:
    """The reference's recorded forward pass on ``input_size`` (C×H×W, default its own).

    Built once per size; the cache keeps shapes and attributes only, and the modules without
    weights, not the model's weights.
    """
    ref = get_reference(name)
    return _cached_trace(name, tuple(ref.input_size if input_size is None else input_size))


@lru_cache(maxsize=16)
def _cached_trace(name: str, input_size: tuple) -> Trace:
    ref = get_reference(name)
    model = ref.build()
    result = trace(model, input_size)
    if result.error is not None:
        raise ValueError(f"the reference {name!r} cannot run on input {input_size}: "
                         f"{type(result.error).__name__}: {result.error}") from None
    labels = ref.labels
    if labels is not None and len(labels) != len(result.layers):
        raise RuntimeError(f"reference {name!r} has {len(result.layers)} layers but "
                           f"{len(labels)} labels")
    for i, layer in enumerate(result.layers):
        if labels is not None:
            layer.label = labels[i]
        else:
            layer.label = layer.step.name or layer.step.display
    for step in result.steps:
        # The cache keeps shapes and attributes, not the weights; a layer without weights (LRN,
        # pooling) stays, to be compared with a module the checker cannot read (_identify).
        if step.module is not None and any(True for _ in step.module.parameters()):
            step.module = None
    result.error = None
    return result
