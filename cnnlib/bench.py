"""How fast does the book's code train here, and how far is that from what the hardware can do?

    python -m cnnlib.bench --quick        # a few minutes on a laptop CPU
    python -m cnnlib.bench --full         # a longer run for a GPU

Four measurements, each taken side by side in the same run (interleaved repeats, medians):

1. Training and evaluation images/s per model: the book's defaults (``TensorLoader`` on the
   device, ``cnnlib.fit``/``evaluate``, :class:`~cnnlib.fast.FastSettings` for the device)
   against a plain baseline (torchvision ``DataLoader`` with PIL transforms, fp32, contiguous
   layout, a bare loop), and the ratio of the two.
2. The data path alone: one CIFAR-10 epoch with random crop + flip, normalised and on the
   device, through the tensor loader and through ``DataLoader`` + PIL (0 and 2 workers).
3. Trainer overhead: ``cnnlib.fit`` against a bare loop doing the same arithmetic on the same
   batches already on the device, per step (the time inside fit's epoch, as its history
   records it); apart from it, what each ``fit`` call costs outside its epoch
   (checks, the copies of the state kept for Ctrl-C): a call of a few steps would
   count that once-per-call cost as per-step overhead.
4. The physical limit: the device's peak FLOP/s and each model's FLOPs per training image
   (:func:`cnnlib.arithmetic.flops_per_image`), hence the fraction of peak achieved.

Warm-up steps are excluded, CUDA is synchronised before every clock reading, and the JSON file
records the machine, versions, date, mode and every number measured (:mod:`cnnlib.results`).
``cnnlib.results.load_results`` and ``cnnlib.reports.format_results`` turn those files back into
the tables (the book's "Making it fast" page).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import math
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from .arithmetic import flops_per_image
from .data import channel_stats, load_tensors, torchvision_loader
from .fast import (FastSettings, autocast, backend_flags, grad_scaler, make_optimizer, prepare,
                   settings_for, synchronize, to_device)
from .loader import TensorLoader
from .models import build_model, list_models
from .reports import format_result
from .results import (GPU_PEAKS, ResultFile, cpu_peak, default_out, device_peak,
                      machine_info)
from .settings import pick_device, seed_everything
from .train import evaluate, fit

DEFAULT_MODELS = ("lenet5", "alexnet_cifar", "resnet18_cifar")


# ---------------------------------------------------------------------------------------------
# Timing

@dataclass(frozen=True)
class Plan:
    """How long to measure: warm-up steps (not timed: at least ``min_warmup``, then more until
    ``warmup_s`` seconds have passed, at most ``warmup``), then ``repeats`` timed runs of as many
    steps as fill ``target_s`` (within ``min_steps..max_steps``); fewer repeats if the group
    would take longer than ``budget_s``."""

    warmup: int
    min_steps: int
    max_steps: int
    target_s: float
    repeats: int
    budget_s: float
    train_batch: int = 128
    data_images: int = 50_000
    eval_images: int = 10_000
    min_warmup: int = 1
    warmup_s: float = 0.0


PLANS = {
    "quick": Plan(warmup=10, min_steps=1, max_steps=20, target_s=1.5, repeats=3, budget_s=12.0,
                  data_images=10_000, eval_images=2_000, min_warmup=1, warmup_s=0.5),
    "full": Plan(warmup=100, min_steps=20, max_steps=500, target_s=3.0, repeats=5, budget_s=30.0,
                 min_warmup=5, warmup_s=2.0),
}


def _timed(run, n: int, device) -> float:
    synchronize(device)
    start = time.perf_counter()
    run(n)
    synchronize(device)
    return time.perf_counter() - start


def measure(runs: dict, items_per_step: dict, device, plan: Plan, steps: int | None = None,
            max_steps: dict | None = None) -> dict:
    """Items/s of each ``run(n_steps)`` in ``runs``, measured side by side.

    Each run is warmed up one step at a time (the last warm-up step's time chooses its step
    count: enough to fill ``plan.target_s``), then the runs take turns, ``repeats`` times, in
    alternating order (A B, B A, ...): run first, a run was measured about 10 % slower on a CPU.
    ``plan.budget_s`` may lower the number of repeats, but not below two (one in each order)
    unless ``plan.repeats`` asks for one.
    The result is each run's median rate, with the raw times. ``steps`` fixes one step count for
    all runs instead.
    """
    probe = {}
    for name, run in runs.items():
        probe[name], done, start = None, 0, time.perf_counter()
        while done < plan.warmup and (done < plan.min_warmup
                                      or time.perf_counter() - start < plan.warmup_s):
            probe[name] = _timed(run, 1, device)
            done += 1
    counts = {}
    for name, t in probe.items():
        top = (max_steps or {}).get(name, plan.max_steps)
        counts[name] = steps or (max(plan.min_steps, min(top, math.ceil(plan.target_s / t)))
                                 if t else plan.min_steps)
    group = sum(counts[n] * t for n, t in probe.items() if t)
    # The budget may cut repeats, but never below one in each order: with a single A B pair the
    # run that goes first carries the order bias alone.
    floor = min(2, plan.repeats) if len(runs) > 1 else 1
    repeats = max(floor, min(plan.repeats, int(plan.budget_s // group))) if group else plan.repeats
    seconds = {name: [] for name in runs}
    order = list(runs.items())
    for i in range(repeats):  # ABBA order: neither run always goes first (caches, clocks)
        for name, run in (order if i % 2 == 0 else order[::-1]):
            seconds[name].append(_timed(run, counts[name], device))
    return {name: {"per_s": statistics.median(items_per_step[name] * counts[name] / t
                                              for t in times),
                   "steps": counts[name], "seconds": times}
            for name, times in seconds.items()}


class Take:
    """The next ``n`` batches of an endless stream, as a loader of length ``n`` (for ``fit``)."""

    def __init__(self, stream, n: int):
        self.stream, self.n = stream, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return itertools.islice(self.stream, self.n)


def endless(loader):
    """Batches of ``loader``, epoch after epoch, from one iterator (DataLoader workers stay up)."""
    return itertools.chain.from_iterable(itertools.repeat(loader))


# ---------------------------------------------------------------------------------------------
# The two loops the book's code is compared with

def bare_train(model, batches, optimizer, device, fast: FastSettings, scaler=None) -> None:
    """The minimal training loop: the same arithmetic as ``fit``, none of its bookkeeping."""
    scaler = grad_scaler(device, fast) if scaler is None else scaler
    model.train()
    for x, y in batches:
        x, y = to_device(x, y, device, fast)
        with autocast(device, fast):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


@torch.no_grad()
def bare_evaluate(model, batches, device) -> None:
    """The plain evaluation loop of tutorials: fp32, no_grad, one batch at a time."""
    model.eval()
    for x, y in batches:
        model(x.to(device)).argmax(1).eq(y.to(device)).sum().item()


# ---------------------------------------------------------------------------------------------
# The measurements

def bench_model(name: str, device, fast: FastSettings, plan: Plan, data: dict) -> dict:
    """Training and evaluation images/s, book defaults vs baseline; fit's overhead; FLOPs."""
    seed_everything(0)
    model = build_model(name, channels=3, num_classes=10).to(device)
    baseline = copy.deepcopy(model)  # the same weights, contiguous, fp32
    flops_train = flops_per_image(model, (1, 3, 32, 32), training=True)
    flops_eval = flops_per_image(model, (1, 3, 32, 32), training=False)
    batch, eval_batch = plan.train_batch, fast.eval_batch_size or 1000
    x_train, y_train, x_test, y_test, mean, std = (data[k] for k in
                                                   ("x_train", "y_train", "x_test", "y_test",
                                                    "mean", "std"))
    tensor_train = TensorLoader(x_train, y_train, batch_size=batch, augment=True, mean=mean,
                                std=std, device=device, channels_last=bool(fast.channels_last))
    tensor_test = TensorLoader(x_test, y_test, batch_size=eval_batch, shuffle=False, mean=mean,
                               std=std, device=device, channels_last=bool(fast.channels_last))
    pil_train = torchvision_loader("cifar10", train=True, batch_size=batch, augment=True,
                                   mean=mean, std=std, num_workers=data["workers"],
                                   indices=range(len(y_train)), root=data["root"])
    pil_test = torchvision_loader("cifar10", train=False, batch_size=batch, mean=mean, std=std,
                                  num_workers=data["workers"], indices=range(len(y_test)),
                                  root=data["root"])
    opt = make_optimizer(model, "sgd", lr=0.01, momentum=0.9, fast=fast)
    opt_base = torch.optim.SGD(baseline.parameters(), lr=0.01, momentum=0.9)
    off = FastSettings.off()
    streams = {k: endless(v) for k, v in
               (("tt", tensor_train), ("te", tensor_test), ("pt", pil_train), ("pe", pil_test))}

    train = measure(
        {"book": lambda n: fit(model, Take(streams["tt"], n), epochs=1, optimizer=opt,
                               fast=fast, progress=False),
         "baseline": lambda n: bare_train(baseline, Take(streams["pt"], n), opt_base, device, off)},
        {"book": batch, "baseline": batch}, device, plan)
    evals = measure(
        {"book": lambda n: evaluate(model, Take(streams["te"], n), fast=fast),
         "baseline": lambda n: bare_evaluate(baseline, Take(streams["pe"], n), device)},
        {"book": eval_batch, "baseline": batch}, device, plan,
        max_steps={"book": max(1, plan.eval_images // eval_batch),
                   "baseline": max(1, plan.eval_images // batch)})

    # Overhead: the same batches, already on the device, through fit and through a bare loop.
    net = prepare(model, device, fast)
    batches = [next(streams["tt"]) for _ in range(min(train["book"]["steps"], 20))]
    scaler = grad_scaler(device, fast)
    epochs = []  # seconds inside each fit call's epoch, as its history measured them

    def fit_steps(n):
        history = fit(model, Take(itertools.cycle(batches), n), epochs=1, optimizer=opt,
                      fast=fast, progress=False)
        epochs.append(history.last["seconds"])

    with backend_flags(fast):
        overhead = measure(
            {"fit": fit_steps,
             "bare": lambda n: bare_train(net, Take(itertools.cycle(batches), n), opt, device,
                                          fast, scaler)},
            {"fit": batch, "bare": batch}, device, plan, steps=train["book"]["steps"])

    def ratio(a, b):
        return a / b if b else None

    return {
        "flops_per_train_image": flops_train, "flops_per_eval_image": flops_eval,
        "train": {"book_images_per_s": train["book"]["per_s"],
                  "baseline_images_per_s": train["baseline"]["per_s"],
                  "speedup": ratio(train["book"]["per_s"], train["baseline"]["per_s"]),
                  "batch_size": batch, "raw": train},
        "eval": {"book_images_per_s": evals["book"]["per_s"],
                 "baseline_images_per_s": evals["baseline"]["per_s"],
                 "speedup": ratio(evals["book"]["per_s"], evals["baseline"]["per_s"]),
                 "book_batch_size": eval_batch, "baseline_batch_size": batch, "raw": evals},
        "overhead": fit_overhead(overhead, epochs, batch),
    }


def fit_overhead(timed: dict, epochs: list[float], batch: int) -> dict:
    """fit's overhead per step, and its cost per call apart.

    ``timed`` is :func:`measure`'s result for ``fit`` (whole calls of one epoch) and
    ``bare``; ``epochs`` the seconds inside each fit call's epoch, as its history
    measured them (warm-up calls first, the timed ones last). The per-step overhead
    compares the bare loop with the time inside fit's epochs; what a call costs outside
    its epoch (checks, the copies of the state kept for Ctrl-C) is ``outside_epoch_s``,
    the median over the timed calls. ``fit_call_images_per_s`` is the rate of whole
    calls.
    """
    calls = timed["fit"]["seconds"]
    inside = epochs[len(epochs) - len(calls):]
    steps = timed["fit"]["steps"]
    fit_per_s = statistics.median(batch * steps / t for t in inside)
    bare_per_s = timed["bare"]["per_s"]
    return {"fit_images_per_s": fit_per_s, "bare_images_per_s": bare_per_s,
            "overhead_pct": 100 * (bare_per_s / fit_per_s - 1),
            "outside_epoch_s": statistics.median(c - e for c, e in zip(calls, inside)),
            "fit_call_images_per_s": timed["fit"]["per_s"],
            "raw": {"fit": {"per_s": fit_per_s, "steps": steps, "seconds": inside,
                            "call_seconds": calls},
                    "bare": timed["bare"]}}


def bench_data_path(device, fast: FastSettings, plan: Plan, data: dict,
                    workers: tuple[int, ...] = (0, 2)) -> dict:
    """One epoch of ``plan.data_images`` CIFAR-10 images, crop + flip, normalised, on ``device``.

    The DataLoader epochs include starting the workers: that cost is part of every real epoch.
    """
    n, batch = len(data["y_train"]), plan.train_batch
    tensor = TensorLoader(data["x_train"], data["y_train"], batch_size=batch, augment=True,
                          mean=data["mean"], std=data["std"], device=device,
                          channels_last=bool(fast.channels_last))
    loaders = {"tensor_loader": tensor}
    for w in workers:
        loaders[f"dataloader_pil_workers{w}"] = torchvision_loader(
            "cifar10", train=True, batch_size=batch, augment=True, mean=data["mean"],
            std=data["std"], num_workers=w, indices=range(n), root=data["root"])

    def epochs(loader):
        def run(k):
            for _ in range(k):
                for x, y in loader:
                    x.to(device), y.to(device)
        return run

    # one step = one epoch; warm-up: one epoch each (imports, caches, allocations)
    result = measure({k: epochs(v) for k, v in loaders.items()}, dict.fromkeys(loaders, n),
                     device, replace(plan, min_warmup=1, warmup=1, min_steps=1))
    out = {"images": n, "batch_size": batch, "augment": "random crop (padding 4) + flip"}
    for name, r in result.items():
        out[name] = {"images_per_s": r["per_s"], "seconds": r["seconds"]}
    for w in workers:
        key = f"dataloader_pil_workers{w}"
        out[f"speedup_vs_workers{w}"] = (out["tensor_loader"]["images_per_s"]
                                         / out[key]["images_per_s"])
    return out


def load_cifar(images: int, test_images: int, root=None) -> dict:
    """The first ``images`` training and ``test_images`` test images, with training statistics."""
    x_train, y_train = load_tensors("cifar10", train=True, root=root)
    x_test, y_test = load_tensors("cifar10", train=False, root=root)
    mean, std = channel_stats(x_train)
    return {"x_train": x_train[:images], "y_train": y_train[:images],
            "x_test": x_test[:test_images], "y_test": y_test[:test_images],
            "mean": mean, "std": std}


def run_benchmark(mode: str = "quick", models=DEFAULT_MODELS, device=None,
                  fast: FastSettings | None = None, plan: Plan | None = None, workers: int = 2,
                  data_path: bool = True, data_workers=(0, 2), root=None, log=print,
                  save=None) -> dict:
    """Every measurement for this machine, as one JSON-ready dict.

    ``save(result)``, if given, is called after each part with the result so far
    (``"complete": False`` until the last part): a long CPU run that is stopped keeps what it
    measured."""
    if mode not in PLANS:
        raise ValueError(f"mode must be one of {sorted(PLANS)}, got {mode!r}")
    device = pick_device(device)
    fast = settings_for(device, fast)
    plan = plan or PLANS[mode]
    peak = device_peak(device)
    started = time.perf_counter()
    data = load_cifar(plan.data_images, plan.eval_images, root=root)
    data.update(workers=workers, root=root)
    result = {"kind": "bench", "mode": mode, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              **machine_info(device), "peak": peak, "fast": fast.as_dict(),
              "plan": plan.__dict__, "baseline_workers": workers, "models": {},
              "complete": False}
    save = save or (lambda r: None)
    with backend_flags(fast):
        if data_path:
            log("data path ...")
            result["data_path"] = bench_data_path(device, fast, plan, data, tuple(data_workers))
            save(result)
        for name in models:
            log(f"{name} ...")
            row = bench_model(name, device, fast, plan, data)
            if peak["flops"]:
                achieved = row["train"]["book_images_per_s"] * row["flops_per_train_image"]
                row["train"]["fraction_of_peak"] = achieved / peak["flops"]
                row["train"]["baseline_fraction_of_peak"] = (
                    row["train"]["baseline_images_per_s"] * row["flops_per_train_image"]
                    / peak["flops"])
            result["models"][name] = row
            if name != models[-1]:
                save(result)
    result.update(complete=True, wall_seconds=time.perf_counter() - started)
    save(result)
    return result


def roofline_rows(models=DEFAULT_MODELS, gpus=("H100", "A100", "T4"), images: int = 50_000,
                  cpu: bool = True) -> list[dict]:
    """The physical limit, by arithmetic only: FLOPs per training image of each model, and the
    shortest possible CIFAR-10 epoch (``images`` images) at each device's peak; no device runs
    at its peak, so real epochs are longer. ``cpu`` adds this machine's CPU (an estimate)."""
    peaks = {key: flops for key, flops, _ in GPU_PEAKS}
    columns = {f"{g} s/epoch": peaks[g] for g in gpus}
    if cpu and cpu_peak()["flops"]:
        columns["this CPU s/epoch (est.)"] = cpu_peak()["flops"]
    rows = []
    for name in models:
        flops = flops_per_image(build_model(name, channels=3, num_classes=10), (1, 3, 32, 32),
                                training=True)
        row = {"model": name, "GFLOP/image": f"{flops / 1e9:.3f}"}
        row.update({k: f"{images * flops / peak:.3g}" for k, peak in columns.items()})
        rows.append(row)
    return rows


def roofline_note(gpus=("H100", "A100", "T4")) -> str:
    """Where the peaks of :func:`roofline_rows` come from."""
    used = ", ".join(f"{name} {flops / 1e12:g} TFLOP/s ({precision})"
                     for name, flops, precision in GPU_PEAKS if name in gpus)
    return f"peaks used: {used} (data sheets, dense)\nthis CPU: {cpu_peak()['how']}"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m cnnlib.bench",
                                     description="Training/evaluation speed of the book's code.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_const", const="quick", dest="mode",
                       help="CPU-friendly: few steps, 10k images for the data path (default)")
    group.add_argument("--full", action="store_const", const="full", dest="mode",
                       help="a longer run for a GPU: full epoch for the data path, more steps")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated model names (default: %(default)s)")
    parser.add_argument("--device", help="cuda, cpu, ... (default: the best available)")
    parser.add_argument("--out", type=Path,
                        help="JSON path (default: ./benchmarks/<device>-<date>-<mode>.json)")
    parser.add_argument("--workers", type=int, default=2,
                        help="DataLoader workers of the baseline (default 2, as PyTorch's "
                             "CIFAR-10 tutorial)")
    parser.add_argument("--no-data-path", action="store_true",
                        help="skip the data-path measurement")
    parser.add_argument("--data-workers", default="0,2",
                        help="DataLoader workers to time in the data path (default: %(default)s)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile the models")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: torch's choice; on a shared machine "
                             "--threads 1 avoids threads waiting for each other)")
    parser.add_argument("--data-images", type=int, help="images for the data path and training")
    parser.add_argument("--eval-images", type=int, help="test images to evaluate on")
    parser.add_argument("--max-steps", type=int, help="cap on timed steps per measurement")
    parser.add_argument("--repeats", type=int, help="timed repeats per measurement")
    args = parser.parse_args(argv)
    for option in ("repeats", "threads", "max_steps", "data_images", "eval_images"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1, got {value}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models:
        parser.error(f"--models names no model (got {args.models!r}): give comma-separated "
                     f"names, e.g. {','.join(DEFAULT_MODELS)}")
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        parser.error(f"--models: unknown model(s) {', '.join(map(repr, unknown))}; available: "
                     f"{', '.join(list_models())}")
    if args.threads:
        torch.set_num_threads(args.threads)
    mode = args.mode or "quick"
    plan = PLANS[mode]
    overrides = {"data_images": args.data_images, "eval_images": args.eval_images,
                 "max_steps": args.max_steps, "repeats": args.repeats}
    plan = replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    device = pick_device(args.device)
    out = ResultFile(args.out or default_out(device, mode))  # checked now; never overwrites
    result = run_benchmark(mode, models, device=device,
                           fast=FastSettings(compile=args.compile),
                           plan=plan, workers=args.workers, data_path=not args.no_data_path,
                           data_workers=[int(w) for w in args.data_workers.split(",")
                                         if w.strip()],
                           save=out.write)
    print(format_result(result))
    print(f"\nwritten: {out.path}")
    return result


if __name__ == "__main__":
    main()
