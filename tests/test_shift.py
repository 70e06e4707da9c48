"""InputPercentiles follows a layer's input during training without changing the training."""

import contextlib
import warnings

import numpy as np
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


def test_an_empty_or_meta_input_is_skipped_and_the_forward_goes_on():
    relu = nn.ReLU()
    with InputPercentiles(relu, every=1) as trace:
        relu(torch.empty(0, 8))  # x[mask] with no True in mask
        relu(torch.randn(2, 4, device="meta"))
        relu(torch.randn(5))
    assert trace.skipped == 2 and trace.steps == [3] and len(trace.values) == 1


def test_a_module_called_twice_per_forward_is_counted_per_call_without_model():
    # the documented behaviour: each call is one pass, so a shared ReLU doubles the steps
    relu = nn.ReLU()
    net = nn.Sequential(nn.Linear(4, 4), relu, nn.Linear(4, 4), relu)
    with InputPercentiles(relu, every=1) as trace:
        for _ in range(3):
            net(torch.randn(2, 4))
    assert trace.steps == [1, 2, 3, 4, 5, 6]


def test_with_model_the_passes_are_the_networks_and_a_second_call_is_an_error():
    relu = nn.ReLU()
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), relu, relu)
    with InputPercentiles(net[1], every=2, model=net) as trace:
        for _ in range(5):
            net(torch.randn(2, 4))
    assert trace.steps == [1, 3, 5]
    with InputPercentiles(relu, every=1, model=net):
        with pytest.raises(RuntimeError, match="ran 2 times in one forward pass"):
            net(torch.randn(2, 4))
    with pytest.raises(ValueError, match="network that contains module"):
        InputPercentiles(nn.ReLU(), model=net)


def test_an_input_that_cannot_be_read_is_named_in_the_message():
    class ByKeyword(nn.Module):
        def forward(self, x=None):
            return x

    module = ByKeyword()
    with InputPercentiles(module, every=1) as trace:
        module(x=torch.randn(5))
    with pytest.raises(ValueError, match="1 training passes reached the module.*"
                                         "pass the input positionally"):
        trace.series()


def test_complex_inputs_and_torchscript_models_are_refused():
    layer = nn.Identity()
    with InputPercentiles(layer, every=1):
        with pytest.raises(TypeError, match="real inputs, got torch.complex64"):
            layer(torch.randn(10, dtype=torch.cfloat))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated in newer torch
        scripted = torch.jit.script(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    with pytest.raises(TypeError, match="TorchScript"):
        InputPercentiles(scripted)


def test_exit_without_enter_and_a_second_run_are_refused():
    trace = InputPercentiles(nn.ReLU())
    with pytest.raises(RuntimeError, match="not following its module"):
        trace.__exit__(None, None, None)
    relu = nn.ReLU()
    trace = InputPercentiles(relu, every=1)
    with trace:
        relu(torch.randn(3))
    with pytest.raises(RuntimeError, match="make a new one for each run"):
        with trace:
            pass
    assert trace.steps == [1]


@pytest.mark.parametrize("q, expected", [
    (0.5, (0.5,)),
    (np.float32(0.5), (0.5,)),
    ((np.float32(0.5), 1), (0.5, 1.0)),
    (np.array([0.25, 0.75]), (0.25, 0.75)),
    (torch.tensor([0.25, 0.75]), (0.25, 0.75)),
])
def test_q_takes_one_number_and_numpy_or_torch_numbers(q, expected):
    assert InputPercentiles(nn.ReLU(), q=q).q == expected


@pytest.mark.parametrize("q, message", [
    ((0.5, 0.5), "level 0.5 more than once"),
    ("0.5", "fractions from 0 to 1"),
    (True, "fractions from 0 to 1"),
    (float("nan"), "fractions from 0 to 1"),
    ((), "fractions from 0 to 1"),
])
def test_bad_levels_are_refused(q, message):
    with pytest.raises(ValueError, match=message):
        InputPercentiles(nn.ReLU(), q=q)


def test_plot_percentiles_refuses_what_it_would_draw_wrong():
    layer = nn.Identity()
    traces = {}
    for q in ((0.15, 0.5, 0.85), (0.9, 0.1), tuple(i / 12 for i in range(12))):
        with InputPercentiles(layer, every=1, q=q) as traces[q]:
            layer(torch.randn(100))
    standard, other, many = traces.values()
    with pytest.raises(ValueError, match="different percentiles"):
        plot_percentiles({"a": [standard, other]}, steps_per_epoch=1)
    with pytest.raises(ValueError, match="12 percentiles, more than the 10 colours"):
        plot_percentiles({"a": [many]}, steps_per_epoch=1)
    with pytest.raises(ValueError, match="non-empty list of InputPercentiles"):
        plot_percentiles({"a": [1]}, steps_per_epoch=1)


def test_a_trace_read_back_from_its_dict_gives_the_same_series_and_width():
    from cnnlib.shift import RecordedPercentiles

    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    with InputPercentiles(model[1], every=1, model=model) as trace:
        for _ in range(3):
            model(torch.randn(8, 4))
    again = RecordedPercentiles(trace.to_dict())
    assert again.series() == trace.series() and again.width() == trace.width()
    with pytest.raises(ValueError, match="one row of values per step"):
        RecordedPercentiles({**trace.to_dict(), "steps": [1]})
    with pytest.raises(ValueError, match="'q', 'steps' and 'values'"):
        RecordedPercentiles({"steps": []})
    good = trace.to_dict()
    for change, message in (({"steps": [], "values": []}, "no steps"),
                            ({"steps": [2, 1, 3]}, "increasing whole numbers"),
                            ({"values": [[0.0, 1.0]] * 3}, "one finite number per level"),
                            ({"values": [[0.0, float("nan"), 1.0]] * 3}, "finite"),
                            ({"values": [[1.0, 0.5, 0.0]] * 3}, "not in the order"),
                            ({"every": -3}, "'every' is a whole number")):
        with pytest.raises(ValueError, match=message):
            RecordedPercentiles({**good, **change})
