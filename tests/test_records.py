"""Experiment records (cnnlib.records), the experiments that write them (cnnlib.experiments),
their figure, and the records the book ships: complete, and made by the designs in the code."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import statistics

import pytest
import torch

from cnnlib import designs, experiments, records
from cnnlib.plots import plot_record


def fake_run(arm="a", seed=0, train=10.0, test=20.0, pilot=False, epochs=3):
    accs = [0.5, 0.7, 1 - train / 100][-epochs:]
    test_accs = [0.5, 0.7, 1 - test / 100][-epochs:]
    return {"arm": arm, "seed": seed, "epochs": epochs, "train_size": 100, "hyper": {"lr": 0.1},
            "device": "cpu", "seconds": 1.5, "pilot": pilot,
            "curves": {"train_acc": accs, "test_acc": test_accs, "train_loss": [1.0] * epochs},
            "metrics": {"final_train_error": train, "final_test_error": test}}


def test_append_then_load_keeps_design_and_runs(tmp_path):
    records.append_run("demo", fake_run(seed=0), tmp_path, design={"arms": ["a"]})
    records.append_run("demo", fake_run(seed=1, train=12.0), tmp_path)
    record = records.load_record("demo", tmp_path)
    assert record["design"] == {"arms": ["a"]}
    assert [r["seed"] for r in records.runs(record, "a")] == [0, 1]
    assert records.metric_values(record, "a", "final_train_error") == [10.0, 12.0]
    assert not list(tmp_path.glob("*.tmp"))


def test_same_arm_and_seed_is_refused_unless_replaced(tmp_path):
    records.append_run("demo", fake_run(), tmp_path)
    with pytest.raises(FileExistsError, match="replace=True"):
        records.append_run("demo", fake_run(train=50.0), tmp_path)
    assert records.metric_values(records.load_record("demo", tmp_path), "a",
                                 "final_train_error") == [10.0]
    records.append_run("demo", fake_run(train=50.0), tmp_path, replace=True)
    assert records.metric_values(records.load_record("demo", tmp_path), "a",
                                 "final_train_error") == [50.0]


def test_a_pilot_is_kept_apart_from_the_runs(tmp_path):
    records.append_run("demo", fake_run(pilot=True, train=70.0), tmp_path)
    records.append_run("demo", fake_run(), tmp_path)
    record = records.load_record("demo", tmp_path)
    assert records.metric_values(record, "a", "final_train_error") == [10.0]
    assert records.metric_values(record, "a", "final_train_error", pilot=True) == [70.0]


@pytest.mark.parametrize("bad", [{"final_train_error": float("nan"), "final_test_error": 1.0},
                                 {"final_train_error": 101.0, "final_test_error": 1.0},
                                 {"final_test_error": 1.0}])
def test_runs_with_bad_metrics_are_refused(tmp_path, bad):
    run = fake_run()
    run["metrics"] = bad
    with pytest.raises(ValueError, match="percentage"):
        records.append_run("demo", run, tmp_path)
    assert not (tmp_path / "demo.json").exists()


def test_a_run_missing_keys_is_refused(tmp_path):
    run = fake_run()
    del run["curves"]
    with pytest.raises(ValueError, match="missing \\['curves'\\]"):
        records.append_run("demo", run, tmp_path)


def test_missing_record_and_bad_names_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m cnnlib.experiments run"):
        records.load_record("nothing", tmp_path)
    with pytest.raises(ValueError, match="letters, digits"):
        records.record_file("../escape", tmp_path)
    with pytest.raises(ValueError, match="folder to write to"):
        records.append_run("demo", fake_run(), None)


def test_summary_rows_give_mean_sample_sd_and_range(tmp_path):
    for seed, value in enumerate((10.0, 14.0, 15.0)):
        records.append_run("demo", fake_run(seed=seed, train=value), tmp_path)
    row = records.summary_rows(records.load_record("demo", tmp_path))[0]
    stats = row["final_train_error"]
    assert row["seeds"] == 3
    assert stats["mean"] == pytest.approx(13.0)
    assert stats["sd"] == pytest.approx(statistics.stdev([10.0, 14.0, 15.0]))
    assert (stats["min"], stats["max"]) == (10.0, 15.0)


def test_paired_differences_use_only_seeds_both_arms_ran(tmp_path):
    for seed, (a, b) in enumerate(((10.0, 12.0), (11.0, 15.0))):
        records.append_run("demo", fake_run("a", seed, train=a), tmp_path)
        records.append_run("demo", fake_run("b", seed, train=b), tmp_path)
    records.append_run("demo", fake_run("a", 7, train=99.0), tmp_path)
    record = records.load_record("demo", tmp_path)
    assert records.paired_differences(record, "b", "a", "final_train_error") == [2.0, 4.0]


def test_error_curves_come_from_accuracies(tmp_path):
    records.append_run("demo", fake_run(train=10.0), tmp_path)
    record = records.load_record("demo", tmp_path)
    assert records.curves(record, "a", "train_error") == [pytest.approx([50.0, 30.0, 10.0])]
    with pytest.raises(KeyError, match="no curve 'lr'"):
        records.curves(record, "a", "lr")


def _append_from_process(args):
    folder, seed = args
    records.append_run("demo", fake_run(seed=seed), folder)


def test_runs_finishing_together_in_two_processes_are_both_kept(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_append_from_process, [(str(tmp_path), s) for s in range(8)])
    record = records.load_record("demo", tmp_path)
    assert sorted(r["seed"] for r in record["runs"]) == list(range(8))


def test_plot_record_draws_a_band_and_a_mean_per_arm(tmp_path):
    design = {"arms": ["a", "b"]}
    for seed in range(3):
        records.append_run("demo", fake_run("a", seed, train=10.0 + seed), tmp_path, design)
        records.append_run("demo", fake_run("b", seed, train=20.0 + seed), tmp_path, design)
    record = records.load_record("demo", tmp_path)
    fig = plot_record(record, panels={"A": ["a"], "B": ["b"]})
    left, right = fig.axes
    assert left.get_title() == "A" and right.get_title() == "B"
    assert len(left.collections) == 1 and len(left.lines) == 1  # one band, one mean
    assert left.lines[0].get_ydata()[-1] == pytest.approx(11.0)
    with pytest.raises(ValueError, match="no runs of \\['c'\\]"):
        plot_record(record, panels={"C": ["c"]})
    records.append_run("demo", fake_run("b", 9, pilot=True), tmp_path, design)
    pilot = plot_record(records.load_record("demo", tmp_path), pilot=True)
    assert pilot.axes[0].lines[0].get_color() == right.lines[0].get_color()  # b keeps it


def test_shrink_averages_blocks_of_pixels():
    images = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4)
    small = experiments.shrink(images, 2)
    assert small.dtype == torch.uint8
    assert small.flatten().tolist() == [2, 4, 10, 12]  # means 2.5, 4.5, 10.5, 12.5 rounded even
    with pytest.raises(ValueError, match="whole factor"):
        experiments.shrink(images, 3)


def test_step_decay_gives_the_rates_of_multisteplr():
    model = torch.nn.Linear(2, 2)
    hyper = {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "decay_at": [0.5, 0.75]}
    budget = experiments.Budget(train_size=1, test_size=1, epochs=16)
    opt, sched, per_batch = experiments._sgd(model, hyper, budget, None)
    ref_opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    ref = torch.optim.lr_scheduler.MultiStepLR(ref_opt, [8, 12], gamma=0.1)
    for _ in range(16):
        assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"])
        opt.step(), sched.step(), ref_opt.step(), ref.step()
    assert per_batch is False


def test_the_degradation_arms_are_plain_and_residual_twins():
    build = experiments.get_experiment("degradation").build
    for depth in (20, 56):
        plain, residual = build(f"plain-{depth}"), build(f"resnet-{depth}")
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        assert count(plain) == count(residual)  # option A shortcuts have no weights
        assert plain.depth == residual.depth == depth


def test_a_quick_run_trains_and_appends_a_valid_run(tmp_path, data_dir):
    run = experiments.run_arm("degradation", "resnet-20", 0, device="cpu", quick=True,
                              out=tmp_path, checkpoints=tmp_path / "ck")
    record = records.load_record("degradation", tmp_path)
    assert record["design"] == json.loads(json.dumps(
        experiments.get_experiment("degradation").design()))
    assert record["runs"] == [json.loads(json.dumps(run))]
    assert run["quick"] and run["image_size"] == 16 and run["epochs"] == 1
    again = experiments.run_arm("degradation", "resnet-20", 0, device="cpu", quick=True,
                                checkpoints=tmp_path / "ck")  # resumed: nothing trained again
    assert again["metrics"] == run["metrics"] and again["curves"] == run["curves"]


def test_the_command_line_refuses_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit):
        experiments.main(["run", "degradation", "--seeds", "0"])  # no --out
    assert "--out FOLDER is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        experiments.main(["run", "degradation", "--arms", "plain-110", "--quick"])
    assert "not ['plain-110']" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit):
        experiments.main(["run", "degradation", "--out", str(tmp_path / "file")])
    assert "is a file" in capsys.readouterr().err


SHIPPED = sorted(records.recorded_dir().glob("*.json"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_record_is_complete_and_matches_its_design(path):
    record = records.load_record(path.stem)
    if path.stem == experiments.VIEWS_RECORD:  # measurements of another record's models
        models = records.load_record(record["design"]["model_record"])
        trained = {(r["arm"], r["seed"]) for r in records.runs(models)}
        for run in record["runs"]:
            records.check_run(run)
            assert run["evaluation"] and not run.get("quick")
            model = run["model"]
            assert (model["arm"], model["seed"]) in trained, run["arm"]
            if run["arm"].endswith("/centre"):  # the plain test is the training run's own
                same = records.runs(models, model["arm"])
                final = {r["seed"]: r["metrics"]["final_test_error"] for r in same}
                assert run["metrics"]["final_test_error"] == final[model["seed"]]
        for arm in record["design"]["arms"]:
            assert len(records.runs(record, arm)) >= 3, f"{arm}: fewer than three seeds"
        return
    exp = experiments.get_experiment(path.stem)
    assert record["design"] == json.loads(json.dumps(exp.design()))
    for run in record["runs"]:
        records.check_run(run)
        assert not run.get("quick"), "a quick run in a shipped record"
        if not run.get("pilot"):
            assert run["hyper"] == exp.hyper_for(run["arm"])
            budget = experiments.arm_budget(exp, run["arm"], exp.budget)
            assert (run["epochs"], run["train_size"], run["image_size"]) == (
                budget.epochs, budget.train_size, budget.image_size)
    for arm in exp.arms:
        assert len(records.runs(record, arm)) >= 3, f"{arm}: fewer than three seeds"
    tried = {run["arm"] for run in record["runs"] if run.get("variant", "").startswith("lr")}
    if tried == set(exp.arms):
        # a learning-rate pilot of every arm: the design runs each at the rate it chose (a
        # follow-up that tries another rate on one arm, as same_budget's VGG-16 at 0.05 or
        # relu_tanh's ReLU at 0.02 for the whole budget, chooses nothing)
        short = min(r["epochs"] for r in records.runs(record, pilot=True))
        chosen = records.pilot_choice(record, epochs=short)
        assert {arm: c["hyper"]["lr"] for arm, c in chosen.items()} == {
            arm: exp.hyper_for(arm)["lr"] for arm in exp.arms}


def test_a_changed_design_replaces_a_pilots_only_record_and_is_refused_after_runs(tmp_path):
    records.append_run("demo", fake_run(pilot=True), tmp_path, design={"lr": 0.1})
    records.append_run("demo", fake_run(), tmp_path, design={"lr": 0.2})
    assert records.load_record("demo", tmp_path)["design"] == {"lr": 0.2}
    with pytest.raises(ValueError, match="another design"):
        records.append_run("demo", fake_run(seed=1), tmp_path, design={"lr": 0.3})
    records.append_run("demo", fake_run(seed=1), tmp_path, design={"lr": 0.2})


def test_a_damaged_record_is_named_and_left_alone(tmp_path):
    (tmp_path / "demo.json").write_text('{"format": 1, "runs": [')
    with pytest.raises(ValueError, match="is damaged"):
        records.append_run("demo", fake_run(), tmp_path)
    assert (tmp_path / "demo.json").read_text() == '{"format": 1, "runs": ['


@pytest.mark.parametrize("text, says", [
    ("[]", "it holds a JSON list, not an object"),
    ("3", "it holds a JSON number, not an object"),
    ("{}", "it has no 'format'"),
    ('{"format": 2, "runs": []}', "its 'format' is 2"),
    ('{"format": 1}', "it has no 'runs'"),
    ('{"format": 1, "runs": "oops", "design": {}}', "its 'runs' is a JSON string, not a list"),
    ('{"format": 1, "runs": [], "design": []}', "its 'design' is a JSON list"),
    ('{"format": 1, "runs": [7]}', "runs[0] is a JSON number, not an object"),
    ('{"format": 1, "runs": [{"arm": "relu"}]}', "runs[0] (arm 'relu') has no seed"),
    ('{"format": 1, "runs": [{"seed": 0}]}', "runs[0] has no arm"),
])
def test_valid_json_that_is_no_record_says_what_a_record_is(tmp_path, text, says):
    (tmp_path / "demo.json").write_text(text)
    for attempt in (lambda: records.load_record("demo", tmp_path),
                    lambda: records.append_run("demo", fake_run(), tmp_path)):
        with pytest.raises(ValueError) as error:
            attempt()
        message = str(error.value)
        assert f"not an experiment record of format 1: {says}" in message
        assert '{"format": 1,' in message and "move it away" in message
    assert (tmp_path / "demo.json").read_text() == text


def test_a_record_of_bytes_or_a_folder_in_its_place_is_named(tmp_path):
    (tmp_path / "demo.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="is damaged"):
        records.load_record("demo", tmp_path)
    (tmp_path / "other.json").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        records.load_record("other", tmp_path)


def test_a_record_reached_through_a_symbolic_link_grows_at_its_target(tmp_path):
    kept, folder = tmp_path / "kept", tmp_path / "rec"
    records.append_run("demo", fake_run(seed=0), kept, design={"arms": ["a"]})
    folder.mkdir()
    (folder / "demo.json").symlink_to("../kept/demo.json")
    records.append_run("demo", fake_run(seed=1), folder)
    assert (folder / "demo.json").is_symlink()
    assert [r["seed"] for r in records.load_record("demo", kept)["runs"]] == [0, 1]
    (folder / "gone.json").symlink_to("../kept/nothing.json")
    with pytest.raises(FileNotFoundError, match="symbolic link to .*nothing.json, which does "
                                                "not exist"):
        records.append_run("gone", fake_run(), folder)
    (folder / "relu_tanh.json").symlink_to("../kept/nothing.json")
    with pytest.raises(FileNotFoundError, match="which does not exist"):  # before training
        experiments.run_arm("relu_tanh", "relu", 0, quick=True, out=folder)
    assert not (kept / "nothing.json").exists()


def test_metrics_given_as_fractions_are_refused(tmp_path):
    run = fake_run(train=10.0)
    run["metrics"]["final_train_error"] = 0.1  # the curves say 10 %
    with pytest.raises(ValueError, match="percentages"):
        records.append_run("demo", run, tmp_path)


def test_unknown_arms_metrics_and_epochs_are_named(tmp_path):
    records.append_run("demo", fake_run("plain-56"), tmp_path)
    record = records.load_record("demo", tmp_path)
    with pytest.raises(ValueError, match="no runs of arm 'plain56'.*\\['plain-56'\\]"):
        records.metric_values(record, "plain56", "final_train_error")
    with pytest.raises(KeyError, match="no metric 'test_error'.*test_error@5"):
        records.paired_differences(record, "plain-56", "plain-56", "test_error")
    assert records.metric_values(record, "plain-56", "train_error@1") == [pytest.approx(50.0)]
    with pytest.raises(ValueError, match="from 1 to 3"):
        records.metric_values(record, "plain-56", "train_error@4")


def test_quick_runs_are_kept_apart_from_real_ones(tmp_path):
    quick = fake_run(train=80.0)
    quick["quick"] = True
    records.append_run("demo", quick, tmp_path)
    records.append_run("demo", fake_run(train=10.0), tmp_path)  # same arm and seed: allowed
    record = records.load_record("demo", tmp_path)
    assert records.summary_rows(record)[0]["final_train_error"]["mean"] == 10.0
    assert records.metric_values(record, "a", "final_train_error") == [10.0]
    assert records.has_run(record, "a", 0, quick=True)


def test_a_recorded_run_is_refused_before_it_trains(tmp_path, monkeypatch):
    records.append_run("degradation", {**fake_run("resnet-20"), "quick": True}, tmp_path)
    monkeypatch.setattr(experiments, "experiment_data", lambda *a: pytest.fail("trained"))
    with pytest.raises(FileExistsError, match="nothing was trained"):
        experiments.run_arm("degradation", "resnet-20", 0, quick=True, out=tmp_path)


@pytest.mark.parametrize("argv, message", [
    (["run", "degradatoin", "--quick"], "unknown experiment 'degradatoin'"),
    (["run", "degradation", "--arms", "", "--quick"], "--arms is empty"),
    (["run", "degradation", "--seeds=-1", "--quick"], "whole numbers >= 0"),
    (["run", "degradation", "--seeds", "5,5", "--quick"], "different whole numbers"),
    (["run", "degradation", "--arms", "plain-20,plain-20", "--quick"], "an arm twice"),
    (["views", "augmentation", "--seeds=-1", "--quick", "--checkpoints", "ck"],
     "whole numbers >= 0"),
    (["views", "augmentation", "--arms", "", "--quick", "--checkpoints", "ck"],
     "--arms is empty"),
    (["run", "degradation", "--quick", "--set", "schedule=step"], "needs decay_at"),
    (["run", "degradation", "--quick", "--set", "lr=fast"], "lr must be a number"),
    (["run", "degradation", "--quick", "--set", "momentum=-1"], "momentum must be"),
    (["run", "degradation", "--quick", "--set", "schedule=cosine"], "'step', 'one_cycle'"),
    (["run", "degradation", "--quick", "--device", "gpu"], "--device gpu: "),
    (["views", "augmentation", "--quick", "--checkpoints", "ck", "--device", "gpu"],
     "--device gpu: "),
])
def test_the_command_line_refuses_bad_settings_before_reading_data(argv, message, capsys):
    with pytest.raises(SystemExit):
        experiments.main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with a GPU has cuda")
def test_device_cuda_without_a_gpu_is_one_error_line_not_a_traceback(capsys):
    with pytest.raises(SystemExit):
        experiments.main(["run", "dropout", "--quick", "--device", "cuda", "--arms",
                          "dropout-0", "--seeds", "0"])
    err = capsys.readouterr().err
    assert "error: --device cuda: device 'cuda' was asked for, but torch sees no CUDA GPU" \
        in err and "leave --device out" in err and "Traceback" not in err


def test_quick_runs_with_other_settings_are_recorded_apart(tmp_path, data_dir, capsys):
    argv = ["run", "relu_tanh", "--arms", "relu", "--seeds", "0", "--quick", "--out",
            str(tmp_path), "--device", "cpu"]
    for extra in (["--set", "lr=0.1"], ["--set", "lr=0.002"], []):
        assert experiments.main(argv + extra) == 0
    out = capsys.readouterr().out
    assert "already in the record" not in out and "seed 0 (lr0.1): train error" in out
    record = records.load_record("relu_tanh", tmp_path)
    assert [(r["quick"], r["pilot"], r.get("variant", "")) for r in record["runs"]] == [
        (True, False, "lr0.1"), (True, False, "lr0.002"), (True, False, "")]
    assert experiments.main(argv + ["--set", "lr=0.1"]) == 0  # the same settings again
    assert "relu seed 0: already in the record, skipped" in capsys.readouterr().out


def test_a_run_without_its_accuracy_curves_is_refused(tmp_path):
    run = fake_run()
    run["curves"] = {}
    with pytest.raises(ValueError, match="one accuracy .* per epoch"):
        records.append_run("demo", run, tmp_path)
    run = fake_run(epochs=3)
    run["epochs"] = 4
    with pytest.raises(ValueError, match="4 in all"):
        records.append_run("demo", run, tmp_path)


def test_a_pilot_may_try_several_settings_on_one_arm_and_seed(tmp_path):
    for lr in (0.01, 0.1):
        run = {**fake_run(pilot=True), "variant": f"lr{lr}", "hyper": {"lr": lr}}
        records.append_run("demo", run, tmp_path)
    record = records.load_record("demo", tmp_path)
    assert records.has_run(record, "a", 0, pilot=True, variant="lr0.1")
    assert not records.has_run(record, "a", 0, pilot=True)  # no run that changed nothing
    assert len(records.runs(record, "a", pilot=True)) == 2
    assert [r["hyper"]["lr"] for r in records.runs(record, "a", pilot=True,
                                                   variant="lr0.01")] == [0.01]


def test_a_diverged_pilot_is_recorded_but_left_out_of_the_statistics(tmp_path):
    gone = {**fake_run(pilot=True), "variant": "lr9", "diverged": True, "metrics": None,
            "curves": {}, "seconds": None}
    records.append_run("demo", gone, tmp_path)
    records.append_run("demo", fake_run(pilot=True), tmp_path)
    record = records.load_record("demo", tmp_path)
    assert [r["variant"] for r in records.diverged(record)] == ["lr9"]
    assert records.metric_values(record, "a", "final_train_error", pilot=True) == [10.0]
    with pytest.raises(ValueError, match="only a pilot"):
        records.append_run("demo", {**gone, "pilot": False}, tmp_path)


def test_an_evaluation_run_needs_only_a_test_error(tmp_path):
    run = {**fake_run("a/centre"), "evaluation": True, "curves": {},
           "metrics": {"final_test_error": 12.5}}
    records.append_run("views", run, tmp_path)
    with pytest.raises(ValueError, match="percentage"):
        records.append_run("views", {**run, "arm": "b", "metrics": {"final_test_error": 0.2e3}},
                           tmp_path)


def test_the_relu_tanh_paper_arms_start_as_the_paper_did(data_dir):
    exp = experiments.get_experiment("relu_tanh")
    torch.manual_seed(0)
    paper, default = exp.build("tanh-paper"), exp.build("tanh")
    conv = paper.features[3]  # the second convolution: 32 × 64 × 5 × 5 weights
    assert abs(conv.weight.std().item() - 0.01) < 0.0005 and not conv.bias.any()
    assert default.features[3].weight.std().item() > 0.015  # PyTorch's default is wider
    budget = experiments.Budget(256, 256, 1)
    for arm, low, high in (("tanh", 0.8, 1.2), ("tanh-paper", 40, 90)):
        train, _ = experiments.experiment_data(exp, budget, 0, torch.device("cpu"), arm)
        x, _ = next(iter(train))
        assert low < x.std().item() < high, arm  # standardised, or pixel units
        assert abs(x.mean().item()) < 0.2 * high  # centred either way
    assert exp.hyper_for("tanh-paper")["lr"] == exp.arm_settings["tanh-paper"]["hyper"]["lr"]


def test_the_augmentation_arms_differ_only_in_crops_and_flips(data_dir):
    exp = experiments.get_experiment("augmentation")
    budget = experiments.Budget(256, 256, 1)
    loaders = {arm: experiments.experiment_data(exp, budget, 0, torch.device("cpu"), arm)
               for arm in exp.arms}
    assert loaders["augment"][0].augment and not loaders["no-augment"][0].augment
    assert not loaders["augment"][1].augment  # never at test time
    assert exp.hyper_for("augment") == exp.hyper_for("no-augment")


def test_a_constant_schedule_has_no_scheduler():
    model = torch.nn.Linear(2, 2)
    hyper = {"schedule": "constant", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0}
    optimiser, scheduler, per_batch = experiments._sgd(model, hyper, None, None)
    assert scheduler is None and optimiser.param_groups[0]["lr"] == 0.1


def test_pilot_variants_train_apart_and_refuse_a_repeat(tmp_path, data_dir):
    for lr in (0.01, 0.02):  # relu's own 0.05 would be no variant
        experiments.run_arm("relu_tanh", "relu", 3, device="cpu", quick=True, pilot=True,
                            hyper={"lr": lr}, out=tmp_path, checkpoints=tmp_path / "ck")
    record = records.load_record("relu_tanh", tmp_path)
    assert sorted(r["variant"] for r in record["runs"]) == ["lr0.01", "lr0.02"]
    with pytest.raises(FileExistsError, match="variant='lr0.01'"):
        experiments.run_arm("relu_tanh", "relu", 3, quick=True, pilot=True,
                            hyper={"lr": 0.01}, out=tmp_path)


def test_a_diverging_pilot_is_recorded_as_diverged(tmp_path, data_dir):
    run = experiments.run_arm("relu_tanh", "relu-paper", 3, device="cpu", quick=True,
                              pilot=True, hyper={"lr": 50.0}, out=tmp_path)
    assert run["diverged"] and run["metrics"] is None and "lr" in run["variant"]
    with pytest.raises(FloatingPointError):  # the design's own runs must not diverge
        experiments.run_arm("relu_tanh", "relu-paper", 3, device="cpu", quick=True,
                            hyper={"lr": 50.0}, out=tmp_path)


@pytest.mark.filterwarnings("ignore::cnnlib._fit_checks.DivergedWarning")
def test_a_run_whose_weights_blow_up_is_a_diverged_pilot_or_refused(tmp_path, data_dir,
                                                                     monkeypatch):
    from cnnlib._fit_checks import DivergedWarning
    exp = experiments.get_experiment("relu_tanh")  # relu on pixel inputs at its 0.05 blows up
    pixels = {**exp.arm_settings, "relu": {**exp.arm_settings["relu"], "inputs": "pixels"}}
    monkeypatch.setitem(experiments.EXPERIMENTS, "relu_tanh",
                        dataclasses.replace(exp, arm_settings=pixels))
    args = dict(device="cpu", quick=True, out=tmp_path, checkpoints=tmp_path / "ck")
    with pytest.warns(DivergedWarning):  # still shown
        run = experiments.run_arm("relu_tanh", "relu", 0, pilot=True, **args)
    assert run["diverged"] and run["metrics"] is None and len(run["curves"]["train_acc"]) == 1
    assert run["error"].startswith("epoch 1 ended with a weight of")
    record = records.load_record("relu_tanh", tmp_path)
    assert records.diverged(record) == [json.loads(json.dumps(run))]
    assert records.runs(record, pilot=True) == []  # left out of the statistics
    for attempt in ("trains", "resumes its finished checkpoint"):  # no warning the second time
        with pytest.raises(FloatingPointError, match="only a pilot records a diverged run"):
            experiments.run_arm("relu_tanh", "relu", 0, **args)
    assert [r["pilot"] for r in records.load_record("relu_tanh", tmp_path)["runs"]] == [True]


def test_the_command_reports_a_diverged_pilot_and_goes_on(tmp_path, data_dir, capsys):
    code = experiments.main(["run", "relu_tanh", "--arms", "relu-paper,relu", "--seeds", "3",
                             "--pilot", "--set", "lr=50", "--quick", "--out", str(tmp_path),
                             "--device", "cpu"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith("relu_tanh relu-paper seed 3 (lr50): diverged (")
    assert "train error" in lines[1] or "diverged" in lines[1]  # the next arm still ran


def test_views_measure_the_trained_models_and_centre_is_their_test_error(tmp_path, data_dir):
    with pytest.raises(FileNotFoundError, match="train it first"):
        experiments.measure_views("augmentation", "augment", 0, tmp_path, quick=True)
    run = experiments.run_arm("augmentation", "augment", 0, device="cpu", quick=True,
                              checkpoints=tmp_path)
    views = experiments.measure_views("augmentation", "augment", 0, tmp_path, quick=True,
                                      out=tmp_path)
    assert [v["arm"] for v in views] == ["augment/centre", "augment/flip", "augment/ten_crop"]
    assert views[0]["metrics"]["final_test_error"] == run["metrics"]["final_test_error"]
    record = records.load_record(experiments.VIEWS_RECORD, tmp_path)
    assert len(record["runs"]) == 3 and all(r["evaluation"] for r in record["runs"])


def test_epochs_to_a_threshold_per_seed_and_the_pilot_choice(tmp_path):
    records.append_run("demo", fake_run(seed=0, train=10.0), tmp_path)  # 50, 30, 10 % error
    records.append_run("demo", fake_run(seed=1, train=40.0), tmp_path)  # 50, 30, 40 %
    record = records.load_record("demo", tmp_path)
    assert records.epochs_to(record, "a", "train_error", 30.0 + 1e-9) == [2, 2]
    assert records.epochs_to(record, "a", "train_error", 20.0) == [3, None]
    for lr, loss in ((0.01, 0.9), (0.1, 0.5), (1.0, 0.7)):
        run = {**fake_run(pilot=True), "variant": f"lr{lr}", "hyper": {"lr": lr}}
        run["curves"]["train_loss"] = [2.0, 1.0, loss]
        records.append_run("demo", run, tmp_path)
    records.append_run("demo", {**fake_run(pilot=True), "variant": "lr9", "diverged": True,
                                "metrics": None, "curves": {}, "seconds": None}, tmp_path)
    record = records.load_record("demo", tmp_path)
    assert records.total_seconds(record) == sum(r["seconds"] or 0 for r in record["runs"]) > 0
    choice = records.pilot_choice(record)
    assert choice == {"a": {"variant": "lr0.1", "hyper": {"lr": 0.1}, "value": 0.5}}


# --- cases a stranger's attack on the API found (kept as tests) -------------------------------

def test_an_empty_folder_never_means_the_books_own_records(tmp_path):
    with pytest.raises(ValueError, match="folder is empty"):
        records.record_file("relu_tanh", "")
    with pytest.raises(ValueError, match="folder is empty"):
        experiments.run_arm("relu_tanh", "relu", 7, quick=True, out="  ")
    with pytest.raises(ValueError, match="the book's own records"):
        records.append_run("relu_tanh", fake_run(), records.recorded_dir())


@pytest.mark.parametrize("changes, error, message", [
    ({"quick": "no"}, TypeError, "quick must be True or False, got 'no' (a str)"),
    ({"pilot": "no"}, TypeError, "pilot must be True or False, got 'no'"),
    ({"replace": 1}, TypeError, "replace must be True or False, got 1 (a int)"),
    ({"progress": None}, TypeError, "progress must be True or False"),
    ({"hyper": "lr=0.1"}, TypeError, "hyper must be a dict of the hyper-parameters"),
    ({"out": 3}, TypeError, "out must be a folder (a str or Path) or None, got 3"),
    ({"checkpoints": ["ck"]}, TypeError, "checkpoints must be a folder"),
    ({"out": "FILE"}, FileExistsError, "out is a folder, and "),
    ({"checkpoints": "FILE"}, FileExistsError, "checkpoints is a folder, and "),
    ({"seed": "0"}, TypeError, "seed must be a whole number from 0 to "),
    ({"seed": 2**70}, ValueError, "seed must be from 0 to 18,446,744,073,709,551,615"),
    ({"epochs": 0}, ValueError, "epochs must be >= 1, got 0"),
    ({"epochs": "2"}, TypeError, "epochs must be a whole number >= 1, got '2'"),
])
def test_run_arm_refuses_wrong_types_before_reading_data(tmp_path, monkeypatch, changes, error,
                                                          message):
    monkeypatch.setattr(experiments, "experiment_data", lambda *a: pytest.fail("read data"))
    (tmp_path / "FILE").write_text("x")
    args = {"seed": 0, "quick": True, "pilot": True, "out": tmp_path / "rec", **changes}
    for key in ("out", "checkpoints"):
        if args.get(key) == "FILE":
            args[key] = tmp_path / "FILE"
    with pytest.raises(error) as caught:
        experiments.run_arm("relu_tanh", "relu", args.pop("seed"), **args)
    assert message in str(caught.value)
    assert not (tmp_path / "rec").exists()


def test_run_arm_records_a_numpy_seed_as_a_plain_int(tmp_path, data_dir):
    import numpy as np
    run = experiments.run_arm("relu_tanh", "relu", np.int64(2), device="cpu", quick=True,
                              out=tmp_path)
    assert type(run["seed"]) is int
    assert records.load_record("relu_tanh", tmp_path)["runs"][0]["seed"] == 2


def test_a_pilot_may_change_only_what_the_optimiser_reads(tmp_path):
    for hyper, message in (({"optimizer": "Adam"}, "not \\['optimizer'\\]"),
                           ({"shortcut": "B"}, "not \\['shortcut'\\]"),
                           ({"learning_rate": 0.5}, "not \\['learning_rate'\\]"),
                           ({"pct_start": 0.2}, "read only by the 'one_cycle'"),
                           ({"lr": float("inf")}, "lr must be a number")):
        with pytest.raises(ValueError, match=message):
            experiments.run_arm("relu_tanh", "relu", 3, quick=True, pilot=True, hyper=hyper,
                                out=tmp_path)
    with pytest.raises(SystemExit):
        experiments.main(["run", "relu_tanh", "--quick", "--pilot", "--set",
                          "optimizer=x/../../escaped"])
    # a changed schedule drops the old schedule's own setting instead of failing on it
    hyper = experiments._pilot_hyper({"schedule": "one_cycle", "pct_start": 0.3, "lr": 0.1,
                                      "momentum": 0.9, "weight_decay": 0.0},
                                     {"schedule": "step", "decay_at": [0.5]})
    assert "pct_start" not in hyper and hyper["decay_at"] == [0.5]


def test_a_checkpoint_is_named_by_everything_that_decides_the_run(tmp_path):
    exp = experiments.get_experiment("relu_tanh")
    budget, hyper = exp.budget, exp.hyper_for("relu")
    name = experiments.checkpoint_file(exp, "relu", 0, budget, hyper, False, False, tmp_path)
    changed = dataclasses.replace(exp, arm_settings={**exp.arm_settings,
                                                     "relu": {"hyper": {"lr": 0.05},
                                                              "inputs": "pixels"}})
    other = experiments.checkpoint_file(changed, "relu", 0, budget, hyper, False, False,
                                        tmp_path)
    assert name != other and name.parent == other.parent == tmp_path
    smaller = dataclasses.replace(budget, train_size=5000)
    assert experiments.checkpoint_file(exp, "relu", 0, smaller, hyper, False, False,
                                       tmp_path) != name


def test_a_damaged_or_foreign_record_is_refused_before_training_even_with_replace(
        tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "experiment_data", lambda *a: pytest.fail("trained"))
    (tmp_path / "relu_tanh.json").write_text("{not json")
    with pytest.raises(ValueError, match="damaged"):
        experiments.run_arm("relu_tanh", "relu", 0, quick=True, out=tmp_path, replace=True)
    (tmp_path / "relu_tanh.json").unlink()
    records.append_run("relu_tanh", fake_run("relu"), tmp_path, design={"other": 1})
    with pytest.raises(ValueError, match="another design"):
        experiments.run_arm("relu_tanh", "relu", 5, quick=True, out=tmp_path)


def test_replace_trains_again_and_keeps_the_old_checkpoint_aside(tmp_path, data_dir):
    ck = tmp_path / "ck"
    first = experiments.run_arm("relu_tanh", "relu", 0, device="cpu", quick=True,
                                out=tmp_path, checkpoints=ck)
    again = experiments.run_arm("relu_tanh", "relu", 0, device="cpu", quick=True,
                                out=tmp_path, checkpoints=ck, replace=True)
    assert again["metrics"] == first["metrics"]  # trained again from scratch: the same run
    assert len(list(ck.glob("*.pt.replaced"))) == 1 and len(list(ck.glob("*.pt"))) == 1


def _ctrl_c_after_epoch_1(monkeypatch):
    """fit as Ctrl-C leaves it: a callback that raises KeyboardInterrupt after epoch 1 (fit
    then returns the completed epochs, as it does for a real Ctrl-C)."""
    real_fit = experiments.fit

    def stopped(*args, **kwargs):
        def ctrl_c(epoch, history):
            if epoch == 1:
                raise KeyboardInterrupt
        return real_fit(*args, callbacks=[ctrl_c], **kwargs)
    monkeypatch.setattr(experiments, "fit", stopped)


def test_ctrl_c_in_a_run_records_nothing_and_the_same_call_resumes(tmp_path, data_dir,
                                                                   monkeypatch, capsys):
    ck, args = tmp_path / "ck", dict(device="cpu", quick=True, epochs=2, pilot=True)
    whole = experiments.run_arm("relu_tanh", "relu", 0, out=tmp_path / "whole", **args)
    _ctrl_c_after_epoch_1(monkeypatch)
    with pytest.raises(experiments.RunInterrupted) as stop:
        experiments.run_arm("relu_tanh", "relu", 0, out=tmp_path, checkpoints=ck, **args)
    assert isinstance(stop.value, KeyboardInterrupt)
    assert str(stop.value).startswith("relu_tanh relu seed 0: stopped (Ctrl-C) after epoch 1 "
                                      "of 2, not recorded; its checkpoint ")
    assert str(stop.value).endswith("holds epoch 1: run the same command (or run_arm call) "
                                    "again to resume from epoch 2")
    assert capsys.readouterr().out == ""  # fit's own line is replaced by that one
    assert not (tmp_path / "relu_tanh.json").exists() and len(list(ck.glob("*.pt"))) == 1
    with pytest.raises(experiments.RunInterrupted, match="starts over when run again: pass "
                                                         "--checkpoints FOLDER"):
        experiments.run_arm("relu_tanh", "relu", 1, out=tmp_path, **args)
    monkeypatch.undo()
    resumed = experiments.run_arm("relu_tanh", "relu", 0, out=tmp_path, checkpoints=ck, **args)
    assert len(resumed["curves"]["train_acc"]) == 2 and resumed["metrics"] == whole["metrics"]
    assert [r["seed"] for r in records.load_record("relu_tanh", tmp_path)["runs"]] == [0]


def test_ctrl_c_stops_the_command_with_one_line(tmp_path, data_dir, monkeypatch, capsys):
    _ctrl_c_after_epoch_1(monkeypatch)
    code = experiments.main(["run", "relu_tanh", "--arms", "relu", "--seeds", "0,1",
                             "--quick", "--epochs", "2", "--device", "cpu",
                             "--checkpoints", str(tmp_path / "ck"), "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 130 and out == ""  # neither a 'finished' line nor the next seed
    assert len(err.splitlines()) == 1 and "seed 0: stopped (Ctrl-C) after epoch 1 of 2" in err


def test_a_sweep_skips_the_runs_its_record_holds(tmp_path, data_dir, capsys):
    argv = ["run", "relu_tanh", "--arms", "relu", "--seeds", "0", "--quick", "--out",
            str(tmp_path), "--device", "cpu"]
    assert experiments.main(argv) == 0
    argv[argv.index("0")] = "0,1"
    assert experiments.main(argv) == 0
    out = capsys.readouterr().out
    assert "seed 0: already in the record, skipped" in out and "relu seed 1: train" in out


def test_pilot_choice_averages_a_variants_seeds_and_ignores_nan(tmp_path):
    for seed, (a, b) in enumerate(((1.0, 1.5), (3.0, 1.6))):
        for variant, loss in (("lr0.1", a), ("lr0.01", b)):
            run = {**fake_run(seed=seed, pilot=True), "variant": variant,
                   "hyper": {"lr": float(variant[2:])}}
            run["curves"]["train_loss"] = [2.0, 1.8, loss]
            records.append_run("demo", run, tmp_path)
    choice = records.pilot_choice(records.load_record("demo", tmp_path))
    assert choice["a"]["variant"] == "lr0.01" and choice["a"]["value"] == pytest.approx(1.55)


def _pilots(tmp_path, variants):
    """A pilot record: (arm, seed, lr, epochs, final train error) per run."""
    for arm, seed, lr, epochs, train in variants:
        run = {**fake_run(arm, seed, train=train, pilot=True, epochs=epochs),
               "variant": f"lr{lr}-{epochs}ep", "hyper": {"lr": lr}}
        records.append_run("demo", run, tmp_path, design={"arms": ["b", "a"]})
    return records.load_record("demo", tmp_path)


def test_a_pilots_settings_are_rows_of_their_own_not_seeds(tmp_path):
    from cnnlib.reports import format_experiment
    record = _pilots(tmp_path, [("a", 10, 0.1, 3, 30.0), ("a", 10, 0.01, 3, 50.0),
                                ("a", 11, 0.01, 3, 60.0), ("b", 10, 0.1, 3, 40.0)])
    lines = format_experiment(record, pilot=True).splitlines()
    assert ", 3 epochs (" in lines[0]
    assert lines[1].split() == ["arm", "lr", "seeds", "train", "error", "(%)", "test", "error",
                                "(%)", "minutes"]
    assert [line.split()[:4] for line in lines[3:]] == [
        ["b", "0.1", "10", "40.0"], ["a", "0.01", "10,", "11"], ["a", "0.1", "10", "30.0"]]
    rows = records.summary_rows(record, pilot=True)
    assert [(r["arm"], r["settings"], r["seeds"]) for r in rows] == [
        ("b", {"lr": 0.1}, 1), ("a", {"lr": 0.01}, 2), ("a", {"lr": 0.1}, 1)]
    assert rows[1]["final_train_error"]["mean"] == 55.0
    with pytest.raises(ValueError, match="tried 2 settings.*pass variant="):
        records.metric_values(record, "a", "final_train_error", pilot=True)
    assert records.metric_values(record, "a", "final_train_error", pilot=True,
                                 variant="lr0.01-3ep") == [50.0, 60.0]
    with pytest.raises(ValueError, match="not seeds of one"):
        records.curves(record, "a", "train_error", pilot=True)
    fig = plot_record(record, pilot=True)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "b, lr 0.1 (1 seed)", "a, lr 0.01 (2 seeds)", "a, lr 0.1 (1 seed)"]
    colours = [line.get_color() for line in fig.axes[0].get_lines()]
    assert len(set(colours)) == 3


def test_pilots_of_other_lengths_are_rows_with_their_epochs(tmp_path):
    from cnnlib.reports import format_experiment
    record = _pilots(tmp_path, [("a", 10, 0.1, 2, 30.0), ("a", 10, 0.1, 3, 20.0)])
    lines = format_experiment(record, pilot=True).splitlines()
    assert ", 2 to 3 epochs;" in lines[0]
    assert lines[1].split()[:3] == ["arm", "epochs", "seeds"]  # lr is the same in both
    assert [line.split()[:3] for line in lines[3:]] == [["a", "2", "10"], ["a", "3", "10"]]
    fig = plot_record(record, "train_error", pilot=True)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "a, 2 epochs (1 seed)", "a, 3 epochs (1 seed)"]
    with pytest.raises(ValueError, match=r"ran different epochs .*pass epochs="):
        records.pilot_choice(record)
    assert records.pilot_choice(record, epochs=3)["a"]["variant"] == "lr0.1-3ep"


def test_a_pilot_of_one_setting_per_arm_reads_as_before(tmp_path):
    from cnnlib.reports import format_experiment
    record = _pilots(tmp_path, [("a", 10, 0.1, 3, 30.0), ("a", 11, 0.1, 3, 50.0),
                                ("b", 10, 0.2, 3, 40.0)])  # the arms' rates differ: no column
    lines = format_experiment(record, pilot=True).splitlines()
    assert lines[1].split()[:2] == ["arm", "seeds"] and lines[4].split()[:3] == ["a", "10,", "11"]
    assert [r["seeds"] for r in records.summary_rows(record, pilot=True)] == [1, 2]
    assert "variant" not in records.summary_rows(record, pilot=True)[0]
    assert records.metric_values(record, "a", "final_train_error", pilot=True) == [30.0, 50.0]
    fig = plot_record(record, pilot=True)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "b (1 seed)", "a (2 seeds)"]


def test_the_pilot_table_lists_the_diverged_pilots_it_leaves_out(tmp_path):
    from cnnlib.reports import format_experiment
    for variant, gone in (("lr9", True), ("lr0.1", False)):
        run = {**fake_run(pilot=True), "variant": variant, "hyper": {"lr": float(variant[2:])}}
        if gone:
            run.update(diverged=True, metrics=None, error="epoch 1 ended with a weight of 5e+08")
        records.append_run("demo", run, tmp_path)
    text = format_experiment(records.load_record("demo", tmp_path), pilot=True)
    assert text.splitlines()[-1] == "diverged, left out of the table: a seed 0 (lr9)"



def test_the_views_of_one_model_count_their_time_once():
    views = [{"arm": f"a/{v}", "seed": 0, "seconds": 4.5, "evaluation": True,
              "model": {"record": "r", "arm": "a", "seed": 0}} for v in ("x", "y", "z")]
    assert records.total_seconds({"runs": views + [{"seconds": 1.0}]}) == 5.5


def test_plot_record_names_arms_with_the_given_labels(tmp_path):
    records.append_run("demo", fake_run(seed=0), tmp_path)
    fig = plot_record(records.load_record("demo", tmp_path), labels={"a": "a, lr 0.1"})
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a, lr 0.1 (1 seed)"]


def test_times_as_many_reads_ratios_and_bounds_per_seed():
    from cnnlib.reports import times_as_many
    assert times_as_many([15, None, 12], [10, 8, None], 20) == ["1.5", "more than 2.5", "–"]
    with pytest.raises(ValueError, match="one value per seed"):
        times_as_many([1], [1, 2], 20)


def test_the_batch_norm_design_trains_vgg16_with_and_without_bn_and_nesterov():
    from torch import nn

    exp = designs.get_experiment("batch_norm")
    for arm, peak, has_bn in (("plain-0.02", 0.02, False), ("bn-0.2", 0.2, True)):
        model = exp.build(arm)
        assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == has_bn
        optimiser, scheduler, per_batch = exp.optimiser(model, exp.hyper_for(arm),
                                                        exp.budget, [None] * 4)
        assert per_batch and optimiser.param_groups[0]["nesterov"] is True
        assert optimiser.param_groups[0]["max_lr"] == pytest.approx(peak)


@pytest.mark.parametrize("hyper, message", [
    ({"schedule": "one_cycle", "nesterov": "yes"}, "nesterov must be True or False"),
    ({"schedule": "step", "decay_at": [0.5], "nesterov": True}, "nesterov is read only"),
])
def test_check_hyper_refuses_a_nesterov_it_would_not_use(hyper, message):
    with pytest.raises(ValueError, match=message):
        designs.check_hyper({"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, **hyper})


def test_the_nin_head_arms_share_one_body_and_differ_in_head_and_dropout():
    from torch import nn

    exp = designs.get_experiment("nin_head")
    built = {arm: exp.build(arm) for arm in exp.arms}
    with pytest.raises(ValueError, match="not 'googlenet'"):
        exp.build("googlenet")
    bodies = {arm: [tuple(p.shape) for p in m.features[:-1].parameters()]
              for arm, m in built.items()}  # the last mlpconv ends in 10 maps for GAP
    assert bodies["gap"] == bodies["fc"] == bodies["fc-nodropout"]
    drops = {arm: [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
             for arm, model in built.items()}
    assert drops == {"gap": [], "fc": [0.5, 0.5], "fc-nodropout": [0.0, 0.0]}
    assert not any(isinstance(m, nn.Linear) for m in built["gap"].modules())
    assert exp.augment is False and exp.budget.test_size == 10_000


def test_plot_record_draws_a_pilot_variant_beside_its_arm(tmp_path):
    design = {"arms": ["a"], "hyper": {"lr": 0.1}, "epochs": 3}
    for seed in range(3):
        records.append_run("demo", fake_run("a", seed, train=10.0), tmp_path, design)
        rerun = {**fake_run("a", seed, train=30.0, pilot=True), "hyper": {"lr": 0.02},
                 "variant": "lr0.02"}
        records.append_run("demo", rerun, tmp_path, design)
    record = records.load_record("demo", tmp_path)
    fig = plot_record(record, variants={"a": ["lr0.02"]})
    own, rerun = fig.axes[0].lines
    assert rerun.get_ydata()[-1] == pytest.approx(30.0) and rerun.get_linestyle() == "--"
    assert "lr 0.02" in rerun.get_label() and own.get_color() != rerun.get_color()
    with pytest.raises(ValueError, match="arm 'a' with variant 'lr9'; its variants are"):
        plot_record(record, variants={"a": ["lr9"]})


def test_train_model_returns_the_network_and_reads_a_finished_run_back(tmp_path, data_dir):
    model, run = experiments.train_model("relu_tanh", "tanh", 0, quick=True,
                                         checkpoints=tmp_path, device="cpu")
    again, run_again = experiments.train_model("relu_tanh", "tanh", 0, quick=True,
                                               checkpoints=tmp_path, device="cpu")
    assert isinstance(model, torch.nn.Module) and run["arm"] == "tanh"
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert run_again["curves"] == run["curves"] and run_again["seconds"] == run["seconds"]
    assert not list(tmp_path.glob("*.json"))  # no record written


def test_format_pilot_lists_rates_by_arm_and_the_choice(tmp_path):
    from cnnlib import reports

    design = {"arms": ["a", "b"]}
    for lr, losses in ((0.01, (1.0, 2.0)), (0.1, (0.5, None))):
        for arm, loss in zip("ab", losses):
            run = {**fake_run(arm, 10, pilot=True, epochs=2), "hyper": {"lr": lr},
                   "variant": f"lr{lr}-2ep"}
            if loss is None:
                run.update(diverged=True, metrics=None, curves={})
            else:
                run["curves"]["train_loss"] = [9.0, loss]
            records.append_run("demo", run, tmp_path, design)
    longer = {**fake_run("a", 0, pilot=True), "hyper": {"lr": 0.02}, "variant": "lr0.02"}
    records.append_run("demo", longer, tmp_path, design)  # 3 epochs: left out below
    text = reports.format_pilot(records.load_record("demo", tmp_path), ["a", "b"], epochs=2)
    lines = text.splitlines()
    assert lines[2].split() == ["0.01", "1.000", "2.000"]
    assert lines[3].split() == ["0.1", "0.500", "diverged"]
    assert lines[-1] == "chosen (lowest train_loss): a 0.1, b 0.01"
    with pytest.raises(ValueError, match="no pilot runs of \\['c'\\]; its pilot arms"):
        reports.format_pilot(records.load_record("demo", tmp_path), ["c"], epochs=2)


def test_a_model_read_back_from_its_checkpoint_is_in_evaluation_mode(tmp_path, data_dir):
    first, _ = experiments.train_model("nin_head", "fc", 0, quick=True, checkpoints=tmp_path,
                                       device="cpu")
    again, _ = experiments.train_model("nin_head", "fc", 0, quick=True, checkpoints=tmp_path,
                                       device="cpu")
    assert not first.training and not again.training  # dropout off in both
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(first(x), again(x))
    with pytest.raises(ValueError, match="checkpoints folder is empty"):
        experiments.train_model("nin_head", "fc", 0, quick=True, checkpoints=" ")


@pytest.mark.parametrize("kwargs, message", [
    ({"arms": "relu"}, "arms is a list of arm names"),
    ({"arms": ["relu", "tahn"]}, "no pilot runs of \\['tahn'\\]"),
    ({"arms": ["relu", "relu"]}, "each arm once"),
    ({"arms": ["relu"]}, "ran \\[2, 20\\] epochs"),
    ({"arms": ["relu"], "epochs": "2"}, "whole number of epochs"),
])
def test_format_pilot_refuses_what_it_cannot_show(kwargs, message):
    from cnnlib import reports

    with pytest.raises(ValueError, match=message):
        reports.format_pilot(records.load_record("relu_tanh"), **kwargs)


def test_format_pilot_averages_seeds_and_refuses_two_settings_at_one_rate(tmp_path):
    from cnnlib import reports

    for seed, loss in ((1, 1.0), (2, 3.0)):
        run = {**fake_run("a", seed, pilot=True, epochs=2), "hyper": {"lr": 0.1},
               "variant": "lr0.1-2ep"}
        run["curves"]["train_loss"] = [9.0, loss]
        records.append_run("demo", run, tmp_path, {"arms": ["a"]})
    record = records.load_record("demo", tmp_path)
    assert reports.format_pilot(record, ["a"]).splitlines()[2].split() == [
        "0.1", "2.000", "(2", "seeds)"]
    other = {**fake_run("a", 1, pilot=True, epochs=2), "hyper": {"lr": 0.1, "momentum": 0.5},
             "variant": "lr0.1-momentum0.5-2ep"}
    records.append_run("demo", other, tmp_path)
    with pytest.raises(ValueError, match="2 pilot settings at lr 0.1"):
        reports.format_pilot(records.load_record("demo", tmp_path), ["a"])


def test_plot_record_refuses_variants_it_would_not_draw(tmp_path):
    design = {"arms": ["a", "b"]}
    for arm in "ab":
        records.append_run("demo", fake_run(arm, 0), tmp_path, design)
    rerun = {**fake_run("a", 0, pilot=True), "variant": "lr0.02"}
    records.append_run("demo", rerun, tmp_path, design)
    record = records.load_record("demo", tmp_path)
    for variants, message in (({"a": "lr0.02"}, "maps an arm to a list"),
                              ({"c": ["lr0.02"]}, "no panel draws"),
                              ({"a": ["lr0.02", "lr0.02"]}, "twice")):
        with pytest.raises(ValueError, match=message):
            plot_record(record, variants=variants)
    with pytest.raises(ValueError, match="leave variants out"):
        plot_record(record, pilot=True, variants={"a": ["lr0.02"]})


def test_runs_name_what_is_missing_about_a_variant():
    record = records.load_record("relu_tanh")
    with pytest.raises(ValueError, match="pass pilot=True"):
        records.runs(record, "relu", variant="lr0.02")
    with pytest.raises(ValueError, match="pilot arms are \\['relu', 'relu-paper'"):
        records.runs(record, "rleu", pilot=True, variant="lr0.02")
    with pytest.raises(ValueError, match="all diverged"):
        records.runs(record, "relu-paper", pilot=True, variant="lr0.05-2ep")


def test_a_design_with_a_probe_records_the_followed_input_and_reads_back(data_dir):
    from cnnlib.shift import RecordedPercentiles

    exp = designs.get_experiment("input_shift")
    assert exp.design()["probe_every"] == 5
    run = experiments.run_arm("input_shift", "bn", 0, quick=True, device="cpu", epochs=3,
                              pilot=True)
    trace = RecordedPercentiles(run["probe"])
    assert trace.steps == list(range(1, 13)) and len(trace.values[0]) == 3  # quick: every step
    assert run["probe"]["module"] == "features.22"  # the ReLU after the seventh BN
    assert trace.width() == [v[2] - v[0] for v in trace.values]
    assert "probe" not in experiments.run_arm("relu_tanh", "tanh", 0, quick=True,
                                              device="cpu")
    with pytest.raises(ValueError, match="not 'vgg'"):
        exp.build("vgg")



def test_a_probe_is_checked_before_any_training(tmp_path, data_dir, monkeypatch):
    from dataclasses import replace

    from torch import nn

    base = designs.get_experiment("input_shift")
    with pytest.raises(TypeError, match="probe must be a function"):
        replace(base, name="x", probe="features.22")
    with pytest.raises(ValueError, match="probe_every must be a whole number"):
        replace(base, name="x", probe_every=0)
    trained = []
    monkeypatch.setattr(experiments, "_fit", lambda *a, **k: trained.append(1))
    for probe, error, message in ((lambda m: 3, TypeError, "got int"),
                                  (lambda m: nn.ReLU(), TypeError, "not part of the model"),
                                  (lambda m: m.nope, RuntimeError, "probe raised")):
        designs.register(replace(base, name="probe_demo", probe=probe), replace=True)
        with pytest.raises(error, match=message):
            experiments.run_arm("probe_demo", "bn", 0, quick=True, device="cpu")
    designs.EXPERIMENTS.pop("probe_demo")
    checkpoint = experiments.checkpoint_file(
        base, "bn", 0, experiments.Budget(256, 256, 1, 32, 64), base.hyper_for("bn"),
        False, True, tmp_path)
    checkpoint.write_bytes(b"")
    with pytest.raises(FileExistsError, match="only part of the trace"):
        experiments.run_arm("input_shift", "bn", 0, quick=True, device="cpu",
                            checkpoints=tmp_path)
    assert trained == []  # every refusal came before training
