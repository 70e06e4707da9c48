"""What a training run measured, epoch by epoch: the :class:`History` that ``fit`` returns.

A module of its own because three others need it and none should import the others for it:
``train`` fills it, ``checkpoint`` saves and restores it, ``plots`` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class History:
    """One row per epoch: every value was measured during the run, none is typed in."""

    rows: list[dict] = field(default_factory=list)

    def __getitem__(self, key: str) -> list:
        """Every epoch's ``key`` (``None`` in a row without it); a key that no row has is a
        ``KeyError`` that lists the keys there are (a typo would otherwise read as "never")."""
        if self.rows and not any(key in row for row in self.rows):
            raise KeyError(f"the history has no {key!r}; its keys are {_keys(self.rows)}")
        return [row.get(key) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}

    def best(self, key: str = "test_acc") -> dict:
        """The row with the best ``key``: the highest accuracy, or the lowest loss (a key that
        ends in ``loss``)."""
        if not self.rows:
            raise ValueError(f"the history is empty, so it has no best {key!r}: train first "
                             "(fit returns the history of the epochs it ran)")
        rows = [row for row in self.rows if row.get(key) is not None]
        if not rows:
            hint = (": pass a test loader to fit, or use 'train_acc'" if key.startswith("test")
                    else "")
            raise KeyError(f"the history has no {key!r}; its keys are {sorted(self.rows[0])}"
                           f"{hint}")
        pick = min if key.endswith("loss") else max
        return pick(rows, key=lambda row: row[key])

    def __repr__(self) -> str:
        keys = [k for k in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                            "seconds") if self.rows and k in self.rows[0]]
        lines = ["  ".join(f"{k:>10}" for k in keys)]
        for row in self.rows:
            lines.append("  ".join(_fmt(k, row[k]) for k in keys))
        return "\n".join(lines)


def _keys(rows: list[dict]) -> list[str]:
    return sorted({key for row in rows for key in row})


def _fmt(key, value) -> str:
    if key == "epoch":
        return f"{value:>10d}"
    if key.endswith("acc"):
        return f"{100 * value:>9.2f}%"
    if key == "lr":
        return f"{value:>10.2e}"
    return f"{value:>10.4f}"


def epochs_to_reach(history: History, key: str, threshold: float, below: bool = False):
    """The first epoch whose ``key`` reached ``threshold`` (``>=``, or ``<=`` with ``below``).

    ``None`` if no epoch did: "never, within the epochs run", which is a result too. This is how
    "ReLU trains six times faster" becomes a number read off two histories.
    """
    values = history[key] if len(history) else []
    if not values or values[0] is None:
        keys = _keys(history.rows)
        raise KeyError(f"the history has no {key!r}; its keys are {keys}")
    if key.endswith("acc") and not below and not 0 <= threshold <= 1:
        raise ValueError(
            f"threshold={threshold!r} for {key!r}, but accuracies in a history are fractions "
            f"from 0 to 1 (0.9 is 90 %), so it could never be reached: write "
            f"{threshold / 100:g}" if 1 < threshold <= 100 else
            f"threshold={threshold!r} for {key!r}, but accuracies in a history are fractions "
            "from 0 to 1 (0.9 is 90 %)")
    for row in history.rows:
        if (row[key] <= threshold) if below else (row[key] >= threshold):
            return row["epoch"]
    return None


def spread(values, fmt: str = "{:.1f}", short: bool = False) -> str:
    """Repeated measurements as the book reports them: ``mean ± sd (min to max, n runs)``;
    ``short=True`` gives ``mean ± sd`` alone, for tables.

    ``None`` values (a threshold never reached) are counted, not averaged: "2 of 3 runs never".
    The sd is the sample standard deviation (n - 1); one run gives just its value, and runs that
    all give the same value (as printed) say so: "9.0 in all 3 runs", not "9.0 ± 0.0 (9.0 to
    9.0, 3 runs)".
    """
    values = list(values)
    if not values:
        raise ValueError("spread() needs at least one value")
    reached = [float(v) for v in values if v is not None]
    never = len(values) - len(reached)
    if not reached:
        return f"never ({len(values)} of {len(values)} runs)"
    if len(reached) == 1:
        text = fmt.format(reached[0])
    elif fmt.format(min(reached)) == fmt.format(max(reached)):  # the same value every time
        text = fmt.format(reached[0]) + (f" in all {len(reached)} runs" if not never else
                                         f" in each of {len(reached)} runs")
    else:
        mean = sum(reached) / len(reached)
        sd = (sum((v - mean) ** 2 for v in reached) / (len(reached) - 1)) ** 0.5
        text = f"{fmt.format(mean)} ± {fmt.format(sd)}"
        if not short:
            text += (f" ({fmt.format(min(reached))} to {fmt.format(max(reached))}, "
                     f"{len(reached)} runs)")
    if never:
        text += f" ({never} of {len(values)} never)" if short else \
            f"; never in {never} of {len(values)} runs"
    return text


def smooth(values: list[float], beta: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (the first values are not pulled to 0).

    One batch's loss is noisy; a range test is read from the smoothed curve.
    """
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    out, average = [], 0.0
    for i, value in enumerate(values, 1):
        average = beta * average + (1 - beta) * value
        out.append(average / (1 - beta ** i))
    return out
