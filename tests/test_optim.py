"""cnnlib.optim.one_cycle: the chapters' optimiser and schedule in one call.

The chapters used to write SGD + OneCycleLR out by hand. Their committed full-mode outputs come
from runs made with that code, so one_cycle must compute exactly the same thing: the same
parameter groups and hyper-parameters, and the same learning rate and momentum at every step.
Each case below is a chapter cell's old code, with the number of steps of its full run (batches
of 128 over 60,000 or 50,000 images; 512 for ResNet-18 on a GPU; chapter 10's folder is small).
The two agree whenever the warm-up is two steps or more, which every full run's is; only a
quick run that short gets ``warmup_fraction``'s two steps instead of OneCycleLR's division by
zero.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlib.optim import one_cycle, warmup_fraction


def old_lenet(model, steps, epochs):  # chapters 3 (MNIST, Fashion-MNIST, CIFAR-10) and 9
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.05, total_steps=epochs * steps)


def old_alexnet(model, steps, epochs):  # chapter 4, the CIFAR-10 AlexNet
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.03, epochs=epochs, steps_per_epoch=steps, pct_start=0.1)


def old_resnet(model, steps, epochs):  # chapter 9, ResNet-20 and ResNet-18
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.2, epochs=epochs, steps_per_epoch=steps, pct_start=0.25)


CASES = {  # name: (old code, new call's keywords, steps per epoch, epochs) of the full runs
    "03 MNIST": (old_lenet, {"max_lr": 0.05}, 469, 8),
    "03 Fashion-MNIST": (old_lenet, {"max_lr": 0.05}, 469, 12),
    "03 CIFAR-10": (old_lenet, {"max_lr": 0.05}, 391, 15),
    "04 AlexNet": (old_alexnet, {"max_lr": 0.03, "nesterov": True, "pct_start": 0.1}, 391, 24),
    "08 ResNet-20": (old_resnet, {"max_lr": 0.2, "nesterov": True, "pct_start": 0.25}, 391, 16),
    "08 ResNet-18": (old_resnet, {"max_lr": 0.2, "nesterov": True, "pct_start": 0.25}, 98, 30),
    "09 own data": (old_lenet, {"max_lr": 0.05}, 22, 20),
}


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3))


def hyper(optimizer) -> list[dict]:
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


@pytest.mark.parametrize("name", CASES)
def test_one_cycle_equals_the_code_each_chapter_wrote_out(name):
    old_code, keywords, steps, epochs = CASES[name]
    old_opt, old_sched = old_code(model(), steps, epochs)
    new_opt, new_sched = one_cycle(model(), range(steps), epochs, **keywords)
    assert type(new_opt) is type(old_opt) and type(new_sched) is type(old_sched)
    assert hyper(new_opt) == hyper(old_opt)
    assert [len(g["params"]) for g in new_opt.param_groups] == [4]
    for step in range(epochs * steps):
        assert hyper(new_opt) == hyper(old_opt), f"{name}: differs at step {step}"
        old_opt.step(), old_sched.step(), new_opt.step(), new_sched.step()
    assert new_sched.state_dict() == old_sched.state_dict()


def test_short_runs_get_two_warm_up_steps_instead_of_a_division_by_zero():
    assert warmup_fraction(0.25, 4) == 0.5          # OneCycleLR fails on exactly one step up
    assert warmup_fraction(0.3, 1000) == 0.3        # long runs: as asked
    optimizer, scheduler = one_cycle(model(), range(4), 1, max_lr=0.1, pct_start=0.25)
    for _ in range(4):
        optimizer.step(), scheduler.step()


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True])
def test_a_bad_number_of_epochs_is_a_clear_error(epochs):
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        one_cycle(model(), range(10), epochs, max_lr=0.1)


def test_an_empty_loader_is_a_clear_error():
    with pytest.raises(ValueError, match="no batches"):
        one_cycle(model(), [], 3, max_lr=0.1)


def test_schedule_trace_reads_one_cycles_rates_and_momentum_without_moving_the_run():
    from cnnlib.optim import schedule_trace
    optimizer, scheduler = one_cycle(model(), range(10), 3, max_lr=0.05)
    trace = schedule_trace(optimizer, scheduler, 30)
    reference_opt, reference = one_cycle(model(), range(10), 3, max_lr=0.05)
    for lr, momentum in zip(trace["lr"], trace["momentum"]):
        assert lr == reference_opt.param_groups[0]["lr"]
        assert momentum == reference_opt.param_groups[0]["momentum"]
        reference_opt.step(), reference.step()
    assert max(trace["lr"]) == pytest.approx(0.05)
    # the schedule, not the optimiser's momentum=0.9, sets the momentum: 0.95 -> 0.85 -> 0.95
    assert trace["momentum"][0] == pytest.approx(0.95)
    assert min(trace["momentum"]) == pytest.approx(0.85, abs=1e-3)
    assert scheduler.last_epoch == 0  # the real schedule has not moved
    with pytest.raises(ValueError, match="steps must be a positive int"):
        schedule_trace(optimizer, scheduler, 0)


def test_plot_schedule_draws_rate_and_momentum_per_epoch():
    import matplotlib
    matplotlib.use("Agg")
    from cnnlib.optim import schedule_trace
    from cnnlib.plots import plot_schedule
    trace = schedule_trace(*one_cycle(model(), range(10), 2, max_lr=0.1), 20)
    fig = plot_schedule(trace, steps_per_epoch=10)
    lr_line, momentum_line = (ax.lines[0] for ax in fig.axes)
    assert list(lr_line.get_ydata()) == trace["lr"]
    assert lr_line.get_xdata()[-1] == pytest.approx(1.9)  # epochs, not steps
    assert list(momentum_line.get_ydata()) == trace["momentum"]
    with pytest.raises(ValueError):
        plot_schedule({"lr": []}, 10)


def test_schedule_trace_refuses_a_scheduler_of_another_optimiser_and_reads_the_last_rate():
    from cnnlib.optim import schedule_trace
    optimizer, scheduler = one_cycle(model(), range(5), 2, max_lr=0.1)  # 10 steps in all
    other, _ = one_cycle(model(), range(5), 2, max_lr=0.1)
    with pytest.raises(ValueError, match="another optimiser"):
        schedule_trace(other, scheduler, 3)
    trace = schedule_trace(optimizer, scheduler, 10)  # every rate, no step past the end
    assert len(trace["lr"]) == 10 and trace["lr"][-1] < trace["lr"][0]


def test_plot_schedule_refuses_odd_steps_per_epoch_and_traces_before_drawing():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cnnlib.plots import plot_schedule
    figures = len(plt.get_fignums())
    for steps in (True, 2.5, float("nan"), 0):
        with pytest.raises(ValueError, match="steps_per_epoch"):
            plot_schedule({"lr": [0.1], "momentum": [0.9]}, steps)
    for trace in ({"lr": [0.1]}, {"lr": [0.1, 0.2], "momentum": [0.9]}, [0.1]):
        with pytest.raises(ValueError, match="schedule_trace"):
            plot_schedule(trace, 10)
    assert len(plt.get_fignums()) == figures  # no figure left open by a refusal
