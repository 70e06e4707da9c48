"""cnnlib.checkpoint: a saved run comes back whole, a save is all or nothing, a load runs
no code."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import cnnlib

from cnnlib import checkpoint as ckpt
from cnnlib.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from cnnlib.loader import TensorLoader
from cnnlib.train import History


def parts(seed: int = 0):
    """A model with momentum state, a scheduler that has stepped, and an augmenting loader."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    images = torch.randint(0, 256, (20, 1, 4, 4), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))  # the same data always
    loader = TensorLoader(images, torch.arange(20) % 3, batch_size=8, augment=True, padding=1,
                          seed=seed)
    return model, optimizer, scheduler, loader


def train_a_little(model, optimizer, scheduler, loader):
    for x, y in loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    scheduler.step()


def draws(loader) -> list:
    """The next numbers from every generator a resumed run depends on."""
    return [random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(),
            [x.tolist() for x, _ in loader]]


HISTORY = History([{"epoch": 1, "train_loss": 1.5, "train_acc": 0.25, "lr": 0.1, "seconds": 0.5},
                   {"epoch": 2, "train_loss": 1.25, "train_acc": 0.5, "lr": 0.05, "seconds": 0.5}])


def test_round_trip_restores_model_optimizer_scheduler_history_and_every_rng(tmp_path):
    model, optimizer, scheduler, loader = parts()
    train_a_little(model, optimizer, scheduler, loader)
    path = save_checkpoint(tmp_path / "run.pt", model=model, optimizer=optimizer,
                           scheduler=scheduler, epoch=2, history=HISTORY, loaders=[loader],
                           extra={"note": "hello", "sizes": [1, 2]})
    expected = draws(loader)  # what comes next after the save

    fresh, fresh_opt, fresh_sched, fresh_loader = parts(seed=1)  # other weights, other RNG
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    epoch, history = load_checkpoint(path, model=fresh, optimizer=fresh_opt,
                                     scheduler=fresh_sched, loaders=[fresh_loader])
    assert epoch == 2 and isinstance(history, History) and history.rows == HISTORY.rows
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    assert fresh_opt.state_dict()["param_groups"] == optimizer.state_dict()["param_groups"]
    for a, b in zip(optimizer.state.values(), fresh_opt.state.values()):
        assert torch.equal(a["momentum_buffer"], b["momentum_buffer"])
    assert fresh_sched.state_dict() == scheduler.state_dict()
    assert fresh_opt.param_groups[0]["lr"] == pytest.approx(0.05)
    assert draws(fresh_loader) == expected
    assert read_checkpoint(path)["extra"] == {"note": "hello", "sizes": [1, 2]}


def test_the_file_holds_only_what_weights_only_loading_accepts(tmp_path):
    model, optimizer, scheduler, loader = parts()
    train_a_little(model, optimizer, scheduler, loader)
    path = save_checkpoint(tmp_path / "run.pt", model=model, optimizer=optimizer,
                           scheduler=scheduler, epoch=1, history=HISTORY, loaders=[loader])
    state = torch.load(path, weights_only=True)  # would raise on any pickled object
    assert state["format"] == "cnnlib.checkpoint" and state["epoch"] == 1
    assert set(state["rng"]) >= {"python", "numpy", "torch", "cuda"}
    assert all(type(value) in (int, float) for row in state["history"] for value in row.values())


def test_only_model_and_epoch_are_required(tmp_path):
    model, *_ = parts()
    save_checkpoint(tmp_path / "sub" / "m.pt", model=model, epoch=0, history=[])
    fresh, *_ = parts(seed=3)
    assert load_checkpoint(tmp_path / "sub" / "m.pt", model=fresh) == (0, History())
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters()))


def test_history_numbers_are_stored_as_plain_python_numbers(tmp_path):
    model, *_ = parts()
    rows = [{"epoch": 1, "train_loss": torch.tensor(0.5), "test_acc": np.float64(0.25)}]
    save_checkpoint(tmp_path / "m.pt", model=model, epoch=1, history=rows)
    _, history = load_checkpoint(tmp_path / "m.pt", model=model)
    assert history.rows == [{"epoch": 1, "train_loss": 0.5, "test_acc": 0.25}]
    assert type(history.rows[0]["train_loss"]) is float


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_a_save_that_fails_half_way_keeps_the_previous_checkpoint(tmp_path, monkeypatch, failure):
    model, *_ = parts()
    path = save_checkpoint(tmp_path / "run.pt", model=model, epoch=1, history=HISTORY)
    before = path.read_bytes()
    real_save = torch.save

    def save_then_fail(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)
        file.truncate(100)  # half a file on disk...
        raise failure  # ...and then the crash

    monkeypatch.setattr(torch, "save", save_then_fail)
    with pytest.raises(type(failure)):
        save_checkpoint(path, model=model, epoch=2, history=HISTORY)
    assert path.read_bytes() == before  # the old checkpoint, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # no temporary file left
    monkeypatch.undo()
    assert load_checkpoint(path, model=model)[0] == 1


def test_a_save_replaces_the_file_in_one_rename(tmp_path, monkeypatch):
    model, *_ = parts()
    replaced = []
    real_replace = ckpt.os.replace
    monkeypatch.setattr(ckpt.os, "replace",
                        lambda src, dst: (replaced.append((src, dst)), real_replace(src, dst)))
    path = save_checkpoint(tmp_path / "run.pt", model=model, epoch=3, history=[])
    (src, dst), = replaced
    assert str(dst) == str(path) and str(src).startswith(str(tmp_path / ".run.pt."))


called = []


def record_call(*args):
    called.append(args)
    return "ran"


class Payload:
    """Unpickling this calls ``record_call``: what a malicious file would do with ``os.system``."""

    def __reduce__(self):
        return record_call, ("code from the file",)


def test_a_file_with_arbitrary_objects_is_refused_and_nothing_in_it_runs(tmp_path):
    path = tmp_path / "untrusted.pt"
    torch.save({"model": Payload()}, path)
    model, *_ = parts()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model=model)
    message = str(info.value)
    assert str(path) in message and "arbitrary Python objects" in message
    assert "execute code" in message and "weights_only=False" in message
    assert "trust" in message
    assert isinstance(info.value, ValueError)  # CheckpointError is a ValueError
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)
    assert called == []  # refused before anything in the file ran
    assert torch.load(path, weights_only=False) == {"model": "ran"}  # what trusting it would do
    called.clear()


def test_missing_file_is_a_file_not_found_error_with_the_path(tmp_path):
    model, *_ = parts()
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing_here.pt"):
        load_checkpoint(tmp_path / "nothing_here.pt", model=model)


def test_truncated_or_foreign_files_are_explained(tmp_path):
    model, *_ = parts()
    path = save_checkpoint(tmp_path / "run.pt", model=model, epoch=1, history=[])
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable torch file .truncated or damaged"):
        load_checkpoint(path, model=model)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="not a cnnlib checkpoint.*model.load_state_dict"):
        load_checkpoint(tmp_path / "weights.pt", model=model)


def test_a_checkpoint_of_another_model_or_other_loaders_is_refused(tmp_path):
    model, optimizer, scheduler, loader = parts()
    path = save_checkpoint(tmp_path / "run.pt", model=model, epoch=1, history=[], loaders=[loader])
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_checkpoint(path, model=nn.Linear(2, 2), loaders=[loader])
    with pytest.raises(CheckpointError, match="state of 1 loader.* but 2 were given"):
        load_checkpoint(path, model=model, loaders=[loader, loader])


def test_bad_arguments_fail_at_the_call(tmp_path):
    model, *_ = parts()
    with pytest.raises(ValueError, match="epoch must be a non-negative int, got -1"):
        save_checkpoint(tmp_path / "a.pt", model=model, epoch=-1, history=[])
    with pytest.raises(TypeError, match="extra may hold only tensors.*got a Payload"):
        save_checkpoint(tmp_path / "a.pt", model=model, epoch=1, history=[],
                        extra={"x": [Payload()]})
    assert not (tmp_path / "a.pt").exists()


def test_diverged_weights_are_not_saved_over_a_good_checkpoint(tmp_path):
    model, *_ = parts()
    path = save_checkpoint(tmp_path / "run.pt", model=model, epoch=1, history=[])
    before = path.read_bytes()
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    with pytest.raises(FloatingPointError,
                       match=r"not saving .*run.pt: the model's 1.weight holds NaN"):
        save_checkpoint(path, model=model, epoch=2, history=[])
    assert path.read_bytes() == before


def test_checkpoint_path_is_checkpoints_here_or_CNNLIB_CHECKPOINTS(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNLIB_CHECKPOINTS", raising=False)
    assert cnnlib.checkpoint_path("04_alexnet.pt") == Path("checkpoints") / "04_alexnet.pt"
    monkeypatch.setenv("CNNLIB_CHECKPOINTS", str(tmp_path / "drive"))
    assert cnnlib.checkpoint_path("04_alexnet.pt") == tmp_path / "drive" / "04_alexnet.pt"
    for bad in ("", "../04.pt", "sub/04.pt"):
        with pytest.raises(ValueError, match="CNNLIB_CHECKPOINTS"):
            cnnlib.checkpoint_path(bad)
