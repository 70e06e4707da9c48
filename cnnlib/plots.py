"""The book's figures: image grids, kernels, feature maps, training curves, confusion matrices.

Each function draws into a new figure and returns it, so a notebook cell shows it once and a
test can inspect it. Images are given as tensors; normalised ones are mapped back to 0..1.
"""

from __future__ import annotations

import math
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import FancyBboxPatch

from .arithmetic import conv_output_size
from .diagnose import smooth


def _to_image(x: torch.Tensor, mean=None, std=None) -> np.ndarray:
    """C x H x W (uint8, or float normalised with mean/std) -> H x W (x C) floats in 0..1."""
    x = x.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255
    elif mean is not None:
        x = x * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)
    x = x.clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def _grid(n: int, ncols: int, size: float = 1.3):
    if n < 1:
        raise ValueError("nothing to show: got 0 images")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat

def _finish_line_plot(fig, ax, xlabel: str, ylabel: str, title: str | None):
    """Labels, grid, legend and title: the common ending of the book's line plots."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_images(images, labels=None, classes=None, ncols: int = 8, mean=None, std=None,
                titles=None, size: float = 1.3):
    """A grid of images with their class names as titles."""
    n = len(images)
    fig, axes = _grid(n, ncols, size)
    for i, ax in zip(range(n), axes):
        img = _to_image(images[i], mean, std)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        elif labels is not None:
            label = int(labels[i])
            ax.set_title(classes[label] if classes else str(label), fontsize=8)
    fig.tight_layout()
    return fig


def show_kernels(weight: torch.Tensor, ncols: int = 8, title: str | None = None,
                 size: float = 1.0):
    """First-layer kernels (out x in x k x k): RGB when in = 3, else the first input channel.

    Each kernel is scaled to its own min..max so its pattern is visible; grey is zero only
    approximately, so read shapes, not absolute values.
    """
    w = weight.detach().cpu().float()
    fig, axes = _grid(len(w), ncols, size)
    for kernel, ax in zip(w, axes):
        k = kernel if kernel.shape[0] == 3 else kernel[:1]
        k = (k - k.min()) / (k.max() - k.min() + 1e-12)
        img = k[0].numpy() if k.shape[0] == 1 else k.permute(1, 2, 0).numpy()
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def feature_maps(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output of ``layer`` when ``model`` sees the batch ``x`` (captured with a hook)."""
    captured = {}
    handle = layer.register_forward_hook(lambda m, i, o: captured.setdefault("out", o.detach()))
    try:
        model.eval()
        model(x)
    finally:
        handle.remove()
    return captured["out"]


def show_feature_maps(maps: torch.Tensor, ncols: int = 8, title: str | None = None,
                      size: float = 1.1, cmap: str = "viridis"):
    """Channels of one feature map (C x H x W), each on its own colour scale."""
    maps = maps.detach().cpu().float()
    fig, axes = _grid(len(maps), ncols, size)
    for i, (m, ax) in enumerate(zip(maps, axes)):
        ax.imshow(m.numpy(), cmap=cmap)
        ax.set_title(str(i), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _curve(h, split: str, key: str):
    """One split's curve in percent for "acc" and "err" (error = 1 - accuracy), else as stored."""
    if key == "err":
        return [100 * (1 - v) for v in h[f"{split}_acc"]]
    values = h[f"{split}_{key}"]
    return [100 * v for v in values] if key == "acc" else values


def plot_history(histories, keys=("loss", "acc"), title: str | None = None,
                 splits=("train", "test")):
    """Training curves. ``histories`` is one History or a ``{label: History}`` dict to compare.

    ``keys`` are "loss", "acc" or "err" (the error rate, 100 - accuracy, as the AlexNet paper
    plots it); ``splits`` picks "train" (dashed) and/or "test" (solid) curves.
    """
    if not isinstance(histories, dict):
        histories = {"": histories}
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
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
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


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts: row = true class, column = predicted class."""
    index = labels.long() * num_classes + preds.long()
    return torch.bincount(index, minlength=num_classes ** 2).view(num_classes, num_classes)


def most_confused(preds, labels, classes, n: int = 5) -> list[dict]:
    """The ``n`` largest off-diagonal cells of the confusion matrix, largest first: which true
    class was taken for which, how often, and what share of that class's test images it is."""
    cm = confusion_matrix(preds, labels, len(classes))
    per_class = cm.sum(1)
    off = cm.clone()
    off.fill_diagonal_(0)
    counts, flat = off.flatten().sort(descending=True, stable=True)
    rows = []
    for count, index in zip(counts[:n].tolist(), flat[:n].tolist()):
        if count == 0:
            break
        true, pred = divmod(index, len(classes))
        rows.append({"true": classes[true], "predicted": classes[pred], "images": count,
                     "of the class": f"{count / per_class[true].item():.1%}"})
    return rows


def plot_confusion_matrix(preds, labels, classes, title: str | None = None):
    """The confusion matrix with counts in the cells; the diagonal is what went right."""
    cm = confusion_matrix(preds, labels, len(classes)).numpy()
    size = 0.45 * len(classes) + 2
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title or f"accuracy {100 * np.trace(cm) / cm.sum():.2f}% on {cm.sum()} images")
    fig.tight_layout()
    return fig


def show_misclassified(images, preds, labels, classes, n: int = 16, ncols: int = 8,
                       mean=None, std=None, size: float = 1.4):
    """The first ``n`` mistakes, titled 'true -> predicted'."""
    wrong = (preds != labels).nonzero().flatten()[:n]
    if len(wrong) == 0:  # a perfect score is a result too, not an error
        fig, ax = plt.subplots(figsize=(4, 0.8))
        ax.axis("off")
        ax.text(0.5, 0.5, f"no misclassified images among {len(labels)}", ha="center", va="center")
        return fig
    titles = [f"{classes[labels[i]]}\n→ {classes[preds[i]]}" for i in wrong]
    return show_images(images[wrong], titles=titles, ncols=ncols, mean=mean, std=std, size=size)


def plot_conv_sliding(n: int, k: int, s: int = 1, p: int = 0, positions=None,
                      cell: float = 0.4):
    """A k x k kernel sliding over an n x n input with stride s and p zeros per side.

    Left, the padded input (padding grey, marked 0) with the window drawn at a few output
    positions; right, the output grid with the same positions filled in the same colours. Input
    pixels that no window ever covers (a stride that does not divide) are hatched red: the floor
    in the output-size formula drops them. ``positions`` are (row, col) output indices; the
    default shows the first two windows of the top row and the last window.
    """
    out = conv_output_size(n, k, s, p)
    m = n + 2 * p
    if positions is None:
        positions = list(dict.fromkeys([(0, 0), (0, min(1, out - 1)), (out - 1, out - 1)]))
    for i, j in positions:
        if not (0 <= i < out and 0 <= j < out):
            raise ValueError(f"position {(i, j)} is outside the {out} x {out} output")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    covered = (out - 1) * s + k  # padded rows/cols some window touches; the rest are dropped
    fig, (ax_in, ax_out) = plt.subplots(
        1, 2, figsize=(cell * (m + out) + 1.6, cell * m + 1.0),
        gridspec_kw={"width_ratios": [m, max(out, 1)], "wspace": 0.35})
    for r in range(m):
        for c in range(m):
            pad = not (p <= r < p + n and p <= c < p + n)
            dropped = r >= covered or c >= covered
            ax_in.add_patch(plt.Rectangle((c, r), 1, 1, facecolor="0.85" if pad else "white",
                                          edgecolor="0.55", lw=0.6))
            if dropped:
                ax_in.add_patch(plt.Rectangle((c, r), 1, 1, fill=False, hatch="///",
                                              edgecolor="tab:red", lw=0))
            if pad:
                ax_in.text(c + 0.5, r + 0.5, "0", ha="center", va="center", fontsize=7,
                           color="0.4")
    ax_in.add_patch(plt.Rectangle((p, p), n, n, fill=False, edgecolor="black", lw=1.4))
    for t, (i, j) in enumerate(positions):
        color, inset = colors[t % len(colors)], 0.06 + 0.08 * t
        ax_in.add_patch(plt.Rectangle((j * s + inset, i * s + inset), k - 2 * inset,
                                      k - 2 * inset, fill=False, edgecolor=color, lw=2.2))
        ax_out.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=color, alpha=0.55))
    for r in range(out):
        for c in range(out):
            ax_out.add_patch(plt.Rectangle((c, r), 1, 1, fill=False, edgecolor="0.3", lw=0.8))
    for ax, size in ((ax_in, m), (ax_out, out)):
        ax.set_xlim(-0.1, size + 0.1)
        ax.set_ylim(size + 0.1, -0.1)
        ax.set_aspect("equal")
        ax.axis("off")
    pad_text = f", {p} zero{'s' if p != 1 else ''} per side" if p else ""
    ax_in.set_title(f"input {n}×{n}{pad_text}", fontsize=9)
    ax_out.set_title(f"output {out}×{out}", fontsize=9)
    if covered < m:
        ax_in.text(0, m + 0.3, "hatched: never covered by a window, dropped by the floor",
                   va="top", fontsize=8, color="tab:red", clip_on=False)
    fig.suptitle(f"kernel {k}×{k}, stride {s}, padding {p}: "
                 f"⌊({n} + 2·{p} − {k})/{s}⌋ + 1 = {out}", fontsize=9)
    return fig


def show_kernel_responses(image: torch.Tensor, kernels: dict, responses: dict,
                          ncols: int = 3, size: float = 2.6):
    """The input, then each kernel (small, above) with what it makes of ``image`` (below).

    Panels run in rows of ``ncols``. Kernels up to 3 x 3 are printed with their values, a
    larger kernel whose values are all equal with that one value; sizes are written under
    the images. The response of a kernel that sums to zero (an edge detector: flat regions
    give 0) is shown on a grey scale centred at zero, mid-grey = 0, light = positive, dark =
    negative, so it shows which way an edge goes. Other responses (blur, sharpen) are shown
    as images. Both scales clip the extreme 1% so that a few strong pixels do not wash out
    the rest.
    """
    def fraction(v: float) -> str:
        return str(Fraction(float(v)).limit_denominator(256))

    names = list(kernels)
    missing = [name for name in names if name not in responses]
    if missing:
        raise KeyError(f"no response for kernel(s) {missing}; responses has {list(responses)}")
    panels = 1 + len(names)
    ncols = min(ncols, panels)
    nrows = math.ceil(panels / ncols)
    fig = plt.figure(figsize=(size * ncols, size * 1.45 * nrows))
    outer = fig.add_gridspec(nrows, ncols, hspace=0.22, wspace=0.06)
    cells = [outer[i].subgridspec(2, 1, height_ratios=[1, 2.6], hspace=0.1)
             for i in range(panels)]  # per panel: kernel on top, image below

    def show(ax, img, label, **kwargs):
        ax.imshow(img, **kwargs)
        ax.text(0.5, -0.02, label, fontsize=8, ha="center", va="top", transform=ax.transAxes)
        ax.axis("off")

    image = image.detach().cpu().float().squeeze().numpy()
    show(fig.add_subplot(cells[0][1]), image, f"input, {image.shape[0]}×{image.shape[1]}",
         cmap="gray")
    for index, name in enumerate(names, start=1):
        kernel = kernels[name].detach().cpu().float().numpy()
        ax_k = fig.add_subplot(cells[index][0])
        limit = float(np.abs(kernel).max()) or 1.0
        ax_k.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        if kernel.shape[-1] <= 3:
            for (r, c), v in np.ndenumerate(kernel):
                ax_k.text(c, r, fraction(v), ha="center", va="center", fontsize=8,
                          color="white" if abs(v) > 0.6 * limit else "black")
        elif np.all(kernel == kernel.flat[0]):
            ax_k.text((kernel.shape[1] - 1) / 2, (kernel.shape[0] - 1) / 2,
                      f"{fraction(kernel.flat[0])} each", ha="center", va="center",
                      fontsize=8, color="white")
        ax_k.set_title(name, fontsize=9)
        ax_k.axis("off")
        response = responses[name].detach().cpu().float().squeeze().numpy()
        size_text = f"{response.shape[0]}×{response.shape[1]}"
        if abs(kernel.sum()) < 1e-6 * np.abs(kernel).sum():
            limit = float(np.percentile(np.abs(response), 99)) or 1.0
            low, high = -limit, limit
        else:
            low, high = (float(v) for v in np.percentile(response, [0.5, 99.5]))
        show(fig.add_subplot(cells[index][1]), response, size_text, cmap="gray",
             vmin=low, vmax=high)
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
    return _finish_line_plot(fig, ax, "layers from the input", "receptive field (pixels)", title)


@torch.no_grad()
def plot_lrn_effect(activations: torch.Tensor, lrn: torch.nn.Module, title: str | None = None):
    """What local response normalisation does to real activations (N x C x H x W, after ReLU).

    Left: the distribution of the positive activations before and after ``lrn``. Right: the
    divisor ``(k + alpha * sum a_j^2) ** beta`` each one met, read back as ``before / after``;
    the dashed line is ``k ** beta``, the divisor of a unit whose neighbours are all silent.
    Divisors far right of it are where lateral inhibition actually happens.
    """
    a = activations.detach().float().cpu()
    b = lrn(a)
    positive = a > 0
    if not positive.any():
        raise ValueError("no positive activations to show: pass the output of a ReLU")
    before, after = a[positive].numpy(), b[positive].numpy()
    divisor = before / after
    fig, (ax_h, ax_d) = plt.subplots(1, 2, figsize=(9, 3.2))
    bins = np.linspace(0, before.max(), 60)
    ax_h.hist(before, bins=bins, alpha=0.6, label="before LRN")
    ax_h.hist(after, bins=bins, alpha=0.6, label="after LRN")
    ax_h.set_yscale("log")
    ax_h.set_xlabel("activation")
    ax_h.set_ylabel("count")
    ax_h.legend(fontsize=8)
    ax_d.hist(divisor, bins=60, color="tab:green")
    ax_d.axvline(lrn.k ** lrn.beta, color="0.3", ls="--", lw=1,
                 label=f"k^β = {lrn.k ** lrn.beta:.3f}")
    ax_d.set_yscale("log")
    ax_d.set_xlabel("divisor (k + α Σ a²)^β")
    ax_d.legend(fontsize=8)
    for ax in (ax_h, ax_d):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
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
    return _finish_line_plot(fig, ax, xlabel, ylabel, title)


def plot_lr_range_test(lrs, losses, suggestion: float | None = None, beta: float = 0.9):
    """A learning-rate range test: the loss of each batch (faint) and its moving average (line)
    against the rate, on a log axis; a dashed line marks ``suggestion`` if given."""
    if len(lrs) != len(losses) or not lrs:
        raise ValueError(f"need equally long, non-empty lists, got {len(lrs)} rates and "
                         f"{len(losses)} losses")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(lrs, losses, color="0.7", lw=0.8, label="loss of each batch")
    ax.plot(lrs, smooth(losses, beta), color="tab:blue", label="moving average")
    if suggestion is not None:
        ax.axvline(suggestion, color="tab:red", ls="--", lw=1,
                   label=f"suggested rate {suggestion:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    finite = [v for v in losses if math.isfinite(v)]
    if finite:  # the last, diverging batch would flatten the rest of the curve
        ax.set_ylim(min(finite) * 0.9, min(max(finite), 1.5 * finite[0]) * 1.05)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
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


def show_prediction(image, probabilities: dict, title: str | None = None, size: float = 2.4):
    """An image titled with its top class and probability ("cat 93.2 %"), and every class's
    probability as a bar beside it. ``image`` is a PIL image or a C x H x W tensor."""
    if not probabilities:
        raise ValueError("probabilities is empty: expected {class name: probability}")
    if isinstance(image, torch.Tensor):
        image = _to_image(image)
    best = max(probabilities, key=probabilities.get)
    fig, (ax_image, ax_bars) = plt.subplots(
        1, 2, figsize=(2.3 * size, size), gridspec_kw={"width_ratios": [1, 1.2]})
    ax_image.imshow(image)
    ax_image.axis("off")
    ax_image.set_title(title or f"{best} {100 * probabilities[best]:.1f} %", fontsize=10)
    names = list(probabilities)
    values = [100 * probabilities[n] for n in names]
    colors = ["tab:blue" if n == best else "0.7" for n in names]
    ax_bars.barh(range(len(names)), values, color=colors)
    ax_bars.set_yticks(range(len(names)), names, fontsize=8)
    ax_bars.invert_yaxis()
    ax_bars.set_xlim(0, 100)
    ax_bars.set_xlabel("probability (%)", fontsize=8)
    ax_bars.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig


# The three blocks of the ResNet chapter, as the paper draws them (its Figures 2 and 5): data
# flows down, the shortcut runs beside the layers and meets them at the addition.
BLOCKS = {
    "plain": (["3×3 conv, 64", "BN, ReLU", "3×3 conv, 64", "BN"], None),
    "basic": (["3×3 conv, 64", "BN, ReLU", "3×3 conv, 64", "BN"], "identity"),
    "bottleneck": (["1×1 conv, 64", "BN, ReLU", "3×3 conv, 64", "BN, ReLU", "1×1 conv, 256",
                    "BN"], "identity"),
}


def draw_blocks(kinds=("plain", "basic", "bottleneck"), titles=None):
    """Block diagrams side by side: layers as boxes, the shortcut as a line, + for the sum.

    ``kinds`` come from :data:`BLOCKS`: "plain" (two convolutions, no shortcut), "basic"
    (ResNet-18/34) and "bottleneck" (ResNet-50 and deeper, on 256 channels).
    """
    unknown = [k for k in kinds if k not in BLOCKS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be among {sorted(BLOCKS)}, got {list(kinds)}")
    titles = titles or {"plain": "plain block", "basic": "basic block (ResNet-18/34)",
                        "bottleneck": "bottleneck (ResNet-50+)"}
    rows = max(len(BLOCKS[k][0]) for k in kinds) + 3  # boxes, the sum, the ReLU, the output
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.3 * len(kinds), 0.62 * rows + 0.9),
                             squeeze=False)
    arrow = dict(arrowstyle="->", color="0.2", lw=1.1)

    def box(ax, y, label):
        conv = "conv" in label
        ax.add_patch(FancyBboxPatch((-0.9, y - 0.27), 1.8, 0.54, boxstyle="round,pad=0.02",
                                    fc="#dbe9f6" if conv else "#f2f2f2", ec="0.3"))
        ax.text(0, y, label, ha="center", va="center", fontsize=8.5)

    for ax, kind in zip(axes.flat, kinds):
        boxes, shortcut = BLOCKS[kind]
        ys = [-(i + 1.0) for i in range(len(boxes))]
        add_y = ys[-1] - 1.0
        relu_y = add_y - (1.0 if shortcut else 0.0)
        ax.text(0, 0.05, "x", ha="center", va="bottom", fontsize=10)
        ax.annotate("", xy=(0, ys[0] + 0.27), xytext=(0, 0), arrowprops=arrow)
        for i, (y, label) in enumerate(zip(ys, boxes)):
            box(ax, y, label)
            nxt = ys[i + 1] + 0.27 if i + 1 < len(boxes) else (add_y + 0.2 if shortcut
                                                                  else relu_y + 0.27)
            ax.annotate("", xy=(0, nxt), xytext=(0, y - 0.27), arrowprops=arrow)
        if shortcut:
            ax.plot([0], [add_y], marker="o", ms=15, mfc="white", mec="0.2", ls="none")
            ax.text(0, add_y, "+", ha="center", va="center", fontsize=12)
            ax.plot([0, 1.45, 1.45], [-0.35, -0.35, add_y], color="tab:red", lw=1.4)
            ax.annotate("", xy=(0.2, add_y), xytext=(1.45, add_y),
                        arrowprops=dict(arrowstyle="->", color="tab:red", lw=1.4))
            ax.text(1.55, (add_y - 0.35) / 2, shortcut, rotation=90, ha="left", va="center",
                    fontsize=8.5, color="tab:red")
            ax.annotate("", xy=(0, relu_y + 0.27), xytext=(0, add_y - 0.2), arrowprops=arrow)
        box(ax, relu_y, "ReLU")
        ax.annotate("", xy=(0, relu_y - 0.85), xytext=(0, relu_y - 0.27), arrowprops=arrow)
        ax.text(0, relu_y - 0.9, "ReLU(F(x) + x)" if shortcut else "ReLU(F(x))", ha="center",
                va="top", fontsize=10)
        ax.set_xlim(-1.6, 2.2)
        ax.set_ylim(-rows - 0.6, 0.5)
        ax.axis("off")
        ax.set_title(titles.get(kind, kind), fontsize=10)
    fig.tight_layout()
    return fig


def plot_time_to_accuracy(results, labels=None, target: float | None = None,
                          seconds: float | None = None, title: str | None = None,
                          min_accuracy: float = 80.0):
    """Test accuracy against wall time since the first training step, one line per recorded
    recipe run (``cnnlib.recipes``), with the target accuracy and time budget as dashed lines:
    a run meets the goal where its line enters the upper-left corner. The axis starts at
    ``min_accuracy`` percent, where the runs are told apart. ``labels`` name the runs in the
    legend, one per run (``cnnlib.recipes.run_label`` names what each changed); by default
    "run 1", "run 2"..."""
    labels = [f"run {i}" for i in range(1, len(results) + 1)] if labels is None else labels
    if len(labels) != len(results):
        raise ValueError(f"one label per run: got {len(labels)} labels for {len(results)} runs")
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    for r, label in zip(results, labels):
        elapsed = np.cumsum([row["seconds"] + row.get("test_seconds", 0) for row in r["history"]])
        acc = [100 * row["test_acc"] for row in r["history"]]
        ax.plot(elapsed, acc, marker=".", markersize=3, linewidth=1, label=label)
    if target is not None:
        ax.axhline(100 * target, color="0.3", linestyle="--", linewidth=0.8)
    if seconds is not None:
        ax.axvline(seconds, color="0.3", linestyle="--", linewidth=0.8)
    top = max(100 * row["test_acc"] for r in results for row in r["history"])
    ax.set_ylim(min_accuracy, max(top, 100 * (target or 0)) + 0.5)
    ax.set_xlabel("seconds since the first training step")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
              frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
