"""cnnlib.fast: the speed switches resolve as documented, each reaches the loop, and with all of
them off (the CPU default) training is the plain fp32 reference, bit for bit.

CUDA is not needed: its resolution is tested with ``torch.cuda.is_bf16_supported`` mocked, and
the switches that also exist on the CPU (bf16/fp16 autocast, GradScaler, fused SGD,
channels-last) are run for real here. No test measures time.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from cnnlib import fast as F
from cnnlib.data import load_data
from cnnlib.fast import FastSettings
from cnnlib.loader import TensorLoader
from cnnlib.settings import RunSettings, seed_everything
from cnnlib.train import StopTraining, evaluate, fit

CPU = torch.device("cpu")
CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def small(data_dir):
    """256 MNIST training images in 4 batches of 64, 128 test images, padded to 32×32."""
    return load_data("mnist", RunSettings("quick", CPU, seed=0), batch_size=64, train_size=256,
                     test_size=128, root=data_dir)


def cnn() -> nn.Module:
    """Small, but with the layers the switches act on: convolutions, BatchNorm, a Linear."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))


def train(small, fast=None, seed=0, epochs=2, **kwargs):
    seed_everything(seed)
    small.train.generator.manual_seed(seed)  # the same batches in every call
    model = cnn()
    history = fit(model, small.train, small.test, epochs=epochs, lr=0.05, progress=False,
                  fast=fast, **kwargs)
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]
    return rows, model


# --------------------------------------------------------------------------------------------
# Resolution: None means "on for CUDA, off elsewhere"

def test_every_switch_is_off_on_the_cpu():
    fast = FastSettings().resolve(CPU)
    assert fast == FastSettings(amp=False, amp_dtype=None, channels_last=False,
                                cudnn_benchmark=False, fused_optimizer=False, compile=False,
                                eval_batch_size=1000, non_blocking=True)
    assert not fast.grad_scaling and F.optimizer_kwargs(fast) == {}
    assert fast.resolve(CPU) == fast  # resolving twice changes nothing


@pytest.fixture
def cuda_bf16(monkeypatch):
    """Pretend a GPU answers the one question resolution asks it."""
    def set_bf16(supported: bool):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    return set_bf16


def test_cuda_with_bf16_gets_bf16_channels_last_fused_and_autotuning(cuda_bf16):
    cuda_bf16(True)
    fast = FastSettings().resolve(CUDA)
    assert fast.amp is True and fast.amp_dtype == torch.bfloat16 and not fast.grad_scaling
    assert fast.channels_last is True and fast.cudnn_benchmark is True
    assert fast.fused_optimizer is True and F.optimizer_kwargs(fast) == {"fused": True}
    assert fast.compile is False  # compile is never on unless asked
    assert fast.resolve(CUDA) == fast


def test_cuda_without_bf16_falls_back_to_fp16_with_loss_scaling(cuda_bf16):
    cuda_bf16(False)
    fast = FastSettings().resolve(CUDA)
    assert fast.amp_dtype == torch.float16 and fast.grad_scaling


def test_explicit_switches_win_over_the_device(cuda_bf16):
    cuda_bf16(True)
    off = FastSettings(amp=False, channels_last=False, cudnn_benchmark=False,
                       fused_optimizer=False).resolve(CUDA)
    assert not (off.amp or off.channels_last or off.cudnn_benchmark or off.fused_optimizer)
    assert off.amp_dtype is None
    assert FastSettings.off().resolve(CUDA) == FastSettings.off().resolve(CPU)
    on = FastSettings(amp=True, amp_dtype="fp16", channels_last=True, fused_optimizer=True,
                      compile=True).resolve(CPU)
    assert on.amp and on.amp_dtype == torch.float16 and on.grad_scaling
    assert on.channels_last and on.fused_optimizer and on.compile
    assert FastSettings(amp=True).resolve(CPU).amp_dtype == torch.bfloat16  # CPU autocast: bf16


def test_settings_for_resolves_the_given_settings_for_the_device(cuda_bf16):
    """(fit's older ``amp=`` keyword, which overrode ``fast.amp``, is gone: one way to say it.)"""
    cuda_bf16(True)
    assert F.settings_for(CUDA, FastSettings(amp=False)).amp is False
    assert F.settings_for(CUDA).amp is True
    assert F.settings_for(CPU, FastSettings(channels_last=True)).channels_last is True
    with pytest.raises(TypeError):
        F.settings_for(CUDA, amp=False)


def test_deterministic_runs_keep_cudnn_autotuning_off(cuda_bf16, monkeypatch):
    cuda_bf16(True)
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    assert FastSettings().resolve(CUDA).cudnn_benchmark is False
    assert FastSettings(cudnn_benchmark=True).resolve(CUDA).cudnn_benchmark is True


def test_bad_settings_fail_when_made():
    with pytest.raises(ValueError, match="amp_dtype"):
        FastSettings(amp_dtype="fp8")
    with pytest.raises(ValueError, match="eval_batch_size"):
        FastSettings(eval_batch_size=0)
    with pytest.raises(TypeError, match="FastSettings"):
        F.settings_for(CPU, fast={"amp": True})
    with pytest.raises(ValueError, match="unknown optimizer"):
        F.make_optimizer(cnn(), "lbfgs", lr=0.1)


def test_settings_print_and_serialise():
    fast = FastSettings(amp=True, amp_dtype=torch.float16).resolve(CPU)
    assert fast.as_dict()["amp_dtype"] == "float16"
    text = FastSettings().describe()
    assert all(name in text for name in ("amp", "channels_last", "cudnn_benchmark", "compile"))


# --------------------------------------------------------------------------------------------
# Each switch reaches the model, the batches, the optimizer

def test_prepare_puts_the_model_in_channels_last_in_place_when_asked():
    model = cnn()
    params = list(model.parameters())
    assert F.prepare(model, CPU, FastSettings()) is model  # CPU default: untouched
    assert all(p.is_contiguous() for p in model.parameters())
    assert F.prepare(model, CPU, FastSettings(channels_last=True)) is model
    convs = [p for p in model.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert all(a is b for a, b in zip(params, model.parameters()))  # an optimizer stays valid


def test_batches_follow_the_layout_switch():
    x, y = torch.randn(4, 3, 8, 8), torch.arange(4)
    cl, _ = F.to_device(x, y, CPU, FastSettings(channels_last=True).resolve(CPU))
    assert cl.is_contiguous(memory_format=torch.channels_last) and torch.equal(cl, x)
    plain, _ = F.to_device(x, y, CPU, FastSettings().resolve(CPU))
    assert plain is x


def test_make_optimizer_is_fused_only_when_asked():
    plain = F.make_optimizer(cnn(), lr=0.1, fast=FastSettings())
    assert plain.defaults.get("fused") in (None, False)
    fused = F.make_optimizer(cnn(), "adamw", lr=1e-3, fast=FastSettings(fused_optimizer=True))
    assert isinstance(fused, torch.optim.AdamW) and fused.defaults["fused"] is True


def test_fit_with_every_switch_off_equals_the_default_on_cpu_bit_for_bit(small):
    rows_default, model_default = train(small)
    off = FastSettings(amp=False, channels_last=False, cudnn_benchmark=False,
                       fused_optimizer=False, compile=False, eval_batch_size=None,
                       non_blocking=False)
    rows_off, model_off = train(small, fast=off)
    assert rows_default == rows_off  # exact float equality
    for a, b in zip(model_default.state_dict().values(), model_off.state_dict().values()):
        assert torch.equal(a, b)


def test_channels_last_and_fused_sgd_train_the_same_model_up_to_rounding(small):
    rows_ref, model_ref = train(small, epochs=1)
    rows_fast, model_fast = train(small, epochs=1,
                                  fast=FastSettings(channels_last=True, fused_optimizer=True))
    assert all(p.is_contiguous(memory_format=torch.channels_last)
               for p in model_fast.parameters() if p.dim() == 4)
    for a, b in zip(model_ref.state_dict().values(), model_fast.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-4)
    assert rows_fast[0]["train_loss"] == pytest.approx(rows_ref[0]["train_loss"], rel=1e-4)


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_autocast_and_grad_scaler_run_for_real_on_the_cpu(small, dtype, monkeypatch):
    """The GPU's two precisions, on the CPU: the layers compute in 16 bits, and fp16 (only)
    goes through an enabled GradScaler that fit steps once per batch."""
    updates = []
    real_update = torch.amp.GradScaler.update
    def update(self, *args):
        updates.append(self.is_enabled())
        return real_update(self, *args)

    monkeypatch.setattr(torch.amp.GradScaler, "update", update)
    seen = []
    seed_everything(0)
    model = cnn()
    model[-1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    history = fit(model, small.train, small.test, epochs=1, lr=0.05, progress=False,
                  fast=FastSettings(amp=True, amp_dtype=dtype))
    expected = torch.bfloat16 if dtype == "bf16" else torch.float16
    assert seen and all(d == expected for d in seen)  # training and evaluation
    assert updates == [dtype == "fp16"] * len(small.train)
    assert 0 < history.last["train_loss"] < 10 and 0 <= history.last["test_acc"] <= 1


def test_compile_switch_wraps_the_model_once_per_fit(small, monkeypatch):
    compiled = []

    def fake_compile(model, *args, **kwargs):
        compiled.append(model)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    train(small, epochs=1, fast=FastSettings(compile=True))
    assert len(compiled) == 1 and isinstance(compiled[0], nn.Sequential)
    train(small, epochs=1)
    assert len(compiled) == 1  # off by default


def test_cudnn_benchmark_is_set_during_fit_and_restored_after(small):
    before = torch.backends.cudnn.benchmark
    seen = []
    train(small, epochs=1, fast=FastSettings(cudnn_benchmark=True),
          callbacks=[lambda epoch, h: seen.append(torch.backends.cudnn.benchmark)])
    assert seen == [True] and torch.backends.cudnn.benchmark == before


# --------------------------------------------------------------------------------------------
# Evaluation: inference_mode, large batches, any loss function

def test_evaluate_under_inference_mode_equals_no_grad(small):
    seed_everything(0)
    model = cnn()
    modes = []
    model.register_forward_hook(lambda m, i, o: modes.append(torch.is_inference_mode_enabled()))
    result = evaluate(model, small.test)
    assert modes and all(modes)
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x) for x, _ in small.test])
        y = torch.cat([y for _, y in small.test])
        loss = nn.functional.cross_entropy(logits, y, reduction="sum").item() / len(y)
    assert result["acc"] == (logits.argmax(1) == y).float().mean().item()
    assert result["loss"] == pytest.approx(loss, rel=1e-6)


def test_evaluation_loaders_are_rebatched_and_others_left_alone(small):
    images = torch.randint(0, 256, (100, 1, 8, 8), dtype=torch.uint8)
    labels = torch.arange(100) % 10
    test = TensorLoader(images, labels, batch_size=10, shuffle=False)
    bigger = F.eval_batches(test, FastSettings(eval_batch_size=64))
    assert bigger is not test and bigger.batch_size == 64 and test.batch_size == 10
    assert [len(y) for _, y in bigger] == [64, 36]
    assert F.eval_batches(test, FastSettings(eval_batch_size=None)) is test
    assert F.eval_batches(test, FastSettings(eval_batch_size=5)) is test  # never smaller
    shuffled = TensorLoader(images, labels, batch_size=10)
    assert F.eval_batches(shuffled, FastSettings()) is shuffled
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    a = evaluate(model, test, fast=FastSettings(eval_batch_size=None))
    b = evaluate(model, test, fast=FastSettings(eval_batch_size=64))
    assert a["acc"] == b["acc"] and a["loss"] == pytest.approx(b["loss"], rel=1e-6)


def test_a_label_smoothing_loss_works_in_fit_and_evaluate(small):
    smooth = functools.partial(nn.functional.cross_entropy, label_smoothing=0.1)
    seed_everything(0)
    model = cnn()
    history = fit(model, small.train, small.test, epochs=1, lr=0.05, loss_fn=smooth,
                  progress=False)
    model.eval()
    with torch.no_grad():
        x = torch.cat([x for x, _ in small.test])
        y = torch.cat([y for _, y in small.test])
        expected = smooth(model(x), y).item()
    assert history.last["test_loss"] == pytest.approx(expected, rel=1e-5)


def test_a_callback_can_stop_training_early(small):
    def stop_after_two(epoch, history):
        if epoch == 2:
            raise StopTraining

    rows, _ = train(small, epochs=5, callbacks=[stop_after_two])
    assert [row["epoch"] for row in rows] == [1, 2]


def test_tensor_loader_sends_its_random_numbers_to_a_gpu_without_blocking():
    """The CUDA path, with a stand-in tensor: pinned memory, then a non-blocking copy."""
    calls = []

    class FakeTensor:
        def pin_memory(self):
            calls.append("pin_memory")
            return self

        def to(self, device, non_blocking=False):
            calls.append((str(device), non_blocking))
            return self

    loader = TensorLoader(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2))
    loader.device = CUDA  # only the transfer is exercised: no GPU needed
    loader._to_device(FakeTensor())
    assert calls == ["pin_memory", ("cuda", True)]
    loader.device = CPU
    calls.clear()
    loader._to_device(FakeTensor())
    assert calls == [("cpu", False)]
