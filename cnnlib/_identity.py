"""What identifies a training run in its checkpoint, and what resuming compares against it.

A checkpoint stores the model's class and parameter count, the optimiser's type and learning
rate(s) as ``fit`` was given them (before any step), and the training data's size and batch
size. Resuming with a model of another class is an error (its weights would be read into
another architecture); another learning rate, data size or batch size is a
:class:`ResumeWarning` that names the change, since the run then goes on differently from the
one that saved the file. Checkpoints written before these fields existed are not compared.
"""

from __future__ import annotations


class ResumeWarning(UserWarning):
    """``fit(resume=True)`` continues a run with another data size, batch size or lr."""


def run_identity(model, optimizer, train_loader) -> dict:
    """Plain values that identify a run, read before the checkpoint replaces any state."""
    return {"model": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "optimizer": type(optimizer).__name__ if optimizer is not None else None,
            "lr": ([float(g["lr"]) for g in optimizer.param_groups]
                   if optimizer is not None else None),
            "train_size": _train_size(train_loader),
            "batch_size": _batch_size(train_loader)}


def _train_size(loader):
    size = getattr(loader, "dataset_size", None)
    if size is None and hasattr(getattr(loader, "dataset", None), "__len__"):
        size = len(loader.dataset)
    return size if isinstance(size, int) else None


def _batch_size(loader):
    size = getattr(loader, "batch_size", None)
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def compare(saved: dict | None, given: dict | None) -> tuple[str | None, list[str]]:
    """``(error, changes)``: what makes resuming wrong, and what it changes (to warn about)."""
    if not isinstance(saved, dict) or not isinstance(given, dict):
        return None, []  # a checkpoint from before these fields, or a direct load
    if saved.get("model") and saved["model"] != given["model"]:
        return (f"it was saved from a {saved['model']} ({saved.get('parameters', 0):,} "
                f"parameters), but the model given is a {given['model']} "
                f"({given['parameters']:,}): another architecture. Build the model the run was "
                "saved from, or train afresh without resume"), []
    changes = []
    if None not in (saved.get("train_size"), given.get("train_size")) \
            and saved["train_size"] != given["train_size"]:
        changes.append(f"resuming with {given['train_size']:,} training images, the checkpoint "
                       f"was saved with {saved['train_size']:,}: the remaining epochs see other "
                       "data, with another number of steps each")
    if None not in (saved.get("batch_size"), given.get("batch_size")) \
            and saved["batch_size"] != given["batch_size"]:
        changes.append(f"resuming with batch size {given['batch_size']}, the checkpoint was saved "
                       f"with {saved['batch_size']}: the remaining epochs take steps of another "
                       "size, and another number of them")
    old, new = saved.get("lr"), given.get("lr")
    if old is not None and new is not None and old != new:
        show = (lambda lrs: f"{lrs[0]:g}" if len(lrs) == 1 else "[" + ", ".join(
            f"{lr:g}" for lr in lrs) + "]")
        changes.append(f"resuming with lr {show(new)}, the checkpoint was saved with "
                       f"{show(old)}: the saved optimizer state replaces it")
    return None, changes
