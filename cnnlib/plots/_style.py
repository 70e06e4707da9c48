"""What every figure module shares: a tensor as an image, a grid of axes, a finished line plot."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch


def to_image(x: torch.Tensor, mean=None, std=None) -> np.ndarray:
    """C x H x W (uint8, or float normalised with mean/std) -> H x W (x C) floats in 0..1."""
    x = x.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255
    elif mean is not None:
        x = x * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)
    x = x.clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def grid(n: int, ncols: int, size: float = 1.3):
    if n < 1:
        raise ValueError("nothing to show: got 0 images")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat


def finish_line_plot(fig, ax, xlabel: str, ylabel: str, title: str | None):
    """Labels, grid, legend and title: the common ending of the book's line plots."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
