"""cnnlib.diagnose: each check finds the bug it is for, and leaves the model as it found it."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from cnnlib import TensorLoader, diagnose, folders, plots
from cnnlib.data import channel_stats


@pytest.fixture(scope="module")
def digits(tensors):
    """256 real MNIST digits and labels, normalised as the book's loaders do."""
    images, labels = tensors("mnist", True)
    images, labels = images[:256], labels[:256]
    mean, std = channel_stats(images)
    loader = TensorLoader(images, labels, batch_size=64, shuffle=False, mean=mean, std=std)
    return loader


def mlp(head=()):
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10), *head)


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_overfit_one_batch_reaches_zero_and_restores_the_model(digits):
    model = mlp().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = diagnose.overfit_one_batch(model, next(iter(digits)), steps=100, lr=1e-2)
    assert len(losses) == 100
    assert losses[0] > 2.0 and losses[-1] < 0.05
    assert same_state(before, model.state_dict())
    assert not model.training  # the mode it came in with


def test_overfit_one_batch_exposes_softmax_before_the_loss(digits):
    losses = diagnose.overfit_one_batch(mlp(head=[nn.Softmax(dim=1)]), next(iter(digits)),
                                        steps=100, lr=1e-2)
    floor = math.log(math.e + 9) - 1  # the best a double softmax can do with 10 classes
    assert min(losses) > floor


def test_overfit_one_batch_checks_its_arguments(digits):
    with pytest.raises(ValueError, match="steps"):
        diagnose.overfit_one_batch(mlp(), next(iter(digits)), steps=0)
    with pytest.raises(ValueError, match="no parameters"):
        diagnose.overfit_one_batch(nn.Flatten(), next(iter(digits)))


def test_lr_range_test_spans_the_rates_geometrically_and_restores_weights(digits):
    model = mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lrs, losses = diagnose.lr_range_test(model, digits, start=1e-4, end=1e-2, steps=10)
    assert len(lrs) == len(losses) == 10  # a gentle range: no early stop
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-2)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert ratios == pytest.approx([ratios[0]] * len(ratios))
    assert same_state(before, model.state_dict())


def test_lr_range_test_stops_when_the_loss_diverges(digits):
    lrs, losses = diagnose.lr_range_test(mlp(), digits, start=1e-3, end=1e4, steps=60)
    assert len(lrs) < 60
    last = losses[-1]
    assert not math.isfinite(last) or last > 4 * min(losses[:-1])


def test_lr_range_test_checks_its_arguments(digits):
    with pytest.raises(ValueError, match="end must be larger"):
        diagnose.lr_range_test(mlp(), digits, start=1.0, end=0.1)
    with pytest.raises(ValueError, match="at least 2"):
        diagnose.lr_range_test(mlp(), digits, steps=1)


def test_smooth_and_suggest_lr():
    assert diagnose.smooth([3.0, 3.0, 3.0]) == pytest.approx([3.0, 3.0, 3.0])  # bias-corrected
    lrs = [10 ** (-5 + i / 10) for i in range(51)]  # 1e-5 .. 1
    losses = [(math.log10(lr) + 2) ** 2 + 1 for lr in lrs]  # lowest at lr = 1e-2
    assert diagnose.suggest_lr(lrs, losses, beta=0.0) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="equally long"):
        diagnose.suggest_lr([1e-3], [])
    with pytest.raises(ValueError, match="beta"):
        diagnose.smooth([1.0], beta=1.0)


def test_steepest_lr_finds_where_the_smoothed_loss_falls_fastest():
    lrs = [10 ** (-5 + i / 20) for i in range(101)]  # 1e-5 .. 1, 20 points a decade
    # flat until 1e-3, a steep fall to 1e-2 (half a decade at 2 per decade, the rest at
    # 1 per decade), lowest at 1e-1, then up
    def loss(lr):
        x = math.log10(lr)
        if x < -3:
            return 3.0
        if x < -2.5:
            return 3.0 - 2 * (x + 3)
        if x < -1:
            return 2.0 - (x + 2.5) * 1.0 / 1.5
        return 1.0 + 5 * (x + 1)
    losses = [loss(lr) for lr in lrs]
    assert diagnose.steepest_lr(lrs, losses, beta=0.0) == pytest.approx(10 ** -2.75, rel=0.01)
    assert diagnose.suggest_lr(lrs, losses, beta=0.0) == pytest.approx(1e-2, rel=0.01)
    with pytest.raises(ValueError, match="never falls"):
        diagnose.steepest_lr(lrs, [3.0] * len(lrs), beta=0.0)
    with pytest.raises(ValueError, match="at least 3"):
        diagnose.steepest_lr(lrs[:2], losses[:2])
    with pytest.raises(ValueError, match="span"):
        diagnose.steepest_lr(lrs, losses, span=0)


def test_the_range_test_plot_marks_both_rates_and_other_seeds():
    lrs = [10 ** (-5 + i / 10) for i in range(40)]
    losses = [2.3 - 0.02 * i for i in range(40)]
    fig = plots.plot_lr_range_test(lrs, losses, suggestion=1e-3, steepest=1e-2, lowest=0.1,
                                   others={"seed 1": (lrs, losses[::-1])}, label="seed 0")
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert "moving average, seed 1" in lines and "moving average, seed 0" in lines
    assert lines["moving average, seed 1"].get_color() != lines["moving average, seed 0"].get_color()
    assert {"suggested rate 0.001, seed 0", "steepest fall 0.01, seed 0",
            "lowest loss 0.1, seed 0"} <= set(lines)
    plt.close("all")


class Detached(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.last = nn.Linear(784, 16), nn.Linear(16, 10)

    def forward(self, x):
        return self.last(torch.relu(self.first(x.flatten(1))).detach())


def test_gradient_norms_mark_a_detached_layer_and_leave_grads_alone(digits):
    model = Detached()
    model.last.weight.grad = torch.ones_like(model.last.weight)
    norms = diagnose.gradient_norms(model, next(iter(digits)))
    assert norms["first.weight"] is None and norms["first.bias"] is None
    assert norms["last.weight"] > 0
    assert torch.equal(model.last.weight.grad, torch.ones_like(model.last.weight))
    assert model.first.weight.grad is None


def test_dead_relu_fraction_counts_units_that_never_fire(digits):
    model = mlp()
    with torch.no_grad():
        model[1].bias[:16] = -1e3  # a quarter of the hidden units can never fire
    model.train()
    dead = diagnose.dead_relu_fraction(model, digits)
    assert dead == {"2": pytest.approx(0.25, abs=0.02)}
    assert model.training


def test_dead_relu_fraction_counts_channels_and_each_use_of_a_shared_relu(digits):
    relu = nn.ReLU()
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 4, 3)
    with torch.no_grad():
        conv.bias[:] = torch.tensor([-1e3, 0.0, 0.0, 0.0])  # channel 0 dead everywhere
    model = nn.Sequential(conv, relu, nn.Conv2d(4, 4, 3), relu, nn.Flatten(),
                          nn.LazyLinear(10))
    dead = diagnose.dead_relu_fraction(model, digits, max_batches=1)
    assert list(dead) == ["1", "1 (use 2)"]
    assert dead["1"] == pytest.approx(0.25)


def test_dead_relu_fraction_needs_relu_modules(digits):
    with pytest.raises(ValueError, match="nn.ReLU"):
        diagnose.dead_relu_fraction(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), digits)


def test_shuffle_labels_permutes_labels_and_keeps_the_images(digits):
    shuffled = diagnose.shuffle_labels(digits, seed=1)
    assert shuffled.images is digits.images  # shared, not copied
    assert torch.equal(shuffled.labels.sort().values, digits.labels.sort().values)
    assert (shuffled.labels != digits.labels).float().mean() > 0.5
    again = diagnose.shuffle_labels(digits.labels, seed=1)
    assert torch.equal(again, shuffled.labels)  # the same seed, the same permutation
    with pytest.raises(TypeError, match="label tensor"):
        diagnose.shuffle_labels([1, 2, 3])


def test_shared_images_finds_exact_copies_only(digits):
    train = digits.images[:100]
    test = torch.cat([digits.images[100:150], train[[7, 42]]])
    test[0] = train[3]
    test[1] = train[5].clone()
    test[1, 0, 0, 0] ^= 1  # one bit off: not a copy
    assert diagnose.shared_images(train, test) == [(0, 3), (50, 7), (51, 42)]
    with pytest.raises(ValueError, match="same shape"):
        diagnose.shared_images(train, test[:, :, :10])


def test_find_duplicates_is_the_old_name_of_shared_images():
    """Chapter 11's recorded outputs print the old name; cnnlib.folders has its own, other one."""
    assert diagnose.find_duplicates is diagnose.shared_images
    assert folders.find_duplicates is not diagnose.shared_images


def test_the_diagnosis_plots():
    lrs = [10 ** (-5 + i / 10) for i in range(40)]
    losses = [2.3 - 0.02 * i for i in range(39)] + [float("inf")]
    fig = plots.plot_lr_range_test(lrs, losses, suggestion=1e-3)
    assert fig.axes[0].get_xscale() == "log"
    fig2 = plots.plot_loss_curves({"a": [1.0, 0.1], "b": [1.0, 0.9]}, log=True)
    assert len(fig2.axes[0].lines) == 2
    plt.close("all")
    with pytest.raises(ValueError):
        plots.plot_loss_curves({})


def test_saturated_fraction_measures_the_inputs_beyond_the_threshold_per_unit():
    torch.manual_seed(0)
    layer = nn.Linear(4, 1000)
    model = nn.Sequential(layer, nn.Tanh(), nn.Linear(1000, 3), nn.Sigmoid()).train()
    batch = (torch.randn(64, 4), torch.zeros(64, dtype=torch.long))
    with torch.no_grad():
        layer.weight.fill_(0.0), layer.bias.fill_(0.5)  # every input to the tanh is 0.5
    shares = diagnose.saturated_fraction(model, batch)
    assert list(shares) == ["1", "3"] and shares["1"] == 0.0
    with torch.no_grad():
        layer.bias.fill_(-3.0)  # every input is -3: all saturated
    assert diagnose.saturated_fraction(model, batch)["1"] == 1.0
    assert diagnose.saturated_fraction(model, batch, threshold=4.0)["1"] == 0.0
    assert model.training  # the mode is restored


def test_saturated_fraction_needs_a_saturating_unit_and_a_positive_threshold():
    batch = (torch.randn(2, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="no nn.Tanh or nn.Sigmoid"):
        diagnose.saturated_fraction(nn.Sequential(nn.Linear(4, 2), nn.ReLU()), batch)
    with pytest.raises(ValueError, match="threshold must be positive"):
        diagnose.saturated_fraction(nn.Sequential(nn.Tanh()), batch, threshold=0)


def _chapter8_steps_after_decay(seed, loader, warm_up, after):
    """Chapter 9's cell as it was before the function moved to cnnlib.diagnose (its
    committed full-mode outputs were made by this code)."""
    import cnnlib
    import torch.nn.functional as F
    from cnnlib.models import get_model
    cnnlib.seed_everything(seed)
    net = get_model("resnet20")
    adam = torch.optim.Adam(net.parameters(), lr=1e-3)
    batches = (batch for _ in range(3) for batch in loader)  # 3 epochs
    for _ in range(warm_up):
        x, y = next(batches)
        adam.zero_grad()
        F.cross_entropy(net(x), y).backward()
        adam.step()
    following = [next(batches) for _ in range(after)]
    sizes = {}
    for label in ("same Adam, rate / 3", "new Adam at rate / 3"):
        trial = get_model("resnet20")
        trial.load_state_dict(net.state_dict())
        optimizer = torch.optim.Adam(trial.parameters(), lr=1e-3 / 3)
        if label.startswith("same"):
            optimizer.load_state_dict(adam.state_dict())
            for group in optimizer.param_groups:
                group["lr"] = 1e-3 / 3
        sizes[label] = []
        for x, y in following:
            before = torch.cat([p.detach().flatten().clone() for p in trial.parameters()])
            optimizer.zero_grad()
            F.cross_entropy(trial(x), y).backward()
            optimizer.step()
            after_step = torch.cat([p.detach().flatten() for p in trial.parameters()])
            sizes[label].append((after_step - before).norm().item())
    return sizes


def test_update_sizes_after_decay_is_chapter_8s_cell_bit_for_bit():
    from cnnlib.models import get_model
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 256, (24, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (24,), generator=g)
    loader = TensorLoader(x, y, batch_size=8, shuffle=True, num_classes=10)
    start = loader.state_dict()  # the loader's own shuffling moves on with every epoch
    for seed in (0, 1):
        loader.load_state_dict(start)
        old = _chapter8_steps_after_decay(seed, loader, warm_up=2, after=4)
        loader.load_state_dict(start)
        batches = (batch for _ in range(3) for batch in loader)
        new = diagnose.update_sizes_after_decay(lambda: get_model("resnet20"), batches,
                                                seed=seed, warm_up=2, after=4)
        assert new == old  # the same floats, the same labels
    first = [new[k][0] for k in new]
    assert first[1] > first[0]  # a new Adam's first step is the larger one
    with pytest.raises(ValueError, match="after must be a positive int"):
        diagnose.update_sizes_after_decay(lambda: get_model("resnet20"), iter([]),
                                          warm_up=1, after=0)
