"""The data of one run of a design: a seeded subset of the dataset, shrunk to the design's
image size, normalised, as train and test loaders on the device. Apart from
:mod:`cnnlib.experiments`, which trains with it, because a page that measures a trained
network reads the same images through it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import channel_stats, dataset_info, load_tensors, subset
from .designs import Budget, Experiment
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
    ``arm`` picks the arm's own settings (augmentation, and standardised or pixel inputs).
    """
    x_train, y_train = load_tensors(exp.dataset, train=True)
    x_test, y_test = load_tensors(exp.dataset, train=False)
    x_train, y_train = subset(x_train, y_train, budget.train_size, seed=0)
    x_test, y_test = subset(x_test, y_test, budget.test_size, seed=1)
    x_train, x_test = shrink(x_train, budget.image_size), shrink(x_test, budget.image_size)
    mean, std = channel_stats(x_train)
    inputs = exp.setting(arm, "inputs", "standardised")
    if inputs == "pixels":  # (x/255 - mean) * 255: pixel units, centred, not scaled
        std = torch.full_like(torch.as_tensor(mean, dtype=torch.float32), 1 / 255)
    elif inputs != "standardised":
        raise ValueError(f"inputs must be 'standardised' or 'pixels', got {inputs!r}")
    classes = len(dataset_info(exp.dataset).classes)
    padding = max(1, 4 * budget.image_size // 32)  # the paper's 4 pixels at 32×32
    train = TensorLoader(x_train, y_train, batch_size=budget.batch_size, shuffle=True,
                         augment=exp.setting(arm, "augment", exp.augment), padding=padding,
                         mean=mean, std=std,
                         device=device, seed=seed, num_classes=classes)
    test = TensorLoader(x_test, y_test, batch_size=1000, shuffle=False, mean=mean, std=std,
                        device=device, seed=seed, num_classes=classes)
    return train, test
