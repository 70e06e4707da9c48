"""The dropout chapter's MLP: shape, parameter count, and that its dropout is the book's own."""

import pytest
import torch

from cnnlib.arithmetic import count_params
from cnnlib.layers import Dropout
from cnnlib.models import get_model


def test_default_is_784_1024_1024_10():
    model = get_model("mlp").eval()
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert count_params(model) == (784 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 10 + 10)


def test_dropout_layers_are_the_books_and_follow_each_hidden_layer():
    model = get_model("mlp", dropout=0.2, input_dropout=0.1, hidden=(64, 32))
    rates = [m.p for m in model.modules() if isinstance(m, Dropout)]
    assert rates == [0.1, 0.2, 0.2]
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())


def test_eval_is_deterministic_and_training_is_not():
    torch.manual_seed(0)
    model, x = get_model("mlp", dropout=0.5), torch.randn(8, 1, 28, 28)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_p0_model_trains_deterministically_like_no_dropout():
    torch.manual_seed(0)
    model, x = get_model("mlp", dropout=0.0), torch.randn(8, 1, 28, 28)
    assert torch.equal(model.train()(x), model.eval()(x))


def test_other_input_sizes_and_clear_errors():
    model = get_model("mlp", input_size=(3, 32, 32), num_classes=4).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    with pytest.raises(ValueError, match=r"expects 3 channel\(s\), got 1"):
        model(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="hidden must be a non-empty list"):
        get_model("mlp", hidden=())
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        get_model("mlp", dropout=1.0)
