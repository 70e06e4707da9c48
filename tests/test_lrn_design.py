"""The LRN design (chapter 4): two arms that differ only in the two normalisation layers."""

from __future__ import annotations

import torch

from cnnlib import experiments
from cnnlib.arithmetic import count_params
from cnnlib.layers import LocalResponseNorm


def test_the_arms_differ_only_in_the_normalisation_and_start_as_the_paper(data_dir):
    exp = experiments.get_experiment("lrn")
    torch.manual_seed(0)
    none, lrn = exp.build("none"), exp.build("lrn")
    assert count_params(none) == count_params(lrn)
    assert sum(isinstance(m, LocalResponseNorm) for m in none.modules()) == 0
    assert sum(isinstance(m, LocalResponseNorm) for m in lrn.modules()) == 2
    conv = lrn.features[4]  # the second convolution, after conv, ReLU, LRN, pool
    assert abs(conv.weight.std().item() - 0.01) < 0.0005 and not conv.bias.any()
    same = {k: v for k, v in exp.hyper_for("lrn").items() if k != "lr"}
    assert same == {k: v for k, v in exp.hyper_for("none").items() if k != "lr"}
    assert (exp.hyper_for("none")["lr"], exp.hyper_for("lrn")["lr"]) == (0.003, 0.01)
    budget = experiments.Budget(256, 256, 1)
    for arm in exp.arms:
        train, _ = experiments.experiment_data(exp, budget, 0, torch.device("cpu"), arm)
        x, _ = next(iter(train))
        assert 40 < x.std().item() < 90  # pixel units, as the paper fed them
        assert not train.augment


def test_lrn_divisors_are_k_to_the_beta_for_quiet_maps_and_larger_for_loud_ones():
    from torch import nn

    from cnnlib import diagnose

    model = nn.Sequential(nn.ReLU(), LocalResponseNorm(), nn.ReLU(),
                          nn.LocalResponseNorm(5, 5e-4, 0.75, 2.0))
    model.train()
    quiet = torch.rand(2, 8, 4, 4)
    divisors = diagnose.lrn_divisors(model, quiet)
    assert list(divisors) == ["1", "3"] and model.training  # mode restored
    torch.testing.assert_close(divisors["1"].median(), torch.tensor(2 ** 0.75), rtol=1e-3,
                               atol=0)
    loud = diagnose.lrn_divisors(model, 200 * quiet)["1"]
    assert loud.median() > 2 * 2 ** 0.75  # alpha * sum a^2 now comparable with k
    expected = (2 + 1e-4 * 5 * 200.0 ** 2) ** 0.75  # five equal maps, all at 200
    flat = diagnose.lrn_divisors(model, torch.full((1, 5, 1, 1), 200.0))["1"]
    torch.testing.assert_close(flat[2], torch.tensor(expected))  # the middle map
    try:
        diagnose.lrn_divisors(nn.Sequential(nn.ReLU()), quiet)
    except ValueError as error:
        assert "no local response normalisation" in str(error)
    else:
        raise AssertionError("a model without LRN was accepted")
