"""cnnlib.train: fit learns a real task, measures honestly, fails loudly, and repeats bit for bit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlib.data import load_data
from cnnlib.settings import RunSettings, seed_everything
import cnnlib
from cnnlib.train import History, epochs_to_reach, evaluate, fit, predict

CPU = torch.device("cpu")
KEYS = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}


@pytest.fixture(scope="module")
def mnist(data_dir):
    """Quick mode's real MNIST subset: 2048 training and 1024 test images."""
    return load_data("mnist", RunSettings("quick", CPU, seed=0), batch_size=64, root=data_dir)


@pytest.fixture(scope="module")
def small(data_dir):
    """256 training images in 4 batches of 64, for tests about the loop, not about learning."""
    return load_data("mnist", RunSettings("quick", CPU, seed=0), batch_size=64, train_size=256,
                     test_size=128, root=data_dir)


def mlp(dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(64, 10))


def test_fit_learns_mnist_in_quick_mode(mnist):
    # Measured: 0.90 test accuracy after 3 epochs (untrained: ~0.14; lr 1e-4: ~0.30).
    seed_everything(0)
    model = mlp()
    history = fit(model, mnist.train, mnist.test, epochs=3, lr=0.05, progress=False)
    assert history.last["test_acc"] > 0.85
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history.last["test_loss"] < 0.5


def test_history_rows_hold_every_measurement(small):
    seed_everything(0)
    history = fit(mlp(), small.train, small.test, epochs=2, lr=0.05, progress=False)
    assert len(history) == 2 and history["epoch"] == [1, 2]
    for row in history.rows:
        assert set(row) == KEYS
        assert 0 <= row["train_acc"] <= 1 and 0 <= row["test_acc"] <= 1
        assert row["train_loss"] > 0 and row["seconds"] > 0 and row["lr"] == 0.05
    assert history.best("test_acc")["test_acc"] == max(history["test_acc"])
    assert history.last is history.rows[-1]
    table = repr(history).splitlines()
    assert len(table) == 3 and "test_acc" in table[0] and table[2].split()[0] == "2"
    without_test = fit(mlp(), small.train, epochs=1, progress=False)
    assert set(without_test.last) == KEYS - {"test_loss", "test_acc"}
    assert History().last == {} and len(History()) == 0


def test_history_train_numbers_are_what_the_epoch_measured(small):
    """Train loss/acc are the means over the epoch's batches, as the model was at each batch."""
    seen = []

    def recording_loss(logits, y, **kwargs):
        loss = nn.functional.cross_entropy(logits, y, **kwargs)
        seen.append((loss.item() * len(y), (logits.argmax(1) == y).sum().item(), len(y)))
        return loss

    seed_everything(0)
    history = fit(mlp(), small.train, epochs=2, lr=0.05, loss_fn=recording_loss, progress=False)
    for epoch, row in zip((seen[:4], seen[4:]), history.rows):
        assert sum(n for *_, n in epoch) == 256
        assert row["train_loss"] == pytest.approx(sum(s for s, _, _ in epoch) / 256, rel=1e-5)
        assert row["train_acc"] == sum(c for _, c, _ in epoch) / 256


def test_evaluate_leaves_the_model_in_eval_mode_without_gradients(small):
    seed_everything(0)
    model = mlp(dropout=0.5)
    model.train()
    grad_enabled = []
    model.register_forward_hook(lambda m, i, o: grad_enabled.append(torch.is_grad_enabled()))
    first = evaluate(model, small.test)
    assert not model.training and not any(m.training for m in model.modules())
    assert grad_enabled and not any(grad_enabled)
    assert torch.is_grad_enabled()  # switched off inside evaluate only
    assert all(p.grad is None for p in model.parameters())
    model.train()
    assert evaluate(model, small.test) == first  # dropout is off: the same numbers every time
    assert set(first) == {"loss", "acc"} and 0 <= first["acc"] <= 1


def test_evaluate_and_predict_agree_with_a_computation_by_hand(small):
    seed_everything(0)
    model = mlp()
    result = evaluate(model, small.test)
    x = torch.cat([x for x, _ in small.test])
    y = torch.cat([y for _, y in small.test])
    with torch.no_grad():
        logits = model(x)
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert result["acc"] == (logits.argmax(1) == y).float().mean().item()
    preds, labels = predict(model, small.test)
    assert preds.device.type == "cpu" and torch.equal(labels, y)
    assert torch.equal(preds, logits.argmax(1))


@pytest.mark.parametrize("epochs", [-1, 1.5, "3"])
def test_fit_rejects_bad_epochs(small, epochs):
    with pytest.raises(ValueError, match="epochs must be a non-negative int"):
        fit(mlp(), small.train, epochs=epochs, progress=False)


def test_fit_with_zero_epochs_changes_nothing(small):
    model = mlp()
    before = [p.clone() for p in model.parameters()]
    assert len(fit(model, small.train, epochs=0, progress=False)) == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_exploding_learning_rate_is_a_floating_point_error(small):
    seed_everything(0)
    with pytest.raises(FloatingPointError, match=r"in epoch \d+.*learning rate 1e\+06") as info:
        fit(mlp(), small.train, epochs=3, lr=1e6, progress=False)
    assert "Lower the learning rate" in str(info.value)


class InfiniteLogits(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(784, 10)

    def forward(self, x):
        return self.linear(x.flatten(1)) * float("inf")


def test_a_model_producing_inf_fails_in_the_first_epoch(small):
    expected = r"became nan in epoch 1, by step 1, at learning rate 0\.01"
    with pytest.raises(FloatingPointError, match=expected):
        fit(InfiniteLogits(), small.train, epochs=2, progress=False)


def test_scheduler_steps_once_per_epoch(small):
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, small.train, epochs=3, optimizer=optimizer, scheduler=scheduler,
                  progress=False)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_scheduler_steps_once_per_batch(small):
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    steps = len(small.train)
    assert steps == 4
    history = fit(model, small.train, epochs=2, optimizer=optimizer, scheduler=scheduler,
                  scheduler_per_batch=True, progress=False)
    assert history["lr"] == pytest.approx([0.1, 0.1 * 0.9**steps])  # lr at each epoch's start
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9 ** (2 * steps))


def test_given_optimizer_is_the_one_used(small):
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(model, small.train, epochs=1, optimizer=optimizer, progress=False)
    assert optimizer.state[next(model.parameters())]["step"] == len(small.train)


def test_callbacks_run_after_every_epoch(small):
    calls = []
    history = fit(mlp(), small.train, small.test, epochs=3, progress=False,
                  callbacks=[lambda epoch, h: calls.append((epoch, len(h), h.last["epoch"])),
                             lambda epoch, h: calls.append(("second", epoch))])
    assert calls == [(1, 1, 1), ("second", 1), (2, 2, 2), ("second", 2), (3, 3, 3), ("second", 3)]
    assert len(history) == 3


def run_once(data_dir):
    seed_everything(11)
    data = load_data("mnist", RunSettings("quick", CPU, seed=11), batch_size=64, train_size=512,
                     test_size=256, augment=True, root=data_dir)
    model = mlp(dropout=0.2)
    history = fit(model, data.train, data.test, epochs=2, lr=0.05, progress=False)
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]
    return rows, model.state_dict()


def test_same_seed_gives_identical_history_and_weights(data_dir):
    rows_a, weights_a = run_once(data_dir)
    rows_b, weights_b = run_once(data_dir)
    assert rows_a == rows_b  # exact float equality, not approx
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_epochs_to_reach_reads_the_first_epoch_past_a_threshold():
    rows = ((1, 0.4, 1.5), (2, 0.7, 0.9), (3, 0.65, 0.8), (4, 0.8, 0.5))
    history = History([{"epoch": e, "train_acc": a, "train_loss": l} for e, a, l in rows])
    assert epochs_to_reach(history, "train_acc", 0.7) == 2       # >= counts as reached
    assert epochs_to_reach(history, "train_acc", 0.75) == 4
    assert epochs_to_reach(history, "train_acc", 0.9) is None    # never, within the run
    assert epochs_to_reach(history, "train_loss", 0.85, below=True) == 3
    with pytest.raises(KeyError, match="test_acc"):
        epochs_to_reach(history, "test_acc", 0.5)


def test_predict_probs_mc_dropout_varies_but_keeps_batchnorm_in_eval():
    from cnnlib.loader import TensorLoader
    from cnnlib.train import predict_probs
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 16),
                                torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                cnnlib.layers.Dropout(0.5), torch.nn.Linear(16, 3))
    x = torch.randint(0, 256, (20, 3, 2, 2), dtype=torch.uint8)
    loader = TensorLoader(x, torch.arange(20) % 3, batch_size=8, shuffle=False)
    plain, labels = predict_probs(model, loader, passes=2)
    assert plain.shape == (2, 20, 3) and torch.equal(plain[0], plain[1])
    assert torch.equal(labels, torch.arange(20) % 3)
    assert torch.allclose(plain.sum(-1), torch.ones(2, 20))
    mc, _ = predict_probs(model, loader, passes=2, dropout=True)
    assert not torch.equal(mc[0], mc[1])
    bn = model[2]
    assert not bn.training and not model[4].training  # everything back in eval mode
    assert bn.num_batches_tracked.item() == 0          # BatchNorm never used batch statistics


def test_predict_probs_refuses_mc_dropout_without_dropout():
    from cnnlib.train import predict_probs
    with pytest.raises(ValueError, match="no dropout layer"):
        predict_probs(torch.nn.Linear(2, 2), [(torch.zeros(1, 2), torch.zeros(1))], dropout=True)
    with pytest.raises(ValueError, match="passes must be a positive int"):
        predict_probs(torch.nn.Linear(2, 2), [], passes=0)


def test_spread_reports_mean_sd_range_and_runs_that_never_reached():
    from cnnlib.history import spread

    assert spread([1, 2, 3]) == "2.0 ± 1.0 (1.0 to 3.0, 3 runs)"
    assert spread([0.8, 0.82], "{:.1%}") == "81.0% ± 1.4% (80.0% to 82.0%, 2 runs)"
    assert spread([5]) == "5.0"
    assert spread([4, None, 6]) == "5.0 ± 1.4 (4.0 to 6.0, 2 runs); never in 1 of 3 runs"
    assert spread([None, None]) == "never (2 of 2 runs)"
    assert spread([0.8, 0.82], "{:.1%}", short=True) == "81.0% ± 1.4%"
    assert spread([4, None, 6], short=True) == "5.0 ± 1.4 (1 of 3 never)"
    with pytest.raises(ValueError):
        spread([])


def test_without_ipywidgets_the_progress_bar_is_tqdms_text_bar():
    """tqdm.auto in a notebook without ipywidgets warns 'IProgress not found'; cnnlib
    takes the text bar instead (Colab has ipywidgets, a bare Jupyter may not)."""
    import subprocess
    import sys
    code = ("import importlib.util, sys\n"
            "real = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda name, *a: None if name == 'ipywidgets' "
            "else real(name, *a)\n"
            "import cnnlib.train\n"
            "print(cnnlib.train.tqdm.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "tqdm.std"


def test_chapter_3s_loop_written_out_and_fit_give_the_same_weights():
    """Chapter 3 writes the training loop out in plain PyTorch and says fit runs it: one
    epoch of each, from the same seed on the same batches, must give identical weights."""
    import json
    import types
    from pathlib import Path

    from cnnlib.loader import TensorLoader
    from cnnlib.models import get_model
    from cnnlib.optim import one_cycle
    chapter = Path(__file__).resolve().parent.parent / "chapters" / "03_lenet5.ipynb"
    cell = next(c for c in json.loads(chapter.read_text())["cells"]
                if c.get("id") == "loop-code")
    page = {"torch": torch, "F": torch.nn.functional,
            "run": types.SimpleNamespace(device=CPU)}
    exec("".join(cell["source"]), page)
    generator = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (96, 1, 32, 32), generator=generator,
                           dtype=torch.uint8)
    labels = torch.randint(0, 10, (96,), generator=generator)
    loader = TensorLoader(images, labels, batch_size=32, seed=5)
    start = loader.state_dict()
    nets = []
    for by_hand in (True, False):
        torch.manual_seed(0)
        loader.load_state_dict(start)
        net = get_model("lenet5")
        optimizer, scheduler = one_cycle(net, loader, 1, max_lr=0.05)
        if by_hand:
            page["train_one_epoch"](net, loader, optimizer, scheduler)
        else:
            fit(net, loader, epochs=1, optimizer=optimizer, scheduler=scheduler,
                scheduler_per_batch=True, progress=False)
        nets.append(net)
    for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values()):
        assert torch.equal(a, b)
    assert page["accuracy"](nets[0], loader) == page["accuracy"](nets[1], loader)
