"""Does the model fit its data? Checked on the first batch, before the first step is taken.

``fit`` and ``evaluate`` call these on their first batch only, so the checks cost one device
sync per call: the model's weights against the input's dtype (:func:`check_inputs`), its output
against the labels (:func:`check_outputs`: a tensor of shape N × C, labels from 0 to C - 1, as
many outputs as the data has classes) and the loss on that batch (:func:`first_loss`, whose
failure is explained with the shapes and dtypes it got). Each mistake is an error that says what
was found and how to fix it, instead of an error from deep inside torch after a whole epoch, or
a run that trains silently on the wrong thing.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F


def check_loss_fn(loss_fn) -> None:
    """A loss *function* (``F.cross_entropy``), not a loss module: ``evaluate`` passes
    ``reduction="sum"``, which a module such as ``nn.CrossEntropyLoss()`` does not take."""
    if isinstance(loss_fn, torch.nn.Module):
        name = type(loss_fn).__name__
        raise TypeError(
            f"loss_fn is the module {name}(), but fit and evaluate need a loss function that "
            "takes reduction= (evaluate sums the loss over the test set): pass F.cross_entropy, "
            "or functools.partial(F.cross_entropy, label_smoothing=0.1) for options")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function such as F.cross_entropy, got a "
                        f"{type(loss_fn).__name__}: {loss_fn!r:.60}")


def check_inputs(model: torch.nn.Module, x) -> None:
    """The model's floating-point weights have the dtype of the batch (float32 from a loader)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        return
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if dtypes and dtypes != {x.dtype}:
        found = ", ".join(sorted(str(d) for d in dtypes))
        raise TypeError(
            f"the model's weights are {found}, but the loader gives {x.dtype} images: "
            f"convert the model with model.float() (or model.to({x.dtype})); mixed precision is "
            "fit's job (fast=FastSettings(...)), not the weights' dtype")


def check_outputs(logits, y, classes: int | None = None, what: str = "the model") -> None:
    """The output is an N × C tensor and integer labels are class indices below C (and C is
    the data's number of classes, when the loader says it)."""
    if not isinstance(logits, torch.Tensor):
        kind = type(logits).__name__
        raise TypeError(
            f"{what} returned a {kind}, not a tensor of logits: fit and evaluate need the N × C "
            f"scores alone. Return them from forward() (e.g. return x, not (x, features)), or "
            f"wrap the model so that it does")
    if not isinstance(y, torch.Tensor) or y.is_floating_point():
        return  # regression targets: the loss decides
    if len(logits) != len(y):
        raise ValueError(f"{what} gave {len(logits)} outputs for a batch of {len(y)} labels: "
                         "its forward() must keep the batch axis first")
    shape = "×".join(map(str, logits.shape))
    if logits.ndim == 4 and logits.shape[2:] == (1, 1):
        raise ValueError(f"{what} returned {shape} scores (N×C×1×1), not N×C: flatten them "
                         "before the end of forward(), e.g. x.flatten(1) or nn.Flatten()")
    if logits.ndim != 2:
        raise ValueError(f"{what} returned scores of shape {shape}, but class labels need N×C "
                         "(one score per class for each image): flatten or pool the output")
    width = logits.shape[1]
    low, high = (int(v) for v in torch.stack([y.min(), y.max()]).tolist())
    if low < 0 or high >= width:
        bad = low if low < 0 else high
        raise ValueError(
            f"a label is {bad}, but {what} has {width} outputs (classes 0 to {width - 1}): build "
            f"it with as many outputs as the data has classes (e.g. num_classes={high + 1}), "
            "or fix the labels")
    if classes is not None and width != classes:
        raise ValueError(
            f"{what} has {width} outputs, but the data has {classes} classes (the loader's "
            f"num_classes): the extra outputs would train as classes no image has. Build it with "
            f"num_classes={classes}")


def check_test_labels(loader, width: int) -> None:
    """A test loader that holds its labels (a ``TensorLoader``) has none beyond the outputs:
    checked before training, not found by the first evaluation, after a whole epoch."""
    labels = getattr(loader, "labels", None)
    if isinstance(labels, torch.Tensor) and len(labels) and not labels.is_floating_point():
        high = int(labels.max())
        if high >= width:
            raise ValueError(f"the test loader has a label {high}, but the model has {width} "
                             f"outputs (classes 0 to {width - 1}): build it with as many outputs "
                             "as the data has classes, or fix the test labels")


class LossWarning(UserWarning):
    """The first batch's loss or output says the loss is misused (log-probabilities expected
    and scores given, or a softmax before a loss that applies its own)."""


def _is_cross_entropy(loss_fn) -> bool:
    return getattr(loss_fn, "func", loss_fn) is F.cross_entropy


def check_loss_use(loss_fn, logits: torch.Tensor, y, loss: torch.Tensor) -> None:
    """Two silent mistakes, seen on the first batch: a negative classification loss (F.nll_loss
    on raw scores) and probabilities fed to F.cross_entropy (a model ending in softmax)."""
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or logits.ndim != 2:
        return
    value = float(loss.detach())
    if value < 0:
        warnings.warn(
            f"the loss on the first batch is {value:.3g}, below 0, which a classification loss "
            "never is: the loss expects log-probabilities (F.nll_loss does) but the model gives "
            "raw scores, so training would push them up without bound. Use "
            "loss_fn=F.cross_entropy on the scores (it applies log_softmax itself), or end the "
            "model with nn.LogSoftmax(dim=1)", LossWarning, stacklevel=5)
    elif _is_cross_entropy(loss_fn) and logits.shape[1] > 1:
        probs = logits.detach().float()
        if (probs >= 0).all() and torch.allclose(probs.sum(1), torch.ones(len(probs),
                                                                         device=probs.device),
                                                 atol=1e-3):
            warnings.warn(
                "the model's outputs are probabilities already (each row is >= 0 and sums to 1: "
                "a softmax at the end of the model), and F.cross_entropy applies its own softmax: "
                "the double softmax squeezes the gradients and training crawls. Remove the final "
                "softmax (F.cross_entropy needs the raw scores; apply softmax only to read "
                "probabilities, as predict_probs does)", LossWarning, stacklevel=5)


def first_loss(loss_fn, logits: torch.Tensor, y) -> torch.Tensor:
    """``loss_fn(logits, y)``, with a failure explained by the shapes and dtypes it got, and
    its misuse warned about (:func:`check_loss_use`)."""
    try:
        loss = loss_fn(logits.float(), y)
    except (RuntimeError, ValueError, IndexError, TypeError) as error:
        got = (f"the model's output is {tuple(logits.shape)} {logits.dtype}, the labels are "
               f"{tuple(y.shape)} {y.dtype}")
        hint = ""
        if y.is_floating_point() and logits.ndim == 2 and y.ndim == 1:
            hint = (" Class labels must be integers: convert them with labels.long() (float "
                    "labels are regression targets, for a loss such as F.mse_loss).")
        elif not y.is_floating_point() and logits.ndim == 2 and y.ndim == 1:
            hint = (" The labels are class indices, one per image, and this loss compares the "
                    "output with a target of its own shape (a regression loss such as "
                    "F.mse_loss): for classes use F.cross_entropy.")
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        kind = type(error) if type(error) in (RuntimeError, ValueError, IndexError,
                                              TypeError) else ValueError
        raise kind(f"the loss failed on the first batch: {got}.{hint} The loss said: "
                          f"{type(error).__name__}: {first}") from error
    check_loss_use(loss_fn, logits, y, loss)
    return loss
