"""Numbers from a run, glued into the page's prose, so that prose and output cannot drift.

A code cell calls ``glue("acc", f"{acc:.2%}")``; the markdown names it with myst-nb's
``glue:text`` role (the role, then the name in backquotes), which shows a glued string without
its quotes. The book's build writes the value that this run
computed into the sentence. The value is glued as given, so format it as the sentence reads it.

myst-nb does the gluing; it comes with the book's build tools, not with ``cnnlib``. Where it is
not installed (Colab, a plain ``pip install cnnlib``) ``glue`` only shows the value when asked
to, so the same notebook runs everywhere.
"""

from __future__ import annotations


def glue(name: str, value, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the page's prose; show it too if ``display``."""
    try:
        from myst_nb import glue as myst_glue  # optional and heavy (Sphinx): imported on use
    except ImportError:
        if display:
            print(value)
        return
    myst_glue(name, value, display=display)
