"""Every model checks its input before ``forward`` runs (a pre-hook of ``CheckedInput``), so
``forward`` holds only the network, as in torchvision; the checks travel with the model."""

from __future__ import annotations

import copy
import inspect
import io
import pickle

import pytest
import torch
from torch import nn

import cnnlib
from cnnlib.drills import check
from cnnlib.models import LeNet5, get_model, list_models
from cnnlib.models._checks import CheckedInput

META = torch.device("meta")
SINGLE_IMAGE = r"expects a batch N×C×H×W, got a single image C×H×W.*x.unsqueeze\(0\)"
LENET_AT_28 = r"LeNet-5 expects 32×32 inputs \(got 28×28\).*pad_to=32"


def on_meta(name: str) -> nn.Module:
    """The model without memory for its weights: enough for its checks and its source."""
    with META:
        return get_model(name)


@pytest.mark.parametrize("name", list_models())
def test_forward_holds_only_the_network(name):
    model = on_meta(name)
    assert isinstance(model, CheckedInput)
    assert "check_input" not in inspect.getsource(type(model).forward)
    assert type(model).check_input is not CheckedInput.check_input  # each model says its own


@pytest.mark.parametrize("name", list_models())
def test_the_check_runs_when_the_model_is_called(name):
    model = on_meta(name)
    with pytest.raises(ValueError, match=SINGLE_IMAGE):
        model(torch.zeros(*model.input_size, device=META))
    with pytest.raises(ValueError, match=SINGLE_IMAGE):
        model(x=torch.zeros(*model.input_size, device=META))  # as a keyword too


@pytest.mark.parametrize("name", list_models())
def test_the_checks_survive_deepcopy(name):
    model = copy.deepcopy(on_meta(name))
    with pytest.raises(ValueError, match=r"expects float input, got torch.uint8"):
        model(torch.zeros(1, *model.input_size, dtype=torch.uint8, device=META))


def lenet_after(how: str) -> nn.Module:
    model = LeNet5()
    if how == "pickle":
        return pickle.loads(pickle.dumps(model))
    if how == "torch.save":
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        return torch.load(buffer, weights_only=False)
    if how == "state_dict":
        fresh = LeNet5()
        fresh.load_state_dict(model.state_dict())
        return fresh
    return model


@pytest.mark.parametrize("how", ["as built", "pickle", "torch.save", "state_dict"])
def test_the_checks_survive_pickling_and_state_dicts(how):
    model = lenet_after(how)
    with pytest.raises(ValueError, match=LENET_AT_28):
        model(torch.zeros(1, 1, 28, 28))
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    assert len(model._forward_pre_hooks) == 1  # one check, not one per copy


def test_the_check_follows_the_model_to_another_dtype():
    model = LeNet5().to(torch.float64)
    with pytest.raises(ValueError, match=r"expects float64 input \(the dtype of its weights\), "
                                         r"got torch.float32"):
        model(torch.zeros(1, 1, 32, 32))
    assert model(torch.zeros(1, 1, 32, 32, dtype=torch.float64)).dtype == torch.float64


def test_the_check_outlives_probing_summaries_and_the_drill_checker():
    model = LeNet5()
    cnnlib.summary(model, (1, 1, 32, 32))
    assert check(model, "lenet5", verbose=False).ok
    assert len(model._forward_pre_hooks) == 1 and not model._forward_hooks
    with pytest.raises(ValueError, match=LENET_AT_28):
        model(torch.zeros(1, 1, 28, 28))


def test_a_checked_model_without_its_check_says_what_is_missing():
    class Unchecked(CheckedInput):
        def forward(self, x):
            return x

    with pytest.raises(NotImplementedError, match=r"Unchecked must define check_input"):
        Unchecked()(torch.zeros(1))
