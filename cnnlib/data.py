"""Datasets of the book, in torchvision's layout and read as torchvision reads them, as
uint8 tensors: MNIST and Fashion-MNIST through torchvision's dataset classes; CIFAR-10's
batch files of the one split asked for directly, each checked against its md5 once per
process (the class checks all seven files at every call). torchvision downloads what is
missing.

The data root is ``$CNNLIB_DATA`` (default ``~/.cache/cnnlib/data``). A missing dataset is
downloaded when the machine is online; offline, you get an error naming the dataset, the folder
looked in and how to fix it. A damaged file (a download cut short, a disk error) is named, with
what to delete. Nothing here ever substitutes fake data.
"""

from __future__ import annotations

import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.datasets.utils import check_integrity

from ._args import whole_number
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
    if not isinstance(name, str):
        raise TypeError(f"the dataset name must be a string, one of {sorted(DATASETS)}; got "
                        f"{name!r}")
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
        raise _damaged_error(name, damaged)


def _damaged_error(name: str, damaged: list[Path]) -> DatasetUnavailableError:
    """The error that names damaged files of a dataset and says what to delete."""
    files = "\n".join(f"  {path.absolute()} ({path.stat().st_size:,} bytes)"
                      for path in damaged)
    one = len(damaged) == 1
    this, it = ("this file", "it") if one else (f"these {len(damaged)} files", "them")
    return DatasetUnavailableError(
        f"{dataset_info(name).torchvision_class}: {this} in the data root "
        f"{'is' if one else 'are'} damaged (the md5 is not the published one: a "
        f"download cut short, or a disk error):\n{files}\nFix: delete {it} and run "
        f"again to re-download {it} (offline: put an intact copy there).")


# Files whose md5 was found intact in this process, as (path, size, mtime): CIFAR-10
# is checked before it is unpickled, once per file, not at every load (0.26 s for six).
_INTACT: set[tuple[str, int, int]] = set()


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _intact(path: Path, md5: str) -> bool:
    key = _file_key(path)
    if key not in _INTACT:
        if not check_integrity(str(path), md5):
            return False
        _INTACT.add(key)
    return True


def _read_cifar(train: bool, root=None):
    """One CIFAR-10 split as ``(images, labels)``, reading its own batch files only.

    torchvision's ``CIFAR10`` checks the md5 of all seven files each time it is built
    (both splits and the class names) before reading its split. Here each batch file of
    the split is checked once per process, then unpickled (only a file with the
    published md5 is unpickled). ``None`` when a file is missing: torchvision downloads
    it.
    """
    cls = torchvision.datasets.CIFAR10
    folder = data_root(root) / cls.base_folder
    batches = [(folder / file, md5) for file, md5 in (cls.train_list if train
                                                      else cls.test_list)]
    if not all(path.is_file() for path, _ in batches):
        return None
    damaged = [path for path, md5 in batches if not _intact(path, md5)]
    if damaged:
        raise _damaged_error("cifar10", damaged)
    images, labels = [], []
    for path, _ in batches:
        with open(path, "rb") as file:
            entry = pickle.load(file, encoding="latin1")
        images.append(entry["data"])  # 10,000 x 3072: each row is C x H x W
        labels += entry["labels"]
    pixels = torch.from_numpy(np.concatenate(images)).view(-1, 3, 32, 32)
    return pixels, torch.tensor(labels, dtype=torch.int64)


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
    if folder.exists() and not folder.is_dir():
        raise DatasetUnavailableError(
            f"the data root {folder} is a file, not a folder, so {info.torchvision_class} can "
            "neither be read nor downloaded there: pass root= (or set CNNLIB_DATA to) the folder "
            "that holds the datasets, or a new folder to download them into")
    if folder.exists() and not os.access(folder, os.W_OK):
        raise DatasetUnavailableError(
            f"{info.torchvision_class} is not in {folder}, and that folder is not writable, so it "
            f"cannot be downloaded there. Point CNNLIB_DATA at a writable folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetUnavailableError(
            f"{info.torchvision_class} is not in the data root {folder}, and that folder cannot "
            f"be created to download it into ({type(error).__name__}: {error.strerror or error}):"
            " pass root= (or set CNNLIB_DATA to) the folder that holds the datasets, or a "
            "folder you can write to") from error
    try:
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
    """A whole split as ``(images, labels)``: uint8 ``N x C x H x W`` and int64 ``N``.

    The split is checked as it is read: one label per image, every label a class of the
    dataset, images of the dataset's shape. A label file with damaged bytes but an intact
    layout reads without error in torchvision; here it raises, naming the damaged file.
    """
    info = dataset_info(name)
    if not isinstance(train, (bool, np.bool_)):
        raise TypeError(f"train must be True (the training split) or False (the test split), "
                        f"got {train!r}" + (": write train=False for the test split"
                                            if isinstance(train, str) else ""))
    if verify:
        verify_dataset(name, root)
    split = _read_cifar(train, root) if info.torchvision_class == "CIFAR10" else None
    if split is None:  # the MNIST family, or CIFAR-10 to download: through torchvision
        split = _from_torchvision(torchvision_dataset(name, train=train, root=root))
    images, labels = split
    problem = _split_problem(info, images, labels)
    if problem:
        _raise_damaged_split(name, train, root, problem)
    return images.contiguous(), labels


def _from_torchvision(ds) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.as_tensor(ds.data)
    if images.ndim == 3:  # MNIST-like: N x H x W
        images = images.unsqueeze(1)
    else:  # CIFAR: N x H x W x C
        images = images.permute(0, 3, 1, 2)
    return images, torch.as_tensor(ds.targets, dtype=torch.int64)


def _split_problem(info: DatasetInfo, images: torch.Tensor, labels: torch.Tensor) -> str:
    """What is wrong with a split as read ('' if nothing): counts, label range, image shape."""
    if len(images) != len(labels):
        return f"{len(images):,} images but {len(labels):,} labels"
    shape = (info.channels, info.size, info.size)
    if tuple(images.shape[1:]) != shape:
        return f"images of shape {tuple(images.shape[1:])}, not {shape}"
    bad = (labels < 0) | (labels >= len(info.classes))
    if bad.any():
        first = int(bad.nonzero()[0])
        return (f"{int(bad.sum()):,} label(s) outside 0..{len(info.classes) - 1} (the first: "
                f"{int(labels[first])} at index {first:,})")
    return ""


def _raise_damaged_split(name: str, train: bool, root, problem: str) -> None:
    """A split that reads but is wrong: name the damaged file (md5), or say how to check."""
    info = dataset_info(name)
    head = f"{info.torchvision_class} ({'train' if train else 'test'} split) has {problem}"
    try:
        verify_dataset(name, root)
    except DatasetUnavailableError as damaged:
        raise DatasetUnavailableError(f"{head}: a file is damaged.\n{damaged}") from None
    raise DatasetUnavailableError(
        f"{head}, although every file's md5 is the published one. Fix: delete the dataset's "
        f"folder under {data_root(root)} and run again to re-download it, or check the files "
        f"with cnnlib.data.verify_dataset({name!r}).")


def pad_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad square images equally on every side up to ``size`` (MNIST 28 -> 32 for LeNet-5)."""
    whole_number("pad_to", size, 1, meaning="it is the image size after padding, e.g. 32")
    extra = size - images.shape[-1]
    if extra < 0 or extra % 2:
        n = images.shape[-1]
        fix = (f"pass pad_to=None to keep {n}x{n}, or a larger size such as {n + 4}" if extra < 0
               else f"e.g. pad_to={size + 1}")
        raise ValueError(f"cannot pad {n}x{n} images to {size}: expected a larger size with an "
                         f"even difference (the same padding on every side); {fix}")
    return torch.nn.functional.pad(images, (extra // 2,) * 4)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, on the 0..1 scale; compute them on training data.

    Counted from a 256-bin histogram per channel: exact, and no float copy of the whole dataset
    (CIFAR-10 as float64 would be 1.2 GB).
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        got = (f"{images.dtype} with shape {tuple(images.shape)}"
               if isinstance(images, torch.Tensor) else type(images).__name__)
        raise TypeError(f"channel_stats needs uint8 N x C x H x W images (pixels 0..255, as "
                        f"load_tensors gives), got {got}")
    if images.numel() < 2 * images.shape[1]:
        raise ValueError(f"channel_stats needs at least 2 pixels per channel, got images of "
                         f"shape {tuple(images.shape)}")
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
    """A random, seeded subset of ``n`` examples (all of them, in order, if ``n`` is larger)."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images):,} images but {len(labels):,} labels: subset needs one "
                         "label per image")
    n = whole_number("n", n, 1, meaning="it is the number of examples to keep")
    if n >= len(labels):
        return images, labels
    g = torch.Generator().manual_seed(whole_number("seed", seed))
    index = torch.randperm(len(labels), generator=g)[:n]
    return images[index], labels[index]


class AugmentWarning(UserWarning):
    """An augmentation was changed or left out because it would damage the data (MNIST flips)."""


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
    horizontal flip, done batch-wise on the device; for MNIST the crop only, with an
    :class:`AugmentWarning` that says so (a mirrored digit is not a digit). ``verify=True`` checks every file's md5 first.
    Sizes are checked before anything is read: ``train_size``/``test_size`` are ``None`` (the
    default) or from 1 to the split's size, ``pad_to`` is ``None`` (no padding) or a size, batch
    sizes are whole numbers >= 1; anything else (0, -5, 2.5, True) raises a ``ValueError``.
    """
    info = dataset_info(name)
    if not isinstance(run, RunSettings):
        raise TypeError(f"run must be the settings cnnlib.setup() returns (run = cnnlib.setup(),"
                        f" then load_data({name!r}, run)), got {run!r:.40}: the device and the "
                        "mode come from it")
    _check_loader_arguments(batch_size, eval_batch_size, pad_to, train_size, test_size)
    flip = True
    if augment and info.torchvision_class == "MNIST":  # a mirrored digit is not a digit
        flip = False
        warnings.warn("augment=True on MNIST: random crops only, no horizontal flips (a mirrored "
                      "2, 3 or 7 is not a digit)", AugmentWarning, stacklevel=2)
    if verify:
        verify_dataset(name, root)
    x_train, y_train = load_tensors(name, train=True, root=root)
    x_test, y_test = load_tensors(name, train=False, root=root)
    mean, std = _training_stats(name, root, pad_to, x_train)  # never the test data
    quick = run.quick
    n_train = _split_size("train_size", train_size, len(y_train), QUICK_TRAIN if quick else None)
    n_test = _split_size("test_size", test_size, len(y_test), QUICK_TEST if quick else None)
    x_train, y_train = subset(x_train, y_train, n_train, seed=run.seed)
    x_test, y_test = subset(x_test, y_test, n_test, seed=run.seed + 1)
    if pad_to is not None:  # after the subset: the same images, fewer to pad
        x_train, x_test = pad_images(x_train, pad_to), pad_images(x_test, pad_to)
    classes = len(info.classes)
    train = TensorLoader(x_train, y_train, batch_size=batch_size, shuffle=True, augment=augment,
                         mean=mean, std=std, device=run.device, seed=run.seed,
                         num_classes=classes, flip=flip)
    test = TensorLoader(x_test, y_test, batch_size=eval_batch_size, shuffle=False, augment=False,
                        mean=mean, std=std, device=run.device, seed=run.seed, num_classes=classes)
    return DataBundle(train, test, info.classes, mean, std, tuple(x_train.shape[1:]))


# Channel statistics of whole training splits, by dataset, padding and the files (path,
# size, time): a notebook that loads a dataset five times counts its pixels once.
_STATS: dict[tuple, tuple[tuple[float, ...], tuple[float, ...]]] = {}


def _training_stats(name: str, root, pad_to: int | None, images: torch.Tensor):
    """:func:`channel_stats` of the whole training split ``images`` (padded to
    ``pad_to``), computed once per process for the same files."""
    files = tuple(_file_key(path) for path, _ in dataset_files(name, root)
                  if path.is_file())
    key = (dataset_info(name).name, pad_to, files)
    if key not in _STATS:
        padded = images if pad_to is None else pad_images(images, pad_to)
        _STATS[key] = channel_stats(padded)
    return _STATS[key]


def _check_loader_arguments(batch_size, eval_batch_size, pad_to, train_size, test_size) -> None:
    """Fail before reading any data: every size is a whole number, None where that has a
    meaning (the default)."""
    whole_number("batch_size", batch_size, 1, meaning="it is the training images per batch")
    whole_number("eval_batch_size", eval_batch_size, 1,
                 meaning="it is the test images per batch")
    if pad_to is not None:
        whole_number("pad_to", pad_to, 1, meaning="it is the image size after padding, e.g. 32 "
                     "for LeNet-5; None pads nothing")
    for name, size in (("train_size", train_size), ("test_size", test_size)):
        if size is not None:
            whole_number(name, size, 1, meaning="it is the number of images to use; None means "
                         "the default (the whole split, or a subset in quick mode)")


def _split_size(name: str, size: int | None, available: int, quick: int | None) -> int:
    """How many images of a split to use: ``size``, else quick mode's subset, else all."""
    if size is None:
        return min(quick, available) if quick else available
    return whole_number(name, size, 1, available,
                        meaning=f"the split has {available:,} images; None means the default")


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
