"""One forward pass, recorded: every layer, activation, flatten and addition, in execution order.

Leaf modules are seen through forward hooks; functional calls made in a ``forward`` (``F.relu``,
``x.view``, ``out + identity``) through a ``TorchFunctionMode``, which sees every torch function
called while it is active. Each step remembers which step produced its input, so the shortcut of a
residual block can be told from its main path.

A module of another kind (a layer written by hand, a PyTorch module the checker does not read)
is watched too. When what it returns was not made by a step recorded inside it, or when it made
additions that may be a windowed sum rather than a residual, it is probed (``_identify``): an
LRN or an activation computed by hand becomes that layer, and anything else one ``unknown``
step under its own name. Either way the steps recorded inside it are dropped, so the verdict
never blames a layer that only served it.
"""

from __future__ import annotations

import os
import sys

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .. import layers as cnn_layers
from .._probe import probing
from ._grouping import group_layers
from ._identify import identify
from ._steps import (ACTIVATION_FUNCTIONS, ACTIVATION_MODULES, ADDS, CATS, FLATTENS, POOLS, Step,
                     Trace, pair, shape_of)

_TORCH_DIR = os.path.dirname(torch.__file__)
_PACKAGE_DIR = os.path.dirname(__file__)


def _is_library(filename: str) -> bool:
    """Code of torch, of this package, or of Python's import machinery: not the reader's."""
    return filename.startswith((_TORCH_DIR, _PACKAGE_DIR, "<frozen"))


def _user_frame() -> tuple[str, int] | None:
    """(file, line) of the innermost frame that is the reader's code: the line that made a call."""
    frame = sys._getframe(1)
    while frame is not None:
        if not _is_library(frame.f_code.co_filename):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return None


def _module_step(module: nn.Module, name: str, inputs, output) -> Step | None:
    """A Step for a known leaf module, or None for a module the tracer should look inside."""
    x = inputs[0] if inputs else None
    params = sum(p.numel() for p in module.parameters(recurse=False))
    kind, attrs = None, {}
    if isinstance(module, nn.Conv2d):
        kind = "conv"
        attrs = _conv_attrs(module.in_channels, module.out_channels, module.kernel_size,
                            module.stride, module.padding, module.dilation, module.groups,
                            module.bias is not None)
    elif isinstance(module, nn.Linear):
        kind = "linear"
        attrs = {"in_features": module.in_features, "out_features": module.out_features,
                 "bias": module.bias is not None}
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        kind = "bn"
        attrs = {"num_features": module.num_features, "affine": module.affine}
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kind = "maxpool" if isinstance(module, nn.MaxPool2d) else "avgpool"
        attrs = _pool_attrs(module.kernel_size, module.stride, module.padding,
                            getattr(module, "ceil_mode", False))
    elif isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        kind = "avgpool" if isinstance(module, nn.AdaptiveAvgPool2d) else "maxpool"
        attrs = {"adaptive": True, "output_size": module.output_size}
    elif isinstance(module, nn.LocalResponseNorm):
        kind = "lrn"  # PyTorch's alpha is divided by size: it averages the squares
        attrs = {"size": module.size, "alpha_sum": module.alpha / module.size,
                 "beta": module.beta, "k": module.k, "torch": True, "across_channels": True}
    elif isinstance(module, cnn_layers.LocalResponseNorm):
        kind = "lrn"
        attrs = {"size": module.size, "alpha_sum": module.alpha, "beta": module.beta,
                 "k": module.k, "torch": False, "across_channels": module.across_channels}
    elif isinstance(module, (nn.Dropout, nn.Dropout2d, cnn_layers.Dropout)):
        kind = "dropout"
        attrs = {"p": float(module.p)}
    elif type(module) in ACTIVATION_MODULES:
        kind = "act"
        attrs = {"act": ACTIVATION_MODULES[type(module)]}
    elif isinstance(module, nn.Flatten):
        kind = "flatten"
    elif isinstance(module, nn.Identity):
        kind = "identity"
    if kind is None:
        return None
    return Step(kind, type(module).__name__, name, attrs, shape_of(x), shape_of(output), params,
                module=module)


def _conv_attrs(cin, cout, kernel, stride, padding, dilation, groups, bias) -> dict:
    kernel, dilation = pair(kernel), pair(dilation)
    if isinstance(padding, str):  # 'same' / 'valid'
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation)) \
            if padding == "same" else (0, 0)
    return {"in_channels": cin, "out_channels": cout, "kernel_size": kernel,
            "stride": pair(stride), "padding": pair(padding), "dilation": dilation,
            "groups": groups, "bias": bool(bias)}


def _pool_attrs(kernel, stride, padding, ceil_mode=False) -> dict:
    kernel = pair(kernel)
    stride = pair(stride) if stride not in (None, (), []) else kernel
    return {"kernel_size": kernel, "stride": stride, "padding": pair(padding),
            "ceil_mode": bool(ceil_mode)}


def _arg(args, kwargs, index, name, default=None):
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def _function_step(func, args, kwargs, out, training: bool) -> Step | None:
    """A Step for a functional call made directly in a forward (F.relu, x.view, out + x...)."""
    fname = getattr(func, "__name__", "")
    x = args[0] if args and isinstance(args[0], torch.Tensor) else None
    if x is None:
        return None
    shape_in, shape_out = shape_of(x), shape_of(out)
    if fname in ACTIVATION_FUNCTIONS:
        act = ACTIVATION_FUNCTIONS[fname]
        return Step("act", f"F.{fname.rstrip('_')}", "", {"act": act}, shape_in, shape_out)
    if fname in ("clamp", "clamp_", "clamp_min", "clamp_min_", "clip", "clip_"):
        low = _arg(args, kwargs, 1, "min")
        high = _arg(args, kwargs, 2, "max") if "min" not in fname else None
        if low == 0 and high is None:
            return Step("act", f"{fname.rstrip('_')}(min=0)", "", {"act": "relu"}, shape_in,
                        shape_out)
        return None
    if fname in POOLS:
        kind = POOLS[fname]
        if fname.startswith("adaptive"):
            attrs = {"adaptive": True, "output_size": _arg(args, kwargs, 1, "output_size")}
        else:
            kernel = _arg(args, kwargs, 1, "kernel_size")
            attrs = _pool_attrs(kernel, _arg(args, kwargs, 2, "stride"),
                                _arg(args, kwargs, 3, "padding", 0),
                                _arg(args, kwargs, 4 if kind == "avgpool" else 5, "ceil_mode",
                                     False))
        return Step(kind, f"F.{fname}", "", attrs, shape_in, shape_out)
    if fname == "mean" and x.dim() == 4 and isinstance(out, torch.Tensor):
        dims = _arg(args, kwargs, 1, "dim")
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        if sorted(d % 4 for d in dims) == [2, 3]:
            return Step("avgpool", "mean(2, 3)", "", {"adaptive": True, "output_size": 1},
                        shape_in, shape_out)
        return None
    if fname == "local_response_norm":
        size = _arg(args, kwargs, 1, "size")
        alpha = _arg(args, kwargs, 2, "alpha", 1e-4)
        return Step("lrn", "F.local_response_norm", "",
                    {"size": size, "alpha_sum": alpha / size,
                     "beta": _arg(args, kwargs, 3, "beta", 0.75),
                     "k": _arg(args, kwargs, 4, "k", 1.0), "torch": True,
                     "across_channels": True}, shape_in, shape_out)
    if fname in ("dropout", "dropout_", "dropout2d", "feature_dropout"):
        p = _arg(args, kwargs, 1, "p", 0.5)
        on = _arg(args, kwargs, 2, "training", True)
        return Step("dropout", f"F.{fname}", "", {"p": float(p), "on_in_eval": bool(on)
                                                  and not training}, shape_in, shape_out)
    if fname == "conv2d":
        weight = _arg(args, kwargs, 1, "weight")
        bias = _arg(args, kwargs, 2, "bias")
        groups = _arg(args, kwargs, 6, "groups", 1)
        cout, cin_g, kh, kw = weight.shape
        attrs = _conv_attrs(cin_g * groups, cout, (kh, kw), _arg(args, kwargs, 3, "stride", 1),
                            _arg(args, kwargs, 4, "padding", 0),
                            _arg(args, kwargs, 5, "dilation", 1), groups, bias is not None)
        params = weight.numel() + (bias.numel() if bias is not None else 0)
        return Step("conv", "F.conv2d", "", attrs, shape_in, shape_out, params)
    if fname == "linear":
        weight = _arg(args, kwargs, 1, "weight")
        bias = _arg(args, kwargs, 2, "bias")
        attrs = {"in_features": weight.shape[1], "out_features": weight.shape[0],
                 "bias": bias is not None}
        params = weight.numel() + (bias.numel() if bias is not None else 0)
        return Step("linear", "F.linear", "", attrs, shape_in, shape_out, params)
    if fname == "batch_norm":
        weight = _arg(args, kwargs, 3, "weight")
        bias = _arg(args, kwargs, 4, "bias")
        params = sum(t.numel() for t in (weight, bias) if t is not None)
        return Step("bn", "F.batch_norm", "", {"num_features": x.shape[1],
                                                "affine": weight is not None}, shape_in,
                    shape_out, params)
    if fname in ADDS:
        other = _arg(args, kwargs, 1, "other")
        if isinstance(other, torch.Tensor) and x.dim() == 4 and other.dim() == 4:
            return Step("add", "add", "", {}, shape_in, shape_out)
        return None
    if fname in FLATTENS and x.dim() == 4 and isinstance(out, torch.Tensor) and \
            out.dim() in (1, 2):  # 1: the batch dimension flattened too
        rows = out.shape[0] if out.dim() == 2 else 0
        return Step("flatten", f"{'x.' if fname != 'flatten' else 'torch.'}{fname}", "", {},
                    shape_in, shape_out, batch=(x.shape[0], rows))
    return None


class _Tracer(TorchFunctionMode):
    """Records leaf-module calls (hooks) and functional calls (a TorchFunctionMode) in order."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.steps: list[Step] = []
        self.producer: dict[int, int] = {}
        self.keep: list = []          # tensors stay alive so that their ids stay unique
        self.depth = 0                # > 0 inside a known leaf module: ignore its internals
        self.busy = False             # inside our own bookkeeping
        self.pending: list[tuple[nn.Module, str, tuple]] = []
        self.failed_step: Step | None = None
        self.called: set[int] = set()
        self.open_calls: list[tuple] = []   # modules of other kinds, called and not returned
        self.names = {id(m): n for n, m in model.named_modules()}
        self.cats: list[list] = []    # producing step of each tensor a torch.cat stacked

    # -- bookkeeping --------------------------------------------------------------------------
    def _srcs(self, tensors) -> list:
        return [self.producer.get(id(t)) for t in tensors if isinstance(t, torch.Tensor)]

    def _produced(self, out, index: int | None) -> None:
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for t in outs:
            if isinstance(t, torch.Tensor) and index is not None:
                self.producer[id(t)] = index
                self.keep.append(t)

    def _record(self, step: Step, inputs, out) -> None:
        step.srcs = self._srcs(inputs)
        self.steps.append(step)
        self._produced(out, len(self.steps) - 1)

    # -- hooks ----------------------------------------------------------------------------------
    def pre_hook(self, module, inputs):
        if self.busy:
            return
        self.busy = True
        try:
            self.called.add(id(module))
            self.pending.append((module, self.names.get(id(module), ""), inputs,
                                 _user_frame()))
            self.depth += 1
        finally:
            self.busy = False

    def post_hook(self, module, inputs, output):
        if self.busy:
            return
        self.busy = True
        try:
            module_, name, _, line = self.pending.pop()
            self.depth -= 1
            step = _module_step(module, name, inputs, output)
            step.line = line
            if step.kind == "identity":
                self._produced(output, self.producer.get(id(inputs[0])) if inputs else None)
            else:
                self._record(step, inputs, output)
        finally:
            self.busy = False

    # -- modules of other kinds --------------------------------------------------------------
    def other_pre_hook(self, module, inputs):
        if self.busy:
            return
        first = inputs[0] if inputs else None
        sample = first.detach().clone() if isinstance(first, torch.Tensor) else None
        self.open_calls.append((len(self.steps), sample, _user_frame()))

    def other_post_hook(self, module, inputs, output):
        if self.busy or not self.open_calls:
            return
        start, sample, line = self.open_calls.pop()
        if sample is None or not isinstance(output, torch.Tensor):
            return
        self.busy = True
        try:
            self._settle(module, start, sample, inputs[0], output, line)
        finally:
            self.busy = False

    def _settle(self, module, start: int, sample, first, output, line) -> None:
        """Keep what was recorded inside ``module``, or replace it with one identified step."""
        inside = self.steps[start:]
        explained = self.producer.get(id(output), -2) >= start
        if output is first or (output.shape == sample.shape and torch.equal(output, sample)):
            return  # the input passed through (a dropout in eval mode, say)
        if explained and not any(s.kind == "add" for s in inside):
            return  # its own steps account for its output
        parameter_free = not any(True for _ in module.parameters())
        found = identify(module, sample) if parameter_free else None
        if found is None and explained:
            return
        kind, attrs = found if found is not None else ("unknown", {})
        # Forget the steps made inside: the module is one step, identified or not.
        del self.steps[start:]
        self.producer = {t: i for t, i in self.producer.items() if i < start}
        step = Step(kind, type(module).__name__, self.names.get(id(module), ""), attrs,
                    shape_of(sample), shape_of(output), 0, module=module, line=line,
                    sample=(sample, output.detach().clone()))
        step.srcs = self._srcs([first])
        self.steps.append(step)
        self._produced(output, len(self.steps) - 1)

    # -- functional calls ---------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.busy or self.depth > 0:
            return func(*args, **kwargs)
        try:
            out = func(*args, **kwargs)
        except BaseException:  # recorded, then raised again: trace() decides what to report
            self.busy = True
            try:
                step = _failed_function_step(func, args, kwargs)
                if step is not None:
                    step.line = _user_frame()
                    step.srcs = self._srcs(list(args) + list(kwargs.values()))
                    self.failed_step = step
            finally:
                self.busy = False
            raise
        self.busy = True
        try:
            step = _function_step(func, args, kwargs, out, self.model.training)
            if step is not None:
                step.line = _user_frame()
                tensors = [a for a in args if isinstance(a, torch.Tensor)]
                self._record(step, tensors, out)
            elif getattr(func, "__name__", "") in CATS and args and \
                    isinstance(args[0], (list, tuple)):
                self.cats.append(self._srcs(args[0]))
            elif isinstance(out, torch.Tensor):
                first = next((a for a in args if isinstance(a, torch.Tensor)), None)
                if first is not None and id(first) in self.producer:
                    self._produced(out, self.producer[id(first)])  # views, slices, pads...
        finally:
            self.busy = False
        return out


def _failed_function_step(func, args, kwargs) -> Step | None:
    fname = getattr(func, "__name__", "")
    tensors = [a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)]
    if not tensors:
        return None
    kind = "add" if fname in ADDS else "flatten" if fname in FLATTENS else "call"
    step = Step(kind, fname, "", {"shapes": [tuple(t.shape) for t in tensors]},
                shape_of(tensors[0]), None)
    return step


def _is_known_leaf(module: nn.Module) -> bool:
    return _module_step(module, "", (), None) is not None


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _is_other(module: nn.Module, root: nn.Module) -> bool:
    """A module to watch as a whole: not the model, not a container, not a layer the tracer
    reads; without parameters (a layer written by hand) or without children (a PyTorch module
    the tracer does not read, a layer with its own weights)."""
    if module is root or isinstance(module, _CONTAINERS) or _is_known_leaf(module):
        return False
    return not any(True for _ in module.parameters()) or not any(True for _ in module.children())


def trace(model: nn.Module, input_size) -> Trace:
    """Run ``model`` once on a seeded random batch of 2 and record what it did, in order."""
    size = tuple(input_size)
    if len(size) == 3:
        size = (2, *size)
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    g = torch.Generator().manual_seed(0)
    x = torch.randn(size, generator=g).to(device=device, dtype=dtype)
    tracer = _Tracer(model)
    tracer.producer[id(x)] = -1
    handles = []
    for m in model.modules():
        if not list(m.children()) and _is_known_leaf(m):
            handles.append(m.register_forward_pre_hook(tracer.pre_hook))
            handles.append(m.register_forward_hook(tracer.post_hook))
        elif _is_other(m, model):
            handles.append(m.register_forward_pre_hook(tracer.other_pre_hook))
            handles.append(m.register_forward_hook(tracer.other_post_hook))
    out, error, failed_line = None, None, None
    try:
        with probing(model, handles), tracer:
            out = model(x)
    except BaseException as exc:  # noqa: B036 the reader's model may fail in any way, even
        # with KeyboardInterrupt or SystemExit raised by its code: explain, do not crash
        error = exc
        failed_line = _traceback_user_line(exc)
    failed = tracer.failed_step
    if error is not None and tracer.pending:
        module, name, inputs, line = tracer.pending[-1]
        failed = _module_step(module, name, inputs, None) or Step(
            "call", type(module).__name__, name, {}, None, None)
        failed.in_shape = shape_of(inputs[0]) if inputs else None
        failed.attrs = dict(failed.attrs, input_full=tuple(inputs[0].shape) if inputs and
                            isinstance(inputs[0], torch.Tensor) else None)
        failed.line = line
    unused = [(n, m) for n, m in model.named_modules()
              if not list(m.children()) and id(m) not in tracer.called and _is_known_leaf(m)
              and n]
    result = Trace(steps=tracer.steps, layers=[], output_shape=shape_of(out),
                   output_type=type(out).__name__, error=error, failed_step=failed,
                   failed_line=failed_line, unused=unused,
                   total_params=sum(p.numel() for p in model.parameters()))
    result.layers = group_layers(tracer.steps, tracer.cats)
    return result


def _traceback_user_line(exc: BaseException) -> tuple[str, int] | None:
    """The last frame of the traceback that is the reader's code (not torch, not this file)."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        fname = tb.tb_frame.f_code.co_filename
        if not _is_library(fname):
            found = (fname, tb.tb_lineno)
        tb = tb.tb_next
    return found
