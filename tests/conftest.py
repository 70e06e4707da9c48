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

