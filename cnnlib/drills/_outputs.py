"""Same layers, same output? The reference's weights copied into a copy of the reader's model,
layer by layer, and both outputs compared: what the layer table cannot see (the order torch.cat
stacks branches in, arithmetic between the layers) shows in the values."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ._steps import Trace

_NORM = nn.modules.batchnorm._BatchNorm


def _randomise_norms(model: nn.Module, generator: torch.Generator) -> None:
    """BatchNorm with other statistics than 0 and 1, so that a swapped one shows."""
    for m in model.modules():
        if isinstance(m, _NORM) and m.affine and \
                m.running_mean is not None:
            with torch.no_grad():
                for t, low, high in ((m.weight, 0.5, 1.5), (m.bias, -0.5, 0.5),
                                     (m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 2.0)):
                    t.copy_(torch.rand(t.shape, generator=generator) * (high - low) + low)


def output_difference(model: nn.Module, mine: Trace, reference: nn.Module, ref: Trace,
                      size: tuple) -> str | None:
    """'' if the reader's model, given the reference's weights, computes the reference's
    output (evaluation mode); else what differs; None if the weights cannot be copied (a layer
    written with F.conv2d, say). The reader's model itself is left as it was."""
    g = torch.Generator().manual_seed(0)
    reference = copy.deepcopy(reference).cpu().float().eval()
    _randomise_norms(reference, g)
    yours = copy.deepcopy(model).cpu().float().eval()
    for a, b in zip(mine.layers, ref.layers):
        if not b.step.params and not a.step.params:
            continue
        if not a.step.name or not b.step.name:
            return None
        try:
            dst, src = yours.get_submodule(a.step.name), reference.get_submodule(b.step.name)
            dst.load_state_dict(src.state_dict())
        except (AttributeError, RuntimeError):
            return None
        if isinstance(dst, _NORM) and isinstance(src, _NORM):
            dst.eps = src.eps  # eps is not compared (torchvision's 0.001 or PyTorch's 1e-5)
    x = torch.randn((2, *size), generator=g)
    with torch.no_grad():
        got, want = yours(x), reference(x)
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        return None
    if torch.allclose(got, want, atol=1e-5, rtol=1e-4):
        return ""
    worst = (got - want).abs().amax().item()
    where = ""
    if got.dim() == 4:
        wrong = ((got - want).abs().flatten(2).amax(2).amax(0) > 1e-4).nonzero().flatten()
        where = f", first in output channel {wrong[0].item()}" if len(wrong) else ""
    return (f"every layer matches, but with the reference's weights copied into yours, layer "
            f"by layer, your output differs (by up to {worst:.3g}{where}): look at what "
            f"forward does between the layers, such as the order in which torch.cat stacks "
            f"the branches, or arithmetic the checker does not read.")
