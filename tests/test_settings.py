"""cnnlib.settings: device order, mode rules, seeding and the reproducibility banner.

Device tests monkeypatch torch's availability checks: they check which device type is chosen,
never allocate on it, so they run the same on a laptop and on a GPU box.
"""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import pytest
import torch
import torchvision

import cnnlib
from cnnlib.settings import RunSettings, banner, pick_device, pick_mode, seed_everything, setup


def fake_devices(monkeypatch, cuda: bool, mps: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu"),
])
def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    fake_devices(monkeypatch, cuda, mps)
    device = pick_device()
    assert isinstance(device, torch.device)
    assert device.type == expected


def test_pick_device_returns_the_device_asked_for(monkeypatch):
    fake_devices(monkeypatch, cuda=True, mps=True)
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(torch.device("cuda", 1)) == torch.device("cuda", 1)


def test_asking_for_cuda_without_one_is_a_clear_error(monkeypatch):
    fake_devices(monkeypatch, cuda=False, mps=False)
    with pytest.raises(RuntimeError, match="no CUDA GPU") as info:
        pick_device("cuda")
    assert "device='cpu'" in str(info.value) and "device=None" in str(info.value)
    with pytest.raises(RuntimeError, match="CUDA"):
        setup(device="cuda:0", quiet=True)


def test_asking_for_mps_without_it_is_a_clear_error(monkeypatch):
    fake_devices(monkeypatch, cuda=False, mps=False)
    with pytest.raises(RuntimeError, match="MPS is not available"):
        pick_device("mps")


def test_mode_defaults_to_quick_without_cuda_and_full_with_it(monkeypatch):
    monkeypatch.delenv("CNNLIB_MODE", raising=False)
    assert pick_mode(device=torch.device("cpu")) == "quick"
    assert pick_mode(device=torch.device("mps")) == "quick"
    assert pick_mode(device=torch.device("cuda")) == "full"
    fake_devices(monkeypatch, cuda=False, mps=False)
    assert pick_mode() == "quick"
    fake_devices(monkeypatch, cuda=True, mps=False)
    assert pick_mode() == "full"


def test_empty_environment_variable_means_default(monkeypatch):
    monkeypatch.setenv("CNNLIB_MODE", "")
    assert pick_mode(device=torch.device("cpu")) == "quick"


def test_environment_variable_overrides_the_default(monkeypatch):
    monkeypatch.setenv("CNNLIB_MODE", "full")
    assert pick_mode(device=torch.device("cpu")) == "full"
    monkeypatch.setenv("CNNLIB_MODE", " Quick ")
    assert pick_mode(device=torch.device("cuda")) == "quick"


def test_argument_beats_environment_variable(monkeypatch):
    monkeypatch.setenv("CNNLIB_MODE", "full")
    assert pick_mode("quick", device=torch.device("cpu")) == "quick"
    monkeypatch.setenv("CNNLIB_MODE", "quick")
    assert pick_mode("full", device=torch.device("cpu")) == "full"
    assert setup(mode="full", device="cpu", quiet=True).mode == "full"


def test_bad_mode_names_the_expected_values(monkeypatch):
    monkeypatch.delenv("CNNLIB_MODE", raising=False)
    with pytest.raises(ValueError, match="mode argument") as info:
        pick_mode("fast")
    assert "'quick'" in str(info.value) and "'full'" in str(info.value)
    monkeypatch.setenv("CNNLIB_MODE", "fast")
    with pytest.raises(ValueError, match="CNNLIB_MODE") as info:
        pick_mode(device=torch.device("cpu"))
    assert "'quick'" in str(info.value) and "'full'" in str(info.value)


def draws():
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), torch.randn(2).tolist()


def test_seed_everything_makes_python_numpy_and_torch_repeat():
    seed_everything(123)
    first = draws()
    seed_everything(123)
    assert draws() == first
    seed_everything(124)
    assert all(a != b for a, b in zip(draws(), first))


def test_seed_everything_rejects_bad_seeds():
    for seed in (-1, 1.5, "0"):
        with pytest.raises(ValueError, match="seed"):
            seed_everything(seed)


def test_seed_everything_deterministic_switch(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    before = torch.are_deterministic_algorithms_enabled()
    try:
        seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"  # a user's setting is kept


def test_setup_seeds_and_returns_the_settings(monkeypatch):
    monkeypatch.delenv("CNNLIB_MODE", raising=False)
    fake_devices(monkeypatch, cuda=False, mps=False)
    run = setup(seed=7, quiet=True)
    assert run == RunSettings(mode="quick", device=torch.device("cpu"), seed=7)
    first = draws()
    setup(seed=7, quiet=True)
    assert draws() == first


def test_banner_names_versions_device_mode_and_seed(capsys):
    run = setup(mode="full", seed=42, device="cpu")
    printed = capsys.readouterr().out.strip()
    assert printed == banner(run) == run.banner()
    for text in (f"cnnlib {cnnlib.__version__}", f"torch {torch.__version__}",
                 f"torchvision {torchvision.__version__}", f"python {platform.python_version()}",
                 "device cpu", "mode full", "seed 42"):
        assert text in printed, text
    assert "\n" not in printed
    setup(mode="quick", device="cpu", quiet=True)
    assert capsys.readouterr().out == ""


def test_run_settings_pick():
    quick = RunSettings("quick", torch.device("cpu"))
    full = RunSettings("full", torch.device("cpu"))
    assert quick.quick and not quick.full
    assert full.full and not full.quick
    assert quick.pick(1, 30) == 1
    assert full.pick(1, 30) == 30
    assert full.pick(quick=[2048], full=None) is None


@pytest.fixture(autouse=True)
def threads_kept():
    """Whatever a test does to torch's thread count (setup sets one thread in quick mode on
    two cores) is undone afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cores, mode, device, expected", [
    (2, "quick", "cpu", 1), (1, "quick", "cpu", 1), (3, "quick", "cpu", None),
    (2, "full", "cpu", None), (2, "quick", "cuda", None), (2, "quick", "mps", None)])
def test_quick_mode_on_two_cores_or_fewer_uses_one_thread(monkeypatch, cores, mode, device,
                                                          expected):
    from cnnlib import settings

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert settings.cpu_cores() == cores
    assert settings.default_threads(mode, torch.device(device)) == expected
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's choice wins
    assert settings.default_threads(mode, torch.device(device)) is None


@pytest.mark.parametrize("cores, expected", [(2, 1), (16, None)])
def test_setup_sets_the_default_threads_and_the_banner_shows_them(monkeypatch, capsys,
                                                                  cores, expected):
    from cnnlib import settings

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(settings, "cpu_cores", lambda: cores)
    torch.set_num_threads(2)
    setup(mode="quick", device="cpu")
    assert torch.get_num_threads() == (expected or 2)
    threads = "1 thread)" if expected else "2 threads)"
    assert f"device cpu ({threads}" in capsys.readouterr().out
    setup(mode="full", device="cpu", quiet=True)  # full mode leaves the count as it is
    assert torch.get_num_threads() == (expected or 2)
