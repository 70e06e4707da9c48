"""Chapter 8's models: the 1×1 convolution, NiN's two heads, the Inception module and GoogLeNet
against torchvision's (no weights are downloaded)."""

import pytest
import torch
import torchvision
from torch import nn

from cnnlib.arithmetic import conv_params, count_params, linear_params
from cnnlib.drills import check
from cnnlib.models import GOOGLENET_INCEPTION, Inception, get_model


def test_a_1x1_convolution_is_a_linear_layer_at_every_pixel():
    torch.manual_seed(0)
    conv, linear = nn.Conv2d(12, 5, kernel_size=1), nn.Linear(12, 5)
    with torch.no_grad():
        linear.weight.copy_(conv.weight.view(5, 12))
        linear.bias.copy_(conv.bias)
        x = torch.randn(3, 12, 7, 9)
        per_pixel = linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        assert torch.allclose(conv(x), per_pixel, atol=1e-6)
    assert count_params(conv) == count_params(linear) == 5 * (12 + 1)


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    ours = get_model("googlenet")
    theirs = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    return ours, theirs


def test_googlenet_has_torchvisions_parameters_and_state_dict(pair):
    ours, theirs = pair
    assert count_params(ours) == count_params(theirs) == 6_624_904
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)


def test_googlenet_computes_what_torchvisions_computes(pair):
    ours, theirs = pair
    ours.load_state_dict(theirs.state_dict())
    ours.eval(), theirs.eval()
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)  # any size from 15 up: global average pooling
        assert torch.equal(ours(x), theirs(x))
    with pytest.raises(ValueError, match="at least 15×15"):
        ours(torch.zeros(1, 3, 14, 14))


def test_the_papers_5x5_branches_add_16_weights_per_pair_of_channels():
    extra = sum(red * out * (25 - 9) for _, _, _, red, out, _ in GOOGLENET_INCEPTION.values())
    assert count_params(get_model("googlenet", big_kernel=5)) == 6_624_904 + extra == 7_005_832
    with pytest.raises(ValueError, match="5 \\(the paper\\) or 3"):
        get_model("googlenet", big_kernel=7)


def conv_weights(module):
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def test_inception_3a_with_and_without_reductions_as_counted_by_hand():
    config = GOOGLENET_INCEPTION["3a"]
    assert config == (64, 96, 128, 16, 32, 32)  # the paper's Table 1
    module = Inception(192, *config, big_kernel=5)
    by_hand = 192 * 64 + (192 * 96 + 96 * 128 * 9) + (192 * 16 + 16 * 32 * 25) + 192 * 32
    assert conv_weights(module) == by_hand == 163_328
    naive = (conv_params(192, 64, 1, bias=False) + conv_params(192, 128, 3, bias=False)
             + conv_params(192, 32, 5, bias=False))
    assert naive == 192 * 64 + 192 * 128 * 9 + 192 * 32 * 25 == 387_072
    with torch.no_grad():
        assert module.eval()(torch.zeros(2, 192, 28, 28)).shape == (2, 256, 28, 28)


def test_googlenet_is_22_layers_deep_on_its_longest_path(pair):
    ours, _ = pair
    modules = [m for m in ours.modules() if isinstance(m, Inception)]
    longest = [max(sum(isinstance(c, nn.Conv2d) for c in branch.modules())
                   for branch in (m.branch1, m.branch2, m.branch3, m.branch4))
               for m in modules]
    assert 3 + sum(longest) + 1 == 22


def test_the_cifar_variant_takes_32x32_and_gives_ten_scores():
    model = get_model("googlenet_cifar")
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="expects 32×32 inputs"):
        model(torch.zeros(1, 3, 28, 28))
    with pytest.raises(ValueError, match="width"):
        get_model("googlenet_cifar", width=0)


@pytest.mark.parametrize("head", ["gap", "fc"])
def test_nin_heads(head):
    model = get_model("nin_cifar", head=head)
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    if head == "gap":  # the last 1×1 gives one map per class, averaged: no weight in the head
        assert count_params(model.classifier) == 0
        assert model.features[-1][-1].num_features == 10  # its batch norm, no ReLU
    else:  # VGG's head: 64·8·8 → 512 → 512 → 10
        assert count_params(model.classifier) == (linear_params(64 * 8 * 8, 512)
                                                  + linear_params(512, 512)
                                                  + linear_params(512, 10))


def test_nin_refuses_an_unknown_head():
    with pytest.raises(ValueError, match="head must be 'gap'.*or 'fc'"):
        get_model("nin_cifar", head="global")


@pytest.mark.parametrize("name, kwargs, message", [
    ("googlenet", {"big_kernel": 5.0}, r"big_kernel must be a whole number, got 5.0 \(a float"),
    ("googlenet", {"big_kernel": True}, r"big_kernel must be a whole number, got True"),
    ("googlenet_cifar", {"width": "0.5"}, r"width must be a number, got '0.5' \(a str\)"),
    ("googlenet_cifar", {"width": True}, r"width must be a number, got True \(a bool\)"),
    ("googlenet_cifar", {"width": float("nan")}, r"width must be a finite number"),
    ("nin_cifar", {"widths": (8, 8.0, 8)}, r"three positive ints, got \(8, 8.0, 8\)"),
    ("nin_cifar", {"widths": 8}, r"three positive ints, got 8"),
    ("nin_cifar", {"widths": (8, True, 8)}, r"three positive ints"),
])
def test_builders_check_their_arguments_as_num_classes_is_checked(name, kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        get_model(name, **kwargs)


def test_builders_take_numpy_numbers_and_any_iterable_of_widths():
    import numpy as np
    assert get_model("nin_cifar", widths=np.array([8, 8, 8])).widths == (8, 8, 8)
    assert get_model("nin_cifar", widths=(w for w in (8, 8, 8))).widths == (8, 8, 8)
    model = get_model("googlenet_cifar", width=np.float32(0.125))
    assert model.width == 0.125 and type(model.width) is float
    assert "5×5" in get_model("googlenet", big_kernel=np.int64(5)).name


def test_the_inception_drill_passes_a_module_written_from_memory_and_names_a_3x3():
    def conv(i, o, k):
        return nn.Sequential(nn.Conv2d(i, o, k, padding=k // 2, bias=False),
                             nn.BatchNorm2d(o), nn.ReLU())

    class Mine(nn.Module):
        def __init__(self, k5=5):
            super().__init__()
            self.a = conv(192, 64, 1)
            self.b = nn.Sequential(conv(192, 96, 1), conv(96, 128, 3))
            self.c = nn.Sequential(conv(192, 16, 1), conv(16, 32, k5))
            self.d = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(192, 32, 1))

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x), self.c(x), self.d(x)], 1)

    assert check(Mine(), "inception", verbose=False).ok
    wrong = check(Mine(k5=3), "inception", verbose=False)
    assert not wrong.ok and wrong.first_divergence[0] == 9 and "5×5" in wrong.text
