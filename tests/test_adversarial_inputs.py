"""Bad inputs at the library's edges, as a new user makes them: each one's outcome, stated.

One table per module (data, loader, models, arithmetic, folders, drills). Every row is a call
and what it must do, one of two things:

* ``Raises(type, pattern)``: that exception type, with a message that matches ``pattern``; the
  patterns cover what was wrong (the value) and what to do about it;
* ``Behaves(check, why)``: a documented correct behaviour, checked by ``check(result)``.

No row may pass silently with a wrong result. Issue 17 ("Reliability, second round") found
the cases of groups 3, 4, 5 and 8 here; the others were found by trying.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnnlib import arithmetic as A
from cnnlib import bench, folders, recipes
from cnnlib import plots
from cnnlib.data import (AugmentWarning, DatasetUnavailableError, channel_stats, load_data,
                         load_tensors, subset)
from cnnlib.history import History, epochs_to_reach
from cnnlib.tables import format_table
from cnnlib.drills import check
from cnnlib.loader import TensorLoader
from cnnlib.models import get_model
from cnnlib.results import ResultFile
from cnnlib.settings import RunSettings, seed_everything
from cnnlib.summary import summary

CPU = torch.device("cpu")


@dataclass
class Raises:
    error: type
    pattern: str


@dataclass
class Behaves:
    check: Callable
    why: str


def quick_run() -> RunSettings:
    return RunSettings("quick", CPU)


# --- data ----------------------------------------------------------------------------------------

def load_mnist(ctx, **kwargs):
    return load_data("mnist", quick_run(), root=ctx.data, **kwargs)


def mnist_with_damaged_test_labels(ctx) -> Path:
    """A data root with the real MNIST files linked, and a copy of the test labels with two
    bytes overwritten (labels 255 and 12): the file still reads, the labels are impossible."""
    raw = ctx.tmp / "root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for source in (ctx.data / "MNIST" / "raw").iterdir():
        (raw / source.name).symlink_to(source)
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.unlink()
    data = bytearray((ctx.data / "MNIST" / "raw" / labels.name).read_bytes())
    data[8 + 1000:8 + 1002] = b"\xff\x0c"
    labels.write_bytes(bytes(data))
    return ctx.tmp / "root"


def mnist_augmented(ctx):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_mnist(ctx, augment=True, train_size=64, test_size=64)
    return data.train.flip, [w.category for w in caught], " ".join(str(w.message) for w in caught)


def load_mnist_at(ctx, root):
    (ctx.tmp / "afile").write_text("not a folder")
    return load_tensors("mnist", root=ctx.tmp / root)


def _tiny():
    return torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.arange(10)


DATA = {
    "train_size=-5": (lambda ctx: load_mnist(ctx, train_size=-5), Raises(
        ValueError, r"train_size must be >= 1, got -5; .*None means the default")),
    "train_size=0 is not 'the default'": (lambda ctx: load_mnist(ctx, train_size=0), Raises(
        ValueError, r"train_size must be >= 1, got 0; .*None means the default")),
    "test_size=0 is not 'the default'": (lambda ctx: load_mnist(ctx, test_size=0), Raises(
        ValueError, r"test_size must be >= 1, got 0; .*None means the default")),
    "train_size=True": (lambda ctx: load_mnist(ctx, train_size=True), Raises(
        ValueError, r"train_size must be a whole number >= 1, got True \(a bool")),
    "train_size=100.0": (lambda ctx: load_mnist(ctx, train_size=100.0), Raises(
        ValueError, r"train_size must be a whole number >= 1, got 100.0 \(a float: write 100")),
    "train_size larger than the split": (lambda ctx: load_mnist(ctx, train_size=60_001), Raises(
        ValueError, r"train_size must be from 1 to 60,000, got 60,001; the split has 60,000 "
                    r"images; None means the default")),
    "train_size=None in quick mode": (lambda ctx: load_mnist(ctx), Behaves(
        lambda data: (len(data.train.labels), len(data.test.labels)) == (2048, 1024)
        and data.train.num_classes == data.test.num_classes == 10,
        "None means the default: quick mode's seeded subset; the loaders know the classes")),
    "batch_size=0": (lambda ctx: load_mnist(ctx, batch_size=0), Raises(
        ValueError, r"batch_size must be >= 1, got 0; it is the training images per batch")),
    "eval_batch_size=-1": (lambda ctx: load_mnist(ctx, eval_batch_size=-1), Raises(
        ValueError, r"eval_batch_size must be >= 1, got -1")),
    "pad_to=0": (lambda ctx: load_mnist(ctx, pad_to=0), Raises(
        ValueError, r"pad_to must be >= 1, got 0; .*None pads nothing")),
    "pad_to=31 (odd difference)": (lambda ctx: load_mnist(ctx, pad_to=31), Raises(
        ValueError, r"cannot pad 28x28 images to 31: .*even difference.*pad_to=32")),
    "dataset name None": (lambda ctx: load_data(None, quick_run()), Raises(
        TypeError, r"dataset name must be a string, one of \['cifar10', 'fashion_mnist', "
                   r"'mnist'\]; got None")),
    "labels out of range in the label file": (
        lambda ctx: load_tensors("mnist", train=False, root=mnist_with_damaged_test_labels(ctx)),
        Raises(DatasetUnavailableError,
               r"MNIST \(test split\) has 2 label\(s\) outside 0..9 \(the first: 255 at index "
               r"1,000\): a file is damaged.\n.*t10k-labels-idx1-ubyte.*\nFix: delete it and run "
               r"again to re-download it")),
    "subset n=-5": (lambda ctx: subset(*_tiny(), -5), Raises(
        ValueError, r"n must be >= 1, got -5; it is the number of examples to keep")),
    "subset n=0": (lambda ctx: subset(*_tiny(), 0), Raises(ValueError, r"n must be >= 1, got 0")),
    "subset with fewer labels than images": (lambda ctx: subset(_tiny()[0], _tiny()[1][:9], 5),
                                             Raises(ValueError, r"10 images but 9 labels")),
    "subset n larger than the data": (lambda ctx: subset(*_tiny(), 50), Behaves(
        lambda result: torch.equal(result[1], torch.arange(10)),
        "documented: all of them, in order")),
    "load_data with a device string as run": (lambda ctx: load_data("mnist", "cpu"), Raises(
        TypeError, r"run must be the settings cnnlib.setup\(\) returns \(run = cnnlib.setup\(\), "
                   r"then load_data\('mnist', run\)\), got 'cpu'")),
    "load_tensors train='test'": (lambda ctx: load_tensors("mnist", train="test"), Raises(
        TypeError, r"train must be True \(the training split\) or False \(the test split\), got "
                   r"'test': write train=False")),
    "MNIST augmented: crops, no mirrored digits": (mnist_augmented, Behaves(
        lambda r: r[0] is False and r[1] == [AugmentWarning] and "no horizontal flips" in r[2],
        "the flips are left out, and a warning says so")),
    "a data root that is a file": (lambda ctx: load_mnist_at(ctx, "afile"), Raises(
        DatasetUnavailableError, r"the data root .*afile is a file, not a folder, so MNIST can "
                                 r"neither be read nor downloaded there")),
    "a data root under a file": (lambda ctx: load_mnist_at(ctx, "afile/data"), Raises(
        DatasetUnavailableError, r"MNIST is not in the data root .*afile/data, and that folder "
                                 r"cannot be created to download it into \((NotADirectory|FileExists)Error")),
    "channel_stats of float images": (lambda ctx: channel_stats(torch.rand(2, 1, 4, 4)), Raises(
        TypeError, r"channel_stats needs uint8 N x C x H x W images.*got torch.float32")),
}


# --- loader --------------------------------------------------------------------------------------

IMAGES = torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8)
LABELS = torch.arange(10) % 3


def loader(images=IMAGES, labels=LABELS, **kwargs):
    return TensorLoader(images, labels, **kwargs)


def first_batch(**kwargs):
    return next(iter(loader(shuffle=False, **kwargs)))


def cuda_loader():
    """A loader asked for CUDA, on a machine that has none (a GPU machine pretends not to)."""
    real = torch.cuda.is_available
    torch.cuda.is_available = lambda: False
    try:
        return loader(device="cuda")
    finally:
        torch.cuda.is_available = real


LOADER = {
    "std=0": (lambda ctx: loader(std=(0.0,)), Raises(
        ValueError, r"std must be > 0 for every channel, got \(0,\): a std of 0 divides by 0 "
                    r"\(batches of inf/NaN\).*channel_stats")),
    "std=-1": (lambda ctx: loader(std=(-1.0,)), Raises(
        ValueError, r"std must be > 0 .*got \(-1,\).*a negative one flips the images")),
    "std=NaN": (lambda ctx: loader(std=(float("nan"),)), Raises(
        ValueError, r"std must be finite, got \(nan,\)")),
    "std with 2 values for 1 channel": (lambda ctx: loader(std=(0.3, 0.3)), Raises(
        ValueError, r"one value per channel \(1\), got 2 std value\(s\)")),
    "mean with 3 values for 1 channel": (lambda ctx: loader(mean=(0.5,) * 3), Raises(
        ValueError, r"one value per channel \(1\), got 3 mean value\(s\)")),
    "mean on the 0..255 scale": (lambda ctx: loader(mean=(33.3,), std=(78.6,)), Raises(
        ValueError, r"mean must be on the 0..1 scale .*got \(33.3.*divide mean and std by 255")),
    "std on the 0..255 scale with a 0..1 mean": (lambda ctx: loader(std=(78.57,)), Raises(
        ValueError, r"std must be on the 0..1 scale .*no channel's std exceeds 0.5; got "
                    r"\(78.57,\): for statistics of 0..255 pixels, divide std by 255")),
    "device='cuda' on a machine without one": (lambda ctx: cuda_loader(), Raises(
        ValueError, r"device='cuda', but this machine has no cuda device \(torch.cuda."
                    r"is_available\(\) is False\): pass device=run.device .*or device='cpu'")),
    "device='gpu' (no such device)": (lambda ctx: loader(device="gpu"), Raises(
        ValueError, r"device must be a device such as 'cpu' or 'cuda', got 'gpu'")),
    "mean without std": (lambda ctx: loader(mean=(0.5,)), Raises(
        ValueError, r"mean given without std: .*a missing std would silently be 1.*Pass both, "
                    r"e.g. mean, std = cnnlib.channel_stats")),
    "mean as a string": (lambda ctx: loader(mean="0.5"), Raises(
        TypeError, r"mean must be numbers, one per channel, got '0.5'")),
    "batch_size=True": (lambda ctx: loader(batch_size=True), Raises(
        ValueError, r"batch_size must be a whole number >= 1, got True \(a bool, which Python "
                    r"would count as 1\); it is the number of images per batch")),
    "batch_size=2.5": (lambda ctx: loader(batch_size=2.5), Raises(
        TypeError, r"batch_size must be a whole number >= 1, got 2.5 \(a float\)")),
    "batch_size=0": (lambda ctx: loader(batch_size=0), Raises(
        ValueError, r"batch_size must be >= 1, got 0; it is the number of images per batch")),
    "padding=-1": (lambda ctx: loader(augment=True, padding=-1), Raises(
        ValueError, r"padding must be >= 0, got -1; it is the zero padding of the random crop")),
    "drop_last with a batch larger than the data": (
        lambda ctx: loader(batch_size=64, drop_last=True), Raises(
            ValueError, r"drop_last=True with batch_size 64 > 10 images leaves no batch at all: "
                        r"lower batch_size, or drop_last=False")),
    "negative labels": (lambda ctx: loader(labels=LABELS - 1), Raises(
        ValueError, r"labels must be class indices >= 0, got -1 \(at index 0\): classes count "
                    r"from 0")),
    "label = num_classes": (lambda ctx: loader(labels=LABELS * 5, num_classes=10), Raises(
        ValueError, r"labels must be class indices from 0 to 9 \(num_classes=10\), got 10 \(at "
                    r"index 2\).*pass the right num_classes")),
    "float labels for classes": (lambda ctx: loader(labels=LABELS + 0.5, num_classes=3), Raises(
        TypeError, r"labels must be integer class indices for 3 classes, got torch.float32: "
                   r"convert with labels.long\(\)")),
    "bool labels": (lambda ctx: loader(labels=LABELS > 0), Raises(
        TypeError, r"got torch.bool: convert class labels with labels.long\(\)")),
    "NaN float targets": (lambda ctx: loader(labels=torch.full((10,), float("nan"))), Raises(
        ValueError, r"labels hold 10 NaN or infinite target\(s\): fix or drop those examples")),
    "one-hot integer labels": (lambda ctx: loader(labels=F.one_hot(LABELS)), Raises(
        ValueError, r"one class index per image \(shape \(10,\)\), got shape \(10, 3\): for "
                    r"one-hot rows use labels.argmax\(1\)")),
    "9 labels for 10 images": (lambda ctx: loader(labels=LABELS[:9]), Raises(
        ValueError, r"10 images but 9 labels: one label per image")),
    "one number as labels": (lambda ctx: loader(labels=torch.tensor(3)), Raises(
        ValueError, r"labels must hold one label per image \(10\), got the single number 3")),
    "float images in 0..1": (lambda ctx: loader(images=IMAGES / 255), Raises(
        TypeError, r"uint8 N x C x H x W tensor .*got torch.float32.*\(images \* 255\)\.round\(\)"
                   r"\.to\(torch.uint8\)")),
    "N x H x W x C uint8 images": (
        lambda ctx: loader(images=torch.zeros(10, 8, 8, 3, dtype=torch.uint8)), Raises(
            TypeError, r"got torch.uint8 with shape \(10, 8, 8, 3\). It looks like N x H x W x C: "
                       r"use images.permute\(0, 3, 1, 2\)")),
    "N x H x W x C RGB images": (
        lambda ctx: loader(images=torch.zeros(10, 32, 32, 3, dtype=torch.float32)), Raises(
            TypeError, r"It looks like N x H x W x C: use images.permute\(0, 3, 1, 2\)")),
    "grayscale images without a channel axis": (
        lambda ctx: loader(images=torch.zeros(10, 4, 4, dtype=torch.uint8)), Raises(
            TypeError, r"got torch.uint8 with shape \(10, 4, 4\).*images.unsqueeze\(1\)")),
    "a NumPy array of images": (lambda ctx: loader(images=IMAGES.numpy()), Raises(
        TypeError, r"images must be a uint8 N x C x H x W tensor .*not ndarray: convert with "
                   r"torch.from_numpy\(array\)")),
    "no images": (lambda ctx: loader(images=IMAGES[:0], labels=LABELS[:0]), Raises(
        ValueError, r"images is empty \(shape \(0, 1, 4, 4\)\).*check the subset or filter")),
    "float targets without num_classes": (
        lambda ctx: first_batch(labels=torch.linspace(-1, 1, 10)), Behaves(
            lambda batch: torch.equal(batch[1], torch.linspace(-1, 1, 10)),
            "documented: float labels are regression targets, passed through (chapter 9)")),
    "labels as a list, int32 labels": (
        lambda ctx: (first_batch(labels=LABELS.tolist()),
                     first_batch(labels=LABELS.to(torch.int32))), Behaves(
            lambda batches: all(b[1].dtype == torch.int64 and torch.equal(b[1], LABELS)
                                for b in batches),
            "documented: class indices of any integer type are given as int64")),
}


# --- models --------------------------------------------------------------------------------------

def lenet(x):
    with torch.no_grad():
        return get_model("lenet5").eval()(x)


def double_lenet(ctx):
    with torch.no_grad():
        return get_model("lenet5").double().eval()(torch.randn(2, 1, 32, 32, dtype=torch.float64))


def lenet_under_autocast(ctx):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        return get_model("lenet5").eval()(torch.randn(2, 1, 32, 32, dtype=torch.bfloat16))


def summaries(sizes):
    model = get_model("lenet5")
    return [repr(summary(model, size)) for size in sizes]


MODELS = {
    "get_model num_classes=0": (lambda ctx: get_model("lenet5", num_classes=0), Raises(
        ValueError, r"num_classes must be >= 1, got 0; it is the number of outputs")),
    "get_model with classes= instead of num_classes=": (
        lambda ctx: get_model("lenet5", classes=5), Raises(
            TypeError, r"get_model\('lenet5'\) takes no argument classes=5 \(did you mean "
                       r"num_classes=\?\); it takes: .*num_classes")),
    "summary without input_size of a 1-channel model": (
        lambda ctx: summary(get_model("lenet5")), Raises(
            ValueError, r"LeNet5's first convolution takes 1 channel\(s\), and without input_size "
                        r"summary would give it 3 .*pass input_size=\(1, 1, H, W\)")),
    "summary of a model that fails on the input": (
        lambda ctx: summary(get_model("lenet5"), (1, 1, 28, 28)), Raises(
            ValueError, r"LeNet5 failed on an input of size \(1, 1, 28, 28\): .*Pass the "
                        r"input_size it expects")),
    "summary of a plain function": (lambda ctx: summary(lambda x: x, (1, 1, 32, 32)), Raises(
        TypeError, r"summary expects an nn.Module \(a model\), got function")),
    "summary depth=-1": (lambda ctx: summary(get_model("lenet5"), (1, 1, 32, 32), depth=-1),
                         Raises(ValueError, r"depth must be >= 1, got -1")),
    "summary with C×H×W, the batch axis forgotten": (
        lambda ctx: summaries([(1, 32, 32), (1, 1, 32, 32)]), Behaves(
            lambda tables: tables[0] == tables[1] and "6x28x28" in tables[0],
            "C×H×W is read as one image: the same table, channels and multiply-adds included")),
    "float64 input (NumPy's default)": (
        lambda ctx: lenet(torch.from_numpy(np.random.rand(2, 1, 32, 32))), Raises(
            ValueError, r"LeNet-5 expects float32 input \(the dtype of its weights\), got "
                        r"torch.float64 \(NumPy's default; torch.from_numpy keeps it\): convert "
                        r"with x.float\(\)")),
    "float64 input, a ResNet": (
        lambda ctx: get_model("resnet20")(torch.zeros(2, 3, 32, 32, dtype=torch.float64)), Raises(
            ValueError, r"ResNet-20 \(CIFAR\) expects float32 input.*convert with x.float\(\)")),
    "float16 input": (lambda ctx: lenet(torch.zeros(2, 1, 32, 32, dtype=torch.float16)), Raises(
        ValueError, r"expects float32 input .*got torch.float16: convert with "
                    r"x.to\(torch.float32\), or the model with model.to\(torch.float16\)")),
    "float64 model, float64 input": (double_lenet, Behaves(
        lambda out: out.dtype == torch.float64 and out.shape == (2, 10),
        "the input's dtype must be the weights', whatever that is")),
    "bfloat16 input under autocast": (lenet_under_autocast, Behaves(
        lambda out: out.shape == (2, 10), "autocast converts dtypes itself: not refused")),
    "a NumPy array": (lambda ctx: lenet(np.zeros((2, 1, 32, 32), dtype=np.float32)), Raises(
        TypeError, r"LeNet-5 expects a torch.Tensor, got ndarray: convert with "
                   r"torch.from_numpy\(x\).float\(\)")),
    "uint8 pixels": (lambda ctx: lenet(torch.zeros(2, 1, 32, 32, dtype=torch.uint8)), Raises(
        ValueError, r"expects float input, got torch.uint8: convert with x.float\(\)/255 and "
                    r"normalise")),
    "complex input": (lambda ctx: lenet(torch.zeros(2, 1, 32, 32, dtype=torch.complex64)), Raises(
        ValueError, r"expects float input, got torch.complex64")),
    "a 5-D tensor": (lambda ctx: lenet(torch.zeros(1, 2, 1, 32, 32)), Raises(
        ValueError, r"LeNet-5 expects a batch N×C×H×W, got shape \(1, 2, 1, 32, 32\)")),
    "one image without the batch axis": (lambda ctx: lenet(torch.zeros(1, 32, 32)), Raises(
        ValueError, r"got a single image C×H×W \(1, 32, 32\): use x.unsqueeze\(0\)")),
    "RGB into a grayscale model": (lambda ctx: lenet(torch.zeros(2, 3, 32, 32)), Raises(
        ValueError, r"LeNet-5 expects 1 channel\(s\), got 3: build it with in_channels matching "
                    r"the data")),
    "28x28 into LeNet-5": (lambda ctx: lenet(torch.zeros(2, 1, 28, 28)), Raises(
        ValueError, r"LeNet-5 expects 32×32 inputs \(got 28×28\).*pad_to=32")),
    "NaN images": (lambda ctx: lenet(torch.full((2, 1, 32, 32), float("nan"))), Behaves(
        lambda out: bool(out.isnan().all()),
        "documented: not looked for per batch (a GPU sync); fit stops at the first NaN loss")),
    "an empty batch": (lambda ctx: lenet(torch.zeros(0, 1, 32, 32)), Behaves(
        lambda out: out.shape == (0, 10), "documented: an empty output, as in PyTorch")),
}


# --- arithmetic ----------------------------------------------------------------------------------

ARITHMETIC = {
    "conv_params in_channels=-3": (lambda ctx: A.conv_params(-3, 6, 5), Raises(
        ValueError, r"in_channels must be >= 1, got -3; it is the number of channels into the "
                    r"layer")),
    "conv_params in_channels=3.5": (lambda ctx: A.conv_params(3.5, 6, 5), Raises(
        ValueError, r"in_channels must be a whole number >= 1, got 3.5 \(a float\)")),
    "conv_params out_channels=0": (lambda ctx: A.conv_params(3, 0, 5), Raises(
        ValueError, r"out_channels must be >= 1, got 0")),
    "conv_params groups=0": (lambda ctx: A.conv_params(4, 8, 3, groups=0), Raises(
        ValueError, r"groups must be >= 1, got 0; it is 1 for an ordinary convolution")),
    "conv_params channels not divisible by groups": (
        lambda ctx: A.conv_params(3, 6, 5, groups=2), Raises(
            ValueError, r"groups=2 must divide in_channels=3 and out_channels=6: .*Use a groups "
                        r"that divides both \(1, 3\), or change the channels")),
    "conv_params kernel_size=0": (lambda ctx: A.conv_params(3, 6, 0), Raises(
        ValueError, r"kernel_size must be >= 1, got 0; it is the window's side in pixels")),
    "conv_params kernel_size=(3, -1)": (lambda ctx: A.conv_params(3, 6, (3, -1)), Raises(
        ValueError, r"kernel_size must be >= 1, got -1")),
    "conv_params kernel_size of 3 numbers": (lambda ctx: A.conv_params(3, 6, (3, 3, 3)), Raises(
        ValueError, r"kernel_size must be an int or a pair \(kh, kw\), got \(3, 3, 3\)")),
    "conv_params bias='no'": (lambda ctx: A.conv_params(3, 6, 5, bias="no"), Raises(
        TypeError, r"bias must be True or False, got 'no' \(a str\): any non-empty string")),
    "conv_params with NumPy ints": (lambda ctx: A.conv_params(np.int64(3), np.int64(6), 5),
                                    Behaves(lambda n: n == 456, "NumPy integers are counts")),
    "conv_macs out_h=-2": (lambda ctx: A.conv_macs(3, 6, 5, -2, 4), Raises(
        ValueError, r"out_h must be >= 1, got -2; it is the output's height")),
    "linear_params in_features=-10": (lambda ctx: A.linear_params(-10, 5), Raises(
        ValueError, r"in_features must be >= 1, got -10")),
    "linear_params in_features=10.5": (lambda ctx: A.linear_params(10.5, 5), Raises(
        ValueError, r"in_features must be a whole number >= 1, got 10.5 \(a float\)")),
    "linear_macs in_features=True": (lambda ctx: A.linear_macs(True, 5), Raises(
        ValueError, r"in_features must be a whole number >= 1, got True \(a bool")),
    "conv_output_size size=28.0": (lambda ctx: A.conv_output_size(28.0, 5), Raises(
        TypeError, r"size must be a whole number >= 1, got 28.0 \(a float: write 28, or use // "
                   r"instead of /\)")),
    "conv_output_size stride=0": (lambda ctx: A.conv_output_size(28, 5, stride=0), Raises(
        ValueError, r"stride must be >= 1, got 0; it is the step between windows")),
    "conv_output_size dilation=True": (lambda ctx: A.conv_output_size(28, 5, dilation=True),
                                       Raises(ValueError, r"dilation must be a whole number >= 1, "
                                                          r"got True \(a bool")),
    "pool_output_size size=-4": (lambda ctx: A.pool_output_size(-4, 2), Raises(
        ValueError, r"size must be >= 1, got -4; it is the input's height or width")),
    "receptive_field stride 0": (lambda ctx: A.receptive_field([(3, 0)]), Raises(
        ValueError, r"stride must be >= 1, got 0")),
    "receptive_field of a ResNet stage": (  # issue 27: the shortcut was counted in series (23)
        lambda ctx: A.receptive_field(get_model("resnet18").layer2)[-1]["r"],
        Behaves(lambda r: r == 15, "a block's field is its longest path's, as the gradient says")),
    "receptive_field of a whole ResNet": (lambda ctx: A.receptive_field(get_model("resnet20")),
                                          Raises(ValueError, r"cannot follow ResNet's forward: "
                                                 r".*one stage, model.layer1")),
    "count_params of a string": (lambda ctx: A.count_params("lenet5"), Raises(
        TypeError, r"count_params expects an nn.Module, got str; .*conv_params or linear_params")),
}


# --- folders -------------------------------------------------------------------------------------

GRADIENT_16 = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (64, 1))


def saved(ctx, image: Image.Image, name: str = "img.png", label: str = "cat") -> Path:
    path = ctx.tmp / "folder" / label / name
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def full_and_monotonic(pixels: np.ndarray) -> bool:
    """Every channel 0 to 255 along each row, never decreasing, and gray (R = G = B)."""
    row = pixels[pixels.shape[0] // 2].astype(int)
    gray = (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    return bool(gray and row[0, 0] == 0 and row[-1, 0] == 255 and (np.diff(row[:, 0]) >= 0).all())


def cleaned_16bit(ctx):
    saved(ctx, Image.fromarray(GRADIENT_16))
    written = folders.normalise_images(folders.scan_folder(ctx.tmp / "folder"), ctx.tmp / "clean",
                                       size=64)
    return np.asarray(Image.open(next(iter(written.values()))))


def converted(image: Image.Image) -> np.ndarray:
    return np.asarray(folders.to_rgb(image))


def transparent(mode: str) -> Image.Image:
    """A 2x1 image in ``mode``: a black pixel, then a fully transparent red one."""
    image = Image.new("RGBA", (2, 1), (0, 0, 0, 255))
    image.putpixel((1, 0), (255, 0, 0, 0))
    return image.convert(mode)


def palette_with_transparent_index() -> Image.Image:
    image = Image.new("P", (2, 1), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 1
    return image


OWL_SPLIT = [f"cat/{i}.png" for i in range(40)] + ["owl/0.png"]


def split_with_one_owl(ctx):
    """stable_split with warnings made errors: the warning is what the row checks."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", folders.ImageFolderWarning)
        return folders.stable_split(OWL_SPLIT, 0.2)


def split_with_one_owl_anyway(ctx):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, val = folders.stable_split(OWL_SPLIT, 0.2)
    return train, val, [w.category for w in caught]


def photo_work(ctx) -> Path:
    """work/photos/cat/a.png (the scanned folder) and work/notes/notes.txt (your own work)."""
    work = ctx.tmp / "work"
    (work / "photos" / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(work / "photos" / "cat" / "a.png")
    (work / "notes").mkdir()
    (work / "notes" / "notes.txt").write_text("three weeks of notes")
    return work / "photos"


def clean_into(ctx, where):
    """normalise_images(overwrite=True) into ``where(photos)``; then every file is still there."""
    photos = photo_work(ctx)
    try:
        return folders.normalise_images(folders.scan_folder(photos), where(photos),
                                        overwrite=True)
    finally:
        assert (photos / "cat" / "a.png").is_file()
        assert (photos.parent / "notes" / "notes.txt").read_text() == "three weeks of notes"


def clean_twice(ctx):
    """A photo deleted between two runs: its earlier output (cnnlib's own file) goes too."""
    photos = photo_work(ctx)
    Image.new("RGB", (8, 8)).save(photos / "cat" / "stale.png")
    out = ctx.tmp / "clean"
    first = folders.normalise_images(folders.scan_folder(photos), out)
    (photos / "cat" / "stale.png").unlink()
    second = folders.normalise_images(folders.scan_folder(photos), out, overwrite=True)
    return len(first), len(second), (out / "cat" / "stale.png").exists()


def notes_in_the_output(ctx):
    """cnnlib wrote clean/; the reader saved notes into it; then overwrite=True."""
    photos = photo_work(ctx)
    out = ctx.tmp / "clean"
    folders.normalise_images(folders.scan_folder(photos), out)
    (out / "my_notes.txt").write_text("precious")
    try:
        return folders.normalise_images(folders.scan_folder(photos), out, overwrite=True)
    finally:
        assert (out / "my_notes.txt").read_text() == "precious"
        assert (out / "cat" / "a.png").is_file()  # nothing of it deleted


def messy_photos(ctx, split=False):
    """make_messy on a folder of the reader's own photos (with splits, or without)."""
    root = ctx.tmp / "photos"
    for i in range(12):
        folder = root / ("train" if split else "") / ("cat", "dog")[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(folder / f"p{i}.png")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    try:
        return folders.make_messy(root, mislabeled=1, grayscale=1, rgba=0, resized=0,
                                  rotated=0, exact_duplicates=1, near_duplicates=0, corrupt=1)
    finally:
        assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def messy_export_with_notes(ctx):
    """make_messy on cnnlib's export, into which the reader saved a file of their own."""
    root = ctx.tmp / "raw"
    folders.export_image_folder(torch.zeros(6, 3, 8, 8, dtype=torch.uint8), torch.arange(6) % 2,
                                ["a", "b"], root)
    (root / "a" / "mine.png").write_bytes(b"mine")
    return folders.make_messy(root, mislabeled=1, grayscale=0, rgba=0, resized=0, rotated=0,
                              exact_duplicates=0, near_duplicates=0, corrupt=0)


def export_mess_export(ctx):
    """The chapter's way: export, damage, and export again with overwrite=True (a re-run)."""
    root = ctx.tmp / "raw"
    images, labels = torch.zeros(6, 3, 8, 8, dtype=torch.uint8), torch.arange(6) % 2
    for split in ("train", "test"):
        folders.export_image_folder(images, labels, ["a", "b"], root / split)
    folders.make_messy(root, mislabeled=1, grayscale=1, rgba=0, resized=0, rotated=0,
                       exact_duplicates=1, near_duplicates=0, corrupt=1)
    return [len(folders.export_image_folder(images, labels, ["a", "b"], root / split,
                                            overwrite=True)) for split in ("train", "test")]


def fifo_scan(ctx):
    saved(ctx, Image.new("RGB", (8, 8)), "a.png")
    os.mkfifo(ctx.tmp / "folder" / "cat" / "pipe.png")
    return [(r.rel, r.status) for r in folders.scan_folder(ctx.tmp / "folder").records]


def dangling_link_folder(ctx):
    saved(ctx, Image.new("RGB", (8, 8)), "a.png")
    (ctx.tmp / "folder" / "cat" / "gone.png").symlink_to(ctx.tmp / "nowhere.png")
    return folders.checked_image_folder(ctx.tmp / "folder")


def nfc_and_nfd(ctx):
    for form in ("NFC", "NFD"):
        saved(ctx, Image.new("RGB", (8, 8)), "a.png", unicodedata.normalize(form, "café"))
    return folders.checked_image_folder(ctx.tmp / "folder")


def one_image_folder(ctx):
    saved(ctx, Image.new("RGB", (8, 8)))
    return folders.scan_folder(ctx.tmp / "folder")


FOLDERS = {
    "16-bit grayscale PNG, loaded": (
        lambda ctx: np.asarray(folders.load_rgb(saved(ctx, Image.fromarray(GRADIENT_16)))),
        Behaves(full_and_monotonic, "scaled from 0..65535, not clipped at 255")),
    "16-bit grayscale PNG, cleaned": (cleaned_16bit, Behaves(
        full_and_monotonic, "normalise_images writes the scaled image")),
    "16-bit big-endian (I;16B)": (
        lambda ctx: converted(Image.frombytes("I;16B", (64, 64),
                                              GRADIENT_16.astype(">u2").tobytes())), Behaves(
            full_and_monotonic, "any byte order")),
    "32-bit integers (I) holding 16-bit values": (
        lambda ctx: converted(Image.fromarray(GRADIENT_16.astype(np.int32))), Behaves(
            full_and_monotonic, "the smallest usual range that holds the values: 0..65535")),
    "floats (F) in 0..1, with a NaN": (
        lambda ctx: converted(Image.fromarray(np.r_[np.linspace(0, 1, 64), np.nan]
                                              .astype(np.float32)[None].repeat(2, 0))), Behaves(
            lambda px: full_and_monotonic(px[:, :64]) and (px[:, 64] == 0).all(),
            "0..1 becomes 0..255; NaN becomes 0")),
    "grayscale with alpha (LA)": (lambda ctx: converted(transparent("LA")), Behaves(
        lambda px: px[0].tolist() == [[0, 0, 0], [255, 255, 255]],
        "transparent pixels lie on the white background")),
    "palette with alpha (PA)": (lambda ctx: converted(transparent("PA")), Behaves(
        lambda px: px[0].tolist() == [[0, 0, 0], [255, 255, 255]],
        "PIL alone would drop the alpha and show red")),
    "palette with a transparent index (P)": (
        lambda ctx: converted(palette_with_transparent_index()), Behaves(
            lambda px: px[0].tolist() == [[0, 0, 0], [255, 255, 255]],
            "the transparent colour lies on the background")),
    "CMYK": (lambda ctx: converted(Image.new("CMYK", (1, 1), (0, 255, 255, 0))), Behaves(
        lambda px: px[0, 0].tolist() == [255, 0, 0], "converted by PIL: pure red")),
    "1-bit": (lambda ctx: converted(Image.new("1", (2, 1), 1)), Behaves(
        lambda px: (px == 255).all(), "white stays white")),
    "a class with a single image in stable_split": (split_with_one_owl, Raises(
        folders.OneSidedClassWarning,
        r"1 class\(es\) ended up on one side of the split:\n  'owl' \(1 image\(s\)\): only in "
        r"(training|validation).*Fix: add images to the class, merge or drop it, or draw "
        r"another split with salt='1'")),
    "a class with a single image: the split is still made": (split_with_one_owl_anyway, Behaves(
        lambda r: sorted(r[0] + r[1]) == list(range(41)) and r[2] == [folders.OneSidedClassWarning],
        "a warning, not an error: the reader decides")),
    "stable_split val_fraction='0.15'": (lambda ctx: folders.stable_split([], "0.15"), Raises(
        TypeError, r"val_fraction must be a number, got '0.15' \(a str\)")),
    "stable_split val_fraction=0": (lambda ctx: folders.stable_split([], 0), Raises(
        ValueError, r"val_fraction must be between 0 and 1, got 0.0: the share .*e.g. 0.15")),
    "stable_split with fewer labels than paths": (
        lambda ctx: folders.stable_split(["a/1.png", "a/2.png"], 0.5, labels=[0]), Raises(
            ValueError, r"2 paths but 1 labels: one label per file")),
    "find_duplicates max_distance=-1": (
        lambda ctx: folders.find_duplicates(one_image_folder(ctx), max_distance=-1), Raises(
            ValueError, r"max_distance must be from 0 to 64, got -1; it is the most differing "
                        r"bits")),
    "normalise_images into the photo folder itself": (
        lambda ctx: clean_into(ctx, lambda photos: photos), Raises(
            ValueError, r"out='.*photos' is the scanned folder .*photos: writing there would mix "
                        r"the copy with the originals, and overwrite=True would delete them. "
                        r"Choose a folder outside it, e.g. .*photos_clean")),
    "normalise_images into the folder that holds the photos and your work": (
        lambda ctx: clean_into(ctx, lambda photos: photos.parent), Raises(
            ValueError, r"out='.*work' holds the scanned folder .*photos")),
    "normalise_images into a folder inside the photos": (
        lambda ctx: clean_into(ctx, lambda photos: photos / "clean"), Raises(
            ValueError, r"out='.*photos/clean' lies inside the scanned folder")),
    "normalise_images, overwrite=True, into a folder of your own": (
        lambda ctx: clean_into(ctx, lambda photos: photos.parent / "notes"), Raises(
            FileExistsError, r".*notes exists, is not empty, and was not written by "
                             r"cnnlib.folders \(it may hold your own files\), so overwrite=True "
                             r"does not delete it.*Choose a new folder")),
    "normalise_images, overwrite=True, over its own earlier output": (
        lambda ctx: clean_twice(ctx), Behaves(
            lambda r: r == (2, 1, False), "rewritten: the folder cnnlib wrote, and only it")),
    "normalise_images, overwrite=True, over its output holding the reader's notes": (
        notes_in_the_output, Raises(
            FileExistsError, r"clean was written by cnnlib, but it now holds 1 file\(s\) that "
                             r"cnnlib did not write \(my_notes.txt\): overwrite=True deletes only "
                             r"what cnnlib wrote, so nothing was deleted. Move those files out")),
    "make_messy on a folder of the reader's own photos": (messy_photos, Raises(
        FileExistsError, r"photos was not written by cnnlib.folders \(it may be your own images\), "
                         r"and make_messy changes files in place. Work on a copy that cnnlib "
                         r"writes: export_image_folder")),
    "make_messy on the reader's own photos in split folders": (
        lambda ctx: messy_photos(ctx, split=True), Raises(
            FileExistsError, r"photos/train was not written by cnnlib.folders")),
    "make_messy on cnnlib's export holding a file of the reader's": (
        messy_export_with_notes, Raises(
            FileExistsError, r"raw holds 1 file\(s\) that cnnlib did not write \(a/mine.png\), "
                             r"and make_messy changes files in place: nothing was changed")),
    "export, make_messy, export again with overwrite=True": (export_mess_export, Behaves(
        lambda counts: counts == [6, 6], "what make_messy left is cnnlib's: written again")),
    "class_counts of a folder that is not there": (
        lambda ctx: folders.class_counts(ctx.tmp / "nosuch"), Raises(
            FileNotFoundError, r"no folder .*nosuch: class_counts counts the images in a folder "
                               r"of class folders")),
    "a FIFO named like an image in a class folder": (fifo_scan, Behaves(
        lambda records: records == [("cat/a.png", "ok"), ("cat/pipe.png", "corrupt")],
        "listed, never opened (opening it would wait forever)")),
    "a dangling symbolic link in a class folder": (dangling_link_folder, Raises(
        folders.UndecodableImageError,
        r"1 image file\(s\) cannot be decoded:\n  cat/gone.png: a symbolic link to .*nowhere.png, "
        r"which does not exist")),
    "class folders 'café' in NFC and in NFD": (nfc_and_nfd, Behaves(
        lambda ds: ds.classes == ["café"] and sorted(ds.targets) == [0, 0],
        "one class, as the reader sees one name")),
    "normalise_images size=0": (
        lambda ctx: folders.normalise_images(one_image_folder(ctx), ctx.tmp / "out", size=0),
        Raises(ValueError, r"size must be >= 1, got 0; it is the side of the square images")),
    "export_image_folder label beyond the classes": (
        lambda ctx: folders.export_image_folder(torch.zeros(2, 1, 4, 4, dtype=torch.uint8),
                                                [0, 5], ("a", "b"), ctx.tmp / "out"), Raises(
            ValueError, r"labels must be indices into classes \(0 to 1\), got 5.*pass the "
                        r"dataset's full class list")),
    "export_image_folder label -1": (
        lambda ctx: folders.export_image_folder(torch.zeros(2, 1, 4, 4, dtype=torch.uint8),
                                                [0, -1], ("a", "b"), ctx.tmp / "out"), Raises(
            ValueError, r"labels must be indices into classes \(0 to 1\), got -1")),
    "sample_per_class n=-1": (
        lambda ctx: folders.sample_per_class(torch.arange(10) % 2, [0, 1], -1), Raises(
            ValueError, r"n must be >= 1, got -1; it is the number of examples to take per "
                        r"class")),
}


# --- drills --------------------------------------------------------------------------------------

class UnreadableMessage(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


class NotAStringMessage(Exception):
    def __str__(self):
        return 42


class OddBaseException(BaseException):
    """Not an Exception: ``except Exception`` would let it through."""


def drill_raising(exc: BaseException):
    """A LeNet-5 answer whose forward raises ``exc`` after its first layer."""
    class Answer(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            raise exc

    return lambda ctx: check(Answer(), "lenet5", verbose=False)


def says(pattern: str) -> Callable:
    """A check that the verdict is a failure whose text, read as one line (the verdict wraps
    its lines), matches ``pattern``."""
    return lambda result: not result.ok and re.search(pattern, " ".join(result.text.split()))


class ReturnsATuple(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)

    def forward(self, x):
        return (F.relu(self.conv1(x)),)


DRILLS = {
    "an exception whose str() raises": (drill_raising(UnreadableMessage()), Behaves(
        says(r"your model failed after F.relu → 6×28×28: UnreadableMessage: \(its message could "
             r"not be read: str\(\) raised RuntimeError\)"), "a verdict, not a crash")),
    "an exception whose str() is not a string": (drill_raising(NotAStringMessage()), Behaves(
        says(r"NotAStringMessage: \(its message could not be read: str\(\) raised TypeError\)"),
        "a verdict, not a crash")),
    "a 100,000-character message": (drill_raising(ValueError("x" * 100_000)), Behaves(
        lambda result: says(r"ValueError: x+.*\(99,700 more characters\)")(result)
        and len(result.text) < 2_000, "the first 300 characters, and how many were left out")),
    "KeyboardInterrupt raised by the answer": (drill_raising(KeyboardInterrupt()), Behaves(
        says(r"your model was interrupted after F.relu → 6×28×28: KeyboardInterrupt: Ctrl-C, or "
             r"raised by your code"), "reported like any failure, as fit reports Ctrl-C")),
    "SystemExit raised by the answer": (drill_raising(SystemExit(3)), Behaves(
        says(r"your model failed after F.relu → 6×28×28: SystemExit: 3"), "a verdict")),
    "a BaseException that is not an Exception": (drill_raising(OddBaseException("odd")), Behaves(
        says(r"OddBaseException: odd your line: raise exc"), "a verdict, with the line")),
    "a forward that returns a tuple": (
        lambda ctx: check(ReturnsATuple(), "lenet5", verbose=False), Behaves(
            says(r"differs from LeNet-5"), "reported as a difference, not raised")),
    "input_size with a fraction": (
        lambda ctx: check(ReturnsATuple(), "lenet5", input_size=(1, 32.5, 32), verbose=False),
        Raises(ValueError, r"input_size is C×H×W \(or N×C×H×W\), whole numbers >= 1, got "
                           r"\(1, 32.5, 32\): e.g. \(1, 32, 32\), the reference's own")),
    "input_size with a zero": (
        lambda ctx: check(ReturnsATuple(), "lenet5", input_size=(0, 32, 32), verbose=False),
        Raises(ValueError, r"whole numbers >= 1, got \(0, 32, 32\)")),
    "input_size as a string": (
        lambda ctx: check(ReturnsATuple(), "lenet5", input_size="1x32x32", verbose=False),
        Raises(ValueError, r"input_size is C×H×W \(or N×C×H×W\), whole numbers >= 1, got "
                           r"'1x32x32'")),
}


# --- reporting: histories, tables, figures -----------------------------------------------------

HISTORY = History([{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_acc": 0.6},
                   {"epoch": 2, "train_loss": 0.5, "train_acc": 0.8, "test_acc": 0.9}])


def figure(call):
    """Run a plotting call and close what it drew."""
    import matplotlib.pyplot as plt
    try:
        return call()
    finally:
        plt.close("all")


REPORTING = {
    "History['test_accuracy'] (a typo)": (lambda ctx: HISTORY["test_accuracy"], Raises(
        KeyError, r"the history has no 'test_accuracy'; its keys are \['epoch', 'test_acc'")),
    "History key present in every row": (lambda ctx: HISTORY["test_acc"], Behaves(
        lambda values: values == [0.6, 0.9], "as before")),
    "epochs_to_reach with a percent": (lambda ctx: epochs_to_reach(HISTORY, "test_acc", 90),
                                       Raises(ValueError, r"threshold=90 for 'test_acc', but "
                                              r"accuracies in a history are fractions from 0 to "
                                              r"1 .*write 0.9")),
    "format_table with a row lacking a column": (
        lambda ctx: format_table([{"a": 1, "b": 2}, {"a": 3}]), Raises(
            KeyError, r"row 1 has no 'b' \(its keys are \['a'\]\), but the table's columns are "
                      r"\['a', 'b'\]: give every row every column")),
    "confusion_matrix with a label beyond num_classes": (
        lambda ctx: plots.confusion_matrix(torch.tensor([0, 1, 2]), torch.tensor([0, 5, 2]), 3),
        Raises(ValueError, r"labels must be class indices 0 to 2 \(num_classes=3\), got 5")),
    "plot_confusion_matrix with fewer class names than classes": (
        lambda ctx: figure(lambda: plots.plot_confusion_matrix(
            torch.tensor([0, 3]), torch.tensor([3, 1]), ["a", "b"])), Raises(
            ValueError, r"labels must be class indices 0 to 1 \(num_classes=2\), got 3")),
    "confusion_matrix of scores, not classes": (
        lambda ctx: plots.confusion_matrix(torch.rand(4, 3), torch.tensor([0, 1, 2, 0]), 3),
        Raises(ValueError, r"preds look like scores \(N × classes\); pass preds.argmax\(1\)")),
    "show_images of a NumPy N×H×W×C batch": (
        lambda ctx: figure(lambda: plots.show_images(np.zeros((4, 8, 8, 3), np.uint8))), Raises(
            TypeError, r"images must be torch tensors, C × H × W each, got NumPy arrays: use "
                       r"torch.from_numpy\(images\), and .permute\(0, 3, 1, 2\)")),
    "show_images with fewer labels than images": (
        lambda ctx: figure(lambda: plots.show_images(torch.zeros(4, 1, 8, 8),
                                                     labels=torch.tensor([0, 1]),
                                                     classes=["a", "b"])), Raises(
            ValueError, r"labels needs one per image: 4 images, 2 labels")),
    "show_images of H×W×C tensors": (
        lambda ctx: figure(lambda: plots.show_images(torch.zeros(2, 8, 8, 3))), Raises(
            ValueError, r"image 0 is 8×8×3: H × W × C\? use .permute\(2, 0, 1\)")),
    "show_kernels of a 1-D tensor": (
        lambda ctx: figure(lambda: plots.show_kernels(torch.zeros(10))), Raises(
            ValueError, r"show_kernels needs a convolution's weight, out × in × k × k \(4-D\), "
                        r"got \(10,\): pass conv.weight")),
    "feature_maps of a layer not in the model": (
        lambda ctx: plots.feature_maps(get_model("lenet5"), nn.Conv2d(1, 1, 3),
                                       torch.zeros(1, 1, 32, 32)), Raises(
            ValueError, r"is not a module of this LeNet5: pass one of the model's own layers")),
    "plot_history of an empty history": (
        lambda ctx: figure(lambda: plots.plot_history(History())), Raises(
            ValueError, r"the history is empty, so there is nothing to plot: train first")),
    "plot_history with a key no history has": (
        lambda ctx: figure(lambda: plots.plot_history(HISTORY, keys=("accuracy",))), Raises(
            ValueError, r"no history has 'accuracy' for \['train', 'test'\]: keys are the part "
                        r"after 'train_'/'test_', here \['acc', 'loss'\]")),
}


# --- commands and result files ------------------------------------------------------------------

def command(main, *argv) -> str:
    """What a command line printed to stderr when it refused its arguments (argparse's exit)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit):
        main(list(argv))
    return stderr.getvalue()


def said(*parts: str) -> Callable:
    return lambda text: all(part in text for part in parts)


def result_twice(ctx):
    """A result written where one already is, then a second run the same way."""
    out = ctx.tmp / "r.json"
    out.write_text('{"mine": 1}')
    first = ResultFile(out)
    paths = [first.write({"run": 1}), first.write({"run": 1, "more": 2}),
             ResultFile(out).write({"run": 2})]
    return [p.name for p in paths], json.loads(out.read_text())


def file_in_the_way(ctx):
    (ctx.tmp / "file").write_text("")
    return ResultFile(ctx.tmp / "file" / "r.json")


def recipe_out_under_a_file(ctx):
    (ctx.tmp / "file").write_text("")
    return command(recipes.main, "cifar_resnet18", "--quick", "--device", "cpu", "--out",
                   str(ctx.tmp / "file" / "r.json"))


COMMANDS = {
    "a result file that exists already, and two runs": (result_twice, Behaves(
        lambda r: r == (["r-2.json", "r-2.json", "r-3.json"], {"mine": 1}),
        "never over another file: -2, -3...; one run keeps writing its own")),
    "a result path under a file": (file_in_the_way, Raises(
        ValueError, r"out='.*file/r.json' cannot be written: .*file is a file, not a folder")),
    "a result path that is a folder": (lambda ctx: ResultFile(str(ctx.tmp) + "/"), Raises(
        ValueError, r"out='.*/' is a folder: give a file path in it, such as '.*result.json'")),
    "recipes --out under a file: refused before training": (recipe_out_under_a_file, Behaves(
        said("--out: out=", "is a file, not a folder"), "an argument error, nothing run")),
    "recipes --epochs 0": (lambda ctx: command(recipes.main, "cifar_resnet18", "--epochs", "0"),
                           Behaves(said("--epochs", "0 is out of range: it must be at least 1"),
                                   "not the recipe's default budget")),
    "recipes --train-size 0": (
        lambda ctx: command(recipes.main, "cifar_resnet18", "--quick", "--train-size", "0"),
        Behaves(said("--train-size", "must be at least 1"), "not the quick default of 512")),
    "recipes --max-lr 0": (lambda ctx: command(recipes.main, "cifar_resnet18", "--max-lr", "0"),
                           Behaves(said("--max-lr", "it must be above 0"), "refused")),
    "recipes --target 1.5": (lambda ctx: command(recipes.main, "cifar_resnet18", "--target",
                                                 "1.5"),
                             Behaves(said("--target", "at most 1"), "refused")),
    "bench --repeats 0": (lambda ctx: command(bench.main, "--repeats", "0"), Behaves(
        said("--repeats must be at least 1, got 0"), "refused before measuring")),
    "bench --threads 0": (lambda ctx: command(bench.main, "--threads", "0"), Behaves(
        said("--threads must be at least 1, got 0"), "refused before measuring")),
    "bench --max-steps 0": (lambda ctx: command(bench.main, "--max-steps", "0"), Behaves(
        said("--max-steps must be at least 1, got 0"), "refused, not measured as 1 step")),
    "bench --data-images -5": (lambda ctx: command(bench.main, "--data-images", "-5"), Behaves(
        said("--data-images must be at least 1, got -5"), "refused before measuring")),
    "bench --models ,": (lambda ctx: command(bench.main, "--models", ","), Behaves(
        said("--models names no model (got ',')"), "not a result with no model measured")),
    "bench --models lenet (unknown)": (lambda ctx: command(bench.main, "--models", "lenet"),
                                       Behaves(said("--models: unknown model(s) 'lenet'; "
                                                    "available:", "lenet5"),
                                               "refused before the data-path measurement")),
    "setup(seed=2**64)": (lambda ctx: seed_everything(2**64), Raises(
        ValueError, r"seed must be a non-negative int below 2\*\*64 \(torch's limit\), got "
                    r"18446744073709551616")),
}


# --- the table, run ------------------------------------------------------------------------------

TABLE = {"data": DATA, "loader": LOADER, "models": MODELS, "arithmetic": ARITHMETIC,
         "folders": FOLDERS, "drills": DRILLS, "reporting": REPORTING, "commands": COMMANDS}
CASES = [(group, name, *row) for group, rows in TABLE.items() for name, row in rows.items()]


@pytest.fixture
def ctx(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # cnnlib's record of its folders
    return SimpleNamespace(tmp=tmp_path, data=Path(data_dir))


@pytest.mark.parametrize("group, name, call, expected", CASES,
                         ids=[f"{group}: {name}" for group, name, *_ in CASES])
def test_a_bad_input_fails_clearly_or_behaves_as_documented(ctx, group, name, call, expected):
    if isinstance(expected, Raises):
        with pytest.raises(expected.error) as info:
            call(ctx)
        message = str(info.value)
        assert re.search(expected.pattern, message, re.S), (
            f"{name}: the message does not say what it should:\n{message}")
    else:
        result = call(ctx)
        assert expected.check(result), f"{name}: not the documented behaviour ({expected.why})"


def test_the_table_is_large_enough_and_every_row_states_its_outcome():
    assert len(CASES) >= 45
    assert all(isinstance(expected, (Raises, Behaves)) for *_, expected in CASES)
    for group in TABLE:
        assert sum(1 for g, *_ in CASES if g == group) >= 5, group
