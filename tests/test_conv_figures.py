"""Chapter 2's figures draw what they say: the right grids, windows and panels."""

import matplotlib.pyplot as plt
import pytest
import torch

from cnnlib.arithmetic import receptive_field
from cnnlib.plots import plot_conv_sliding, plot_receptive_fields, show_kernel_responses


def _hatched(ax):
    return [p for p in ax.patches if p.get_hatch()]


def test_conv_sliding_grids_and_windows():
    fig = plot_conv_sliding(5, 3, 2, 1)  # padded 7x7 input, 3x3 output
    ax_in, ax_out = fig.axes
    assert ax_out.get_title() == "output 3×3"
    assert "= 3" in fig._suptitle.get_text()
    assert not _hatched(ax_in)  # (5 + 2 - 3) / 2 divides: every pixel is covered
    zeros = [t for t in ax_in.texts if t.get_text() == "0"]
    assert len(zeros) == 7 * 7 - 5 * 5
    plt.close(fig)


def test_conv_sliding_hatches_what_the_floor_drops():
    fig = plot_conv_sliding(8, 3, 2, 0)  # windows cover 7 of 8 rows and columns
    assert len(_hatched(fig.axes[0])) == 8 + 8 - 1
    plt.close(fig)


def test_conv_sliding_rejects_positions_outside_the_output():
    with pytest.raises(ValueError, match="outside the 3 x 3 output"):
        plot_conv_sliding(5, 3, 2, 1, positions=[(3, 0)])


def test_kernel_responses_one_column_per_kernel():
    image = torch.rand(16, 16)
    kernels = {"sobel": torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
               "blur": torch.full((5, 5), 1 / 25),
               "random 5x5": torch.randn(5, 5)}
    responses = {name: torch.rand(16, 16) - 0.5 for name in kernels}
    fig = show_kernel_responses(image, kernels, responses)
    assert len(fig.axes) == 1 + 2 * len(kernels)  # input, then kernel + response per kernel
    sobel_values = [t.get_text() for t in fig.axes[1].texts]
    assert sobel_values[:3] == ["-1", "0", "1"]  # 3x3 kernels show their values
    assert [t.get_text() for t in fig.axes[3].texts] == ["1/25 each"]  # uniform: once
    assert not fig.axes[5].texts                   # other 5x5 kernels: no numbers
    plt.close(fig)


def test_kernel_responses_needs_a_response_per_kernel():
    with pytest.raises(KeyError, match="no response for kernel"):
        show_kernel_responses(torch.rand(8, 8), {"a": torch.ones(3, 3)}, {})


def test_receptive_fields_end_labels():
    fig = plot_receptive_fields({"3x3 x3": receptive_field([(3, 1)] * 3)})
    assert [t.get_text() for t in fig.axes[0].texts] == ["7"]
    plt.close(fig)


def test_edge_responses_are_centred_at_zero_and_others_are_not():
    image = torch.rand(16, 16)
    kernels = {"edge": torch.tensor([[-1.0, 0, 1]] * 3), "blur": torch.full((3, 3), 1 / 9)}
    responses = {"edge": torch.linspace(-1, 3, 256).view(16, 16),
                 "blur": torch.linspace(0.2, 0.8, 256).view(16, 16)}
    fig = show_kernel_responses(image, kernels, responses)
    low, high = fig.axes[2].images[0].get_clim()   # the edge response
    assert low == -high
    low, high = fig.axes[4].images[0].get_clim()   # the blur response: its own range
    assert 0.2 <= low < high <= 0.8
    plt.close(fig)
