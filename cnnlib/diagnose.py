"""Checks for a training run that fails without crashing: each one answers one question.

    overfit_one_batch   can the model and loss learn at all? (one batch, loss should reach ~0)
    lr_range_test       which learning rates train and which diverge? (Smith's range test;
                        suggest_lr and steepest_lr read a rate off it)
    gradient_norms      which parameters get a gradient, and how large? (detached tensors)
    dead_relu_fraction  how many ReLU units never fire on real data? (forward hooks)
    shuffle_labels      what does "learned nothing" look like here? (the label-shuffle test)
    losses_per_example  which examples does the model find least believable? (mislabels)
    shared_images       which test images are copies of training images? (split hygiene)
    update_sizes_after_decay  what does recreating Adam at a decay do to its steps?

The checks that train (``overfit_one_batch``, ``lr_range_test``) put the model's weights,
buffers and train/eval flags back afterwards, so they can run before the real training.
Chapter 11 shows each one on a broken run; chapter 10 ranks a folder's images by
``losses_per_example``. ``shared_images`` compares image *tensors*; for near copies among image
*files* see :func:`cnnlib.folders.find_duplicates`.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ._probe import probing
from .history import smooth  # noqa: F401  (diagnose.smooth: chapter 11 reads it here)
from .layers import LocalResponseNorm
from .loader import TensorLoader
from .settings import model_device, seed_everything
from .train import eval_outputs

OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]


@contextmanager
def restored(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block that changes ``model``, then restore its weights, buffers and modes.

    Buffers matter: a forward pass in training mode updates BatchNorm's running statistics even
    without an optimiser step.
    """
    state = copy.deepcopy(model.state_dict())
    modes = [m.training for m in model.modules()]
    try:
        yield model
    finally:
        model.load_state_dict(state)
        for module, training in zip(model.modules(), modes):
            module.training = training


def _cycle(loader) -> Iterator:
    """Batches of ``loader`` without end, starting a new epoch when one runs out."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("the loader yielded no batches: check the dataset and its size")


def _positive(name: str, value, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        raise ValueError(f"{name} must be a positive {'int' if integer else 'number'}, "
                         f"got {value!r}")


def overfit_one_batch(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
                      steps: int = 200, lr: float = 1e-3, *,
                      optimizer: OptimizerFactory | None = None,
                      loss_fn=F.cross_entropy) -> list[float]:
    """Train on one fixed batch for ``steps`` steps and return the loss before each step.

    The first check to run on a new model: a correct model and loss can memorise a few dozen
    examples, so the loss falls to about zero. If it cannot, no amount of data or training time
    will help; the bug is in the model, the loss or the optimiser. (The check cannot find
    wrong labels: random labels can be memorised too.) Adam at ``lr`` unless ``optimizer``
    builds another from the parameters. The model's weights and modes are restored afterwards.
    """
    _positive("steps", steps, integer=True)
    _positive("lr", lr)
    x, y = batch
    device = model_device(model)
    x, y = x.to(device), y.to(device)
    losses = []
    with restored(model):
        params = [p for p in model.parameters() if p.requires_grad]
        opt = optimizer(params) if optimizer else torch.optim.Adam(params, lr=lr)
        model.train()
        for _ in range(steps):
            loss = loss_fn(model(x), y)
            losses.append(loss.item())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return losses


def lr_range_test(model: nn.Module, loader, start: float = 1e-5, end: float = 1.0,
                  steps: int = 100, *, optimizer: OptimizerFactory | None = None,
                  loss_fn=F.cross_entropy, diverge: float = 4.0) -> tuple[list[float], list[float]]:
    """Smith's learning-rate range test: one batch per step, the rate growing from ``start`` to
    ``end`` geometrically; returns the rates and the training loss measured at each.

    Where the loss first falls fastest, training works; where it turns up, the rate is too
    high. The test stops early once the loss is not finite, or its moving average (see
    :func:`smooth`; one batch's loss is too noisy) exceeds ``diverge`` times its lowest value
    so far: past that point there is only divergence to see. SGD with momentum
    0.9 (as :func:`cnnlib.fit` uses) unless ``optimizer`` builds another from the parameters.
    The model's weights and modes are restored afterwards.
    """
    _positive("start", start)
    _positive("steps", steps, integer=True)
    if not end > start:
        raise ValueError(f"end must be larger than start, got start={start!r}, end={end!r}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 to span start..end, got {steps}")
    device = model_device(model)
    rates = [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]
    lrs, losses = [], []
    average, lowest, beta = 0.0, math.inf, 0.9
    with restored(model):
        params = [p for p in model.parameters() if p.requires_grad]
        opt = optimizer(params) if optimizer else torch.optim.SGD(params, lr=start, momentum=0.9)
        model.train()
        for lr, (x, y) in zip(rates, _cycle(loader)):
            for group in opt.param_groups:
                group["lr"] = lr
            loss = loss_fn(model(x.to(device)), y.to(device))
            lrs.append(lr)
            losses.append(loss.item())
            average = beta * average + (1 - beta) * losses[-1]
            smoothed = average / (1 - beta ** len(losses))  # as smooth() computes it
            lowest = min(lowest, smoothed)
            if not math.isfinite(losses[-1]) or smoothed > diverge * lowest:
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return lrs, losses


def suggest_lr(lrs: list[float], losses: list[float], beta: float = 0.9) -> float:
    """A rate read off a range test: a tenth of the rate at the lowest smoothed loss.

    At the minimum the loss is about to turn up, so training there would be on the edge of
    divergence; an order of magnitude lower is the usual safe choice (a rule of thumb, to be
    checked by a short run, not a law).
    """
    if len(lrs) != len(losses) or not lrs:
        raise ValueError(f"need equally long, non-empty lists, got {len(lrs)} rates and "
                         f"{len(losses)} losses")
    finite = [(loss, lr) for lr, loss in zip(lrs, smooth(losses, beta)) if math.isfinite(loss)]
    if not finite:
        raise ValueError("no finite loss in the range test: start it at a lower rate")
    return min(finite)[1] / 10


def steepest_lr(lrs: list[float], losses: list[float], beta: float = 0.9,
                span: float = 0.5) -> float:
    """The rate where the smoothed loss of a range test falls fastest.

    The slope is measured per decade of rate, across ``span`` decades (half a decade by
    default), so that one noisy batch cannot make a cliff; only rates before the lowest
    smoothed loss count, since past it the loss is on its way up. This is the middle of the
    curve's steep stretch, where Smith's test says training makes the most progress per step;
    :func:`suggest_lr` gives the more cautious tenth of the lowest point.
    """
    if len(lrs) != len(losses) or len(lrs) < 3:
        raise ValueError(f"need equally long lists of at least 3 points, got {len(lrs)} rates "
                         f"and {len(losses)} losses")
    if not span > 0:
        raise ValueError(f"span is a number of decades > 0, got {span!r}")
    curve = smooth(losses, beta)
    finite = [i for i, v in enumerate(curve) if math.isfinite(v)]
    if not finite:
        raise ValueError("no finite loss in the range test: start it at a lower rate")
    last = min(finite, key=lambda i: curve[i])
    logs = [math.log10(lr) for lr in lrs]
    best, best_slope = None, 0.0
    for i in range(last + 1):
        j = next((k for k in range(i, last + 1) if logs[k] - logs[i] >= span), None)
        if j is None:
            break
        slope = (curve[j] - curve[i]) / (logs[j] - logs[i])
        if slope < best_slope:
            best, best_slope = i, slope
    if best is None:
        raise ValueError(f"the smoothed loss never falls over {span} decade(s) before its "
                         "lowest point: widen the range (a lower start) or run more steps")
    j = next(k for k in range(best, last + 1) if logs[k] - logs[best] >= span)
    return 10 ** ((logs[best] + logs[j]) / 2)


def gradient_norms(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
                   loss_fn=F.cross_entropy) -> dict[str, float | None]:
    """One forward and backward pass; the gradient norm of every parameter, by name.

    ``None`` means no gradient reached the parameter at all (a ``.detach()``, or a branch the
    loss does not depend on); values shrinking towards the input mean vanishing gradients.
    The gradients are cleared again, so an optimiser sees nothing of this.
    """
    x, y = batch
    device = model_device(model)
    before = {name: p.grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = None
    try:
        loss_fn(model(x.to(device)), y.to(device)).backward()
        return {name: None if p.grad is None else p.grad.norm().item()
                for name, p in model.named_parameters()}
    finally:
        for name, p in model.named_parameters():
            p.grad = before[name]


@torch.no_grad()
def dead_relu_fraction(model: nn.Module, loader, max_batches: int | None = None) -> dict[str, float]:
    """For each ``nn.ReLU`` in ``model``: the fraction of its units that are 0 on every input.

    A unit is a channel of a feature map (alive if it is positive at any position of any
    image) or a feature of a fully connected layer. A dead unit passes back no gradient, so it
    cannot recover: the loss stays flat however long you train. Runs in eval mode on
    ``max_batches`` batches (all by default) and restores the mode. Only ReLU *modules* can be
    watched; a ReLU module used twice in one forward pass is reported per use.
    """
    relus = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError("the model has no nn.ReLU modules to watch (a functional F.relu cannot "
                         "be hooked): build it with nn.ReLU() layers")
    alive: dict[str, torch.Tensor] = {}
    calls: dict[str, int] = {}

    def watch(name):
        def hook(module, inputs, output):
            calls[name] = calls.get(name, 0) + 1
            key = name if calls[name] == 1 else f"{name} (use {calls[name]})"
            # any positive value, over the batch and any spatial positions, per unit
            fired = (output > 0).transpose(0, 1).reshape(output.shape[1], -1).any(1)
            alive[key] = alive[key] | fired if key in alive else fired
        return hook

    device = model_device(model)
    handles = [m.register_forward_hook(watch(name or "relu")) for name, m in relus]
    seen = 0
    with probing(model, handles):
        for x, _ in loader:
            calls.clear()
            model(x.to(device))
            seen += 1
            if max_batches is not None and seen >= max_batches:
                break
    if seen == 0:
        raise ValueError("the loader yielded no batches: check the dataset and its size")
    return {key: 1 - fired.float().mean().item() for key, fired in alive.items()}


@torch.no_grad()
def saturated_fraction(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
                       threshold: float = 2.0) -> dict[str, float]:
    """For each ``nn.Tanh`` and ``nn.Sigmoid`` in ``model``: the share of its inputs on one batch
    whose size is above ``threshold``, where a saturating unit passes back little gradient
    (tanh's slope at 2 is 0.07). Runs in eval mode and restores the mode."""
    units = [(name, m) for name, m in model.named_modules()
             if isinstance(m, (nn.Tanh, nn.Sigmoid))]
    if not units:
        raise ValueError("the model has no nn.Tanh or nn.Sigmoid modules to watch")
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold!r}")
    shares: dict[str, float] = {}

    def watch(name):
        def hook(module, inputs, output):
            shares[name] = (inputs[0].abs() > threshold).float().mean().item()
        return hook

    handles = [m.register_forward_hook(watch(name)) for name, m in units]
    try:
        with restored(model):
            model.eval()(batch[0].to(model_device(model)))
    finally:
        for handle in handles:
            handle.remove()
    return shares


@torch.no_grad()
def lrn_divisors(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """For each local response normalisation in ``model`` (``cnnlib.layers`` or PyTorch's):
    what it divided each positive input by on ``images``, ``a / b``, as one flat tensor. A
    divisor near ``k ** beta`` everywhere means the layer only rescaled; only where it is
    larger did it inhibit. A layer the forward pass does not reach is left out. Runs in eval
    mode and restores the mode."""
    layers = [(name, m) for name, m in model.named_modules()
              if isinstance(m, (LocalResponseNorm, nn.LocalResponseNorm))]
    if not layers:
        raise ValueError("the model has no local response normalisation layer to measure")
    divisors: dict[str, torch.Tensor] = {}

    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a tensor of a batch, N x C x H x W, got "
                        f"{type(images).__name__}")

    def watch(name):
        def hook(module, inputs, output):  # a layer used twice keeps both calls' divisors
            positive = inputs[0] > 0
            found = (inputs[0][positive] / output[positive]).float().cpu()
            divisors[name] = torch.cat([divisors[name], found]) if name in divisors else found
        return hook

    handles = [m.register_forward_hook(watch(name)) for name, m in layers]
    weighted = any(True for _ in model.parameters()) or any(True for _ in model.buffers())
    try:
        with restored(model):  # a model without weights runs where its input is
            model.eval()(images.to(model_device(model)) if weighted else images)
    finally:
        for handle in handles:
            handle.remove()
    return divisors


def shuffle_labels(data, seed: int = 0):
    """The same images with their labels randomly permuted: a tensor of labels or a loader.

    The label-shuffle test: trained on such data a model can only memorise, never generalise,
    so its test accuracy shows what chance looks like for this pipeline (about 1 / classes). A
    real run that scores no better has labels that do not match its images.
    """
    g = torch.Generator().manual_seed(seed)
    if isinstance(data, TensorLoader):
        shuffled = copy.copy(data)  # shares the images on the device; copies nothing large
        shuffled.labels = shuffle_labels(data.labels, seed)
        shuffled.generator = torch.Generator().manual_seed(seed)
        return shuffled
    if isinstance(data, torch.Tensor):
        return data[torch.randperm(len(data), generator=g).to(data.device)]
    raise TypeError(f"shuffle_labels takes a label tensor or a cnnlib.TensorLoader, "
                    f"got {type(data).__name__}")


@torch.inference_mode()
@torch.inference_mode()
def losses_per_example(model: torch.nn.Module, dataset, batch_size: int = 256):
    """Loss, predicted class and its probability for every example, in the dataset's order.

    Sorting a training set by loss puts first the images the model finds least believable:
    hard examples, and mislabeled ones. A list of candidates to look at, not a verdict.
    """
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    losses, preds, probs = [], [], []
    for logits, y in eval_outputs(model, loader):
        logits = logits.float()
        p = logits.softmax(1)
        losses.append(F.cross_entropy(logits, y.to(logits.device), reduction="none").cpu())
        top = p.max(1)
        preds.append(top.indices.cpu())
        probs.append(top.values.cpu())
    return torch.cat(losses), torch.cat(preds), torch.cat(probs)


def shared_images(reference: torch.Tensor, queries: torch.Tensor) -> list[tuple[int, int]]:
    """``(query_index, reference_index)`` for each query image that is an exact copy of one in
    ``reference`` (byte for byte, by hash): e.g. test images that are also training images.

    Exact copies only; a resized or re-encoded copy needs a perceptual comparison.
    """
    if reference.shape[1:] != queries.shape[1:]:
        raise ValueError(f"images must have the same shape to be compared, got "
                         f"{tuple(reference.shape[1:])} and {tuple(queries.shape[1:])}")

    def digests(images):
        flat = images.detach().cpu().contiguous().reshape(len(images), -1).numpy()
        return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]

    index = {}
    for i, digest in enumerate(digests(reference)):
        index.setdefault(digest, i)
    return [(q, index[d]) for q, d in enumerate(digests(queries)) if d in index]


# The name chapter 9's recorded outputs print ("find_duplicates finds 500 copies"): kept, without
# a warning (one would change those outputs), until the chapter is next run. New code: use
# shared_images; cnnlib.folders.find_duplicates is a different function (near copies of files).
find_duplicates = shared_images


def update_sizes_after_decay(build: Callable[[], nn.Module], batches: Iterator, *,
                             warm_up: int, after: int, seed: int = 0, lr: float = 1e-3,
                             factor: float = 3.0) -> dict[str, list[float]]:
    """Adam's update size (the norm of the weight change) at each step after its rate is
    divided by ``factor``, two ways: the same optimiser with the rate lowered, its moment
    estimates kept, and a new Adam at the lower rate, its estimates restarted.

    ``build()`` makes the network on its device; ``batches`` yields ``(x, y)``, at least
    ``warm_up + after`` of them, drawn after seeding. Both ways start from the same weights
    after ``warm_up`` steps at ``lr`` and take the same ``after`` batches. Chapter 9's case
    study: a new Adam's first steps are several times larger, a kick at every decay.
    """
    _positive("warm_up", warm_up, integer=True)
    _positive("after", after, integer=True)
    seed_everything(seed)
    net = build()
    adam = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(warm_up):  # Adam's averages get going
        x, y = next(batches)
        adam.zero_grad()
        F.cross_entropy(net(x), y).backward()
        adam.step()
    following = [next(batches) for _ in range(after)]  # the same batches for both
    sizes = {}
    for label in (f"same Adam, rate / {factor:g}", f"new Adam at rate / {factor:g}"):
        trial = build()
        trial.load_state_dict(net.state_dict())
        optimizer = torch.optim.Adam(trial.parameters(), lr=lr / factor)
        if label.startswith("same"):
            optimizer.load_state_dict(adam.state_dict())
            for group in optimizer.param_groups:
                group["lr"] = lr / factor
        sizes[label] = []
        for x, y in following:
            before = torch.cat([p.detach().flatten().clone() for p in trial.parameters()])
            optimizer.zero_grad()
            F.cross_entropy(trial(x), y).backward()
            optimizer.step()
            moved = torch.cat([p.detach().flatten() for p in trial.parameters()])
            sizes[label].append((moved - before).norm().item())
    return sizes
