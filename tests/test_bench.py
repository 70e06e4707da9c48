"""cnnlib.bench and cnnlib.recipes: both commands run end to end in a tiny configuration and
write JSON with everything a result needs next to it. Nothing here asserts a timing: the numbers
depend on the machine, the tests only check that they are measured, recorded and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnlib import bench, recipes
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
    data = result["data_path"]
    assert data["images"] == 256
    assert data["tensor_loader"]["images_per_s"] > 0
    assert data["dataloader_pil_workers0"]["images_per_s"] > 0
    printed = capsys.readouterr().out
    assert "lenet5" in printed and "TensorLoader" in printed and str(out) in printed
    # read back exactly as the book's appendix page does
    text = bench.format_results(bench.load_results([out]))
    assert "lenet5" in text and result["date"] in text and result["device_name"] in text


def test_load_results_without_files_says_how_to_make_them(tmp_path):
    assert bench.load_results([]) == []
    assert "python -m cnnlib.bench" in bench.format_results([])


def test_recipe_runs_end_to_end_in_quick_mode(tmp_path, data_dir):
    out = tmp_path / "recipe.json"
    result = recipes.main(["cifar_resnet18", "--quick", "--model", "lenet5", "--train-size",
                           "256", "--test-size", "128", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["kind"] == "recipe" and saved["mode"] == "quick"
    assert saved["settings"]["model"] == "lenet5" and saved["settings"]["label_smoothing"] == 0.1
    assert saved["train_images"] == 256 and saved["test_images"] == 128
    assert saved["epochs_run"] == 1 and len(saved["history"]) == 1
    assert 0 <= saved["final_test_acc"] <= 1 and saved["reached"] is (
        saved["final_test_acc"] >= saved["target"])
    assert "quick mode" in recipes.format_recipe(result)
    assert "lenet5" in bench.format_results(bench.load_results([out]))


def test_recipe_with_another_model_names_its_file_after_that_model(tmp_path, monkeypatch,
                                                                   data_dir):
    monkeypatch.setattr(bench, "OUTPUT_DIR", tmp_path)
    recipes.main(["cifar_resnet18", "--quick", "--model", "lenet5", "--train-size", "128",
                  "--test-size", "128", "--device", "cpu"])
    (path,) = tmp_path.glob("*.json")
    assert path.name.startswith("recipe-cifar_resnet18-lenet5-cpu-") and "quick" in path.name


def test_recipe_stops_at_its_target(data_dir):
    # a target of 1% is reached after the first epoch, whatever the budget
    result = recipes.run_recipe("cifar_resnet18", quick=True, model="lenet5", target=0.01,
                                epochs=3, train_size=128, test_size=128, root=data_dir)
    assert result["reached"] and result["epochs_to_target"] == 1 and result["epochs_run"] == 1
    assert result["seconds_to_target"] > 0


def test_recipe_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.run_recipe("imagenet_in_18_minutes")
    with pytest.raises(ValueError, match="target"):
        recipes.run_recipe(target=94)


def test_build_model_passes_channels_only_where_the_builder_takes_them():
    assert recipes.build_model("lenet5", channels=3).input_size == (3, 32, 32)
    alexnet = recipes.build_model("alexnet_cifar", channels=3)
    assert alexnet(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


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


CPUINFO = """model name\t: Example CPU
cpu MHz\t\t: 2500.000
flags\t\t: fpu sse2 avx avx2 fma {extra}
cpu MHz\t\t: 3000.000
"""


@pytest.mark.parametrize("extra, per_cycle", [("avx512f", 64), ("", 32)])
def test_cpu_peak_is_an_estimate_from_cores_clock_and_vector_width(extra, per_cycle):
    peak = bench.cpu_peak(CPUINFO.format(extra=extra), cores=4)
    assert peak["estimate"] is True and peak["precision"] == "fp32"
    assert peak["flops"] == pytest.approx(4 * 3.0e9 * per_cycle)
    assert "estimate" in peak["how"] and f"{per_cycle} FLOP/cycle" in peak["how"]
    assert bench.cpu_peak("flags : avx2", cores=2)["flops"] is None  # no clock: no number


@pytest.mark.parametrize("name, flops", [("NVIDIA H100 80GB HBM3", 989e12),
                                         ("NVIDIA H100 PCIe", 756e12),
                                         ("NVIDIA H200", 989e12), ("NVIDIA A100-SXM4-40GB", 312e12),
                                         ("Tesla T4", 65e12), ("Some Future GPU", None)])
def test_gpu_peak_comes_from_the_data_sheet_table(monkeypatch, name, flops):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: name)
    peak = bench.device_peak(torch.device("cuda"))
    assert peak["flops"] == flops and peak["estimate"] is False
    assert bench.device_slug(torch.device("cuda")).startswith("cuda-")


def _bench_result(date, overheads):
    models = {name: {"overhead": {"overhead_pct": pct}} for name, pct in overheads.items()}
    return {"kind": "bench", "date": date, "file": f"{date}.json", "device": "cpu",
            "machine": {"cores": 2}, "models": models}


def test_overhead_goal_is_judged_only_by_a_run_of_every_default_model():
    everything = _bench_result("2026-01-01", dict.fromkeys(bench.DEFAULT_MODELS, 7.0))
    lenet_only = _bench_result("2026-02-01", {"lenet5": 1.0})
    row = bench.target_rows([everything, lenet_only])[1]
    assert row["status"] == "not met" and row["source"] == "2026-01-01.json"
    assert bench.target_rows([lenet_only])[1]["status"] == "not yet measured"
    good = _bench_result("2026-03-01", dict.fromkeys(bench.DEFAULT_MODELS, 4.9))
    assert bench.target_rows([everything, good])[1]["status"] == "met"
    text = bench.format_targets(bench.target_rows([everything, good]))
    assert "<= 5%, cpu\n  status:   met\n  measured: lenet5 4.9%" in text
    assert "status:   not yet measured" in text and "from:     2026-03-01.json" in text
    assert max(map(len, text.splitlines())) < 100  # readable on a book page



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
        bench.format_result(partial))
    assert bench.target_rows([partial])[1]["status"] == "not yet measured"

    monkeypatch.setattr(bench, "bench_model", lambda *args: _model_row())
    bench.main(["--full", "--device", "cpu", "--out", str(out), "--no-data-path"])
    finished = json.loads(out.read_text())
    assert finished["complete"] is True and len(finished["models"]) == 3
    assert finished["wall_seconds"] > 0
    assert "incomplete" not in bench.format_result(finished)


# ---------------------------------------------------------------------------------------------
# Recipe settings, test-time augmentation and the recorded-runs table

def test_flip_average_is_the_mean_over_an_image_and_its_mirror():
    seed_everything(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(10))
    x = torch.randn(2, 3, 8, 8)
    model(x)  # materialise the lazy layer
    tta = recipes.FlipAverage(model)
    torch.testing.assert_close(tta(x), (model(x) + model(x.flip(3))) / 2)
    assert torch.equal(tta(x), tta(x.flip(3)))  # a mirrored test image gets the same answer
    assert not torch.allclose(model(x), model(x.flip(3)))  # while the model alone does not


def test_recipe_fields_can_be_overridden_from_the_command_line(tmp_path, data_dir):
    out = tmp_path / "recipe.json"
    result = recipes.main(["cifar_resnet18", "--quick", "--model", "lenet5", "--train-size",
                           "256", "--test-size", "128", "--batch-size", "64", "--max-lr", "0.05",
                           "--label-smoothing", "0", "--no-tta", "--seed", "3", "--out",
                           str(out)])
    settings = json.loads(out.read_text())["settings"]
    assert (settings["batch_size"], settings["max_lr"], settings["label_smoothing"],
            settings["tta"]) == (64, 0.05, 0.0, False)
    assert result["seed"] == 3 and result["command"].startswith("python -m cnnlib.recipes")
    assert "--no-tta" in result["command"] and "test_seconds" in result["history"][0]
    assert recipes.variant(result) == ("epochs=1, batch_size=64, max_lr=0.05, "
                                       "label_smoothing=0, no tta")
    with pytest.raises(TypeError, match="not fields of a Recipe"):
        recipes.run_recipe(quick=True, learning_rate=0.1)


@pytest.mark.parametrize("total", range(1, 40))
def test_one_cycle_warm_up_never_divides_by_zero(total):
    params = [nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD(params, lr=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.1, total_steps=total, pct_start=recipes.warmup_fraction(0.25, total))
    for _ in range(total):
        optimizer.step()
        scheduler.step()
    assert recipes.warmup_fraction(0.25, 1000) == 0.25  # long runs keep the recipe's value


def _recipe_result(**changes):
    settings = {**recipes.asdict(recipes.RECIPES["cifar_resnet18"]), **changes.pop("settings", {})}
    rows = [{"epoch": 1, "seconds": 9.0, "test_seconds": 0.1, "test_acc": 0.5},
            {"epoch": 2, "seconds": 1.0, "test_seconds": 0.1, "test_acc": 0.9},
            {"epoch": 3, "seconds": 2.0, "test_seconds": 0.1, "test_acc": 0.95}]
    result = {"kind": "recipe", "recipe": "cifar_resnet18", "mode": "full", "seed": 0,
              "date": "2026-12-04 16:00:00", "device": "cuda", "device_name": "NVIDIA H200",
              "settings": settings, "train_images": 50_000, "target": 0.94, "reached": True,
              "epochs_to_target": 3, "seconds_to_target": 12.3, "wall_seconds": 12.3,
              "final_test_acc": 0.95, "best_test_acc": 0.95, "history": rows, "file": "r.json"}
    result.update(changes)
    return result


def test_training_rate_skips_the_first_epoch_and_counts_full_batches_only():
    r = _recipe_result()
    # 50,000 images in batches of 512, the last partial one dropped: 97 x 512 = 49,664 per epoch
    assert recipes.images_per_epoch(r) == 49_664
    # the median of the rates of epochs 2 and 3 (1.0 s and 2.0 s); epoch 1 (9.0 s) is left out
    assert recipes.training_rate(r) == pytest.approx((49_664 / 1.0 + 49_664 / 2.0) / 2)
    old = _recipe_result(settings={"drop_last": False})
    assert recipes.images_per_epoch(old) == 50_000


def test_variant_names_what_differs_from_todays_defaults():
    assert recipes.variant(_recipe_result()) == "defaults"
    older = _recipe_result()
    del older["settings"]["tta"], older["settings"]["drop_last"]  # fields that came later
    older["settings"]["max_lr"] = 0.2
    assert recipes.variant(older) == "max_lr=0.2, no drop_last, no tta"


def test_recipe_table_groups_runs_by_device_and_day():
    runs = [_recipe_result(), _recipe_result(seed=1, reached=False, final_test_acc=0.9312,
                                             settings={"batch_size": 1024})]
    text = recipes.format_recipe_table(runs)
    lines = text.splitlines()
    assert lines[0] == "NVIDIA H200, 2026-12-04" and text.count("NVIDIA H200") == 1
    assert "defaults" in lines[2] and "94% ep 3, 12.3 s" in lines[2]
    assert "batch_size=1024" in lines[3] and "93.12% at 12.3 s" in lines[3]
    assert max(map(len, lines)) <= 85


def test_time_to_accuracy_plot_draws_one_line_per_run():
    from cnnlib import plots

    fig = plots.plot_time_to_accuracy([_recipe_result(), _recipe_result(seed=1)], target=0.94,
                                      seconds=30)
    ax = fig.axes[0]
    assert len(ax.get_legend().get_texts()) == 2
    x = ax.lines[0].get_xdata()
    assert list(x) == pytest.approx([9.1, 10.2, 12.3])  # epoch + test time, accumulated
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_the_h100_goal_accepts_an_h200_run_and_names_it():
    slow = _recipe_result(seconds_to_target=39.8)
    row = bench.target_rows([slow])[-1]
    assert row["status"] == "not met" and "39.8 s on an NVIDIA H200" in row["measured"]
    assert "the H100's chip" in row["measured"]
    fast = _recipe_result(seconds_to_target=29.0, device_name="NVIDIA H100 80GB HBM3")
    row = bench.target_rows([slow, fast])[-1]
    assert row["status"] == "met" and "H100's chip" not in row["measured"]
    a100 = _recipe_result(device_name="NVIDIA A100-SXM4-80GB", seconds_to_target=5.0)
    assert bench.target_rows([a100])[-1]["status"].startswith("not yet measured")


def test_overhead_goal_is_judged_for_each_device():
    cpu = _bench_result("2026-01-01", dict.fromkeys(bench.DEFAULT_MODELS, 1.0))
    cpu["device_name"] = "AMD EPYC, 2 cores"
    gpu = _bench_result("2026-02-01", dict.fromkeys(bench.DEFAULT_MODELS, 7.8))
    gpu.update(device="cuda", device_name="NVIDIA H200")
    rows = [r for r in bench.target_rows([cpu, gpu]) if "overhead" in r["goal"]]
    assert [(r["goal"].split(", ", 1)[1], r["status"]) for r in rows] == [
        ("AMD EPYC, 2 cores", "met"), ("NVIDIA H200", "not met")]


def test_step_times_separate_a_fixed_cost_from_the_cost_per_image():
    # steps of 10 ms + 5 µs per image, at three batch sizes
    def rate(batch):
        return batch / (0.010 + 5e-6 * batch)

    gpu = {"peak": {"flops": 1e15}, "models": {"resnet18_cifar": {
        "flops_per_train_image": 3e9,
        "train": {"batch_size": 128, "book_images_per_s": rate(128)}}}}
    runs = []
    for batch in (512, 1024):
        r = _recipe_result(settings={"batch_size": batch, "drop_last": False})
        for row in r["history"]:
            row.update(seconds=50_000 / rate(batch), test_seconds=0.0)
        runs.append(r)
    text = recipes.format_step_times(gpu, runs)
    assert "5.0 µs per extra image" in text and "fixed cost is about 10.0 ms" in text
    lines = text.splitlines()
    assert lines[1].split()[:3] == ["128", f"{rate(128):.0f}", "10.6"]  # 10 ms + 128 x 5 µs
    assert lines[3].split()[3] == "3.07"  # 1024 images x 3 GFLOP at 1 PFLOP/s, in ms


def test_new_results_go_under_the_current_folder_and_recorded_ones_come_with_the_package():
    assert not bench.OUTPUT_DIR.is_absolute() and bench.OUTPUT_DIR.parts == ("benchmarks",)
    out = recipes.default_out("recipe-x", torch.device("cpu"), "quick")
    assert out.parent == Path("benchmarks") and out.name.startswith("recipe-x-cpu-")
    recorded = bench.recorded_results_dir()
    assert "cnnlib" in str(recorded) and any(p.name.endswith(".json") for p in recorded.iterdir())
    assert bench.load_results(kind="bench") and bench.load_results(kind="recipe")
