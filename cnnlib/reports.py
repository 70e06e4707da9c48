"""Recorded runs as text: the tables of one bench run, the lines of one recipe run, any list,
one device against another, and an experiment's arms over their seeds.

The JSON files of ``python -m cnnlib.bench`` and ``python -m cnnlib.recipes`` hold every number;
these functions only lay them out, so the book's appendix prints the same tables from the files
as the commands printed when they ran. They read the files' fields and nothing else: no
measuring, and no knowledge of today's recipe defaults (``cnnlib.recipes`` has the tables that
compare runs with those).
"""

from __future__ import annotations

import math
import numbers
import re

from . import records
from .history import spread
from .results import format_flops, format_rate, format_ratio
from .tables import format_table


def overhead_pairs(overhead: dict) -> list[float]:
    """fit's overhead in each repeat, in %: fit and the bare loop ran the same steps one after
    the other, so how far these disagree is the resolution of the median."""
    raw = overhead.get("raw") or {}
    if "fit" not in raw or raw["fit"]["steps"] != raw["bare"]["steps"]:
        return []
    return [100 * (f / b - 1) for f, b in zip(raw["fit"]["seconds"], raw["bare"]["seconds"])]


def format_bench(r: dict) -> str:
    """The tables of one bench run, headed by where and when it ran."""
    v = r["versions"]
    threads = f", torch threads: {r['machine']['torch_threads']}" if r["device"] == "cpu" else ""
    took = f", {r['wall_seconds'] / 60:.0f} min" if r.get("wall_seconds") else ""
    lines = [f"cnnlib.bench, {r['mode']} mode, {r['date']}{took}",
             f"{r['device_name']} ({r['device']}{threads}), torch {v['torch']}",
             f"peak: {format_flops(r['peak']['flops'])} {r['peak'].get('precision') or ''} "
             f"({r['peak']['how']})", ""]
    if r.get("models"):
        batch = next(iter(r["models"].values()))["train"]["batch_size"]
        title = f"training, images/s (batch {batch})"
        lines.append(f"{title:<34}{'book':>9}{'baseline':>10}{'ratio':>8}{'GFLOP/image':>13}"
                     f"{'of peak':>9}")
        for name, m in r["models"].items():
            t = m["train"]
            frac = t.get("fraction_of_peak")
            lines.append(f"{name:<34}{format_rate(t['book_images_per_s']):>9}"
                         f"{format_rate(t['baseline_images_per_s']):>10}"
                         f"{format_ratio(t['speedup']):>8}"
                         f"{m['flops_per_train_image'] / 1e9:>13.3f}"
                         f"{'-' if frac is None else f'{100 * frac:.1f}%':>9}")
        lines += ["", f"{'evaluation, images/s':<34}{'book':>9}{'baseline':>10}{'ratio':>8}"]
        for name, m in r["models"].items():
            e = m["eval"]
            lines.append(f"{name:<34}{format_rate(e['book_images_per_s']):>9}"
                         f"{format_rate(e['baseline_images_per_s']):>10}"
                         f"{format_ratio(e['speedup']):>8}")
        # runs since issue 33 time fit's steps inside its epoch, and each call's rest apart
        per_call = all("outside_epoch_s" in m["overhead"] for m in r["models"].values())
        lines += ["", f"{'trainer overhead, images/s':<34}{'fit':>9}{'bare':>10}{'overhead':>10}"
                      f"{'each pair':>18}" + (f"{'per call':>10}" if per_call else "")]
        for name, m in r["models"].items():
            o = m["overhead"]
            pairs = overhead_pairs(o)
            spread = f"{min(pairs):+.1f} .. {max(pairs):+.1f}%" if pairs else "-"
            call = f"{1000 * o['outside_epoch_s']:>7.0f} ms" if per_call else ""
            lines.append(f"{name:<34}{format_rate(o['fit_images_per_s']):>9}"
                         f"{format_rate(o['bare_images_per_s']):>10}{o['overhead_pct']:>9.1f}%"
                         f"{spread:>18}{call}")
        if per_call:
            lines.append("(overhead: per step, inside fit's epoch; per call: what each fit "
                         "call adds outside it)")
    d = r.get("data_path")
    if d:
        lines += ["", f"data path: one epoch of {d['images']} CIFAR-10 images on the device,",
                  f"           {d['augment']}, normalised"]
        rate = format_rate(d["tensor_loader"]["images_per_s"])
        lines.append(f"  {'TensorLoader':<34}{rate:>9} images/s")
        for key, value in d.items():
            if key.startswith("dataloader_pil_workers"):
                w = key.rsplit("workers", 1)[1]
                lines.append(f"  {'DataLoader + PIL, num_workers=' + w:<34}"
                             f"{format_rate(value['images_per_s']):>9} images/s   tensor loader "
                             f"{faster_or_slower(d[f'speedup_vs_workers{w}'])}")
    if r["mode"] == "quick":
        lines += ["", "(quick mode: few steps per measurement; compare ratios, not digits)"]
    if r.get("complete") is False:
        done = ", ".join(["data path"] * bool(d) + list(r.get("models") or ())) or "nothing"
        lines += ["", f"(incomplete: the run stopped after measuring {done})"]
    return "\n".join(lines)


def faster_or_slower(ratio) -> str:
    """A speed ratio in words that stay true below 1: ``1.4x slower``, not ``0.7x faster``."""
    if ratio is None:
        return "-"
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) \
            or not 0 < ratio < math.inf:
        raise ValueError(f"a speed ratio is a positive, finite number, got {ratio!r}")
    times = ratio if ratio >= 1 else 1 / ratio
    words = f"{times:.2f}x" if times < 1.1 else format_ratio(times)  # 1.04x, not 1.0x
    return f"{words} {'faster' if ratio >= 1 else 'slower'}"


def format_recipe(result: dict) -> str:
    """A few lines a reader can check against the JSON of one recipe run."""
    settings = result["settings"]
    lines = [f"{result['recipe']} ({settings['model']} on {settings['dataset']}, "
             f"{result['mode']} mode, {result['train_images']} training images)",
             f"on {result['device_name']}, {result['date']}"]
    lines.append(f"setup (data to the device): {result['setup_seconds']:.1f} s")
    tta = " (flip TTA)" if settings.get("tta") else ""
    for row in result["history"]:
        seconds = row["seconds"] + row.get("test_seconds", 0)
        lines.append(f"  epoch {row['epoch']:>3}  test acc{tta} {100 * row['test_acc']:6.2f}%  "
                     f"{seconds:7.1f} s")
    if result["reached"]:
        lines.append(f"target {100 * result['target']:.1f}% reached in epoch "
                     f"{result['epochs_to_target']}, {result['seconds_to_target']:.1f} s "
                     "of training")
    else:
        lines.append(f"target {100 * result['target']:.1f}% not reached in {result['epochs_run']} "
                     f"epoch(s) ({result['wall_seconds']:.1f} s); final test accuracy "
                     f"{100 * result['final_test_acc']:.2f}%")
    if result["mode"] == "quick":
        lines.append("(quick mode: a smoke test on a subset, not a result)")
    return "\n".join(lines)


def format_result(r: dict) -> str:
    """The tables of one bench run, or the lines of one recipe run."""
    return format_recipe(r) if r.get("kind") == "recipe" else format_bench(r)


def format_results(results: list[dict], kind: str = "bench") -> str:
    """Every recorded run, one block each; says so when there is none yet (of ``kind``)."""
    if not results:
        command = ("python -m cnnlib.recipes cifar_resnet18 --target 0.94` on a GPU"
                   if kind == "recipe" else "python -m cnnlib.bench --quick` (or --full on a GPU)")
        return f"No {kind} results are recorded yet. Run `{command} to make one."
    return "\n\n".join(format_result(r) for r in results)


def compare_devices(cpu: dict, gpu: dict) -> list[dict]:
    """Rows for ``format_table``: images/s of the book's path and the baseline on a CPU run and
    a GPU run, for training and evaluation of every model both measured, and for the data path
    alone; the last column is how many times faster the GPU runs the book's path."""
    def rates(kind: str, name: str, run: dict) -> tuple[float, float]:
        m = run["models"][name][kind]
        return m["book_images_per_s"], m["baseline_images_per_s"]

    rows = []
    shared = [m for m in cpu.get("models") or () if m in (gpu.get("models") or ())]
    for kind, verb in (("train", "train"), ("eval", "evaluate")):
        for name in shared:
            (cb, cs), (gb, gs) = rates(kind, name, cpu), rates(kind, name, gpu)
            rows.append({"images/s": f"{verb} {name}", "CPU book": format_rate(cb),
                         "CPU baseline": format_rate(cs), "GPU book": format_rate(gb),
                         "GPU baseline": format_rate(gs), "GPU ÷ CPU": format_ratio(gb / cb)})
    if cpu.get("data_path") and gpu.get("data_path"):
        def loader(d: dict) -> tuple[float, float]:
            workers = max(int(k.rsplit("workers", 1)[1]) for k in d
                          if k.startswith("dataloader_pil_workers"))
            return (d["tensor_loader"]["images_per_s"],
                    d[f"dataloader_pil_workers{workers}"]["images_per_s"])
        (cb, cs), (gb, gs) = loader(cpu["data_path"]), loader(gpu["data_path"])
        rows.append({"images/s": "data path only", "CPU book": format_rate(cb),
                     "CPU baseline": format_rate(cs), "GPU book": format_rate(gb),
                     "GPU baseline": format_rate(gs), "GPU ÷ CPU": format_ratio(gb / cb)})
    return rows


def achieved_rows(results: list[dict], model: str = "alexnet_cifar") -> list[dict]:
    """Rows for ``format_table``, one per CPU bench run that trained ``model``: the host's
    estimated peak (clock and vector width, as the run recorded them) next to the FLOP/s the
    run achieved, both in GFLOP/s, so that runs on differently equipped hosts can be told
    apart."""
    rows = []
    for r in results:
        if r.get("kind", "bench") != "bench" or r["device"] != "cpu" or \
                model not in (r.get("models") or {}):
            continue
        m = r["models"][model]
        achieved = m["train"]["book_images_per_s"] * m["flops_per_train_image"]
        how = re.search(r"x ([\d.]+) GHz x (\d+) FLOP/cycle \((.+)\)", r["peak"]["how"])
        rows.append({"run": f"{r['date'][:16]} {r['mode']}",
                     "threads": r["machine"]["torch_threads"],
                     "clock, vector unit": f"{how.group(1)} GHz, {how.group(3)}" if how else "-",
                     "peak": f"{r['peak']['flops'] / 1e9:.0f}" if r["peak"]["flops"] else "-",
                     "img/s": f"{m['train']['book_images_per_s']:.0f}",
                     "achieved": f"{achieved / 1e9:.0f}"})
    return rows


def times_as_many(slow: list, fast: list, limit: int) -> list[str]:
    """Per seed, how many times the epochs of the ``fast`` arm the ``slow`` arm needed to
    reach a threshold (two lists from :func:`cnnlib.records.epochs_to`), as text: ``"1.5"``;
    ``"more than 2.0"`` where ``slow`` never got there within ``limit`` epochs; ``"–"`` where
    ``fast`` never did (no ratio can be read)."""
    if len(slow) != len(fast):
        raise ValueError(f"one value per seed in both lists, got {len(slow)} and {len(fast)}")
    return ["–" if f is None else f"{s / f:.1f}" if s else f"more than {limit / f:.1f}"
            for s, f in zip(slow, fast)]


def format_experiment(record: dict, metrics=("final_train_error", "final_test_error"),
                      pilot: bool = False) -> str:
    """An experiment record as a table: per arm, its seeds, each metric as mean ± sd with the
    lowest and highest seed, and its training time; headed by the budget and the hardware.
    A pilot that tried several settings on an arm has a row per setting, with columns that
    say which (``lr``, ``epochs``); its diverged runs are listed below the table."""
    chosen = records.runs(record, pilot=pilot)
    if not chosen:
        raise ValueError(f"the record {record.get('name')!r} has no "
                         f"{'pilot ' if pilot else ''}runs")
    devices = sorted({f"{r['device']}, {r.get('threads') or '?'} thread(s)" for r in chosen})
    dates = sorted({r.get("date", "?") for r in chosen})
    budget = chosen[0]
    lengths = sorted({r["epochs"] for r in chosen})
    steps = sorted({r.get("steps", 0) for r in chosen})
    steps = f"{steps[0]:,}" if len(steps) == 1 else f"{steps[0]:,} to {steps[-1]:,}"
    length = (f"{budget['epochs']} epochs ({steps} steps)"
              if len(lengths) == 1 else f"{lengths[0]} to {lengths[-1]} epochs")
    sizes = sorted({r["train_size"] for r in chosen})  # arms may draw their own number
    sizes = f"{sizes[0]:,}" if len(sizes) == 1 else f"{sizes[0]:,} to {sizes[-1]:,}"
    head = (f"{record['name']}{' (pilot)' if pilot else ''}: {sizes} training "
            f"images at {budget.get('image_size', '?')}×{budget.get('image_size', '?')}, "
            f"{length}; "
            f"{'; '.join(devices)}; {' to '.join(dict.fromkeys([dates[0], dates[-1]]))}")
    rows = []
    for group in records.groups(record, pilot):
        arm_runs = group["runs"]
        row = {"arm": group["arm"], **{key: f"{value}" for key, value
                                       in group["settings"].items()},
               "seeds": ", ".join(str(r["seed"]) for r in arm_runs)}
        if "to" in sizes:  # arms that draw their own number of images say how many
            row["images"] = ", ".join(sorted({f"{r['train_size']:,}" for r in arm_runs}))
        for metric in metrics:
            values = records.metric_values(record, group["arm"], metric, pilot,
                                           variant=group["variant"])
            label = metric.replace("final_", "").replace("_", " ") + " (%)"
            row[label] = spread(values, "{:.1f}", short=True) + (
                f" [{min(values):.1f}, {max(values):.1f}]" if len(values) > 1 else "")
        row["minutes"] = f"{sum(r['seconds'] for r in arm_runs) / 60:.0f}"
        rows.append(row)
    gone = [r for r in records.diverged(record) if pilot and not r.get("quick")]
    tail = ("\ndiverged, left out of the table: " + "; ".join(
        f"{r['arm']} seed {r['seed']}" + (f" ({r['variant']})" if r.get("variant") else "")
        for r in gone)) if gone else ""
    return head + "\n" + format_table(rows) + tail


def format_pilot(record: dict, arms, key: str = "train_loss", epochs: int | None = None) -> str:
    """A learning-rate pilot as a table: a row per rate, a column per arm, the last epoch's
    ``key`` averaged over the variant's seeds (``diverged`` where the loss became inf or NaN),
    then the rate the rule of :func:`cnnlib.records.pilot_choice` (lowest ``key``) chose for
    each arm. ``epochs`` keeps the pilots of that length, where a record also holds longer
    pilot runs."""
    if not isinstance(record, dict) or not isinstance(record.get("runs"), list):
        raise ValueError(f"record must be an experiment record (records.load_record), got "
                         f"{type(record).__name__}")
    if isinstance(arms, str) or not all(isinstance(a, str) for a in arms):
        raise ValueError(f"arms is a list of arm names, such as ['relu', 'tanh'], got {arms!r}")
    arms = list(arms)
    if not arms or len(set(arms)) < len(arms):
        raise ValueError(f"arms names each arm once, at least one; got {arms}")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)):
        raise ValueError(f"epochs is a whole number of epochs or None, got {epochs!r}")
    pilots = [r for r in record["runs"] if r.get("pilot") and not r.get("quick")]
    unknown = [a for a in arms if a not in {r["arm"] for r in pilots}]
    if unknown:
        raise ValueError(f"the record {record.get('name')!r} has no pilot runs of {unknown}; "
                         f"its pilot arms are {sorted({r['arm'] for r in pilots})}")
    chosen_runs = [r for r in pilots if r["arm"] in arms
                   and (epochs is None or r["epochs"] == epochs)]
    if not chosen_runs:
        raise ValueError(f"the record {record.get('name')!r} has no pilot runs of {arms} of "
                         f"{epochs} epochs; its pilots ran "
                         f"{sorted({r['epochs'] for r in pilots})} epochs")
    lengths = sorted({r["epochs"] for r in chosen_runs})
    if len(lengths) > 1:
        raise ValueError(f"the pilots of {arms} ran {lengths} epochs, and a longer run has had "
                         "more time: pass epochs= to show the pilots of one length")
    found: dict = {}  # (lr, arm) -> {variant: [values]}
    for run in chosen_runs:
        lr = run.get("hyper", {}).get("lr")
        if not isinstance(lr, (int, float)) or isinstance(lr, bool):
            raise ValueError(f"a pilot run of arm {run['arm']!r} (seed {run['seed']}) has no "
                             f"learning rate in its hyper-parameters: {run.get('hyper')!r}")
        value = None if run.get("diverged") else records._curve(run, key)[-1]
        found.setdefault((lr, run["arm"]), {}).setdefault(run.get("variant", ""), []).append(
            value)
    for (lr, arm), variants in found.items():
        if len(variants) > 1:
            raise ValueError(f"arm {arm!r} has {len(variants)} pilot settings at lr {lr:g} "
                             f"({sorted(variants)}): a table by rate would merge them")

    def shown(values: list) -> str:
        if any(v is None for v in values):
            return "diverged"
        mean = sum(values) / len(values)
        text = f"{mean:.3f}" if math.isfinite(mean) else "not finite"
        return text + (f" ({len(values)} seeds)" if len(values) > 1 else "")

    rates = sorted({lr for lr, _ in found})
    rows = [{"learning rate": f"{lr:g}",
             **{arm: shown(next(iter(found[lr, arm].values()))) if (lr, arm) in found else ""
                for arm in arms}}
            for lr in rates]
    chosen = records.pilot_choice(record, key, lengths[0])
    picks = ", ".join(f"{arm} {chosen[arm]['hyper']['lr']:g}" for arm in arms if arm in chosen)
    return f"{format_table(rows)}\nchosen (lowest {key}): {picks}"
