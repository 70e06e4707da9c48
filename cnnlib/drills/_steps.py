"""The vocabulary of a recorded forward pass: steps, compared layers, traces, and their names.

A :class:`Step` is one thing the forward pass did (a convolution, a ReLU, a flatten...); a
:class:`Layer` is a step that the comparison counts, with the activations and dropout that
follow it; a :class:`Trace` is the whole pass. ``_trace`` records steps, ``_grouping`` groups them
into layers, and the comparison modules read both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

# Compared layer kinds. Activations and dropout are "decorations" of the layer before them.
# "unknown": a module the checker cannot read and could not identify by what it computes.
LAYER_KINDS = ("conv", "linear", "bn", "maxpool", "avgpool", "lrn", "add", "unknown")

ACTIVATION_MODULES = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid",
    nn.LeakyReLU: "leaky_relu", nn.ELU: "elu", nn.GELU: "gelu", nn.SiLU: "silu",
    nn.Hardtanh: "hardtanh", nn.Softmax: "softmax", nn.LogSoftmax: "log_softmax",
    nn.SELU: "selu", nn.Softplus: "softplus", nn.PReLU: "prelu",
}
ACTIVATION_FUNCTIONS = {
    "relu": "relu", "relu_": "relu", "relu6": "relu6", "tanh": "tanh", "tanh_": "tanh",
    "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "leaky_relu": "leaky_relu",
    "leaky_relu_": "leaky_relu", "elu": "elu", "elu_": "elu", "gelu": "gelu", "silu": "silu",
    "hardtanh": "hardtanh", "hardtanh_": "hardtanh", "softmax": "softmax",
    "log_softmax": "log_softmax", "selu": "selu", "softplus": "softplus",
}
# Non-decreasing activations commute with max-pooling.
MONOTONIC = {"relu", "relu6", "tanh", "sigmoid", "leaky_relu", "elu", "hardtanh", "selu",
              "softplus", "prelu"}
# How the verdicts name activations and layer kinds.
ACT_NAMES = {"relu": "ReLU", "relu6": "ReLU6", "tanh": "tanh", "sigmoid": "sigmoid",
             "leaky_relu": "LeakyReLU", "elu": "ELU", "gelu": "GELU", "silu": "SiLU",
             "hardtanh": "Hardtanh", "softmax": "softmax", "log_softmax": "log-softmax",
             "selu": "SELU", "softplus": "softplus", "prelu": "PReLU"}
KIND_NAMES = {"conv": "a convolution", "linear": "a fully connected layer",
              "bn": "BatchNorm", "maxpool": "max pooling", "avgpool": "average pooling",
              "lrn": "local response normalisation", "add": "the residual addition",
              "unknown": "a module the checker does not know"}
ADDS = {"add", "add_", "__add__", "__iadd__", "__radd__"}
FLATTENS = {"flatten", "view", "reshape"}
CATS = {"cat", "concat", "concatenate"}  # stacking branches (Inception): order matters
POOLS = {"max_pool2d": "maxpool", "max_pool2d_with_indices": "maxpool",
          "avg_pool2d": "avgpool", "adaptive_avg_pool2d": "avgpool",
          "adaptive_max_pool2d": "maxpool", "adaptive_max_pool2d_with_indices": "maxpool"}


def pair(v) -> tuple[int, int]:
    """(h, w) from an int or a sequence, as PyTorch accepts either for sizes and strides."""
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1])) if len(v) else (0, 0)
    return (int(v), int(v))


def shape_of(t) -> tuple[int, ...] | None:
    return tuple(t.shape[1:]) if isinstance(t, torch.Tensor) else None


def dims(shape) -> str:
    """A shape as the book writes it, '16×10×10' ('-' for none)."""
    return "×".join(map(str, shape)) if shape else "-"


@dataclass
class Step:
    """One recorded step of a forward pass: a layer, an activation, a flatten, a dropout..."""

    kind: str                      # a LAYER_KINDS entry, or "act", "dropout", "flatten"
    display: str                   # Conv2d, F.max_pool2d, add, ...
    name: str                      # module name in the model ("features.3"), or "" if functional
    attrs: dict
    in_shape: tuple | None
    out_shape: tuple | None
    params: int = 0
    srcs: list = field(default_factory=list)   # producing step of each tensor input (-1: input)
    module: nn.Module | None = field(default=None, repr=False)
    line: tuple[str, int] | None = None         # (file, line) of the user code that made the call
    batch: tuple[int, int] | None = None        # (batch in, batch out) for flattens
    # (input, output) of a module the checker identified or could not: compared with the
    # reference's layer on the same input.
    sample: tuple | None = field(default=None, repr=False)


@dataclass
class Layer:
    """A compared layer: its step, the activations and dropouts after it, where it sits."""

    step: Step
    label: str = ""
    after: tuple[str, ...] = ()
    shortcut: bool = False
    act_steps: list = field(default_factory=list)
    drop_steps: list = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.step.kind

    def describe(self) -> str:
        acts = "".join(f"+{ACT_NAMES.get(a, a)}" for a in self.after)
        return f"{self.step.display}{acts}"


@dataclass
class Trace:
    """What one forward pass did: its steps, its layers, and how it ended."""

    steps: list[Step]
    layers: list[Layer]
    output_shape: tuple | None
    output_type: str
    error: BaseException | None = None
    failed_step: Step | None = None      # the step that raised, if one did
    failed_line: tuple[str, int] | None = None
    unused: list[tuple[str, nn.Module]] = field(default_factory=list)
    total_params: int = 0
