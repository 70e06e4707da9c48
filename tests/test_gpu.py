"""The CUDA half of the speed switches, run for real on a GPU.

CI has no GPU, so here every test is skipped (with the reason shown); on a GPU machine run
``pytest tests/test_gpu.py``. What the CPU tests in ``test_fast.py`` cannot show: that the tensor
loader draws the same batches on the GPU as on the CPU, that ``fit`` trains with every switch on
(bf16 autocast, channels-last, cuDNN autotuning, fused SGD), that the fp16 + GradScaler fallback
and ``torch.compile`` train too, and that large evaluation batches change no result.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlib import fast as F
from cnnlib.results import device_peak
from cnnlib.data import load_data
from cnnlib.fast import FastSettings
from cnnlib.loader import TensorLoader
from cnnlib.settings import RunSettings, seed_everything
from cnnlib.train import evaluate, fit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = torch.device("cuda")


def cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


@pytest.fixture(scope="module")
def cifar(data_dir):
    """4,096 CIFAR-10 training and 2,000 test images (test batches of 100), on the GPU."""
    return load_data("cifar10", RunSettings("quick", CUDA, seed=0), batch_size=256,
                     train_size=4096, test_size=2000, eval_batch_size=100, root=data_dir)


def test_the_loader_draws_the_same_batches_on_the_gpu_as_on_the_cpu(tensors):
    images, labels = tensors("cifar10", True)
    images, labels = images[:1000], labels[:1000]
    kwargs = dict(batch_size=128, augment=True, mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3],
                  seed=7)
    on_cpu = list(TensorLoader(images, labels, device="cpu", **kwargs))
    on_gpu = list(TensorLoader(images, labels, device=CUDA, **kwargs))
    assert len(on_cpu) == len(on_gpu) == 8
    for (xc, yc), (xg, yg) in zip(on_cpu, on_gpu):
        assert xg.device.type == "cuda" and torch.equal(yc, yg.cpu())
        torch.testing.assert_close(xg.cpu(), xc, rtol=0, atol=1e-6)


def test_channels_last_batches_hold_the_same_values(tensors):
    images, labels = tensors("cifar10", True)
    plain = next(iter(TensorLoader(images[:256], labels[:256], augment=True, device=CUDA)))
    last = next(iter(TensorLoader(images[:256], labels[:256], augment=True, device=CUDA,
                                  channels_last=True)))
    assert last[0].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(plain[0], last[0])


def test_every_switch_resolves_on_for_cuda():
    fast = FastSettings().resolve(CUDA)
    assert fast.amp and fast.channels_last and fast.cudnn_benchmark and fast.fused_optimizer
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) \
        else torch.float16
    assert fast.amp_dtype == expected and not fast.compile


@pytest.mark.parametrize("fast", [FastSettings(), FastSettings(amp_dtype="fp16"),
                                  FastSettings.off()],
                         ids=["defaults", "fp16+GradScaler", "all-off"])
def test_fit_trains_on_the_gpu(cifar, fast):
    seed_everything(0)
    model = cnn().to(CUDA)
    history = fit(model, cifar.train, cifar.test, epochs=3, lr=0.05, progress=False, fast=fast)
    losses = history["train_loss"]
    assert all(torch.isfinite(torch.tensor(losses))), losses
    assert losses[-1] < losses[0], losses
    assert history.last["test_acc"] > 0.25, history.rows  # 10 classes: chance is 0.10
    resolved = F.settings_for(CUDA, fast)
    conv = model[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) == bool(resolved.channels_last)
    assert torch.backends.cudnn.benchmark is False  # fit restored the flag it set


def test_compiled_fit_trains_like_the_eager_one(cifar):
    def run(compile_):
        seed_everything(0)
        cifar.train.generator.manual_seed(0)
        model = cnn().to(CUDA)
        return fit(model, cifar.train, cifar.test, epochs=2, lr=0.05, progress=False,
                   fast=FastSettings(compile=compile_, amp=False, cudnn_benchmark=False))

    eager, compiled = run(False), run(True)
    assert compiled.last["train_loss"] < compiled.rows[0]["train_loss"] * 1.05
    # fused kernels round differently: the same run, not the same bits
    assert abs(compiled.last["test_acc"] - eager.last["test_acc"]) < 0.05


def test_large_evaluation_batches_change_no_result(cifar):
    seed_everything(0)
    model = cnn().to(CUDA)
    fit(model, cifar.train, epochs=1, lr=0.05, progress=False)
    exact = FastSettings(amp=False, cudnn_benchmark=False)
    big = evaluate(model, cifar.test, fast=exact)  # re-batched to 1,000 (eval_batch_size)
    small = evaluate(model, cifar.test, fast=FastSettings(amp=False, cudnn_benchmark=False,
                                                          eval_batch_size=None))  # 100
    assert big["acc"] == small["acc"]
    assert big["loss"] == pytest.approx(small["loss"], rel=1e-4)


def test_the_device_has_a_known_peak():
    peak = device_peak(CUDA)
    assert peak["flops"], (f"{torch.cuda.get_device_name()} is not in cnnlib.results.GPU_PEAKS: "
                           "add its data-sheet peak so the bench can report a fraction of it")
