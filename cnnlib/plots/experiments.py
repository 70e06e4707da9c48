"""Experiment records drawn: each arm's seeds as a band (lowest to highest) around their mean."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..records import arms as record_arms
from ..records import curves, groups, settings_text

_LABELS = {"train_error": "training error (%)", "test_error": "test error (%)",
           "train_loss": "training loss", "test_loss": "test loss"}


def plot_record(record: dict, key: str = "train_error", panels=None, title: str | None = None,
                pilot: bool = False, ylim=None, labels: dict | None = None,
                variants: dict[str, list[str]] | None = None):
    """Per-epoch ``key`` of every arm: the mean of its seeds as a line, their range as a band.

    ``panels`` groups arms side by side, e.g. ``{"plain": ["plain-20", "plain-56"], ...}``;
    by default all arms share one panel. ``labels`` names arms in the legend (for instance
    with their learning rates). Every seed of an arm must have run the same epochs. A pilot
    that tried several settings on an arm draws one line per setting, named by it
    (``relu, lr 0.01``), each in its own colour: settings are not seeds. ``variants`` draws
    a pilot's seeds of another setting beside an arm's own, ``{"relu": ["lr0.02"]}``: the
    record keeps such reruns as pilots because they depart from the design. A variant's line
    is named by its arm and setting (``relu, lr 0.02``), whatever ``labels`` calls the arm.
    """
    labels = labels or {}
    names = record_arms(record, pilot)
    if not names:
        raise ValueError(f"the record {record.get('name')!r} has no "
                         f"{'pilot ' if pilot else ''}runs to draw")
    panels = panels or {"": names}
    missing = [a for group in panels.values() for a in group if a not in names]
    if missing:
        raise ValueError(f"no runs of {missing} in the record; its arms are {names}")
    _check_variants(variants, pilot, [a for group in panels.values() for a in group])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 0.6, 3.4),
                             sharey=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    # colours follow the design's list of arms, so an arm keeps its colour in every figure
    order = list(record.get("design", {}).get("arms", [])) + names
    order = list(dict.fromkeys(order))
    lines = groups(record, pilot)
    if any(g["settings"] for g in lines):  # a pilot's settings: a colour for each
        color_of = {(g["arm"], g["variant"]): colors[i % len(colors)]
                    for i, g in enumerate(lines)}
    else:
        color_of = {(g["arm"], g["variant"]): colors[order.index(g["arm"]) % len(colors)]
                    for g in lines}
    extra = len(order) - 1  # variants take the colours after the arms'
    for ax, (panel, group) in zip(axes.flat, panels.items()):
        for line in (g for arm in group for g in lines if g["arm"] == arm):
            arm, color = line["arm"], color_of[line["arm"], line["variant"]]
            values = np.array(curves(record, arm, key, pilot, variant=line["variant"]),
                              dtype=float)
            epochs = np.arange(1, values.shape[1] + 1)
            ax.fill_between(epochs, values.min(0), values.max(0), color=color,
                            alpha=0.25, lw=0)
            name = labels.get(arm, arm) + (f", {settings_text(line['settings'])}"
                                           if line["settings"] else "")
            ax.plot(epochs, values.mean(0), color=color, lw=2,
                    label=f"{name} ({len(values)} seed{'s' if len(values) > 1 else ''})")
        for arm in group:
            for variant in (variants or {}).get(arm, []):
                extra += 1
                _band(ax, record, arm, key, variant, colors[extra % len(colors)])
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if panel:
            ax.set_title(panel, fontsize=10)
        if ylim:
            ax.set_ylim(*ylim)
    axes.flat[0].set_ylabel(_LABELS.get(key, key))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _band(ax, record: dict, arm: str, key: str, variant: str, color) -> None:
    """One pilot variant of ``arm``: its seeds' mean as a dashed line, their range a band."""
    values = np.array(curves(record, arm, key, pilot=True, variant=variant), dtype=float)
    epochs = np.arange(1, values.shape[1] + 1)
    ax.fill_between(epochs, values.min(0), values.max(0), color=color, alpha=0.25, lw=0)
    setting = settings_text(_variant_settings(record, arm, variant))
    ax.plot(epochs, values.mean(0), color=color, lw=2, ls="--",
            label=f"{arm}, {setting} ({len(values)} seed{'s' if len(values) > 1 else ''})")


def _variant_settings(record: dict, arm: str, variant: str) -> dict:
    """What the variant changed from the arm's design, as settings (``{"lr": 0.02}``)."""
    run = next(r for r in record["runs"] if r["arm"] == arm and r.get("pilot")
               and r.get("variant", "") == variant)
    design = record.get("design", {})
    base = {**design.get("hyper", {}),
            **design.get("arm_settings", {}).get(arm, {}).get("hyper", {})}
    changed = {k: v for k, v in run["hyper"].items() if base.get(k) != v}
    if run["epochs"] != design.get("epochs", run["epochs"]):
        changed["epochs"] = run["epochs"]
    return changed


def _check_variants(variants, pilot: bool, drawn: list[str]) -> None:
    """``variants`` maps arms drawn in a panel to lists of their pilot variants, each once."""
    if variants is None:
        return
    if pilot:
        raise ValueError("variants= adds pilot runs beside an arm's own runs; with pilot=True "
                         "every pilot variant is drawn already: leave variants out")
    if not isinstance(variants, dict) or not all(
            isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)
            for v in variants.values()):
        raise ValueError("variants maps an arm to a list of its pilot variants, such as "
                         f"{{'relu': ['lr0.02']}}; got {variants!r}")
    undrawn = [arm for arm in variants if arm not in drawn]
    if undrawn:
        raise ValueError(f"variants names {undrawn}, which no panel draws; the panels draw "
                         f"{drawn}")
    twice = [arm for arm, v in variants.items() if len(set(v)) < len(v)]
    if twice:
        raise ValueError(f"variants lists a variant twice for {twice}: {variants!r}")
