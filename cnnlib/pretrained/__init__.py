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
import pickle
import zipfile
from pathlib import Path
from urllib.error import URLError

import torch

from ..models import get_model

HERE = Path(__file__).resolve().parent
REMAKE = ("reinstall cnnlib (pip install --force-reinstall cnnlib, or the book's install "
          "cell), or in a checkout of the book remake it with tools/pretrain_resnet20_cifar5.py")


class PretrainedError(RuntimeError):
    """A shipped weights file is missing or is not the file its provenance describes, or the
    provenance itself is damaged."""


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
    path = folder / f"{name}.json"
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PretrainedError(f"the provenance {path} is not valid JSON ({error}): it was "
                              f"altered or cut short. {REMAKE}") from error
    if not isinstance(record, dict):
        raise PretrainedError(f"the provenance {path} should be a JSON object (keys sha256, "
                              f"model, num_classes, ...), found a {type(record).__name__}: "
                              f"it was altered. {REMAKE}")
    return record


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"


def _field(record: dict, key: str, kind: type, path: Path):
    value = record.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        found = "no such key" if key not in record else f"{value!r}"
        raise PretrainedError(f"the provenance {path} should give {key!r} as a "
                              f"{kind.__name__}, found {found}: it was altered. {REMAKE}")
    return value


def load(name: str, folder: str | os.PathLike | None = None) -> torch.nn.Module:
    """The model ``name`` with its shipped weights (float32, in training mode).

    The weights file's sha256 must be the one its provenance records: a missing or altered
    file raises :class:`PretrainedError` naming the file and the fix, before anything loads.
    """
    record = provenance(name, folder)
    path = Path(folder or HERE) / f"{name}.pt"
    about = path.with_suffix(".json")
    expected = _field(record, "sha256", str, about)
    architecture = _field(record, "model", str, about)
    num_classes = _field(record, "num_classes", int, about)
    if not path.is_file():
        raise PretrainedError(f"the weights file {path} is missing although its provenance "
                              f"{path.with_suffix('.json').name} is there: {REMAKE}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise PretrainedError(f"{path} is not the file its provenance describes (sha256 "
                              f"{digest[:12]}..., expected {expected[:12]}...): it "
                              f"was altered or cut short. {REMAKE}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = get_model(architecture, num_classes=num_classes)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in state.items()})
    except (ValueError, RuntimeError, AttributeError, pickle.UnpicklingError) as error:
        raise PretrainedError(
            f"the weights {path} do not fit the network its provenance {about.name} "
            f"describes (model {architecture!r}, num_classes {num_classes}): the provenance "
            f"was altered ({_one_line(error)}). {REMAKE}") from error
    return model


def _check_cached(path: Path, url: str) -> bool:
    """Whether ``path``, already in torch's cache, was checked to be the file from ``url``.

    torch checks the hash in the file's name only when it downloads, not when it finds the
    file there (copied by hand, as :func:`torchvision_resnet18`'s fix says): a damaged copy
    is a :class:`WeightsUnavailable` naming it, not an unpickling error from deep in torch.
    """
    match = torch.hub.HASH_REGEX.search(path.name)
    try:
        if not match or not path.exists():
            return False
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise WeightsUnavailable(f"the cached weights file {path} cannot be read ({error}). "
                                 f"Fix: delete it (or give it read permission) and run "
                                 f"again, which downloads it from {url}") from error
    if not digest.startswith(match.group(1)):
        raise WeightsUnavailable(
            f"the cached weights file {path} is damaged or is not the file from {url} "
            f"(its sha256 starts {digest[:len(match.group(1))]}, the name says "
            f"{match.group(1)}): a download cut short, or a page saved in its place. Fix: "
            f"delete it and download it again (run again with internet, or copy a good "
            f"copy there). Nothing was loaded.")
    return True


def torchvision_resnet18():
    """torchvision's ResNet-18 with its ImageNet weights (``ResNet18_Weights.DEFAULT``).

    torchvision downloads them once into ``torch.hub.get_dir()/checkpoints``. Where that
    fails (no internet, a firewall) this raises :class:`WeightsUnavailable` with the address,
    the error and the fix, instead of returning a network with random weights; a damaged
    file in that folder (its sha256 not the one its name gives) raises it too, naming the file.
    """
    from torchvision.models import ResNet18_Weights, resnet18  # torchvision loads on use

    weights = ResNet18_Weights.DEFAULT
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    file = weights.url.rsplit("/", 1)[-1]
    unchecked = not _check_cached(cache / file, weights.url) and (cache / file).is_file()
    try:
        return resnet18(weights=weights)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        if not unchecked:
            raise
        raise WeightsUnavailable(
            f"the cached weights file {cache / file} could not be loaded "
            f"({_one_line(error)}): it is damaged or not the file "
            f"from {weights.url}. Fix: delete it and download it again. Nothing was "
            f"loaded.") from error
    except (URLError, OSError) as error:
        raise WeightsUnavailable(
            f"could not download torchvision's ImageNet weights for ResNet-18 from "
            f"{weights.url} ({type(error).__name__}: {error}). Fix: on a machine with "
            f"internet, download that file and copy it to {cache / file}, or put it in "
            f"<folder>/hub/checkpoints/{file} and set the environment variable "
            f"TORCH_HOME=<folder> before starting Python. Nothing was loaded: a network "
            f"with random weights is not a pretrained one.") from error
