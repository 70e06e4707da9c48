"""cnnlib.plots: every figure draws on small inputs, and the numbers behind them are right."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from cnnlib import plots
from cnnlib.train import History


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def images_shown(fig) -> int:
    return sum(len(ax.images) for ax in fig.axes)


def test_show_images_gray_and_rgb():
    gray = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8)
    fig = plots.show_images(gray, labels=torch.tensor([0, 1, 2, 1, 0]), classes=("a", "b", "c"), ncols=3)
    assert isinstance(fig, Figure) and images_shown(fig) == 5
    assert [ax.get_title() for ax in fig.axes[:5]] == ["a", "b", "c", "b", "a"]
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (8, 8)
    torch.testing.assert_close(torch.as_tensor(shown.data), gray[0, 0].float() / 255)

    mean, std = (0.5, 0.4, 0.3), (0.2, 0.2, 0.2)
    rgb = torch.randn(3, 3, 6, 6)
    fig = plots.show_images(rgb, titles=["x", "y", "z"], mean=mean, std=std)
    assert images_shown(fig) == 3 and fig.axes[2].get_title() == "z"
    shown = torch.as_tensor(fig.axes[0].images[0].get_array().data)
    expected = (rgb[0] * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)).clamp(0, 1)
    torch.testing.assert_close(shown, expected.permute(1, 2, 0))


def test_show_images_of_nothing_is_a_clear_error():
    with pytest.raises(ValueError, match="0 images"):
        plots.show_images(torch.zeros(0, 1, 8, 8, dtype=torch.uint8))


@pytest.mark.parametrize("in_channels", [1, 3])
def test_show_kernels(in_channels):
    weight = nn.Conv2d(in_channels, 6, 5).weight
    fig = plots.show_kernels(weight, ncols=4, title="conv1")
    assert isinstance(fig, Figure) and images_shown(fig) == 6
    assert fig._suptitle.get_text() == "conv1"


def test_feature_maps_capture_the_layer_output():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3))
    x = torch.randn(2, 1, 16, 16)
    maps = plots.feature_maps(model, model[2], x)
    assert maps.shape == (2, 4, 7, 7)
    torch.testing.assert_close(maps, model[:3](x))
    assert plots.feature_maps(model, model[3], x).shape == (2, 8, 5, 5)
    assert not maps.requires_grad
    assert all(not m._forward_hooks for m in model.modules())  # the hook is gone
    fig = plots.show_feature_maps(maps[0], ncols=2, title="after pooling")
    assert isinstance(fig, Figure) and images_shown(fig) == 4


def history(accs):
    return History([{"epoch": i + 1, "train_loss": 1 / (i + 1), "train_acc": a,
                     "test_loss": 1.2 / (i + 1), "test_acc": a - 0.05, "lr": 0.1}
                    for i, a in enumerate(accs)])


def test_plot_history_one_and_several():
    fig = plots.plot_history(history([0.5, 0.7, 0.8]), title="one run")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 2 and acc_ax.get_ylabel() == "accuracy (%)"
    assert list(acc_ax.lines[0].get_ydata()) == pytest.approx([50, 70, 80])  # train, in percent
    assert list(acc_ax.lines[1].get_ydata()) == pytest.approx([45, 65, 75])  # test

    no_test = History([{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5}])
    fig = plots.plot_history({"sgd": history([0.5, 0.6]), "adam": no_test}, keys=("acc",))
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3



def test_plot_history_error_rate_and_splits():
    fig = plots.plot_history({"relu": history([0.5, 0.8]), "tanh": history([0.4, 0.6])},
                             keys=("err",), splits=("train",))
    (ax,) = fig.axes
    assert ax.get_ylabel() == "error (%)" and len(ax.lines) == 2  # train curves only
    assert list(ax.lines[0].get_ydata()) == pytest.approx([50, 20])  # 100 - accuracy
    assert list(ax.lines[1].get_ydata()) == pytest.approx([60, 40])


def test_plot_lrn_effect_reads_the_divisor_back():
    from cnnlib.layers import LocalResponseNorm

    lrn = LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)
    fig = plots.plot_lrn_effect(torch.relu(50 * torch.randn(2, 8, 6, 6)), lrn, title="lrn")
    hist_ax, divisor_ax = fig.axes
    assert len(hist_ax.patches) == 2 * 59  # 59 bins, before and after
    assert divisor_ax.lines[0].get_xdata()[0] == pytest.approx(2 ** 0.75)  # k^beta marker
    with pytest.raises(ValueError, match="no positive activations"):
        plots.plot_lrn_effect(-torch.rand(1, 4, 3, 3), lrn)

def test_confusion_matrix_counts_a_hand_made_example():
    labels = torch.tensor([0, 1, 2, 2, 0, 2, 1])
    preds = torch.tensor([0, 1, 1, 2, 2, 2, 1])
    cm = plots.confusion_matrix(preds, labels, 3)
    # rows are the true class, columns the prediction
    assert cm.tolist() == [[1, 0, 1],
                           [0, 2, 0],
                           [0, 1, 2]]
    assert cm.sum() == len(labels) and cm.trace() == (preds == labels).sum()
    assert plots.confusion_matrix(torch.tensor([3]), torch.tensor([0]), 4)[0, 3] == 1


def test_most_confused_lists_the_largest_mistakes_first():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2])
    preds = torch.tensor([1, 1, 2, 0, 0, 1, 2, 2, 2])
    rows = plots.most_confused(preds, labels, ("cat", "dog", "eel"), n=5)
    assert rows == [
        {"true": "cat", "predicted": "dog", "images": 2, "of the class": "50.0%"},
        {"true": "cat", "predicted": "eel", "images": 1, "of the class": "25.0%"},
        {"true": "dog", "predicted": "cat", "images": 1, "of the class": "50.0%"},
    ]  # stops at the last mistake; the diagonal (right answers) is never listed
    assert plots.most_confused(labels, labels, ("cat", "dog", "eel")) == []


def test_plot_confusion_matrix_titles_the_accuracy():
    labels = torch.tensor([0, 1, 2, 2, 0, 2])
    preds = torch.tensor([0, 1, 1, 2, 2, 2])
    fig = plots.plot_confusion_matrix(preds, labels, ("cat", "dog", "eel"))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "accuracy 66.67% on 6 images"
    assert [t.get_text() for t in ax.texts] == ["1", "0", "1", "0", "1", "0", "0", "1", "2"]


def test_show_misclassified_shows_the_mistakes_only():
    images = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 2, 0, 2])
    preds = torch.tensor([0, 1, 1, 2, 2, 2])
    fig = plots.show_misclassified(images, preds, labels, ("cat", "dog", "eel"))
    assert isinstance(fig, Figure) and images_shown(fig) == 2
    assert [ax.get_title() for ax in fig.axes[:2]] == ["eel\n→ dog", "cat\n→ eel"]


def test_show_misclassified_when_nothing_is_wrong():
    labels = torch.tensor([0, 1, 2])
    fig = plots.show_misclassified(torch.zeros(3, 1, 8, 8, dtype=torch.uint8), labels, labels, "abc")
    assert isinstance(fig, Figure) and images_shown(fig) == 0
    assert "no misclassified images among 3" in fig.axes[0].texts[0].get_text()


def test_plot_activations_draws_each_function_and_its_derivative():
    fig = plots.plot_activations({"ReLU": torch.relu, "sigmoid": torch.sigmoid}, x_range=(-2, 2),
                                 points=5)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    values, slopes = ({line.get_label(): line.get_ydata() for line in ax.lines} for ax in fig.axes)
    assert {"ReLU", "sigmoid"} <= values.keys() and {"ReLU", "sigmoid"} <= slopes.keys()
    assert list(values["ReLU"]) == pytest.approx([0, 0, 0, 1, 2])   # ReLU on -2, -1, 0, 1, 2
    assert list(slopes["ReLU"]) == pytest.approx([0, 0, 0, 1, 1])   # its slope, by autograd
    s = torch.sigmoid(torch.linspace(-2, 2, 5))
    assert list(slopes["sigmoid"]) == pytest.approx((s * (1 - s)).tolist())


def test_plot_activations_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_activations({})
    with pytest.raises(ValueError, match="low < high"):
        plots.plot_activations({"ReLU": torch.relu}, x_range=(1, -1))
    with pytest.raises(ValueError, match="elementwise"):
        plots.plot_activations({"sum": torch.sum})


def test_draw_blocks_labels_every_layer_and_the_shortcut():
    fig = plots.draw_blocks()
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes]
    assert len(texts) == 3
    assert "identity" not in texts[0] and "ReLU(F(x))" in texts[0]
    assert texts[1].count("3×3 conv, 64") == 2 and "identity" in texts[1] and "+" in texts[1]
    assert ["1×1 conv, 64", "3×3 conv, 64", "1×1 conv, 256"] == [
        t for t in texts[2] if "conv" in t]
    with pytest.raises(ValueError, match="kinds must be among"):
        plots.draw_blocks(["resnext"])


def test_draw_inception_draws_four_parallel_branches_and_one_concatenation():
    fig = plots.draw_inception()
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert [t for t in texts if "conv" in t] == [
        "1×1 conv, 64", "1×1 conv, 96", "3×3 conv, 128", "1×1 conv, 16", "5×5 conv, 32",
        "1×1 conv, 32"]
    assert "concatenate" in texts and any("= 256 channels" in t for t in texts)
    # four arrows out of the input, one down each two-layer branch, four into the concat
    assert len([c for c in ax.get_children() if type(c).__name__ == "Annotation"]) == 11
    assert "3×3 conv, 32" in [t.get_text() for t in plots.draw_inception(big_kernel=3)
                              .axes[0].texts]
    with pytest.raises(ValueError, match="big_kernel"):
        plots.draw_inception(big_kernel=7)


def test_plot_runs_draws_every_run_and_one_mean_per_group():
    from cnnlib import plots

    def h(values):
        return History([{"epoch": i + 1, "test_acc": v} for i, v in enumerate(values)])

    fig = plots.plot_runs({"a": [h([0.1, 0.2]), h([0.3, 0.4])], "b": [h([0.5, 0.6])]})
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 + 1 + 1 + 1  # three runs, two means
    assert list(lines[2].get_ydata()) == pytest.approx([20.0, 30.0])  # mean of a, in percent
    with pytest.raises(ValueError):
        plots.plot_runs({"a": []})


def test_plot_value_histograms_draws_one_panel_per_tensor_with_marks():
    from cnnlib import plots

    fig = plots.plot_value_histograms({"before": torch.randn(200), "after": torch.rand(3, 4)})
    assert [ax.get_title() for ax in fig.axes] == ["before", "after"]
    assert len(fig.axes[0].get_lines()) == 2  # the dashed lines at 0 and 1
    with pytest.raises(ValueError):
        plots.plot_value_histograms({})
