"""The book's controlled experiments: one design each, run per arm and seed, kept as records.

    python -m cnnlib.experiments list
    python -m cnnlib.experiments run degradation --seeds 0,1,2 --out experiments/
    python -m cnnlib.experiments run degradation --arms plain-56 --seeds 0 --quick

The designs live in :mod:`cnnlib.designs`. A seed fixes the initial weights and the order of
the batches, so that the arms of one seed are paired. Each finished run is appended to the
experiment's record (:mod:`cnnlib.records`), which the chapters read. Training goes through
``fit`` with a checkpoint per run, so a run stopped by the end of a sitting resumes where it
stopped. ``--quick`` trains a few steps on a few images, to check the code, and writes nothing
unless ``--out`` is given; a quick run is marked as such in its record.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import io
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

from ._args import whole_number
from ._arm_run import (RunInterrupted, check_types, follow, huge_weights, probe_trace,
                       stopped_line, whole_seed)
from ._design_data import arm_budget, experiment_data, shrink  # noqa: F401 (public names)
from ._fit_checks import DivergedWarning
from .checkpoint import read_checkpoint
from .designs import (EXPERIMENTS, Budget, Experiment, _sgd, check_hyper,  # noqa: F401
                      finetune_sgd, get_experiment)
from .records import append_run, has_run, load_record, record_file, written_file
from .results import device_label
from .settings import pick_device, seed_everything, versions
from .test_time import VIEWS, view_errors
from .train import fit


QUICK_BUDGET = Budget(train_size=256, test_size=256, epochs=1, batch_size=64)


def run_arm(name: str, arm: str, seed: int, *, device=None, quick: bool = False,
            out: str | Path | None = None, checkpoints: str | Path | None = None,
            pilot: bool = False, epochs: int | None = None, hyper: dict | None = None,
            progress: bool = False, replace: bool = False) -> dict:
    """Train one arm of experiment ``name`` with ``seed``; return the run, appended to ``out``.

    ``checkpoints`` is the folder of the per-run checkpoint, so that a stopped run resumes.
    ``epochs`` and ``hyper`` override the design's (a pilot of another length or schedule;
    a run that overrides them must be a pilot, so that the record's runs share one design);
    ``quick`` trains
    :data:`QUICK_BUDGET` at the design's image size. A pilot's or quick run's changes are its
    ``variant`` (``"lr0.01"``): with the arm and seed, it keys the run in the record.
    """
    return _train_arm(name, arm, seed, device=device, quick=quick, out=out,
                      checkpoints=checkpoints, pilot=pilot, epochs=epochs, hyper=hyper,
                      progress=progress, replace=replace)[0]


def train_model(name: str, arm: str, seed: int, *, device=None, quick: bool = False,
                checkpoints: str | Path | None = None, progress: bool = False):
    """The trained network of one run of the design, in evaluation mode, and its run: what a
    record keeps only as numbers, for a page that measures the network itself. Nothing is
    written to a record; with ``checkpoints``, a finished run is read back instead of trained
    again (its run then names this call's device, threads and date)."""
    run, model = _train_arm(name, arm, seed, device=device, quick=quick,
                            checkpoints=checkpoints, progress=progress)
    return model.eval(), run


def _train_arm(name: str, arm: str, seed: int, *, device=None, quick: bool = False,
            out: str | Path | None = None, checkpoints: str | Path | None = None,
            pilot: bool = False, epochs: int | None = None, hyper: dict | None = None,
            progress: bool = False, replace: bool = False) -> dict:
    """:func:`run_arm`, returning the trained model with the run."""
    check_types(quick=quick, pilot=pilot, progress=progress, replace=replace, hyper=hyper,
                 out=out, checkpoints=checkpoints)
    exp = get_experiment(name)
    if arm not in exp.arms:
        raise ValueError(f"{name} has the arms {list(exp.arms)}, not {arm!r}")
    base = exp.hyper_for(arm)
    hyper = _pilot_hyper(base, hyper)
    _check_reads_body_lr(exp, hyper)
    seed = whole_seed(seed)
    if epochs is not None:
        epochs = whole_number("epochs", epochs, 1, meaning="the epochs a pilot trains; None "
                              "for the design's")
    if (epochs is not None or hyper != base) and not (pilot or quick):
        raise ValueError("a run with other epochs or hyper-parameters than the design's is a "
                         "pilot: pass pilot=True (--pilot), or change the design")
    budget = exp.budget
    if quick:
        budget = Budget(QUICK_BUDGET.train_size, QUICK_BUDGET.test_size, QUICK_BUDGET.epochs,
                        budget.image_size, QUICK_BUDGET.batch_size)
    if epochs is not None:
        budget = Budget(budget.train_size, budget.test_size, epochs, budget.image_size,
                        budget.batch_size)
    budget = arm_budget(exp, arm, budget)
    variant = _variant(hyper, base, epochs) if pilot or quick else ""
    if out is not None and written_file(record_file(name, out)).exists():
        _check_record_before_training(exp, out, arm, seed, pilot, quick, variant, replace)
    dev = pick_device(device)
    if out is not None:
        Path(out).expanduser().mkdir(parents=True, exist_ok=True)
    train, test = experiment_data(exp, budget, seed, dev, arm)
    seed_everything(seed)
    model = exp.build(arm).to(dev)
    optimiser, scheduler, per_batch = exp.optimiser(model, hyper, budget, train)
    checkpoint = None
    if checkpoints is not None:
        checkpoint = checkpoint_file(exp, arm, seed, budget, hyper, pilot, quick, checkpoints)
        if replace and checkpoint.exists():  # train again, as asked; keep the old file
            checkpoint.replace(checkpoint.with_suffix(".pt.replaced"))
    common = {
        "arm": arm, "seed": seed, "epochs": budget.epochs, "train_size": budget.train_size,
        "test_size": budget.test_size, "image_size": budget.image_size,
        "batch_size": budget.batch_size, "steps": budget.epochs * len(train),
        "hyper": hyper, "device": device_label(dev),
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "pilot": pilot, "quick": quick, **({"variant": variant} if variant else {}),
        "date": datetime.date.today().isoformat(), "versions": versions(),
        "machine": platform.machine(),
    }
    probe, followed = follow(exp, model, checkpoint, budget.epochs * len(train), quick)
    try:
        with probe:
            history, blew_up = _fit(model, train, test, epochs=budget.epochs,
                                    optimizer=optimiser, scheduler=scheduler,
                                    scheduler_per_batch=per_batch, progress=progress,
                                    checkpoint=checkpoint, resume=checkpoint is not None)
    except FloatingPointError as error:
        if not pilot:
            raise
        result = {**common, "seconds": None, "curves": {}, "metrics": None,
                  "diverged": True, "error": str(error).split("\n")[0][:300]}
        if out is not None:
            append_run(name, result, out, design=exp.design(), replace=replace)
        return result, model
    if len(history) < budget.epochs:  # fit returns the completed epochs after Ctrl-C
        raise RunInterrupted(stopped_line(name, arm, seed, len(history), budget.epochs,
                                      checkpoint))
    result = {
        **common, "seconds": round(sum(history["seconds"]), 1),
        "curves": {key: history[key] for key in ("train_loss", "train_acc", "test_loss",
                                                 "test_acc", "lr")},
        "metrics": {"final_train_error": round(100 * (1 - history.last["train_acc"]), 2),
                    "final_test_error": round(100 * (1 - history.last["test_acc"]), 2)},
    }
    if exp.probe is not None:
        result["probe"] = probe_trace(name, probe, followed, budget.epochs * len(train))
    blew_up = blew_up or huge_weights(model)  # a finished checkpoint resumes without a warning
    if blew_up:  # finite but meaningless numbers: a diverged run, not an ordinary one
        if not pilot:
            raise FloatingPointError(
                f"{name} {arm} seed {seed} diverged, and only a pilot records a diverged run: "
                f"not recorded. {blew_up[0]}. Change the design (a lower learning rate for "
                "this arm: a pilot, --pilot --set lr=..., finds one)")
        result.update(metrics=None, diverged=True, error=blew_up[0][:300])
    if out is not None:
        append_run(name, result, out, design=exp.design(), replace=replace)
    return result, model


def _fit(*args, **kwargs):
    """``fit``, and the DivergedWarnings it gave (shown as well): a run whose weights blew up
    is recorded as diverged. fit's own line after Ctrl-C is left out: run_arm's says how to
    resume with the command."""
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught, \
                contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("always", DivergedWarning)
            history = fit(*args, **kwargs)
    finally:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return history, [str(w.message).split(". Lower the learning rate")[0] for w in caught
                     if issubclass(w.category, DivergedWarning)]


def checkpoint_file(exp: Experiment, arm: str, seed: int, budget: Budget, hyper: dict,
                    pilot: bool, quick: bool, folder) -> Path:
    """Where a run keeps its checkpoint: one file per arm, seed, budget and changed setting,
    named with a digest of everything that decides the run (the budget, the arm's inputs,
    augmentation and initialisation, the hyper-parameters), so that a run of a changed design
    never resumes another design's weights."""
    if folder is None or not str(folder).strip():
        raise ValueError("the checkpoint folder is empty: name a folder (e.g. checkpoints/)")
    tag = f"{'pilot-' if pilot else ''}{'quick-' if quick else ''}{budget.epochs}ep"
    if hyper != exp.hyper:
        tag += "-" + "-".join(f"{k}{hyper[k]}" for k in sorted(hyper)
                              if hyper[k] != exp.hyper.get(k))
    spec = {"budget": dataclasses.asdict(budget), "hyper": hyper, "dataset": exp.dataset,
            "augment": exp.setting(arm, "augment", exp.augment),
            "settings": exp.arm_settings.get(arm, {}),
            **({"classes": exp.classes} if exp.classes else {}),
            **({"input_stats": exp.input_stats} if exp.input_stats else {}),
            **({"pool": exp.budget.train_size}
               if "per_class" in exp.arm_settings.get(arm, {}) else {})}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
    name = f"{exp.name}-{arm}-seed{seed}-{tag}-{digest.hexdigest()[:8]}.pt"
    return Path(folder).expanduser() / name.replace("/", "_").replace(" ", "")


TUNABLE = ("lr", "momentum", "weight_decay", "schedule", "pct_start", "decay_at", "body_lr")


def _pilot_hyper(base: dict, changes: dict | None) -> dict:
    """The arm's hyper-parameters with a pilot's ``changes``: only what the optimiser reads
    may change (a changed schedule drops the old schedule's own setting), checked."""
    changes = dict(changes or {})
    fixed = sorted(k for k in changes if k not in TUNABLE and changes[k] != base.get(k))
    if fixed:
        raise ValueError(f"a pilot may change {list(TUNABLE)}, not {fixed}: those are part "
                         "of the design (cnnlib.designs); change them there")
    hyper = {**base, **changes}
    if changes.get("schedule", base.get("schedule")) != base.get("schedule"):
        for key in ("pct_start", "decay_at"):
            if key in base and key not in changes:
                del hyper[key]
    return check_hyper(hyper)


def _check_reads_body_lr(exp, hyper: dict) -> None:
    if hyper.get("body_lr") is not None and exp.optimiser is not finetune_sgd:
        raise ValueError(f"body_lr is read only by designs on a pretrained body (optimiser "
                         f"finetune_sgd); {exp.name} would record it but not use it")


def _check_record_before_training(exp, out, arm, seed, pilot, quick, variant, replace):
    """What append_run would refuse after training, refused before it: a damaged record, a
    record of another design, a run it already holds (unless ``replace``)."""
    path = record_file(exp.name, out)
    record = load_record(exp.name, out)
    design = json.loads(json.dumps(exp.design()))
    if not replace and has_run(record, arm, seed, pilot, quick, variant):
        raise FileExistsError(f"{path} already has {arm!r} with seed {seed} "
                              f"(pilot={pilot}, quick={quick}"
                              f"{f', variant={variant!r}' if variant else ''}): nothing was "
                              "trained. Pass replace=True (--replace) to train it again and "
                              "replace it")
    if record["design"] != design and any(not r.get("pilot") for r in record["runs"]):
        raise ValueError(f"{path} holds runs of another design than {exp.name}'s as it is "
                         "now: nothing was trained. Write this run to another folder (--out)")


VIEWS_RECORD = "test_time_augmentation"


def measure_views(name: str, arm: str, seed: int, checkpoints, *, out=None, device=None,
                  quick: bool = False, replace: bool = False) -> list[dict]:
    """Test the trained model of ``arm`` and ``seed`` (its checkpoint in ``checkpoints``) with
    each view of :mod:`cnnlib.test_time` (centre, mirror, ten crops), on the design's test
    images; append one evaluation run per view, arm ``"<arm>/<view>"``, to the record
    ``test_time_augmentation`` in ``out``. The views of one model are paired."""
    check_types(quick=quick, replace=replace, hyper=None, out=out, checkpoints=checkpoints)
    seed = whole_seed(seed)
    exp = get_experiment(name)
    if arm not in exp.arms:
        raise ValueError(f"{name} has the arms {list(exp.arms)}, not {arm!r}")
    budget = exp.budget if not quick else Budget(
        QUICK_BUDGET.train_size, QUICK_BUDGET.test_size, QUICK_BUDGET.epochs,
        exp.budget.image_size, QUICK_BUDGET.batch_size)
    hyper, budget = exp.hyper_for(arm), arm_budget(exp, arm, budget)
    path = checkpoint_file(exp, arm, seed, budget, hyper, False, quick, checkpoints)
    if not path.is_file():
        raise FileNotFoundError(f"no trained model at {path}: train it first with "
                                f"python -m cnnlib.experiments run {name} --arms {arm} "
                                f"--seeds {seed} --checkpoints {checkpoints}"
                                f"{' --quick' if quick else ''}")
    dev = pick_device(device)
    state = read_checkpoint(path)
    if state["epoch"] != budget.epochs:
        raise ValueError(f"{path} stopped after epoch {state['epoch']} of {budget.epochs}: "
                         "finish its training first (run it again; it resumes)")
    model = exp.build(arm).to(dev)
    model.load_state_dict(state["model"])
    if out is not None and not replace and record_file(VIEWS_RECORD, out).exists():
        held = load_record(VIEWS_RECORD, out)
        if any(has_run(held, f"{arm}/{view}", seed, False, quick) for view in VIEWS):
            raise FileExistsError(f"{record_file(VIEWS_RECORD, out)} already has the views of "
                                  f"{arm!r} seed {seed}: nothing was measured. Pass "
                                  "replace=True (--replace) to measure them again")
    _, test = experiment_data(exp, budget, seed, dev, arm)
    start = time.perf_counter()
    errors = view_errors(model, test, VIEWS, padding=max(1, 4 * budget.image_size // 32))
    seconds = round(time.perf_counter() - start, 1)
    design = {"question": "How much do averaged views of each test image (the image and its "
                          "mirror; AlexNet's ten crops) lower the test error of the same "
                          "trained models?",
              "model_record": name, "model_arms": list(exp.arms), "views": list(VIEWS),
              "arms": [f"{a}/{v}" for a in exp.arms for v in VIEWS],
              "test_size": budget.test_size, "image_size": budget.image_size}
    results = []
    for view, error in errors.items():
        run = {"arm": f"{arm}/{view}", "seed": seed, "epochs": budget.epochs,
               "train_size": budget.train_size, "hyper": hyper, "device": device_label(dev),
               "seconds": seconds, "curves": {}, "evaluation": True, "quick": quick,
               "date": datetime.date.today().isoformat(), "versions": versions(),
               "model": {"record": name, "arm": arm, "seed": seed},
               "metrics": {"final_test_error": round(error, 2)}}
        if out is not None:
            append_run(VIEWS_RECORD, run, out, design=design, replace=replace)
        results.append(run)
    return results


def _one_line(name: str, run: dict) -> str:
    """What the command prints as a run ends; a pilot that diverged has no metrics."""
    head = f"{name} {run['arm']} seed {run['seed']}"
    if run.get("variant"):
        head += f" ({run['variant']})"
    if run.get("diverged"):
        return f"{head}: diverged ({run['error']})"
    m = run["metrics"]
    return (f"{head}: train error {m['final_train_error']:.2f} %, "
            f"test error {m['final_test_error']:.2f} %, {run['seconds']:.0f} s")


def _variant(hyper: dict, base: dict, epochs: int | None) -> str:
    """What a pilot changed from the arm's design, as a short name (``"lr0.01"``)."""
    parts = [f"{k}{hyper[k]}" for k in sorted(hyper) if hyper[k] != base.get(k)]
    return "-".join(parts + ([f"{epochs}ep"] if epochs is not None else []))


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m cnnlib.experiments", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the experiments and their arms")
    r = sub.add_parser("run", help="train arms × seeds of one experiment")
    r.add_argument("name")
    r.add_argument("--arms", help="comma-separated (default: every arm)")
    r.add_argument("--seeds", default="0,1,2", help="comma-separated (default 0,1,2)")
    r.add_argument("--out", help="folder of the record to append to (required unless --quick)")
    r.add_argument("--checkpoints", help="folder for per-run checkpoints (resume a stopped run)")
    r.add_argument("--pilot", action="store_true", help="mark the runs as a pilot's")
    r.add_argument("--epochs", type=int, help="override the design's epochs (a pilot)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyper-parameter for a pilot, e.g. --set schedule=one_cycle "
                        "--set lr=0.2 (numbers are read as numbers)")
    r.add_argument("--quick", action="store_true", help="a few steps on a few images")
    r.add_argument("--threads", type=int, help="torch threads (one per run when several share "
                                                "the CPU)")
    r.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    r.add_argument("--replace", action="store_true", help="replace recorded runs of the same "
                                                           "arm and seed")
    v = sub.add_parser("views", help="test trained models with test-time augmentation")
    v.add_argument("name")
    v.add_argument("--arms", help="comma-separated (default: every arm)")
    v.add_argument("--seeds", default="0,1,2", help="comma-separated (default 0,1,2)")
    v.add_argument("--checkpoints", required=True, help="the folder the runs trained into")
    v.add_argument("--out", help="folder of the test_time_augmentation record")
    v.add_argument("--quick", action="store_true", help="the quick runs' models")
    v.add_argument("--threads", type=int, help="torch threads")
    v.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    v.add_argument("--replace", action="store_true", help="replace recorded measurements")
    args = p.parse_args(argv)
    if args.command != "list":
        _check_device(p, args.device)
    if args.command == "views":
        _arms_and_seeds(p, args)
        if args.out is None and not args.quick:
            p.error("--out FOLDER is required (where the record is written), except with --quick")
        return args
    if args.command == "run":
        exp = _arms_and_seeds(p, args)
        if args.out is None and not args.quick:
            p.error("--out FOLDER is required (where the record is written), except with --quick")
        if args.epochs is not None and args.epochs < 1:
            p.error(f"--epochs must be at least 1, got {args.epochs}")
        if args.threads is not None and args.threads < 1:
            p.error(f"--threads must be at least 1, got {args.threads}")
        args.hyper = {}
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep or key not in TUNABLE:
                p.error(f"--set takes KEY=VALUE with a key of {list(TUNABLE)}, got {item!r}")
            args.hyper[key] = _number(value)
        if (args.hyper or args.epochs) and not (args.pilot or args.quick):
            p.error("--set and --epochs change the design: they are for a pilot (--pilot)")
        try:  # each arm's own settings with the changes, before any run
            for arm in args.arms:
                _check_reads_body_lr(exp, _pilot_hyper(exp.hyper_for(arm), args.hyper))
        except ValueError as error:
            p.error(f"--set: {error}")
        if args.out and Path(args.out).expanduser().is_file():
            p.error(f"--out is a folder for the record; {args.out} is a file")
        if args.checkpoints is not None and not args.checkpoints.strip():
            p.error("--checkpoints is empty: name a folder (e.g. checkpoints), or leave it "
                    "out")
    return args


def _check_device(p, device: str | None) -> None:
    """--device names a device this machine has: an 'error:' line, not a traceback later."""
    if device is None:
        return
    try:
        pick_device(device)
    except RuntimeError as error:  # no such GPU here, or not a device name at all
        why = str(error).split(" Pass device=None")[0].rstrip(".")
        p.error(f"--device {device}: {why}; leave --device out to choose automatically, or "
                "give --device cpu")


def _arms_and_seeds(p, args) -> Experiment:
    """The experiment named on the command line, with its --arms and --seeds checked: known
    arms, none twice, none empty; different whole seeds >= 0."""
    if args.name not in EXPERIMENTS:
        p.error(f"unknown experiment {args.name!r}; known: {sorted(EXPERIMENTS)}")
    exp = get_experiment(args.name)
    if args.arms is not None and not args.arms.strip(", "):
        p.error(f"--arms is empty; leave it out for every arm of {args.name}, or name "
                f"some of {list(exp.arms)}")
    args.arms = args.arms.split(",") if args.arms else list(exp.arms)
    bad = [a for a in args.arms if a not in exp.arms]
    if bad:
        p.error(f"{args.name} has the arms {list(exp.arms)}, not {bad}")
    if len(set(args.arms)) < len(args.arms):
        p.error(f"--arms names an arm twice: {args.arms}")
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds is a comma-separated list of whole numbers, got {args.seeds!r}")
    if any(seed < 0 for seed in args.seeds) or len(set(args.seeds)) < len(args.seeds):
        p.error(f"--seeds are different whole numbers >= 0, got {args.seeds}")
    return exp


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv=None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.command == "list":
        for exp in EXPERIMENTS.values():
            print(f"{exp.name}: {', '.join(exp.arms)}\n  {exp.question}")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "views":
        for seed in args.seeds:
            for arm in args.arms:
                measured = measure_views(args.name, arm, seed, args.checkpoints, out=args.out,
                                         device=args.device, quick=args.quick,
                                         replace=args.replace)
                shown = ", ".join(f"{r['arm'].split('/')[1]} {r['metrics']['final_test_error']:.2f} %"
                                  for r in measured)
                print(f"{args.name} {arm} seed {seed}: test error {shown}", flush=True)
        return 0
    try:
        _run_all(args)
    except KeyboardInterrupt as stop:  # one line instead of a traceback; runs before it stay
        kept = ("are in the record: run the same command again to go on (it skips them)"
                if args.out else "were not recorded (no --out)")
        print(stop if isinstance(stop, RunInterrupted) else
              f"{args.name}: stopped (Ctrl-C); the runs printed above {kept}",
              file=sys.stderr, flush=True)
        return 130
    return 0


def _run_all(args) -> None:
    """Every run the command asked for, seed by seed; a run the record holds is skipped."""
    for seed in args.seeds:
        for arm in args.arms:
            try:
                run = run_arm(args.name, arm, seed, device=args.device, quick=args.quick,
                              out=args.out, checkpoints=args.checkpoints, pilot=args.pilot,
                              epochs=args.epochs, hyper=args.hyper, replace=args.replace)
            except FileExistsError:  # refused before training: a sweep goes on
                print(f"{args.name} {arm} seed {seed}: already in the record, skipped "
                      "(--replace trains it again)", flush=True)
                continue
            print(_one_line(args.name, run), flush=True)


if __name__ == "__main__":
    sys.exit(main())
