"""The hand-written convolution and pooling of chapter 2 agree with PyTorch's."""

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from cnnlib.conv_from_scratch import conv2d_loops, conv2d_unfold, max_pool2d_loops

# (input N x C x H x W, kernel C_out x kh x kw, stride, padding): square and not, strides that
# divide and that do not (the floor), padding per side, 1x1 kernels.
CONV_CASES = [
    ((2, 3, 7, 7), (4, 3, 3), 1, 0),
    ((1, 1, 5, 5), (1, 3, 3), 2, 1),      # the book's worked example: 5x5, k3, s2, p1 -> 3x3
    ((2, 2, 8, 6), (3, 5, 5), 1, 2),      # "same" padding (k-1)/2
    ((1, 3, 11, 9), (2, 3, 3), 3, 0),     # stride that does not divide: last rows dropped
    ((2, 4, 6, 6), (5, 1, 1), 1, 0),      # 1x1 convolution: mixes channels only
    ((1, 2, 9, 10), (2, 3, 2), (2, 1), (1, 0)),  # rectangular kernel, per-dimension stride/pad
]


@pytest.mark.parametrize("conv", [conv2d_loops, conv2d_unfold])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv_matches_f_conv2d(conv, x_shape, w_shape, stride, padding, use_bias):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, generator=g, dtype=torch.float64)
    c_out, kh, kw = w_shape
    weight = torch.randn(c_out, x_shape[1], kh, kw, generator=g, dtype=torch.float64)
    bias = torch.randn(c_out, generator=g, dtype=torch.float64) if use_bias else None
    expected = F.conv2d(x, weight, bias, stride=stride, padding=padding)
    assert_close(conv(x, weight, bias, stride=stride, padding=padding), expected)


@pytest.mark.parametrize("conv", [conv2d_loops, conv2d_unfold])
def test_conv_rejects_bad_shapes_with_a_reason(conv):
    x, w = torch.zeros(1, 3, 5, 5), torch.zeros(2, 3, 3, 3)
    with pytest.raises(ValueError, match="batch dimension"):
        conv(x[0], w)
    with pytest.raises(ValueError, match="input channels"):
        conv(torch.zeros(1, 1, 5, 5), w)
    with pytest.raises(ValueError, match="one value per output channel"):
        conv(x, w, torch.zeros(3))
    with pytest.raises(ValueError, match="padded input"):
        conv(torch.zeros(1, 3, 2, 2), w)
    with pytest.raises(TypeError, match="stride"):
        conv(x, w, stride=1.5)


@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", [
    ((2, 3, 8, 8), 2, None, 0),   # 2x2/2: halves the size
    ((1, 2, 13, 13), 3, 2, 0),    # AlexNet's overlapping 3x3/2
    ((1, 1, 7, 9), 3, 2, 1),      # padding is -inf, never the max
    ((2, 2, 9, 6), (3, 2), (2, 1), 0),
])
def test_max_pool_matches_f_max_pool2d(x_shape, kernel_size, stride, padding):
    x = torch.randn(x_shape, generator=torch.Generator().manual_seed(1))
    expected = F.max_pool2d(x, kernel_size, stride, padding)
    assert_close(max_pool2d_loops(x, kernel_size, stride, padding), expected)


def test_max_pool_padding_never_wins_even_for_negative_inputs():
    x = -torch.ones(1, 1, 4, 4)
    assert_close(max_pool2d_loops(x, 3, 2, 1), F.max_pool2d(x, 3, 2, 1))
    assert max_pool2d_loops(x, 3, 2, 1).max().item() == -1
