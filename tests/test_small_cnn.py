"""cnnlib.models.small_cnn: the two variants of each experiment differ in one thing only."""

import pytest
import torch
from torch import nn

from cnnlib.arithmetic import count_params
from cnnlib.models.small_cnn import small_cnn


def test_pooling_variants_share_shapes_and_weights():
    plain, overlapping = small_cnn(pool="plain"), small_cnn(pool="overlapping")
    assert count_params(plain) == count_params(overlapping)
    x = torch.zeros(2, 3, 32, 32)
    assert plain(x).shape == overlapping(x).shape == (2, 10)
    assert plain.features(x).shape == overlapping.features(x).shape == (2, 32, 4, 4)
    pools = [m for m in overlapping.features if isinstance(m, nn.MaxPool2d)]
    assert [(p.kernel_size, p.stride, p.padding) for p in pools] == [(3, 2, 1)] * 3


def test_activation_variants_differ_only_in_the_activation():
    relu, tanh = small_cnn(activation="relu"), small_cnn(activation="tanh", width=8)
    assert sum(isinstance(m, nn.ReLU) for m in relu.modules()) == 3
    assert sum(isinstance(m, nn.Tanh) for m in tanh.modules()) == 3
    assert tanh.features[0].out_channels == 8


def test_the_lrn_variant_normalises_after_the_first_two_relus_and_adds_no_weights():
    plain, lrn = small_cnn(width=8), small_cnn(width=8, lrn=True)
    assert count_params(plain) == count_params(lrn)
    kinds = [type(m).__name__ for m in lrn.features]
    assert kinds == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d",
                     "Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d",
                     "Conv2d", "ReLU", "MaxPool2d"]  # AlexNet's order: ReLU, LRN, pool
    norms = [m for m in lrn.features if type(m).__name__ == "LocalResponseNorm"]
    assert norms[0] is not norms[1]  # two layers, not one module used twice
    assert (norms[0].size, norms[0].alpha, norms[0].beta, norms[0].k) == (5, 1e-4, 0.75, 2.0)
    lrn.features[0].load_state_dict(plain.features[0].state_dict())
    x = torch.rand(2, 3, 32, 32)
    small = plain.features[:2](x)  # quiet maps: LRN only divides by k ** beta
    torch.testing.assert_close(lrn.features[:3](x), small / 2 ** 0.75, rtol=1e-3, atol=0)


@pytest.mark.parametrize("kwargs, match", [({"activation": "sigmoid"}, "activation"),
                                           ({"pool": "avg"}, "pool"), ({"width": 0}, "width"),
                                           ({"lrn": 1}, "lrn")])
def test_bad_arguments_say_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_cnn(**kwargs)


def test_wrong_input_size_is_refused():
    with pytest.raises(ValueError, match="32×32"):
        small_cnn()(torch.zeros(1, 3, 28, 28))
