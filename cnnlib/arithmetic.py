"""The book's shape and parameter arithmetic, checked against PyTorch rather than typed in.

Every chapter asks the same questions of a network: how big is the feature map after this layer,
how much of the input does one output pixel see, how many weights does a layer hold, and how much
work is one forward pass. The answers are a few lines of integer arithmetic each, so they live
here once, and ``tests/test_arithmetic.py`` compares them with what ``nn.Conv2d`` and
``nn.MaxPool2d`` actually do.

Notation (the book's): input size ``n``, kernel ``k``, stride ``s``, padding ``p`` *per side*,
dilation ``d``. A dilated kernel spans ``k_eff = d*(k-1) + 1`` pixels, and

    output = floor((n + 2p - k_eff) / s) + 1 = floor((n + 2p - d(k-1) - 1) / s) + 1.

Sizes are one spatial dimension at a time: pass plain ints and call once for height and once for
width when they differ. That keeps each formula the one printed in the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import math
import operator

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from ._args import NotAWholeNumberError, whole_number
from ._probe import probing, zeros_for


# What each argument means, said in the error when it is out of range.
_MEANING = {
    "size": "it is the input's height or width in pixels",
    "kernel_size": "it is the window's side in pixels",
    "stride": "it is the step between windows (1 = every position)",
    "padding": "it is the pixels added on each side (0 = none)",
    "dilation": "it is the spacing of the kernel's taps (1 = an ordinary kernel)",
    "in_channels": "it is the number of channels into the layer (3 for RGB)",
    "out_channels": "it is the layer's number of filters",
    "groups": "it is 1 for an ordinary convolution, in_channels for a depthwise one",
    "in_features": "it is the length of each input vector",
    "out_features": "it is the length of each output vector",
    "out_h": "it is the output's height (from conv_output_size)",
    "out_w": "it is the output's width (from conv_output_size)",
}


def _check_int(name: str, value, minimum: int) -> int:
    """A whole number >= ``minimum``; bool (``True`` as a kernel size is a bug, not a 1), float
    and tuple raise ``NotAWholeNumberError`` (a TypeError and a ValueError)."""
    if isinstance(value, (tuple, list)):
        raise NotAWholeNumberError(
            f"{name} must be an int (one spatial dimension; call once per dimension), "
            f"got {value!r}")
    return whole_number(name, value, minimum, meaning=_MEANING.get(name, ""))


def _check_bias(bias) -> bool:
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"bias must be True or False, got {bias!r} (a {type(bias).__name__}): "
                        "any non-empty string or non-zero number would count as True")
    return bool(bias)


def _span(size: int, kernel_size: int, padding: int, dilation: int) -> tuple[int, int]:
    """Validated ``(n + 2p - k_eff, k_eff)``: how far the window can slide, and its width."""
    k_eff = dilation * (kernel_size - 1) + 1
    if size + 2 * padding < k_eff:
        raise ValueError(f"kernel spans {k_eff} pixels (dilation {dilation}, kernel {kernel_size}) "
                         f"but the padded input is only {size} + 2*{padding} = "
                         f"{size + 2 * padding}")
    return size + 2 * padding - k_eff, k_eff


def _not_divisible(size, kernel_size, stride, padding, dilation, k_eff, slack,
                   max_padding=None) -> ValueError:
    """Explain a stride that does not divide: what is dropped, and which sizes would fit."""
    left = slack % stride
    kernel = str(k_eff) if dilation == 1 else f"{k_eff} [= {dilation}*({kernel_size}-1)+1]"
    msg = (f"({size} + 2*{padding} - {kernel}) / {stride} + 1 = {slack / stride + 1:g}: "
           f"{left} pixel(s) left over at the far edge, never covered by a window. ")
    fits = []
    smaller = size - left
    if smaller + 2 * padding >= k_eff:
        fits.append(f"Input {smaller} would give {(smaller + 2 * padding - k_eff) // stride + 1}")
    larger = size + stride - left
    larger_out = (larger + 2 * padding - k_eff) // stride + 1
    fits.append(f"{'input' if fits else 'Input'} {larger} would give {larger_out}")
    top = padding + stride if max_padding is None else max_padding
    pads = [q for q in range(padding + 1, top + 1) if (slack + 2 * (q - padding)) % stride == 0]
    if pads:
        pad_out = (slack + 2 * (pads[0] - padding)) // stride + 1
        fits.append(f"padding {pads[0]} would give {pad_out}")
    elif stride % 2 == 0 and left % 2 == 1:
        fits.append("no padding divides evenly (each unit of padding adds 2 pixels, "
                    f"the stride {stride} is even and the leftover {left} is odd)")
    else:
        fits.append(f"no padding up to {top} divides evenly")
    return ValueError(msg + ", ".join(fits[:2]) + "; " + "".join(fits[2:]) + ".")


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1, strict: bool = False) -> int:
    """Output size of ``nn.Conv2d`` along one dimension; floors exactly as PyTorch does.

    Flooring silently drops the last ``(n + 2p - k_eff) % s`` rows: PyTorch never complains. With
    ``strict=True`` that case raises a ``ValueError`` naming the leftover and the nearest input
    sizes (and padding) that would divide, which is how the book checks a design on paper.
    """
    _check_int("size", size, 1)
    _check_int("kernel_size", kernel_size, 1)
    _check_int("stride", stride, 1)
    _check_int("padding", padding, 0)
    _check_int("dilation", dilation, 1)
    slack, k_eff = _span(size, kernel_size, padding, dilation)
    if strict and slack % stride:
        raise _not_divisible(size, kernel_size, stride, padding, dilation, k_eff, slack)
    return slack // stride + 1


def pool_output_size(size: int, kernel_size: int, stride: int | None = None, padding: int = 0,
                     dilation: int = 1, ceil_mode: bool = False, strict: bool = False) -> int:
    """Output size of ``nn.MaxPool2d`` / ``nn.AvgPool2d`` along one dimension.

    Differences from a convolution, all PyTorch's: ``stride`` defaults to ``kernel_size``
    (non-overlapping windows); ``padding`` may be at most ``kernel_size // 2`` (more would let a
    window see only padding); ``ceil_mode`` rounds up to keep a last, partial window, but drops it
    again if that window would start in the right padding; PyTorch even accepts a window larger
    than the input then, as long as one output is left. ``strict`` raises when the windows do not
    tile the padded input exactly, whatever ``ceil_mode`` does with the remainder.
    """
    stride = kernel_size if stride is None else stride
    _check_int("size", size, 1)
    _check_int("kernel_size", kernel_size, 1)
    _check_int("stride", stride, 1)
    _check_int("padding", padding, 0)
    _check_int("dilation", dilation, 1)
    if padding > kernel_size // 2:
        raise ValueError(f"pooling padding must be <= kernel_size // 2 = {kernel_size // 2} "
                         f"(as PyTorch requires), got {padding}")
    if strict or not ceil_mode:
        _span(size, kernel_size, padding, dilation)  # the window must fit the padded input
    k_eff = dilation * (kernel_size - 1) + 1
    slack = size + 2 * padding - k_eff  # negative only with ceil_mode: one partial window
    if strict and slack % stride:
        raise _not_divisible(size, kernel_size, stride, padding, dilation, k_eff, slack,
                             max_padding=kernel_size // 2)
    out = -(-slack // stride) + 1 if ceil_mode else slack // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the right padding: PyTorch drops it
    if out < 1:
        raise ValueError(f"pooling window spans {k_eff} pixels but the padded input is only "
                         f"{size} + 2*{padding} = {size + 2 * padding}: no output left")
    return out


# Layers that end the spatial grid: past them "receptive field" no longer means a square patch.
_GRID_ENDS = (nn.Linear, nn.Flatten, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _kernel_of(module: nn.Module) -> tuple[int, int, int]:
    """``(k, s, d)`` of a Conv2d/MaxPool2d/AvgPool2d; ``(1, 1, 1)`` for pointwise layers."""
    def square(name, v):
        v = (v, v) if isinstance(v, int) else tuple(v)
        if v[0] != v[1]:
            raise ValueError(f"{type(module).__name__} has non-square {name} {v}; "
                             "receptive_field handles square kernels only")
        return v[0]

    if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
        return (square("kernel_size", module.kernel_size), square("stride", module.stride),
                square("dilation", module.dilation))
    if isinstance(module, nn.AvgPool2d):
        stride = module.stride or module.kernel_size
        return square("kernel_size", module.kernel_size), square("stride", stride), 1
    name = type(module).__name__
    if isinstance(module, _GRID_ENDS) or "Conv" in name or "Pool" in name:
        raise ValueError(f"receptive_field cannot follow {name}: pass only the convolutional "
                         "part of the model (for example model.features)")
    return 1, 1, 1  # ReLU, BatchNorm, Dropout, LocalResponseNorm...: one pixel in, one out


def receptive_field(layers: nn.Module | Iterable) -> list[dict]:
    """Receptive field ``r`` and cumulative stride ``j`` (the "jump") after each layer.

    ``layers`` is a sequence of ``(kernel_size, stride)`` or ``(kernel_size, stride, dilation)``
    tuples, of modules, or a module. Starting from one input pixel (``r = j = 1``), each layer
    widens the field by ``k_eff - 1`` steps of the current jump, ``r += (k_eff - 1) * j``, then
    multiplies the jump by its stride, ``j *= s``: that is why strides early in a network grow
    the field fastest. Padding moves the field but does not change its size, so it is not
    needed here.

    A module built of ``nn.Sequential`` containers is one chain: its leaf modules are taken in
    order. Any other (a residual block, a ResNet stage) is followed along its data flow, traced
    with ``torch.fx``: where paths meet (a shortcut's addition, a concatenation) the field is
    that of the longest path, and a row of type ``add`` (or ``cat``...) says so; a shortcut's
    layers are on their own path, not in series with the block's. The last row is always the
    output's. A forward that cannot be traced, or uses a function that changes the field in a
    way not known here, is refused with its name.
    """
    if isinstance(layers, nn.Module) and not _one_chain(layers):
        return _traced_field(layers)
    if isinstance(layers, nn.Module):
        named = [(n, m) for n, m in layers.named_modules() if not list(m.children())]
    else:
        named = [(str(i), layer) for i, layer in enumerate(layers)]
    rows, r, j = [], 1, 1
    for name, layer in named:
        if isinstance(layer, nn.Module):
            k, s, d = _kernel_of(layer)
            kind = type(layer).__name__
        else:
            if len(layer) not in (2, 3):
                raise ValueError(f"expected (kernel_size, stride[, dilation]), got {layer!r}")
            k, s, d = (tuple(layer) + (1,))[:3]
            for arg, value in zip(("kernel_size", "stride", "dilation"), (k, s, d)):
                _check_int(arg, value, 1)
            kind = "layer"
        r, j = _widen(r, j, k, s, d)
        rows.append({"name": name, "type": kind, "kernel_size": k, "stride": s, "dilation": d,
                     "r": r, "j": j})
    return rows


def _widen(r: int, j: int, k: int, s: int, d: int) -> tuple[int, int]:
    return r + (d * (k - 1)) * j, j * s


def _one_chain(model: nn.Module) -> bool:
    """Every container is a plain ``nn.Sequential``: the leaves in order are the data flow."""
    return all(isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward
               for m in model.modules() if list(m.children()))


# Functions through which each output pixel depends on the same pixel of each input.
_PIXELWISE = {operator.add, operator.iadd, operator.mul, operator.imul, operator.sub,
              operator.isub, operator.truediv, operator.neg, torch.add, torch.mul, torch.sub,
              torch.cat, torch.relu, torch.sigmoid, torch.tanh, F.relu, F.relu6, F.leaky_relu,
              F.gelu, F.silu, F.elu, F.dropout, F.pad}
_PIXELWISE_METHODS = {"add", "add_", "mul", "mul_", "sub", "relu", "relu_", "sigmoid", "tanh",
                      "clamp", "clamp_", "contiguous", "clone", "float", "to", "type_as"}
_NOT_TENSORS = {"size", "dim", "numel"}  # methods whose result is no feature map


def _traced_field(model: nn.Module) -> list[dict]:
    """The receptive field along the data flow of ``model``'s forward, traced by torch.fx."""
    model_name = type(model).__name__
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as error:  # noqa: BLE001 (torch.fx raises many kinds)
        raise ValueError(
            f"receptive_field cannot follow {model_name}'s forward: it is not an nn.Sequential, "
            f"and torch.fx could not trace it ({type(error).__name__}, above). Pass its "
            "convolutional part as an nn.Sequential (for example model.features or one stage, "
            "model.layer1), or a list of (kernel_size, stride) tuples") from error
    field: dict = {}  # node -> (r, j) for feature maps, None for other values
    rows: list[dict] = []
    for node in graph.nodes:
        if node.op == "placeholder":
            field[node] = (1, 1)
            continue
        if node.op == "output":
            out = next((field.get(a) for a in _node_args(node) if field.get(a)), None)
            if out is None:
                raise ValueError(f"{model_name}'s forward returns no feature map")
            if not rows or (rows[-1]["r"], rows[-1]["j"]) != out or rows[-1]["node"] != (
                    node.args[0] if isinstance(node.args[0], torch.fx.Node) else None):
                rows.append(_row("output", "output", 1, 1, 1, out, None))
            break
        inputs = [field[a] for a in _node_args(node) if field.get(a)]
        if node.op == "get_attr" or not inputs or (
                node.op == "call_method" and node.target in _NOT_TENSORS):
            field[node] = None
            continue
        if node.op == "call_module":
            module = model.get_submodule(node.target)
            if isinstance(module, _GRID_ENDS):  # a whole network: its head ends the grid
                raise ValueError(
                    f"receptive_field cannot follow {model_name}'s forward: its "
                    f"{type(module).__name__} ({node.target}) ends the spatial grid. Pass its "
                    "convolutional part (for example model.features or one stage, "
                    "model.layer1), or a list of (kernel_size, stride) tuples")
            k, s, d = _kernel_of(module)
            field[node] = _widen(*inputs[0], k, s, d)
            rows.append(_row(node.target, type(module).__name__, k, s, d, field[node], node))
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if node.op == "call_function" and node.target is operator.getitem:
            field[node] = _widen(*inputs[0], 1, _slice_step(node, model_name), 1)
            continue
        if not (node.target in _PIXELWISE or (node.op == "call_method"
                                               and node.target in _PIXELWISE_METHODS)):
            where = ("pass only the convolutional part of the model (for example "
                     "model.features)" if name in ("flatten", "view", "reshape", "mean")
                     or "adaptive" in name else "pass its layers as modules (nn.Conv2d, "
                     "nn.MaxPool2d...) or as a list of (kernel_size, stride) tuples")
            raise ValueError(f"receptive_field cannot follow the function {name} in "
                             f"{model_name}'s forward (node {node.name}): {where}")
        jumps = sorted({j for _, j in inputs})
        if len(jumps) > 1:
            raise ValueError(f"the paths that meet at {name} in {model_name}'s forward (node "
                             f"{node.name}) have different strides ({jumps}), so their pixels "
                             "do not line up: receptive_field cannot follow this model")
        field[node] = (max(r for r, _ in inputs), jumps[0])
        if len(inputs) > 1:
            rows.append(_row(node.name, name.strip("_"), 1, 1, 1, field[node], node))
    for row in rows:
        del row["node"]
    return rows


def _node_args(node) -> list:
    """The graph nodes among a node's arguments, nested ones included."""
    found: list = []
    torch.fx.node.map_arg((node.args, node.kwargs), found.append)
    return found


def _row(name, kind, k, s, d, field, node) -> dict:
    return {"name": name, "type": kind, "kernel_size": k, "stride": s, "dilation": d,
            "r": field[0], "j": field[1], "node": node}


def _slice_step(node, model_name: str) -> int:
    """The stride of ``x[:, :, ::s, ::s]``: 1 when the height and width are not indexed."""
    index = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
    spatial = index[2:4]
    steps = {(i.step or 1) for i in spatial if isinstance(i, slice) and i.start in (None, 0)
             and i.stop is None and isinstance(i.step or 1, int)}
    if len(steps) != (1 if spatial else 0) or (len(spatial) == 1 and steps != {1}):
        raise ValueError(f"receptive_field cannot follow the indexing {node.name} in "
                         f"{model_name}'s forward ({index!r}): only x[:, :, ::s, ::s] is known")
    return steps.pop() if steps else 1


def _kernel_area(kernel_size: int | Sequence[int]) -> int:
    if isinstance(kernel_size, (tuple, list)):
        if len(kernel_size) != 2:
            raise ValueError(f"kernel_size must be an int or a pair (kh, kw), got {kernel_size!r}")
        kh, kw = (_check_int("kernel_size", k, 1) for k in kernel_size)
        return kh * kw
    return _check_int("kernel_size", kernel_size, 1) ** 2


def _per_group(in_channels: int, out_channels: int, groups: int) -> int:
    """Input channels each output channel sees, after checking all three counts."""
    _check_int("in_channels", in_channels, 1)
    _check_int("out_channels", out_channels, 1)
    _check_int("groups", groups, 1)
    if in_channels % groups or out_channels % groups:
        common = math.gcd(in_channels, out_channels)
        fits = [g for g in range(1, common + 1) if common % g == 0]
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} "
                         f"and out_channels={out_channels}: each group takes in_channels/groups "
                         f"inputs and makes out_channels/groups outputs. Use a groups that "
                         f"divides both ({', '.join(map(str, fits[:8]))}"
                         f"{', ...' if len(fits) > 8 else ''}), or change the channels")
    return in_channels // groups


def conv_params(in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                groups: int = 1, bias: bool = True) -> int:
    """Weights of a Conv2d: each output channel sees ``in/groups`` channels through a k x k window.

    ``kernel_size`` may be an int or ``(kh, kw)`` (Inception's 1x7). Grouping divides the weight
    count by ``groups``: the trick AlexNet used to split a layer over two GPUs.
    """
    per_output = _per_group(in_channels, out_channels, groups) * _kernel_area(kernel_size)
    return out_channels * per_output + (out_channels if _check_bias(bias) else 0)


def conv_macs(in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
              out_h: int, out_w: int, groups: int = 1) -> int:
    """Multiply-adds of one Conv2d on one image: one dot product per output value."""
    _check_int("out_h", out_h, 1)
    _check_int("out_w", out_w, 1)
    per_output = _per_group(in_channels, out_channels, groups) * _kernel_area(kernel_size)
    return out_channels * out_h * out_w * per_output


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Weights of a Linear layer: a full ``out x in`` matrix, plus one bias per output."""
    _check_int("in_features", in_features, 1)
    _check_int("out_features", out_features, 1)
    return in_features * out_features + (out_features if _check_bias(bias) else 0)


def linear_macs(in_features: int, out_features: int) -> int:
    """Multiply-adds of a Linear layer on one input vector."""
    _check_int("in_features", in_features, 1)
    _check_int("out_features", out_features, 1)
    return in_features * out_features


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters, each shared tensor counted once (as ``model.parameters()`` does)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_params expects an nn.Module, got {type(model).__name__}; for "
                        "one layer's count from its sizes use conv_params or linear_params")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_table(model: nn.Module, input_size: Sequence[int]) -> list[dict]:
    """One row per leaf-module call: name, type, output shape, own parameters, multiply-adds.

    Runs the model once on zeros of ``input_size`` (batch included, e.g. ``(1, 1, 32, 32)``) with
    forward hooks, so shapes are what PyTorch computed, not what we think it should. The model is
    briefly put in eval mode (BatchNorm would otherwise update its running statistics on zeros)
    and restored afterwards. ``macs`` is per image, counted for Conv2d and Linear, the layers that
    do nearly all the work; it is 0 for the rest.
    """
    rows: list[dict] = []

    def hook(module, inputs, output, name):
        shape = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else None
        macs = 0
        if isinstance(module, nn.Conv2d):
            macs = conv_macs(module.in_channels, module.out_channels, module.kernel_size,
                             output.shape[-2], output.shape[-1], module.groups)
        elif isinstance(module, nn.Linear):
            vectors = output[0].numel() // module.out_features  # >1 for (batch, tokens, features)
            macs = vectors * linear_macs(module.in_features, module.out_features)
        rows.append({"name": name, "type": type(module).__name__, "output_shape": shape,
                     "params": sum(p.numel() for p in module.parameters(recurse=False)),
                     "macs": macs})

    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: hook(mod, i, o, n))
               for n, m in leaves]
    with probing(model, handles):
        model(zeros_for(model, input_size))
    return rows


# Layers whose output the backward pass keeps (activations count as in place, Flatten is a view).
_HOLDS = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm,
          nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
          nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)


def activation_memory(model: nn.Module, input_size: Sequence[int],
                      bytes_per_value: int = 4) -> dict:
    """Bytes of activations for a batch (``input_size[0]``): training's and inference's.

    Training keeps every layer's output until the backward pass has used it, so they add up;
    inference frees an output once the next layer has read it, so its peak is one layer's
    input + output. The rule the quiz states: the outputs of convolutions, linear layers,
    pooling and batch norm count, once each; activations are taken as in place, Flatten is a
    view, the input is left out. ``{"layers": [...], "training": bytes, "inference": bytes}``;
    ``layers`` gives name, type, output shape and values per image (run on one image).
    """
    rows: list[dict] = []

    def hook(module, inputs, output, name):
        rows.append({"name": name, "type": type(module).__name__,
                     "output_shape": tuple(output.shape[1:]), "values": output[0].numel(),
                     "input_values": inputs[0][0].numel()})

    batch = whole_number("batch", input_size[0], 1, meaning="it is input_size[0]")
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: hook(mod, i, o, n))
               for n, m in model.named_modules() if isinstance(m, _HOLDS)]
    with probing(model, handles):
        model(zeros_for(model, (1, *input_size[1:])))
    size = batch * bytes_per_value
    return {"layers": rows, "training": size * sum(r["values"] for r in rows),
            "inference": size * max((r["input_values"] + r["values"] for r in rows), default=0)}


def flops_per_image(model: nn.Module, input_size: Sequence[int], training: bool = True) -> int:
    """Floating-point operations per image, by the book's convention.

    One multiply-add is 2 FLOPs, so a forward pass is ``2 * MACs``. A training step is counted as
    3 forward passes: the backward pass computes gradients for both the activations and the
    weights, each about as costly as the forward. Only Conv2d and Linear are counted (see
    :func:`layer_table`). Dividing by a device's peak FLOP/s gives a lower bound on its time per
    image, which the book compares with measured throughput.
    """
    forward = 2 * sum(row["macs"] for row in layer_table(model, input_size))
    return 3 * forward if training else forward


def count_weighted_layers(model: nn.Module) -> int:
    """Depth as the ResNet paper counts it: convolutions and linear layers on the main path.

    Projection shortcuts are not counted (ResNet-18 has 18 layers with its three 1×1
    projections left out); they are recognised by their module names, ``downsample`` as in
    torchvision or ``shortcut`` as in many tutorials.
    """
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for name, m in model.named_modules()
               if not any(part in ("downsample", "shortcut") for part in name.split(".")))
