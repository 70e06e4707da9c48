"""How fast the book's code runs, from the recorded results of ``cnnlib.bench`` and
``cnnlib.recipes``: images per second on each device, and test accuracy against time."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_throughput(runs: dict, title: str | None = None):
    """Training images per second, book against baseline, for each model that every run in
    ``runs`` (``{label: bench result}``, e.g. a CPU's and a GPU's) measured, on a log scale:
    a factor of ten is the same length anywhere on the axis."""
    models = [m for m in next(iter(runs.values()))["models"]
              if all(m in (r.get("models") or {}) for r in runs.values())]
    if not models:
        raise ValueError("the runs share no measured model: pass bench results made with "
                         "the same --models")
    bars = [(label, path) for label in runs for path in ("book", "baseline")]
    height = 0.8 / len(bars)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(7.5, 1.0 + 1.1 * len(models)))
    for k, (label, path) in enumerate(bars):
        run_index = list(runs).index(label)
        rates = [runs[label]["models"][m]["train"][f"{path}_images_per_s"] for m in models]
        y = np.arange(len(models)) + (k - (len(bars) - 1) / 2) * height
        ax.barh(y, rates, height=height * 0.9, color=colours[run_index % len(colours)],
                alpha=1.0 if path == "book" else 0.45, hatch=None if path == "book" else "//",
                label=f"{label}, {'book (fit + tensor loader)' if path == 'book' else 'baseline'}")
        for yy, rate in zip(y, rates):
            ax.text(rate * 1.08, yy, f"{rate:,.0f}", va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(models)), models)
    ax.invert_yaxis()
    ax.set_xlabel("training images per second (log scale)")
    ax.set_xlim(right=ax.get_xlim()[1] * 3)  # room for the numbers
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22 - 0.1 / len(models)),
              ncol=2, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
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
