"""What a checkpoint can store, and the digest that shows it came back unchanged.

``torch.load(..., weights_only=True)`` accepts tensors, numbers, strings, ``None`` and lists,
tuples and dicts of them, and refuses everything else. :func:`plain_values` checks a value
against that list *before* a file is written (converting NumPy scalars, which it would refuse,
to the Python numbers they stand for), so that a checkpoint is never written that cannot be
read back. :func:`digest` hashes the same values in order: computed when saving and again after
loading, it shows whether anything in the file changed in between.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

import numpy as np
import torch

LEAVES = (str, bytes, int, float, complex, bool, type(None), torch.dtype, torch.device)
TENSORS = (torch.Tensor, torch.nn.Parameter)
DICTS = (dict, OrderedDict)
SEQUENCES = (list, tuple, set, torch.Size)
PLAIN = ("tensors, numbers, strings, None, and lists, tuples or dicts of them (so the checkpoint "
         "loads with weights_only=True)")
PARTS = {"optimizer": "the optimizer's state", "scheduler": "the scheduler's state",
         "model": "the model's state_dict", "loaders": "the loaders' state"}


def plain_history(history, path) -> list[dict]:
    """The history's rows as plain values: 0-d tensors and NumPy scalars become numbers."""
    rows = history.rows if hasattr(history, "rows") else history
    if not isinstance(rows, (list, tuple)):
        raise TypeError(f"history must be a History or a list of row dicts, got a "
                        f"{type(rows).__name__}. Nothing was written to {path}.")
    plain = []
    for index, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise TypeError(f"the history's row {index} is a {type(row).__name__}, not a dict of "
                            f"values. Nothing was written to {path}.")
        at = f"row {index} (epoch {row.get('epoch', '?')}), key "
        plain.append({key: _as_number(plain_values(value, "the history", path, at + repr(key)))
                      for key, value in row.items()})
    return plain


def plain_values(value, root: str, path, at: str = ""):
    """``value`` with NumPy scalars as Python numbers, or a ``TypeError`` naming what is not plain.

    ``root`` names the value in the message (``"extra"``), ``at`` the part of it being checked.
    """
    if isinstance(value, np.generic):
        value = value.item()  # lossless: np.float32 -> float, np.int64 -> int, np.bool_ -> bool
    kind = type(value)
    if kind in LEAVES or kind in TENSORS or kind is torch.Size:
        return value
    if kind in DICTS:
        return kind((plain_values(k, root, path, at), plain_values(v, root, path, f"{at}[{k!r}]"))
                    for k, v in value.items())
    if kind in SEQUENCES:
        return kind(plain_values(v, root, path, f"{at}[{i}]") for i, v in enumerate(value))
    raise TypeError(not_plain(value, root, at, path))


def not_plain(value, root: str, at: str, path) -> str:
    """The message for a value a checkpoint cannot hold: what, where, how to convert it."""
    where = f" at {at}" if at else ""
    return (f"{root} may hold only {PLAIN}; got a {type(value).__name__}{where}. "
            f"{_conversion(value)} Nothing was written to {path}.")


def _conversion(value) -> str:
    if isinstance(value, np.ndarray):
        return ("Convert it first: float(x) for one number, x.tolist() or torch.from_numpy(x) "
                "for an array.")
    if isinstance(value, os.PathLike):
        return "Store str(path) instead."
    if isinstance(value, torch.Tensor):
        return "Store x.as_subclass(torch.Tensor) instead."
    if callable(value):
        return "Store its name instead: a checkpoint cannot hold code."
    return "Store its numbers, or its str(), instead."


def _as_number(value):
    """A history value as a Python number where it is a one-number tensor."""
    return value.item() if isinstance(value, torch.Tensor) and value.ndim == 0 else value


def digest(state: dict, path) -> str:
    """The SHA-256 of ``state``'s keys and values, in order; the same before saving and after
    loading.

    Computed over the values, not the file's bytes, so that the file stays an ordinary
    ``torch.save`` archive that ``torch.load`` reads. A value of a type that ``weights_only``
    loading refuses is a ``TypeError`` naming it (``path`` is the file, for the message).
    """
    sha = hashlib.sha256()
    for key, value in state.items():
        _feed(sha, key, (), path)
        _feed(sha, value, (key,), path)
    return sha.hexdigest()


def _feed(sha, value, where: tuple, path) -> None:
    kind = type(value)
    if kind in TENSORS:
        sha.update(f"tensor:{value.dtype}:{tuple(value.shape)};".encode())
        sha.update(_tensor_bytes(value))
    elif kind in LEAVES:
        sha.update(f"{kind.__name__}:{value!r};".encode("utf-8", "surrogatepass"))
    elif kind in DICTS:
        sha.update(f"dict:{len(value)};".encode())
        for key, item in value.items():
            _feed(sha, key, where, path)
            _feed(sha, item, where + (key,), path)
    elif kind in SEQUENCES:
        sha.update(f"{kind.__name__}:{len(value)};".encode())
        for index, item in enumerate(sorted(value, key=repr) if kind is set else value):
            _feed(sha, item, where + (index,), path)
    else:
        root = PARTS.get(where[0], f"the checkpoint's {where[0]!r}") if where else "a checkpoint"
        at = (str(where[0]) + "".join(f"[{p!r}]" for p in where[1:])) if where else ""
        raise TypeError(not_plain(value, root, at, path))


def _tensor_bytes(tensor: torch.Tensor):
    """The tensor's values as a buffer of bytes (no copy where the tensor is already one)."""
    tensor = tensor.detach()
    if tensor.is_quantized:
        tensor = tensor.int_repr()
    if tensor.layout != torch.strided:
        tensor = tensor.to_dense()
    if tensor.device.type == "meta":
        return b""
    flat = tensor.resolve_conj().resolve_neg().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy()
