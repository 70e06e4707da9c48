"""Run settings: which device, which mode, which seed, in one call every chapter makes first.

A notebook runs in one of two modes. ``quick`` checks syntax and logic in seconds on a laptop CPU
(a small subset, one short epoch); ``full`` is the real training run. The default is ``full`` when
CUDA is available and ``quick`` otherwise; the environment variable ``CNNLIB_MODE`` or the ``mode``
argument overrides it. So the same notebook is walked through on a laptop first and then run for
real on a GPU box, without edits.
"""

from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from . import colab
from ._version import __version__

MODES = ("quick", "full")
T = TypeVar("T")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU; or the device asked for, checked to exist."""
    if device is not None:
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"device {str(device)!r} was asked for, but torch sees no CUDA GPU here "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}). "
                "Pass device=None to choose automatically, or device='cpu'."
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("device 'mps' was asked for, but Apple MPS is not available here. "
                               "Pass device=None to choose automatically, or device='cpu'.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def model_device(model: torch.nn.Module) -> torch.device:
    """The device a model lives on (its parameters', else its buffers')."""
    first = next(model.parameters(), None)
    if first is None:
        first = next(model.buffers(), None)
    if first is None:
        raise ValueError(f"{type(model).__name__} has no parameters or buffers, so it has nothing "
                         "to train and no device to read: check that its layers are registered "
                         "as attributes (an nn.Module, or a list of them in nn.ModuleList, not a "
                         "plain Python list)")
    return first.device


def pick_mode(mode: str | None = None, device: torch.device | None = None) -> str:
    """The argument, else ``CNNLIB_MODE``, else full on CUDA and quick elsewhere."""
    chosen = mode if mode is not None else os.environ.get("CNNLIB_MODE") or None
    if chosen is None:
        device = device if device is not None else pick_device()
        return "full" if device.type == "cuda" else "quick"
    chosen = chosen.strip().lower()
    if chosen not in MODES:
        source = "mode argument" if mode is not None else "environment variable CNNLIB_MODE"
        raise ValueError(f"{source} is {chosen!r}; expected one of {MODES}. "
                         "'quick' checks the code in seconds on a CPU, 'full' trains for real.")
    return chosen


def cpu_cores() -> int:
    """The CPU cores this process may use (its affinity where the system says it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_threads(mode: str, device: torch.device,
                    cores: int | None = None) -> int | None:
    """The torch threads :func:`setup` sets: one in quick mode on a CPU with two cores
    or fewer, else ``None`` (torch's own choice). ``OMP_NUM_THREADS`` set: ``None``.

    Quick mode's batches are small, and on two cores two threads wait for each other as
    soon as anything else runs: a tensor loader epoch ran at 133,000 to 187,000 images/s
    with one thread, 4,500 to 44,000 with two (2-core CPU, other work running).
    """
    if mode != "quick" or device.type != "cpu" or os.environ.get("OMP_NUM_THREADS"):
        return None
    return 1 if (cpu_cores() if cores is None else cores) <= 2 else None


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices) in one call.

    ``deterministic=True`` also asks torch for deterministic algorithms (slower on CUDA, where
    it needs ``CUBLAS_WORKSPACE_CONFIG``); CPU runs are repeatable without it. See :func:`setup`
    for what it does to ``cudnn.benchmark``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be a non-negative int below 2**64 (torch's limit), got "
                         f"{seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


@dataclass(frozen=True)
class RunSettings:
    """What a chapter needs to know about this run."""

    mode: str
    device: torch.device
    seed: int = 0

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    @property
    def full(self) -> bool:
        return self.mode == "full"

    def pick(self, quick: T, full: T) -> T:
        """``quick`` in quick mode, ``full`` in full mode: ``epochs = run.pick(1, 30)``."""
        return quick if self.quick else full

    def banner(self) -> str:
        return banner(self)


def versions() -> dict[str, str]:
    """The versions a result depends on: cnnlib, torch, torchvision and Python."""
    import torchvision  # on use: importing it costs seconds, and only results need it

    return {"cnnlib": __version__, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "python": platform.python_version()}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'' if threads == 1 else 's'})"
    return device.type


def banner(run: RunSettings) -> str:
    """One line that lets anyone reproduce a result: versions, device, mode, seed."""
    v = versions()
    return (f"cnnlib {v['cnnlib']} | torch {v['torch']} | torchvision {v['torchvision']} | "
            f"python {v['python']} | device {device_name(run.device)} | mode {run.mode} | seed {run.seed}")


def setup(mode: str | None = None, seed: int = 0, device: str | torch.device | None = None,
          deterministic: bool = False, quiet: bool = False) -> RunSettings:
    """Choose device and mode, seed everything, print the banner; every chapter starts here.

    Repeatability: on the CPU the same seed gives the same run, bit for bit, with no switch. On
    CUDA, ``deterministic=True`` is the switch. It calls
    ``torch.use_deterministic_algorithms(True)`` (an operation with no deterministic CUDA kernel
    then raises an error naming it), sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless already set
    (it must be set before the first matrix multiply, so call ``setup`` first), and turns
    ``torch.backends.cudnn.benchmark`` off. Benchmark mode times several convolution algorithms
    on the first batch and keeps the fastest, which can differ from run to run. ``fit`` turns it
    on for CUDA by default (see :mod:`cnnlib.fast`) but not while deterministic algorithms are
    on; asking for it explicitly (``FastSettings(cudnn_benchmark=True)``) undoes the determinism.
    ``deterministic=False`` leaves ``cudnn.benchmark`` as it is. Deterministic CUDA runs are slower.

    In a notebook it also installs :func:`cnnlib.colab.hold_answers`: in Colab, cells that hold
    an exercise's answer are replaced by a note under *Run all*.

    In quick mode on a CPU with two cores or fewer, torch is set to one thread
    (:func:`default_threads`; ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` after
    ``setup`` choose otherwise). The banner shows the threads.
    """
    dev = pick_device(device)
    run = RunSettings(mode=pick_mode(mode, dev), device=dev, seed=seed)
    threads = default_threads(run.mode, dev)
    if threads is not None:
        torch.set_num_threads(threads)
    seed_everything(seed, deterministic=deterministic)
    colab.hold_answers()  # in Colab, answer cells do not run under Run all (cnnlib.colab)
    if not quiet:
        print(run.banner())
    return run
