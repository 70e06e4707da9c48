"""What a design is: the budget it trains on, and the dataclass that says what an experiment
compares, checked when it is declared (arms and their settings, classes, input statistics).
Apart from :mod:`cnnlib.designs`, which declares the book's experiments with it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from .data import dataset_info


@dataclass(frozen=True)
class Budget:
    """How much an experiment trains: images, their size, epochs, batch."""

    train_size: int
    test_size: int
    epochs: int
    image_size: int = 32
    batch_size: int = 128


@dataclass(frozen=True)
class Experiment:
    """A design: the arms it compares, the budget, and how one arm is built and optimised."""

    name: str
    question: str
    arms: tuple[str, ...]
    budget: Budget
    hyper: dict
    build: Callable[[str], torch.nn.Module]
    optimiser: Callable[[torch.nn.Module, dict, Budget, int], tuple]
    dataset: str = "cifar10"
    augment: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)
    arm_settings: dict = field(default_factory=dict)
    """Per arm, what differs besides the model: ``hyper`` (e.g. its own learning rate),
    ``augment`` (crops and flips on or off) and ``inputs`` (``"standardised"``, the default, or
    ``"pixels"``: pixel values 0..255 with the mean taken off, as AlexNet's paper fed them)
    and ``per_class`` (each seed trains on its own draw of that many images per class, from
    the budget's ``train_size`` images)."""
    probe: Callable[[torch.nn.Module], torch.nn.Module] | None = None
    """The module whose input a run follows (:class:`cnnlib.shift.InputPercentiles`, every
    ``probe_every`` training steps), given the built model; None for none."""
    probe_every: int = 5
    classes: tuple[str, ...] = ()
    """The dataset's classes the experiment uses, relabelled 0, 1, ... in this order; empty for
    all of them."""
    input_stats: tuple | None = None
    """The per-channel ``(mean, std)`` the inputs are standardised with (those a pretrained
    network was trained with); None for the training images' own."""

    def __post_init__(self):
        if self.probe is not None and not callable(self.probe):
            raise TypeError(f"{self.name}: probe must be a function from the built model to "
                            f"the module whose input to follow, or None; got {self.probe!r}")
        unknown = [arm for arm in self.arm_settings if arm not in self.arms]
        if unknown:
            raise ValueError(f"{self.name}: arm_settings names {unknown}, which are not arms "
                             f"of the design {list(self.arms)}: a typo, or an arm to add")
        drawn = [arm for arm in self.arms if "per_class" in self.arm_settings.get(arm, {})]
        if drawn and len(drawn) < len(self.arms):
            raise ValueError(f"{self.name}: the arms {drawn} draw images per class and "
                             f"{[a for a in self.arms if a not in drawn]} do not; give every "
                             "arm its per_class, so that all arms train on comparable draws")
        for arm in drawn:
            per = self.arm_settings[arm]["per_class"]
            if isinstance(per, bool) or not isinstance(per, int) or per < 1:
                raise ValueError(f"{self.name}: {arm}'s per_class must be a whole number of "
                                 f"images per class, 1 or more; got {per!r}")
        _check_classes(self)
        _check_input_stats(self)
        every = self.probe_every
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"{self.name}: probe_every must be a whole number of steps, 1 or "
                             f"more; got {every!r}")

    def design(self) -> dict:
        """What the record stores about the design (everything but code)."""
        b = self.budget
        design = {"question": self.question, "arms": list(self.arms), "dataset": self.dataset,
                  "train_size": b.train_size, "test_size": b.test_size, "epochs": b.epochs,
                  "image_size": b.image_size, "batch_size": b.batch_size,
                  "augment": self.augment, "hyper": dict(self.hyper),
                  "notes": list(self.notes)}
        if self.arm_settings:
            design["arm_settings"] = {arm: dict(s) for arm, s in self.arm_settings.items()}
        if self.probe is not None:
            design["probe_every"] = self.probe_every
        if self.classes:
            design["classes"] = list(self.classes)
        if self.input_stats is not None:
            design["input_stats"] = {"mean": list(self.input_stats[0]),
                                     "std": list(self.input_stats[1])}
        return design

    def hyper_for(self, arm: str) -> dict:
        """The design's hyper-parameters for ``arm``: the shared ones and the arm's own."""
        return {**self.hyper, **self.arm_settings.get(arm, {}).get("hyper", {})}

    def setting(self, arm: str, key: str, default):
        return self.arm_settings.get(arm, {}).get(key, default)


def _check_classes(exp: Experiment) -> None:
    """``classes`` as declared: a tuple of different class names of the dataset."""
    classes = exp.classes
    if isinstance(classes, str) or not isinstance(classes, (tuple, list)) or not all(
            isinstance(c, str) for c in classes):
        raise ValueError(f"{exp.name}: classes must be a tuple of class names, e.g. "
                         f"('cat', 'dog'), or () for all; got {classes!r}")
    repeated = sorted({c for c in classes if list(classes).count(c) > 1})
    if repeated:
        raise ValueError(f"{exp.name}: classes names {repeated} more than once; each class "
                         "is one label")
    if classes:
        names = dataset_info(exp.dataset).classes
        unknown = [c for c in classes if c not in names]
        if unknown:
            raise ValueError(f"{exp.name}: {exp.dataset} has no class {unknown}; its classes "
                             f"are {list(names)}")


def _check_input_stats(exp: Experiment) -> None:
    """``input_stats`` as declared: (mean, std), one number per channel each, std above 0,
    on the 0..1 scale of ``channel_stats``."""
    stats = exp.input_stats
    if stats is None:
        return
    channels = dataset_info(exp.dataset).channels
    ok = isinstance(stats, (tuple, list)) and len(stats) == 2 and all(
        isinstance(part, (tuple, list)) and len(part) == channels
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in part) for part in stats)
    if not ok or not all(0 <= m <= 1 for m in stats[0]) or not all(
            0 < v <= 1 for v in stats[1]):
        raise ValueError(f"{exp.name}: input_stats must be (mean, std), each a tuple of "
                         f"{channels} numbers on the 0..1 scale (std above 0), as "
                         f"cnnlib.channel_stats gives them; got {stats!r}")
