"""Shared test setup: a headless matplotlib, no progress bars, and the real datasets read once.

Data-dependent tests read the data root the library itself resolves (``$CNNLIB_DATA``). They
never skip when it is missing: they fail with the library's own error, which says how to fix it.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere: tests draw into memory only

import pytest  # noqa: E402
import torch  # noqa: E402

os.environ.setdefault("CNNLIB_PROGRESS", "0")


@pytest.fixture(scope="session")
def data_dir():
    """The folder the datasets are read from, as ``cnnlib.data_root()`` resolves ``$CNNLIB_DATA``."""
    from cnnlib.data import data_root

    return data_root()


@pytest.fixture(scope="session")
def tensors(data_dir):
    """``tensors(name, train)`` -> (images, labels), each split read from disk once per session."""
    from cnnlib.data import load_tensors

    cache: dict[tuple[str, bool], tuple[torch.Tensor, torch.Tensor]] = {}

    def get(name: str, train: bool = True):
        if (name, train) not in cache:
            cache[name, train] = load_tensors(name, train=train, root=data_dir)
        return cache[name, train]

    return get



@pytest.fixture
def recipe_result():
    """``recipe_result(**changes)`` -> a recipe result as ``cnnlib.recipes`` writes it: ResNet-18's
    recipe on an H200, 94 % in epoch 3 after 12.3 s; ``settings={...}`` overrides recipe fields."""
    from dataclasses import asdict

    from cnnlib.recipes import RECIPES

    def make(**changes):
        settings = {**asdict(RECIPES["cifar_resnet18"]), **changes.pop("settings", {})}
        rows = [{"epoch": 1, "seconds": 9.0, "test_seconds": 0.1, "test_acc": 0.5},
                {"epoch": 2, "seconds": 1.0, "test_seconds": 0.1, "test_acc": 0.9},
                {"epoch": 3, "seconds": 2.0, "test_seconds": 0.1, "test_acc": 0.95}]
        result = {"kind": "recipe", "recipe": "cifar_resnet18", "mode": "full", "seed": 0,
                  "date": "2026-12-04 16:00:00", "device": "cuda", "device_name": "NVIDIA H200",
                  "settings": settings, "train_images": 50_000, "target": 0.94, "reached": True,
                  "epochs_to_target": 3, "seconds_to_target": 12.3, "wall_seconds": 12.3,
                  "final_test_acc": 0.95, "best_test_acc": 0.95, "history": rows,
                  "file": "r.json"}
        result.update(changes)
        return result

    return make
