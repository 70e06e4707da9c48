"""Which classes a model mixes up: the confusion matrix, as numbers and as a figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts: row = true class, column = predicted class.

    ``preds`` are class indices (``predict(...)``, or ``logits.argmax(1)``), one per label; a
    label or prediction outside ``0 .. num_classes - 1`` is refused, naming it.
    """
    preds, labels = torch.as_tensor(preds), torch.as_tensor(labels)
    if preds.ndim != 1 or labels.ndim != 1 or len(preds) != len(labels):
        hint = (": preds look like scores (N × classes); pass preds.argmax(1)" if preds.ndim == 2
                else "")
        raise ValueError(f"preds and labels must be 1-D, one class index per image, got shapes "
                         f"{tuple(preds.shape)} and {tuple(labels.shape)}{hint}")
    if preds.is_floating_point() or labels.is_floating_point():
        raise TypeError(f"preds and labels must be class indices (integers), got {preds.dtype} "
                        f"and {labels.dtype}: use .long(), or .argmax(1) for scores")
    for name, values in (("labels", labels), ("preds", preds)):
        outside = (values < 0) | (values >= num_classes)
        if outside.any():
            first = int(values[outside][0])
            raise ValueError(
                f"{name} must be class indices 0 to {num_classes - 1} (num_classes={num_classes}),"
                f" got {first} ({int(outside.sum())} outside): num_classes, or the list of "
                "class names, must cover every class in the data")
    index = labels.long() * num_classes + preds.long()
    return torch.bincount(index, minlength=num_classes ** 2).view(num_classes, num_classes)


def most_confused(preds, labels, classes, n: int = 5) -> list[dict]:
    """The ``n`` largest off-diagonal cells of the confusion matrix, largest first: which true
    class was taken for which, how often, and what share of that class's test images it is."""
    cm = confusion_matrix(preds, labels, len(classes))
    per_class = cm.sum(1)
    off = cm.clone()
    off.fill_diagonal_(0)
    counts, flat = off.flatten().sort(descending=True, stable=True)
    rows = []
    for count, index in zip(counts[:n].tolist(), flat[:n].tolist()):
        if count == 0:
            break
        true, pred = divmod(index, len(classes))
        rows.append({"true": classes[true], "predicted": classes[pred], "images": count,
                     "of the class": f"{count / per_class[true].item():.1%}"})
    return rows


def plot_confusion_matrix(preds, labels, classes, title: str | None = None):
    """The confusion matrix with counts in the cells; the diagonal is what went right."""
    cm = confusion_matrix(preds, labels, len(classes)).numpy()
    size = 0.45 * len(classes) + 2
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title or f"accuracy {100 * np.trace(cm) / cm.sum():.2f}% on {cm.sum()} images")
    fig.tight_layout()
    return fig
