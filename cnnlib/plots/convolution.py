"""How a convolution and a normalisation act on their input: sliding windows (drawn, and
animated as self-contained HTML) and LRN."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.animation import FuncAnimation
from PIL import Image

from ..arithmetic import conv_output_size, pool_output_size


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


# ---------------------------------------------------------------------------------------------
# Animations: the window over every output position, as HTML that needs no network

# matplotlib's player buttons (Font Awesome icon names) as characters every font has
_BUTTONS = {"minus": "−", "fast-backward": "⇤", "step-backward": "‹", "pause": "‖",
            "play fa-flip-horizontal": "◂", "play": "▸", "step-forward": "›",
            "fast-forward": "⇥", "plus": "+"}


def _self_contained(html: str) -> str:
    """matplotlib's player without its one outside file: Font Awesome's icons become Unicode."""
    html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", html)
    return re.sub(r'<i class="fa fa-([a-z -]+)"></i>',
                  lambda m: _BUTTONS.get(m.group(1), m.group(1)), html).lstrip()


def _fewer_colours(match: re.Match, colours: int = 32) -> str:
    """One embedded frame as a 32-colour PNG: a grid of flat colours loses nothing visible, and
    the page shrinks about 3.5 times (matplotlib's own PNGs are full RGBA)."""
    data = base64.b64decode(match.group(1).replace("\\\n", ""))
    image = Image.open(io.BytesIO(data)).convert("RGB")
    small = io.BytesIO()
    image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT,
                   dither=Image.Dither.NONE).save(small, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(small.getvalue()).decode("ascii")


def _smaller_frames(html: str) -> str:
    return re.sub(r"data:image/png;base64,((?:[A-Za-z0-9+/=]|\\\n)+)", _fewer_colours, html)


class HtmlAnimation:
    """A matplotlib animation that a notebook shows as self-contained HTML.

    The last expression of a cell displays it (``_repr_html_``): matplotlib's JavaScript player
    with every frame embedded as a base64 PNG (32 colours), its buttons as plain characters, and
    nothing loaded from the network. The figure is closed at once, so the notebook does not also
    show its first frame as a still image. ``frames`` is the number of frames; ``to_html()``
    renders them once (with a FuncAnimation) and keeps the page; ``frame(t)`` draws one still.
    """

    def __init__(self, figure, draw, frames: int, description: str, interval: int, dpi: int):
        self.figure, self.frames, self.description = figure, frames, description
        self.interval, self.dpi, self._draw, self._html = interval, dpi, draw, None
        plt.close(figure)

    def frame(self, t: int):
        """The figure showing frame ``t`` (0-based): a still for print, or for a test."""
        if not 0 <= t < self.frames:
            raise ValueError(f"frame {t} is outside 0..{self.frames - 1}")
        self._draw(t)
        return self.figure

    def to_html(self) -> str:
        if self._html is None:
            with plt.rc_context({"savefig.dpi": self.dpi, "savefig.bbox": "standard",
                                 "animation.frame_format": "png"}):
                animation = FuncAnimation(self.figure, self._draw, frames=self.frames,
                                          interval=self.interval)
                html = animation.to_jshtml(default_mode="loop")
            self._html = _smaller_frames(_self_contained(html))
        return self._html

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"<animation of {self.description}: {self.frames} frames>"


@dataclass
class _Sliding:
    """One sliding-window operation on an n×n input, and where its window is at each frame."""

    kind: str                       # "conv", "max" or "avg"
    n: int
    k: int
    s: int
    p: int
    d: int
    out: int
    values: torch.Tensor | None = None    # pooling: the input; outputs come from PyTorch
    results: torch.Tensor | None = None

    @property
    def padded(self) -> int:
        return self.n + 2 * self.p

    @property
    def span(self) -> int:
        return self.d * (self.k - 1) + 1

    def position(self, t: int) -> tuple[int, int]:
        return divmod(t, self.out)

    def taps(self, t: int) -> list[tuple[int, int]]:
        """(row, col) in the padded input of each kernel weight at frame t."""
        i, j = self.position(t)
        return [(i * self.s + a * self.d, j * self.s + b * self.d)
                for a in range(self.k) for b in range(self.k)]

    def value(self, r: int, c: int) -> float | None:
        """The input at padded (r, c): None in the padding, 0 where no numbers are shown."""
        if not (self.p <= r < self.p + self.n and self.p <= c < self.p + self.n):
            return None
        return 0.0 if self.values is None else float(self.values[r - self.p, c - self.p])

    def result_text(self, i: int, j: int) -> str:
        v = float(self.results[i, j])
        return f"{v:.0f}" if self.kind == "max" else f"{v:.1f}"


def _draw_input(ax, op: _Sliding, t: int, color: str):
    m, taps = op.padded, op.taps(t)
    covered = (op.out - 1) * op.s + op.span  # padded rows/cols some window touches
    best = None  # max-pooling: the first largest value of the window (padding is -inf)
    if op.kind == "max":
        best = max((rc for rc in taps if op.value(*rc) is not None), key=lambda rc: op.value(*rc))
    for r in range(m):
        for c in range(m):
            value = op.value(r, c)
            ax.add_patch(plt.Rectangle((c, r), 1, 1, facecolor="0.85" if value is None
                                       else "white", edgecolor="0.55", lw=0.6))
            if (r, c) in taps:
                ax.add_patch(plt.Rectangle((c, r), 1, 1, facecolor=color, alpha=0.45, lw=0))
            if r >= covered or c >= covered:
                ax.add_patch(plt.Rectangle((c, r), 1, 1, fill=False, hatch="///",
                                           edgecolor="tab:red", lw=0))
            text = ("−∞" if op.kind == "max" else "0") if value is None else (
                "" if op.kind == "conv" else f"{value:.0f}")
            ax.text(c + 0.5, r + 0.5, text, ha="center", va="center", fontsize=9,
                    color="0.45" if value is None else "black",
                    weight="bold" if (r, c) == best else "normal")
    ax.add_patch(plt.Rectangle((op.p, op.p), op.n, op.n, fill=False, edgecolor="black", lw=1.4))
    i, j = op.position(t)
    ax.add_patch(plt.Rectangle((j * op.s, i * op.s), op.span, op.span, fill=False,
                               edgecolor=color, lw=2.2, ls="--" if op.d > 1 else "-"))


def _draw_output(ax, op: _Sliding, t: int, color: str):
    for step in range(op.out * op.out):
        i, j = op.position(step)
        face = color if step == t else "#c6dbef" if step < t else "white"
        ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=face, edgecolor="0.3", lw=0.8,
                                   alpha=0.8 if step == t else 1))
        if op.kind != "conv" and step <= t:
            ax.text(j + 0.5, i + 0.5, op.result_text(i, j), ha="center", va="center",
                    fontsize=9, weight="bold" if step == t else "normal")


def _frame_caption(op: _Sliding, t: int) -> str:
    i, j = op.position(t)
    (r0, c0), (r1, c1) = op.taps(t)[0], op.taps(t)[-1]
    rows = "padded rows" if op.p else "rows"
    where = f"output ({i}, {j}) ← {rows} {r0}–{r1}, columns {c0}–{c1}"
    if op.kind == "conv":
        return where + (f", taps {op.d} apart" if op.d > 1 else "")
    return where + f": {op.kind} = {op.result_text(i, j)}"


def _titles(op: _Sliding) -> str:
    what = {"conv": "convolution", "max": "max-pooling", "avg": "average pooling"}[op.kind]
    geometry = f"{what} {op.k}×{op.k}, stride {op.s}, padding {op.p}"
    geometry += f", dilation {op.d}" if op.kind == "conv" else ""
    formula = (f"⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1 = "
               f"⌊({op.n} + 2·{op.p} − {op.d}·({op.k} − 1) − 1)/{op.s}⌋ + 1 = {op.out}")
    return f"{geometry}\n{formula}"


def _animate(op: _Sliding, interval: int, dpi: int, cell: float) -> HtmlAnimation:
    """Both grids redrawn at every frame: one frame per output position, row by row."""
    m, out, color = op.padded, op.out, "tab:blue"
    left, gap, top, bottom = 0.35, 0.7, 0.95, 0.5
    width = max(left * 2 + (m + out) * cell + gap, 5.8)
    height = top + m * cell + bottom
    fig = plt.figure(figsize=(width, height), dpi=dpi)
    x0 = (width - (m + out) * cell - gap) / 2
    ax_in = fig.add_axes((x0 / width, bottom / height, m * cell / width, m * cell / height))
    ax_out = fig.add_axes(((x0 + m * cell + gap) / width, (bottom + (m - out) * cell) / height,
                           out * cell / width, out * cell / height))
    fig.suptitle(_titles(op), fontsize=10, y=1 - 0.08 / height, va="top")
    caption = fig.text(0.5, 0.15 / height, "", ha="center", va="bottom", fontsize=9)
    pad = f", padded by {op.p} per side" if op.p else ""

    def draw(t: int):
        for ax, size in ((ax_in, m), (ax_out, out)):
            ax.clear()
            ax.set_xlim(-0.05, size + 0.05)
            ax.set_ylim(size + 0.05, -0.05)
            ax.axis("off")
        _draw_input(ax_in, op, t, color)
        _draw_output(ax_out, op, t, color)
        ax_in.set_title(f"input {op.n}×{op.n}{pad}", fontsize=9)
        ax_out.set_title(f"output {out}×{out}", fontsize=9)
        caption.set_text(_frame_caption(op, t))
        return []

    description = _titles(op).split("\n")[0] + f" on {op.n}×{op.n}"
    return HtmlAnimation(fig, draw, out * out, description, interval, dpi)


def _check_frames(out: int, max_frames: int) -> None:
    if out * out > max_frames:
        raise ValueError(f"{out}×{out} outputs would be {out * out} frames (about "
                         f"{out * out * 8} KB of HTML); use a smaller input, or raise "
                         f"max_frames (now {max_frames})")


def animate_conv(n: int, k: int, s: int = 1, p: int = 0, d: int = 1, *, interval: int = 800,
                 dpi: int = 80, cell: float = 0.4, max_frames: int = 64) -> HtmlAnimation:
    """A k×k convolution window sliding over an n×n input: one frame per output position.

    Left, the padded input (padding grey, marked 0; pixels no window reaches hatched red, the
    ones the floor drops) with the kernel's taps filled: with dilation ``d`` they are ``d``
    apart, inside a dashed outline of the span d(k − 1) + 1. Right, the output grid, the
    current cell filled. The title has the output-size formula with the numbers in it. Invalid
    sizes raise ValueError (from :func:`cnnlib.arithmetic.conv_output_size`).

    Returns an :class:`HtmlAnimation`: shown as a self-contained JavaScript player when it is
    the last expression of a cell (no ``;``). At 80 dpi, in 32 colours, the page takes about
    7 KB per frame: the 9 frames of 5×5, F=3, S=2, P=1 make about 65 KB.
    """
    out = conv_output_size(n, k, s, p, d)
    _check_frames(out, max_frames)
    return _animate(_Sliding("conv", n, k, s, p, d, out), interval, dpi, cell)


def animate_pooling(n: int, k: int, s: int | None = None, p: int = 0, *, mode: str = "max",
                    x=None, seed: int = 0, interval: int = 800, dpi: int = 80,
                    cell: float = 0.4, max_frames: int = 64) -> HtmlAnimation:
    """A k×k pooling window over small integers: each frame writes one output value.

    ``mode`` is "max" (the window's largest value in bold; padding is −∞, so it never wins) or
    "avg" (padding counts as 0, PyTorch's default ``count_include_pad=True``). The numbers are
    ``x`` (an n×n tensor or array) or integers 0..9 drawn with ``seed``; the outputs are
    PyTorch's own ``max_pool2d``/``avg_pool2d``. ``s`` defaults to ``k`` as in PyTorch. Sizes
    are checked by :func:`cnnlib.arithmetic.pool_output_size`. Same player and size as
    :func:`animate_conv` (about 7-9 KB per frame).
    """
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    s = k if s is None else s
    out = pool_output_size(n, k, s, p)
    _check_frames(out, max_frames)
    if x is None:
        x = torch.randint(0, 10, (n, n), generator=torch.Generator().manual_seed(seed))
    x = torch.as_tensor(x, dtype=torch.float32)
    while x.dim() > 2 and x.shape[0] == 1:  # one map of a batch, (1, 1, n, n), is fine
        x = x[0]
    if x.shape != (n, n):
        raise ValueError(f"x must be one {n}×{n} map (the input; (1, 1, {n}, {n}) is fine "
                         f"too), got shape {tuple(x.shape)}")
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    results = pool(x[None, None], k, s, p)[0, 0]
    return _animate(_Sliding(mode, n, k, s, p, 1, out, x, results), interval, dpi, cell)
