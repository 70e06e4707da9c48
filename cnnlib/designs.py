"""The designs of the book's controlled experiments: what each compares, on what budget.

An experiment fixes everything but the thing it compares (its *arms*): data, budget, optimiser
and schedule are the same for every arm, except what an arm's own settings name (its learning
rate where a pilot chose one per arm, crops and flips, the scale of its inputs). The designs
are code, so a record can be checked against the design that made it;
:mod:`cnnlib.experiments` runs them.
"""

from __future__ import annotations

import torch

from . import finetune, pretrained
from ._design import Budget, Experiment  # noqa: F401 (the public names)
from ._design_optim import _sgd, check_hyper, finetune_sgd, one_cycle_hyper  # noqa: F401
from .models import build_model, get_model
from .models.mlp import mlp
from .models.nin import NiNCifar
from .models.resnet import cifar_resnet
from .models.small_cnn import small_cnn


def _degradation_model(arm: str) -> torch.nn.Module:
    kind, depth = arm.split("-")
    return cifar_resnet(int(depth), shortcut=kind == "resnet", shortcut_type="A")


EXPERIMENTS: dict[str, Experiment] = {}


def register(exp: Experiment, replace: bool = False) -> Experiment:
    """Add ``exp`` to the designs ``cnnlib.experiments`` runs by name. A name already taken
    (the book's own designs too) is refused unless ``replace=True``: a copy of a design
    should get a name of its own, so that the original stays what the chapters read."""
    if exp.name in EXPERIMENTS and not replace and EXPERIMENTS[exp.name] is not exp:
        raise ValueError(f"a design named {exp.name!r} is registered already: give the copy "
                         "a name of its own (dataclasses.replace(design, name=...)), or pass "
                         "replace=True to replace it")
    EXPERIMENTS[exp.name] = exp
    return exp


register(Experiment(
    name="degradation",
    question="Does a deeper plain network train worse than a shallower one, and a residual "
             "network of the same depth not?",
    arms=("plain-20", "plain-56", "resnet-20", "resnet-56"),
    budget=Budget(train_size=10_000, test_size=10_000, epochs=15, image_size=16),
    hyper={**one_cycle_hyper(0.1, weight_decay=1e-4),
           "shortcut": "A (zero padding, as the paper on CIFAR-10)"},
    build=_degradation_model,
    optimiser=_sgd,
    notes=("The paper's CIFAR-10 networks (16-32-64 channels, 6n + 2 layers, option A "
           "shortcuts) with its optimiser (SGD, momentum 0.9, weight decay 1e-4, peak rate "
           "0.1, batches of 128, crops and flips), shrunk to fit a CPU: 10,000 training "
           "images averaged down to 16×16, 15 epochs (1,185 steps instead of 64,000), and "
           "the book's one-cycle schedule instead of the paper's step decay, which a pilot "
           "found too slow for so few steps. The schedule (PyTorch's OneCycleLR) also moves "
           "the momentum against the rate, 0.95 at the start and end and 0.85 at the peak, "
           "so the 0.9 in the hyper-parameters is only the optimiser's value before the "
           "schedule sets it.",),
))


def _relu_tanh_model(arm: str) -> torch.nn.Module:
    """The four-layer CNN with the arm's activation; ``-paper`` arms start from the paper's
    N(0, 0.01) weights and zero biases instead of PyTorch's default initialisation."""
    activation, _, setting = arm.partition("-")
    model = small_cnn(activation, width=32)
    return _paper_init(model) if setting == "paper" else model


def _paper_init(model: torch.nn.Module) -> torch.nn.Module:
    """AlexNet's start: weights from N(0, 0.01), biases 0 (its 1s for some ReLUs left out)."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.normal_(module.weight, 0.0, 0.01)
            torch.nn.init.zeros_(module.bias)
    return model


register(Experiment(
    name="relu_tanh",
    question="Does a four-layer CNN with ReLUs reach 25 % training error faster than the same "
             "network with tanh, and does it where tanh starts saturated?",
    arms=("relu", "tanh", "relu-paper", "tanh-paper"),
    budget=Budget(train_size=10_000, test_size=2_000, epochs=20),
    hyper={"optimizer": "SGD", "schedule": "constant", "lr": 0.02, "momentum": 0.9,
           "weight_decay": 0.0},
    build=_relu_tanh_model,
    optimiser=_sgd,
    augment=False,
    # the learning rates the pilot chose (seed 10, two epochs at 0.001, 0.003, 0.01, 0.02,
    # 0.05 and 0.1 per arm; relu-paper diverged from 0.02 up)
    arm_settings={"relu": {"hyper": {"lr": 0.05}},
                  "tanh": {"hyper": {"lr": 0.02}},
                  "relu-paper": {"inputs": "pixels", "init": "N(0, 0.01), biases 0",
                                 "hyper": {"lr": 0.003}},
                  "tanh-paper": {"inputs": "pixels", "init": "N(0, 0.01), biases 0",
                                 "hyper": {"lr": 0.02}}},
    notes=("The paper's Figure 1 setting as far as it is described: a four-layer CNN "
           "(small_cnn, widths 32-64-64, one linear layer), no regularisation of any kind, "
           "a learning rate per network chosen by a pilot (two epochs at each rate, the lowest "
           "training loss wins). Arms 'relu' and 'tanh' use the book's inputs (standardised per "
           "channel) and PyTorch's initialisation; the '-paper' arms feed pixel values 0..255 "
           "with the mean subtracted and start from N(0, 0.01) weights, as AlexNet's paper "
           "did, which puts the first tanh layer's inputs far beyond its linear range.",),
))


def _lrn_model(arm: str) -> torch.nn.Module:
    if arm not in ("none", "lrn"):
        raise ValueError(f"lrn has the arms none, lrn; not {arm!r}")
    return _paper_init(small_cnn("relu", width=32, lrn=arm == "lrn"))


_PAPER_START = {"inputs": "pixels", "init": "N(0, 0.01), biases 0"}

register(Experiment(
    name="lrn",
    question="Does AlexNet's local response normalisation after the first two ReLUs lower "
             "the test error of a four-layer CNN started as the paper started?",
    arms=("none", "lrn"),
    budget=Budget(train_size=10_000, test_size=10_000, epochs=12),
    hyper=one_cycle_hyper(0.003),
    build=_lrn_model,
    optimiser=_sgd,
    augment=False,
    # the peak rates the pilot chose (seed 10, three epochs at 0.001, 0.003, 0.01 and 0.03
    # per arm; none diverged at 0.03)
    arm_settings={"none": dict(_PAPER_START),
                  "lrn": {**_PAPER_START, "hyper": {"lr": 0.01}}},
    notes=("AlexNet's CIFAR-10 claim for LRN (a four-layer CNN: 13 % test error without, "
           "11 % with) tested on the four-layer CNN of the ReLU experiment (small_cnn, "
           "ReLU, widths 32-64-64), without or with cnnlib.layers.LocalResponseNorm (the "
           "paper's n = 5, alpha = 1e-4, beta = 0.75, k = 2) after the first two ReLUs. "
           "Started as the paper: pixel values 0..255 with the mean taken off and N(0, 0.01) "
           "weights, the inputs on the scale for which the paper chose its constants. "
           "10,000 CIFAR-10 training images without augmentation, tested "
           "on all 10,000, the book's one-cycle recipe, weight decay 5e-4, batches of 128, "
           "12 epochs (the pooling design's budget for the same network). A pilot (seed "
           "10, three epochs at peak rates 0.001, 0.003, 0.01 and 0.03, both arms) chose "
           "each arm's rate by the lowest training loss after its last epoch: 0.003 "
           "without LRN, 0.01 with it.",),
))


def _augmentation_model(arm: str) -> torch.nn.Module:
    return small_cnn("relu", width=32)


register(Experiment(
    name="augmentation",
    question="Do random crops and flips narrow the gap between training and test error?",
    arms=("no-augment", "augment"),
    budget=Budget(train_size=10_000, test_size=10_000, epochs=20),
    hyper=one_cycle_hyper(0.05),
    build=_augmentation_model,
    optimiser=_sgd,
    augment=True,
    arm_settings={"no-augment": {"augment": False}},
    notes=("AlexNet's crops and flips at CIFAR-10's scale: the four-layer CNN (small_cnn, "
           "ReLU, widths 32-64-64) on 10,000 training images at 32×32, trained with the "
           "book's one-cycle recipe, with random 4-pixel shifts and mirror images or without "
           "them. The same trained models are then tested with test-time augmentation "
           "(record test_time_augmentation).",),
))


def _pooling_model(arm: str) -> torch.nn.Module:
    return small_cnn("relu", pool=arm, width=32)


register(Experiment(
    name="pooling",
    question="Does AlexNet's overlapping max-pooling (3×3, stride 2) beat side-by-side 2×2 "
             "pooling, and do its networks overfit less?",
    arms=("overlapping", "plain"),
    budget=Budget(train_size=10_000, test_size=10_000, epochs=12),
    hyper=one_cycle_hyper(0.05),
    build=_pooling_model,
    optimiser=_sgd,
    augment=False,
    notes=("The four-layer CNN (small_cnn, ReLU, widths 32-64-64) with 3×3/2 pools padded "
           "by 1 or 2×2/2 pools, so both take 32 → 16 → 8 → 4 with the same weights; "
           "10,000 CIFAR-10 training images without augmentation (so that the network can "
           "overfit, as the paper's claim is about overfitting), tested on all 10,000, "
           "the book's one-cycle recipe peaking at 0.05. The budget is chapter 4's earlier "
           "design, whose three seeds already showed the effect; no separate pilot.",),
))


def _dropout_model(arm: str) -> torch.nn.Module:
    return mlp(dropout=float(arm.removeprefix("dropout-")))


register(Experiment(
    name="dropout",
    question="Does dropout on the hidden units of a large fully connected network trained on "
             "few images lower its test error, and the gap between its training and test "
             "error?",
    arms=("dropout-0", "dropout-0.2", "dropout-0.5"),
    budget=Budget(train_size=2_000, test_size=10_000, epochs=30, image_size=28,
                  batch_size=50),
    hyper={"optimizer": "SGD", "schedule": "constant", "lr": 0.02, "momentum": 0.9,
           "weight_decay": 0.0},
    build=_dropout_model,
    optimiser=_sgd,
    dataset="mnist",
    augment=False,
    notes=("Chapter 5's experiment: the dropout paper's MNIST network (784-1024-1024-10, "
           "ReLU) with dropout of probability p on both hidden layers' outputs, trained on "
           "2,000 MNIST training images (so that it can overfit) and tested on all 10,000, "
           "batches of 50, SGD with momentum 0.9 at a constant 0.02, no weight decay, no "
           "max-norm constraint. The budget is the chapter's earlier design, whose three "
           "seeds already showed the effect (92.44 % test accuracy without dropout, 93.42 % "
           "with p = 0.5); no separate pilot.",),
))


def _batch_norm_model(arm: str) -> torch.nn.Module:
    return get_model("vgg16_cifar", batch_norm=arm.startswith("bn"))


register(Experiment(
    name="batch_norm",
    question="Does batch normalization let a deep plain network train at a low and at a high "
             "peak learning rate, where without it the high rate does not train?",
    arms=("plain-0.02", "plain-0.2", "bn-0.02", "bn-0.2"),
    budget=Budget(train_size=10_000, test_size=10_000, epochs=10),
    hyper={**one_cycle_hyper(0.02), "nesterov": True},
    build=_batch_norm_model,
    optimiser=_sgd,
    augment=True,
    arm_settings={"plain-0.2": {"hyper": {"lr": 0.2}}, "bn-0.2": {"hyper": {"lr": 0.2}}},
    notes=("Chapter 7's experiment: vgg16_cifar (configuration D at a quarter of the width, "
           "one linear classifier) with or without a batch-normalization layer after every "
           "convolution, at the peak rates 0.02 and 0.2 of the book's one-cycle recipe with "
           "Nesterov momentum (moved against the rate, 0.95 to 0.85 and back), weight decay "
           "5e-4, batches of 128, 10,000 CIFAR-10 training images with crops and flips, ten "
           "epochs, tested on all 10,000 test images (the chapter's own runs test on 2,000). "
           "The budget is the chapter's, whose three seeds already showed the effect; no "
           "separate pilot.",),
))


def _nin_head_model(arm: str) -> torch.nn.Module:
    """``gap``: NiN's global average pooling; ``fc``: VGG's head with dropout 0.5 on both
    hidden layers; ``fc-nodropout``: the same head without dropout."""
    if arm not in ("gap", "fc", "fc-nodropout"):
        raise ValueError(f"nin_head has the arms gap, fc, fc-nodropout; not {arm!r}")
    return NiNCifar(head="gap" if arm == "gap" else "fc",
                    dropout=0.0 if arm == "fc-nodropout" else 0.5)


register(Experiment(
    name="nin_head",
    question="Does global average pooling overfit less than a fully connected head on the "
             "same mlpconv body, and is a fully connected head's dropout what closes the gap?",
    arms=("gap", "fc", "fc-nodropout"),
    budget=Budget(train_size=5_000, test_size=10_000, epochs=15),
    hyper={**one_cycle_hyper(0.05), "nesterov": True},
    build=_nin_head_model,
    optimiser=_sgd,
    augment=False,
    notes=("Chapter 8's experiment, after the comparison of heads in the NiN paper's "
           "section 4.6: the same body (nin_cifar: three mlpconv layers, widths 32-64-64) "
           "with global average pooling, with VGG's fully connected head (two hidden layers "
           "of 512 with dropout 0.5), or with that head without dropout. 5,000 CIFAR-10 "
           "training images without augmentation, tested on all 10,000 test images, the "
           "book's one-cycle recipe, its learning rate peaking at 0.05, with Nesterov "
           "momentum, weight decay 5e-4, batches of 128, 15 epochs. A pilot of one seed (seed 10) of 'gap' and "
           "'fc-nodropout' ran the 15 epochs first: the head without dropout got to under "
           "1 % training error while its test error stayed above the pooling head's, so the "
           "budget can show overfitting. The runs were made with a fourth arm, googlenet, "
           "in the design, which was taken out before any of its runs: the three arms' runs "
           "are the same either way.",),
))


def _input_shift_model(arm: str) -> torch.nn.Module:
    if arm not in ("plain", "bn"):
        raise ValueError(f"input_shift has the arms plain, bn; not {arm!r}")
    return get_model("vgg16_cifar", batch_norm=arm == "bn")


def _seventh_relu(model: torch.nn.Module) -> torch.nn.Module:
    """The ReLU after vgg16_cifar's seventh convolution: it receives the convolution's output,
    or with batch normalization the normalised, scaled and shifted values."""
    return [m for m in model.features if isinstance(m, torch.nn.ReLU)][6]


register(Experiment(
    name="input_shift",
    question="Does batch normalization hold the input of a layer deep in the network steady "
             "over training, where without it the input's spread changes?",
    arms=("plain", "bn"),
    budget=Budget(train_size=10_000, test_size=2_000, epochs=2),
    hyper={**one_cycle_hyper(0.02), "nesterov": True},
    build=_input_shift_model,
    optimiser=_sgd,
    augment=True,
    probe=_seventh_relu,
    probe_every=5,
    notes=("Chapter 7's measurement of internal covariate shift: vgg16_cifar without and with "
           "batch normalization, the batch_norm design's recipe at its low peak rate (0.02, "
           "one-cycle with Nesterov momentum) fitted to two epochs on its 10,000 training "
           "images with crops and flips; the 15th, 50th and 85th percentiles of the input of "
           "the ReLU after the seventh convolution, from the training batches, every fifth "
           "step (cnnlib.shift.InputPercentiles). Tested on 2,000 test images. A measurement "
           "of a short run, as the chapter's earlier one; no pilot.",),
))


FINETUNE_CLASSES = ("airplane", "automobile", "bird", "cat", "ship")
_FINETUNE_KINDS = ("scratch", "frozen", "finetuned")


def _finetune_model(arm: str) -> torch.nn.Module:
    """``scratch-N``: ResNet-20 with random weights; ``frozen-N`` and ``finetuned-N``: the
    book's ResNet-20 pretrained on five other CIFAR-10 classes, with a new random head, its
    body frozen (batch norm included) or trained on."""
    kind, _, per_class = arm.partition("-")
    if kind not in _FINETUNE_KINDS or not per_class.isdigit():
        raise ValueError(f"finetune's arms are <kind>-<images per class>, kind one of "
                         f"{list(_FINETUNE_KINDS)}; not {arm!r}")
    if kind == "scratch":
        return get_model("resnet20", num_classes=len(FINETUNE_CLASSES))
    model = pretrained.load("resnet20_cifar5")
    finetune.new_head(model, len(FINETUNE_CLASSES))
    if kind == "frozen":
        finetune.freeze(model)
    return model


def _pretrained_stats(name: str) -> tuple:
    stats = pretrained.provenance(name)["input"]
    return tuple(stats["mean"]), tuple(stats["std"])


register(Experiment(
    name="finetune",
    question="With few labelled images of new classes, how much does starting from a network "
             "pretrained on other classes gain over training from scratch, and does training "
             "its body as well gain over freezing it?",
    arms=tuple(f"{kind}-{n}" for n in (10, 50) for kind in _FINETUNE_KINDS),
    budget=Budget(train_size=25_000, test_size=2_000, epochs=30, batch_size=32),
    hyper={**one_cycle_hyper(0.05), "pct_start": 0.25, "nesterov": True},
    build=_finetune_model,
    optimiser=finetune_sgd,
    augment=True,
    classes=FINETUNE_CLASSES,
    input_stats=_pretrained_stats("resnet20_cifar5"),
    arm_settings={f"{kind}-{n}": {"per_class": n,
                                  **({"hyper": {"body_lr": 0.005}}
                                     if kind == "finetuned" else {})}
                  for n in (10, 50) for kind in _FINETUNE_KINDS},
    notes=("Chapter 10's fine-tuning: ResNet-20 on 10 or 50 images per class of the "
           "folder's five classes (airplane, automobile, bird, cat, ship), drawn from all "
           "25,000 CIFAR-10 training images of those classes (the chapter's folder is made "
           "of 1,200 of them per class), each seed its own draw, the three arms of a seed "
           "the same images; tested on 2,000 of the 5,000 CIFAR-10 test images of those "
           "classes. 'scratch' starts from random weights; 'frozen' and "
           "'finetuned' from the book's ResNet-20 pretrained on deer, dog, frog, horse and "
           "truck (cnnlib.pretrained 'resnet20_cifar5', which never saw these classes), "
           "with a new random head; 'frozen' trains the head alone, its body's batch norm "
           "held in evaluation mode (cnnlib.finetune.freeze), 'finetuned' trains the body "
           "too at a tenth of the head's peak rate (cnnlib.finetune.one_cycle_groups). "
           "Inputs standardised with the pretrained network's statistics. One-cycle SGD "
           "with Nesterov momentum peaking at 0.05 (25 % warm-up), weight decay 5e-4, "
           "batches of 32, crops and flips, 30 epochs. The budget is the chapter's earlier "
           "one, whose three seeds on the folder's own images already showed the effect "
           "(10 per class: 39.1 +- 3.9 % test accuracy from scratch, 53.3 +- 2.6 frozen, "
           "55.6 +- 2.5 fine-tuned); no separate pilot.",),
))


_SAME_BUDGET_MODELS = {"lenet5": "lenet5", "vgg11": "vgg11_cifar", "vgg16": "vgg16_cifar",
                       "resnet20": "resnet20"}


def _same_budget_model(arm: str) -> torch.nn.Module:
    return build_model(_SAME_BUDGET_MODELS[arm], channels=3, num_classes=10)


register(Experiment(
    name="same_budget",
    question="Given the same images, epochs and recipe, does a deeper stack of 3×3 "
             "convolutions (VGG-11, VGG-16) beat the shallow LeNet-5, and where does a "
             "residual network of similar depth land?",
    arms=("lenet5", "vgg11", "vgg16", "resnet20"),
    budget=Budget(train_size=10_000, test_size=10_000, epochs=30),
    hyper=one_cycle_hyper(0.05),
    build=_same_budget_model,
    optimiser=_sgd,
    augment=True,
    # each network's peak rate is the one its own chapter trains it with: VGG-16 without
    # batch norm is chapter 7's 0.02, ResNet-20 chapter 9's 0.2
    arm_settings={"vgg16": {"hyper": {"lr": 0.02}},
                  "resnet20": {"hyper": {"lr": 0.2}}},
    notes=("Chapter 6's comparison at one budget for every network: 10,000 CIFAR-10 "
           "training images at 32×32 with random crops and flips, tested on all 10,000 "
           "test images, the book's one-cycle recipe (SGD with the momentum moved against "
           "the rate, 0.95 to 0.85 and back, weight decay 5e-4, batches of 128) peaking at the rate each network's own chapter uses "
           "(VGG-16 without batch norm: chapter 7's 0.02). VGG-11 and VGG-16 are the "
           "paper's configurations A and D at a quarter of the width, without batch norm; "
           "ResNet-20 is chapter 9's. 30 epochs instead of the chapter's earlier 10, at "
           "which one seed had left VGG-11 (54.7 % test accuracy) about level with LeNet-5 "
           "(53.1 %); a one-seed pilot of the three networks without shortcuts (seed 10, in "
           "the record) ran the 30 epochs before the seeds were spent.",),
))


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]
