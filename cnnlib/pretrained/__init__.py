"""Pretrained weights: the book's own, shipped with the package, and torchvision's ImageNet ones.

The book's weights are package data next to this file, each ``<name>.pt`` (a plain
``state_dict``) with a ``<name>.json`` that says how it was made (data, recipe, seed, accuracy,
time, hardware) and the sha256 of the weights file. :func:`load` checks that hash, so a file
that is missing, cut short or altered is an error that says so, never a model with other
weights. They are here so that a fine-tuning example runs offline, in Colab and in the clean
room alike. torchvision's ImageNet weights need the internet the first time:
:func:`torchvision_resnet18` says what failed and how to get them there some other way.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from urllib.error import URLError

import torch

from ..models import get_model

HERE = Path(__file__).resolve().parent
REMAKE = ("reinstall cnnlib (pip install --force-reinstall cnnlib, or the book's install "
          "cell), or in a checkout of the book remake it with tools/pretrain_resnet20_cifar5.py")


class PretrainedError(RuntimeError):
    """A shipped weights file is missing or is not the file its provenance describes."""


class WeightsUnavailable(RuntimeError):
    """Weights that must be downloaded could not be: no internet, or a blocked address."""


def names(folder: str | os.PathLike | None = None) -> list[str]:
    """The shipped weights, by name (``resnet20_cifar5``, ...)."""
    return sorted(p.stem for p in Path(folder or HERE).glob("*.json"))


def provenance(name: str, folder: str | os.PathLike | None = None) -> dict:
    """How the weights ``name`` were made: their ``<name>.json``, as a dict."""
    folder = Path(folder or HERE)
    known = names(folder)
    if name not in known:
        raise ValueError(f"no pretrained weights named {name!r} in {folder}; there are: "
                         f"{', '.join(known) or 'none'}")
    return json.loads((folder / f"{name}.json").read_text())


def load(name: str, folder: str | os.PathLike | None = None) -> torch.nn.Module:
    """The model ``name`` with its shipped weights (float32, in training mode).

    The weights file's sha256 must be the one its provenance records: a missing or altered
    file raises :class:`PretrainedError` naming the file and the fix, before anything loads.
    """
    record = provenance(name, folder)
    path = Path(folder or HERE) / f"{name}.pt"
    if not path.is_file():
        raise PretrainedError(f"the weights file {path} is missing although its provenance "
                              f"{path.with_suffix('.json').name} is there: {REMAKE}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != record["sha256"]:
        raise PretrainedError(f"{path} is not the file its provenance describes (sha256 "
                              f"{digest[:12]}..., expected {record['sha256'][:12]}...): it "
                              f"was altered or cut short. {REMAKE}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = get_model(record["model"], num_classes=record["num_classes"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in state.items()})
    return model


def torchvision_resnet18():
    """torchvision's ResNet-18 with its ImageNet weights (``ResNet18_Weights.DEFAULT``).

    torchvision downloads them once into ``torch.hub.get_dir()/checkpoints``. Where that
    fails (no internet, a firewall) this raises :class:`WeightsUnavailable` with the address,
    the error and the fix, instead of returning a network with random weights.
    """
    from torchvision.models import ResNet18_Weights, resnet18  # torchvision loads on use

    weights = ResNet18_Weights.DEFAULT
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        return resnet18(weights=weights)
    except (URLError, OSError) as error:
        file = weights.url.rsplit("/", 1)[-1]
        raise WeightsUnavailable(
            f"could not download torchvision's ImageNet weights for ResNet-18 from "
            f"{weights.url} ({type(error).__name__}: {error}). Fix: on a machine with "
            f"internet, download that file and copy it to {cache / file}, or put it in "
            f"<folder>/hub/checkpoints/{file} and set the environment variable "
            f"TORCH_HOME=<folder> before starting Python. Nothing was loaded: a network "
            f"with random weights is not a pretrained one.") from error
