"""The book's models: shapes, parameter counts, registry, and the errors a reader will meet."""

from functools import lru_cache

import pytest
import torch
import torchvision
from torch import nn

import cnnlib.models as models
from cnnlib.arithmetic import count_params
from cnnlib.models import build_model, get_model, list_models



@pytest.fixture(autouse=True)
def no_grad():
    """No training here: forward passes without autograd keep the big AlexNets fast."""
    with torch.no_grad():
        yield


META = torch.device("meta")


@lru_cache(maxsize=None)
def built(name):
    """One default instance per model, shared by the tests that never change it, built
    on the ``meta`` device: shapes, counts and input checks without memory for the
    weights (the VGGs alone would hold 2.2 GB for the whole session)."""
    with META:
        return get_model(name)

# (name, builder kwargs, input sizes it must accept, num_classes by default)
SUPPORTED = [
    ("lenet5", {}, [32], 10),
    ("alexnet_paper", {"init": "pytorch"}, [227], 1000),
    ("alexnet_torchvision", {}, [224, 227, 63], 1000),
    ("alexnet_cifar", {}, [32], 10),
    ("alexnet_half", {}, [32], 10),
]


def test_registry_lists_every_model():
    names = list_models()
    assert names == sorted(names)
    assert {name for name, *_ in SUPPORTED} <= set(names)


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="unknown model 'alexnet'.*alexnet_cifar, alexnet_half"):
        get_model("alexnet")


def test_register_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        models.register("lenet5")(lambda: None)


@pytest.mark.parametrize("name, kwargs, sizes, classes", SUPPORTED, ids=[s[0] for s in SUPPORTED])
def test_output_shape_for_each_supported_size(name, kwargs, sizes, classes):
    model = get_model(name, **kwargs).eval()
    channels = model.input_size[0]
    assert model.input_size[1] in sizes
    for size in sizes:
        assert model(torch.randn(1, channels, size, size)).shape == (1, classes)


@pytest.mark.parametrize("name, kwargs", [(s[0], s[1]) for s in SUPPORTED],
                         ids=[s[0] for s in SUPPORTED])
def test_num_classes_changes_the_last_layer(name, kwargs):
    model = get_model(name, num_classes=7, **kwargs)
    last = model.classifier[-1]
    assert isinstance(last, nn.Linear) and last.out_features == 7
    assert model.eval()(torch.randn(2, *model.input_size)).shape == (2, 7)


@pytest.mark.parametrize("name, features_shape", [("lenet5", (120, 1, 1)),
                                                  ("alexnet_paper", (256, 6, 6)),
                                                  ("alexnet_torchvision", (256, 6, 6)),
                                                  ("alexnet_cifar", (256, 2, 2)),
                                                  ("alexnet_half", (128, 4, 4))])
def test_features_end_shape(name, features_shape):
    model = built(name)
    features = model.features(torch.zeros(1, *model.input_size, device=META))
    assert features.shape[1:] == features_shape


# ----------------------------------------------------------------------------- parameter counts

def test_lenet5_param_counts_layer_by_layer():
    model = get_model("lenet5")
    c1, c3, c5 = (m for m in model.features if isinstance(m, nn.Conv2d))
    f6, out = (m for m in model.classifier if isinstance(m, nn.Linear))
    assert [count_params(m) for m in (c1, c3, c5, f6, out)] == [156, 2416, 48120, 10164, 850]
    assert count_params(model) == 61706


@pytest.mark.parametrize("classic", [False, True])
def test_lenet5_in_channels(classic):
    model = get_model("lenet5", in_channels=3, classic=classic)
    assert model.input_size == (3, 32, 32)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_lenet5_classic_uses_tanh_and_average_pooling():
    classic = get_model("lenet5", classic=True)
    kinds = {type(m) for m in classic.modules()}
    assert nn.Tanh in kinds and nn.AvgPool2d in kinds
    assert nn.ReLU not in kinds and nn.MaxPool2d not in kinds
    modern = {type(m) for m in get_model("lenet5").modules()}
    assert nn.ReLU in modern and nn.MaxPool2d in modern and nn.Tanh not in modern


@pytest.mark.parametrize("groups, expected", [(1, 62_378_344), (2, 60_965_224)])
def test_alexnet_paper_param_counts(groups, expected):
    with META:
        model = get_model("alexnet_paper", groups=groups, init="pytorch")
    assert count_params(model) == expected


def test_alexnet_torchvision_matches_torchvision():
    ours = get_model("alexnet_torchvision")
    theirs = torchvision.models.alexnet(weights=None)
    assert count_params(ours) == count_params(theirs) == 61_100_840
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(ref)
    assert all(mine[key].shape == ref[key].shape for key in ref)
    ours.load_state_dict(ref)  # torchvision's (pretrained) weights load as they are
    x = torch.randn(1, 3, 224, 224)
    torch.testing.assert_close(ours.eval()(x), theirs.eval()(x))


def test_alexnet_torchvision_minimum_size_is_where_torchvision_breaks():
    theirs = torchvision.models.alexnet(weights=None).eval()
    theirs(torch.zeros(1, 3, 63, 63))
    with pytest.raises(RuntimeError):
        theirs(torch.zeros(1, 3, 62, 62))
    ours = get_model("alexnet_torchvision").eval()
    assert ours.min_input_size == 63
    with pytest.raises(ValueError, match=r"at least 63×63 inputs \(got 62×62\).*pool3"):
        ours(torch.zeros(1, 3, 62, 62))


def test_alexnet_paper_init_biases():
    model = get_model("alexnet_paper")  # init="paper" by default
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    fcs = [m for m in model.classifier if isinstance(m, nn.Linear)]
    biases = [layer.bias.unique().tolist() for layer in convs + fcs]
    #            conv1  conv2  conv3  conv4  conv5  fc6    fc7    fc8
    assert biases == [[0.0], [1.0], [0.0], [1.0], [1.0], [1.0], [1.0], [0.0]]
    weights = torch.cat([layer.weight.flatten() for layer in convs + fcs])
    assert abs(weights.mean().item()) < 1e-4 and abs(weights.std().item() - 0.01) < 1e-4


def test_alexnet_paper_groups_and_lrn():
    model = get_model("alexnet_paper", init="pytorch")
    groups = [m.groups for m in model.features if isinstance(m, nn.Conv2d)]
    assert groups == [1, 2, 1, 2, 2]  # conv3 sees all of conv2's maps, across both GPUs
    assert sum(isinstance(m, models.alexnet.LocalResponseNorm) for m in model.features) == 2
    no_lrn = get_model("alexnet_paper", lrn=False, init="pytorch")
    assert len(no_lrn.features) == len(model.features)  # nn.Identity keeps the indices


@pytest.mark.parametrize("groups", [3, 0, 64])
def test_alexnet_paper_rejects_groups_that_do_not_divide(groups):
    with pytest.raises(ValueError, match="groups must divide"):
        get_model("alexnet_paper", groups=groups)


def test_alexnet_paper_rejects_unknown_init():
    with pytest.raises(ValueError, match="init must be"):
        get_model("alexnet_paper", init="xavier")


def test_paper_layers_table():
    assert [row["layer"] for row in models.PAPER_LAYERS] == \
        ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]


# ----------------------------------------------------------------------------- clear errors

def test_lenet5_at_28_explains_padding():
    with pytest.raises(ValueError) as err:
        built("lenet5")(torch.zeros(1, 1, 28, 28, device=META))
    msg = str(err.value)
    assert msg.startswith("LeNet-5 expects 32×32 inputs (got 28×28): "
                          "C1 (5×5) → 28, S2 → 14, C3 → 10, S4 → 5, C5 → 1")
    assert "Pad MNIST's 28×28 by 2 pixels per side" in msg and "pad_to=32" in msg


def test_alexnet_paper_at_224_names_227():
    with pytest.raises(ValueError) as err:
        get_model("alexnet_paper", init="pytorch")(torch.zeros(1, 3, 224, 224))
    msg = str(err.value)
    assert "227" in msg and "(224 − 11)/4 + 1 = 54.25" in msg


@pytest.mark.parametrize("name", ["alexnet_cifar", "alexnet_half"])
def test_cifar_variants_reject_other_sizes(name):
    with pytest.raises(ValueError, match=r"expects 32×32 inputs \(got 28×28\)"):
        built(name)(torch.zeros(1, 3, 28, 28, device=META))


@pytest.mark.parametrize("name", list_models())
def test_wrong_channels(name):
    model = built(name)
    channels = model.input_size[0]
    wrong = 3 if channels == 1 else 1
    with pytest.raises(ValueError, match=rf"expects {channels} channel\(s\), got {wrong}: "):
        model(torch.zeros(1, wrong, *model.input_size[1:], device=META))


@pytest.mark.parametrize("name", list_models())
def test_uint8_input(name):
    model = built(name)
    with pytest.raises(ValueError, match=r"expects float input, got torch.uint8: convert with "
                                         r"x.float\(\)/255 and normalise"):
        model(torch.zeros(1, *model.input_size, dtype=torch.uint8, device=META))


@pytest.mark.parametrize("name", list_models())
def test_missing_batch_dimension(name):
    model = built(name)
    with pytest.raises(ValueError, match=r"expects a batch N×C×H×W, got a single image C×H×W.*"
                                         r"x.unsqueeze\(0\)"):
        model(torch.zeros(*model.input_size, device=META))


def test_build_model_passes_channels_only_where_the_builder_takes_them():
    assert build_model("lenet5", channels=3).input_size == (3, 32, 32)
    alexnet = build_model("alexnet_cifar", channels=3)
    assert alexnet(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_the_tutorials_mnist_cnn_has_its_layers_and_checks_its_input():
    model = get_model("mnist_cnn")
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # conv 16·(25+1) + BN 2·16 + conv 32·(16·25+1) + BN 2·32 + fc 10·(7·7·32+1)
    assert count_params(model) == 416 + 32 + 12_832 + 64 + 15_690
    with pytest.raises(ValueError, match="28×28"):
        model(torch.zeros(1, 1, 32, 32))


def test_the_blog_articles_half_width_alexnet_at_224():
    model = get_model("alexnet_half224")
    assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 5)
    convs = [m.out_channels for m in model.features if isinstance(m, nn.Conv2d)]
    assert convs == [48, 128, 192, 192, 128]
    assert model.features(torch.zeros(1, 3, 224, 224)).shape == (1, 128, 6, 6)
    with pytest.raises(ValueError, match="at least 63"):
        model(torch.zeros(1, 3, 32, 32))
