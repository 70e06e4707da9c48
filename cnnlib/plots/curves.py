"""Numbers over time: training curves, activation functions, loss curves, the learning-rate
range test, class counts and receptive fields."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..history import smooth
from ._style import finish_line_plot


def _curve(h, split: str, key: str):
    """One split's curve in percent for "acc" and "err" (error = 1 - accuracy), else as stored."""
    if key == "err":
        return [100 * (1 - v) for v in h[f"{split}_acc"]]
    values = h[f"{split}_{key}"]
    return [100 * v for v in values] if key == "acc" else values


def _check_curves(histories: dict, keys, splits) -> None:
    """Refuse what would draw an empty panel: an empty history, a key no history has."""
    if isinstance(keys, str) or isinstance(splits, str):
        raise TypeError(f"keys and splits are tuples, got keys={keys!r}, splits={splits!r}: "
                        "write keys=('acc',) (with the comma), splits=('test',)")
    unknown = [s for s in splits if s not in ("train", "test")]
    if unknown:
        raise ValueError(f"splits are 'train' and/or 'test', got {unknown}")
    for label, h in histories.items():
        if not hasattr(h, "rows"):
            raise TypeError(f"plot_history draws Histories (what fit returns), got "
                            f"{type(h).__name__}" + (f" for {label!r}" if label else ""))
        if not h.rows:
            raise ValueError("the history" + (f" {label!r}" if label else "") + " is empty, so "
                             "there is nothing to plot: train first (fit returns the history "
                             "of the epochs it ran)")
    present = {k for h in histories.values() for row in h.rows for k in row}
    for key in keys:
        source = "acc" if key == "err" else key
        if not any(f"{split}_{source}" in present for split in splits):
            names = sorted({k.split("_", 1)[1] for k in present
                            if k.split("_", 1)[0] in ("train", "test") and "_" in k})
            raise ValueError(f"no history has {key!r} for {list(splits)}: keys are the part after "
                             f"'train_'/'test_', here {names} (or 'err', the error rate); the "
                             f"histories hold {sorted(present)}")


def plot_history(histories, keys=("loss", "acc"), title: str | None = None,
                 splits=("train", "test"), ylim: tuple[float, float] | None = None):
    """Training curves. ``histories`` is one History or a ``{label: History}`` dict to compare.

    ``ylim`` fixes the y-range of every panel, so that two figures can be compared at a glance.

    ``keys`` are "loss", "acc" or "err" (the error rate, 100 - accuracy, as the AlexNet paper
    plots it); ``splits`` picks "train" (dashed) and/or "test" (solid) curves.
    """
    if not isinstance(histories, dict):
        histories = {"": histories}
    _check_curves(histories, keys, splits)
    labels = {"acc": "accuracy (%)", "err": "error (%)"}
    styles = {"train": "--", "test": "-"}
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes.flat, keys):
        source = "acc" if key == "err" else key
        for i, (label, h) in enumerate(histories.items()):
            prefix = f"{label} " if label else ""
            for split in splits:
                if h.rows and f"{split}_{source}" in h.rows[0]:
                    ax.plot(h["epoch"], _curve(h, split, key), styles[split],
                            color=colors[i % len(colors)], label=f"{prefix}{split}",
                            marker="o" if len(h) == 1 else None)  # one epoch: a dot, not a line
        ax.set_xlabel("epoch")
        ax.set_ylabel(labels.get(key, key))
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_runs(groups: dict, key: str = "acc", split: str = "test", title: str | None = None,
              ylabel: str | None = None):
    """Repeated runs, each drawn thin, with their mean drawn bold: the spread shows at a glance.

    ``groups`` maps a label to a list of histories (one per seed) with the same epochs; ``key``
    and ``split`` as in :func:`plot_history` ("err" plots the error rate).
    """
    if not groups or any(not runs for runs in groups.values()):
        raise ValueError("plot_runs needs {label: [History, ...]} with at least one run each")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, runs) in enumerate(groups.items()):
        color = colors[i % len(colors)]
        curves = [(h["epoch"], _curve(h, split, key)) for h in runs]
        for epochs, values in curves:
            ax.plot(epochs, values, color=color, alpha=0.35, lw=1)
        length = min(len(values) for _, values in curves)
        mean = np.mean([values[:length] for _, values in curves], axis=0)
        ax.plot(curves[0][0][:length], mean, color=color, lw=2.2,
                label=f"{label} (mean of {len(runs)})", marker="o" if length == 1 else None)
    names = {"acc": "accuracy (%)", "err": "error (%)"}
    return finish_line_plot(fig, ax, "epoch", ylabel or f"{split} {names.get(key, key)}", title)


def plot_value_histograms(values: dict, bins: int = 60, title: str | None = None,
                          mark=(0.0, 1.0)):
    """Histograms of tensors' values side by side (all of each tensor, flattened), with dashed
    lines at ``mark`` (default 0 and 1) to read ranges against: what a layer does to numbers."""
    if not values:
        raise ValueError("plot_value_histograms needs {label: tensor}")
    fig, axes = plt.subplots(1, len(values), figsize=(3.2 * len(values), 2.8), squeeze=False)
    for ax, (label, tensor) in zip(axes.flat, values.items()):
        data = torch.as_tensor(tensor).detach().float().flatten().cpu().numpy()
        ax.hist(data, bins=bins, color="tab:blue", alpha=0.8)
        for x in mark or ():
            ax.axvline(x, color="0.3", ls="--", lw=0.8)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("value")
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel("count")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_activations(functions: dict, x_range: tuple[float, float] = (-6.0, 6.0),
                     points: int = 401, ylim: tuple[float, float] | None = None):
    """Each activation function (left) and its derivative (right), by autograd.

    ``functions`` maps a label to an elementwise torch function, e.g. ``{"ReLU": torch.relu}``.
    The right panel is the point: where a derivative is near zero, so is the gradient that
    flows back through that neuron, and its weights barely learn. ``ylim`` crops the left
    panel, so that an unbounded function (ReLU) does not flatten the bounded ones.
    """
    if not functions or not all(callable(f) for f in functions.values()):
        raise ValueError("functions must be a non-empty dict of label -> elementwise torch "
                         "function, e.g. {'ReLU': torch.relu}")
    low, high = x_range
    if not low < high:
        raise ValueError(f"x_range must be (low, high) with low < high, got {x_range!r}")
    x = torch.linspace(low, high, points, requires_grad=True)
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(7, 2.8))
    for label, f in functions.items():
        y = f(x)
        if y.shape != x.shape:
            raise ValueError(f"{label!r} changed the shape {tuple(x.shape)} -> "
                             f"{tuple(y.shape)}; activations act elementwise")
        (slope,) = torch.autograd.grad(y.sum(), x)  # sum: each y_i depends on x_i alone
        ax_f.plot(x.detach().numpy(), y.detach().numpy(), label=label)
        ax_d.plot(x.detach().numpy(), slope.numpy(), label=label)
    for ax, title in ((ax_f, "activation φ(z)"), (ax_d, "derivative φ′(z)")):
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_xlabel("z")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    if ylim is not None:
        ax_f.set_ylim(*ylim)
    ax_f.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_loss_curves(curves: dict, xlabel: str = "step", ylabel: str = "loss", log: bool = False,
                     title: str | None = None):
    """One line per run, ``{label: values}``: losses per step, where ``plot_history`` is per epoch.

    ``log=True`` puts the y axis on a log scale, where "falls to about zero" and "stalls at
    0.6" look as different as they are.
    """
    if not curves:
        raise ValueError("nothing to plot: curves is empty")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for label, values in curves.items():
        ax.plot(range(len(values)), values, label=label)
    if log:
        ax.set_yscale("log")
    return finish_line_plot(fig, ax, xlabel, ylabel, title)


def plot_lr_range_test(lrs, losses, suggestion: float | None = None, beta: float = 0.9,
                       steepest: float | None = None, lowest: float | None = None,
                       others: dict | None = None, label: str = ""):
    """A learning-rate range test: the loss of each batch (faint) and its moving average (line)
    against the rate, on a log axis; vertical lines mark ``suggestion``, ``steepest`` and
    ``lowest`` if given. ``others`` maps a label to more ``(lrs, losses)`` of the same test
    (other seeds), drawn as moving averages in their own colours, so that the spread shows;
    ``label`` names the main test in the legend (e.g. "seed 0")."""
    if len(lrs) != len(losses) or not lrs:
        raise ValueError(f"need equally long, non-empty lists, got {len(lrs)} rates and "
                         f"{len(losses)} losses")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    own = f", {label}" if label else ""
    ax.plot(lrs, losses, color="0.75", lw=0.8, label=f"loss of each batch{own}")
    ax.plot(lrs, smooth(losses, beta), color="tab:blue", lw=1.8, label=f"moving average{own}")
    colors = ("tab:orange", "tab:purple", "tab:brown", "tab:pink")
    for i, (name, (other_lrs, other_losses)) in enumerate((others or {}).items()):
        ax.plot(other_lrs, smooth(other_losses, beta), color=colors[i % len(colors)], lw=1,
                label=f"moving average, {name}")
    for rate, color, style, name in ((steepest, "tab:green", ":", "steepest fall"),
                                     (suggestion, "tab:red", "--", "suggested rate"),
                                     (lowest, "0.3", "-.", "lowest loss")):
        if rate is not None:
            ax.axvline(rate, color=color, ls=style, lw=1.2, label=f"{name} {rate:.2g}{own}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    finite = [v for v in losses if math.isfinite(v)]
    if finite:  # the last, diverging batch would flatten the rest of the curve
        ax.set_ylim(min(finite) * 0.9, min(max(finite), 1.15 * finite[0]) * 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_class_counts(counts: dict, title: str | None = None):
    """Images per class as bars, numbers on top: imbalance at a glance.

    ``counts`` is ``{class: n}`` or, to compare splits side by side, ``{split: {class: n}}``.
    """
    if counts and not isinstance(next(iter(counts.values())), dict):
        counts = {"": counts}
    classes = list(dict.fromkeys(c for split in counts.values() for c in split))
    if not classes:
        raise ValueError("no classes to plot: counts is empty")
    width = 0.8 / len(counts)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(classes) + 1.5), 3.0))
    for i, (split, split_counts) in enumerate(counts.items()):
        x = np.arange(len(classes)) + (i - (len(counts) - 1) / 2) * width
        values = [split_counts.get(c, 0) for c in classes]
        bars = ax.bar(x, values, width, label=split or None)
        ax.bar_label(bars, [f"{v:,}" for v in values], fontsize=7, padding=1)
    ax.set_xticks(range(len(classes)), classes, fontsize=8)
    ax.set_ylabel("images")
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    if len(counts) > 1:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_receptive_fields(tables: dict, title: str | None = None):
    """Receptive field against depth, one line per stack of layers.

    ``tables`` maps a label to the rows of :func:`cnnlib.arithmetic.receptive_field`; the last
    value of each line is written at its end.
    """
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for label, rows in tables.items():
        depth = list(range(len(rows) + 1))
        fields = [1] + [row["r"] for row in rows]
        ax.plot(depth, fields, "o-", label=label, markersize=4)
        ax.annotate(str(fields[-1]), (depth[-1], fields[-1]), textcoords="offset points",
                    xytext=(5, 0), va="center", fontsize=8)
    return finish_line_plot(fig, ax, "layers from the input", "receptive field (pixels)", title)


def plot_schedule(trace: dict, steps_per_epoch: int, title: str | None = None):
    """Learning rate and momentum per step (from ``optim.schedule_trace``), against epochs."""
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) \
            or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be a positive int (the loader's len), got "
                         f"{steps_per_epoch!r}")
    lengths = {key: len(trace[key]) if isinstance(trace, dict) and key in trace else None
               for key in ("lr", "momentum")}
    if None in lengths.values() or len(set(lengths.values())) != 1 or not lengths["lr"]:
        raise ValueError(f"plot_schedule needs a trace from optim.schedule_trace: lists 'lr' "
                         f"and 'momentum' of one length, got lengths {lengths}")
    epochs = np.arange(len(trace["lr"])) / steps_per_epoch
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.0))
    for ax, key, label in ((axes[0], "lr", "learning rate"), (axes[1], "momentum", "momentum")):
        ax.plot(epochs, trace[key])
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_percentiles(panels: dict, steps_per_epoch: int, title: str | None = None):
    """A layer's input percentiles over training (``shift.InputPercentiles``), one panel per
    network: each percentile a colour, the first run of a panel drawn thick, the others thin."""
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) \
            or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be a positive int (the loader's len), got "
                         f"{steps_per_epoch!r}")
    if not isinstance(panels, dict) or not panels or not all(
            isinstance(runs, (list, tuple)) and runs
            and all(hasattr(t, "series") and hasattr(t, "steps") for t in runs)
            for runs in panels.values()):
        raise ValueError("panels maps a panel's title to a non-empty list of InputPercentiles "
                         "(one per run)")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for name, runs in panels.items():
        if any(tuple(t.q) != tuple(runs[0].q) for t in runs):
            raise ValueError(f"the runs of panel {name!r} follow different percentiles "
                             f"({sorted({tuple(t.q) for t in runs})}), and a colour stands "
                             f"for one level: give a panel's runs the same q")
        if len(runs[0].q) > len(colors):
            raise ValueError(f"panel {name!r} has {len(runs[0].q)} percentiles, more than the "
                             f"{len(colors)} colours of the style: follow at most "
                             f"{len(colors)} levels")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels) + 0.4, 3.2),
                             sharey=True, squeeze=False)
    for ax, (name, runs) in zip(axes[0], panels.items()):
        for n, trace in enumerate(runs):
            epochs = np.array(trace.steps) / steps_per_epoch
            for (level, values), color in zip(trace.series().items(), colors):
                ax.plot(epochs, values, color=color, lw=1.8 if n == 0 else 0.6,
                        alpha=1.0 if n == 0 else 0.6,
                        label=f"{100 * level:g}th percentile" if n == 0 else None)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("the layer's input")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
