"""Networks drawn as diagrams: the residual blocks of the ResNet chapter."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch


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
