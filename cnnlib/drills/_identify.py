"""A module the checker cannot read, identified by what it computes.

A layer written by hand (an LRN in a few lines of tensor arithmetic, a ReLU as a ``clamp``
inside a class of its own) leaves no step the tracer recognises, or leaves misleading ones (the
additions of a windowed sum look like residual additions). Such a module is run on inputs
designed to reveal what it does, and compared with the layers the checker knows:

* an activation: the same outputs as ReLU, tanh, sigmoid... on random values;
* local response normalisation: ``b = a / (k + alpha * sum of a² over a window) ** beta``. A
  single non-zero value ``c`` is divided by ``(k + alpha c²) ** beta``: two large values of ``c``
  give ``beta``, a tiny one ``k``, and then ``alpha``. A loud value placed next to it shows which
  neighbours the window holds (channels: across; a square of the same map: within). The layer so
  found is then checked against the module on random inputs, and accepted only if they agree.

Whatever is not recognised stays unknown, and the verdict names it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import LocalResponseNorm

_ACTIVATIONS = {
    "relu": F.relu, "relu6": F.relu6, "leaky_relu": F.leaky_relu, "elu": F.elu,
    "selu": F.selu, "gelu": F.gelu, "silu": F.silu, "tanh": torch.tanh,
    "sigmoid": torch.sigmoid, "softplus": F.softplus, "hardtanh": F.hardtanh,
}
_REACH = 6            # neighbours probed on each side: windows up to 13 wide
_SIZES = [10.0 ** (e / 2) for e in range(-6, 15)]   # single values from 1e-3 to 1e7


class _Runner:
    """Calls a module on probe inputs of one shape and dtype; None for anything unexpected."""

    def __init__(self, module: nn.Module, shape, device, dtype):
        self.module, self.shape, self.device, self.dtype = module, shape, device, dtype
        self.rtol = 1e-6 if dtype == torch.float64 else 1e-4
        self.atol = 1e-9 if dtype == torch.float64 else 1e-6

    def zeros(self, n: int = 1) -> torch.Tensor:
        return torch.zeros((n, *self.shape[1:]), device=self.device, dtype=self.dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        out = self.module(x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape or \
                not torch.isfinite(out).all():
            return None
        return out

    def close(self, a: torch.Tensor | None, b: torch.Tensor) -> bool:
        return a is not None and torch.allclose(a, b, rtol=self.rtol, atol=self.atol)


def identify(module: nn.Module, x: torch.Tensor) -> tuple[str, dict] | None:
    """What ``module`` computes on inputs like ``x``: ``("act", {"act": "relu"})``,
    ``("lrn", {...})`` with the layer's size, alpha (on the sum), beta, k and form, or None.

    The module is probed in float64 where it accepts it (float32 otherwise), without gradients;
    any error while probing means "not identified".
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
        return None
    # Maps cropped to the widest window probed: an LRN or an activation works on any size.
    shape = (1, x.shape[1], *(min(n, 2 * _REACH + 1) for n in x.shape[2:]))
    with torch.no_grad():
        for dtype in (torch.float64, torch.float32):
            run = _Runner(module, shape, x.device, dtype)
            try:
                if run(run.zeros()) is None:
                    continue
            except Exception:  # noqa: BLE001 the module may not take this dtype: try the next
                continue
            try:
                return _activation(run) or (_lrn(run, x) if len(shape) == 4 else None)
            except Exception:  # noqa: BLE001 the reader's module may fail in any way
                return None
    return None


def _activation(run: _Runner) -> tuple[str, dict] | None:
    gen = torch.Generator().manual_seed(0)
    probe = (3 * torch.randn(run.shape, generator=gen, dtype=torch.float64)).to(
        run.device, run.dtype)
    out = run(probe.clone())  # an in-place activation must not change the probe
    for name, function in _ACTIVATIONS.items():
        if run.close(out, function(probe)):
            return "act", {"act": name}
    return None


def _points(run: _Runner, values: list[float], at: tuple, louds: list | None = None,
            level: float = 0.0) -> list[float] | None:
    """The module's output at ``at`` for inputs, one per item of a batch, that are zero except
    ``values[i]`` there (and ``level`` at ``louds[i]``, where given)."""
    x = run.zeros(len(values))
    for i, value in enumerate(values):
        x[(i, *at)] = value
        if louds is not None:
            x[(i, *louds[i])] = level
    out = run(x)
    return None if out is None else [float(out[(i, *at)]) for i in range(len(values))]


def _snap(value: float) -> float:
    return float(f"{value:.4g}")


def _window(offsets: list[int]) -> int | None:
    """The size of a window holding exactly these neighbour offsets, in LocalResponseNorm's
    convention (``size // 2`` before, ``(size - 1) // 2`` after); None if there is none."""
    if not offsets:
        return 1
    before, after = -min(offsets), max(offsets)
    size = before + after + 1
    if sorted(offsets) != [d for d in range(-before, after + 1) if d] or \
            (before, after) != (size // 2, (size - 1) // 2):
        return None
    return size


def _lrn(run: _Runner, sample: torch.Tensor) -> tuple[str, dict] | None:
    _, channels, height, width = run.shape
    zero = run(run.zeros())
    if zero is None or zero.abs().max() > 0:
        return None
    at = (channels // 2, height // 2, width // 2)
    # A single value c comes out as c / (k + alpha c²) ** beta, so g(c) = (k + alpha c²) ** beta.
    ys = _points(run, _SIZES, at)
    if ys is None or not all(y > 0 for y in ys):
        return None
    g = [c / y for c, y in zip(_SIZES, ys)]
    beta = math.log(g[-1] / g[-2]) / (2 * math.log(_SIZES[-1] / _SIZES[-2]))
    if not beta > 0:
        return None
    k = g[0] ** (1 / beta)
    alpha = (g[-1] ** (1 / beta) - k) / _SIZES[-1] ** 2
    if not (alpha > 0 and k >= 0):
        return None
    # Which neighbours are in the window: a loud one changes the output if it is.
    level = math.sqrt(100 * max(k, 1e-6) / alpha)
    c0, h0, w0 = at
    near = range(-_REACH, _REACH + 1)
    offsets = ([("c", d, (c0 + d, h0, w0)) for d in near if d and 0 <= c0 + d < channels]
               + [("h", d, (c0, h0 + d, w0)) for d in near if d and 0 <= h0 + d < height]
               + [("w", d, (c0, h0, w0 + d)) for d in near if d and 0 <= w0 + d < width])
    quiet = _points(run, [1.0], at)
    loud = _points(run, [1.0] * len(offsets), at, [o[2] for o in offsets], level)
    if quiet is None or loud is None:
        return None
    heard = [(axis, d) for (axis, d, _), y in zip(offsets, loud)
             if abs(y - quiet[0]) > 1e-3 * abs(quiet[0])]
    across = [d for axis, d in heard if axis == "c"]
    rows = [d for axis, d in heard if axis == "h"]
    cols = [d for axis, d in heard if axis == "w"]
    if rows != cols or (across and rows):
        return None
    size = _window(across or rows)
    if size is None:
        return None
    within = bool(rows)
    for values in ((_snap(alpha), _snap(beta), _snap(k)), (alpha, beta, k)):
        layer = LocalResponseNorm(size, values[0], values[1], values[2],
                                  across_channels=not within)
        if _agrees(run, layer, scale=math.sqrt(max(k, 1e-6) / alpha), sample=sample):
            return "lrn", {"size": size, "alpha_sum": values[0], "beta": values[1],
                           "k": values[2], "torch": False, "across_channels": not within,
                           "identified": True}
    return None


def _agrees(run: _Runner, layer: nn.Module, scale: float, sample: torch.Tensor) -> bool:
    """Does ``layer`` give the module's outputs on random inputs, small and large, and on (a
    corner of) the input the model gave the module?"""
    gen = torch.Generator().manual_seed(1)
    probes = [(spread * torch.rand((2, *run.shape[1:]), generator=gen, dtype=torch.float64)
               ).to(run.device, run.dtype) for spread in (30.0, scale)]
    crop = sample[(slice(None), slice(None), *(slice(n) for n in run.shape[2:]))]
    for x in probes + [crop.to(run.dtype)]:
        if not run.close(run(x.clone()), layer(x)):
            return False
    return True


def same_as(reference: nn.Module | None, module: nn.Module | None,
            sample: tuple | None) -> tuple[bool, float, float, str] | None:
    """Does a parameter-free reference module compute what the reader's ``module`` does?

    Compared on the input the model gave ``module`` (``sample``), then on random values from 0
    to 30 and 0 to 300 (activations as large as a trained network's): the model's own input
    may be too small to tell layers apart. ``(same, largest difference, largest reference
    value, on what input)`` for the input that tells them apart best, or None when it cannot
    be told (no sample, a reference with parameters, another input shape, an error).
    """
    if reference is None or module is None or sample is None or \
            any(True for _ in reference.parameters()):
        return None
    x, out = sample
    gen = torch.Generator().manual_seed(2)
    probes = [("the input your model gives it", x, out)] + [
        (f"random values from 0 to {top}",
         (top * torch.rand(x.shape, generator=gen)).to(x.device, x.dtype), None)
        for top in (30, 300)]
    found = []
    try:
        with torch.no_grad():
            for where, probe, got in probes:
                got = module(probe.clone()) if got is None else got
                expected = reference(probe.clone())
                if not isinstance(got, torch.Tensor) or not isinstance(expected, torch.Tensor) \
                        or expected.shape != got.shape:
                    return None
                if not torch.allclose(got, expected, rtol=1e-4, atol=1e-6):
                    gap, largest = (got - expected).abs().max().item(), \
                        expected.abs().max().item()
                    found.append((gap / max(largest, 1e-12), gap, largest, where))
    except Exception:  # noqa: BLE001 another input shape, say
        return None
    if not found:
        return True, 0.0, 0.0, ""
    _, gap, largest, where = max(found)  # the input that tells them apart best
    return False, gap, largest, where
