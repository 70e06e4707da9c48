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
    if folder is None:
        return recorded_dir() / f"{name}.json"
    if not str(folder).strip():  # "" must not quietly mean the book's own records
        raise ValueError("the record's folder is empty: name a folder (e.g. experiments/), or "
                         "pass None to read the book's own records")
    return Path(folder).expanduser() / f"{name}.json"


def load_record(name: str, folder: str | os.PathLike | None = None) -> dict:
    """The record ``name`` (its ``design`` and ``runs``), from ``folder`` or the book's records."""
    return _read(record_file(name, folder), name)


def _read(path: Path, name: str) -> dict:
    """The record at ``path``, checked to be one: a clear error names what it holds instead."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, where the record {name!r} would be a "
                                "file: move the folder away, or write the record elsewhere")
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.json")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"no experiment record {path}; records there: {known or 'none'}. "
                                "Make one with python -m cnnlib.experiments run NAME")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is damaged (not JSON: {error}); nothing was changed. Restore "
                         "it (git checkout, or a copy), or move it away to start a new "
                         "record") from None
    wrong = _not_a_record(record)
    if wrong:
        raise ValueError(
            f"{path} is not an experiment record of format {RECORD_FORMAT}: {wrong}. A record "
            f'is a JSON object {{"format": {RECORD_FORMAT}, "name": ..., "design": {{...}}, '
            '"runs": [{"arm": ..., "seed": ..., ...}, ...]}, as python -m '
            "cnnlib.experiments run writes it; nothing was changed. Restore it (git checkout, "
            "or a copy), or move it away to start a new record")
    return record


def _not_a_record(record) -> str:
    """What keeps parsed JSON from being a record the readers can use ("" if nothing): the
    shape every reader relies on, not every field of every run (:func:`check_run`)."""
    if not isinstance(record, dict):
        return f"it holds a JSON {_json_kind(record)}, not an object"
    if record.get("format") != RECORD_FORMAT or isinstance(record.get("format"), bool):
        return (f"its 'format' is {record['format']!r}" if "format" in record
                else "it has no 'format'")
    if not isinstance(record.get("runs"), list):
        return (f"its 'runs' is a JSON {_json_kind(record['runs'])}, not a list"
                if "runs" in record else "it has no 'runs'")
    if not isinstance(record.get("design", {}), dict):
        return f"its 'design' is a JSON {_json_kind(record['design'])}, not an object"
    for i, run in enumerate(record["runs"]):
        if not isinstance(run, dict):
            return f"runs[{i}] is a JSON {_json_kind(run)}, not an object"
        if not isinstance(run.get("arm"), str):
            return f"runs[{i}] has no arm (a string)"
        seed = run.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            return f"runs[{i}] (arm {run['arm']!r}) has no seed (a whole number)"
    return ""


def _json_kind(value) -> str:
    kinds = {dict: "object", list: "list", str: "string", bool: "true/false", int: "number",
             float: "number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def check_run(run: dict) -> dict:
    """A run as a record stores it: every key present, its accuracy curves one value per epoch,
    and its final errors finite percentages that agree with the curves' last epoch."""
    missing = [key for key in _RUN_KEYS if key not in run]
    if missing:
        raise ValueError(f"an experiment run needs {list(_RUN_KEYS)}; missing {missing}")
    if run.get("diverged"):
        if not run.get("pilot"):
            raise ValueError("only a pilot may record a diverged run (its metrics are None): "
                             "a design whose runs diverge needs another learning rate")
        return run
    if run.get("evaluation"):  # a trained model measured again (e.g. test-time augmentation)
        value = run["metrics"].get("final_test_error") if isinstance(run["metrics"], dict) \
            else None
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 100:
            raise ValueError("an evaluation run's metrics['final_test_error'] must be a "
                             f"percentage from 0 to 100, got {value!r}")
        return run
    for key in METRICS:
        value = run["metrics"].get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 100:
            raise ValueError(f"metrics[{key!r}] must be a percentage from 0 to 100, got {value!r}")
        curve = key.replace("final_", "").replace("_error", "_acc")
        accuracies = run["curves"].get(curve)
        if not isinstance(accuracies, list) or len(accuracies) != run["epochs"]:
            raise ValueError(f"curves[{curve!r}] must hold one accuracy (0 to 1) per epoch, "
                             f"{run['epochs']} in all; got {accuracies!r:.80}")
        if abs(100 * (1 - accuracies[-1]) - value) > 0.01:
            raise ValueError(
                f"metrics[{key!r}] is {value!r}, but the last epoch's accuracy in the curves "
                f"gives {100 * (1 - accuracies[-1]):.2f} %: metrics are percentages (an error "
                "of 5 % is 5.0, not 0.05)")
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
    path = written_file(record_file(name, folder))
    if path.parent.resolve() == recorded_dir().resolve():
        raise ValueError(f"{path.parent} holds the book's own records, which runs do not write "
                         "to: write to another folder, and copy a finished record there")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        return _append(path, name, run, design, replace)


def written_file(path: Path) -> Path:
    """The file an append rewrites: a record reached through a symbolic link is its target
    (replacing the link by a file would leave the target without the new run)."""
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if not target.exists():
        raise FileNotFoundError(f"{path} is a symbolic link to {target}, which does not exist: "
                                "nothing was written. Point the link at a record, or remove it "
                                "to start a new record there")
    return target


def _append(path: Path, name: str, run: dict, design: dict | None, replace: bool) -> Path:
    """Read, change and rewrite ``path`` (the lock held)."""
    if path.exists():
        record = _read(path, name)
    else:
        record = {"format": RECORD_FORMAT, "name": name, "design": design or {}, "runs": []}
    record.setdefault("design", {})
    if design is not None and design != record["design"]:
        kept = [r for r in record["runs"] if not r.get("pilot")]
        if kept:
            raise ValueError(f"{path} holds {len(kept)} run(s) of another design; a run of a "
                             "changed design starts a new record (another folder or name)")
        record["design"] = design  # so far only pilots: the design they led to replaces it
    same = [r for r in record["runs"] if _key(r) == _key(run)]
    if same and not replace:
        raise FileExistsError(f"{path} already has a run of arm {run['arm']!r} with seed "
                              f"{run['seed']} (pilot={run.get('pilot', False)}, "
                              f"quick={run.get('quick', False)}); pass replace=True to "
                              "replace it")
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
    return (run["arm"], run["seed"], bool(run.get("pilot", False)), bool(run.get("quick", False)),
            run.get("variant", ""))


def has_run(record: dict, arm: str, seed: int, pilot: bool = False, quick: bool = False,
            variant: str = "") -> bool:
    """Whether ``record`` already holds this run (so that a duplicate is refused before it
    trains). A pilot's ``variant`` names what it changed (``"lr0.01"``), so that a pilot may
    try several settings on one arm and seed."""
    return any(_key(r) == (arm, seed, pilot, quick, variant) for r in record["runs"])


def runs(record: dict, arm: str | None = None, pilot: bool = False,
         quick: bool = False, variant: str | None = None) -> list[dict]:
    """The record's runs (of one ``arm``), in seed order: the real ones, or the pilots
    (``pilot=True``), or the quick checks of the code (``quick=True``), never mixed. A pilot
    that diverged has no metrics and is left out (:func:`diverged` lists them); ``variant``
    keeps only a pilot's runs of that variant (``""``: those that changed nothing)."""
    kind = "quick " if quick else "pilot " if pilot else ""
    same_kind = [r for r in record["runs"] if bool(r.get("pilot", False)) == pilot
                 and bool(r.get("quick", False)) == quick]
    chosen = [r for r in same_kind if not r.get("diverged")
              and (variant is None or r.get("variant", "") == variant)]
    if arm is not None:
        chosen = [r for r in chosen if r["arm"] == arm]
        if not chosen:
            known = sorted({r["arm"] for r in same_kind})
            of_arm = [r for r in same_kind if r["arm"] == arm]
            if variant is None or not of_arm:
                raise ValueError(f"the record {record.get('name')!r} has no {kind}runs of "
                                 f"arm {arm!r}; its {kind}arms are {known}")
            if variant and not pilot and not quick:
                raise ValueError(f"a variant ({variant!r}) is a pilot's setting: pass "
                                 "pilot=True to read it")
            gone = [r for r in of_arm if r.get("variant", "") == variant]
            if gone:
                raise ValueError(f"the {kind}runs of arm {arm!r} with variant {variant!r} "
                                 "all diverged: they have no metrics (records.diverged "
                                 "lists them)")
            others = sorted({r.get("variant", "") for r in of_arm})
            raise ValueError(f"the record {record.get('name')!r} has no {kind}runs of arm "
                             f"{arm!r} with variant {variant!r}; its variants are {others}")
    return sorted(chosen, key=lambda r: (r["arm"], r["seed"], r.get("variant", "")))


def diverged(record: dict) -> list[dict]:
    """The pilot runs that diverged (their loss became inf or NaN), in arm and variant order."""
    return sorted((r for r in record["runs"] if r.get("diverged")),
                  key=lambda r: (r["arm"], r.get("variant", ""), r["seed"]))


def arms(record: dict, pilot: bool = False) -> list[str]:
    """The arms in the order the design lists them (then any others, sorted)."""
    listed = list(record.get("design", {}).get("arms", []))
    present = {r["arm"] for r in runs(record, pilot=pilot)}
    return [a for a in listed if a in present] + sorted(present - set(listed))


def groups(record: dict, pilot: bool = False) -> list[dict]:
    """The runs as the readers show them: one group per arm, or, where a pilot tried several
    settings on one arm, per arm and variant (different settings are not seeds). Each group
    is ``{"arm", "variant", "settings", "runs"}``; ``settings`` holds what tells an arm's
    variants apart (``{"lr": 0.01, "epochs": 3}``), empty where no arm has two."""
    found: dict[tuple[str, str], list[dict]] = {}
    for run in runs(record, pilot=pilot):
        found.setdefault((run["arm"], run.get("variant", "")), []).append(run)
    keys = _telling_apart(found)
    order = {arm: i for i, arm in enumerate(arms(record, pilot))}
    chosen = [{"arm": arm, "variant": variant, "runs": group,
               "settings": {key: _setting(group[0], key) for key in keys}}
              for (arm, variant), group in found.items()]
    return sorted(chosen, key=lambda g: (order[g["arm"]],
                                         [_sortable(v) for v in g["settings"].values()],
                                         g["variant"]))


def _telling_apart(found: dict) -> list[str]:
    """The settings (hyper-parameters, then epochs) that differ between the variants of an
    arm, for every arm that has several."""
    keys: set[str] = set()
    for arm in {arm for arm, _ in found}:
        firsts = [group[0] for (a, _), group in found.items() if a == arm]
        names = {key for run in firsts for key in run.get("hyper", {})} | {"epochs"}
        keys |= {key for key in names if len({json.dumps(_setting(r, key), sort_keys=True)
                                               for r in firsts}) > 1}
    return sorted(keys - {"epochs"}) + ["epochs"] * ("epochs" in keys)


def _setting(run: dict, key: str):
    return run["epochs"] if key == "epochs" else run.get("hyper", {}).get(key)


def _sortable(value) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, json.dumps(value, sort_keys=True))


def settings_text(settings: dict) -> str:
    """A group's settings in words: ``"lr 0.01, 3 epochs"``."""
    return ", ".join(f"{value} epochs" if key == "epochs" else f"{key} {value}"
                     for key, value in settings.items())


def metric_values(record: dict, arm: str, metric: str, pilot: bool = False,
                  variant: str | None = None) -> list[float]:
    """One value per seed of ``arm``: a final metric (``final_test_error``), or a curve's value
    at an epoch, counted from 1 (``test_error@5``). A pilot that tried several settings on
    the arm needs ``variant``: its variants are not seeds of one setting."""
    return [_metric(run, metric) for run in _seeds(record, arm, pilot, variant)]


def _seeds(record: dict, arm: str, pilot: bool, variant: str | None) -> list[dict]:
    """The runs of ``arm`` that are seeds of one setting, or an error that names the
    variants to choose from."""
    chosen = runs(record, arm, pilot, variant=variant)
    found = sorted({r.get("variant", "") for r in chosen})
    if len(found) > 1:
        raise ValueError(f"the pilot runs of arm {arm!r} tried {len(found)} settings, "
                         f"{found}, which are not seeds of one: pass variant= (one of them), "
                         "or use records.groups")
    return chosen


def _metric(run: dict, metric: str) -> float:
    name, at, epoch = metric.partition("@")
    if at:
        if not epoch.isdigit() or not 1 <= int(epoch) <= run["epochs"]:
            raise ValueError(f"{metric!r}: the epoch after '@' is a number from 1 to "
                             f"{run['epochs']}")
        return _curve(run, name)[int(epoch) - 1]
    if metric not in run["metrics"]:
        raise KeyError(f"run {run['arm']!r} seed {run['seed']} has no metric {metric!r}; it has "
                       f"{sorted(run['metrics'])}, and the curves {sorted(run['curves'])} "
                       "(a curve's value at an epoch: 'test_error@5')")
    return run["metrics"][metric]


def summary_rows(record: dict, metrics=METRICS, pilot: bool = False) -> list[dict]:
    """Per arm (per arm and variant where a pilot tried several settings on an arm, with its
    ``variant`` and ``settings``): the number of seeds and, per metric, mean, sample sd, min
    and max."""
    rows = []
    for group in groups(record, pilot):
        row = {"arm": group["arm"], "seeds": len(group["runs"])}
        if group["settings"]:
            row.update(variant=group["variant"], settings=group["settings"])
        for metric in metrics:
            values = [_metric(run, metric) for run in group["runs"]]
            row[metric] = {"mean": statistics.fmean(values),
                           "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                           "min": min(values), "max": max(values), "n": len(values)}
        rows.append(row)
    return rows


def paired_differences(record: dict, arm_a: str, arm_b: str, metric: str,
                       pilot: bool = False) -> list[float]:
    """``arm_a - arm_b`` for every seed both arms ran (seed pairs share data order and init)."""
    a = {r["seed"]: _metric(r, metric) for r in _seeds(record, arm_a, pilot, None)}
    b = {r["seed"]: _metric(r, metric) for r in _seeds(record, arm_b, pilot, None)}
    return [a[s] - b[s] for s in sorted(a.keys() & b.keys())]


def curves(record: dict, arm: str, key: str, pilot: bool = False,
           variant: str | None = None) -> list[list[float]]:
    """The per-epoch ``key`` (``train_error``, ``test_error``, ``train_loss``...) of every seed
    (of one ``variant``, for a pilot that tried several settings on the arm)."""
    return [_curve(run, key) for run in _seeds(record, arm, pilot, variant)]


def _curve(run: dict, key: str) -> list[float]:
    if key in run["curves"]:
        return list(run["curves"][key])
    if key.endswith("_error") and key.replace("_error", "_acc") in run["curves"]:
        return [100 * (1 - v) for v in run["curves"][key.replace("_error", "_acc")]]
    raise KeyError(f"run {run['arm']!r} seed {run['seed']} has no curve {key!r}; it has "
                   f"{sorted(run['curves'])} (and an error curve for each accuracy)")


def total_seconds(record: dict) -> float:
    """The training time of every run in the record, pilots included (a pilot that diverged
    recorded no time). The views of one trained model were measured together and each
    carries that time: it counts once."""
    seen, total = set(), 0.0
    for r in record["runs"]:
        if r.get("evaluation"):
            model = r.get("model", {})
            key = (model.get("record"), model.get("arm"), model.get("seed"), r.get("quick"))
            if key in seen:
                continue
            seen.add(key)
        total += r["seconds"] or 0.0
    return total


def epochs_to(record: dict, arm: str, key: str, threshold: float,
              pilot: bool = False, variant: str | None = None) -> list[int | None]:
    """Per seed of ``arm`` (of one ``variant``, as :func:`curves`): the first epoch (from 1)
    whose ``key`` got to ``threshold`` or below (an error or a loss), ``None`` where no epoch
    did within the run."""
    reached = []
    for run in _seeds(record, arm, pilot, variant):
        values = _curve(run, key)
        reached.append(next((i + 1 for i, v in enumerate(values) if v <= threshold), None))
    return reached


def pilot_choice(record: dict, key: str = "train_loss",
                 epochs: int | None = None) -> dict[str, dict]:
    """Per arm, the pilot variant whose last epoch had the lowest ``key``, averaged over the
    variant's seeds: ``{"variant", "hyper", "value"}``. Diverged variants, and a run whose
    value is not a finite number, cannot win. The rule of a learning-rate pilot ("the rate
    that trains fastest"), read back from the record so the page can show it. Variants of
    different lengths are not compared at their own last epochs (a longer run has had more
    time): an arm whose pilots ran different epochs needs ``epochs``, which keeps the
    variants that ran that many."""
    values: dict[tuple[str, str], list[float]] = {}
    hyper, lengths = {}, {}
    for run in runs(record, pilot=True):
        if epochs is not None and run["epochs"] != epochs:
            continue
        value = _curve(run, key)[-1]
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        values.setdefault((run["arm"], run.get("variant", "")), []).append(value)
        hyper[run["arm"], run.get("variant", "")] = run["hyper"]
        lengths.setdefault(run["arm"], set()).add(run["epochs"])
    mixed = {arm: sorted(found) for arm, found in lengths.items() if len(found) > 1}
    if mixed:
        raise ValueError(f"the pilots of {mixed} ran different epochs (arm: epochs), and "
                         "a longer run has had more time: pass epochs= to compare the "
                         "variants of one length")
    if not values:
        raise ValueError(f"the record {record.get('name')!r} has no pilot runs with a finite "
                         f"{key!r}" + (f" of {epochs} epochs" if epochs is not None else ""))
    chosen = {}
    for (arm, variant), vals in values.items():
        mean = statistics.fmean(vals)
        if arm not in chosen or mean < chosen[arm]["value"]:
            chosen[arm] = {"variant": variant, "hyper": hyper[arm, variant], "value": mean}
    return {arm: chosen[arm] for arm in arms(record, pilot=True) if arm in chosen}
