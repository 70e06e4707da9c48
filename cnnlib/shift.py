"""The distribution of a layer's input over training: what batch normalization set out to hold
steady (Ioffe and Szegedy call its change *internal covariate shift*)."""

from __future__ import annotations

import math

import torch
from torch import nn

PERCENTILES = (0.15, 0.5, 0.85)
"""The percentiles of Ioffe and Szegedy's Figure 1, which follows one sigmoid's input."""


class InputPercentiles:
    """Percentiles of what ``module`` receives, at every ``every``-th training forward pass.

    A forward pre-hook reads the input the module gets from the training batches themselves,
    so nothing extra is computed and the training is not changed (no random numbers are drawn:
    a large input is thinned by a fixed stride to at most ``sample`` values); passes in
    evaluation mode are skipped. Use it around the training::

        with InputPercentiles(relu, every=10) as trace:
            cnnlib.fit(model, data.train, epochs=2)
        trace.steps, trace.values  # the pass numbers (from 1), one tuple of percentiles each
    """

    def __init__(self, module: nn.Module, every: int = 10, q=PERCENTILES,
                 sample: int = 1_000_000):
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be the nn.Module whose input to follow (for "
                            f"example one ReLU of the network), got {type(module).__name__}")
        for name, value in (("every", every), ("sample", sample)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of 1 or more, got {value!r}")
        q = tuple(q)
        if not q or any(isinstance(p, bool) or not isinstance(p, (int, float))
                        or not 0 <= p <= 1 for p in q):
            raise ValueError(f"q must be fractions from 0 to 1, such as (0.15, 0.5, 0.85); "
                             f"got {q!r}")
        self.module, self.every, self.q, self.sample = module, every, q, sample
        self.steps: list[int] = []
        self.values: list[tuple[float, ...]] = []
        self._passes, self._handle = 0, None

    def __enter__(self) -> InputPercentiles:
        if self._handle is not None:
            raise RuntimeError("this InputPercentiles is already following its module")
        self._handle = self.module.register_forward_pre_hook(self._read)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()
        self._handle = None

    def _read(self, module: nn.Module, args) -> None:
        if not module.training or not args or not torch.is_tensor(args[0]):
            return
        self._passes += 1
        if (self._passes - 1) % self.every:
            return
        x = args[0].detach().flatten()
        x = x[::math.ceil(x.numel() / self.sample)].float()
        levels = torch.tensor(self.q, dtype=x.dtype, device=x.device)
        self.steps.append(self._passes)
        self.values.append(tuple(torch.quantile(x, levels).tolist()))

    def series(self) -> dict[float, list[float]]:
        """Each percentile's values over the recorded passes, keyed by its level."""
        if not self.values:
            raise ValueError("nothing was recorded: train the network inside the with block "
                             "(evaluation passes are not counted)")
        return {p: [v[i] for v in self.values] for i, p in enumerate(self.q)}

    def width(self) -> list[float]:
        """At each recorded pass, the highest percentile minus the lowest (with the default
        levels, the 85th minus the 15th): how widely the layer's input is spread."""
        return [v[-1] - v[0] for v in self._sorted_rows()]

    def _sorted_rows(self) -> list[tuple[float, ...]]:
        self.series()  # the same message when nothing was recorded
        return [tuple(sorted(v)) for v in self.values]
