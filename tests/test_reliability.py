"""Reliability: nothing lost on interruption, repeatable runs, clear errors for bad input.

The training tests use a tiny network (a convolution, dropout, a linear layer) on 384 real MNIST
digits, with a StepLR scheduler and an augmenting loader, so every random generator a run
depends on is exercised: the loader's (shuffles, crops, flips) and torch's (dropout).
The last test re-runs every example of ``book/when_things_go_wrong.md`` and compares its output
with the text printed on the page.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import sys
import traceback
import types
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from torch import nn

import cnnlib
from cnnlib import checkpoint as ckpt
from cnnlib.arithmetic import conv_output_size
from cnnlib.checkpoint import read_checkpoint
from cnnlib.data import DatasetUnavailableError, load_data, load_tensors, subset
from cnnlib.layers import Dropout, LocalResponseNorm
from cnnlib.loader import TensorLoader
from cnnlib.models import get_model
from cnnlib.settings import RunSettings, seed_everything
from cnnlib.train import fit

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
MEAN, STD = (0.1307,), (0.3081,)
EPOCHS, STEPS = 4, 8  # 256 training images in batches of 32


@pytest.fixture(scope="module")
def digits(tensors):
    return subset(*tensors("mnist", True), 384, seed=0)


def build(digits, seed: int = 5) -> dict:
    """Everything a run needs, built from the seed alone: what a fresh process would do."""
    images, labels = digits
    seed_everything(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3),
                          nn.Linear(4 * 12 * 12, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return {
        "model": model, "optimizer": optimizer,
        "scheduler": torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5),
        "train_loader": TensorLoader(images[:256], labels[:256], batch_size=32, augment=True,
                                     mean=MEAN, std=STD, seed=seed),
        "test_loader": TensorLoader(images[256:], labels[256:], batch_size=128, shuffle=False,
                                    mean=MEAN, std=STD),
    }


def train(parts: dict, epochs: int = EPOCHS, **kwargs):
    return fit(parts["model"], parts["train_loader"], parts["test_loader"], epochs=epochs,
               optimizer=parts["optimizer"], scheduler=parts["scheduler"], progress=False,
               **kwargs)


def measured(history) -> list[dict]:
    """The rows without the wall-clock column, the one number a rerun may change."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def reference(digits):
    """An uninterrupted run: what every resumed run must reproduce exactly."""
    parts = build(digits)
    history = train(parts)
    assert history["lr"] == pytest.approx([0.05, 0.025, 0.0125, 0.00625])  # the scheduler ran
    return parts["model"], measured(history)


class Crash(Exception):
    """Stands for the process dying after an epoch."""


def crash_after(epoch: int):
    def callback(e, history):
        if e == epoch:
            raise Crash
    return callback


# --- repeatable runs and exact resumption ------------------------------------------------------

def test_same_seed_gives_the_same_run_bit_for_bit(digits, reference):
    parts = build(digits)
    history = train(parts)
    assert measured(history) == reference[1]  # exact float equality
    assert same_weights(parts["model"], reference[0])


@pytest.mark.parametrize("stop_after", [1, 3])
def test_resuming_after_a_crash_equals_the_uninterrupted_run(digits, reference, tmp_path,
                                                             stop_after):
    path = tmp_path / "runs" / "tiny.pt"
    with pytest.raises(Crash):
        train(build(digits), checkpoint=path, callbacks=[crash_after(stop_after)])
    assert read_checkpoint(path)["epoch"] == stop_after

    parts = build(digits)  # a fresh process: new model, optimiser, scheduler and loaders
    history = train(parts, checkpoint=path, resume=True)
    assert history["epoch"] == [1, 2, 3, 4]
    assert measured(history) == reference[1]
    assert same_weights(parts["model"], reference[0])
    assert read_checkpoint(path)["epoch"] == EPOCHS


def test_without_the_saved_random_state_the_resumed_run_differs(digits, reference, tmp_path,
                                                                monkeypatch):
    """The control for the test above: restoring the generators is what makes it exact."""
    path = tmp_path / "tiny.pt"
    with pytest.raises(Crash):
        train(build(digits), checkpoint=path, callbacks=[crash_after(2)])
    monkeypatch.setattr(ckpt, "set_rng_state", lambda state: None)
    monkeypatch.setattr(TensorLoader, "load_state_dict", lambda self, state: None)
    parts = build(digits)
    train(parts, checkpoint=path, resume=True)
    assert not same_weights(parts["model"], reference[0])


def test_each_epoch_records_then_saves_then_calls_back(digits, tmp_path):
    path = tmp_path / "tiny.pt"
    seen = []

    def callback(epoch, history):
        state = read_checkpoint(path)
        seen.append((epoch, len(history), state["epoch"], len(state["history"])))
        assert state["history"][-1] == history.rows[-1]

    train(build(digits), epochs=2, checkpoint=path, callbacks=[callback])
    assert seen == [(1, 1, 1, 1), (2, 2, 2, 2)]


def test_resume_without_a_file_starts_afresh_and_a_finished_run_returns_its_history(
        digits, reference, tmp_path):
    path = tmp_path / "new.pt"
    parts = build(digits)
    history = train(parts, checkpoint=path, resume=True)  # the first run of a notebook
    assert measured(history) == reference[1] and path.exists()
    again = build(digits)
    before = [p.clone() for p in again["model"].parameters()]
    history = train(again, checkpoint=path, resume=True)  # re-run: nothing left to train
    assert measured(history) == reference[1]
    assert same_weights(again["model"], reference[0])  # the weights came from the file
    assert not all(torch.equal(a, b) for a, b in zip(before, again["model"].parameters()))


# --- Ctrl-C --------------------------------------------------------------------------------------

def interrupt_at(model: nn.Module, batch: int):
    """Raise KeyboardInterrupt in the forward pass of the ``batch``-th training batch."""
    calls = []

    def hook(module, inputs):
        if module.training:
            calls.append(1)
            if len(calls) == batch:
                raise KeyboardInterrupt
    return model.register_forward_pre_hook(hook)


def test_ctrl_c_returns_the_completed_epochs_and_keeps_the_checkpoint(digits, reference,
                                                                     tmp_path, capsys):
    path = tmp_path / "tiny.pt"
    parts = build(digits)
    interrupt_at(parts["model"], 2 * STEPS + 3)  # epoch 3, step 3
    history = train(parts, checkpoint=path)  # returns instead of raising
    assert measured(history) == reference[1][:2]
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # one line
    assert "Interrupted in epoch 3 at step 3 of 8" in out and "2 completed epoch" in out
    assert f"last checkpoint is {path} (epoch 2)" in out and "resume=True" in out
    assert read_checkpoint(path)["epoch"] == 2

    parts = build(digits)  # and the run goes on as if nothing had happened
    assert measured(train(parts, checkpoint=path, resume=True)) == reference[1]
    assert same_weights(parts["model"], reference[0])


def test_ctrl_c_without_a_checkpoint_says_so(digits, capsys):
    parts = build(digits)
    interrupt_at(parts["model"], 2)
    history = train(parts)
    assert len(history) == 0
    out = capsys.readouterr().out
    assert "Interrupted in epoch 1 at step 2 of 8" in out and "no checkpoint was saved" in out


# --- a loss that is not finite -------------------------------------------------------------------

def test_a_nan_loss_stops_at_once_and_keeps_the_last_good_checkpoint(digits, reference,
                                                                     tmp_path):
    path = tmp_path / "tiny.pt"
    parts = build(digits)
    calls = []

    def poison(module, inputs, output):  # the 2nd training batch of epoch 3 goes wrong
        if module.training:
            calls.append(1)
            if len(calls) == 2 * STEPS + 2:
                return output * float("nan")

    parts["model"].register_forward_hook(poison)
    saved = {}
    with pytest.raises(FloatingPointError) as info:
        train(parts, checkpoint=path,
              callbacks=[lambda epoch, h: saved.update(bytes=path.read_bytes())])
    message = str(info.value)
    assert "became nan in epoch 3, by step 2, at learning rate 0.0125" in message  # at once
    assert re.search(r"last finite loss: [\d.]+, epoch 3 step 1", message)
    assert "Likely causes" in message and "Lower the learning rate" in message
    assert len(calls) == 2 * STEPS + 2  # not one batch more
    assert path.read_bytes() == saved["bytes"]  # the checkpoint of epoch 2, untouched
    state = read_checkpoint(path)
    assert state["epoch"] == 2 and [row["epoch"] for row in state["history"]] == [1, 2]
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert all(torch.isfinite(p).all() for p in parts["model"].parameters())  # step not taken


# --- invalid arguments, rejected at the call ---------------------------------------------------

def _fit_epochs(epochs):
    model = nn.Linear(2, 2)
    fit(model, [(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))], epochs=epochs,
        progress=False)


def _loader(**kwargs):
    TensorLoader(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.zeros(4), **kwargs)


BAD_ARGUMENTS = {
    "fit epochs=-1": (lambda: _fit_epochs(-1), ValueError, ["epochs", "non-negative int", "-1"]),
    "fit epochs=True": (lambda: _fit_epochs(True), ValueError, ["epochs", "True"]),
    "fit resume without checkpoint": (
        lambda: fit(nn.Linear(2, 2), [], epochs=1, resume=True), ValueError,
        ["resume=True", "checkpoint="]),
    "TensorLoader batch_size=0": (lambda: _loader(batch_size=0), ValueError,
                                  ["batch_size", ">= 1", "0"]),
    "conv_output_size stride=0": (lambda: conv_output_size(28, 5, stride=0), ValueError,
                                  ["stride", "0"]),
    "LocalResponseNorm size=0": (lambda: LocalResponseNorm(size=0), ValueError,
                                 ["size", "positive int", "5 in the paper"]),
    "LocalResponseNorm alpha<0": (lambda: LocalResponseNorm(alpha=-1.0), ValueError,
                                  ["alpha", ">= 0"]),
    "LocalResponseNorm beta=nan": (lambda: LocalResponseNorm(beta=float("nan")), TypeError,
                                   ["beta", "finite number"]),
    "Dropout p=1": (lambda: Dropout(1.0), ValueError, ["p must be in [0, 1)", "drop everything"]),
    "Dropout p=-0.1": (lambda: Dropout(-0.1), ValueError, ["p must be in [0, 1)"]),
    "load_data unknown dataset": (
        lambda: load_data("imagenet", RunSettings("quick", CPU)), ValueError,
        ["unknown dataset", "'imagenet'", "cifar10", "mnist"]),
}


@pytest.mark.parametrize("case", BAD_ARGUMENTS)
def test_invalid_arguments_are_rejected_with_a_clear_message(case):
    call, error, words = BAD_ARGUMENTS[case]
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error
    for word in words:
        assert word in str(info.value), (word, str(info.value))


MODEL_INPUTS = {  # model, input, words the message must hold
    "LeNet-5 at 28x28": ("lenet5", torch.randn(2, 1, 28, 28),
                         ["LeNet-5", "32×32", "28×28", "pad_to=32"]),
    "paper AlexNet at 224x224": ("alexnet_paper", torch.randn(1, 3, 224, 224),
                                 ["227×227", "224×224", "54.25", "alexnet_torchvision"]),
    "grayscale into an RGB model": ("alexnet_cifar", torch.randn(2, 1, 32, 32),
                                    ["3 channel(s)", "got 1"]),
    "uint8 pixels": ("lenet5", torch.zeros(2, 1, 32, 32, dtype=torch.uint8),
                     ["float input", "torch.uint8", "x.float()/255"]),
    "no batch dimension": ("lenet5", torch.randn(1, 32, 32),
                           ["batch N×C×H×W", "single image", "unsqueeze(0)"]),
}


@pytest.mark.parametrize("case", MODEL_INPUTS)
def test_wrong_model_input_says_what_was_expected(case):
    name, x, words = MODEL_INPUTS[case]
    with torch.no_grad(), pytest.raises(ValueError) as info:
        get_model(name)(x)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# --- datasets: missing, damaged, not writable --------------------------------------------------

@pytest.fixture
def offline(monkeypatch):
    """What an offline Linux machine answers: no name resolution. Counts the attempts."""
    calls = []

    def urlopen(*args, **kwargs):
        calls.append(args)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls


def test_a_dataset_missing_offline_names_dataset_folder_and_fix(tmp_path, offline):
    root = tmp_path / "empty"
    with pytest.raises(DatasetUnavailableError) as info:
        load_tensors("fashion_mnist", root=root)
    message = str(info.value)
    assert offline, "no download was attempted"
    assert "FashionMNIST" in message and str(root) in message
    assert "Fix:" in message and "internet" in message and "CNNLIB_DATA" in message
    assert "Name or service not known" in message  # the cause, as the network said it


def mnist_copy(data_dir: Path, root: Path, damage: str | None = None) -> Path:
    """MNIST in a new data root: links to the real files, and one real copy to damage."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for source in (data_dir / "MNIST" / "raw").iterdir():
        if source.name == damage:
            shutil.copyfile(source, raw / source.name)
        else:
            (raw / source.name).symlink_to(source)
    return raw / damage if damage else raw


def test_a_truncated_dataset_file_is_named_with_what_to_delete(data_dir, tmp_path, offline):
    damaged = mnist_copy(data_dir, tmp_path, damage="t10k-labels-idx1-ubyte")
    with open(damaged, "r+b") as file:
        file.truncate(5000)  # a download cut short
    assert load_tensors("mnist", train=True, root=tmp_path)[0].shape[0] == 60000  # fine
    with pytest.raises(DatasetUnavailableError) as info:
        load_tensors("mnist", train=False, root=tmp_path)
    message = str(info.value)
    assert f"{damaged} (5,000 bytes)" in message and "damaged" in message and "md5" in message
    assert "delete it and run again to re-download" in message
    assert message.count("MNIST/raw/") == 1  # only the damaged file is named
    assert not offline  # nothing was downloaded over it


def test_flipped_bytes_load_silently_unless_verify_is_asked_for(data_dir, tmp_path):
    damaged = mnist_copy(data_dir, tmp_path, damage="train-images-idx3-ubyte")
    with open(damaged, "r+b") as file:
        file.seek(1_000_000)
        file.write(b"\xff" * 16)  # same size, wrong pixels: nothing to notice when reading
    assert load_tensors("mnist", root=tmp_path)[0].shape == (60000, 1, 28, 28)
    with pytest.raises(DatasetUnavailableError, match="this file in the data root is damaged"):
        load_tensors("mnist", root=tmp_path, verify=True)
    with pytest.raises(DatasetUnavailableError, match=re.escape(str(damaged))):
        load_data("mnist", RunSettings("quick", CPU), root=tmp_path, verify=True)


def test_a_damaged_cifar10_batch_is_named(data_dir, tmp_path, offline):
    source = data_dir / "cifar-10-batches-py"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for file in source.iterdir():
        if file.name != "data_batch_3":
            (folder / file.name).symlink_to(file)
    (folder / "data_batch_3").write_bytes((source / "data_batch_3").read_bytes()[:1000])
    assert load_tensors("cifar10", train=False, root=tmp_path)[1].shape == (10000,)
    with pytest.raises(DatasetUnavailableError) as info:  # the split that reads it
        load_tensors("cifar10", train=True, root=tmp_path)
    assert str(folder / "data_batch_3") in str(info.value)
    assert "delete it and run again to re-download" in str(info.value)


def test_a_data_root_that_is_not_writable_is_named(tmp_path, offline):
    root = tmp_path / "readonly"
    root.mkdir()
    root.chmod(0o500)
    try:
        if os.access(root, os.W_OK):
            pytest.skip("running as root: chmod does not stop root from writing")
        with pytest.raises(DatasetUnavailableError, match="not writable") as info:
            load_tensors("mnist", root=root)
        assert str(root) in str(info.value) and "CNNLIB_DATA" in str(info.value)
    finally:
        root.chmod(0o700)


# --- the page "When things go wrong" shows what the code really says -----------------------------

PAGE = ROOT / "book" / "when_things_go_wrong.md"


def page_examples() -> list[tuple[str, str, str | None]]:
    """``(scenario, python code, expected output or None)`` for each ``% check:`` on the page."""
    text = PAGE.read_text()
    pattern = re.compile(r"^% check: (\S+)\n```python\n(.*?)^```\n(?:\n```text\n(.*?)^```\n)?",
                         re.S | re.M)
    return [(m[1], m[2], m[3]) for m in pattern.finditer(text)]


def data_home(tmp_path: Path, monkeypatch) -> Path:
    """The reader's default data root, ``/home/you/.cache/cnnlib/data``, under ``tmp_path``."""
    monkeypatch.setenv("HOME", str(tmp_path / "home" / "you"))
    monkeypatch.delenv("CNNLIB_DATA", raising=False)
    return tmp_path / "home" / "you" / ".cache" / "cnnlib" / "data"


@contextlib.contextmanager
def scenario(name: str, tmp_path: Path, monkeypatch, data_dir: Path):
    """The situation the page describes around an example: offline, a damaged file, Ctrl-C."""
    if name in ("offline", "damaged"):
        root = data_home(tmp_path, monkeypatch)
        monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(
            urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))))
        if name == "damaged":
            shutil.rmtree(root, ignore_errors=True)  # what the offline example left there
            damaged = mnist_copy(data_dir, root, damage="train-images-idx3-ubyte")
            with open(damaged, "r+b") as file:
                file.truncate(30_000_000)
    if name == "corrupted":  # the checkpoint of the examples above loses its second half
        path = Path("runs/lenet5.pt")
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    if name == "untrusted":
        module = types.ModuleType("their_project.models")
        net = type("Net", (), {"__module__": "their_project.models"})
        module.Net = net
        monkeypatch.setitem(sys.modules, "their_project", types.ModuleType("their_project"))
        monkeypatch.setitem(sys.modules, "their_project.models", module)
        torch.save({"model": net()}, "downloaded.pt")
    handle = None
    if name == "ctrl-c":  # the reader presses Ctrl-C in epoch 2, step 3 (4 steps per epoch)
        calls = []

        def press_ctrl_c(module, inputs):
            if type(module).__name__ == "LeNet5" and module.training:
                calls.append(1)
                if len(calls) == 4 + 3:
                    raise KeyboardInterrupt
        handle = nn.modules.module.register_module_forward_pre_hook(press_ctrl_c)
    try:
        yield
    finally:
        if handle is not None:
            handle.remove()


def normalise(text: str, tmp_path: Path) -> str:
    """The words and numbers, as a reader compares them: the page wraps long lines."""
    text = " ".join(text.replace(str(tmp_path), "").split())  # /tmp/.../home/you -> /home/you
    return re.sub(r"(last finite loss: )[^,]+", r"\1…", text)  # float noise across machines


# Examples whose message changed on purpose, until the page shows the new text. Each is an
# expected failure (xfail) of the test below; every other example is still compared.
PAGE_OUTDATED: dict[str, str] = {}


def test_the_page_when_things_go_wrong_shows_what_the_code_says(tmp_path, monkeypatch,
                                                                 data_dir):
    examples = page_examples()
    assert [name for name, _, _ in examples] == ["setup", "alexnet", "offline", "damaged", "nan",
                                                  "ctrl-c", "resume", "corrupted", "untrusted",
                                                  "float64", "sizes", "std", "outputs"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNLIB_MODE", "quick")
    monkeypatch.setenv("CNNLIB_DATA", str(data_dir))
    namespace: dict = {}
    outdated = []
    for name, code, expected in examples:
        out = io.StringIO()
        with scenario(name, tmp_path, monkeypatch, data_dir), contextlib.redirect_stdout(out):
            try:
                exec(compile(code, f"{PAGE.name}:{name}", "exec"), namespace)
            except Exception as error:  # what a reader sees: the traceback's last line
                print("".join(traceback.format_exception_only(error)).strip())
        if expected is None:
            continue
        got = normalise(out.getvalue(), tmp_path)
        if name in PAGE_OUTDATED and got != normalise(expected, tmp_path):
            outdated.append(f"{name}: {PAGE_OUTDATED[name]}; the code now prints: "
                            f"{out.getvalue().replace(str(tmp_path), '').strip()}")
            continue
        assert got == normalise(expected, tmp_path), (
            f"the page's output for {name!r} is out of date; the code now prints:\n"
            f"{out.getvalue().replace(str(tmp_path), '')}")
    if outdated:
        pytest.xfail("; ".join(outdated))


def test_every_python_block_on_the_page_compiles():
    blocks = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), re.S | re.M)
    assert len(blocks) >= 9
    for code in blocks:
        compile(code, PAGE.name, "exec")
    assert cnnlib.setup.__doc__ and "cudnn.benchmark" in cnnlib.setup.__doc__
