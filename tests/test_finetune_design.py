"""The fine-tuning design (chapter 10): five classes of CIFAR-10 relabelled, a draw of images
per seed, the pretrained network's statistics, and one optimiser for three ways to train."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cnnlib import designs, experiments, finetune, pretrained
from cnnlib.data import DATASETS, load_tensors

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def exp():
    return experiments.get_experiment("finetune")


def small(exp, budget=None):
    """The design with a pool of 2,000 training images, for speed."""
    return dataclasses.replace(exp, budget=budget or dataclasses.replace(
        exp.budget, train_size=2_000, test_size=500))


def test_the_design_keeps_five_classes_relabelled_in_its_order(exp, data_dir):
    train, test = experiments.experiment_data(exp, experiments.arm_budget(
        exp, "frozen-10", exp.budget), 0, CPU, "frozen-10")
    assert train.num_classes == test.num_classes == 5
    x, y = load_tensors("cifar10", train=False)
    names = DATASETS["cifar10"].classes
    keep = [names.index(c) for c in designs.FINETUNE_CLASSES]
    # every test image is one of the five classes' test images, with its new label
    assert len(test.labels) == 2_000 and set(test.labels.tolist()) == set(range(5))
    originals = {bytes(img.numpy()): keep.index(int(label))
                 for img, label in zip(x, y) if int(label) in keep}
    images = test.images
    assert all(originals[bytes(img.numpy())] == int(label)
               for img, label in zip(images[:200], test.labels[:200]))


def test_each_seed_draws_its_own_images_the_same_for_every_arm(exp, data_dir):
    exp = small(exp)

    def drawn(arm, seed):
        budget = experiments.arm_budget(exp, arm, exp.budget)
        train, _ = experiments.experiment_data(exp, budget, seed, CPU, arm)
        return train.images, train.labels

    x0, y0 = drawn("scratch-10", 0)
    assert len(y0) == 50 and torch.bincount(y0).tolist() == [10] * 5
    for arm in ("frozen-10", "finetuned-10"):
        x, y = drawn(arm, 0)
        assert torch.equal(x, x0) and torch.equal(y, y0)  # the arms of a seed are paired
    x1, _ = drawn("scratch-10", 1)
    assert not torch.equal(x1, x0)  # another seed, another draw
    x50, y50 = drawn("frozen-50", 0)
    assert torch.bincount(y50).tolist() == [50] * 5


def test_the_arms_budget_counts_its_own_images(exp):
    assert experiments.arm_budget(exp, "frozen-10", exp.budget).train_size == 50
    assert experiments.arm_budget(exp, "scratch-50", exp.budget).train_size == 250
    other = experiments.get_experiment("nin_head")
    assert experiments.arm_budget(other, "gap", other.budget) == other.budget


def test_inputs_are_standardised_with_the_pretrained_networks_statistics(exp, data_dir):
    stats = pretrained.provenance("resnet20_cifar5")["input"]
    train, test = experiments.experiment_data(small(exp), experiments.arm_budget(
        exp, "finetuned-10", exp.budget), 0, CPU, "finetuned-10")
    mean, std = torch.tensor(stats["mean"]), torch.tensor(stats["std"])
    for loader in (train, test):  # x/255 * scale-folded: (x/255 - mean) / std
        assert torch.allclose(loader.scale.flatten(), 1 / (255 * std))
        assert torch.allclose(loader.shift.flatten(), -mean / std)
    assert exp.design()["input_stats"]["mean"] == stats["mean"]
    assert exp.design()["classes"] == list(designs.FINETUNE_CLASSES)


def test_the_three_kinds_start_and_optimise_as_the_chapter_says(exp, data_dir):
    train, _ = experiments.experiment_data(small(exp), experiments.arm_budget(
        exp, "frozen-10", exp.budget), 0, CPU, "frozen-10")
    reference = pretrained.load("resnet20_cifar5")
    models = {kind: exp.build(f"{kind}-10") for kind in ("scratch", "frozen", "finetuned")}
    for kind, model in models.items():
        assert model.fc.out_features == 5
        same_body = torch.equal(model.conv1.weight, reference.conv1.weight)
        assert same_body == (kind != "scratch"), kind
    frozen = models["frozen"]
    assert [n for n, p in frozen.named_parameters() if p.requires_grad] == ["fc.weight",
                                                                            "fc.bias"]
    budget = exp.budget
    groups = {}
    for kind, model in models.items():
        optimiser, scheduler, per_batch = exp.optimiser(
            model, exp.hyper_for(f"{kind}-10"), budget, train)
        assert per_batch and optimiser.defaults["nesterov"]
        groups[kind] = [g["max_lr"] for g in optimiser.param_groups]
    assert groups == {"scratch": [0.05], "frozen": [0.05], "finetuned": [0.005, 0.05]}
    trainable = sum(p.numel() for g in exp.optimiser(
        models["frozen"], exp.hyper_for("frozen-10"), budget, train)[0].param_groups
        for p in g["params"])
    assert trainable == 64 * 5 + 5


def test_a_frozen_arm_keeps_its_pretrained_batch_norm_statistics_while_it_trains(exp,
                                                                                  data_dir):
    model = exp.build("frozen-10")
    before = model.bn1.running_mean.clone()
    model.train()
    model(torch.randn(8, 3, 32, 32) * 3 + 1)
    assert torch.equal(model.bn1.running_mean, before)
    finetune.freeze(model)  # freezing again adds no second hook
    assert len(model.bn1._forward_pre_hooks) == 1


@pytest.mark.parametrize("hyper, message", [
    ({"body_lr": 0.1}, "at most lr"),
    ({"body_lr": -1.0}, "above 0"),
    ({"body_lr": True}, "above 0"),
    ({"schedule": "constant", "pct_start": None, "body_lr": 0.01}, "read only by"),
])
def test_a_body_rate_is_checked_before_any_data_is_read(hyper, message):
    base = {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "one_cycle",
            "pct_start": 0.25}
    changed = {**base, **hyper}
    if changed.get("pct_start") is None:
        del changed["pct_start"]
    with pytest.raises(ValueError, match=message):
        designs.check_hyper(changed)


def test_a_pilot_may_change_the_body_rate_and_it_names_the_checkpoint(exp, tmp_path):
    hyper = experiments._pilot_hyper(exp.hyper_for("finetuned-10"), {"body_lr": 0.01})
    assert hyper["body_lr"] == 0.01
    budget = experiments.arm_budget(exp, "finetuned-10", exp.budget)
    names = {experiments.checkpoint_file(exp, "finetuned-10", 0, budget, h, True, False,
                                         tmp_path).name
             for h in (hyper, exp.hyper_for("finetuned-10"))}
    assert len(names) == 2


@pytest.mark.parametrize("settings, message", [
    ({"per_class": 0}, "per_class"), ({"per_class": 2.5}, "per_class"),
    ({"per_class": True}, "per_class")])
def test_a_design_with_a_bad_draw_is_refused_when_declared(exp, settings, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(exp, arm_settings={"frozen-10": settings})


def test_an_unknown_class_or_arm_is_named(exp, data_dir):
    with pytest.raises(ValueError, match="unicorn"):  # when the design is declared
        dataclasses.replace(exp, classes=("airplane", "unicorn"))
    with pytest.raises(ValueError, match="kind one of"):
        exp.build("thawed-10")


def test_a_quick_run_of_each_kind_trains_and_is_recorded(tmp_path, data_dir):
    for arm in ("scratch-10", "frozen-10", "finetuned-10"):
        run = experiments.run_arm("finetune", arm, 0, quick=True, out=tmp_path, device="cpu")
        assert run["train_size"] == 50 and run["quick"]
    record = experiments.load_record("finetune", tmp_path)
    assert record["design"]["classes"] == list(designs.FINETUNE_CLASSES)


def test_the_partial_thaw_exercise_trains_layer3_at_the_body_rate(exp, tmp_path, data_dir):
    """Chapter 10's ex-own-ft-partial: a copy of the design with a thawed last stage."""
    def last_stage_thawed(arm):
        net = pretrained.load("resnet20_cifar5")
        finetune.new_head(net, 5)
        finetune.freeze(net)
        finetune.unfreeze(net.layer3)
        return net

    designs.register(dataclasses.replace(
        exp, name="finetune_partial_test", arms=("partial-10",), build=last_stage_thawed,
        arm_settings={"partial-10": {"per_class": 10, "hyper": {"body_lr": 0.005}}}))
    try:
        net = last_stage_thawed("partial-10")
        budget = experiments.arm_budget(exp, "frozen-10", exp.budget)
        train, _ = experiments.experiment_data(small(exp), budget, 0, CPU, "frozen-10")
        optimiser, _, _ = experiments.get_experiment("finetune_partial_test").optimiser(
            net, {**exp.hyper, "body_lr": 0.005}, budget, train)
        body = {id(p) for p in optimiser.param_groups[0]["params"]}
        assert body == {id(p) for p in net.layer3.parameters()}
        run = experiments.run_arm("finetune_partial_test", "partial-10", 0, quick=True,
                                  out=tmp_path, device="cpu")
        assert run["train_size"] == 50
    finally:
        designs.EXPERIMENTS.pop("finetune_partial_test")


def test_a_table_of_arms_with_their_own_numbers_of_images_says_so(tmp_path):
    from cnnlib import records, reports

    for arm, size, steps in (("frozen-10", 50, 60), ("frozen-50", 250, 240)):
        records.append_run("mixed", {
            "arm": arm, "seed": 0, "epochs": 30, "train_size": size, "steps": steps,
            "image_size": 32, "hyper": {"lr": 0.05}, "device": "cpu", "seconds": 1.0,
            "curves": {"train_acc": [0.5] * 30, "test_acc": [0.4] * 30,
                       "train_loss": [1.0] * 30},
            "metrics": {"final_train_error": 50.0, "final_test_error": 60.0}}, tmp_path)
    table = reports.format_experiment(records.load_record("mixed", tmp_path))
    head = table.splitlines()[0]
    assert "50 to 250 training images" in head and "(60 to 240 steps)" in head
    assert "images" in table.splitlines()[1] and " 250 " in table  # each arm's own
