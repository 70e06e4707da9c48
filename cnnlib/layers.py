"""Layers the book writes from scratch, because writing them is the lesson.

``LocalResponseNorm`` is AlexNet's normalisation, exactly as the paper prints it; ``Dropout`` is
inverted dropout; ``BatchNorm2d`` is batch normalization with its running statistics. Each
matches a PyTorch module (tests/test_layers.py checks how), so a chapter can build one by hand
and then swap in the library version with confidence.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F
from torch import nn


def _check_number(name: str, value, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return float(value)


class LocalResponseNorm(nn.Module):
    """AlexNet's local response normalisation (Krizhevsky et al. 2012, section 3.3).

    Each activation is divided by the energy of its neighbours, so a strongly responding kernel
    map damps the maps next to it ("lateral inhibition")::

        b_i = a_i / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} a_j^2) ** beta

    with ``n = size`` adjacent channels and ``N`` channels in all; the paper uses n=5,
    alpha=1e-4, beta=0.75, k=2. Windows are clipped at the first and last channel (zero padding).
    For an even ``size`` the window follows PyTorch's convention: ``size // 2`` channels before
    ``i`` and ``(size - 1) // 2`` after.

    Beware the two look-alikes: PyTorch's ``nn.LocalResponseNorm`` divides alpha by n (it
    averages the squares), so this layer equals ``nn.LocalResponseNorm(size, alpha * size, beta,
    k)``; and a popular Chinese implementation also averages over the window and hard-codes k=1
    where the paper uses k=2. Both normalise more weakly or more strongly than the paper's layer
    (chapter 4 measures by how much on real activations).

    ``across_channels=False`` is the within-channel form (Caffe's WITHIN_CHANNEL): the sum runs
    over a ``size x size`` spatial neighbourhood of the same channel, zero-padded at the border.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                 across_channels: bool = True):
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int (the number of neighbouring channels "
                             f"summed over, 5 in the paper), got {size!r}")
        self.size = size
        self.alpha = _check_number("alpha", alpha, minimum=0)
        self.beta = _check_number("beta", beta)
        self.k = _check_number("k", k, minimum=0)
        self.across_channels = bool(across_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before, after = self.size // 2, (self.size - 1) // 2
        squared = x * x
        if self.across_channels:
            if x.dim() < 3:
                raise ValueError(f"LocalResponseNorm expects N x C x ... input, got shape "
                                 f"{tuple(x.shape)}")
            # Channels last, zero-pad them, slide a window of `size` channels and add it up.
            padded = F.pad(squared.movedim(1, -1), (before, after))
            energy = padded.unfold(-1, self.size, 1).sum(-1).movedim(-1, 1)
        else:
            if x.dim() != 4:
                raise ValueError(f"within-channel LocalResponseNorm expects N x C x H x W input, "
                                 f"got shape {tuple(x.shape)}")
            padded = F.pad(squared, (before, after, before, after))
            energy = F.avg_pool2d(padded, self.size, stride=1, divisor_override=1)  # a sum
        return x / (self.k + self.alpha * energy) ** self.beta

    def extra_repr(self) -> str:
        form = "" if self.across_channels else ", across_channels=False"
        return f"size={self.size}, alpha={self.alpha:g}, beta={self.beta:g}, k={self.k:g}{form}"


class Dropout(nn.Module):
    """Inverted dropout (Srivastava et al. 2014): zero each unit with probability ``p`` in training.

    Kept units are scaled by ``1 / (1 - p)`` so every unit's expected value is unchanged; that is
    why evaluation can be the identity, with no rescaling at test time (the paper instead scales
    the weights by ``1 - p`` at test time: the same network in expectation). Behaves like
    ``nn.Dropout(p)``.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, Real) or not 0 <= p < 1:
            raise ValueError(f"p must be in [0, 1), got {p!r}: p is the probability of dropping a "
                             f"unit; p=1 would drop everything")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p)  # 1 with probability 1 - p
        return x * keep / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p:g}"


class BatchNorm2d(nn.Module):
    """Batch normalization (Ioffe and Szegedy 2015) for ``N x C x H x W`` activations.

    In training mode each channel is normalised with the mean and variance of the current batch,
    taken over the batch and both spatial dimensions (``N * H * W`` values per channel), then
    scaled and shifted by the learned ``weight`` (gamma) and ``bias`` (beta)::

        y = weight * (x - mean) / sqrt(var + eps) + bias

    The variance is the biased one (divided by ``n``). The same step updates the running
    estimates that evaluation mode uses instead of the batch's: ``running = (1 - momentum) *
    running + momentum * batch``, where the batch variance is the unbiased one (divided by
    ``n - 1``), as PyTorch does. Parameter and buffer names are ``nn.BatchNorm2d``'s, so the two
    load each other's state_dicts.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) \
                or num_features < 1:
            raise ValueError(f"num_features is the number of channels, a positive int; got "
                             f"{num_features!r}")
        self.num_features = num_features
        self.eps = _check_number("eps", eps, minimum=0)
        self.momentum = _check_number("momentum", momentum, minimum=0)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d({self.num_features}) expects N x {self.num_features} "
                             f"x H x W activations, got shape {tuple(x.shape)}")
        if self.training:
            n = x.numel() // self.num_features  # values per channel
            if n < 2:
                raise ValueError(
                    f"BatchNorm2d in training mode needs more than one value per channel to "
                    f"compute a variance; this batch has {n} (shape {tuple(x.shape)}). Train "
                    "with batches of more than one image, or call model.eval() to use the "
                    "running statistics")
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
            with torch.no_grad():
                unbiased = var * n / (n - 1)
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        shape = (1, -1, 1, 1)
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return self.weight.view(shape) * x_hat + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum:g}"
