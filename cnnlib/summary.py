"""Layer tables that fit the book's text column: torchinfo measures, we choose the columns.

torchinfo runs the model once and records every layer's input and output shape; this wrapper
prints them without the batch dimension, with kernel/stride/padding (and groups where a layer
has them) in one short column, so a table reads without horizontal scrolling.
"""

from __future__ import annotations

import torch
import torchinfo

from ._args import whole_number


def _shape(size) -> str:
    if not size:
        return "-"
    if isinstance(size[0], (list, tuple)):
        size = size[0]
    return "x".join(str(s) for s in size[1:]) or str(size[0])


def _geometry(module: torch.nn.Module) -> str:
    """'k/s/p' for convolutions and pooling, e.g. '11/4/0'; '' for everything else."""
    if not hasattr(module, "kernel_size") or not hasattr(module, "stride"):
        return ""

    def one(v):
        v = v if isinstance(v, (tuple, list)) else (v,)
        return str(v[0]) if all(x == v[0] for x in v) else "x".join(map(str, v))

    text = f"{one(module.kernel_size)}/{one(module.stride or module.kernel_size)}/{one(module.padding)}"
    groups = getattr(module, "groups", 1)
    return text + (f" g{groups}" if groups > 1 else "")


class Summary:
    """What :func:`summary` returns: prints as a table; ``.stats`` is torchinfo's full result."""

    def __init__(self, stats: torchinfo.ModelStatistics, model: torch.nn.Module, depth: int):
        self.stats = stats
        self.rows = []
        for info in stats.summary_list:
            if info.depth == 0 or info.depth > depth:
                continue
            module = info.module
            params = sum(p.numel() for p in module.parameters())
            self.rows.append({
                "name": f"{'  ' * (info.depth - 1)}{info.var_name} ({info.class_name})",
                "input": _shape(info.input_size), "output": _shape(info.output_size),
                "kernel": _geometry(module), "params": params, "leaf": info.is_leaf_layer,
                "module": module,
            })
        self.total_params = sum(p.numel() for p in model.parameters())
        self.trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.mult_adds = stats.total_mult_adds
        self.input_size = stats.input_size

    def __repr__(self) -> str:
        name_w = max([len("Layer (type)")] + [len(r["name"]) for r in self.rows])
        in_w = max([len("Input")] + [len(r["input"]) for r in self.rows])
        out_w = max([len("Output")] + [len(r["output"]) for r in self.rows])
        k_w = max([len("k/s/p")] + [len(r["kernel"]) for r in self.rows])
        header = (f"{'Layer (type)':<{name_w}}  {'Input':>{in_w}}  {'Output':>{out_w}}  "
                  f"{'k/s/p':>{k_w}}  {'Params':>11}")
        rule = "=" * len(header)
        lines = [rule, header, rule]
        for r in self.rows:
            params = f"{r['params']:,}" if r["leaf"] else (f"({r['params']:,})" if r["params"] else "")
            lines.append(f"{r['name']:<{name_w}}  {r['input']:>{in_w}}  {r['output']:>{out_w}}  "
                         f"{r['kernel']:>{k_w}}  {params:>11}")
        lines += [rule,
                  f"Total params: {self.total_params:,}   Trainable: {self.trainable_params:,}",
                  f"Mult-adds per image: {self.mult_adds / 1e6:,.2f} M",
                  "Shapes: C x H x W, batch left out. k/s/p: kernel/stride/padding per side."]
        if any(not r["leaf"] and r["params"] for r in self.rows):
            lines.append("(n): the parameters of a container, counted in its layers below it.")
        lines.append(rule)
        return "\n".join(lines)


def summary(model: torch.nn.Module, input_size=None, depth: int = 3,
            device: str | torch.device | None = None) -> Summary:
    """Run ``model`` once on zeros of ``input_size`` (batch included) and return its layer table.

    For a model with 2-D convolutions, a three-number ``input_size`` is read as C×H×W (the
    book's way of writing shapes) and a batch of one is added: ``(3, 32, 32)`` means
    ``(1, 3, 32, 32)``, not a batch of three images without a channel axis. Without
    ``input_size``, ``(1, 3, 32, 32)``, for a model whose first convolution takes 3 channels;
    another model is asked for its size. A model that fails on the input is an error that
    names the input and the model's own complaint.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"summary expects an nn.Module (a model), got {type(model).__name__}")
    depth = whole_number("depth", depth, 1, meaning="it is how many levels of nested layers "
                         "the table shows")
    input_size = _with_batch(model, _default_size(model) if input_size is None else input_size)
    if device is None:
        params = list(model.parameters())
        device = params[0].device if params else "cpu"
    try:
        stats = torchinfo.summary(model, input_size=input_size, depth=depth, device=device,
                                  verbose=0,
                                  col_names=("input_size", "output_size", "num_params"))
    except RuntimeError as error:
        cause = error.__cause__ or error.__context__
        if cause is None or "torchinfo" not in str(error):
            raise
        raise ValueError(f"{type(model).__name__} failed on an input of size "
                         f"{tuple(input_size)}: {type(cause).__name__}: {cause}. Pass the "
                         "input_size it expects (N×C×H×W, or C×H×W)") from cause
    batch = input_size[0]
    table = Summary(stats, model, depth)
    table.mult_adds = stats.total_mult_adds / batch
    return table


def _default_size(model: torch.nn.Module) -> tuple:
    """(1, 3, 32, 32) for a model whose first convolution takes 3 channels; else an error."""
    first = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if first is None or first.in_channels == 3:
        return (1, 3, 32, 32)
    raise ValueError(f"{type(model).__name__}'s first convolution takes {first.in_channels} "
                     f"channel(s), and without input_size summary would give it 3 (1, 3, 32, 32): "
                     f"pass input_size=(1, {first.in_channels}, H, W), e.g. "
                     f"(1, {first.in_channels}, 32, 32)")


def _with_batch(model: torch.nn.Module, input_size):
    """``input_size`` with a batch axis: ``(1, *input_size)`` for C×H×W given to a 2-D CNN."""
    if not isinstance(input_size, (tuple, list)) or not input_size:
        raise ValueError(f"input_size is N×C×H×W, e.g. (1, 3, 32, 32), got {input_size!r}")
    if isinstance(input_size[0], (tuple, list)):  # several inputs: as given
        return input_size
    if len(input_size) == 3 and any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        return (1, *input_size)
    return input_size
