"""Repeated runs as points: every seed's result, and the mean of each arm through them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._style import finish_line_plot


def plot_seed_points(results: dict, xlabel: str, ylabel: str, title: str | None = None,
                     log_x: bool = False):
    """One colour per arm: a point per seed at each x, and a line through the means.

    ``results`` maps an arm's label to ``{x: [value per seed]}``. Drawing every seed, not only
    the mean, shows whether two arms' difference is larger than the seeds' scatter.
    """
    if not results or any(not by_x or any(not v for v in by_x.values())
                          for by_x in results.values()):
        raise ValueError("plot_seed_points needs {arm: {x: [value, ...]}} with at least one "
                         "value at every x")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    arms = len(results)
    for i, (label, by_x) in enumerate(results.items()):
        color = colors[i % len(colors)]
        xs = sorted(by_x)
        # a small sideways offset per arm, so that equal values of two arms stay visible
        shift = 1 + 0.04 * (i - (arms - 1) / 2) if log_x else 0
        for x in xs:
            where = x * shift if log_x else x
            ax.scatter([where] * len(by_x[x]), by_x[x], color=color, alpha=0.5, s=18)
        runs = len(by_x[xs[0]])
        ax.plot(xs, [np.mean(by_x[x]) for x in xs], color=color, lw=2,
                marker="o" if len(xs) == 1 else None, label=f"{label} (mean of {runs})")
    if log_x:
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(plt.NullLocator())  # only the x values are labelled
    ax.set_xticks(sorted({x for by_x in results.values() for x in by_x}))
    ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
    return finish_line_plot(fig, ax, xlabel, ylabel, title)
