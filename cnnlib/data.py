"""Datasets of the book, read through torchvision's own dataset classes, as uint8 tensors.

The data root is ``$CNNLIB_DATA`` (default ``~/.cache/cnnlib/data``). A missing dataset is
downloaded when the machine is online; offline, you get an error naming the dataset, the folder
looked in and how to fix it. A damaged file (a download cut short, a disk error) is named, with
what to delete. Nothing here ever substitutes fake data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torchvision.datasets.utils import check_integrity

from .loader import TensorLoader
from .settings import RunSettings


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    torchvision_class: str
    classes: tuple[str, ...]
    channels: int
    size: int


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "MNIST", tuple(str(i) for i in range(10)), 1, 28),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "FashionMNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"), 1, 28),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR10",
        ("airplane", "automobile", "bird", "cat", "deer",
         "dog", "frog", "horse", "ship", "truck"), 3, 32),
}


class DatasetUnavailableError(RuntimeError):
    """The dataset is not in the data root and cannot be downloaded, or a file of it is damaged."""


# The md5 of every file torchvision reads. CIFAR-10's are torchvision's own (``train_list``,
# ``test_list``, ``meta``); for the MNIST family torchvision records only the md5s of the .gz
# downloads, so the published md5s of the extracted files are listed here.
_EXTRACTED_MD5 = {
    "MNIST": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "FashionMNIST": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder datasets live in: the argument, else ``$CNNLIB_DATA``, else the user's cache."""
    if root is None:
        root = os.environ.get("CNNLIB_DATA") or Path.home() / ".cache" / "cnnlib" / "data"
    path = Path(root).expanduser()
    if not path.is_absolute() and not path.exists():
        # a relative root such as ".data" is also found from a notebook in chapters/
        for parent in Path.cwd().parents:
            if (parent / path).is_dir():
                return parent / path
    return path


def dataset_info(name: str) -> DatasetInfo:
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[key]


def dataset_files(name: str, root=None) -> list[tuple[Path, str]]:
    """Every file torchvision reads for a dataset (both splits), with its expected md5."""
    info = dataset_info(name)
    folder = data_root(root)
    if info.torchvision_class in _EXTRACTED_MD5:
        raw = folder / info.torchvision_class / "raw"  # torchvision's MNIST.raw_folder
        return [(raw / file, md5) for file, md5 in _EXTRACTED_MD5[info.torchvision_class].items()]
    cls = getattr(torchvision.datasets, info.torchvision_class)
    listed = cls.train_list + cls.test_list + [[cls.meta["filename"], cls.meta["md5"]]]
    return [(folder / cls.base_folder / file, md5) for file, md5 in listed]


def verify_dataset(name: str, root=None) -> None:
    """Check each file of a dataset that is present against its md5; raise naming any damaged.

    Missing files are not an error here: loading downloads them. A damaged file is, because
    torchvision keeps a file that exists instead of downloading it again. Takes about 0.2 s for
    MNIST and 0.6 s for CIFAR-10, so loading runs it only when reading the files fails (or when
    asked, with ``verify=True``).
    """
    damaged = [path for path, md5 in dataset_files(name, root)
               if path.is_file() and not check_integrity(str(path), md5)]
    if damaged:
        files = "\n".join(f"  {path.absolute()} ({path.stat().st_size:,} bytes)"
                          for path in damaged)
        one = len(damaged) == 1
        this, it = ("this file", "it") if one else (f"these {len(damaged)} files", "them")
        raise DatasetUnavailableError(
            f"{dataset_info(name).torchvision_class}: {this} in the data root "
            f"{'is' if one else 'are'} damaged (the md5 is not the published one: a download cut "
            f"short, or a disk error):\n{files}\nFix: delete {it} and run again to re-download "
            f"{it} (offline: put an intact copy there).")


def torchvision_dataset(name: str, train: bool = True, root=None, transform=None,
                        verify: bool = False):
    """The torchvision dataset object, downloading only if it is missing and we are online.

    ``verify=True`` first checks every file's md5 (see :func:`verify_dataset`); without it the
    check runs only if reading the files fails.
    """
    info = dataset_info(name)
    cls = getattr(torchvision.datasets, info.torchvision_class)
    folder = data_root(root)
    if verify:
        verify_dataset(name, folder)
    try:
        return cls(str(folder), train=train, transform=transform, download=False)
    except Exception as error:  # missing, incomplete or damaged: find out which
        try:
            verify_dataset(name, folder)
        except DatasetUnavailableError as damaged:
            raise damaged from error
        if all(path.is_file() for path, _ in dataset_files(name, folder)):
            raise  # every file is there and intact: the problem is elsewhere
    if folder.exists() and not os.access(folder, os.W_OK):
        raise DatasetUnavailableError(
            f"{info.torchvision_class} is not in {folder}, and that folder is not writable, so it "
            f"cannot be downloaded there. Point CNNLIB_DATA at a writable folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(str(folder), train=train, transform=transform, download=True)
    except (OSError, RuntimeError) as error:  # URLError is an OSError
        cause = f"{type(error).__name__}: {error}".strip().replace("\n", "\n  ")
        raise DatasetUnavailableError(
            f"{info.torchvision_class} ({'train' if train else 'test'} split) is not in the data "
            f"root {folder}, and downloading it failed:\n  {cause}\n"
            "Fix: connect to the internet and run again, or put a copy of the dataset in torchvision's "
            f"layout under {folder}, or set CNNLIB_DATA to the folder that has it (the book's "
            "README shows how to unpack an offline copy)."
        ) from error


def load_tensors(name: str, train: bool = True, root=None,
                 verify: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole split as ``(images, labels)``: uint8 ``N x C x H x W`` and int64 ``N``."""
    ds = torchvision_dataset(name, train=train, root=root, verify=verify)
    images = torch.as_tensor(ds.data)
    if images.ndim == 3:  # MNIST-like: N x H x W
        images = images.unsqueeze(1)
    else:  # CIFAR: N x H x W x C
        images = images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return images.contiguous(), labels


def pad_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad square images equally on every side up to ``size`` (MNIST 28 -> 32 for LeNet-5)."""
    extra = size - images.shape[-1]
    if extra < 0 or extra % 2:
        raise ValueError(f"cannot pad {images.shape[-1]}x{images.shape[-1]} images to {size}: "
                         "expected a larger size with an even difference")
    return torch.nn.functional.pad(images, (extra // 2,) * 4)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, on the 0..1 scale; compute them on training data.

    Counted from a 256-bin histogram per channel: exact, and no float copy of the whole dataset
    (CIFAR-10 as float64 would be 1.2 GB).
    """
    values = torch.arange(256, dtype=torch.float64) / 255
    n = images.numel() // images.shape[1]
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        mean = (counts * values).sum() / n
        var = (counts * (values - mean) ** 2).sum() / (n - 1)  # unbiased, as torch.std
        means.append(mean.item())
        stds.append(var.sqrt().item())
    return tuple(means), tuple(stds)


def subset(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int = 0):
    """A random, seeded subset of ``n`` examples (all of them if ``n`` is larger)."""
    if n >= len(labels):
        return images, labels
    g = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(labels), generator=g)[:n]
    return images[index], labels[index]


# How much data quick mode uses: enough to see learning, little enough for seconds on a CPU.
QUICK_TRAIN, QUICK_TEST = 2048, 1024


@dataclass
class DataBundle:
    """Train and test loaders plus what a chapter wants to show about them."""

    train: object
    test: object
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    image_shape: tuple[int, int, int]

    def __repr__(self) -> str:
        mean = ", ".join(f"{m:.4f}" for m in self.mean)
        std = ", ".join(f"{s:.4f}" for s in self.std)
        return (f"DataBundle(train={len(self.train.labels)} images, test={len(self.test.labels)} "
                f"images, shape={self.image_shape}, mean=({mean}), std=({std}))")


def load_data(name: str, run: RunSettings, batch_size: int = 128, augment: bool = False,
              pad_to: int | None = None, train_size: int | None = None,
              test_size: int | None = None, root=None, eval_batch_size: int = 1000,
              verify: bool = False) -> DataBundle:
    """The book's one-liner: real data, normalised with training statistics, as tensor loaders.

    Quick mode takes a seeded subset (``QUICK_TRAIN``/``QUICK_TEST``); full mode the whole split
    unless ``train_size``/``test_size`` say otherwise. ``augment`` adds random crop (pad 4) and
    horizontal flip, done batch-wise on the device. ``verify=True`` checks every file's md5 first.
    """
    info = dataset_info(name)
    if verify:
        verify_dataset(name, root)
    x_train, y_train = load_tensors(name, train=True, root=root)
    x_test, y_test = load_tensors(name, train=False, root=root)
    if pad_to:
        x_train, x_test = pad_images(x_train, pad_to), pad_images(x_test, pad_to)
    mean, std = channel_stats(x_train)  # from all the training data, never the test data
    n_train = train_size or (QUICK_TRAIN if run.quick else len(y_train))
    n_test = test_size or (QUICK_TEST if run.quick else len(y_test))
    x_train, y_train = subset(x_train, y_train, n_train, seed=run.seed)
    x_test, y_test = subset(x_test, y_test, n_test, seed=run.seed + 1)
    train = TensorLoader(x_train, y_train, batch_size=batch_size, shuffle=True, augment=augment,
                         mean=mean, std=std, device=run.device, seed=run.seed)
    test = TensorLoader(x_test, y_test, batch_size=eval_batch_size, shuffle=False, augment=False,
                        mean=mean, std=std, device=run.device, seed=run.seed)
    return DataBundle(train, test, info.classes, mean, std, tuple(x_train.shape[1:]))


def torchvision_loader(name: str, train: bool, batch_size: int = 128, augment: bool = False,
                       mean=None, std=None, root=None, num_workers: int = 0, shuffle=None,
                       indices=None):
    """The ordinary path: dataset + PIL transforms + ``DataLoader``, for data that does not fit
    in memory, and as the baseline the tensor loader is measured against."""
    from torchvision import transforms as T

    info = dataset_info(name)
    steps = []
    if augment:
        steps += [T.RandomCrop(info.size, padding=4), T.RandomHorizontalFlip()]
    steps.append(T.ToTensor())
    if mean is not None:
        steps.append(T.Normalize(mean, std))
    ds = torchvision_dataset(name, train=train, root=root, transform=T.Compose(steps))
    if indices is not None:
        ds = torch.utils.data.Subset(ds, list(indices))
    return torch.utils.data.DataLoader(ds, batch_size=batch_size,
                                       shuffle=train if shuffle is None else shuffle,
                                       num_workers=num_workers)
