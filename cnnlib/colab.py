"""Google Colab: answers stay folded and do not run under *Run all*.

Colab shows MyST markup as raw text, so the book's dropdowns do not hide its solutions there.
Two things do instead. Every cell that holds an answer (the code of a solution, or a reference
output such as the shape ladder in a drill) starts with a Colab form title, ``# @title
Solution ...`` or ``# @title Reference ...``, and Colab shows such a cell folded, as its title
only. And in Colab, :func:`cnnlib.setup` installs :func:`hold_answers`, which replaces each such
cell with a one-line note when it runs, so *Run all* does not print the answers under the
exercises. A reader who wants them calls :func:`show_answers` once and runs the cells again.

Outside Colab nothing changes: the book's build and CI run every answer. ``CNNLIB_ANSWERS=hold``
holds them anywhere (to see a notebook as a Colab reader does), ``=run`` runs them in Colab.
"""

from __future__ import annotations

import builtins
import os
import sys

SOLUTION_TITLE = "# @title Solution"
REFERENCE_TITLE = "# @title Reference"
FORM = '{ display-mode: "form" }'
NEEDED_LATER = "(used below)"
_state = {"show": None}  # None: decided by CNNLIB_ANSWERS and by whether this is Colab


def solution_title(label: str, needed_later: bool = False) -> str:
    """The first line of a solution's code cell: a folded Colab form named after the exercise.

    ``needed_later``: later cells use what this one defines, so it runs silently when held.
    """
    return f"{SOLUTION_TITLE} of {label} {NEEDED_LATER + ' ' if needed_later else ''}{FORM}"


def reference_title(needed_later: bool = False) -> str:
    """The first line of a cell whose output is an answer to check against (hidden in the book)."""
    return (f"{REFERENCE_TITLE}: run it to check your answer "
            f"{NEEDED_LATER + ' ' if needed_later else ''}{FORM}")


def in_colab() -> bool:
    return "google.colab" in sys.modules


def holding_answers() -> bool:
    """True when answer cells are replaced by a note: in Colab, unless the reader asked."""
    if _state["show"] is not None:
        return not _state["show"]
    setting = os.environ.get("CNNLIB_ANSWERS", "").strip().lower()
    if setting not in ("", "hold", "run"):
        raise ValueError(f"CNNLIB_ANSWERS is {setting!r}; expected 'hold' or 'run' (or unset: "
                         "hold in Colab, run elsewhere)")
    return setting == "hold" or (setting == "" and in_colab())


def show_answers(show: bool = True) -> None:
    """Run answer cells from now on (``show=False`` holds them again)."""
    _state["show"] = bool(show)


def is_answer_cell(lines: list[str]) -> bool:
    first = lines[0] if lines else ""
    return first.startswith(SOLUTION_TITLE) or first.startswith(REFERENCE_TITLE)


def _hold(lines: list[str]) -> list[str]:
    """IPython input transformer: an answer cell becomes a note, while answers are held."""
    if not is_answer_cell(lines) or not holding_answers():
        return lines
    title = lines[0].removeprefix("# @title").replace(FORM, "").replace(NEEDED_LATER, "").strip()
    how = ("To see the code, unfold the cell (double-click it); to see its output, call "
           "cnnlib.colab.show_answers() once and run this cell again.")
    if NEEDED_LATER not in lines[0]:
        return [f"print({f'{title}: not run, so that Run all does not show it. {how}'!r})\n"]
    note = f"{title}: run without showing its output, as later cells build on it. {how}"
    code = "".join(lines[1:])
    return ["from IPython.utils.capture import capture_output as _cnnlib_capture\n",
            "with _cnnlib_capture():\n",
            f"    exec(compile({code!r}, {title!r}, 'exec'), get_ipython().user_ns)\n",
            f"print({note!r})\n"]


def hold_answers(shell=None) -> bool:
    """Install the transformer in the running IPython shell; False outside IPython.

    IPython puts ``get_ipython`` among the builtins of every kernel, so no import is needed.
    """
    holding_answers()  # a bad CNNLIB_ANSWERS fails here, once, not in every cell
    if shell is None:
        shell = getattr(builtins, "get_ipython", lambda: None)()
    if shell is None:
        return False
    transformers = shell.input_transformers_post
    if _hold not in transformers:
        transformers.append(_hold)
    return True
