"""cnnlib.recipes: a recipe runs end to end in quick mode and stops at its target, its fields
can be changed from the command line, and the tables and figure of recorded runs say what each
run changed."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from cnnlib import plots, recipes, reports, results
from cnnlib.optim import warmup_fraction
from cnnlib.settings import seed_everything

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
    assert "quick mode" in reports.format_recipe(result)
    assert "lenet5" in reports.format_results(results.load_results([out]))


def test_recipe_with_another_model_names_its_file_after_that_model(tmp_path, monkeypatch,
                                                                   data_dir):
    monkeypatch.setattr(results, "OUTPUT_DIR", tmp_path)
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
        optimizer, max_lr=0.1, total_steps=total, pct_start=warmup_fraction(0.25, total))
    for _ in range(total):
        optimizer.step()
        scheduler.step()
    assert warmup_fraction(0.25, 1000) == 0.25  # long runs keep the recipe's value


def test_training_rate_skips_the_first_epoch_and_counts_full_batches_only(recipe_result):
    r = recipe_result()
    # 50,000 images in batches of 512, the last partial one dropped: 97 x 512 = 49,664 per epoch
    assert recipes.images_per_epoch(r) == 49_664
    # the median of the rates of epochs 2 and 3 (1.0 s and 2.0 s); epoch 1 (9.0 s) is left out
    assert recipes.training_rate(r) == pytest.approx((49_664 / 1.0 + 49_664 / 2.0) / 2)
    old = recipe_result(settings={"drop_last": False})
    assert recipes.images_per_epoch(old) == 50_000


def test_variant_names_what_differs_from_todays_defaults(recipe_result):
    assert recipes.variant(recipe_result()) == "defaults"
    older = recipe_result()
    del older["settings"]["tta"], older["settings"]["drop_last"]  # fields that came later
    older["settings"]["max_lr"] = 0.2
    assert recipes.variant(older) == "max_lr=0.2, no drop_last, no tta"


def test_recipe_table_groups_runs_by_device_and_day(recipe_result):
    runs = [recipe_result(), recipe_result(seed=1, reached=False, final_test_acc=0.9312,
                                            settings={"batch_size": 1024})]
    text = recipes.format_recipe_table(runs)
    lines = text.splitlines()
    assert lines[0] == "NVIDIA H200, 2026-12-04" and text.count("NVIDIA H200") == 1
    assert "defaults" in lines[2] and "94% ep 3, 12.3 s" in lines[2]
    assert "batch_size=1024" in lines[3] and "93.12% at 12.3 s" in lines[3]
    assert max(map(len, lines)) <= 85


def test_time_to_accuracy_plot_draws_one_line_per_run(recipe_result):
    runs = [recipe_result(), recipe_result(seed=1)]
    fig = plots.plot_time_to_accuracy(runs, [recipes.run_label(r) for r in runs], target=0.94,
                                      seconds=30)
    ax = fig.axes[0]
    assert len(ax.get_legend().get_texts()) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["defaults, seed 0",
                                                                   "defaults, seed 1"]
    x = ax.lines[0].get_xdata()
    assert list(x) == pytest.approx([9.1, 10.2, 12.3])  # epoch + test time, accumulated
    plt.close(fig)
    with pytest.raises(ValueError, match="one label per run"):
        plots.plot_time_to_accuracy(runs, ["only one"])


def test_step_times_separate_a_fixed_cost_from_the_cost_per_image(recipe_result):
    # steps of 10 ms + 5 µs per image, at three batch sizes
    def rate(batch):
        return batch / (0.010 + 5e-6 * batch)

    gpu = {"peak": {"flops": 1e15}, "models": {"resnet18_cifar": {
        "flops_per_train_image": 3e9,
        "train": {"batch_size": 128, "book_images_per_s": rate(128)}}}}
    runs = []
    for batch in (512, 1024):
        r = recipe_result(settings={"batch_size": batch, "drop_last": False})
        for row in r["history"]:
            row.update(seconds=50_000 / rate(batch), test_seconds=0.0)
        runs.append(r)
    text = recipes.format_step_times(gpu, runs)
    assert "5.0 µs per extra image" in text and "fixed cost is about 10.0 ms" in text
    lines = text.splitlines()
    assert lines[1].split()[:3] == ["128", f"{rate(128):.0f}", "10.6"]  # 10 ms + 128 x 5 µs
    assert lines[3].split()[3] == "3.07"  # 1024 images x 3 GFLOP at 1 PFLOP/s, in ms


