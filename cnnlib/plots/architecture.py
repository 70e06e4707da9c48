"""Networks drawn as diagrams: the residual blocks of the ResNet chapter, and any model's layers
with the shapes one forward pass gives them (:func:`architecture`), so a figure cannot disagree
with the code it shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.collections import LineCollection
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch, Rectangle
from matplotlib.textpath import TextToPath
from torch import nn

from ._boxes import Layer, trace_layers


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


def draw_inception(in_channels: int = 192, ch1x1: int = 64, ch3x3red: int = 96,
                   ch3x3: int = 128, ch5x5red: int = 16, ch5x5: int = 32, pool_proj: int = 32,
                   big_kernel: int = 5, title: str | None = None):
    """One Inception module as data flows through it: the input feeds four branches side by
    side, and their outputs meet in one concatenation (defaults: GoogLeNet's module 3a, the
    paper's 5×5). A layer-by-layer diagram draws the branches one after another instead."""
    if big_kernel not in (3, 5):
        raise ValueError(f"big_kernel is the third branch's kernel, 5 (the paper) or 3 "
                         f"(torchvision), got {big_kernel!r}")
    k = big_kernel
    branches = [[f"1×1 conv, {ch1x1}"],
                [f"1×1 conv, {ch3x3red}", f"3×3 conv, {ch3x3}"],
                [f"1×1 conv, {ch5x5red}", f"{k}×{k} conv, {ch5x5}"],
                ["3×3 max-pool,\nstride 1", f"1×1 conv, {pool_proj}"]]
    out = ch1x1 + ch3x3 + ch5x5 + pool_proj
    fig, ax = plt.subplots(figsize=(7.2, 3.6))
    arrow = dict(arrowstyle="->", color="0.2", lw=1.1)
    xs, top, bottom = [-3.3, -1.1, 1.1, 3.3], 0.0, -4.0

    def box(x, y, label, color):
        ax.add_patch(FancyBboxPatch((x - 0.95, y - 0.3), 1.9, 0.6, boxstyle="round,pad=0.02",
                                    fc=color, ec="0.3"))
        ax.text(x, y, label, ha="center", va="center", fontsize=8.5)

    box(0, top, f"input, {in_channels} channels", "#ffffff")
    for x, layers in zip(xs, branches):
        ys = [-1.3 - 1.1 * i for i in range(len(layers))]
        ax.annotate("", xy=(x, ys[0] + 0.3), xytext=(0, top - 0.3), arrowprops=arrow)
        for i, (y, label) in enumerate(zip(ys, layers)):
            box(x, y, label, "#fdbf6f" if "pool" in label else "#a6cee3")
            nxt = ys[i + 1] + 0.3 if i + 1 < len(ys) else bottom + 0.3
            ax.annotate("", xy=(x if i + 1 < len(ys) else 0.6 * x / 3.3, nxt),
                        xytext=(x, y - 0.3), arrowprops=arrow)
    box(0, bottom, "concatenate", "#d9d9d9")
    ax.text(0, bottom - 0.45, f"{ch1x1} + {ch3x3} + {ch5x5} + {pool_proj} = {out} channels "
            f"(torch.cat along the channels)", ha="center", va="top", fontsize=8.5)
    ax.set_xlim(-4.4, 4.4)
    ax.set_ylim(bottom - 0.9, top + 0.45)
    ax.axis("off")
    ax.set_title(title or f"Inception module: {in_channels} → {out} channels", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Any model's layers, drawn from one forward pass (traced in _boxes.py)

KIND_COLORS = {"input": "#ffffff", "conv": "#a6cee3", "pool": "#fdbf6f", "norm": "#b2df8a",
               "fc": "#cab2d6", "block": "#86b4dc", "other": "#d9d9d9"}
KIND_NAMES = {"conv": "convolution", "pool": "pooling", "norm": "normalisation",
              "fc": "fully connected", "block": "residual block", "other": "other layer"}
SHORTCUT_STYLES = {"identity": ("0.45", "-"), "projection": ("tab:red", "-"),
                   "zero-pad": ("tab:orange", "--")}
FONT = 7.5      # points: the diagram's labels (none is under 7 pt)
LINE = 0.14     # inches between text lines under a box

# The axes is measured in inches, y downwards, so the sizes below are what the page shows.

@dataclass
class _Rows:
    """The vertical plan of one row of boxes (inches)."""

    two_gpus: bool
    shortcuts: bool   # room above the boxes for a shortcut's line and label
    suffixes: bool
    stages: bool

    @property
    def above(self) -> float:
        return 0.32 if self.shortcuts else 0.06

    @property
    def boxes(self) -> float:
        return 0.92 if self.two_gpus else 0.72

    @property
    def height(self) -> float:
        return self.above + self.boxes + 0.06 + (2 + self.suffixes + self.stages) * LINE + 0.12

    half_offset = 0.23   # two GPUs: each half's centre, above and below the row's middle
    half_tall = 0.36


def _text_width(text: str, size: float = FONT) -> float:
    """Inches a string takes, measured from the font (no renderer needed)."""
    width, _, _ = TextToPath().get_text_width_height_descent(text, FontProperties(size=size),
                                                             ismath=False)
    return width / 72


def _log_fraction(value: int, largest: int) -> float:
    return math.log(max(value, 1)) / math.log(largest) if largest > 1 else 1.0


def _box_size(layer: Layer, largest: tuple[int, int], tall: float) -> tuple[float, float]:
    """(width, height): log of the channels and log of the side, so 3 and 512 both show."""
    channels = layer.shape[0]
    side = layer.shape[1] if len(layer.shape) > 1 else 1
    return (0.06 + 0.28 * _log_fraction(channels, largest[0]),
            0.08 + (tall - 0.08) * _log_fraction(side, largest[1]))


def _column_width(layer: Layer) -> float:
    texts = [layer.label, layer.shape_text, layer.suffix, layer.shortcut_label]
    return max(_text_width(t) for t in texts) + 0.14


def _split_rows(widths: list[float], available: float) -> list[list[int]]:
    """Column indices per row: as few rows as fit, about equally full."""
    total = sum(widths)
    for count in range(max(1, math.ceil(total / available)), len(widths) + 1):
        rows, row, used, done = [], [], 0.0, 0.0
        for i, w in enumerate(widths):
            if row and (used + w > available
                        or done + used + w / 2 > total * (len(rows) + 1) / count):
                rows.append(row)
                row, used, done = [], 0.0, done + used
            row.append(i)
            used += w
        rows.append(row)
        if len(rows) <= count and all(sum(widths[i] for i in r) <= available for r in rows):
            return rows
    return [[i] for i in range(len(widths))]


def _draw_box(ax, layer: Layer, x: float, mid: float, size, plan: _Rows, split: bool):
    w, h = size
    centres = (mid - plan.half_offset, mid + plan.half_offset) if split else (mid,)
    for y in centres:
        ax.add_patch(Rectangle((x - w / 2, y - h / 2), w, h, facecolor=KIND_COLORS[layer.kind],
                               edgecolor="0.25", lw=0.8, zorder=2))


def _connect(ax, x0: float, x1: float, mid: float, plan: _Rows, split_from: bool,
             layer: Layer, split: bool):
    """The line into ``layer``; on two GPUs one per half, crossing where it sees both."""
    if not split:
        ax.annotate("", xy=(x1, mid), xytext=(x0, mid), zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color="0.35", lw=0.9,
                                    mutation_scale=7, shrinkA=0, shrinkB=0))
        return
    top, bottom = mid - plan.half_offset, mid + plan.half_offset
    if not split_from:  # the whole image goes to both GPUs
        ax.add_collection(LineCollection([[(x0, mid), (x1, top)], [(x0, mid), (x1, bottom)]],
                                         colors="0.35", lw=0.9, gid="gpu-fan-out"))
        return
    ax.add_collection(LineCollection([[(x0, top), (x1, top)], [(x0, bottom), (x1, bottom)]],
                                     colors="0.35", lw=0.9, gid="gpu-straight"))
    if layer.sees_both_halves:
        ax.add_collection(LineCollection([[(x0, top), (x1, bottom)], [(x0, bottom), (x1, top)]],
                                         colors="tab:red", lw=0.9, gid="gpu-cross"))


def _draw_shortcut(ax, layer: Layer, left: float, right: float, mid: float, y: float):
    """The shortcut over a block: from its input, over the box, to the sum after it."""
    color, style = SHORTCUT_STYLES[layer.shortcut]
    ax.plot([left, left, right, right], [mid, y, y, mid], color=color, ls=style, lw=1.1,
            zorder=1)
    ax.plot([right], [mid], marker="o", ms=6, mfc="white", mec=color, mew=1.0, zorder=3)
    ax.plot([right], [mid], marker="+", ms=4, mec=color, mew=1.0, zorder=4)
    ax.text((left + right) / 2, y - 0.03, layer.shortcut_label, ha="center", va="bottom",
            fontsize=7, color=color, gid=f"shortcut-{layer.shortcut}")


def _draw_texts(ax, layer: Layer, x: float, y: float):
    ax.text(x, y, layer.label, ha="center", va="top", fontsize=FONT, gid="label")
    ax.text(x, y + LINE, layer.shape_text, ha="center", va="top", fontsize=FONT, color="0.25",
            gid="shape")
    if layer.suffix:
        ax.text(x, y + 2 * LINE, layer.suffix, ha="center", va="top", fontsize=7, color="0.4",
                gid="suffix")


def _draw_stages(ax, layers, edges, top: float, plan: _Rows):
    """A grey band behind each run of blocks of one stage, named underneath."""
    runs = []
    for j, layer in enumerate(layers):
        if layer.stage and runs and runs[-1][0] == layer.stage and runs[-1][2] == j - 1:
            runs[-1][2] = j
        elif layer.stage:
            runs.append([layer.stage, j, j])
    bottom = top + plan.height - 0.1
    for stage, first, last in runs:
        left, right = edges[first] + 0.03, edges[last + 1] - 0.03
        ax.add_patch(FancyBboxPatch((left, top + 0.02), right - left, bottom - top - 0.02,
                                    boxstyle="round,pad=0,rounding_size=0.05", facecolor="0.95",
                                    edgecolor="0.8", lw=0.6, zorder=0))
        ax.text((left + right) / 2, bottom - 0.03, stage, ha="center", va="bottom",
                fontsize=FONT, style="italic", color="0.35", gid="stage")


def _draw_row(ax, layers, widths, x_start, top, plan, sizes, previous, last_row):
    """One row of boxes, the lines into them, and the stub to the next row."""
    edges = [x_start]
    for w in widths:
        edges.append(edges[-1] + w)
    mid = top + plan.above + plan.boxes / 2
    if plan.stages:
        _draw_stages(ax, layers, edges, top, plan)
    x_from, split_from = x_start, previous is not None and previous.kind != "input"
    for j, layer in enumerate(layers):
        x = (edges[j] + edges[j + 1]) / 2
        split = plan.two_gpus and layer.kind != "input"
        w = sizes[id(layer)][0]
        if layer.kind != "input":
            _connect(ax, x_from, x - w / 2, mid, plan, split_from, layer, split)
        _draw_box(ax, layer, x, mid, sizes[id(layer)], plan, split)
        if layer.shortcut:
            _draw_shortcut(ax, layer, x - w / 2 - 0.1, x + w / 2 + 0.1, mid,
                           top + plan.above - 0.06)
        _draw_texts(ax, layer, x, top + plan.above + plan.boxes + 0.06)
        x_from, split_from = x + w / 2, split
    if not last_row:
        ends = ([mid - plan.half_offset, mid + plan.half_offset] if split_from else [mid])
        ax.add_collection(LineCollection([[(x_from, y), (edges[-1], y)] for y in ends],
                                         colors="0.35", lw=0.9, gid="to-next-row"))
    if plan.two_gpus:
        for y, name in ((mid - plan.half_offset, "GPU 1"), (mid + plan.half_offset, "GPU 2")):
            ax.text(0.06, y, name, ha="left", va="center", fontsize=7, color="0.3", gid="gpu")


def _legend(ax, layers, plan: _Rows, x: float, y: float, width: float) -> None:
    kinds = [k for k in KIND_NAMES if any(layer.kind == k for layer in layers)]
    names = dict(KIND_NAMES, block="residual block" if plan.shortcuts else "block (no shortcut)")
    handles = [Patch(facecolor=KIND_COLORS[k], edgecolor="0.25", label=names[k]) for k in kinds]
    for kind in SHORTCUT_STYLES:
        if any(layer.shortcut == kind for layer in layers):
            color, style = SHORTCUT_STYLES[kind]
            name = {"projection": "projection shortcut"}.get(kind, f"{kind} shortcut")
            handles.append(Line2D([], [], color=color, ls=style, label=name))
    if plan.two_gpus:
        handles += [Line2D([], [], color="0.35", label="stays on its GPU"),
                    Line2D([], [], color="tab:red", label="crosses GPUs (sees both halves)")]
    needed = sum(_text_width(h.get_label()) + 0.45 for h in handles)
    ncol = len(handles) if needed < width else math.ceil(len(handles) / 2)
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(x, y),
              bbox_transform=ax.transData, ncol=ncol, frameon=False, fontsize=FONT,
              handlelength=1.4, columnspacing=1.0, borderaxespad=0.1)


def _note(layers, two_gpus: bool) -> str:
    note = "box height ∝ log side, width ∝ log channels (a vector: C×1×1)"
    if any(layer.suffix for layer in layers):
        note += " · +ReLU etc.: applied after the box"
    note += " · dropout not drawn"
    if two_gpus:
        note += "\neach layer split over two GPUs as in the paper: upper half GPU 1, lower GPU 2"
    return note


def architecture(model: nn.Module, input_size, title: str | None = None, *,
                 two_gpus: bool | None = None, group_blocks: bool = True, width: float = 7.0):
    """A model's layers as boxes, left to right in rows, with the output shape of each.

    Everything comes from one forward pass on zeros of ``input_size`` (N×C×H×W, e.g.
    ``(1, 3, 224, 224)``) with forward hooks (eval mode, no_grad; the model's modes are restored),
    so the figure cannot disagree with the code. Each box is labelled with its kind and numbers
    ("conv 3×3, 64", "max-pool 2×2/2", "fc 4096") and its output shape (C×H×W, or the vector's
    length); its height grows with the log of the map's side, its width with the log of the
    channels, its colour says the kind. Activations are not boxes but a suffix under the box
    they follow ("+ReLU"), as is a BatchNorm right after a convolution ("+BN"); dropout,
    Identity and Flatten are left out. Modules the diagram does not know are grey boxes.

    ``two_gpus`` (default: whether some convolution has ``groups=2``, as the paper's AlexNet)
    draws every layer as two halves, GPU 1 above GPU 2: lines into a grouped convolution, a
    pooling or a normalisation stay on their GPU; lines into a layer that reads both halves
    (``groups=1`` convolutions, fully connected layers) cross, in red.

    ``group_blocks`` draws each residual block (``BasicBlock``, ``Bottleneck``) as one box, in a
    band per stage (``layer1``...), with its shortcut over it: identity, projection (a 1×1 conv,
    red) or zero-padding (option A, dashed orange), read from the block's ``downsample``.
    ``group_blocks=False`` draws the layers inside the blocks instead, in the order they ran
    (a projection's 1×1 conv after the block's second conv), and no shortcuts.
    ``width`` is the figure's width in inches (the book's text is about 7).
    """
    layers = trace_layers(model, input_size, group_blocks)
    if two_gpus is None:
        two_gpus = any(layer.kind == "conv" and layer.module.groups == 2 for layer in layers)
    plan = _Rows(two_gpus, any(layer.shortcut for layer in layers),
                 any(layer.suffix for layer in layers), any(layer.stage for layer in layers))
    largest = (max(layer.shape[0] for layer in layers),
               max(layer.shape[1] if len(layer.shape) > 1 else 1 for layer in layers))
    sizes = {id(layer): _box_size(layer, largest, plan.half_tall if two_gpus and
                                  layer.kind != "input" else 0.72) for layer in layers}
    widths = [max(_column_width(layer), sizes[id(layer)][0] + 0.3) for layer in layers]
    margin = 0.5 if two_gpus else 0.1
    rows = _split_rows(widths, width - margin - 0.1)
    head, foot = (0.62 if two_gpus else 0.5), 0.5
    height = head + len(rows) * plan.height + foot
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.text(width / 2, 0.08, title or getattr(model, "name", type(model).__name__),
            ha="center", va="top", fontsize=10)
    ax.text(width / 2, 0.3, _note(layers, two_gpus), ha="center", va="top", fontsize=7,
            color="0.35", linespacing=1.3)
    for r, row in enumerate(rows):
        used = sum(widths[i] for i in row)
        spare = min((width - margin - 0.1 - used) / len(row), 0.35)
        row_widths = [widths[i] + spare for i in row]
        x_start = margin + (width - margin - 0.1 - sum(row_widths)) / 2
        _draw_row(ax, [layers[i] for i in row], row_widths, x_start, head + r * plan.height,
                  plan, sizes,
                  layers[row[0] - 1] if row[0] > 0 else None, r == len(rows) - 1)
    _legend(ax, layers, plan, width / 2, height - 0.05, width)
    return fig
