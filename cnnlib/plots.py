"""The book's figures: image grids, kernels, feature maps, training curves, confusion matrices.

Each function draws into a new figure and returns it, so a notebook cell shows it once and a
test can inspect it. Images are given as tensors; normalised ones are mapped back to 0..1.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch


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
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat


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


def plot_history(histories, keys=("loss", "acc"), title: str | None = None):
    """Training curves. ``histories`` is one History or a ``{label: History}`` dict to compare."""
    if not isinstance(histories, dict):
        histories = {"": histories}
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes.flat, keys):
        for i, (label, h) in enumerate(histories.items()):
            color = colors[i % len(colors)]
            epochs = h["epoch"]
            prefix = f"{label} " if label else ""
            values = [100 * v for v in h[f"train_{key}"]] if key == "acc" else h[f"train_{key}"]
            ax.plot(epochs, values, "--", color=color, label=f"{prefix}train")
            if h.rows and f"test_{key}" in h.rows[0]:
                values = [100 * v for v in h[f"test_{key}"]] if key == "acc" else h[f"test_{key}"]
                ax.plot(epochs, values, "-", color=color, label=f"{prefix}test")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)" if key == "acc" else key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts: row = true class, column = predicted class."""
    index = labels.long() * num_classes + preds.long()
    return torch.bincount(index, minlength=num_classes ** 2).view(num_classes, num_classes)


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
                       mean=None, std=None):
    """The first ``n`` mistakes, titled 'true -> predicted'."""
    wrong = (preds != labels).nonzero().flatten()[:n]
    titles = [f"{classes[labels[i]]}\n→ {classes[preds[i]]}" for i in wrong]
    return show_images(images[wrong], titles=titles, ncols=ncols, mean=mean, std=std, size=1.4)
