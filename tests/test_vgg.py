"""VGG: the paper's configurations as data, torchvision's parameter counts and state_dicts,
the paper's Table 2, and a CIFAR variant that checks its input."""

from __future__ import annotations

import pytest
import torch
import torchvision

from cnnlib.arithmetic import count_params
from cnnlib.models import get_model
from cnnlib.models.vgg import CONFIGS, weight_layers

TORCHVISION = {"vgg11": "vgg11", "vgg13": "vgg13", "vgg16": "vgg16", "vgg19": "vgg19"}
META = torch.device("meta")  # where only shapes count: no memory for the weights


@pytest.mark.parametrize("name", TORCHVISION)
@pytest.mark.parametrize("batch_norm", [False, True])
def test_same_parameters_and_state_dict_as_torchvision(name, batch_norm):
    with META:  # names, shapes and counts only: no memory for 130 M weights, twice
        ours = get_model(name, batch_norm=batch_norm)
        builder = getattr(torchvision.models, name + ("_bn" if batch_norm else ""))
        theirs = builder(weights=None)
    assert count_params(ours) == count_params(theirs)
    mine = {k: v.shape for k, v in ours.state_dict().items()}
    assert mine == {k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict())  # so torchvision's weights load as they are


def test_the_papers_table_2_parameter_counts_in_millions():
    """Table 2: A and A-LRN 133, B 133, C 134, D 138, E 144 (millions)."""
    with META:
        built = {c: get_model("vgg", config=c) for c in CONFIGS}
    millions = {c: round(count_params(model) / 1e6) for c, model in built.items()}
    assert millions == {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}


def test_weight_layers_are_the_depths_in_the_names():
    assert {c: weight_layers(c) for c in CONFIGS} == {
        "A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}


def test_an_imagenet_vgg_maps_224_to_512x7x7_and_explains_other_sizes():
    with META:
        model = get_model("vgg11").eval()
        assert model.features(torch.zeros(1, 3, 224, 224)).shape == (1, 512, 7, 7)
        with pytest.raises(ValueError, match=r"224 / 32 = 7.*Resize or crop"):
            model(torch.zeros(1, 3, 227, 227))


def test_configuration_c_has_1x1_convolutions_in_the_last_three_blocks():
    with META:
        model = get_model("vgg", config="C")
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [m.kernel_size[0] for m in convs].count(1) == 3
    assert [i for i, m in enumerate(convs) if m.kernel_size == (1, 1)] == [6, 9, 12]


@pytest.mark.parametrize("name", ["vgg11_cifar", "vgg16_cifar"])
def test_the_cifar_variants_take_32x32_and_scale_their_width(name):
    model = get_model(name)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    convs = [m.out_channels for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert convs[0] == 16 and convs[-1] == 128
    wide = get_model(name, width=0.5, batch_norm=True)
    assert [m.out_channels for m in wide.features if isinstance(m, torch.nn.Conv2d)][0] == 32
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in wide.features)
    with pytest.raises(ValueError, match="32×32"):
        model(torch.zeros(1, 3, 64, 64))


@pytest.mark.parametrize("bad", [{"config": "F"}, {"width": 0}, {"width": 2}])
def test_bad_arguments_say_what_is_allowed(bad):
    name = "vgg" if "config" in bad else "vgg11_cifar"
    with pytest.raises(ValueError, match="config must be one of|width is a fraction"):
        get_model(name, **bad)
