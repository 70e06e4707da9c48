"""cnnlib.arithmetic against what PyTorch actually computes, plus the book's worked examples."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.models import get_model
from cnnlib.models.resnet import BasicBlock, Bottleneck, ResNet

from cnnlib.arithmetic import (
    activation_memory,
    conv_macs,
    conv_output_size,
    conv_params,
    count_params,
    flops_per_image,
    layer_table,
    linear_macs,
    linear_params,
    pool_output_size,
    receptive_field,
)

SIZES = range(1, 41)


def torch_conv_size(n, k, s, p, d):
    """Output height of a real F.conv2d on an n x 1 image, or None where PyTorch refuses."""
    x = torch.zeros(1, 1, n, 1)
    w = torch.zeros(1, 1, k, 1)
    try:
        return F.conv2d(x, w, stride=(s, 1), padding=(p, 0), dilation=(d, 1)).shape[2]
    except RuntimeError:
        return None


def torch_pool_size(n, k, s, p, d, ceil_mode):
    x = torch.zeros(1, 1, n, 1)
    try:
        return F.max_pool2d(x, (k, 1), stride=(s, 1), padding=(p, 0), dilation=(d, 1),
                            ceil_mode=ceil_mode).shape[2]
    except RuntimeError:
        return None


# --- output sizes against PyTorch ------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 5, 7, 11])
def test_conv_output_size_matches_conv2d(k):
    refused = 0
    for n in SIZES:
        for s in range(1, 5):
            for p in range(4):
                for d in range(1, 4):
                    expected = torch_conv_size(n, k, s, p, d)
                    if expected is None:
                        refused += 1
                        with pytest.raises(ValueError):
                            conv_output_size(n, k, s, p, d)
                    else:
                        assert conv_output_size(n, k, s, p, d) == expected, (n, k, s, p, d)
    assert refused > 0 or k == 1  # the grid does reach kernels bigger than the padded input


def test_conv_output_size_matches_nn_conv2d_module():
    conv = nn.Conv2d(3, 8, kernel_size=(5, 3), stride=(2, 3), padding=(1, 2), dilation=(2, 1))
    out = conv(torch.zeros(1, 3, 37, 29))
    assert out.shape[2] == conv_output_size(37, 5, 2, 1, 2)
    assert out.shape[3] == conv_output_size(29, 3, 3, 2, 1)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_pool_output_size_matches_maxpool2d(k):
    for n in SIZES:
        for s in (None, 1, 2, 3):
            for p in range(k // 2 + 1):
                for d in (1, 2):
                    for ceil_mode in (False, True):
                        expected = torch_pool_size(n, k, s or k, p, d, ceil_mode)
                        if expected is None:
                            with pytest.raises(ValueError):
                                pool_output_size(n, k, s, p, d, ceil_mode)
                        else:
                            got = pool_output_size(n, k, s, p, d, ceil_mode)
                            assert got == expected, (n, k, s, p, d, ceil_mode)


def test_pool_ceil_mode_drops_window_starting_in_padding():
    # ceil((5 + 2 - 2) / 2) + 1 = 4, but window 4 would start at 6 >= 5 + 1: PyTorch keeps 3.
    assert pool_output_size(5, 2, 2, padding=1, ceil_mode=True) == 3
    assert torch_pool_size(5, 2, 2, 1, 1, True) == 3
    # ceil_mode keeps a partial last window when it starts inside the input.
    assert pool_output_size(7, 2, 2, ceil_mode=True) == 4
    assert pool_output_size(7, 2, 2, ceil_mode=False) == 3


def test_pool_padding_limit_matches_pytorch():
    for k in range(1, 8):
        for p in range(k // 2 + 1, k // 2 + 3):
            assert torch_pool_size(40, k, k, p, 1, False) is None
            with pytest.raises(ValueError, match="kernel_size // 2"):
                pool_output_size(40, k, padding=p)


def test_avg_pool_agrees_too():
    for n in SIZES:
        for k in (2, 3):
            for s in (1, 2, 3):
                for p in range(k // 2 + 1):
                    if n + 2 * p < k:
                        continue
                    for ceil_mode in (False, True):
                        out = F.avg_pool2d(torch.zeros(1, 1, n, 1), (k, 1), (s, 1), (p, 0),
                                           ceil_mode)
                        assert pool_output_size(n, k, s, p, 1, ceil_mode) == out.shape[2]


# --- strict mode and the book's worked examples ------------------------------------------------

def test_strict_alexnet_conv1():
    with pytest.raises(ValueError) as info:
        conv_output_size(224, 11, stride=4, strict=True)
    message = str(info.value)
    for number in ("224", "54.25", "227", "55"):
        assert number in message
    assert "1 pixel" in message
    assert conv_output_size(224, 11, stride=4) == 54  # without strict: floors like PyTorch
    assert conv_output_size(227, 11, stride=4, strict=True) == 55
    # torchvision's fix is padding=2: 55 again, though it still floors (217 / 4 = 54.25).
    assert conv_output_size(224, 11, stride=4, padding=2) == 55
    assert torch_conv_size(224, 11, 4, 2, 1) == 55
    with pytest.raises(ValueError, match="55.25"):
        conv_output_size(224, 11, stride=4, padding=2, strict=True)


def test_strict_suggests_padding_when_one_exists():
    # (7 - 3) / 3 leaves 1 pixel; padding 1 makes it (7 + 2 - 3) / 3 = 2 exactly.
    with pytest.raises(ValueError, match="padding 1 would give 3"):
        conv_output_size(7, 3, stride=3, strict=True)
    assert conv_output_size(7, 3, stride=3, padding=1, strict=True) == 3
    # Stride 2 and an odd leftover: padding adds 2 pixels at a time, so none can help.
    with pytest.raises(ValueError, match="no padding divides evenly"):
        conv_output_size(6, 3, stride=2, strict=True)


def test_strict_pool():
    assert pool_output_size(224, 2, strict=True) == 112
    with pytest.raises(ValueError, match="13.5"):
        pool_output_size(27, 2, strict=True)
    assert pool_output_size(27, 3, 2, strict=True) == 13  # AlexNet's overlapping pooling fits


def test_worked_examples():
    assert conv_output_size(5, 3, stride=2, padding=1) == 3  # the 5x5, F=3, S=2, P=1 figure
    assert pool_output_size(224, 2, 2) == 112
    assert conv_output_size(32, 5) == 28  # LeNet C1
    assert conv_output_size(224, 3, padding=1) == 224  # VGG's "same" convolution
    assert conv_output_size(7, 3, dilation=2) == 3


def test_bad_arguments_rejected():
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv_output_size(32, 3, stride=0)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        pool_output_size(32, 3, stride=0)
    for kwargs in ({"size": 0, "kernel_size": 3}, {"size": 8, "kernel_size": 0},
                   {"size": 8, "kernel_size": 3, "padding": -1},
                   {"size": 8, "kernel_size": 3, "dilation": 0}):
        with pytest.raises(ValueError):
            conv_output_size(**kwargs)
    with pytest.raises(ValueError, match="padded input"):
        conv_output_size(4, 7, padding=1)
    with pytest.raises(TypeError):
        conv_output_size((32, 32), 3)


# --- receptive field -------------------------------------------------------------------------

def test_receptive_field_from_tuples():
    assert receptive_field([(3, 1), (3, 1)])[-1]["r"] == 5
    assert receptive_field([(3, 1)] * 3)[-1]["r"] == 7
    rows = receptive_field([(3, 2), (3, 1)])
    assert (rows[0]["r"], rows[0]["j"]) == (3, 2)
    assert (rows[-1]["r"], rows[-1]["j"]) == (7, 2)
    assert receptive_field([(3, 1, 2)])[-1]["r"] == 5  # dilation 2 spans 5 pixels
    vgg16 = []
    for convs in (2, 2, 3, 3, 3):
        vgg16 += [(3, 1)] * convs + [(2, 2)]
    assert (receptive_field(vgg16)[-1]["r"], receptive_field(vgg16)[-1]["j"]) == (212, 32)


def test_receptive_field_from_modules():
    alexnet_features = nn.Sequential(
        nn.Conv2d(3, 4, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(4, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
    rows = receptive_field(alexnet_features)
    assert len(rows) == len(alexnet_features)
    assert (rows[-1]["r"], rows[-1]["j"]) == (195, 32)
    assert rows[1]["type"] == "ReLU" and rows[1]["r"] == rows[0]["r"]  # pointwise passes through
    with pytest.raises(ValueError, match="features"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(4, 2)))


def empirical_field(model, size):
    """Extent and start of the input region that reaches one output pixel, by its gradient."""
    x = torch.ones(1, 1, size, size, requires_grad=True)
    out = model(x)
    c = out.shape[2] // 2
    out[0, 0, c, c].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    return int(rows[-1] - rows[0] + 1), int(rows[0])


def ones_conv(k, s=1, d=1):
    conv = nn.Conv2d(1, 1, k, stride=s, dilation=d, bias=False)
    nn.init.ones_(conv.weight)
    return conv


@pytest.mark.parametrize("layers", [
    [(3, 1), (3, 1)],
    [(3, 2), (3, 1)],
    [(5, 1), (2, 2, "avg"), (3, 1, 2), (3, 2)],
    [(7, 2), (3, 2, "avg"), (3, 1), (3, 1)],
])
def test_receptive_field_matches_gradient(layers):
    modules = [nn.AvgPool2d(k, s) if len(spec) == 3 and spec[2] == "avg"
               else ones_conv(k, s, spec[2] if len(spec) == 3 else 1)
               for spec in layers for k, s in [spec[:2]]]
    model = nn.Sequential(*modules)
    predicted = receptive_field(model)[-1]
    r, start = empirical_field(model, 64)
    assert r == predicted["r"]
    # Moving one output pixel moves its field by the jump.
    x = torch.ones(1, 1, 64, 64, requires_grad=True)
    out = model(x)
    c = out.shape[2] // 2
    out[0, 0, c + 1, c].backward()
    next_start = int(torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()[0])
    assert next_start - start == predicted["j"]


# --- parameters and work ---------------------------------------------------------------------

def test_param_counts():
    assert conv_params(256, 256, 3, bias=False) == 589_824
    assert conv_params(96, 256, 5, groups=2) == 307_456 == 256 * 48 * 25 + 256
    assert conv_params(1, 6, 5) == 156  # LeNet C1
    assert conv_params(160, 192, (1, 7)) == 192 * 160 * 7 + 192
    assert linear_params(400, 120) == 48_120
    assert linear_params(400, 120, bias=False) == 48_000
    assert linear_macs(400, 120) == 48_000
    for module, expected in [(nn.Conv2d(96, 256, 5, groups=2), conv_params(96, 256, 5, groups=2)),
                             (nn.Conv2d(16, 32, (3, 5), bias=False),
                              conv_params(16, 32, (3, 5), bias=False)),
                             (nn.Linear(400, 120), linear_params(400, 120))]:
        assert count_params(module) == expected
    with pytest.raises(ValueError, match="groups"):
        conv_params(96, 256, 5, groups=5)


def small_net():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, groups=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 10))


def test_layer_table():
    model = small_net()
    running_mean = model[4].running_mean.clone()
    rows = layer_table(model, (1, 1, 32, 32))
    assert model.training and torch.equal(model[4].running_mean, running_mean)
    assert [r["name"] for r in rows] == [str(i) for i in range(len(model))]
    assert rows[0]["type"] == "Conv2d" and rows[0]["output_shape"] == (6, 28, 28)
    assert rows[2]["output_shape"] == (6, 14, 14)
    assert rows[6]["output_shape"] == (16, 5, 5)
    assert rows[-1]["output_shape"] == (10,)
    total = sum(p.numel() for p in model.parameters())
    assert sum(r["params"] for r in rows) == count_params(model) == total
    assert rows[0]["macs"] == 6 * 28 * 28 * 1 * 5 * 5
    assert rows[3]["macs"] == 16 * 10 * 10 * (6 // 2) * 5 * 5
    assert rows[3]["macs"] == conv_macs(6, 16, 5, 10, 10, groups=2)
    assert rows[-3]["macs"] == 400 * 120
    assert all(r["macs"] == 0 for r in rows if r["type"] not in ("Conv2d", "Linear"))
    macs = sum(r["macs"] for r in rows)
    assert flops_per_image(model, (1, 1, 32, 32), training=False) == 2 * macs
    assert flops_per_image(model, (1, 1, 32, 32)) == 6 * macs
    # per image: a batch of 4 gives the same rows
    assert [r["macs"] for r in layer_table(model, (4, 1, 32, 32))] == [r["macs"] for r in rows]


def test_activation_memory_adds_outputs_for_training_and_takes_the_peak_for_inference():
    model = small_net()  # conv, relu, pool, conv(groups 2), bn, relu, pool, flatten, 3 linear
    memory = activation_memory(model, (32, 1, 32, 32), bytes_per_value=2)
    assert [r["type"] for r in memory["layers"]] == [
        "Conv2d", "MaxPool2d", "Conv2d", "BatchNorm2d", "MaxPool2d", "Linear", "Linear"]
    values = [6 * 28 * 28, 6 * 14 * 14, 16 * 10 * 10, 16 * 10 * 10, 16 * 5 * 5, 120, 10]
    assert [r["values"] for r in memory["layers"]] == values
    assert memory["training"] == 32 * 2 * sum(values)
    # pool1 in + out: 4,704 + 1,176 beats conv1 (1,024 + 4,704) and conv2 (1,176 + 1,600)
    assert memory["inference"] == 32 * 2 * (6 * 28 * 28 + 6 * 14 * 14)
    assert model.training  # the probe gives the mode back
    assert activation_memory(model, (1, 1, 32, 32))["training"] == 4 * sum(values)


def test_layer_table_nested_names_and_trainable_count():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
            self.head = nn.Linear(8 * 8 * 8, 2)

        def forward(self, x):
            return self.head(self.features(x).flatten(1))

    model = Net()
    model.features[0].requires_grad_(False)
    model.features[0].eval()  # a frozen part: layer_table must give back the mixed modes
    rows = layer_table(model, (1, 3, 8, 8))
    assert model.training and model.head.training and not model.features[0].training
    assert [r["name"] for r in rows] == ["features.0", "features.1", "head"]
    assert count_params(model) == 3 * 8 * 9 + 8 + 512 * 2 + 2
    assert count_params(model, trainable_only=True) == 512 * 2 + 2


@pytest.mark.parametrize("name, depth", [("resnet18", 18), ("resnet34", 34), ("resnet50", 50),
                                         ("resnet18_cifar", 18), ("resnet20", 20),
                                         ("resnet56", 56), ("plain20", 20), ("lenet5", 5)])
def test_count_weighted_layers_matches_the_names(name, depth):
    from cnnlib.arithmetic import count_weighted_layers
    from cnnlib.models import get_model
    assert count_weighted_layers(get_model(name)) == depth


def test_count_weighted_layers_skips_tutorial_style_shortcuts():
    from cnnlib.arithmetic import count_weighted_layers
    block = nn.Module()
    block.conv1, block.conv2 = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3)
    block.shortcut = nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8))
    assert count_weighted_layers(block) == 2


# --- receptive field along a residual block's data flow (issue 27) ---------------------------

def gradient_field(model: nn.Module, channels: int, size: int = 64) -> int:
    """Rows of the input that reach the centre output pixel, measured by its gradient; every
    convolution's weights positive so that no two paths cancel."""
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.constant_(module.weight, 0.05)
    x = torch.ones(1, channels, size, size, requires_grad=True)
    out = model(x)
    c = out.shape[2] // 2
    out[0, :, c, c].sum().backward()
    rows = torch.nonzero(x.grad[0].abs().sum((0, 2))).flatten()
    return int(rows[-1] - rows[0] + 1)


def resnet_stage(shortcut_type="B", shortcut=True, block=None):
    net = ResNet(block or BasicBlock, [2, 2, 2], stem="cifar", widths=(16, 32, 64),
                 shortcut=shortcut, shortcut_type=shortcut_type)
    return net.layer2, net.layer2[0].conv1.in_channels


@pytest.mark.parametrize("build", [
    lambda: resnet_stage(),  # 2 blocks, the first with stride 2 and a 1×1 projection
    lambda: resnet_stage("A"),  # the zero-padding shortcut subsamples by indexing
    lambda: resnet_stage(shortcut=False),  # the plain twin: a chain after all
    lambda: resnet_stage(block=Bottleneck),
    lambda: (BasicBlock(8, 8), 8),
    lambda: (nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                           nn.Conv2d(4, 4, 5, stride=2, padding=2), nn.Conv2d(4, 4, 3)), 3),
], ids=["resnet stage", "stage, shortcut A", "plain stage", "bottleneck stage", "basic block",
        "plain stack"])
def test_receptive_field_of_residual_blocks_matches_gradient(build):
    """A shortcut's layers are a path of their own, not layers in series with the block's: a
    2-block stage with stride 2 sees 15 input rows, not the 23 of walking modules in order."""
    model, channels = build()
    assert receptive_field(model)[-1]["r"] == gradient_field(model, channels)


def test_receptive_field_of_a_stage_names_the_addition():
    stage, _ = resnet_stage()
    rows = receptive_field(stage)
    assert rows[-1]["r"] == 15 and rows[-1]["j"] == 2
    adds = [row for row in rows if row["type"] == "add"]
    assert len(adds) == 2 and adds[0]["r"] == 7  # the longer path: two 3x3 convolutions
    shortcut = next(row for row in rows if row["name"] == "0.downsample.0")
    assert (shortcut["r"], shortcut["j"]) == (1, 2)


def test_receptive_field_refuses_what_it_cannot_follow():
    with pytest.raises(ValueError, match=r"cannot follow ResNet's forward: its AdaptiveAvgPool2d "
                                         r"\(avgpool\) ends the spatial grid.*model.layer1"):
        receptive_field(get_model("resnet20"))

    class Branching(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.conv(x) if x.sum() > 0 else x  # depends on the data: fx cannot trace

    with pytest.raises(ValueError, match=r"cannot follow Branching's forward: .*torch.fx could "
                                         r"not trace it.*model.layer1"):
        receptive_field(Branching())

    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.other = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return F.max_pool2d(self.conv(x), 2) + self.other(x)[:, :, :-1:, :-1:]

    with pytest.raises(ValueError, match=r"cannot follow the function max_pool2d in Pooled's "
                                         r"forward.*nn.MaxPool2d"):
        receptive_field(Pooled())

    class Misaligned(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x)], 1)

    with pytest.raises(ValueError, match=r"paths that meet at cat .* different strides "
                                         r"\(\[1, 2\]\), so their pixels do not line up"):
        receptive_field(Misaligned())
