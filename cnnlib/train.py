"""The book's training loop: small enough to read in one screen, honest about what it measured.

``fit`` trains for some epochs and returns a :class:`History` of measured numbers (loss,
accuracy, learning rate, seconds per epoch); ``evaluate`` switches the model to eval mode and
turns gradients off. On CUDA the forward pass runs under bf16 autocast (see ``fast.py`` for
the switches behind that); elsewhere in plain fp32.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


@dataclass
class History:
    """One row per epoch: every value was measured during the run, none is typed in."""

    rows: list[dict] = field(default_factory=list)

    def __getitem__(self, key: str) -> list:
        return [row.get(key) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}

    def best(self, key: str = "test_acc") -> dict:
        return max(self.rows, key=lambda row: row[key])

    def __repr__(self) -> str:
        keys = [k for k in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                            "seconds") if self.rows and k in self.rows[0]]
        lines = ["  ".join(f"{k:>10}" for k in keys)]
        for row in self.rows:
            lines.append("  ".join(_fmt(k, row[k]) for k in keys))
        return "\n".join(lines)


def _fmt(key, value) -> str:
    if key == "epoch":
        return f"{value:>10d}"
    if key.endswith("acc"):
        return f"{100 * value:>9.2f}%"
    if key == "lr":
        return f"{value:>10.2e}"
    return f"{value:>10.4f}"


def autocast(device: torch.device, enabled: bool | None = None):
    """bf16 autocast on CUDA (where supported), nothing elsewhere: the fp32 path is the reference."""
    use = device.type == "cuda" if enabled is None else enabled
    if use and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, loss_fn=F.cross_entropy, amp: bool | None = None):
    """Mean loss and accuracy over a loader, in eval mode (dropout off, BatchNorm running stats)."""
    model.eval()
    device = next(model.parameters()).device
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    count = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = model(x)
        total_loss += loss_fn(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        count += len(y)
    return {"loss": total_loss.item() / count, "acc": correct.item() / count}


@torch.no_grad()
def predict(model: torch.nn.Module, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes and true labels for a whole loader, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    preds, labels = [], []
    for x, y in loader:
        preds.append(model(x.to(device)).argmax(1).cpu())
        labels.append(y.cpu())
    return torch.cat(preds), torch.cat(labels)


def fit(model: torch.nn.Module, train_loader, test_loader=None, *, epochs: int,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 0.01,
        scheduler=None, scheduler_per_batch: bool = False, loss_fn=F.cross_entropy,
        amp: bool | None = None, progress: bool | None = None, callbacks=()) -> History:
    """Train ``model`` for ``epochs`` epochs and return the measured :class:`History`.

    Without an ``optimizer``, SGD with momentum 0.9 at ``lr``. A ``scheduler`` steps once per
    epoch, or once per batch with ``scheduler_per_batch=True`` (one-cycle). Each callback is
    called as ``callback(epoch, history)`` after every epoch. Progress bars show unless
    ``progress=False`` or the environment sets ``CNNLIB_PROGRESS=0`` (as the book's builds do).
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    device = next(model.parameters()).device
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    if progress is None:
        progress = os.environ.get("CNNLIB_PROGRESS", "1") != "0"
    history = History()
    for epoch in range(1, epochs + 1):
        model.train()
        start = time.perf_counter()
        lr_now = optimizer.param_groups[0]["lr"]
        total_loss = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        count = 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress)
        for step, (x, y) in enumerate(bar, 1):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device, amp):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None and scheduler_per_batch:
                scheduler.step()
            total_loss += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            count += len(y)
            if step % 50 == 0 or step == len(train_loader):
                _check_finite(total_loss, epoch, step, history)
        if scheduler is not None and not scheduler_per_batch:
            scheduler.step()
        row = {"epoch": epoch, "train_loss": total_loss.item() / count,
               "train_acc": correct.item() / count}
        if test_loader is not None:
            result = evaluate(model, test_loader, loss_fn, amp)
            row.update(test_loss=result["loss"], test_acc=result["acc"])
        row.update(lr=lr_now, seconds=time.perf_counter() - start)
        history.rows.append(row)
        for callback in callbacks:
            callback(epoch, history)
    return history


def _check_finite(total_loss: torch.Tensor, epoch: int, step: int, history: History) -> None:
    value = total_loss.item()
    if not math.isfinite(value):
        last = history.last.get("train_loss")
        raise FloatingPointError(
            f"the training loss became {value} in epoch {epoch}, by step {step}"
            + (f" (last finite epoch loss: {last:.4f})" if last is not None else "")
            + ". Likely causes: a learning rate far too high, inputs that were not normalised, "
              "or a loss applied to the wrong tensors. Lower the learning rate and check the data.")
