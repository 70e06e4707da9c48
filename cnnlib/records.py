"""Experiment records: every run of a chapter's experiment, kept as JSON and read by the page.

A record (``<name>.json``) holds the experiment's design and one entry per run: its arm and
seed, the budget, the hyper-parameters, the device, the seconds it trained, its per-epoch curves
and its final metrics in percent. Runs are appended as they finish, so an experiment made over
several sittings grows one run at a time, and a page re-executed later draws its figures and
quotes its numbers from the record instead of training again. The book's records ship as package
data in ``cnnlib/recorded/experiments/``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
from importlib import resources
from pathlib import Path

try:
    import fcntl  # POSIX; elsewhere appends are not locked
except ImportError:  # pragma: no cover - Windows
    fcntl = None

RECORD_FORMAT = 1
METRICS = ("final_train_error", "final_test_error")
_RUN_KEYS = ("arm", "seed", "epochs", "train_size", "hyper", "device", "seconds", "curves",
             "metrics")


def recorded_dir() -> Path:
    """The folder of the records that ship with the book (package data)."""
    return Path(str(resources.files("cnnlib") / "recorded" / "experiments"))


def record_file(name: str, folder: str | os.PathLike | None = None) -> Path:
    """Where the record ``name`` lives: in ``folder``, or with the book's records."""
    if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
        raise ValueError(f"an experiment name is letters, digits and '_', got {name!r}")
    return Path(folder).expanduser() / f"{name}.json" if folder else recorded_dir() / f"{name}.json"


def load_record(name: str, folder: str | os.PathLike | None = None) -> dict:
    """The record ``name`` (its ``design`` and ``runs``), from ``folder`` or the book's records."""
    path = record_file(name, folder)
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.json")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"no experiment record {path}; records there: {known or 'none'}. "
                                "Make one with python -m cnnlib.experiments run NAME")
    record = json.loads(path.read_text())
    if record.get("format") != RECORD_FORMAT or "runs" not in record:
        raise ValueError(f"{path} is not an experiment record of format {RECORD_FORMAT}")
    return record


def check_run(run: dict) -> dict:
    """A run as a record stores it: every key present, metrics finite percentages."""
    missing = [key for key in _RUN_KEYS if key not in run]
    if missing:
        raise ValueError(f"an experiment run needs {list(_RUN_KEYS)}; missing {missing}")
    for key in METRICS:
        value = run["metrics"].get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 100:
            raise ValueError(f"metrics[{key!r}] must be a percentage from 0 to 100, got {value!r}")
    return run


def append_run(name: str, run: dict, folder: str | os.PathLike, design: dict | None = None,
               replace: bool = False) -> Path:
    """Add one finished run to the record ``name`` in ``folder`` (created with ``design``).

    The file is rewritten atomically (a temporary file, then a rename), so a run stopped in the
    middle of a save leaves the previous record whole. A run with the same arm, seed and pilot
    flag as a recorded one is refused unless ``replace=True``: a record is never overwritten
    by accident.
    """
    if folder is None:
        raise ValueError("append_run needs the folder to write to; the book's own records are "
                         f"in {recorded_dir()}")
    check_run(run)
    path = record_file(name, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        return _append(path, name, folder, run, design, replace)


def _append(path: Path, name: str, folder, run: dict, design: dict | None, replace: bool) -> Path:
    if path.exists():
        record = load_record(name, folder)
    else:
        record = {"format": RECORD_FORMAT, "name": name, "design": design or {}, "runs": []}
    if design is not None and design != record["design"]:
        kept = [r for r in record["runs"] if not r.get("pilot")]
        if kept:
            raise ValueError(f"{path} holds {len(kept)} run(s) of another design; a run of a "
                             "changed design starts a new record (another folder or name)")
        record["design"] = design  # so far only pilots: the design they led to replaces it
    same = [r for r in record["runs"] if _key(r) == _key(run)]
    if same and not replace:
        raise FileExistsError(f"{path} already has a run of arm {run['arm']!r} with seed "
                              f"{run['seed']} (pilot={run.get('pilot', False)}); pass "
                              "replace=True to replace it")
    record["runs"] = [r for r in record["runs"] if _key(r) != _key(run)] + [run]
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return path


@contextlib.contextmanager
def _locked(path: Path):
    """Hold a lock beside ``path`` while it is read and rewritten: runs that finish at the same
    time in two processes append one after the other instead of losing one."""
    with open(path.with_suffix(".json.lock"), "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _key(run: dict) -> tuple:
    return run["arm"], run["seed"], bool(run.get("pilot", False))


def runs(record: dict, arm: str | None = None, pilot: bool = False) -> list[dict]:
    """The record's runs (of one ``arm``), pilots or not, in seed order."""
    chosen = [r for r in record["runs"] if bool(r.get("pilot", False)) == pilot
              and (arm is None or r["arm"] == arm)]
    return sorted(chosen, key=lambda r: (r["arm"], r["seed"]))


def arms(record: dict, pilot: bool = False) -> list[str]:
    """The arms in the order the design lists them (then any others, sorted)."""
    listed = list(record.get("design", {}).get("arms", []))
    present = {r["arm"] for r in runs(record, pilot=pilot)}
    return [a for a in listed if a in present] + sorted(present - set(listed))


def metric_values(record: dict, arm: str, metric: str, pilot: bool = False) -> list[float]:
    """One value per seed of ``arm``: a final metric, or an epoch's value with ``metric@epoch``."""
    values = []
    for run in runs(record, arm, pilot):
        if metric in run["metrics"]:
            values.append(run["metrics"][metric])
        else:
            raise KeyError(f"run {arm!r} seed {run['seed']} has no metric {metric!r}; it has "
                           f"{sorted(run['metrics'])}")
    return values


def summary_rows(record: dict, metrics=METRICS, pilot: bool = False) -> list[dict]:
    """Per arm: the number of seeds and, per metric, mean, sample sd, min and max."""
    rows = []
    for arm in arms(record, pilot):
        row = {"arm": arm, "seeds": len(runs(record, arm, pilot))}
        for metric in metrics:
            values = metric_values(record, arm, metric, pilot)
            row[metric] = {"mean": statistics.fmean(values),
                           "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                           "min": min(values), "max": max(values), "n": len(values)}
        rows.append(row)
    return rows


def paired_differences(record: dict, arm_a: str, arm_b: str, metric: str,
                       pilot: bool = False) -> list[float]:
    """``arm_a - arm_b`` for every seed both arms ran (seed pairs share data order and init)."""
    a = {r["seed"]: r["metrics"][metric] for r in runs(record, arm_a, pilot)}
    b = {r["seed"]: r["metrics"][metric] for r in runs(record, arm_b, pilot)}
    return [a[s] - b[s] for s in sorted(a.keys() & b.keys())]


def curves(record: dict, arm: str, key: str, pilot: bool = False) -> list[list[float]]:
    """The per-epoch ``key`` (``train_error``, ``test_error``, ``train_loss``...) of every seed."""
    out = []
    for run in runs(record, arm, pilot):
        if key in run["curves"]:
            out.append(list(run["curves"][key]))
        elif key.endswith("_error") and key.replace("_error", "_acc") in run["curves"]:
            out.append([100 * (1 - v) for v in run["curves"][key.replace("_error", "_acc")]])
        else:
            raise KeyError(f"run {arm!r} seed {run['seed']} has no curve {key!r}")
    return out


def total_seconds(record: dict) -> float:
    """The training time of every run in the record, pilots included."""
    return sum(r["seconds"] for r in record["runs"])
