"""cnnlib.pretrained: the shipped weights load only as their provenance describes them, and
torchvision's ImageNet weights fail with a message, never with random weights."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tomllib
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

from cnnlib import pretrained

ROOT = Path(__file__).resolve().parent.parent
FOLDER_CLASSES = {"airplane", "automobile", "bird", "cat", "ship"}  # the own-data chapter's folder


def test_the_shipped_resnet20_loads_and_matches_its_provenance():
    assert "resnet20_cifar5" in pretrained.names()
    record = pretrained.provenance("resnet20_cifar5")
    weights = pretrained.HERE / "resnet20_cifar5.pt"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == record["sha256"]
    assert weights.stat().st_size < 1_200_000  # small enough to ship in the wheel
    # the own-data chapter fine-tunes it on classes it has never seen
    assert not set(record["classes"]) & FOLDER_CLASSES and len(record["classes"]) == 5
    for key in ("data", "recipe", "result", "seconds", "hardware", "date", "torch"):
        assert record[key], key
    assert record["result"]["test_acc"] > 0.5  # it learned something: chance is 0.2
    model = pretrained.load("resnet20_cifar5")
    assert model.fc.out_features == 5
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 5)


def test_the_weights_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["cnnlib"]
    assert "pretrained/*.pt" in patterns and "pretrained/*.json" in patterns


@pytest.fixture()
def copy(tmp_path):
    for suffix in (".pt", ".json"):
        shutil.copy(pretrained.HERE / f"resnet20_cifar5{suffix}", tmp_path)
    return tmp_path


def test_a_missing_weights_file_is_an_error_that_says_so(copy):
    (copy / "resnet20_cifar5.pt").unlink()
    with pytest.raises(pretrained.PretrainedError, match="missing.*reinstall cnnlib"):
        pretrained.load("resnet20_cifar5", folder=copy)


def test_an_altered_weights_file_is_an_error_that_says_so(copy):
    path = copy / "resnet20_cifar5.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match="altered or cut short"):
        pretrained.load("resnet20_cifar5", folder=copy)


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="resnet20_cifar5"):
        pretrained.load("resnet50_imagenet")


def test_imagenet_weights_without_internet_say_what_failed_and_the_fix(tmp_path, monkeypatch):
    """No internet needed: the download is replaced by one that fails as urllib does."""
    def offline(url, *args, **kwargs):
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(pretrained.WeightsUnavailable) as caught:
        pretrained.torchvision_resnet18()
    message = str(caught.value)
    assert "https://download.pytorch.org/models/resnet18" in message
    assert "Name or service not known" in message and "TORCH_HOME" in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert isinstance(caught.value.__cause__, URLError)


@pytest.mark.parametrize("change, match", [
    (lambda record: "{oops", "not valid JSON"),
    (lambda record: json.dumps({k: v for k, v in record.items() if k != "sha256"}),
     "'sha256' as a str, found no such key"),
    (lambda record: "[]", "should be a JSON object.*found a list"),
    (lambda record: json.dumps({**record, "num_classes": "5"}), "'num_classes' as a int"),
    (lambda record: json.dumps({**record, "num_classes": 10}),
     "do not fit the network.*num_classes 10.*size mismatch"),
    (lambda record: json.dumps({**record, "model": "no_such_net"}), "do not fit the network"),
], ids=["not-json", "no-sha256", "a-list", "num-classes-str", "num-classes-10", "model"])
def test_an_altered_provenance_is_an_error_that_says_so(copy, change, match):
    """Raw JSONDecodeError, KeyError, TypeError, size mismatch before (finding 15)."""
    path = copy / "resnet20_cifar5.json"
    path.write_text(change(json.loads(path.read_text())))
    with pytest.raises(pretrained.PretrainedError, match=match) as caught:
        pretrained.load("resnet20_cifar5", folder=copy)
    assert str(path.name) in str(caught.value) and "reinstall cnnlib" in str(caught.value)


def hub_with(tmp_path, monkeypatch, content: bytes) -> Path:
    """A TORCH_HOME whose cache holds ``content`` under the ResNet-18 weights' name."""
    from torchvision.models import ResNet18_Weights

    def offline(url, *args, **kwargs):
        raise AssertionError("the file is in the cache: nothing should be downloaded")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    path = tmp_path / "hub" / "checkpoints" / ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return path


def truncated_weights(tmp_path) -> bytes:
    torch.save({"w": torch.zeros(100)}, tmp_path / "whole.pt")
    return (tmp_path / "whole.pt").read_bytes()[:300]


@pytest.mark.parametrize("content", [b"<html>Sign in to the network</html>", "truncated"])
def test_a_damaged_cached_imagenet_file_names_the_file_and_the_fix(tmp_path, monkeypatch,
                                                                   content):
    """The fix above says to copy the file into the cache: a damaged copy there had given a
    raw UnpicklingError or PytorchStreamReader error naming neither (finding 16)."""
    if content == "truncated":
        content = truncated_weights(tmp_path)
    path = hub_with(tmp_path, monkeypatch, content)
    with pytest.raises(pretrained.WeightsUnavailable, match="damaged") as caught:
        pretrained.torchvision_resnet18()
    assert str(path) in str(caught.value) and "delete it" in str(caught.value)
    assert path.read_bytes() == content  # the user's file is left for them to delete


def test_a_cached_file_whose_name_gives_no_hash_fails_on_loading(tmp_path, monkeypatch):
    """Where the hash cannot be checked first, the loading error is caught instead."""
    path = hub_with(tmp_path, monkeypatch, b"<html>Sign in to the network</html>")
    monkeypatch.setattr(torch.hub, "HASH_REGEX", re.compile(r"(?!)"))
    with pytest.raises(pretrained.WeightsUnavailable, match="could not be loaded") as caught:
        pretrained.torchvision_resnet18()
    assert str(path) in str(caught.value) and "delete it" in str(caught.value)
