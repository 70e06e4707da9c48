"""The from-scratch layers against PyTorch's, including the mistakes they must not make."""

import math

import pytest
import torch
from torch import nn

from cnnlib.layers import BatchNorm2d, Dropout, LocalResponseNorm

# ----------------------------------------------------------------------------- LocalResponseNorm

SHAPES = [(2, 8, 5, 5), (1, 2, 4, 4), (3, 16, 3, 7), (2, 6, 10)]  # incl. fewer channels than size


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("shape", SHAPES)
def test_lrn_equals_pytorch_with_alpha_times_size(size, shape):
    torch.manual_seed(0)
    x = torch.randn(shape) * 3
    alpha, beta, k = 1e-2, 0.75, 2.0  # a large alpha so the normalisation matters
    ours = LocalResponseNorm(size, alpha, beta, k)(x)
    theirs = nn.LocalResponseNorm(size, alpha * size, beta, k)(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [3, 5, 7])
def test_lrn_differs_from_pytorch_with_same_alpha(size):
    """PyTorch divides alpha by n; a layer copying its alpha would fail here."""
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 5) * 3
    ours = LocalResponseNorm(size, 1e-2, 0.75, 2.0)(x)
    theirs = nn.LocalResponseNorm(size, 1e-2, 0.75, 2.0)(x)
    assert not torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_lrn_paper_formula_by_hand():
    """b_i = a_i / (k + alpha * sum of a_j^2 over the clipped window) ** beta, by hand."""
    torch.manual_seed(1)
    x = torch.randn(1, 7, 2, 2)
    n, alpha, beta, k = 5, 0.1, 0.75, 2.0
    expected = torch.empty_like(x)
    for i in range(7):
        lo, hi = max(0, i - n // 2), min(6, i + n // 2)
        energy = (x[:, lo:hi + 1] ** 2).sum(1)
        expected[:, i] = x[:, i] / (k + alpha * energy) ** beta
    torch.testing.assert_close(LocalResponseNorm(n, alpha, beta, k)(x), expected)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_lrn_within_channel_matches_naive_loop(size):
    torch.manual_seed(2)
    x = torch.randn(1, 2, 4, 5)
    alpha, beta, k = 0.1, 0.75, 2.0
    before, after = size // 2, (size - 1) // 2
    expected = torch.empty_like(x)
    for c in range(2):
        for i in range(4):
            for j in range(5):
                rows = range(max(0, i - before), min(3, i + after) + 1)
                cols = range(max(0, j - before), min(4, j + after) + 1)
                energy = sum(x[0, c, r, q] ** 2 for r in rows for q in cols)
                expected[0, c, i, j] = x[0, c, i, j] / (k + alpha * energy) ** beta
    ours = LocalResponseNorm(size, alpha, beta, k, across_channels=False)(x)
    torch.testing.assert_close(ours, expected)


def test_lrn_defaults_are_the_papers():
    lrn = LocalResponseNorm()
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k, lrn.across_channels) == (5, 1e-4, 0.75, 2.0, True)


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_lrn_rejects_bad_size(size):
    with pytest.raises(ValueError, match="size must be a positive int"):
        LocalResponseNorm(size=size)


def test_lrn_rejects_negative_alpha_and_k():
    with pytest.raises(ValueError, match="alpha"):
        LocalResponseNorm(alpha=-1e-4)
    with pytest.raises(ValueError, match="k must be"):
        LocalResponseNorm(k=-1)


def test_lrn_rejects_inputs_without_channels():
    with pytest.raises(ValueError, match="N x C"):
        LocalResponseNorm()(torch.randn(5))
    with pytest.raises(ValueError, match="N x C x H x W"):
        LocalResponseNorm(across_channels=False)(torch.randn(2, 3, 4))


# ----------------------------------------------------------------------------- Dropout

def test_dropout_eval_is_identity():
    x = torch.randn(100)
    layer = Dropout(0.5).eval()
    assert torch.equal(layer(x), x)
    assert torch.equal(nn.Dropout(0.5).eval()(x), x)  # same as PyTorch's


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_train_keeps_about_one_minus_p_scaled(p):
    torch.manual_seed(0)
    n = 10**6
    x = torch.rand(n) + 0.5  # strictly positive, so a zero output means "dropped"
    y = Dropout(p).train()(x)
    kept = y != 0
    std = math.sqrt(n * p * (1 - p))  # binomial standard deviation of the kept count
    assert abs(kept.sum().item() - n * (1 - p)) < 5 * std
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    # Expectation preserved: the mean of the output is the mean of the input.
    assert abs(y.mean().item() - x.mean().item()) < 0.01


@pytest.mark.parametrize("layer", [Dropout(0.3), nn.Dropout(0.3)], ids=["ours", "pytorch"])
def test_dropout_train_is_zero_or_scaled_like_pytorch(layer):
    torch.manual_seed(0)
    x = torch.rand(10_000) + 0.5
    y = layer.train()(x)
    scaled = torch.isclose(y, x / 0.7)
    assert torch.all((y == 0) | scaled)
    assert 0 < scaled.sum() < len(x)


def test_dropout_p0_is_identity_in_training():
    x = torch.randn(1000)
    assert torch.equal(Dropout(0.0).train()(x), x)


@pytest.mark.parametrize("p", [1.0, 1, -0.1, 1.5, "0.5"])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        Dropout(p)


def test_dropout_p1_message_explains():
    with pytest.raises(ValueError, match="got 1.0: p is the probability of dropping a unit; "
                                         "p=1 would drop everything"):
        Dropout(1.0)


@pytest.mark.parametrize("across_channels", [True, False])
def test_lrn_gradients(across_channels):
    torch.manual_seed(3)
    x = torch.randn(1, 4, 3, 3, dtype=torch.double, requires_grad=True)
    layer = LocalResponseNorm(3, 0.1, 0.75, 2.0, across_channels=across_channels)
    assert torch.autograd.gradcheck(layer, (x,))


# --- BatchNorm2d, written out, against nn.BatchNorm2d -----------------------------------------




def _pair_of_batchnorms(channels=3):
    ours, theirs = BatchNorm2d(channels), nn.BatchNorm2d(channels)
    with torch.no_grad():
        for bn in (ours, theirs):
            bn.weight.copy_(torch.tensor([1.5, 0.5, 2.0][:channels]))
            bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3][:channels]))
    return ours, theirs


def test_batchnorm_training_mode_matches_pytorch_outputs_gradients_and_running_stats():
    torch.manual_seed(0)
    ours, theirs = _pair_of_batchnorms()
    for step in range(5):
        x = torch.randn(8, 3, 5, 5) * (step + 1) + step
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_ours, out_theirs = ours(a), theirs(b)
        torch.testing.assert_close(out_ours, out_theirs, rtol=1e-5, atol=1e-5)
        (out_ours * torch.arange(3).view(1, 3, 1, 1)).sum().backward()
        (out_theirs * torch.arange(3).view(1, 3, 1, 1)).sum().backward()
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    assert ours.num_batches_tracked == theirs.num_batches_tracked == 5


def test_batchnorm_evaluation_mode_uses_the_running_statistics_like_pytorch():
    torch.manual_seed(1)
    ours, theirs = _pair_of_batchnorms()
    batch = torch.randn(16, 3, 4, 4) * 3 + 2
    for bn in (ours, theirs):
        bn(batch)
        bn.eval()
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    single = torch.randn(1, 3, 4, 4)  # evaluation does not depend on the rest of the batch
    torch.testing.assert_close(ours(single), ours(torch.cat([single, x]))[:1])


def test_batchnorm_state_dicts_load_both_ways():
    ours, theirs = _pair_of_batchnorms()
    theirs(torch.randn(4, 3, 2, 2))
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    assert set(ours.state_dict()) == set(theirs.state_dict())


def test_batchnorm_training_on_one_value_per_channel_is_a_clear_error():
    bn = BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"more than one value per channel.*model\.eval\(\)"):
        bn(torch.randn(1, 3, 1, 1))
    with pytest.raises(ValueError):  # PyTorch refuses the same batch
        nn.BatchNorm2d(3)(torch.randn(1, 3, 1, 1))
    bn(torch.randn(1, 3, 2, 2))  # one image, but four values per channel: allowed
    bn.eval()
    assert bn(torch.randn(1, 3, 1, 1)).shape == (1, 3, 1, 1)


@pytest.mark.parametrize("bad", [0, -2, 2.5, True])
def test_batchnorm_needs_a_channel_count(bad):
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm2d(bad)
