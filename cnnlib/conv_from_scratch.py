"""Convolution and max pooling written out by hand, to be checked against PyTorch.

Chapter 2 builds a convolution twice: once as loops, the way it is drawn on a whiteboard (every
output value is one dot product between the kernel and a patch of the input), and once with
``F.unfold`` (im2col), the way libraries turn it into one matrix multiply. Both must agree with
``F.conv2d``; ``tests/test_conv_from_scratch.py`` checks that they do. They are for reading and
for checking understanding, not for speed: the loops run in Python, one output value at a time.

Shapes follow PyTorch: ``x`` is N x C_in x H x W, ``weight`` is C_out x C_in x kh x kw, and
``padding`` is the number of zeros added on *each* side, as in ``nn.Conv2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .arithmetic import conv_output_size, pool_output_size


def _pair(name: str, value) -> tuple[int, int]:
    """An int or an (h, w) pair, as PyTorch accepts for stride and padding."""
    pair = (value, value) if isinstance(value, int) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return tuple(pair)


def _check_conv_inputs(x: torch.Tensor, weight: torch.Tensor,
                       bias: torch.Tensor | None) -> None:
    if x.dim() != 4:
        raise ValueError(f"x must be N x C x H x W (4-D), got shape {tuple(x.shape)}; "
                         "add a batch dimension with x[None] for a single image")
    if weight.dim() != 4:
        raise ValueError("weight must be C_out x C_in x kh x kw (4-D), "
                         f"got {tuple(weight.shape)}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"each kernel has {weight.shape[1]} input channels but x has "
                         f"{x.shape[1]}: a kernel must cover every input channel")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must have one value per output channel, shape "
                         f"({weight.shape[0]},), got {tuple(bias.shape)}")


def _output_hw(x, kh, kw, stride, padding) -> tuple[int, int]:
    """Output height and width by the book's formula (which also explains a too-small input)."""
    return (conv_output_size(x.shape[2], kh, stride[0], padding[0]),
            conv_output_size(x.shape[3], kw, stride[1], padding[1]))


def conv2d_loops(x: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor | None = None, stride=1, padding=0) -> torch.Tensor:
    """``F.conv2d`` (groups=1, dilation=1) as loops: one dot product per output value.

    Pad the input with zeros on every side, then for every image, every output channel
    and every output position, multiply the kernel with the patch under it and add it
    all up (plus the bias). The same kernel is used at every position: weight sharing.
    """
    _check_conv_inputs(x, weight, bias)
    (sh, sw), (ph, pw) = _pair("stride", stride), _pair("padding", padding)
    c_out, _, kh, kw = weight.shape
    h_out, w_out = _output_hw(x, kh, kw, (sh, sw), (ph, pw))
    x = F.pad(x, (pw, pw, ph, ph))  # (left, right, top, bottom): p per side
    out = x.new_zeros(x.shape[0], c_out, h_out, w_out)
    for n in range(x.shape[0]):
        for c in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    patch = x[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[n, c, i, j] = (patch * weight[c]).sum()  # C_in x kh x kw
            if bias is not None:
                out[n, c] += bias[c]
    return out


def conv2d_unfold(x: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor | None = None, stride=1, padding=0) -> torch.Tensor:
    """``F.conv2d`` (groups=1, dilation=1) as one matrix multiply: im2col.

    ``F.unfold`` copies every patch the kernel would visit into a column, giving
    N x (C_in*kh*kw) x L, with L = h_out*w_out positions. The C_out kernels, flattened
    to rows, multiply all columns at once; the L columns reshape to h_out x w_out.
    The price is memory: each input pixel is copied once per window that covers it.
    """
    _check_conv_inputs(x, weight, bias)
    stride, padding = _pair("stride", stride), _pair("padding", padding)
    c_out, _, kh, kw = weight.shape
    h_out, w_out = _output_hw(x, kh, kw, stride, padding)
    cols = F.unfold(x, (kh, kw), stride=stride, padding=padding)  # N x C_in*kh*kw x L
    out = weight.reshape(c_out, -1) @ cols                         # N x C_out x L
    if bias is not None:
        out = out + bias.view(1, c_out, 1)
    return out.view(x.shape[0], c_out, h_out, w_out)


def max_pool2d_loops(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """``F.max_pool2d`` as loops: the largest value in each window, channel by channel.

    Like a convolution it slides a window, but it has no weights and never mixes channels.
    ``stride`` defaults to ``kernel_size`` (windows that touch but do not overlap), as in
    PyTorch. Padding is filled with -inf so that it can never win the max.
    """
    if x.dim() != 4:
        raise ValueError(f"x must be N x C x H x W (4-D), got shape {tuple(x.shape)}")
    kh, kw = _pair("kernel_size", kernel_size)
    sh, sw = (kh, kw) if stride is None else _pair("stride", stride)
    ph, pw = _pair("padding", padding)
    h_out = pool_output_size(x.shape[2], kh, sh, ph)
    w_out = pool_output_size(x.shape[3], kw, sw, pw)
    x = F.pad(x, (pw, pw, ph, ph), value=float("-inf"))
    out = x.new_empty(x.shape[0], x.shape[1], h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]  # N x C x kh x kw
            out[:, :, i, j] = window.amax(dim=(2, 3))
    return out
