"""cnnlib.drills: equivalent models pass, each classic mistake is named, nothing raises."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.arithmetic import count_params
from cnnlib.drills import check, get_reference, layer_sheet, list_references, shape_ladder
from cnnlib.layers import LocalResponseNorm
from cnnlib.models import get_model
from cnnlib.models.resnet import BasicBlock, Bottleneck, conv1x1


def verdict(model, reference, **kwargs):
    return check(model, reference, verbose=False, **kwargs)


def assert_says(result, *words):
    """The result failed, and its explanation contains every word (case-insensitive)."""
    assert not result.ok, result.text
    text = " ".join(result.text.lower().split())  # the verdict wraps long lines
    missing = [w for w in words if " ".join(w.lower().split()) not in text]
    assert not missing, f"{missing} not in:\n{result.text}"


# ---------------------------------------------------------------------------------------------
# Models written by hand, the ways readers write them

class LeNetFunctional(nn.Module):
    """LeNet-5 as in the PyTorch tutorial: F.relu, F.max_pool2d after the ReLU, x.view."""

    def __init__(self, c3_padding=0, c3_stride=1, f6_in=120, flatten="view"):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5, stride=c3_stride, padding=c3_padding)
        self.conv3 = nn.Conv2d(16, 120, 5)
        self.fc1 = nn.Linear(f6_in, 84)
        self.fc2 = nn.Linear(84, 10)
        self.flatten = flatten

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(F.max_pool2d(self.conv2(x), kernel_size=2, stride=2))  # ReLU after the pool
        x = F.relu(self.conv3(x))
        x = x.view(x.size(0), -1) if self.flatten == "view" else x.view(-1, 60)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


class LeNetLinearC5(nn.Module):
    """C5 written as Linear(400, 120) on the flattened 16×5×5 maps: the same function."""

    def __init__(self, fc1_in=16 * 5 * 5):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.fc1 = nn.Linear(fc1_in, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def alexnet_cifar_sequential(conv5_padding=1):
    """AlexNet for CIFAR-10 as one nn.Sequential with nn.Flatten and inplace ReLUs."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, stride=2, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=conv5_padding), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(256 * 2 * 2, 4096), nn.ReLU(inplace=True),
        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, 10))


class MyBasicBlock(nn.Module):
    """A CIFAR-tutorial block: the shortcut is computed first, activations are F.relu."""

    def __init__(self, cin, cout, stride=1, project=True, relu_before_bn=False, bias=False,
                 add=True):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if project and (stride != 1 or cin != cout):
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))
        self.relu_before_bn, self.add = relu_before_bn, add

    def forward(self, x):
        identity = self.shortcut(x)
        if self.relu_before_bn:
            out = self.bn1(F.relu(self.conv1(x)))
        else:
            out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if not self.add:
            return F.relu(out)
        return F.relu(out + identity)


class PreActivationBlock(MyBasicBlock):
    """BN → ReLU → conv: BatchNorm before each convolution instead of after it."""

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return out + self.shortcut(x)


def projection(cin, cout, stride):
    return nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))


# ---------------------------------------------------------------------------------------------
# Correct models pass

def test_every_reference_is_listed_and_has_an_input_size():
    names = list_references()
    for name in ("lenet5", "lenet5_classic", "alexnet_paper", "alexnet_torchvision",
                 "alexnet_cifar", "basic_block", "basic_block_down", "bottleneck",
                 "bottleneck_down", "bottleneck_down_v1", "resnet18", "resnet18_cifar",
                 "resnet20"):
        assert name in names
        assert len(get_reference(name).input_size) == 3


@pytest.mark.parametrize("name, build", [
    ("lenet5", lambda: get_model("lenet5")),
    ("lenet5_classic", lambda: get_model("lenet5", classic=True)),
    ("lenet5", LeNetFunctional),
    ("alexnet_cifar", lambda: get_model("alexnet_cifar")),
    ("alexnet_cifar", alexnet_cifar_sequential),
    ("basic_block", lambda: BasicBlock(64, 64)),
    ("basic_block", lambda: MyBasicBlock(64, 64)),
    ("basic_block_down", lambda: BasicBlock(64, 128, 2, projection(64, 128, 2))),
    ("basic_block_down", lambda: MyBasicBlock(64, 128, 2)),
    ("bottleneck", lambda: Bottleneck(256, 64)),
    ("bottleneck_down", lambda: Bottleneck(256, 128, 2, projection(256, 512, 2))),
    ("resnet20", lambda: get_model("resnet20")),
])
def test_correct_models_pass(name, build):
    result = verdict(build(), name)
    assert result.ok, result.text
    assert result.first_divergence is None
    assert result.text.startswith("✓")
    assert all(row["match"] for row in result.rows)


def test_a_linear_c5_is_accepted_with_a_note():
    result = verdict(LeNetLinearC5(), "lenet5")
    assert result.ok, result.text
    assert any("full connection" in note for note in result.notes)


def test_dropout_on_the_other_side_of_the_layer_is_accepted_with_a_note():
    model = alexnet_cifar_sequential()
    # The paper's reading: dropout after fc6 and fc7's ReLUs instead of before fc6 and fc7.
    model = nn.Sequential(*list(model)[:14], nn.Linear(1024, 4096), nn.ReLU(), nn.Dropout(),
                          nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 10))
    result = verdict(model, "alexnet_cifar")
    assert result.ok, result.text
    note = " ".join(next(n for n in result.notes if "dropout" in n).split())
    assert "not the same network in training" in note and "same function" in note


def test_check_restores_training_mode_and_leaves_no_hooks():
    model = LeNetFunctional().train()
    verdict(model, "lenet5")
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


# ---------------------------------------------------------------------------------------------
# The classic mistakes, each named

def test_extra_padding_is_explained_with_the_arithmetic():
    result = verdict(LeNetFunctional(c3_padding=1), "lenet5")
    assert_says(result, "layer 3 (Conv2d) outputs 16×12×12, expected 16×10×10",
                "padding=1", "LeNet-5's C3 uses none", "= 12")
    assert result.first_divergence[0] == 3
    assert "self.conv2 = nn.Conv2d(6, 16, 5, stride=c3_stride, padding=c3_padding)" in result.text


def test_missing_padding():
    result = verdict(alexnet_cifar_sequential(conv5_padding=0), "alexnet_cifar")
    assert_says(result, "layer 7", "256×2×2, expected 256×4×4", "no padding", "padding=1")


def test_wrong_stride():
    result = verdict(LeNetFunctional(c3_stride=2), "lenet5")
    assert_says(result, "stride=2", "stride 1", "16×5×5, expected 16×10×10")


def test_wrong_flatten_size_names_what_the_convolutions_output():
    result = verdict(LeNetLinearC5(fc1_in=16 * 4 * 4), "lenet5")
    assert_says(result, "expected 256 inputs, got 400", "16×5×5 = 400", "nn.Linear(400, 120)")
    assert "self.fc1 = nn.Linear(fc1_in, 120)" in result.text


def test_flatten_that_mixes_images():
    result = verdict(LeNetFunctional(flatten="mix"), "lenet5")
    assert_says(result, "x.view", "mix images", "torch.flatten(x, 1)")


def test_flatten_that_flattens_the_batch_too():
    class FlatBatch(LeNetFunctional):
        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(F.relu(self.conv3(x)))
            return self.fc2(F.relu(self.fc1(x)))
    assert_says(verdict(FlatBatch(), "lenet5"), "flattens the batch dimension too",
                "torch.flatten(x, 1)")


def test_missing_downsample_shortcut_is_caught_and_explained():
    result = verdict(MyBasicBlock(64, 128, stride=2, project=False), "basic_block_down")
    assert_says(result, "does not run", "residual addition", "128×28×28 and 64×56×56",
                "no projection", "1×1 conv")
    assert "return F.relu(out + identity)" in result.text


def test_missing_residual_addition():
    result = verdict(MyBasicBlock(64, 64, add=False), "basic_block")
    assert_says(result, "no residual addition", "out + identity")


def test_batchnorm_before_the_convolution():
    result = verdict(PreActivationBlock(64, 64), "basic_block")
    assert_says(result, "swapped", "batchnorm then a convolution", "conv → BN → ReLU")


def test_relu_before_batchnorm():
    result = verdict(MyBasicBlock(64, 128, 2, relu_before_bn=True), "basic_block_down")
    assert_says(result, "ReLU comes between layer 1", "normalises first")


def test_conv_bias_before_batchnorm():
    result = verdict(MyBasicBlock(64, 128, 2, bias=True), "basic_block_down")
    assert_says(result, "has a bias", "bias=False", "73,856", "73,728")


def test_forgotten_groups_in_alexnet():
    model = get_model("alexnet_paper", groups=1, init="pytorch")
    result = verdict(model, "alexnet_paper")
    assert_says(result, "layer 4", "conv2", "groups=2 missing", "expected 307,456 params",
                "got 614,656")


def conv_lrn_reference() -> str:
    """A small reference, conv + ReLU + the paper's LRN on 8×8×8 inputs, registered once."""
    from cnnlib.drills import Reference, register_reference
    if "test_conv_lrn" not in list_references():
        register_reference(Reference(
            "test_conv_lrn", "conv + LRN (test)", input_size=(8, 8, 8),
            build=lambda: nn.Sequential(nn.Conv2d(8, 8, 3), nn.ReLU(), LocalResponseNorm())))
    return "test_conv_lrn"


def test_pytorch_lrn_alpha_convention_is_explained():
    conv_lrn_reference()
    paper = nn.Sequential(nn.Conv2d(8, 8, 3), nn.ReLU(), nn.LocalResponseNorm(5, 5e-4, 0.75, 2.0))
    assert verdict(paper, "test_conv_lrn").ok  # PyTorch's alpha is per size: 5e-4 / 5 = 1e-4
    naive = nn.Sequential(nn.Conv2d(8, 8, 3), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0))
    assert_says(verdict(naive, "test_conv_lrn"), "divides alpha by size", "alpha=0.0005")


# ---------------------------------------------------------------------------------------------
# Modules the checker does not read: identified by what they compute, or named

class ExerciseLRN(nn.Module):
    """LRN as chapter 4's exercise writes it: square, pad the channels, add five slices."""

    def __init__(self, k=2.0, alpha=1e-4, beta=0.75, scale_first=False):
        super().__init__()
        self.k, self.alpha, self.beta, self.scale_first = k, alpha, beta, scale_first

    def forward(self, a):
        squares = F.pad(a * a, (0, 0, 0, 0, 2, 2))
        energy = sum(squares[:, j:j + a.shape[1]] for j in range(5))
        if self.scale_first:  # the output is made by the additions' side
            return (self.k + self.alpha * energy) ** -self.beta * a
        return a / (self.k + self.alpha * energy) ** self.beta


class PostLRN(nn.Module):
    """The popular port's LRN (chapter 4): averages the squares, k = 1 hard-coded."""

    def __init__(self, local_size=1, alpha=1.0, beta=0.75, across_channels=True):
        super().__init__()
        self.across_channels = across_channels
        pad = (local_size - 1) // 2
        self.average = nn.AvgPool3d((local_size, 1, 1), stride=1, padding=(pad, 0, 0)) \
            if across_channels else nn.AvgPool2d(local_size, stride=1, padding=pad)
        self.alpha, self.beta = alpha, beta

    def forward(self, x):
        if self.across_channels:
            div = self.average(x.pow(2).unsqueeze(1)).squeeze(1)
        else:
            div = self.average(x.pow(2))
        return x.div(div.mul(self.alpha).add(1.0).pow(self.beta))


class Squash(nn.Module):
    """Neither an LRN nor an activation the checker knows."""

    def forward(self, x):
        return x / (2.0 + 1e-4 * x.abs()) ** 0.75


def conv_then(layer):
    return nn.Sequential(nn.Conv2d(8, 8, 3), nn.ReLU(), layer)


@pytest.mark.parametrize("scale_first", [False, True])
def test_a_hand_written_lrn_is_recognised_and_accepted(scale_first):
    result = verdict(conv_then(ExerciseLRN(scale_first=scale_first)), conv_lrn_reference())
    assert result.ok, result.text
    assert "ExerciseLRN" in result.text and "Accepted" in result.text


def test_a_hand_written_lrn_with_other_constants_is_flagged_with_them():
    result = verdict(conv_then(ExerciseLRN(k=1.0, beta=1.0)), conv_lrn_reference())
    assert_says(result, "layer 2 (ExerciseLRN) computes local response normalisation",
                "uses k=1", "k=2", "beta=1", "beta=0.75")


def test_the_posts_lrn_is_read_as_an_lrn_that_averages():
    result = verdict(conv_then(PostLRN(5, 1e-4, 0.75)), conv_lrn_reference())
    assert_says(result, "PostLRN", "2e-05", "0.0001", "averages the squares", "k=1")
    within = verdict(conv_then(PostLRN(5, 5 * 5 * 1e-4, 0.75, across_channels=False)),
                     conv_lrn_reference())
    assert_says(within, "5×5 neighbourhood of the same map", "5 neighbouring channels")
    assert "average pooling" not in within.text


def test_an_unknown_module_is_named_not_its_neighbour():
    result = verdict(conv_then(Squash()), conv_lrn_reference())
    assert_says(result, "Squash (layer 2, 2) is not a layer the checker knows",
                "neither local response normalisation nor an activation",
                "has local response normalisation here", "would output other values")
    assert result.first_divergence[0] == 2
    model = get_model("alexnet_paper", init="pytorch")
    model.features[2] = Squash()
    result = verdict(model, "alexnet_paper")
    assert_says(result, "Squash (layer 2, features.2) is not a layer the checker knows",
                "AlexNet has local response normalisation here (LRN1)")
    assert "max pooling" not in result.text.split("\n")[1]


def test_an_unknown_module_with_weights_is_named():
    result = verdict(conv_then(nn.GroupNorm(2, 8)), conv_lrn_reference())
    assert_says(result, "GroupNorm (layer 2, 2) is not a layer the checker knows",
                "cannot compare it", "local response normalisation here")


def test_a_hand_written_relu_or_pool_is_recognised():
    class WhereReLU(nn.Module):
        def forward(self, x):
            return torch.where(x > 0, x, torch.zeros_like(x))

    class UnfoldPool(nn.Module):  # a 2×2 max-pool from unfold: compared with the reference
        def forward(self, x):
            return x.unfold(2, 2, 2).unfold(3, 2, 2).amax((-1, -2))

    model = get_model("lenet5")
    model.features[1] = WhereReLU()
    assert verdict(model, "lenet5").ok
    model.features[2] = UnfoldPool()
    result = verdict(model, "lenet5")
    assert result.ok, result.text
    assert "UnfoldPool" in result.text and "Accepted" in result.text


def test_the_papers_v1_bottleneck_is_named_as_that_variant():
    class StrideOnFirst(nn.Module):  # the paper's block: stride 2 on the first 1×1
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = conv1x1(256, 128, 2), nn.BatchNorm2d(128)
            self.conv2 = nn.Conv2d(128, 128, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(128)
            self.conv3, self.bn3 = conv1x1(128, 512), nn.BatchNorm2d(512)
            self.downsample = projection(256, 512, 2)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = F.relu(self.bn2(self.conv2(out)))
            return F.relu(self.bn3(self.conv3(out)) + self.downsample(x))
    assert verdict(StrideOnFirst(), "bottleneck_down_v1").ok
    assert_says(verdict(StrideOnFirst(), "bottleneck_down"), "stride=2",
                "matches ResNet bottleneck block as in the paper (v1",
                "reference='bottleneck_down_v1'")
    torchvision_block = Bottleneck(256, 128, 2, projection(256, 512, 2))
    assert_says(verdict(torchvision_block, "bottleneck_down_v1"),
                "reference='bottleneck_down'")


def test_tanh_model_is_pointed_to_the_classic_reference():
    result = verdict(get_model("lenet5", classic=True), "lenet5")
    assert_says(result, "tanh", "ReLU", "reference='lenet5_classic'")


def test_softmax_at_the_end_is_flagged():
    class Softmaxed(LeNetFunctional):
        def forward(self, x):
            return F.softmax(super().forward(x), dim=1)
    assert_says(verdict(Softmaxed(), "lenet5"), "softmax", "CrossEntropyLoss")


def test_functional_dropout_left_on_in_eval():
    class Dropped(LeNetFunctional):
        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(F.relu(self.conv3(x)), 1)
            x = F.dropout(x, 0.5)
            return self.fc2(F.relu(self.fc1(x)))
    assert_says(verdict(Dropped(), "lenet5"), "training=self.training",
                "x = F.dropout(x, 0.5)")


def test_parameters_never_used_in_forward():
    model = LeNetFunctional()
    model.spare = nn.Linear(10, 10)
    assert_says(verdict(model, "lenet5"), "forward never calls spare (Linear)")


# ---------------------------------------------------------------------------------------------
# Models that do not run: a message, never an exception

def test_a_forward_that_raises_is_reported_not_raised():
    class Unfinished(LeNetFunctional):
        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            raise NotImplementedError("the rest on Monday")
    result = verdict(Unfinished(), "lenet5")
    assert_says(result, "does not run", "NotImplementedError: the rest on Monday",
                "after layer 2 (F.max_pool2d → 6×14×14)", "match LeNet-5")
    assert result.first_divergence[0] == 3
    assert "Traceback" not in result.text


def test_a_shape_error_names_the_layer_and_the_fix():
    class NoFlatten(LeNetFunctional):
        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc2(F.relu(self.fc1(F.relu(self.conv3(x)))))
    assert_says(verdict(NoFlatten(), "lenet5"), "4-D tensor 120×1×1", "flatten the maps first")


def test_forward_without_return():
    class NoReturn(LeNetFunctional):
        def forward(self, x):
            super().forward(x)
    assert_says(verdict(NoReturn(), "lenet5"), "returned NoneType", "return x")


def test_no_model_yet_and_a_class_instead_of_an_instance():
    result = verdict(None, "lenet5")
    assert not result.ok and "write your LeNet-5" in result.text
    assert verdict(LeNetFunctional, "lenet5").ok  # a class is built with no arguments


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="did you mean 'lenet5'"):
        check(LeNetFunctional(), "lenet")
    with pytest.raises(TypeError, match="nn.Module"):
        check("LeNet", "lenet5")


# ---------------------------------------------------------------------------------------------
# The result object

def test_result_prints_once_and_reprs_its_verdict(capsys):
    result = check(LeNetFunctional(c3_padding=1), "lenet5")
    printed = capsys.readouterr().out
    assert printed.strip() == result.text.strip() == repr(result).strip()
    assert "#  yours" in printed and "✗" in printed
    verdict(LeNetFunctional(), "lenet5")
    assert capsys.readouterr().out == ""

    class Printer:
        def __init__(self):
            self.out = ""

        def text(self, s):
            self.out += s
    p = Printer()
    result._repr_pretty_(p, False)
    assert p.out == result.text


def test_rows_compare_layer_by_layer():
    result = verdict(LeNetFunctional(c3_padding=1), "lenet5")
    assert [row["match"] for row in result.rows[:3]] == [True, True, False]
    assert result.rows[2]["yours_shape"] == (16, 12, 12)
    assert result.rows[2]["reference_shape"] == (16, 10, 10)
    assert result.rows[2]["label"] == "C3"


def test_a_layer_replaced_after_construction_is_not_blamed_on_its_old_line():
    model = LeNetLinearC5()
    model.features[3] = nn.Conv2d(6, 16, 5, padding=1)  # the line in __init__ says no padding
    result = verdict(model, "lenet5")
    assert_says(result, "padding=1")
    assert "your line: nn.Conv2d(6, 16, 5)" not in result.text


# ---------------------------------------------------------------------------------------------
# Sheets

def test_layer_sheet_and_shape_ladder_are_read_from_the_reference():
    sheet = layer_sheet("lenet5")
    assert "nn.Conv2d(6, 16, 5) + ReLU" in sheet and "61,706" in sheet
    assert "C3 16×10×10 → S4 16×5×5" in shape_ladder("lenet5")
    resnet = layer_sheet("resnet20")
    assert "layer2.0" in resnet and "projection" in resnet
    assert f"{count_params(get_model('resnet20')):,}" in resnet


# ---------------------------------------------------------------------------------------------
# The Inception module: branches read in the order torch.cat stacks them, outputs compared

def _conv_bn(in_channels, out_channels, kernel):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2,
                                   bias=False),
                         nn.BatchNorm2d(out_channels, eps=0.001), nn.ReLU(inplace=True))


class MyInception(nn.Module):
    """Module 3a written by hand; ``order`` is the order forward runs the branches in,
    ``stack`` the order torch.cat stacks them in."""

    def __init__(self, order=(1, 2, 3, 4), stack=(1, 2, 3, 4), project_first=False,
                 scale=1.0):
        super().__init__()
        self.order, self.stack, self.scale = order, stack, scale
        self.branch1 = _conv_bn(192, 64, 1)
        self.branch2 = nn.Sequential(_conv_bn(192, 96, 1), _conv_bn(96, 128, 3))
        self.branch3 = nn.Sequential(_conv_bn(192, 16, 1), _conv_bn(16, 32, 5))
        pool, projection = nn.MaxPool2d(3, stride=1, padding=1), _conv_bn(192, 32, 1)
        self.branch4 = nn.Sequential(*((projection, pool) if project_first
                                       else (pool, projection)))

    def forward(self, x):
        out = {b: getattr(self, f"branch{b}")(x) for b in self.order}
        return self.scale * torch.cat([out[b] for b in self.stack], 1)


def test_inception_passes_whatever_order_forward_runs_the_branches_in():
    for order in ((1, 2, 3, 4), (4, 3, 1, 2)):
        result = verdict(MyInception(order=order), "inception")
        assert result.ok, result.text
        assert "same output values" in result.text
        assert "extra" not in result.text


def test_inception_branches_stacked_in_the_wrong_order_fail():
    assert_says(verdict(MyInception(stack=(2, 1, 3, 4)), "inception"),
                "layer 1", "order torch.cat stacks them")


def test_inception_output_values_are_compared_and_the_model_left_as_it_was():
    model = MyInception(scale=2.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert_says(verdict(model, "inception"), "at its output", "your output differs")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_stride_1_pool_is_not_said_to_shrink_the_maps():
    result = verdict(MyInception(project_first=True), "inception")
    assert_says(result, "max pooling (branch4.0)")
    assert "shrinking" not in result.text, result.text
