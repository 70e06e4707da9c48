"""The data of one run of a design: a seeded subset of the dataset, shrunk to the design's
image size, normalised, as train and test loaders on the device. Apart from
:mod:`cnnlib.experiments`, which trains with it, because a page that measures a trained
network reads the same images through it."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from .data import channel_stats, dataset_info, load_tensors, subset
from .designs import Budget, Experiment
from .folders.simulate import sample_per_class
from .loader import TensorLoader


def shrink(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images averaged down to ``size`` × ``size`` (2×2 blocks for 32 → 16), still uint8.

    A quarter of the pixels is a quarter of a convolution network's work per image at 16×16
    instead of 32×32 for the same layers: every layer's maps shrink by the same quarter, so the
    total does too (ResNet-20, option A: 40.55 M multiply-adds per image at 32×32, 10.14 M at
    16×16).
    """
    n = images.shape[-1]
    if size == n:
        return images
    if size > n or n % size:
        raise ValueError(f"can only shrink {n}×{n} images by a whole factor, got size {size}")
    pooled = F.avg_pool2d(images.float(), n // size)
    return pooled.round().clamp(0, 255).to(torch.uint8)


def experiment_data(exp: Experiment, budget: Budget, seed: int, device: torch.device,
                    arm: str | None = None):
    """Train and test loaders for a budget: a seeded subset, shrunk, normalised, on ``device``.

    The subset of images is the same for every seed (subset seed 0), so seeds vary only the
    initial weights and the batches; the statistics come from the shrunk training subset.
    ``arm`` picks the arm's own settings (augmentation, standardised or pixel inputs, and
    ``per_class``: then each seed draws its own images, that many of each class, from the
    design's subset). A design's ``classes`` keep those classes only; its ``input_stats``
    replace the training images' statistics.
    """
    per_class = _per_class(exp, arm)
    x_train, y_train = _classes(exp, *load_tensors(exp.dataset, train=True))
    x_test, y_test = _classes(exp, *load_tensors(exp.dataset, train=False))
    pool = budget.train_size if per_class is None else exp.budget.train_size
    kept = f" (the classes {', '.join(exp.classes)})" if exp.classes else ""
    for key, wanted, have in (("train_size", pool, len(y_train)),
                              ("test_size", budget.test_size, len(y_test))):
        if wanted > have:  # a record must not claim images that were not there
            raise ValueError(f"{exp.name}'s budget asks for {key} {wanted:,}, but "
                             f"{exp.dataset}{kept} has {have:,} such images: lower it")
    x_test, y_test = subset(x_test, y_test, budget.test_size, seed=1)
    classes = len(exp.classes or dataset_info(exp.dataset).classes)
    x_train, y_train = subset(x_train, y_train, pool, seed=0)
    if per_class is not None:  # the seed's own draw from the design's training images
        short = [c for c in range(classes) if (y_train == c).sum() < per_class]
        if short:
            names = exp.classes or dataset_info(exp.dataset).classes
            raise ValueError(f"{exp.name} {arm}: per_class is {per_class}, but the design's "
                             f"{pool:,} training images hold fewer of {names[short[0]]!r} "
                             f"({int((y_train == short[0]).sum())}): raise the budget's "
                             "train_size or lower per_class")
        drawn = sample_per_class(y_train, range(classes), per_class, seed=seed)
        x_train, y_train = x_train[drawn], y_train[drawn]
    x_train, x_test = shrink(x_train, budget.image_size), shrink(x_test, budget.image_size)
    mean, std = exp.input_stats or channel_stats(x_train)
    inputs = exp.setting(arm, "inputs", "standardised")
    if inputs == "pixels":  # (x/255 - mean) * 255: pixel units, centred, not scaled
        std = torch.full_like(torch.as_tensor(mean, dtype=torch.float32), 1 / 255)
    elif inputs != "standardised":
        raise ValueError(f"inputs must be 'standardised' or 'pixels', got {inputs!r}")
    padding = max(1, 4 * budget.image_size // 32)  # the paper's 4 pixels at 32×32
    train = TensorLoader(x_train, y_train, batch_size=budget.batch_size, shuffle=True,
                         augment=exp.setting(arm, "augment", exp.augment), padding=padding,
                         mean=mean, std=std,
                         device=device, seed=seed, num_classes=classes)
    test = TensorLoader(x_test, y_test, batch_size=1000, shuffle=False, mean=mean, std=std,
                        device=device, seed=seed, num_classes=classes)
    return train, test


def _per_class(exp: Experiment, arm: str | None) -> int | None:
    """The arm's images per class, None where it trains on the budget's subset; an arm that
    is not the design's is refused (a typo would silently train on the wrong images)."""
    if arm is not None and arm not in exp.arms:
        raise ValueError(f"{exp.name} has the arms {list(exp.arms)}, not {arm!r}")
    drawn = any("per_class" in s for s in exp.arm_settings.values())
    if arm is None and drawn:
        raise ValueError(f"{exp.name}'s arms draw their own images per class: name the arm "
                         f"(one of {list(exp.arms)})")
    return None if arm is None else exp.setting(arm, "per_class", None)


def arm_budget(exp: Experiment, arm: str, budget: Budget) -> Budget:
    """``budget`` with the arm's own number of training images: ``per_class`` images of each of
    the design's classes where the arm draws them, else the budget's."""
    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a cnnlib.designs.Budget, got {type(budget).__name__}")
    per_class = _per_class(exp, arm)
    if per_class is None:
        return budget
    classes = len(exp.classes or dataset_info(exp.dataset).classes)
    return dataclasses.replace(budget, train_size=per_class * classes)


def _classes(exp: Experiment, images: torch.Tensor, labels: torch.Tensor):
    """The images of the design's classes, relabelled 0, 1, ... in the design's order."""
    if not exp.classes:
        return images, labels
    names = dataset_info(exp.dataset).classes
    unknown = [c for c in exp.classes if c not in names]
    if unknown:
        raise ValueError(f"{exp.name}: {exp.dataset} has no class {unknown}; its classes are "
                         f"{list(names)}")
    keep = torch.tensor([names.index(c) for c in exp.classes])
    where = torch.isin(labels, keep)
    relabel = torch.full((len(names),), -1, dtype=torch.long)
    relabel[keep] = torch.arange(len(keep))
    return images[where], relabel[labels[where].long()].to(labels.dtype)
