"""Architecture diagrams and sliding-window animations: drawn from the models and the arithmetic,
readable at the book's width, and self-contained as HTML.

Each big model runs forward once (module-scoped fixtures); the animations render at a tiny dpi.
"""

from __future__ import annotations

import base64
import re
from itertools import combinations

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from cnnlib import plots
from cnnlib.arithmetic import conv_output_size
from cnnlib.models import get_model


@pytest.fixture(scope="module")
def diagrams():
    """name -> (model, figure), each model run once."""
    built = {}
    for name, size, kwargs in [("lenet5", 32, {}), ("vgg16", 224, {}), ("resnet20", 32, {}),
                               ("resnet20_A", 32, {"shortcut_type": "A"}),
                               ("alexnet_paper", 227, {})]:
        model = get_model(name.removesuffix("_A"), **kwargs)
        channels = 1 if name == "lenet5" else 3
        built[name] = model, plots.architecture(model, (1, channels, size, size))
    yield built
    plt.close("all")


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def with_gid(fig, gid: str) -> list:
    ax = fig.axes[0]
    return [a for a in [*ax.texts, *ax.collections] if a.get_gid() == gid]


def test_lenet5_boxes_and_shapes(diagrams):
    _, fig = diagrams["lenet5"]
    assert isinstance(fig, Figure)
    shown = texts(fig)
    shapes = ("1×32×32", "6×28×28", "6×14×14", "16×10×10", "16×5×5", "120×1×1", "84", "10")
    for shape in shapes:
        assert shape in shown
    assert {"conv 5×5, 6", "max-pool 2×2/2", "fc 84"} <= set(shown)
    assert shown.count("+ReLU") == 4  # three convolutions and fc 84; activations are no boxes
    assert fig.get_size_inches()[0] == pytest.approx(7.0)


def test_vgg16_has_every_layer_and_the_shapes_of_the_paper(diagrams):
    _, fig = diagrams["vgg16"]
    labels = [t.get_text() for t in with_gid(fig, "label")]
    assert sum(label.startswith("conv 3×3") for label in labels) == 13
    assert sum(label == "max-pool 2×2/2" for label in labels) == 5
    assert [label for label in labels if label.startswith("fc")] == ["fc 4096", "fc 4096",
                                                                      "fc 1000"]
    assert {"512×7×7", "4096", "64×224×224"} <= set(texts(fig))


@pytest.mark.parametrize("name, mark, count", [("resnet20", "projection", 2),
                                               ("resnet20_A", "zero-pad", 2)])
def test_resnet20_marks_where_the_shortcut_changes_shape(diagrams, name, mark, count):
    model, fig = diagrams[name]
    marks = [t.get_gid() for t in fig.axes[0].texts if (t.get_gid() or "").startswith("shortcut")]
    assert marks.count(f"shortcut-{mark}") == count
    assert marks.count("shortcut-identity") == 9 - count
    assert len(marks) == 9  # one per block
    if mark == "projection":
        assert texts(fig).count("1×1 conv") == 2
    stages = [t.get_text() for t in with_gid(fig, "stage")]
    assert set(stages) == {"layer1", "layer2", "layer3"}
    blocks = [t.get_text() for t in with_gid(fig, "label") if "block" in t.get_text()]
    assert blocks.count("basic block /2") == 2 and len(blocks) == 9
    assert {"16×32×32", "32×16×16", "64×8×8", "64×1×1"} <= set(texts(fig))


def test_alexnet_paper_is_drawn_on_two_gpus(diagrams):
    model, fig = diagrams["alexnet_paper"]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    sees_both = sum(c.groups == 1 for c in convs[1:]) + len(linears)  # conv3, fc6-8
    assert sees_both == 4
    assert len(with_gid(fig, "gpu-cross")) == sees_both
    assert len(with_gid(fig, "gpu-fan-out")) == 1  # the image goes to both GPUs' conv1
    assert texts(fig).count("GPU 1") >= 1 and "256×6×6" in texts(fig)
    assert "conv 5×5, 256 g2" in texts(fig)


def test_diagrams_are_readable_at_the_books_width(diagrams):
    """No two texts overlap, none leaves the figure, none is under 7 pt."""
    for name, (_, fig) in diagrams.items():
        renderer = fig.canvas.get_renderer()
        page = fig.bbox
        boxes = []
        for t in fig.axes[0].texts:
            assert t.get_fontsize() >= 7, (name, t.get_text())
            box = t.get_window_extent(renderer)
            assert page.x0 <= box.x0 and box.x1 <= page.x1, (name, t.get_text())
            assert page.y0 <= box.y0 and box.y1 <= page.y1, (name, t.get_text())
            boxes.append((t.get_text(), box))
        overlaps = [(a, b) for (a, ba), (b, bb) in combinations(boxes, 2)
                    if ba.overlaps(bb) and a and b]
        assert overlaps == [], name


def test_any_sequential_is_drawn_with_its_mode_restored():
    class Square(nn.Module):
        def forward(self, x):
            return x * x

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Dropout(0.5), Square(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 5)).train()
    fig = plots.architecture(model, (2, 3, 8, 8), title="tiny")
    labels = [t.get_text() for t in with_gid(fig, "label")]
    assert labels == ["input", "conv 3×3, 8", "Square", "avg-pool 2×2/2", "fc 5"]
    assert "+BN+ReLU" in texts(fig) and "tiny" in texts(fig)
    assert not with_gid(fig, "gpu-cross")  # no grouped convolution: one device
    assert all(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())


def test_two_gpus_follow_the_groups_of_each_convolution():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2),
                          nn.MaxPool2d(2), nn.Conv2d(8, 4, 1), nn.Flatten(), nn.Linear(36, 2))
    fig = plots.architecture(model, (1, 3, 10, 10))
    assert len(with_gid(fig, "gpu-cross")) == 2  # the groups=1 conv after the first, the fc
    assert len(with_gid(fig, "gpu-straight")) == 4
    single = plots.architecture(model, (1, 3, 10, 10), two_gpus=False)
    assert not with_gid(single, "gpu-straight")


def test_architecture_wants_a_batch_dimension():
    with pytest.raises(ValueError, match="N×C×H×W"):
        plots.architecture(nn.Conv2d(1, 1, 3), (1, 8, 8))


def frames_in(html: str) -> list[bytes]:
    found = re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]+)"', html)
    return [base64.b64decode(f.replace("\\\n", "")) for f in found]


def test_conv_animation_is_one_self_contained_frame_per_output():
    anim = plots.animate_conv(5, 3, s=2, p=1, dpi=20)
    assert anim.frames == conv_output_size(5, 3, 2, 1) ** 2 == 9
    assert "9 frames" in repr(anim)
    html = anim._repr_html_()
    assert html.startswith("<script") and '<div class="animation">' in html
    assert "://" not in html and "font-awesome" not in html and 'class="fa' not in html
    frames = frames_in(html)
    assert len(frames) == 9 and all(f.startswith(b"\x89PNG") for f in frames)
    assert plt.fignum_exists(anim.figure.number) is False  # closed: no still image shown too
    title = anim.figure._suptitle.get_text()
    assert "⌊(5 + 2·1 − 1·(3 − 1) − 1)/2⌋ + 1 = 3" in title
    assert "⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1" in title


def test_dilated_taps_are_spaced():
    anim = plots.animate_conv(5, 2, d=2)  # span 3: a 3×3 output
    assert anim.frames == 9
    ax_in = anim.frame(4).axes[0]  # the middle output
    taps = sorted((int(p.get_y()), int(p.get_x())) for p in ax_in.patches
                  if p.get_alpha() == 0.45)
    assert taps == [(1, 1), (1, 3), (3, 1), (3, 3)]
    caption = anim.figure.texts[-1].get_text()
    assert "output (1, 1)" in caption and "taps 2 apart" in caption
    with pytest.raises(ValueError, match="outside 0..8"):
        anim.frame(9)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_writes_pytorchs_values(mode):
    x = torch.arange(16.0).view(4, 4) % 7
    anim = plots.animate_pooling(4, 2, mode=mode, x=x, dpi=20)
    assert anim.frames == 4
    ax_out = anim.frame(3).axes[1]  # the last frame shows every output
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    expected = pool(x[None, None], 2)[0, 0].flatten().tolist()
    shown = [float(t.get_text()) for t in ax_out.texts]
    assert shown == pytest.approx(expected, abs=0.05)


def test_animations_reject_what_cannot_slide():
    with pytest.raises(ValueError, match="kernel spans 7"):
        plots.animate_conv(4, 7, p=1)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        plots.animate_conv(5, 3, s=0)
    with pytest.raises(ValueError, match="kernel spans 5 pixels .dilation 2"):
        plots.animate_conv(4, 3, d=2)
    with pytest.raises(ValueError, match="padding must be <= kernel_size // 2"):
        plots.animate_pooling(5, 2, p=2)
    with pytest.raises(ValueError, match="mode must be 'max' or 'avg'"):
        plots.animate_pooling(4, 2, mode="min")
    with pytest.raises(ValueError, match="x must be one 4×4 map"):
        plots.animate_pooling(4, 2, x=torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"got shape \(2, 4, 4\)"):
        plots.animate_pooling(4, 2, x=torch.zeros(2, 4, 4))  # two maps: which one?


def test_pooling_takes_one_map_of_a_batch_as_it_is():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert plots.animate_pooling(4, 2, x=x, dpi=20).frames == 4
    with pytest.raises(ValueError, match="676 frames"):
        plots.animate_conv(28, 3)
