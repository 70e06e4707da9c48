"""ResNets: torchvision compatibility, parameter counts by hand, shapes, shortcuts, plain twins."""

import operator
from functools import lru_cache

import pytest
import torch
import torchvision
from torch import fx, nn

from cnnlib.arithmetic import conv_params, count_params, linear_params
from cnnlib.models import get_model, list_models
from cnnlib.models.resnet import BasicBlock, Bottleneck, ResNet, ZeroPadShortcut, cifar_resnet

IMAGENET = ["resnet18", "resnet34", "resnet50"]
CIFAR = ["resnet18_cifar", "resnet20", "resnet56", "plain20", "plain56"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These small passes gain little from threads and lose much when the CPU is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_grad():
    """Forward passes only (the one backward test turns autograd back on)."""
    with torch.no_grad():
        yield


@lru_cache(maxsize=None)
def built(name, **kwargs):
    """One instance per model and options, shared by tests that never change it."""
    return get_model(name, **kwargs).eval()


def blocks(model):
    """(name, block) for every residual block, in order."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, (BasicBlock, Bottleneck))]


# ----------------------------------------------------------------------------- parameter counts

def bn_params(channels):
    return 2 * channels  # gamma and beta


def basic_resnet_params(layers, widths, classes, stem, projection=True):
    """BasicBlock ResNet parameters, by hand: stem, each block's two 3×3 + BN, projections, fc."""
    w0 = widths[0]
    total = conv_params(3, w0, 7 if stem == "imagenet" else 3, bias=False) + bn_params(w0)
    inplanes = w0
    for i, (n, planes) in enumerate(zip(layers, widths)):
        for b in range(n):
            total += conv_params(inplanes, planes, 3, bias=False) + bn_params(planes)
            total += conv_params(planes, planes, 3, bias=False) + bn_params(planes)
            changes = b == 0 and (i > 0 or inplanes != planes)
            if changes and projection:
                total += conv_params(inplanes, planes, 1, bias=False) + bn_params(planes)
            inplanes = planes
    return total + linear_params(widths[-1], classes)


def projection_params(widths):
    """What option B adds to option A: a 1×1 conv + BN at each stage that changes shape."""
    return sum(conv_params(a, b, 1, bias=False) + bn_params(b) for a, b in zip(widths, widths[1:]))


@pytest.mark.parametrize("name, expected", [("resnet18", 11_689_512), ("resnet34", 21_797_672),
                                            ("resnet50", 25_557_032)])
def test_imagenet_resnets_match_torchvision(name, expected):
    ours = get_model(name)
    theirs = getattr(torchvision.models, name)(weights=None)
    assert count_params(ours) == count_params(theirs) == expected
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(ref)
    assert all(mine[key].shape == ref[key].shape for key in ref)
    ours.load_state_dict(ref)  # torchvision's (pretrained) weights load as they are
    x = torch.randn(2, 3, 40, 40)  # small, to stay fast: any size from 1×1 works
    torch.testing.assert_close(ours.eval()(x), theirs.eval()(x))


@pytest.mark.parametrize("name, layers", [("resnet18", [2, 2, 2, 2]), ("resnet34", [3, 4, 6, 3])])
def test_imagenet_counts_by_hand(name, layers):
    assert count_params(built(name)) == \
        basic_resnet_params(layers, (64, 128, 256, 512), 1000, "imagenet")


def test_resnet18_cifar_count():
    by_hand = basic_resnet_params([2, 2, 2, 2], (64, 128, 256, 512), 10, "cifar")
    assert count_params(built("resnet18_cifar")) == by_hand == 11_173_962


def test_resnet20_counts_option_b_and_a():
    widths = (16, 32, 64)
    option_b = basic_resnet_params([3, 3, 3], widths, 10, "cifar")
    option_a = basic_resnet_params([3, 3, 3], widths, 10, "cifar", projection=False)
    assert count_params(built("resnet20")) == option_b == 272_474
    # the paper's "0.27M" is option A: zero-padding shortcuts add no parameters
    assert count_params(built("resnet20", shortcut_type="A")) == option_a == 269_722
    assert option_b - option_a == projection_params(widths) == 2_752


@pytest.mark.parametrize("depth", [20, 56])
def test_plain_twin_is_the_resnet_minus_its_projections(depth):
    plain = count_params(built(f"plain{depth}"))
    assert plain == count_params(built(f"resnet{depth}")) - projection_params((16, 32, 64))
    assert plain == count_params(built(f"resnet{depth}", shortcut_type="A"))


def test_bottleneck_arithmetic():
    assert conv_params(256, 256, 3, bias=False) == 589_824
    by_hand = (conv_params(256, 64, 1, bias=False) + conv_params(64, 64, 3, bias=False)
               + conv_params(64, 256, 1, bias=False))
    assert by_hand == 69_632
    block = Bottleneck(256, 64)
    assert sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d)) == by_hand


def test_resnet20_has_20_weighted_layers():
    model = built("resnet20")
    weighted = [name for name, m in model.named_modules()
                if isinstance(m, (nn.Conv2d, nn.Linear)) and "downsample" not in name]
    assert sum(name.endswith("conv1") or name.endswith("conv2") for name in weighted) == 19
    assert weighted[-1] == "fc" and len(weighted) == 20 == model.depth


@pytest.mark.parametrize("name", IMAGENET + CIFAR)
def test_depth_counts_weighted_layers(name):
    model = built(name)
    weighted = [n for n, m in model.named_modules()
                if isinstance(m, (nn.Conv2d, nn.Linear)) and "downsample" not in n]
    assert model.depth == len(weighted) == int(name.removesuffix("_cifar")[-2:])


# ----------------------------------------------------------------------------- shapes

def test_registry_and_defaults():
    assert set(IMAGENET + CIFAR) <= set(list_models())
    for name in IMAGENET:
        assert built(name).input_size == (3, 224, 224) and built(name).fc.out_features == 1000
    for name in CIFAR:
        assert built(name).input_size == (3, 32, 32) and built(name).fc.out_features == 10


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])  # resnet34 has resnet18's shapes
def test_imagenet_output_at_224(name):
    model = built(name)
    shapes = stage_outputs(model, 224)  # also checks the output is (1, 1000)
    widths = [64 * model.block.expansion * 2 ** i for i in range(4)]
    assert shapes == model.stage_shapes(224) == list(zip(widths, [56, 28, 14, 7], [56, 28, 14, 7]))


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_output_at_32(name):
    assert built(name)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def stage_outputs(model, size):
    """The (C, H, W) each stage really outputs, read with forward hooks."""
    shapes = []
    hooks = [s.register_forward_hook(lambda m, i, out: shapes.append(tuple(out.shape[1:])))
             for s in model.stages()]
    assert model(torch.zeros(1, 3, size, size)).shape == (1, model.fc.out_features)
    for hook in hooks:
        hook.remove()
    return shapes


@pytest.mark.parametrize("name, expected", [
    ("resnet18_cifar", [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]),
    ("resnet20", [(16, 32, 32), (32, 16, 16), (64, 8, 8)]),
])
def test_stage_shapes(name, expected):
    model = built(name)
    size = model.input_size[1]
    assert stage_outputs(model, size) == model.stage_shapes(size) == expected


@pytest.mark.parametrize("name, size", [("resnet18", 33), ("resnet18", 1), ("resnet50", 17),
                                        ("resnet20", 7), ("resnet20", 1)])
def test_stage_shapes_arithmetic_at_other_sizes(name, size):
    model = built(name)
    assert stage_outputs(model, size) == model.stage_shapes(size)


def test_any_size_from_one_pixel():
    model = built("resnet18")
    assert model.min_input_size == 1
    assert model.stage_shapes(32)[-1] == (512, 1, 1)  # 32 → 16 → 8 → 4 → 2 → 1
    assert model(torch.randn(2, 3, 1, 1)).shape == (2, 1000)
    with pytest.raises(ValueError, match=r"ResNet-18 expects at least 1×1 inputs \(got 0×0\)"):
        model(torch.zeros(1, 3, 0, 0))


def test_num_classes():
    model = get_model("resnet20", num_classes=7).eval()
    assert model.fc.out_features == 7 and model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


# ----------------------------------------------------------------------------- shortcuts

def changes_shape(block):
    inplanes = block.conv1.in_channels
    out = (block.conv3 if isinstance(block, Bottleneck) else block.conv2).out_channels
    return block.stride != 1 or inplanes != out


@pytest.mark.parametrize("name, expected", [
    ("resnet18", ["layer2.0", "layer3.0", "layer4.0"]),
    ("resnet50", ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]),  # layer1: 64 → 256 channels
    ("resnet18_cifar", ["layer2.0", "layer3.0", "layer4.0"]),
    ("resnet20", ["layer2.0", "layer3.0"]),
    ("resnet56", ["layer2.0", "layer3.0"]),
])
def test_downsample_exactly_where_the_shape_changes(name, expected):
    found = [name for name, block in blocks(built(name)) if block.downsample is not None]
    assert found == expected
    assert found == [name for name, block in blocks(built(name)) if changes_shape(block)]
    for block_name in found:  # option B: 1×1 conv + BN, as torchvision
        conv, bn = built(name).get_submodule(block_name).downsample
        assert conv.kernel_size == (1, 1) and isinstance(bn, nn.BatchNorm2d)


def count_additions(block):
    graph = fx.symbolic_trace(block).graph
    return sum(node.target in (operator.add, operator.iadd, torch.add) for node in graph.nodes)


@pytest.mark.parametrize("depth", [20, 56])
def test_plain_twins_have_no_shortcuts(depth):
    resnet, plain = built(f"resnet{depth}"), built(f"plain{depth}")
    assert [n for n, _ in blocks(plain)] == [n for n, _ in blocks(resnet)]
    assert all(block.downsample is None and not block.shortcut for _, block in blocks(plain))
    n = (depth - 2) // 6
    assert sum(count_additions(block) for _, block in blocks(resnet)) == 3 * n
    assert sum(count_additions(block) for _, block in blocks(plain)) == 0


@pytest.mark.parametrize("shortcut", [True, False])
def test_block_with_a_silent_branch(shortcut):
    """Last BN's gamma at 0: a residual block passes x through, its plain twin outputs 0."""
    block = BasicBlock(8, 8, shortcut=shortcut).eval()
    nn.init.zeros_(block.bn2.weight)
    x = torch.rand(2, 8, 5, 5)  # non-negative, as after a ReLU
    torch.testing.assert_close(block(x.clone()), x if shortcut else torch.zeros_like(x))


def test_zero_init_residual_zeroes_the_last_bn_of_each_block():
    model = get_model("resnet20", zero_init_residual=True).eval()
    for _, block in blocks(model):
        assert block.bn2.weight.abs().sum() == 0 and (block.bn1.weight == 1).all()
    assert all((m.weight == 1).all() for m in model.modules()
               if isinstance(m, nn.BatchNorm2d) and m not in {b.bn2 for _, b in blocks(model)})
    x = torch.rand(2, 16, 32, 32)
    torch.testing.assert_close(model.layer1(x.clone()), x)  # every block starts as the identity
    small = ResNet(Bottleneck, [1, 1], num_classes=10, stem="cifar", widths=(4, 8),
                   zero_init_residual=True)
    for _, block in blocks(small):
        assert block.bn3.weight.abs().sum() == 0 and (block.bn2.weight == 1).all()


def test_option_a_pads_with_zeros():
    shortcut = ZeroPadShortcut(16, 32, stride=2)
    x = torch.randn(2, 16, 8, 8)
    out = shortcut(x)
    assert out.shape == (2, 32, 4, 4) and count_params(shortcut) == 0
    torch.testing.assert_close(out[:, :16], x[:, :, ::2, ::2])
    assert out[:, 16:].abs().sum() == 0
    model = built("resnet20", shortcut_type="A")
    assert [type(b.downsample) for _, b in blocks(model) if b.downsample is not None] == \
        [ZeroPadShortcut, ZeroPadShortcut]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_training_step_runs():
    """In-place additions and ReLUs must leave autograd a graph it can differentiate."""
    model = get_model("resnet20").train()
    with torch.enable_grad():
        loss = nn.functional.cross_entropy(model(torch.randn(2, 3, 8, 8)), torch.tensor([0, 1]))
        loss.backward()
    assert all(p.grad is not None for p in model.parameters())


# ----------------------------------------------------------------------------- clear errors

@pytest.mark.parametrize("name", ["resnet18", "resnet20"])
def test_input_errors(name):
    model = built(name)
    with pytest.raises(ValueError, match=r"expects 3 channel\(s\), got 1: ResNets take RGB"):
        model(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="expects float input, got torch.uint8"):
        model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"got a single image C×H×W.*x.unsqueeze\(0\)"):
        model(torch.zeros(3, 32, 32))


@pytest.mark.parametrize("kwargs, message", [
    ({"stem": "mnist"}, "stem must be one of"),
    ({"shortcut_type": "C"}, "shortcut_type must be 'A'"),
    ({"widths": (16, 32)}, "one width per stage"),
    ({"layers": [3, 0, 3]}, "positive ints"),
    ({"shortcut": False, "zero_init_residual": True}, "zero_init_residual needs shortcuts"),
])
def test_constructor_errors(kwargs, message):
    args = {"block": BasicBlock, "layers": [3, 3, 3], "stem": "cifar", "widths": (16, 32, 64)}
    with pytest.raises(ValueError, match=message):
        ResNet(**{**args, **kwargs})


def test_block_errors():
    with pytest.raises(ValueError, match="changes shape.*pass downsample"):
        BasicBlock(16, 32, stride=2)
    with pytest.raises(ValueError, match="plain block"):
        BasicBlock(16, 32, stride=2, downsample=nn.Identity(), shortcut=False)
    with pytest.raises(ValueError, match="zero-padding can only add channels"):
        ZeroPadShortcut(32, 16)
    with pytest.raises(ValueError, match="6n \\+ 2 layers"):
        cifar_resnet(21)
