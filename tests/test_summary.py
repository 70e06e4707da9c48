"""cnnlib.summary: the layer table's shapes, parameter counts, k/s/p column and width."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlib.summary import summary


def lenet_like() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, 10))


def alexnet_like() -> nn.Sequential:
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, 2)),
        nn.Sequential(nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2)),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


def test_lenet_rows_have_the_right_shapes():
    table = summary(lenet_like(), input_size=(1, 1, 28, 28))
    outputs = [row["output"] for row in table.rows]
    assert outputs == ["6x28x28", "6x28x28", "6x14x14", "16x10x10", "16x10x10", "16x5x5",
                       "400", "120", "120", "84", "84", "10"]
    assert table.rows[0]["input"] == "1x28x28"
    assert [row["input"] for row in table.rows[1:]] == outputs[:-1]  # each layer feeds the next
    assert [row["kernel"] for row in table.rows[:6]] == ["5/1/2", "", "2/2/0", "5/1/0", "", "2/2/0"]
    assert all(row["kernel"] == "" for row in table.rows[6:])


def test_parameter_counts_are_the_models_own():
    model = lenet_like()
    table = summary(model, input_size=(1, 1, 28, 28))
    for row in table.rows:
        assert row["params"] == sum(p.numel() for p in row["module"].parameters())
    assert [row["params"] for row in table.rows if row["params"]] == [156, 2416, 48120, 10164, 850]
    total = sum(p.numel() for p in model.parameters())
    assert table.total_params == total == 61706
    assert sum(row["params"] for row in table.rows) == total
    assert f"Total params: {total:,}" in repr(table)
    model[0].weight.requires_grad_(False)
    assert summary(model, input_size=(1, 1, 28, 28)).trainable_params == total - 150


def test_kernel_column_shows_kernel_stride_padding_and_groups():
    table = summary(alexnet_like(), input_size=(1, 3, 67, 67))
    names = [row["name"].strip() for row in table.rows]
    assert names == ["0 (Sequential)", "0 (Conv2d)", "1 (ReLU)", "2 (MaxPool2d)",
                     "1 (Sequential)", "0 (Conv2d)", "1 (ReLU)", "2 (MaxPool2d)",
                     "2 (AdaptiveAvgPool2d)", "3 (Flatten)", "4 (Linear)"]
    conv1, pool1, conv2, adaptive = table.rows[1], table.rows[3], table.rows[5], table.rows[8]
    assert conv1["kernel"] == "11/4/0"
    assert conv1["output"] == "96x15x15"  # (67 - 11) / 4 + 1
    assert conv1["params"] == 96 * (3 * 11 * 11 + 1)
    assert pool1["kernel"] == "3/2/0" and pool1["output"] == "96x7x7"
    assert conv2["kernel"] == "5/1/2 g2"
    assert conv2["params"] == 256 * (48 * 5 * 5 + 1)  # each group sees half the channels
    assert adaptive["kernel"] == "" and table.rows[0]["kernel"] == ""
    text = repr(table)
    assert "11/4/0" in text and "5/1/2 g2" in text


def test_rectangular_kernels_are_written_per_axis():
    table = summary(nn.Sequential(nn.Conv2d(1, 4, (1, 3), padding=(0, 1))), input_size=(1, 1, 8, 8))
    assert table.rows[0]["kernel"] == "1x3/1/0x1"
    assert table.rows[0]["output"] == "4x8x8"


def test_containers_show_their_total_in_parentheses():
    model = alexnet_like()
    deep = summary(model, input_size=(1, 3, 67, 67))
    shallow = summary(model, input_size=(1, 3, 67, 67), depth=1)
    assert len(shallow.rows) == 5 and len(deep.rows) == 11
    block = shallow.rows[0]
    assert not block["leaf"] and block["params"] == 34944
    assert "(34,944)" in repr(shallow)
    assert deep.rows[1]["name"].startswith("  ")  # children are indented under their block


def test_mult_adds_are_per_image():
    one = summary(lenet_like(), input_size=(1, 1, 28, 28))
    four = summary(lenet_like(), input_size=(4, 1, 28, 28))
    assert one.mult_adds == pytest.approx(four.mult_adds)
    conv_macs = 6 * 28 * 28 * 25 + 16 * 10 * 10 * 6 * 25  # the two convolutions
    linear_macs = 400 * 120 + 120 * 84 + 84 * 10
    assert one.mult_adds >= conv_macs + linear_macs


def test_table_of_a_small_model_fits_the_text_column():
    for model, size in ((lenet_like(), (1, 1, 28, 28)), (alexnet_like(), (1, 3, 227, 227))):
        lines = repr(summary(model, input_size=size)).splitlines()
        assert max(len(line) for line in lines) <= 110
        assert len({len(line) for line in lines if set(line) == {"="}}) == 1  # one rule width


def test_summary_leaves_the_model_usable():
    model = lenet_like()
    x = torch.randn(2, 1, 28, 28)
    before = model(x)
    summary(model, input_size=(1, 1, 28, 28))
    torch.testing.assert_close(model(x), before)
