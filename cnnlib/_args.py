"""Argument checks shared by the library's edges: a count or a size is a whole number in range.

One wording everywhere (arithmetic, loaders, data subsets, image folders): the argument's name,
the range it takes, the value it got, and what it means or how to fix it. ``True`` is refused as
a count although Python treats it as 1, and ``2.0`` although it is whole: both are almost always
a slip (a flag passed in the wrong place, a size computed with ``/`` instead of ``//``).
"""

from __future__ import annotations

import math
import operator
import os
from pathlib import Path

import numpy as np
import torch


class NotAWholeNumberError(TypeError, ValueError):
    """A count or size that is not a whole number: a float, a bool, a string, a tuple.

    Both a ``TypeError`` (Python's usual answer to a wrong type) and a ``ValueError`` (what the
    library's other argument errors are), so ``except ValueError`` catches every bad argument.
    """


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_)) or (
        isinstance(value, torch.Tensor) and value.dtype == torch.bool)


def _span(minimum: int | None, maximum: int | None) -> str:
    if maximum is None:
        return f">= {minimum}" if minimum is not None else "a whole number"
    return f"from {minimum:,} to {maximum:,}"


def _why_not_whole(value) -> str:
    if _is_bool(value):
        return f"{value!r} (a bool, which Python would count as {int(value)})"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return f"{value!r} (a float: write {int(value)}, or use // instead of /)"
    return f"{value!r} (a {type(value).__name__})"


def whole_number(name: str, value, minimum: int | None = None, maximum: int | None = None,
                 meaning: str = "") -> int:
    """``value`` as an int, or an error that names ``name``, the range and the value.

    Python and NumPy integers (and one-element integer tensors) are accepted; bools, floats and
    everything else raise :class:`NotAWholeNumberError`; a whole number outside
    ``minimum..maximum`` raises ``ValueError``. ``meaning`` (what the argument is, or how to
    fix it) ends the message, after a semicolon.
    """
    tail = f"; {meaning}" if meaning else ""
    try:
        if _is_bool(value):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        kind = "a whole number" if minimum is None else f"a whole number {_span(minimum, maximum)}"
        raise NotAWholeNumberError(f"{name} must be {kind}, got {_why_not_whole(value)}{tail}")\
            from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"{name} must be {_span(minimum, maximum)}, got {number:,}{tail}")
    return number


def finite_number(name: str, value, meaning: str = "") -> float:
    """``value`` as a float, or a ``TypeError``/``ValueError`` naming it (bools, NaN, inf)."""
    tail = f"; {meaning}" if meaning else ""
    if _is_bool(value) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r} "
                        f"(a {type(value).__name__}){tail}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}{tail}")
    return float(value)


def expand_home(path, name: str) -> Path:
    """``path`` with ``~`` or ``~user`` expanded; a user without a home is a clear error, not
    pathlib's 'Could not determine home directory'."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        user = Path(path).parts[0]
        raise ValueError(f"{name}={os.fspath(path)!r} starts with {user!r}, but there is no "
                         f"home folder for it (no such user, or HOME is not set): write the "
                         f"full path") from None
