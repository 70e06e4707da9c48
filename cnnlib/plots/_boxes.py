"""What one forward pass says about a model's layers: the boxes :func:`architecture` draws.

Forward hooks record every leaf module (and every residual block, as a whole) in the order it
ran, with its output shape; activations and a BatchNorm right after a convolution are folded
into the box before them, so the diagram stays one box per layer a paper would draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from .._probe import probing, zeros_for
from ..models.resnet import BasicBlock, Bottleneck, ZeroPadShortcut

BLOCK_TYPES = (BasicBlock, Bottleneck)
_SKIPPED = (nn.Identity, nn.Flatten, nn.Unflatten)


@dataclass
class Layer:
    """One box of the diagram: what ran, what it output, and what was folded into it."""

    name: str
    kind: str                        # input, conv, pool, norm, fc, block, other
    label: str                       # "conv 3×3, 64", "max-pool 2×2/2", "fc 4096"
    shape: tuple[int, ...]           # the output without the batch: (C, H, W) or (features,)
    module: nn.Module | None = None
    suffix: str = ""                 # what ran right after it, unboxed: "+BN+ReLU"
    stage: str | None = None         # a block's parent ("layer2")
    shortcut: str | None = None      # a block's: identity, projection, zero-pad; None if plain
    shortcut_label: str = ""         # "identity", "1×1 conv", "zero-pad"

    @property
    def shape_text(self) -> str:
        return "×".join(str(s) for s in self.shape)

    @property
    def sees_both_halves(self) -> bool:
        """On two GPUs: whether the layer reads the maps of both (a cross-GPU connection)."""
        if self.kind == "conv":
            return self.module.groups % 2 != 0
        return self.kind not in ("pool", "norm")


def _sizes(value) -> tuple[int, ...]:
    """A kernel, stride or dilation as a tuple: PyTorch stores an int or one per dimension."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _window(kernel) -> str:
    return "×".join(str(v) for v in _sizes(kernel))


def _step(stride, mark: str) -> str:
    """"/2" for a stride of 2 (mark "/"), " d2" for a dilation (mark " d"); "" for 1."""
    sizes = _sizes(stride)
    if set(sizes) == {1}:
        return ""
    return mark + (str(sizes[0]) if len(set(sizes)) == 1 else "×".join(map(str, sizes)))


def _kind(module: nn.Module) -> str:
    """What a module is for the diagram; "activation" and "skip" get no box of their own."""
    name = type(module).__name__
    if isinstance(module, BLOCK_TYPES):
        return "block"
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return "conv"
    if isinstance(module, nn.Linear):
        return "fc"
    if type(module).__module__ == "torch.nn.modules.pooling":
        return "pool"
    if type(module).__module__ == "torch.nn.modules.activation":
        return "activation"
    if "Norm" in name:
        return "norm"
    if "Dropout" in name or isinstance(module, _SKIPPED):
        return "skip"
    return "other"


def _conv_label(conv: nn.Module) -> str:
    """"conv 11×11/4, 96"; " d2" for a dilation, " g2" for groups (as the layer tables say)."""
    text = (f"conv {_window(conv.kernel_size)}{_step(conv.stride, '/')}"
            f"{_step(conv.dilation, ' d')}, {conv.out_channels}")
    return text + (f" g{conv.groups}" if conv.groups > 1 else "")


def _pool_label(pool: nn.Module, shape) -> str:
    name = type(pool).__name__
    kind = "max-pool" if "Max" in name else "avg-pool" if "Avg" in name else name.lower()
    if name.startswith("Adaptive"):
        return f"global {kind}" if set(shape[1:]) == {1} else f"adaptive {kind}"
    stride = _step(pool.stride or pool.kernel_size, "/") or "/1"
    return f"{kind} {_window(pool.kernel_size)}{stride}"


def _block_label(block: nn.Module) -> str:
    """"basic block /2", "bottleneck"; "plain block" for the twin without a shortcut."""
    basic = isinstance(block, BasicBlock)
    if block.shortcut:
        kind = "basic block" if basic else "bottleneck"
    else:
        kind = "plain block" if basic else "plain bottleneck"
    return kind + (f" /{block.stride}" if block.stride != 1 else "")


def _label(module: nn.Module, kind: str, shape) -> str:
    if kind == "conv":
        return _conv_label(module)
    if kind == "pool":
        return _pool_label(module, shape)
    if kind == "fc":
        return f"fc {module.out_features}"
    if kind == "block":
        return _block_label(module)
    name = type(module).__name__
    if kind == "norm":
        return {"LocalResponseNorm": "LRN"}.get(name, "batch norm" if "BatchNorm" in name
                                                 else name)
    return name


def _shortcut(block: nn.Module) -> tuple[str | None, str]:
    """(kind, label) of a block's shortcut: read from its ``downsample``, not from its name."""
    if not block.shortcut:
        return None, ""
    if block.downsample is None:
        return "identity", "identity"
    if isinstance(block.downsample, ZeroPadShortcut):
        return "zero-pad", "zero-pad"
    convs = [m for m in block.downsample.modules() if isinstance(m, nn.Conv2d)]
    return "projection", f"{_window(convs[0].kernel_size)} conv" if convs else "projection"


def _units(model: nn.Module, group_blocks: bool) -> list[tuple[str, nn.Module]]:
    """The modules to hook: leaves, and residual blocks as wholes when ``group_blocks``."""
    units, blocks = [], []
    for name, module in model.named_modules():
        if any(name.startswith(prefix) for prefix in blocks):
            continue
        if group_blocks and isinstance(module, BLOCK_TYPES):
            units.append((name, module))
            blocks.append(f"{name}.")
        elif next(module.children(), None) is None:
            units.append((name, module))
    return units


def _run_once(model: nn.Module, input_size, units) -> list[tuple[str, nn.Module, tuple]]:
    """Every call of a unit in execution order, with its output shape (batch left out).

    One forward pass on zeros under no_grad, in eval mode (BatchNorm keeps its statistics);
    each module's mode is restored afterwards, as are the hooks.
    """
    calls = []

    def record(module, inputs, output, name):
        if isinstance(output, torch.Tensor):
            calls.append((name, module, tuple(output.shape[1:])))

    handles = [m.register_forward_hook(partial(record, name=n)) for n, m in units]
    with probing(model, handles):
        model(zeros_for(model, input_size))
    return calls


def trace_layers(model: nn.Module, input_size, group_blocks: bool = True) -> list[Layer]:
    """The diagram's boxes, from one forward pass: what :func:`architecture` draws.

    Activations become a suffix of the box before them ("+ReLU"), as does a BatchNorm right
    after a convolution or linear layer ("+BN"); dropout, Identity and Flatten are left out.
    """
    if len(input_size) != 4:
        raise ValueError(f"input_size is N×C×H×W, e.g. (1, 3, 224, 224); "
                         f"got {tuple(input_size)}")
    layers = [Layer("input", "input", "input", tuple(input_size[1:]))]
    for name, module, shape in _run_once(model, input_size, _units(model, group_blocks)):
        kind, last = _kind(module), layers[-1]
        if kind == "skip":
            continue
        if kind == "activation" or (kind == "norm" and "BatchNorm" in type(module).__name__
                                    and last.kind in ("conv", "fc") and not last.suffix):
            if last.kind != "input":
                last.suffix += "+" + ("BN" if kind == "norm" else type(module).__name__)
            continue
        layer = Layer(name, kind, _label(module, kind, shape), shape, module)
        if kind == "block":
            layer.stage = name.rpartition(".")[0] or name
            layer.shortcut, layer.shortcut_label = _shortcut(module)
        layers.append(layer)
    return layers
