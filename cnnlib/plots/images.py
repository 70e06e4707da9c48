"""Pictures of data and of what a network computes: image grids, kernels, feature maps,
mistakes, a single prediction."""

from __future__ import annotations

import math
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
import torch

from ._style import grid, to_image


def show_images(images, labels=None, classes=None, ncols: int = 8, mean=None, std=None,
                titles=None, size: float = 1.3):
    """A grid of images with their class names as titles.

    ``images``: C × H × W tensors (a batch, or a list of different sizes), uint8 or float;
    ``labels`` and ``titles``: one per image.
    """
    _check_images(images, labels, classes, titles)
    n = len(images)
    fig, axes = grid(n, ncols, size)
    for i, ax in zip(range(n), axes):
        img = to_image(images[i], mean, std)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        elif labels is not None:
            label = int(labels[i])
            ax.set_title(classes[label] if classes else str(label), fontsize=8)
    fig.tight_layout()
    return fig


def _check_images(images, labels=None, classes=None, titles=None) -> None:
    """Refuse, before drawing, what would fail half-way: arrays, wrong layouts, short lists."""
    if isinstance(images, np.ndarray) or (isinstance(images, (list, tuple)) and images
                                          and isinstance(images[0], np.ndarray)):
        raise TypeError("images must be torch tensors, C × H × W each, got NumPy arrays: use "
                        "torch.from_numpy(images), and .permute(0, 3, 1, 2) if they are "
                        "N × H × W × C")
    for i, image in enumerate(images):
        if not isinstance(image, torch.Tensor):
            raise TypeError(f"images must be torch tensors, C × H × W each; image {i} is a "
                            f"{type(image).__name__}")
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            shape = "×".join(map(str, image.shape))
            hint = (": H × W × C? use .permute(2, 0, 1)" if image.ndim == 3
                    and image.shape[-1] in (1, 3) else ": one channel without its axis? use "
                    ".unsqueeze(0)" if image.ndim == 2 else "")
            raise ValueError(f"each image must be C × H × W with 1 or 3 channels; image {i} is "
                             f"{shape}{hint}")
    for name, values in (("labels", labels), ("titles", titles)):
        if values is not None and len(values) != len(images):
            raise ValueError(f"{name} needs one per image: {len(images)} images, {len(values)} "
                             f"{name}")
    if labels is not None and classes:
        outside = [int(y) for y in labels if not 0 <= int(y) < len(classes)]
        if outside:
            raise ValueError(f"labels must be indices into classes (0 to {len(classes) - 1}), got "
                             f"{outside[0]}")


def show_kernels(weight: torch.Tensor, ncols: int = 8, title: str | None = None,
                 size: float = 1.0, titles=None):
    """First-layer kernels (out x in x k x k): RGB when in = 3, else the first input channel.

    Each kernel is scaled to its own min..max so its pattern is visible; grey is zero only
    approximately, so read shapes, not absolute values. ``titles``: one per kernel.
    """
    if isinstance(weight, torch.nn.Module) and isinstance(getattr(weight, "weight", None),
                                                          torch.Tensor):
        weight = weight.weight  # the layer itself: its kernels
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"show_kernels needs a convolution's weight, out × in × k × k (4-D), got "
                         f"{shape}: pass conv.weight, e.g. model.features[0].weight")
    w = weight.detach().cpu().float()
    if titles is not None and len(titles) != len(w):
        raise ValueError(f"titles needs one title per kernel: {len(w)} kernels, "
                         f"{len(titles)} titles")
    fig, axes = grid(len(w), ncols, size)
    for i, (kernel, ax) in enumerate(zip(w, axes)):
        k = kernel if kernel.shape[0] == 3 else kernel[:1]
        k = (k - k.min()) / (k.max() - k.min() + 1e-12)
        img = k[0].numpy() if k.shape[0] == 1 else k.permute(1, 2, 0).numpy()
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def feature_maps(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output of ``layer`` when ``model`` sees the batch ``x`` (captured with a hook)."""
    if not any(module is layer for module in model.modules()):
        raise ValueError(f"layer {layer} is not a module of this {type(model).__name__}: pass one "
                         "of the model's own layers (e.g. model.features[0]), not a new one")
    captured = {}
    handle = layer.register_forward_hook(lambda m, i, o: captured.setdefault("out", o.detach()))
    try:
        model.eval()
        model(x)
    finally:
        handle.remove()
    if "out" not in captured:
        raise ValueError(f"layer {layer} did not run in the model's forward, so it has no "
                         "feature maps: pick a layer that forward uses")
    return captured["out"]


def show_feature_maps(maps: torch.Tensor, ncols: int = 8, title: str | None = None,
                      size: float = 1.1, cmap: str = "viridis"):
    """Channels of one feature map (C x H x W), each on its own colour scale."""
    maps = maps.detach().cpu().float()
    fig, axes = grid(len(maps), ncols, size)
    for i, (m, ax) in enumerate(zip(maps, axes)):
        ax.imshow(m.numpy(), cmap=cmap)
        ax.set_title(str(i), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
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


def show_prediction(image, probabilities: dict, title: str | None = None, size: float = 2.4):
    """An image titled with its top class and probability ("cat 93.2 %"), and every class's
    probability as a bar beside it. ``image`` is a PIL image or a C x H x W tensor."""
    if not probabilities:
        raise ValueError("probabilities is empty: expected {class name: probability}")
    if isinstance(image, torch.Tensor):
        image = to_image(image)
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
