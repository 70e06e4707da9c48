"""How a convolution and a normalisation act on their input: sliding windows and LRN."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..arithmetic import conv_output_size


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
