"""cnnlib.bench: the command runs end to end in a tiny configuration and writes JSON with
everything a result needs next to it, and its timing harness and bare loops do what the
comparisons assume. Nothing here asserts a timing: the numbers depend on the machine, the tests
only check that they are measured, recorded and read back."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from cnnlib import bench, reports, results
from cnnlib.fast import FastSettings
from cnnlib.settings import seed_everything
from cnnlib.train import fit

CPU = torch.device("cpu")

TINY = ["--quick", "--models", "lenet5", "--data-images", "256", "--eval-images", "128",
        "--max-steps", "2", "--repeats", "1", "--workers", "0", "--data-workers", "0"]


def test_bench_runs_end_to_end_and_writes_every_number(tmp_path, data_dir, capsys):
    out = tmp_path / "bench.json"
    bench.main(TINY + ["--out", str(out)])
    result = json.loads(out.read_text())
    assert result["kind"] == "bench" and result["mode"] == "quick"
    for key in ("date", "device", "device_name", "machine", "versions", "peak", "fast", "plan",
                "models", "data_path"):
        assert key in result, key
    assert {"platform", "cpu_model", "cores"} <= set(result["machine"])
    assert result["versions"]["torch"] == torch.__version__
    assert {"flops", "how", "estimate"} <= set(result["peak"])
    lenet = result["models"]["lenet5"]
    assert lenet["flops_per_train_image"] == 3 * lenet["flops_per_eval_image"] > 0
    for part, keys in (("train", ("book_images_per_s", "baseline_images_per_s", "speedup")),
                       ("eval", ("book_images_per_s", "baseline_images_per_s", "speedup")),
                       ("overhead", ("fit_images_per_s", "bare_images_per_s", "overhead_pct"))):
        for key in keys:
            assert isinstance(lenet[part][key], float), (part, key)
    assert lenet["train"]["book_images_per_s"] > 0 and lenet["train"]["baseline_images_per_s"] > 0
    overhead = lenet["overhead"]  # fit's steps timed inside its epoch; each call's rest apart
    raw = overhead["raw"]["fit"]
    assert all(0 < inside < call for inside, call in zip(raw["seconds"], raw["call_seconds"]))
    assert overhead["outside_epoch_s"] > 0 and len(raw["seconds"]) == 1
    data = result["data_path"]
    assert data["images"] == 256
    assert data["tensor_loader"]["images_per_s"] > 0
    assert data["dataloader_pil_workers0"]["images_per_s"] > 0
    printed = capsys.readouterr().out
    assert "lenet5" in printed and "TensorLoader" in printed and str(out) in printed
    assert "per call" in printed and " ms" in printed
    # read back exactly as the book's appendix page does
    text = reports.format_results(results.load_results([out]))
    assert "lenet5" in text and result["date"] in text and result["device_name"] in text


def test_bare_loop_does_the_same_arithmetic_as_fit_bit_for_bit():
    """The overhead comparison is fair only if both loops compute the same thing."""
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g))
               for _ in range(5)]

    def model():
        seed_everything(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))

    a, b = model(), model()
    fit(a, batches, epochs=1, optimizer=torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9),
        progress=False)
    bench.bare_train(b, batches, torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9), CPU,
                     FastSettings().resolve(CPU))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_fit_adds_few_operations_per_step_to_the_bare_loop(monkeypatch):
    """On a GPU every operation is a kernel launch, and a LeNet-5 step is only a few dozen of
    them, so what fit does per step beyond the bare loop is its overhead there. Counted with a
    dispatch mode (every operation that reaches a kernel), per step, with the loss check as
    rare as on a GPU. fit's extra: detach, add_ (the loss sum), argmax, eq, sum (the correct
    count); detach is a view and launches nothing."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from cnnlib import train

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops += 1
            return func(*args, **(kwargs or {}))

    monkeypatch.setattr(train, "_check_every", lambda device: 10**9)  # as rare as on a GPU
    g = torch.Generator().manual_seed(0)

    def ops(loop, steps):
        seed_everything(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        batches = [(torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 10, (16,),
                                                                          generator=g))
                   for _ in range(steps)]
        with Count() as count:
            if loop == "fit":
                fit(model, batches, epochs=1, optimizer=opt, progress=False)
            else:
                bench.bare_train(model, batches, opt, CPU, FastSettings().resolve(CPU))
        return count.ops

    # the difference of a 20-step and a 10-step epoch leaves out what is done once per epoch
    per_step = {loop: (ops(loop, 20) - ops(loop, 10)) / 10 for loop in ("fit", "bare")}
    assert per_step["bare"] > 20  # the step itself: forward, backward, optimizer
    assert per_step["fit"] - per_step["bare"] <= 5, per_step  # was 7 before 2026-12-04


def test_measure_takes_turns_and_respects_the_plan():
    calls = []
    runs = {"a": lambda n: calls.append(("a", n)), "b": lambda n: calls.append(("b", n))}
    plan = bench.Plan(warmup=5, min_steps=3, max_steps=7, target_s=10.0, repeats=2, budget_s=1e9,
                      min_warmup=2)
    result = bench.measure(runs, {"a": 4, "b": 8}, CPU, plan)
    timed = calls[4:]  # per run: two warm-up steps, one at a time (warmup_s=0: no more)
    assert calls[:4] == [("a", 1), ("a", 1), ("b", 1), ("b", 1)]
    assert timed == [("a", 7), ("b", 7), ("b", 7), ("a", 7)]  # ABBA; fast runs: capped at max_steps
    assert result["a"]["steps"] == 7 and len(result["b"]["seconds"]) == 2
    assert bench.measure(runs, {"a": 1, "b": 1}, CPU, plan, steps=2)["a"]["steps"] == 2


def test_a_tight_budget_still_measures_each_order_once():
    calls = []
    runs = {"a": lambda n: calls.append(("a", n)), "b": lambda n: calls.append(("b", n))}
    plan = bench.Plan(warmup=1, min_steps=3, max_steps=3, target_s=1.0, repeats=5, budget_s=0.0)
    bench.measure(runs, {"a": 1, "b": 1}, CPU, plan)
    assert calls[2:] == [("a", 3), ("b", 3), ("b", 3), ("a", 3)]
    calls.clear()
    bench.measure(runs, {"a": 1, "b": 1}, CPU, bench.Plan(**{**plan.__dict__, "repeats": 1}))
    assert calls[2:] == [("a", 3), ("b", 3)]  # one repeat asked for: one repeat given


def test_take_and_endless_yield_the_right_number_of_batches():
    stream = bench.endless([1, 2, 3])
    assert len(bench.Take(stream, 5)) == 5 and list(bench.Take(stream, 5)) == [1, 2, 3, 1, 2]


def _model_row():
    rates = {"book_images_per_s": 1.0, "baseline_images_per_s": 1.0, "speedup": 1.0}
    return {"flops_per_train_image": 3.0, "flops_per_eval_image": 1.0,
            "train": {**rates, "batch_size": 128}, "eval": rates,
            "overhead": {"fit_images_per_s": 1.0, "bare_images_per_s": 1.0, "overhead_pct": 0.0}}


def test_a_run_that_stops_keeps_what_it_measured(tmp_path, monkeypatch):
    """A full CPU run takes half an hour: if it is stopped in the last model, the JSON file
    already holds the data path and the models before it, marked incomplete."""
    def fake_model(name, *args):
        if name == "resnet18_cifar":
            raise KeyboardInterrupt
        return _model_row()

    monkeypatch.setattr(bench, "load_cifar", lambda *args, **kwargs: {})
    epoch = {"images": 10, "augment": "crop + flip", "tensor_loader": {"images_per_s": 1.0}}
    monkeypatch.setattr(bench, "bench_data_path", lambda *args: epoch)
    monkeypatch.setattr(bench, "bench_model", fake_model)
    out = tmp_path / "partial.json"
    with pytest.raises(KeyboardInterrupt):
        bench.main(["--full", "--device", "cpu", "--out", str(out)])
    partial = json.loads(out.read_text())
    assert partial["complete"] is False and partial["data_path"] == epoch
    assert list(partial["models"]) == ["lenet5", "alexnet_cifar"]
    assert "incomplete: the run stopped after measuring data path, lenet5, alexnet_cifar" in (
        reports.format_result(partial))

    monkeypatch.setattr(bench, "bench_model", lambda *args: _model_row())
    bench.main(["--full", "--device", "cpu", "--out", str(out), "--no-data-path"])
    assert json.loads(out.read_text()) == partial  # a second run never replaces a result
    finished = json.loads((tmp_path / "partial-2.json").read_text())
    assert finished["complete"] is True and len(finished["models"]) == 3
    assert finished["wall_seconds"] > 0
    assert "incomplete" not in reports.format_result(finished)


def test_fit_overhead_is_per_step_with_each_calls_fixed_cost_apart():
    """Two timed calls of 10 steps, each 0.1 s outside its 1.0 s epoch, against a bare loop
    at 1,280 images/s: the steps cost 0 % more, the calls 10 % more."""
    timed = {"fit": {"per_s": 1164.0, "steps": 10, "seconds": [1.1, 1.1]},
             "bare": {"per_s": 1280.0, "steps": 10, "seconds": [1.0, 1.0]}}
    result = bench.fit_overhead(timed, [5.0, 1.0, 1.0], batch=128)  # warm-up first
    assert result["fit_images_per_s"] == pytest.approx(1280.0)
    assert result["overhead_pct"] == pytest.approx(0.0, abs=1e-9)
    assert result["outside_epoch_s"] == pytest.approx(0.1)
    assert result["fit_call_images_per_s"] == 1164.0
    assert result["raw"]["fit"]["seconds"] == [1.0, 1.0]
    assert result["raw"]["fit"]["call_seconds"] == [1.1, 1.1]
    assert reports.overhead_pairs(result) == pytest.approx([0.0, 0.0], abs=1e-9)
