"""The distribution of a layer's input over training: what batch normalization set out to hold
steady (Ioffe and Szegedy call its change *internal covariate shift*)."""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

PERCENTILES = (0.15, 0.5, 0.85)
"""The percentiles of Ioffe and Szegedy's Figure 1, which follows one sigmoid's input."""


class _Reading:
    """series() and width() of a trace, followed now or read back from a record."""

    def series(self) -> dict[float, list[float]]:
        """Each percentile's values over the recorded passes, keyed by its level."""
        if not self.values:
            if self.skipped:
                raise ValueError(f"nothing was recorded: {self.skipped} training passes "
                                 f"reached the module, but none had a first positional "
                                 f"argument with values (a non-empty tensor, not on the "
                                 f"meta device); pass the input positionally")
            raise ValueError("nothing was recorded: train the network inside the with block "
                             "(evaluation passes are not counted, and a network compiled "
                             "with torch.jit.script runs no hooks)")
        return {p: [v[i] for v in self.values] for i, p in enumerate(self.q)}

    def width(self) -> list[float]:
        """At each recorded pass, the highest percentile minus the lowest (with the default
        levels, the 85th minus the 15th): how widely the layer's input is spread."""
        return [v[-1] - v[0] for v in self._sorted_rows()]

    def _sorted_rows(self) -> list[tuple[float, ...]]:
        self.series()  # the same message when nothing was recorded
        return [tuple(sorted(v)) for v in self.values]


class InputPercentiles(_Reading):
    """Percentiles of what ``module`` receives, at every ``every``-th training forward pass.

    A forward pre-hook reads the input the module gets from the training batches themselves,
    so nothing extra is computed and the training is not changed (no random numbers are drawn:
    a large input is thinned by a fixed stride to at most ``sample`` values); passes in
    evaluation mode are skipped. Use it around the training, one object per run::

        with InputPercentiles(relu, every=10) as trace:
            cnnlib.fit(model, data.train, epochs=2)
        trace.steps, trace.values  # the pass numbers (from 1), one tuple of percentiles each

    What is followed is the first positional argument, a real tensor; an empty one or one on
    the ``meta`` device has no values and is skipped (counted in ``skipped``), as is a call
    whose first argument is not a tensor (an input given by keyword, say); further arguments
    are not read. A network compiled with ``torch.jit.script`` runs no hooks: follow it
    before compiling.

    A module the network calls more than once per forward (cnnlib's ResNet blocks reuse one
    ``self.relu``) would be read at every call, so that the values mix different layers'
    inputs and ``steps`` counts calls, not training steps. Give the network as ``model``: the
    passes are then its training forwards, and a second call of ``module`` within one of them
    is an error. Without ``model`` each call is one pass.
    """

    def __init__(self, module: nn.Module, every: int = 10, q=PERCENTILES,
                 sample: int = 1_000_000, model: nn.Module | None = None):
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be the nn.Module whose input to follow (for "
                            f"example one ReLU of the network), got {type(module).__name__}")
        for name, value in (("module", module), ("model", model)):
            if isinstance(value, torch.jit.ScriptModule):
                raise TypeError(f"{name} is a TorchScript module, which runs no hooks, so "
                                f"nothing would be recorded: follow the plain nn.Module "
                                f"before torch.jit.script")
        if model is not None and (not isinstance(model, nn.Module)
                                  or not any(m is module for m in model.modules())):
            raise ValueError("model must be the network that contains module (its forward "
                             "passes are counted), or None to count module's own calls")
        for name, value in (("every", every), ("sample", sample)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of 1 or more, got {value!r}")
        self.module, self.model, self.every, self.sample = module, model, every, sample
        self.q = _levels(q)
        self.steps: list[int] = []
        self.values: list[tuple[float, ...]] = []
        self.skipped = 0
        self._passes, self._calls, self._handles, self._used = 0, 0, [], False

    def __enter__(self) -> InputPercentiles:
        if self._handles:
            raise RuntimeError("this InputPercentiles is already following its module")
        if self._used:
            raise RuntimeError("this InputPercentiles has already followed a run: make a new "
                               "one for each run (for example one per seed), so that two "
                               "runs are not merged into one trace")
        self._used = True
        if self.model is not None:  # first: it counts before a read of the same module
            self._handles.append(self.model.register_forward_pre_hook(self._count))
        self._handles.append(self.module.register_forward_pre_hook(self._read))
        return self

    def __exit__(self, *exc) -> None:
        if not self._handles:
            raise RuntimeError("this InputPercentiles is not following its module: use it as "
                               "'with InputPercentiles(...) as trace:'")
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _count(self, model: nn.Module, args) -> None:
        if model.training:
            self._passes += 1
            self._calls = 0

    def _read(self, module: nn.Module, args) -> None:
        if not module.training:
            return
        if self.model is None:
            self._passes += 1
        else:
            self._calls += 1
            if self._passes == 0:
                raise RuntimeError(f"{type(module).__name__} ran outside a forward pass of "
                                   f"the model: give as model the network that calls it")
            if self._calls > 1:
                raise RuntimeError(f"{type(module).__name__} ran {self._calls} times in one "
                                   f"forward pass of the model, so its calls would mix "
                                   f"different inputs: follow a module the network calls "
                                   f"once (for example one of its own, not a shared ReLU)")
        x = args[0] if args else None
        if torch.is_tensor(x) and x.is_complex():
            raise TypeError(f"InputPercentiles follows real inputs, got {x.dtype}: follow a "
                            f"module whose input is real (percentiles of complex numbers "
                            f"are not defined)")
        if not torch.is_tensor(x) or x.numel() == 0 or x.is_meta:
            self.skipped += 1
            return
        if (self._passes - 1) % self.every:
            return
        x = x.detach().flatten()
        x = x[::math.ceil(x.numel() / self.sample)].float()
        levels = torch.tensor(self.q, dtype=x.dtype, device=x.device)
        self.steps.append(self._passes)
        self.values.append(tuple(torch.quantile(x, levels).tolist()))

    def to_dict(self) -> dict:
        """What a record keeps of the trace: the levels, the stride, the passes and values."""
        return {"q": list(self.q), "every": self.every, "steps": list(self.steps),
                "values": [list(v) for v in self.values]}


def _levels(q) -> tuple[float, ...]:
    """``q`` as a tuple of floats: one number or several (numpy and torch ones too), each
    from 0 to 1 and each once."""
    given = q
    if hasattr(q, "tolist"):  # a numpy or torch array or scalar
        q = q.tolist()
    if isinstance(q, numbers.Real) and not isinstance(q, bool):
        q = (q,)
    try:
        q = tuple(p.tolist() if hasattr(p, "tolist") else p for p in q)
    except TypeError:
        q = None
    if not q or any(isinstance(p, bool) or not isinstance(p, numbers.Real)
                    or not 0 <= p <= 1 for p in q):
        raise ValueError(f"q must be fractions from 0 to 1, such as (0.15, 0.5, 0.85) or "
                         f"0.5; got {given!r}")
    q = tuple(float(p) for p in q)
    twice = sorted({p for p in q if q.count(p) > 1})
    if twice:
        raise ValueError(f"q names the level {twice[0]:g} more than once: give each level "
                         f"once")
    return q


class RecordedPercentiles(_Reading):
    """A trace of :class:`InputPercentiles` read back from a record (its ``to_dict``): the same
    ``steps``, ``values``, ``series()`` and ``width()``, for the tables and the plot."""

    def __init__(self, trace: dict):
        if not isinstance(trace, dict) or not {"q", "steps", "values"} <= set(trace):
            raise ValueError("a recorded trace is a dict with 'q', 'steps' and 'values' (what "
                             f"InputPercentiles.to_dict gives), got {trace!r:.80}")
        steps, values = trace["steps"], trace["values"]
        if not isinstance(steps, list) or not isinstance(values, list) \
                or len(steps) != len(values):
            raise ValueError(f"a recorded trace has one row of values per step; got "
                             f"steps {steps!r:.60} and values {values!r:.60}")
        if not steps:
            raise ValueError("the recorded trace has no steps: its run recorded nothing")
        self.q = _levels(trace["q"])
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in steps) \
                or any(a >= b for a, b in zip(steps, steps[1:])):
            raise ValueError(f"a recorded trace's steps are increasing whole numbers from 1, "
                             f"got {steps!r:.80}")
        for row in values:
            if not isinstance(row, (list, tuple)) or len(row) != len(self.q) or not all(
                    isinstance(v, numbers.Real) and not isinstance(v, bool)
                    and math.isfinite(v) for v in row):
                raise ValueError(f"each row of a recorded trace's values holds one finite "
                                 f"number per level of q {self.q}, got {row!r:.80}")
            if list(row) != sorted(row) and list(self.q) == sorted(self.q):
                raise ValueError(f"a row of a recorded trace's values is not in the order of "
                                 f"its levels q {self.q}: {row!r:.80}")
        every = trace.get("every")
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or every < 1):
            raise ValueError(f"a recorded trace's 'every' is a whole number of steps, 1 or "
                             f"more, got {every!r}")
        self.every, self.module = every, trace.get("module")
        self.steps = list(steps)
        self.values = [tuple(v) for v in values]
        self.skipped = 0

