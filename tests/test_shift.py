"""InputPercentiles follows a layer's input during training without changing the training."""

import contextlib

import pytest
import torch
from torch import nn

from cnnlib.plots import plot_percentiles
from cnnlib.shift import InputPercentiles


def _train(follow: bool, steps: int = 6):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    trace = InputPercentiles(model[1], every=2)
    with trace if follow else contextlib.nullcontext():
        for _ in range(steps):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        model(x)  # an evaluation pass: not counted
    return model, trace


def test_records_every_nth_training_pass_and_leaves_training_alone():
    followed, trace = _train(True)
    plain, _ = _train(False)
    for a, b in zip(followed.parameters(), plain.parameters()):
        assert torch.equal(a, b)
    assert trace.steps == [1, 3, 5]
    series = trace.series()
    assert list(series) == [0.15, 0.5, 0.85]
    assert all(len(v) == 3 for v in series.values())
    low, mid, high = (series[p][0] for p in (0.15, 0.5, 0.85))
    assert low <= mid <= high


def test_percentiles_match_torch_quantile_of_the_input():
    layer = nn.Identity()
    x = torch.randn(4, 5, 6)
    with InputPercentiles(layer, every=1) as trace:
        layer(x)
    expected = torch.quantile(x.flatten(), torch.tensor([0.15, 0.5, 0.85]))
    assert torch.allclose(torch.tensor(trace.values[0]), expected)


def test_thins_a_large_input_by_a_fixed_stride():
    layer = nn.Identity()
    x = torch.arange(1000.0)
    with InputPercentiles(layer, every=1, q=(0.0, 1.0), sample=100) as trace:
        layer(x)
    assert trace.values[0] == (0.0, 990.0)  # every tenth value: 0, 10, ..., 990


@pytest.mark.parametrize("kwargs, message", [
    ({"module": "relu"}, "nn.Module"),
    ({"every": 0}, "every must be"),
    ({"sample": 2.5}, "sample must be"),
    ({"q": (0.5, 50)}, "fractions from 0 to 1"),
])
def test_bad_arguments_say_what_was_expected(kwargs, message):
    args = {"module": nn.ReLU(), **kwargs}
    with pytest.raises((TypeError, ValueError), match=message):
        InputPercentiles(**args)


def test_nothing_recorded_is_an_error_not_an_empty_series():
    with pytest.raises(ValueError, match="nothing was recorded"):
        InputPercentiles(nn.ReLU()).series()


def test_the_hook_is_removed_after_the_block():
    layer = nn.ReLU()
    with InputPercentiles(layer, every=1) as trace:
        layer(torch.randn(3))
    layer(torch.randn(3))
    assert len(trace.values) == 1 and not layer._forward_pre_hooks


def test_plot_percentiles_draws_one_panel_per_network():
    _, trace = _train(True)
    fig = plot_percentiles({"no BN": [trace, trace], "BN": [trace]}, steps_per_epoch=2)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 6 and len(fig.axes[1].lines) == 3
    with pytest.raises(ValueError, match="steps_per_epoch"):
        plot_percentiles({"a": [trace]}, steps_per_epoch=0)
    with pytest.raises(ValueError, match="non-empty list"):
        plot_percentiles({"a": []}, steps_per_epoch=1)


def test_width_is_the_highest_minus_the_lowest_percentile():
    layer = nn.Identity()
    with InputPercentiles(layer, every=1, q=(0.0, 0.5, 1.0)) as trace:
        layer(torch.tensor([1.0, 2.0, 5.0]))
        layer(torch.tensor([0.0, 10.0]))
    assert trace.width() == [4.0, 10.0]
