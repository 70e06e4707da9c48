"""How the verdicts write the recorded values, and how many numbers a shape holds."""

from __future__ import annotations


def fmt(v) -> str:
    """A kernel, stride or rate as code would write it: 3 for (3, 3), 1×7, 0.5."""
    if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1]:
        return str(v[0])
    if isinstance(v, tuple):
        return "×".join(map(str, v))
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def numel(shape) -> int:
    """The number of values in a tensor of ``shape`` (1 for an empty shape, as in torch)."""
    n = 1
    for s in shape or ():
        n *= s
    return n
