"""A tiny seeded generator that JavaScript can repeat exactly: mulberry32.

The quiz draws its questions from it, and the quiz box on the book's pages
(``_static/quiz.js``) runs the same twelve lines, so seed N gives the same question in a
notebook and in a browser. Python's ``random`` cannot be repeated in a browser, hence this.
Only 32-bit integer operations and one division by 2**32 are used: both languages compute
them exactly.
"""

from __future__ import annotations

_MASK = 0xFFFFFFFF


def _imul(a: int, b: int) -> int:
    """JavaScript's ``Math.imul`` on unsigned 32-bit values: the low 32 bits of ``a * b``."""
    return (a * b) & _MASK


class Mulberry32:
    """``random()`` in [0, 1), ``below(n)`` in 0..n-1 and ``pick(seq)``, from a 32-bit seed."""

    def __init__(self, seed: int):
        self.state = seed & _MASK

    def random(self) -> float:
        self.state = (self.state + 0x6D2B79F5) & _MASK
        t = _imul(self.state ^ (self.state >> 15), self.state | 1)
        t = ((t + _imul(t ^ (t >> 7), t | 61)) & _MASK) ^ t
        return ((t ^ (t >> 14)) & _MASK) / 4294967296

    def below(self, n: int) -> int:
        return int(self.random() * n)  # floor, as Math.floor in the JavaScript copy

    def pick(self, items):
        return items[self.below(len(items))]
