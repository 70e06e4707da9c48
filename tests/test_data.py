"""cnnlib.data on the real datasets: shapes, labels, statistics, subsets and the errors.

Nothing here downloads: the missing-data tests replace ``urllib.request.urlopen`` with a stub
that raises ``URLError``, the way an offline machine answers.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
import torchvision

from cnnlib.data import (DatasetUnavailableError, QUICK_TEST, QUICK_TRAIN, channel_stats,
                         dataset_info, load_data, load_tensors, pad_images)
from cnnlib.settings import RunSettings

CPU = torch.device("cpu")
SPLITS = {  # name: (train shape, test shape)
    "mnist": ((60000, 1, 28, 28), (10000, 1, 28, 28)),
    "fashion_mnist": ((60000, 1, 28, 28), (10000, 1, 28, 28)),
    "cifar10": ((50000, 3, 32, 32), (10000, 3, 32, 32)),
}


@pytest.mark.parametrize("name", SPLITS)
@pytest.mark.parametrize("train", [True, False], ids=["train", "test"])
def test_load_tensors_shapes_dtypes_and_ranges(tensors, name, train):
    images, labels = tensors(name, train)
    assert tuple(images.shape) == SPLITS[name][0 if train else 1]
    assert images.dtype == torch.uint8 and images.is_contiguous()
    assert images.min() == 0 and images.max() == 255
    assert labels.dtype == torch.int64 and labels.shape == (len(images),)
    assert labels.min() == 0 and labels.max() == 9
    assert len(dataset_info(name).classes) == 10


@pytest.mark.parametrize("name", ["fashion_mnist", "cifar10"])
def test_balanced_datasets_have_equal_class_counts(tensors, name):
    _, labels = tensors(name, True)
    assert torch.bincount(labels).tolist() == [len(labels) // 10] * 10


@pytest.mark.parametrize("name", SPLITS)
def test_images_and_labels_match_torchvision(tensors, data_dir, name):
    images, labels = tensors(name, True)
    cls = getattr(torchvision.datasets, dataset_info(name).torchvision_class)
    ds = cls(str(data_dir), train=True, download=False)
    for i in (0, 1, 4321, len(ds) - 1):
        pil, target = ds[i]
        assert labels[i].item() == target
        pixels = torch.from_numpy(np.array(pil))  # H x W or H x W x C
        expected = pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)
        assert torch.equal(images[i], expected)


def test_channel_stats_of_mnist_are_the_well_known_values(tensors):
    mean, std = channel_stats(tensors("mnist", True)[0])
    assert mean == pytest.approx((0.1307,), abs=1e-4)
    assert std == pytest.approx((0.3081,), abs=1e-4)


def test_channel_stats_of_cifar10_are_the_well_known_values(tensors):
    mean, std = channel_stats(tensors("cifar10", True)[0])
    assert mean == pytest.approx((0.4914, 0.4822, 0.4465), abs=1e-4)
    assert std == pytest.approx((0.2470, 0.2435, 0.2616), abs=1e-4)


def test_channel_stats_equal_the_plain_float_computation():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (7, 3, 5, 6), dtype=torch.uint8, generator=g)
    images[:, 2] = images[:, 2] // 8  # a channel with a different distribution
    x = images.double() / 255
    mean, std = channel_stats(images)
    assert mean == pytest.approx(x.mean((0, 2, 3)).tolist(), abs=1e-12)
    assert std == pytest.approx(x.std((0, 2, 3)).tolist(), abs=1e-12)
    assert channel_stats(torch.full((2, 1, 3, 3), 51, dtype=torch.uint8)) == ((0.2,), (0.0,))


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_normalised_training_split_has_mean_0_and_std_1(data_dir, name):
    data = load_data(name, RunSettings("full", CPU), root=data_dir, batch_size=10000)
    channels = len(data.mean)
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    count = 0
    for x, _ in data.train:
        x = x.double()
        total += x.sum((0, 2, 3))
        squares += (x * x).sum((0, 2, 3))
        count += x.numel() // channels
    mean = total / count
    std = (squares / count - mean**2).sqrt()
    assert count == data.train.dataset_size * x.shape[2] * x.shape[3]
    assert mean.tolist() == pytest.approx([0.0] * channels, abs=1e-4)
    assert std.tolist() == pytest.approx([1.0] * channels, abs=1e-4)


def test_load_data_quick_mode_uses_seeded_subsets(tensors, data_dir):
    run = RunSettings("quick", CPU, seed=3)
    data = load_data("mnist", run, root=data_dir)
    assert data.train.dataset_size == QUICK_TRAIN == 2048
    assert data.test.dataset_size == QUICK_TEST == 1024
    assert data.image_shape == (1, 28, 28)
    assert data.classes == tuple(str(i) for i in range(10))
    assert (data.mean, data.std) == channel_stats(tensors("mnist", True)[0])  # the whole split's
    assert data.train.shuffle and not data.test.shuffle and not data.test.augment
    assert len(torch.unique(data.train.labels)) == 10
    again = load_data("mnist", run, root=data_dir)
    assert torch.equal(again.train.images, data.train.images)
    assert torch.equal(again.test.labels, data.test.labels)
    other = load_data("mnist", RunSettings("quick", CPU, seed=4), root=data_dir)
    assert not torch.equal(other.train.labels, data.train.labels)
    assert "train=2048 images" in repr(data) and "test=1024 images" in repr(data)


def test_load_data_sizes_and_padding(data_dir):
    data = load_data("fashion_mnist", RunSettings("full", CPU), root=data_dir, train_size=300,
                     test_size=200, pad_to=32, batch_size=64, augment=True)
    assert data.train.dataset_size == 300 and data.test.dataset_size == 200
    assert data.image_shape == (1, 32, 32) and tuple(data.train.images.shape) == (300, 1, 32, 32)
    assert data.train.augment and len(data.train) == 5
    x, y = next(iter(data.train))
    assert x.shape == (64, 1, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    full = load_data("fashion_mnist", RunSettings("full", CPU), root=data_dir, test_size=10)
    assert full.train.dataset_size == 60000 and full.test.dataset_size == 10


def test_pad_images_adds_zeros_on_each_side():
    images = torch.randint(1, 256, (4, 3, 28, 28), dtype=torch.uint8)
    padded = pad_images(images, 32)
    assert padded.shape == (4, 3, 32, 32) and padded.dtype == torch.uint8
    assert torch.equal(padded[..., 2:30, 2:30], images)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (padded[..., border] == 0).all()
    assert torch.equal(pad_images(images, 28), images)


@pytest.mark.parametrize("size", [31, 27, 20])
def test_pad_images_refuses_odd_or_negative_differences(size):
    with pytest.raises(ValueError, match=f"cannot pad 28x28 images to {size}"):
        pad_images(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), size)


def test_unknown_dataset_is_a_value_error():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*cifar10.*mnist"):
        load_tensors("imagenet")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_data("svhn", RunSettings("quick", CPU))
    assert dataset_info("Fashion-MNIST").name == "fashion_mnist"


@pytest.fixture
def offline(monkeypatch):
    """No network, as on an offline machine: every URL open raises URLError (and is counted)."""
    calls = []

    def urlopen(*args, **kwargs):
        calls.append(args)
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls


@pytest.mark.parametrize("name, folder_name", [("mnist", "MNIST"), ("cifar10", "CIFAR10")])
@pytest.mark.parametrize("via", ["root", "env"])
def test_missing_dataset_offline_says_what_where_and_how_to_fix(tmp_path, monkeypatch, offline,
                                                                 name, folder_name, via):
    root = tmp_path / "empty"
    root.mkdir()
    if via == "env":
        monkeypatch.setenv("CNNLIB_DATA", str(root))
    with pytest.raises(DatasetUnavailableError) as info:
        load_tensors(name, root=root if via == "root" else None)
    message = str(info.value)
    assert offline, "the download was never attempted"
    assert folder_name in message  # which dataset
    assert str(root) in message  # where it looked
    assert "Fix:" in message and "CNNLIB_DATA" in message and "internet" in message  # the way out
    assert isinstance(info.value, RuntimeError)


def test_missing_dataset_in_a_read_only_root(tmp_path, offline):
    root = tmp_path / "readonly"
    root.mkdir()
    root.chmod(0o500)
    try:
        if os.access(root, os.W_OK):
            pytest.skip("running as root: a 0o500 folder is still writable")
        with pytest.raises(DatasetUnavailableError, match="not writable") as info:
            load_tensors("mnist", root=root)
        assert str(root) in str(info.value) and "CNNLIB_DATA" in str(info.value)
    finally:
        root.chmod(0o700)


def test_missing_dataset_in_a_root_reported_not_writable(tmp_path, monkeypatch, offline):
    """The same message where permissions cannot be dropped (as root): os.access says no."""
    root = tmp_path / "readonly"
    root.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw:
                        False if str(path) == str(root) and mode == os.W_OK
                        else real_access(path, mode, **kw))
    with pytest.raises(DatasetUnavailableError, match="MNIST is not in .* not writable") as info:
        load_tensors("mnist", root=root)
    assert str(root) in str(info.value) and "CNNLIB_DATA" in str(info.value)
    assert not offline and list(root.iterdir()) == []  # it did not try to download into it


# --- quick mode reads what it uses: CIFAR-10's batch files, its statistics once --------------

@pytest.fixture
def fresh_caches(monkeypatch):
    """A process that has read nothing yet: no file known intact, no statistics counted."""
    from cnnlib import data

    monkeypatch.setattr(data, "_INTACT", set())
    monkeypatch.setattr(data, "_STATS", {})


@pytest.fixture
def opened(monkeypatch, data_dir):
    """The names of the CIFAR-10 files opened (each opening counted), and the number of
    channel_stats calls."""
    import builtins

    from cnnlib import data

    folder = (data_dir / "cifar-10-batches-py").resolve()
    log = {"files": [], "stats": 0}
    real_open, real_stats = builtins.open, data.channel_stats

    def spy_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.dirname(
                os.path.realpath(file)) == str(folder):
            log["files"].append(os.path.basename(file))
        return real_open(file, *args, **kwargs)

    def spy_stats(images):
        log["stats"] += 1
        return real_stats(images)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(data, "channel_stats", spy_stats)
    return log


TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]


def test_a_cifar10_split_reads_its_own_batch_files_only(fresh_caches, opened, data_dir):
    load_tensors("cifar10", train=False, root=data_dir)
    assert opened["files"] == ["test_batch"] * 2  # its md5, then its pixels
    opened["files"].clear()
    load_tensors("cifar10", train=False, root=data_dir)
    assert opened["files"] == ["test_batch"]  # the md5 is checked once per process


def test_quick_cifar10_load_data_reads_each_batch_once_and_counts_the_pixels_once(
        fresh_caches, opened, data_dir):
    run = RunSettings("quick", CPU)
    first = load_data("cifar10", run, root=data_dir)
    assert sorted(opened["files"]) == sorted(2 * (TRAIN_BATCHES + ["test_batch"]))
    assert opened["stats"] == 1  # batches.meta (the class names) is never read
    opened["files"].clear()
    again = load_data("cifar10", run, root=data_dir)
    assert sorted(opened["files"]) == sorted(TRAIN_BATCHES + ["test_batch"])
    assert opened["stats"] == 1  # the statistics of the first call, reused
    assert (again.mean, again.std) == (first.mean, first.std)
    assert torch.equal(again.train.images, first.train.images)
    padded = load_data("cifar10", run, root=data_dir, pad_to=36)
    assert opened["stats"] == 2 and padded.mean != first.mean  # other padding: counted


@pytest.mark.parametrize("pad_to", [None, 40])
def test_quick_cifar10_load_data_gives_what_torchvision_and_the_whole_split_give(
        fresh_caches, data_dir, pad_to):
    """The same tensors as before the direct read: torchvision's pixels and labels, the
    statistics of the whole (padded) training split, the subsets of the same seeds."""
    def split(train):
        ds = torchvision.datasets.CIFAR10(str(data_dir), train=train, download=False)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        return images, torch.tensor(ds.targets)

    (x_train, y_train), (x_test, y_test) = split(True), split(False)
    if pad_to:
        x_train, x_test = pad_images(x_train, pad_to), pad_images(x_test, pad_to)
    run = RunSettings("quick", CPU, seed=5)
    data = load_data("cifar10", run, root=data_dir, pad_to=pad_to)
    assert (data.mean, data.std) == channel_stats(x_train)
    for loader, images, labels, seed in ((data.train, x_train, y_train, 5),
                                         (data.test, x_test, y_test, 6)):
        index = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
        index = index[:loader.dataset_size]
        assert torch.equal(loader.images, images[index])
        assert torch.equal(loader.labels, labels[index])


def test_the_readme_lists_every_dataset_file_with_the_md5_loading_checks(data_dir):
    """The README's offline set-up gives each file's md5 for a reader without the shared
    folder: the list is the one cnnlib.data checks, file for file."""
    from pathlib import Path

    from cnnlib.data import DATASETS, dataset_files

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    listed = dict(line.split()[::-1] for line in readme.splitlines()
                  if len(line.split()) == 2 and len(line.split()[0]) == 32
                  and line.split()[0].isalnum())
    expected = {str(path.relative_to(data_dir)): md5 for name in DATASETS
                for path, md5 in dataset_files(name, data_dir)}
    assert listed == expected
