"""A design is checked when it is declared and before a run trains: the cases a stranger's
attack on the fine-tuning design's API found (classes, draws per class, input statistics,
a pretrained body's rate, checkpoints, sizes)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from cnnlib import designs, diagnose, experiments
from cnnlib.layers import LocalResponseNorm

CPU = torch.device("cpu")
FT = experiments.get_experiment("finetune")


@pytest.mark.parametrize("changes, message", [
    ({"classes": ("cat", "cat", "dog")}, "more than once"),
    ({"classes": "cat"}, "tuple of class names"),
    ({"input_stats": ((0.5, 0.5, 0.5),)}, "input_stats must be"),
    ({"input_stats": ((0.5,) * 3, (0.0, 0.2, 0.2))}, "std above 0"),
    ({"input_stats": ((120.0,) * 3, (60.0,) * 3)}, "0..1 scale"),
    ({"input_stats": ((0.5,) * 4, (0.2,) * 4)}, "3 numbers"),
    ({"arm_settings": {**FT.arm_settings, "frozen-2O": {"per_class": 20}}}, "not arms"),
    ({"arms": FT.arms + ("frozen-20",)}, "give every arm its per_class"),
])
def test_a_design_is_checked_when_it_is_declared(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(FT, **changes)


def test_a_copy_needs_a_name_of_its_own_unless_it_replaces_on_purpose():
    copy = dataclasses.replace(FT, arms=("frozen-10",),
                               arm_settings={"frozen-10": {"per_class": 10}})
    with pytest.raises(ValueError, match="registered already"):
        designs.register(copy)
    assert experiments.get_experiment("finetune") is FT
    designs.register(FT)  # registering the same design again changes nothing


def test_checkpoints_are_named_by_the_pool_and_the_input_statistics(tmp_path):
    hyper = FT.hyper_for("frozen-10")
    budget = experiments.arm_budget(FT, "frozen-10", FT.budget)
    names = set()
    for exp in (FT, dataclasses.replace(FT, budget=dataclasses.replace(FT.budget,
                                                                       train_size=5_000)),
                dataclasses.replace(FT, input_stats=((0.5,) * 3, (0.25,) * 3))):
        names.add(experiments.checkpoint_file(exp, "frozen-10", 0, budget, hyper, False,
                                              False, tmp_path).name)
    assert len(names) == 3


def test_body_lr_is_refused_where_no_optimiser_reads_it(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "experiment_data",
                        lambda *a, **k: pytest.fail("data read before the refusal"))
    with pytest.raises(ValueError, match="read only by designs on a pretrained body"):
        experiments.run_arm("lrn", "none", 0, quick=True, pilot=True,
                            hyper={"body_lr": 0.001})
    with pytest.raises(ValueError, match="read only by finetune_sgd"):
        designs._sgd(nn.Linear(2, 2), {**FT.hyper, "body_lr": 0.001}, FT.budget, None)


def test_a_frozen_arm_with_a_body_rate_is_refused_before_training(data_dir):
    budget = experiments.arm_budget(FT, "frozen-10", FT.budget)
    train, _ = experiments.experiment_data(FT, budget, 0, CPU, "frozen-10")
    with pytest.raises(ValueError, match="body is frozen"):
        designs.finetune_sgd(FT.build("frozen-10"), {**FT.hyper, "body_lr": 0.001}, budget,
                             train)


@pytest.mark.parametrize("argv, message", [
    (["--arms", "scratch-10,finetuned-10", "--set", "lr=0.001"], "at most lr"),
    (["--arms", "none", "--set", "body_lr=0.001"], "pretrained body"),
])
def test_the_command_checks_every_arms_settings_before_the_first_run(argv, message, capsys):
    name = "lrn" if "none" in argv else "finetune"
    with pytest.raises(SystemExit):
        experiments.main(["run", name, "--seeds", "0", "--quick", "--pilot", *argv])
    assert message in capsys.readouterr().err


def test_a_budget_larger_than_the_classes_hold_is_refused(data_dir):
    wide = dataclasses.replace(FT, budget=dataclasses.replace(FT.budget, test_size=10_000))
    with pytest.raises(ValueError, match="test_size 10,000.*has 5,000"):
        experiments.experiment_data(wide, wide.budget, 0, CPU, "frozen-10")


def test_a_draw_larger_than_the_pool_names_the_arm_class_and_fix(data_dir):
    small = dataclasses.replace(FT, budget=dataclasses.replace(FT.budget, train_size=1_000))
    budget = experiments.arm_budget(small, "frozen-50", small.budget)
    small = dataclasses.replace(small, arm_settings={
        **small.arm_settings, "frozen-50": {"per_class": 300}})
    with pytest.raises(ValueError, match="frozen-50: per_class is 300.*raise the budget"):
        experiments.experiment_data(small, budget, 0, CPU, "frozen-50")


def test_an_arm_must_be_the_designs_and_named_where_arms_draw(data_dir):
    with pytest.raises(ValueError, match="not 'frozen10'"):
        experiments.arm_budget(FT, "frozen10", FT.budget)
    with pytest.raises(ValueError, match="name the arm"):
        experiments.experiment_data(FT, FT.budget, 0, CPU, None)
    with pytest.raises(TypeError, match="Budget"):
        experiments.arm_budget(FT, "frozen-10", None)


def test_views_find_the_checkpoint_of_an_arm_that_draws_per_class(tmp_path, data_dir):
    experiments.run_arm("finetune", "frozen-10", 0, quick=True, device="cpu",
                        checkpoints=tmp_path)
    views = experiments.measure_views("finetune", "frozen-10", 0, tmp_path, quick=True,
                                      device="cpu")
    assert {v["train_size"] for v in views} == {50}


def test_lrn_divisors_keep_every_call_of_a_shared_layer_and_want_a_tensor():
    shared = LocalResponseNorm()
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), shared, shared)
    images = torch.rand(2, 3, 4, 4)
    with torch.no_grad():
        first = model[1](model[0](images))
    calls = (first > 0).sum() + (shared(first) > 0).sum()
    assert len(diagnose.lrn_divisors(model, images)["2"]) == calls
    with pytest.raises(TypeError, match="tensor"):
        diagnose.lrn_divisors(model, images.numpy())

