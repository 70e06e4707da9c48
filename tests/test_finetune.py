"""cnnlib.finetune: a new head, a body that stays frozen (batch norm included), and one-cycle
SGD with a peak rate per group; and the figure of per-seed points."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

import cnnlib
from cnnlib import finetune, plots
from cnnlib.models import get_model


def tiny_loader(n=16, classes=3):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return cnnlib.TensorLoader(images, torch.arange(n) % classes, batch_size=8,
                               mean=(0.5,) * 3, std=(0.25,) * 3)


def net(classes=3):
    torch.manual_seed(0)
    model = get_model("resnet20", num_classes=10)
    finetune.new_head(model, classes)
    return model


def test_new_head_fits_the_body_and_the_classes():
    model = net(3)
    assert isinstance(model.fc, nn.Linear)
    assert (model.fc.in_features, model.fc.out_features) == (64, 3)
    with pytest.raises(ValueError, match="last nn.Linear"):
        finetune.new_head(nn.Sequential(nn.Conv2d(3, 4, 3)), 3)
    with pytest.raises(ValueError, match="num_classes"):
        finetune.new_head(model, 0)


def test_freeze_keeps_weights_and_batch_norm_statistics():
    model, loader = net(), tiny_loader()
    frozen = finetune.freeze(model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"]
    assert frozen == sum(p.numel() for p in model.parameters()) - 64 * 3 - 3
    body = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    head = model.fc.weight.clone()
    optimizer, scheduler = finetune.one_cycle_groups(model, loader, 1, head_lr=0.1)
    cnnlib.fit(model, loader, epochs=1, optimizer=optimizer, scheduler=scheduler,
               scheduler_per_batch=True, progress=False)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in body.items()
               if not k.endswith("num_batches_tracked"))
    assert not torch.equal(model.fc.weight, head)


def test_requires_grad_alone_does_not_freeze_batch_norm():
    """The trap freeze() closes, and the own-data chapter's exercise shows."""
    model, loader = net(), tiny_loader()
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("fc."))
    before = model.bn1.running_mean.clone()
    model.train()
    model(next(iter(loader))[0])
    assert not torch.equal(model.bn1.running_mean, before)


def test_one_cycle_groups_gives_each_group_its_peak_rate():
    model, loader = net(), tiny_loader()
    optimizer, scheduler = finetune.one_cycle_groups(model, loader, 4, head_lr=0.1,
                                                     body_lr=0.01)
    assert [g["max_lr"] for g in optimizer.param_groups] == [0.01, 0.1]
    body, head = optimizer.param_groups
    assert len(head["params"]) == 2
    assert len(body["params"]) + 2 == len(list(model.parameters()))
    with pytest.raises(ValueError, match="body_lr is None"):
        finetune.one_cycle_groups(model, loader, 1, head_lr=0.1)
    finetune.freeze(model)
    with pytest.raises(ValueError, match="body is frozen"):
        finetune.one_cycle_groups(model, loader, 1, head_lr=0.1, body_lr=0.01)
    optimizer, _ = finetune.one_cycle_groups(model, loader, 1, head_lr=0.1)
    assert len(optimizer.param_groups) == 1
    with pytest.raises(ValueError, match="head_lr"):
        finetune.one_cycle_groups(model, loader, 1, head_lr=0)


def test_plot_seed_points_draws_every_seed():
    results = {"a": {10: [50.0, 52.0, 51.0], 50: [60.0, 61.0, 62.0]},
               "b": {10: [40.0, 41.0, 42.0], 50: [70.0, 71.0, 69.0]}}
    fig = plots.plot_seed_points(results, "images per class", "accuracy (%)", log_x=True)
    assert isinstance(fig, Figure)
    points = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
    assert points == 12
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one value"):
        plots.plot_seed_points({"a": {10: []}}, "x", "y")


def test_unfreeze_undoes_freeze_and_freezing_twice_adds_no_hook():
    """Stage two of a fine-tuning: requires_grad_(True) alone left every BN layer held in
    eval mode, its running statistics fixed (finding 14 of a stranger's attack)."""
    model, loader = net(), tiny_loader()
    frozen = finetune.freeze(model)
    assert finetune.freeze(model) == frozen
    assert all(len(m._forward_pre_hooks) == 1 for m in model.modules()
               if isinstance(m, nn.BatchNorm2d))
    images = next(iter(loader))[0]
    model.train()
    before = model.bn1.running_mean.clone()
    model(images)
    assert torch.equal(model.bn1.running_mean, before) and not model.bn1.training
    assert finetune.unfreeze(model) == frozen
    assert all(p.requires_grad for p in model.parameters())
    assert not any(finetune._held(m) for m in model.modules())
    assert model.bn1.training
    model(images)
    assert not torch.equal(model.bn1.running_mean, before)
    assert finetune.unfreeze(model) == 0  # nothing left to undo
    model.eval()
    assert not model.bn1.training  # the mode follows eval() again


def test_unfreeze_a_part_of_the_body():
    model = net()
    finetune.freeze(model)
    model.train()
    thawed = finetune.unfreeze(model.layer3)
    assert thawed == sum(p.numel() for p in model.layer3.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())
    assert not any(p.requires_grad for p in model.layer2.parameters())
    assert all(m.training for m in model.layer3.modules())
    assert finetune._held(model.layer2[0].bn1) and finetune._held(model.bn1)
    assert not any(finetune._held(m) for m in model.layer3.modules())
    with pytest.raises(TypeError, match="nn.Module"):
        finetune.unfreeze([model])


def test_one_cycle_groups_refuses_a_body_faster_than_the_head():
    """Swapped positional rates had been accepted silently (finding 17)."""
    model, loader = net(), tiny_loader()
    with pytest.raises(ValueError, match=r"body_lr=0\.2 is larger than head_lr=0\.01.*swap"):
        finetune.one_cycle_groups(model, loader, 1, 0.01, 0.2)
    optimizer, _ = finetune.one_cycle_groups(model, loader, 1, 0.05, 0.05)  # equal is fine
    assert [g["max_lr"] for g in optimizer.param_groups] == [0.05, 0.05]
