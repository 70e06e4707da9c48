"""cnnlib._probe: the one way the library looks inside a model (layer tables, diagrams, the
drill checker, the dead-ReLU count) leaves the model as it found it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlib._probe import probing, zeros_for


def model_with_frozen_part():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5), nn.ReLU())
    model.train()
    model[1].eval()  # a part the reader froze on purpose stays frozen
    return model


def test_inside_eval_and_no_grad_afterwards_modes_hooks_and_statistics_as_before():
    model = model_with_frozen_part()
    seen = []
    handles = [model[0].register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))]
    before = model[1].running_mean.clone()
    with probing(model, handles):
        assert not any(m.training for m in model.modules())
        model(torch.randn(2, 1, 5, 5))
    assert seen == [False]
    assert [m.training for m in model] == [True, False, True, True] and model.training
    assert not model[0]._forward_hooks
    assert torch.equal(model[1].running_mean, before)


def test_an_error_inside_still_restores_modes_and_removes_hooks():
    model = model_with_frozen_part()
    handles = [model[0].register_forward_hook(lambda m, i, o: None)]
    with pytest.raises(RuntimeError), probing(model, handles):
        model(torch.randn(2, 3, 5, 5))  # three channels into a one-channel conv
    assert [m.training for m in model] == [True, False, True, True]
    assert not model[0]._forward_hooks


def test_zeros_follow_the_models_dtype_and_default_to_float32():
    assert zeros_for(nn.Linear(2, 2).double(), (1, 2)).dtype == torch.float64
    assert zeros_for(nn.ReLU(), (1, 2)).dtype == torch.float32
    assert zeros_for(nn.Linear(2, 2), (3, 2)).shape == (3, 2)
