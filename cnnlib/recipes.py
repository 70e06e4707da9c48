"""Time-to-accuracy recipes: train a model as fast as this machine allows, stop at a target.

    python -m cnnlib.recipes cifar_resnet18 --target 0.94         # the real run (a GPU)
    python -m cnnlib.recipes cifar_resnet18 --quick                # a smoke test on a CPU

A recipe is the book's ordinary code with every speed switch on: the whole dataset on the device
in a :class:`~cnnlib.loader.TensorLoader` (crop + flip done batch-wise, no Python per image),
:class:`~cnnlib.fast.FastSettings` resolved for the device, SGD with Nesterov momentum on a
one-cycle schedule, label smoothing, and flip test-time augmentation (``tta``, on by default:
the test accuracy of the mean prediction for each image and its mirror image). Test accuracy is
measured after every epoch and training stops at the first epoch that reaches the target. The
wall time counts everything from the first training step to that evaluation (cuDNN autotuning
and per-epoch evaluation included); loading the dataset from disk to the device is measured
separately as ``setup_seconds``.
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import sys
import textwrap
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import dataset_info, load_data
from .fast import FastSettings, settings_for, synchronize
from .models import build_model
from .optim import one_cycle
from .reports import format_recipe
from .results import ResultFile, default_out, format_rate, machine_info
from .settings import RunSettings, pick_device, seed_everything
from .train import StopTraining, evaluate, fit


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a time-to-accuracy run; ``epochs`` is the budget and the length of
    the one-cycle schedule (the run may stop earlier, at ``target``)."""

    model: str
    dataset: str
    target: float
    epochs: int
    batch_size: int = 512
    max_lr: float = 0.4
    pct_start: float = 0.25  # share of the steps spent warming the learning rate up
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    augment: bool = True
    drop_last: bool = True  # every step a full batch: no second cuDNN autotuning for the rest
    tta: bool = True  # test accuracy of the mean over each image and its mirror (FlipAverage)


class FlipAverage(torch.nn.Module):
    """Test-time augmentation: the mean of the logits for an image and for its mirror image.

    Training already shows the network mirrored images, so both are fair guesses; averaging the
    two cancels part of each one's error, at the cost of a second forward pass per test image.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.model(x) + self.model(x.flip(3))) / 2


# cifar_resnet18's defaults were chosen on an H200 on 2026-12-04 from four 30-epoch variants
# (cnnlib/recorded/recipe-cifar_resnet18-cuda-nvidia-h200-2026-12-04-*.json): peak learning rate 0.4
# with flip TTA was the fastest to 94 %, and reached it again with seeds 1 and 2; 0.2 without
# TTA ended at 93.42 %.
RECIPES: dict[str, Recipe] = {
    "cifar_resnet18": Recipe(model="resnet18_cifar", dataset="cifar10", target=0.94, epochs=30),
}

# Quick mode: a smoke test of the whole path on a CPU, not a result.
QUICK = {"train_size": 512, "test_size": 256, "epochs": 1}


def run_recipe(name: str = "cifar_resnet18", *, target: float | None = None,
               epochs: int | None = None, quick: bool = False, model: str | None = None,
               train_size: int | None = None, test_size: int | None = None,
               device: str | torch.device | None = None, seed: int = 0,
               fast: FastSettings | None = None, progress: bool = False,
               root=None, **overrides) -> dict:
    """Run a recipe and return its measured result (a JSON-ready dict); ``overrides`` replace
    other fields of the :class:`Recipe` (``batch_size=256, tta=True``...)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; available: {', '.join(sorted(RECIPES))}")
    unknown = set(overrides) - {f.name for f in fields(Recipe)}
    if unknown:
        raise TypeError(f"not fields of a Recipe: {sorted(unknown)}")
    overrides.update(target=target, epochs=epochs, model=model)
    recipe = replace(RECIPES[name], **{k: v for k, v in overrides.items() if v is not None})
    if quick:
        train_size = QUICK["train_size"] if train_size is None else train_size
        test_size = QUICK["test_size"] if test_size is None else test_size
        recipe = replace(recipe, epochs=QUICK["epochs"] if epochs is None else epochs)
    if not 0 < recipe.target <= 1:
        raise ValueError(f"target is a test accuracy between 0 and 1, got {recipe.target}")
    if recipe.epochs < 1:
        raise ValueError(f"the epoch budget must be at least 1, got {recipe.epochs}")
    device = pick_device(device)
    fast = settings_for(device, fast)
    run = RunSettings(mode="quick" if quick else "full", device=device, seed=seed)
    seed_everything(seed)

    start = time.perf_counter()
    data = load_data(recipe.dataset, run, batch_size=recipe.batch_size, augment=recipe.augment,
                     train_size=train_size, test_size=test_size, root=root,
                     eval_batch_size=fast.eval_batch_size or 1000)
    data.train.channels_last = data.test.channels_last = bool(fast.channels_last)
    data.train.drop_last = recipe.drop_last and data.train.dataset_size > recipe.batch_size
    info = dataset_info(recipe.dataset)
    net = build_model(recipe.model, info.channels, len(info.classes))
    net = net.to(device)
    synchronize(device)
    setup_seconds = time.perf_counter() - start

    optimizer, scheduler = one_cycle(net, data.train, recipe.epochs, recipe.max_lr,
                                     momentum=recipe.momentum, nesterov=recipe.nesterov,
                                     weight_decay=recipe.weight_decay,
                                     pct_start=recipe.pct_start, fast=fast)
    loss_fn = functools.partial(F.cross_entropy, label_smoothing=recipe.label_smoothing)
    judge = FlipAverage(net) if recipe.tta else net
    reached: dict = {}

    def test_and_stop_at_target(epoch, history):
        # the test pass is part of the timed run: fit itself is given no test loader, so that
        # the test accuracy can be that of the mean over each image and its mirror (tta)
        tested = time.perf_counter()
        result = evaluate(judge, data.test, loss_fn, fast=fast)
        history.last.update(test_loss=result["loss"], test_acc=result["acc"],
                            test_seconds=time.perf_counter() - tested)
        if result["acc"] >= recipe.target:
            reached.update(epoch=epoch, seconds=time.perf_counter() - start)
            raise StopTraining

    synchronize(device)
    start = time.perf_counter()
    history = fit(net, data.train, epochs=recipe.epochs, optimizer=optimizer,
                  scheduler=scheduler, scheduler_per_batch=True, loss_fn=loss_fn, fast=fast,
                  progress=progress, callbacks=[test_and_stop_at_target])
    wall = time.perf_counter() - start
    return {
        "kind": "recipe", "recipe": name, "mode": run.mode, "seed": seed,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        **machine_info(device), "settings": asdict(recipe), "fast": fast.as_dict(),
        "train_images": data.train.dataset_size, "test_images": data.test.dataset_size,
        "setup_seconds": setup_seconds, "target": recipe.target,
        "reached": bool(reached), "epochs_to_target": reached.get("epoch"),
        "seconds_to_target": reached.get("seconds"), "epochs_run": len(history),
        "wall_seconds": wall, "final_test_acc": history.last["test_acc"],
        "best_test_acc": max(history["test_acc"]), "history": history.rows,
    }


def images_per_epoch(result: dict) -> int:
    """Training images per epoch of a recorded run (a dropped last batch does not count)."""
    settings, n = result["settings"], result["train_images"]
    if settings.get("drop_last") and n > settings["batch_size"]:
        return n // settings["batch_size"] * settings["batch_size"]
    return n


def training_rate(result: dict) -> float:
    """Median training images/s of a recorded run over its epochs after the first (the first
    pays for cuDNN's autotuning). Runs recorded before ``test_seconds`` existed timed the test
    pass inside the epoch, which makes their rate a few percent low."""
    rows = result["history"][1:] or result["history"]
    return statistics.median(images_per_epoch(result) / row["seconds"] for row in rows)


def variant(result: dict) -> str:
    """How a recorded run differs from the recipe's current defaults, e.g. ``max_lr=0.2, no tta``
    (older files lack fields added since: those ran with the old behaviour, all False)."""
    base = asdict(RECIPES[result["recipe"]])
    settings = {key: result["settings"].get(key, False) for key in base}
    parts = []
    for key, value in settings.items():
        if key in ("target", "model", "dataset") or value == base[key]:
            continue
        parts.append(key if value is True else f"no {key}" if value is False
                     else f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts) or "defaults"


def run_label(result: dict) -> str:
    """A recorded run's name in a legend: its :func:`variant` and, if recorded, its seed."""
    seed = result.get("seed")
    return variant(result) + ("" if seed is None else f", seed {seed}")


def format_recipe_table(results: list[dict]) -> str:
    """One line per recorded run, grouped by device and day: what differed from today's
    defaults, the seed, what it reached how fast, and its training images/s."""
    width = 42
    head = (f"  {'settings (differences from the defaults)':<{width}}{'seed':>5}"
            f"{'result':>20}{'train img/s':>13}")
    lines, group = [], None
    for r in results:
        if (r["device_name"], r["date"][:10]) != group:
            group = (r["device_name"], r["date"][:10])
            lines += ([""] if lines else []) + [f"{group[0]}, {group[1]}", head]
        if r["reached"]:
            outcome = (f"{100 * r['target']:g}% ep {r['epochs_to_target']}, "
                       f"{r['seconds_to_target']:.1f} s")
        else:
            outcome = f"{100 * r['final_test_acc']:.2f}% at {r['wall_seconds']:.1f} s"
        label = variant(r)
        if r["settings"]["model"] != RECIPES[r["recipe"]].model:
            label = f"model={r['settings']['model']}, {label}"
        if r["mode"] == "quick":
            label = f"quick, {label}"
        label_lines = textwrap.wrap(label, width - 1) or [""]
        seed = r.get("seed")
        lines.append(f"  {label_lines[0]:<{width}}{'-' if seed is None else seed:>5}"
                     f"{outcome:>20}{format_rate(training_rate(r)):>13}")
        lines += [f"    {rest}" for rest in label_lines[1:]]
    return "\n".join(lines)


def format_step_times(bench_result: dict, runs: list[dict], model: str = "resnet18_cifar") -> str:
    """Time per training step against batch size, from one bench run (its batch) and recipe runs
    of one machine (median per batch size), next to the time the step's arithmetic would take at
    the device's peak; then a two-point fit of the largest two batches, ``t = a + b * batch``,
    whose ``a`` is the step's fixed cost. What makes a step slow: arithmetic or overhead?"""
    row = bench_result["models"][model]
    flops, peak = row["flops_per_train_image"], bench_result["peak"]["flops"]
    rates = {row["train"]["batch_size"]: row["train"]["book_images_per_s"]}
    for batch in sorted({r["settings"]["batch_size"] for r in runs}):
        measured = sorted(training_rate(r) for r in runs if r["settings"]["batch_size"] == batch)
        rates[batch] = measured[len(measured) // 2]
    lines = [f"{'batch':>6}{'images/s':>10}{'ms per step':>13}{'at peak (ms)':>14}{'of peak':>9}"]
    for batch, rate in sorted(rates.items()):
        lines.append(f"{batch:>6}{rate:>10.0f}{1000 * batch / rate:>13.1f}"
                     f"{1000 * batch * flops / peak:>14.2f}{100 * rate * flops / peak:>8.1f}%")
    if len(rates) >= 2:
        (b1, r1), (b2, r2) = sorted(rates.items())[-2:]
        per_image = (b2 / r2 - b1 / r1) / (b2 - b1)  # seconds per extra image in a step
        lines += ["", f"from batch {b1} to {b2}: {1e6 * per_image:.1f} µs per extra image, "
                      f"so a step's fixed cost is about {1000 * (b1 / r1 - b1 * per_image):.1f} ms"]
    first = [r["history"][0]["seconds"] + r["history"][0].get("test_seconds", 0) for r in runs]
    if first:
        lines.append(f"first epochs of these runs: {min(first):.1f} to {max(first):.1f} s")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m cnnlib.recipes",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("recipe", choices=sorted(RECIPES))
    parser.add_argument("--target", type=_in_range(float, 0, 1, low_open=True),
                        help="test accuracy to stop at (0..1)")
    parser.add_argument("--epochs", type=_in_range(int, 1),
                        help="epoch budget (= one-cycle schedule length)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: {QUICK['train_size']} training images, 1 epoch")
    parser.add_argument("--model", help="another registered model (e.g. lenet5 for a fast check)")
    parser.add_argument("--batch-size", type=_in_range(int, 1), help="training batch size")
    parser.add_argument("--max-lr", type=_in_range(float, 0, low_open=True),
                        help="peak learning rate of the one-cycle")
    parser.add_argument("--label-smoothing", type=_in_range(float, 0, 1))
    parser.add_argument("--weight-decay", type=_in_range(float, 0))
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction,
                        help="test accuracy of the mean over each image and its mirror image")
    parser.add_argument("--train-size", type=_in_range(int, 1))
    parser.add_argument("--test-size", type=_in_range(int, 1))
    parser.add_argument("--device", help="cuda, cpu, ... (default: the best available)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="also torch.compile the model")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    parser.add_argument("--out", type=Path, help="JSON result path (default: ./benchmarks/...)")
    args = parser.parse_args(argv)
    # another model gets its own file name, so it does not overwrite the recipe's own run; the
    # path is checked now, not after training, and an existing file is never replaced
    kind = f"recipe-{args.recipe}" + (f"-{args.model}" if args.model else "")
    mode = "quick" if args.quick else "full"
    try:
        out = ResultFile(args.out or default_out(pick_device(args.device), mode, kind))
    except (ValueError, OSError) as error:
        parser.error(f"--out: {error}")
    result = run_recipe(args.recipe, target=args.target, epochs=args.epochs, quick=args.quick,
                        model=args.model, train_size=args.train_size, test_size=args.test_size,
                        device=args.device, seed=args.seed,
                        fast=FastSettings(compile=args.compile), progress=args.progress,
                        batch_size=args.batch_size, max_lr=args.max_lr,
                        label_smoothing=args.label_smoothing, weight_decay=args.weight_decay,
                        tta=args.tta)
    result["command"] = " ".join(["python -m cnnlib.recipes", *(argv if argv is not None
                                                                 else sys.argv[1:])])
    print(format_recipe(result))  # printed first: a failed write loses nothing measured
    print(f"written: {out.write(result)}")
    return result


def _in_range(kind, low, high=None, low_open: bool = False):
    """An argparse type: a number of ``kind`` from ``low`` (excluded if ``low_open``) to
    ``high``, so that ``--epochs 0`` is an error, not a silent default."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        below = value <= low if low_open else value < low
        if not math.isfinite(value) or below or (high is not None and value > high):
            span = (f"{'above' if low_open else 'at least'} {low}"
                    + (f" and at most {high}" if high is not None else ""))
            raise argparse.ArgumentTypeError(f"{text} is out of range: it must be {span}")
        return value
    return parse


if __name__ == "__main__":
    main()
