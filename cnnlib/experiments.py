"""The book's controlled experiments: one design each, run per arm and seed, kept as records.

    python -m cnnlib.experiments list
    python -m cnnlib.experiments run degradation --seeds 0,1,2 --out experiments/
    python -m cnnlib.experiments run degradation --arms plain-56 --seeds 0 --quick

An experiment fixes everything but the thing it compares (its *arms*): data, budget, optimiser
and schedule are the same for every arm, and a seed fixes the initial weights and the order of
the batches, so that the arms of one seed are paired. Each finished run is appended to the
experiment's record (:mod:`cnnlib.records`), which the chapters read. Training goes through
``fit`` with a checkpoint per run, so a run stopped by the end of a sitting resumes where it
stopped. ``--quick`` trains a few steps on a few images, to check the code, and writes nothing
unless ``--out`` is given; a quick run is marked as such in its record.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .data import channel_stats, dataset_info, load_tensors, subset
from .loader import TensorLoader
from .models.resnet import cifar_resnet
from .optim import one_cycle
from .records import append_run, has_run, load_record, record_file
from .results import device_label
from .settings import pick_device, seed_everything, versions
from .train import fit


@dataclass(frozen=True)
class Budget:
    """How much an experiment trains: images, their size, epochs, batch."""

    train_size: int
    test_size: int
    epochs: int
    image_size: int = 32
    batch_size: int = 128


@dataclass(frozen=True)
class Experiment:
    """A design: the arms it compares, the budget, and how one arm is built and optimised."""

    name: str
    question: str
    arms: tuple[str, ...]
    budget: Budget
    hyper: dict
    build: Callable[[str], torch.nn.Module]
    optimiser: Callable[[torch.nn.Module, dict, Budget, int], tuple]
    dataset: str = "cifar10"
    augment: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    def design(self) -> dict:
        """What the record stores about the design (everything but code)."""
        b = self.budget
        return {"question": self.question, "arms": list(self.arms), "dataset": self.dataset,
                "train_size": b.train_size, "test_size": b.test_size, "epochs": b.epochs,
                "image_size": b.image_size, "batch_size": b.batch_size,
                "augment": self.augment, "hyper": dict(self.hyper), "notes": list(self.notes)}


def shrink(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images averaged down to ``size`` × ``size`` (2×2 blocks for 32 → 16), still uint8.

    A quarter of the pixels is a sixteenth of a convolution network's work per image at 16×16
    instead of 32×32 for the same layers (a quarter per layer, and every layer shrinks).
    """
    n = images.shape[-1]
    if size == n:
        return images
    if size > n or n % size:
        raise ValueError(f"can only shrink {n}×{n} images by a whole factor, got size {size}")
    pooled = F.avg_pool2d(images.float(), n // size)
    return pooled.round().clamp(0, 255).to(torch.uint8)


def experiment_data(exp: Experiment, budget: Budget, seed: int, device: torch.device):
    """Train and test loaders for a budget: a seeded subset, shrunk, normalised, on ``device``.

    The subset of images is the same for every seed (subset seed 0), so seeds vary only the
    initial weights and the batches; the statistics come from the shrunk training subset.
    """
    x_train, y_train = load_tensors(exp.dataset, train=True)
    x_test, y_test = load_tensors(exp.dataset, train=False)
    x_train, y_train = subset(x_train, y_train, budget.train_size, seed=0)
    x_test, y_test = subset(x_test, y_test, budget.test_size, seed=1)
    x_train, x_test = shrink(x_train, budget.image_size), shrink(x_test, budget.image_size)
    mean, std = channel_stats(x_train)
    classes = len(dataset_info(exp.dataset).classes)
    padding = max(1, 4 * budget.image_size // 32)  # the paper's 4 pixels at 32×32
    train = TensorLoader(x_train, y_train, batch_size=budget.batch_size, shuffle=True,
                         augment=exp.augment, padding=padding, mean=mean, std=std,
                         device=device, seed=seed, num_classes=classes)
    test = TensorLoader(x_test, y_test, batch_size=1000, shuffle=False, mean=mean, std=std,
                        device=device, seed=seed, num_classes=classes)
    return train, test


def _degradation_model(arm: str) -> torch.nn.Module:
    kind, depth = arm.split("-")
    return cifar_resnet(int(depth), shortcut=kind == "resnet", shortcut_type="A")


def _sgd(model, hyper: dict, budget: Budget, train_loader):
    """SGD with momentum under the design's schedule: ``"step"`` (the rate divided by 10 at the
    fractions ``decay_at`` of the epochs, as the paper) or ``"one_cycle"`` (the book's usual:
    warm-up to ``lr`` over ``pct_start`` of the steps, then annealed to almost zero).

    The step schedule is a ``LambdaLR`` rather than ``MultiStepLR``: the same rates, and a
    state that a checkpoint can hold (``MultiStepLR`` keeps its milestones in a ``Counter``).
    """
    if hyper.get("schedule", "step") == "one_cycle":
        optimiser, scheduler = one_cycle(model, train_loader, budget.epochs, hyper["lr"],
                                         momentum=hyper["momentum"],
                                         weight_decay=hyper["weight_decay"],
                                         pct_start=hyper.get("pct_start", 0.3))
        return optimiser, scheduler, True
    optimiser = torch.optim.SGD(model.parameters(), lr=hyper["lr"], momentum=hyper["momentum"],
                                weight_decay=hyper["weight_decay"])
    milestones = sorted({max(1, round(f * budget.epochs)) for f in hyper["decay_at"]})
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, functools.partial(_step_factor, milestones=tuple(milestones)))
    return optimiser, scheduler, False


def check_hyper(hyper: dict) -> dict:
    """The optimiser's settings, checked before any data is read: a known schedule (``step``
    needs ``decay_at``, fractions of the epochs), a rate above 0, momentum from 0 to below 1,
    a weight decay of 0 or more."""
    schedule = hyper.get("schedule", "step")
    if schedule not in ("step", "one_cycle"):
        raise ValueError(f"schedule must be 'step' or 'one_cycle', got {schedule!r}")
    for key, low, high, meaning in (("lr", 0, None, "above 0"),
                                    ("momentum", 0, 1, "from 0 to below 1"),
                                    ("weight_decay", 0, None, "0 or more"),
                                    ("pct_start", 0, 1, "a fraction from 0 to 1")):
        if key not in hyper and key == "pct_start":
            continue
        value = hyper.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= low \
            and (high is None or value < high) and (key != "lr" or value > 0)
        if not ok:
            raise ValueError(f"{key} must be a number {meaning}, got {value!r}")
    decay_at = hyper.get("decay_at")
    if schedule == "step" and (not isinstance(decay_at, (list, tuple)) or not decay_at
                               or not all(isinstance(f, (int, float)) and 0 < f < 1
                                          for f in decay_at)):
        raise ValueError(f"the step schedule needs decay_at, the fractions of the epochs at "
                         f"which the rate is divided by 10 (e.g. [0.5, 0.75]), got {decay_at!r}")
    return hyper


def _step_factor(epoch: int, milestones: tuple[int, ...]) -> float:
    return 0.1 ** sum(epoch >= m for m in milestones)


EXPERIMENTS: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    EXPERIMENTS[exp.name] = exp
    return exp


register(Experiment(
    name="degradation",
    question="Does a deeper plain network train worse than a shallower one, and a residual "
             "network of the same depth not?",
    arms=("plain-20", "plain-56", "resnet-20", "resnet-56"),
    budget=Budget(train_size=10_000, test_size=10_000, epochs=15, image_size=16),
    hyper={"optimizer": "SGD", "schedule": "one_cycle", "lr": 0.1, "pct_start": 0.3,
           "momentum": 0.9, "weight_decay": 1e-4,
           "shortcut": "A (zero padding, as the paper on CIFAR-10)"},
    build=_degradation_model,
    optimiser=_sgd,
    notes=("The paper's CIFAR-10 networks (16-32-64 channels, 6n + 2 layers, option A "
           "shortcuts) with its optimiser (SGD, momentum 0.9, weight decay 1e-4, peak rate "
           "0.1, batches of 128, crops and flips), shrunk to fit a CPU: 10,000 training "
           "images averaged down to 16×16, 15 epochs (1,185 steps instead of 64,000), and "
           "the book's one-cycle schedule instead of the paper's step decay, which a pilot "
           "found too slow for so few steps.",),
))


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


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
    :data:`QUICK_BUDGET` at the design's image size.
    """
    exp = get_experiment(name)
    hyper = check_hyper({**exp.hyper, **(hyper or {})})
    if arm not in exp.arms:
        raise ValueError(f"{name} has the arms {list(exp.arms)}, not {arm!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if out is not None and not replace and record_file(name, out).exists() and has_run(
            load_record(name, out), arm, seed, pilot, quick):
        raise FileExistsError(f"{record_file(name, out)} already has {arm!r} with seed {seed} "
                              f"(pilot={pilot}, quick={quick}): nothing was trained. Pass "
                              "replace=True (--replace) to train it again and replace it")
    if (epochs is not None or hyper != exp.hyper) and not (pilot or quick):
        raise ValueError("a run with other epochs or hyper-parameters than the design's is a "
                         "pilot: pass pilot=True (--pilot), or change the design")
    budget = exp.budget
    if quick:
        budget = Budget(QUICK_BUDGET.train_size, QUICK_BUDGET.test_size, QUICK_BUDGET.epochs,
                        budget.image_size, QUICK_BUDGET.batch_size)
    if epochs is not None:
        budget = Budget(budget.train_size, budget.test_size, epochs, budget.image_size,
                        budget.batch_size)
    dev = pick_device(device)
    if out is not None:
        Path(out).expanduser().mkdir(parents=True, exist_ok=True)
    train, test = experiment_data(exp, budget, seed, dev)
    seed_everything(seed)
    model = exp.build(arm).to(dev)
    optimiser, scheduler, per_batch = exp.optimiser(model, hyper, budget, train)
    checkpoint = None
    if checkpoints is not None:
        tag = f"{'pilot-' if pilot else ''}{'quick-' if quick else ''}{budget.epochs}ep"
        if hyper != exp.hyper:
            tag += "-" + "-".join(f"{k}{hyper[k]}" for k in sorted(hyper)
                                  if hyper[k] != exp.hyper.get(k))
        checkpoint = Path(checkpoints).expanduser() / f"{name}-{arm}-seed{seed}-{tag}.pt"
    history = fit(model, train, test, epochs=budget.epochs, optimizer=optimiser,
                  scheduler=scheduler, scheduler_per_batch=per_batch, progress=progress,
                  checkpoint=checkpoint, resume=checkpoint is not None)
    result = {
        "arm": arm, "seed": seed, "epochs": budget.epochs, "train_size": budget.train_size,
        "test_size": budget.test_size, "image_size": budget.image_size,
        "batch_size": budget.batch_size, "steps": budget.epochs * len(train),
        "hyper": hyper, "device": device_label(dev),
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "seconds": round(sum(history["seconds"]), 1), "pilot": pilot, "quick": quick,
        "date": datetime.date.today().isoformat(), "versions": versions(),
        "machine": platform.machine(),
        "curves": {key: history[key] for key in ("train_loss", "train_acc", "test_loss",
                                                 "test_acc", "lr")},
        "metrics": {"final_train_error": round(100 * (1 - history.last["train_acc"]), 2),
                    "final_test_error": round(100 * (1 - history.last["test_acc"]), 2)},
    }
    if out is not None:
        append_run(name, result, out, design=exp.design(), replace=replace)
    return result


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
    args = p.parse_args(argv)
    if args.command == "run":
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
        try:
            args.seeds = [int(s) for s in args.seeds.split(",")]
        except ValueError:
            p.error(f"--seeds is a comma-separated list of whole numbers, got {args.seeds!r}")
        if any(seed < 0 for seed in args.seeds) or len(set(args.seeds)) < len(args.seeds):
            p.error(f"--seeds are different whole numbers >= 0, got {args.seeds}")
        if args.out is None and not args.quick:
            p.error("--out FOLDER is required (where the record is written), except with --quick")
        if args.epochs is not None and args.epochs < 1:
            p.error(f"--epochs must be at least 1, got {args.epochs}")
        if args.threads is not None and args.threads < 1:
            p.error(f"--threads must be at least 1, got {args.threads}")
        args.hyper = {}
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep or key not in exp.hyper and key != "pct_start":
                p.error(f"--set takes KEY=VALUE with a key of {sorted(exp.hyper)} or "
                        f"pct_start, got {item!r}")
            args.hyper[key] = _number(value)
        if (args.hyper or args.epochs) and not (args.pilot or args.quick):
            p.error("--set and --epochs change the design: they are for a pilot (--pilot)")
        try:
            check_hyper({**exp.hyper, **args.hyper})
        except ValueError as error:
            p.error(f"--set: {error}")
        if args.out and Path(args.out).expanduser().is_file():
            p.error(f"--out is a folder for the record; {args.out} is a file")
    return args


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
    for seed in args.seeds:
        for arm in args.arms:
            run = run_arm(args.name, arm, seed, device=args.device, quick=args.quick,
                          out=args.out, checkpoints=args.checkpoints, pilot=args.pilot,
                          epochs=args.epochs, hyper=args.hyper, replace=args.replace)
            m = run["metrics"]
            print(f"{args.name} {arm} seed {seed}: train error {m['final_train_error']:.2f} %, "
                  f"test error {m['final_test_error']:.2f} %, {run['seconds']:.0f} s",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
