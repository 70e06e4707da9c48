"""Numbers from a run, glued into the page's prose, so that prose and output cannot drift.

A code cell calls ``glue("acc", f"{acc:.2%}")``; the markdown names it with myst-nb's
``glue:text`` role (the role, then the name in backquotes), which shows a glued string without
its quotes. The book's build writes the value that this run
computed into the sentence. The value is glued as given, so format it as the sentence reads it.

myst-nb does the gluing; it comes with the book's build tools, not with ``cnnlib``. Where it is
not installed (Colab, a plain ``pip install cnnlib``) ``glue`` only shows the value when asked
to, so the same notebook runs everywhere.

A cell that computes several numbers for one paragraph glues them in one call:
``glue_all(acc=f"{acc:.2%}", epochs=len(history))``.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
"""What a glue name may hold: the role ends at a backquote and reads a colon as the start of
a format (and '::' as a notebook's path), so only these characters are safe to name."""


def glue(name: str, value, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the page's prose; show it too if ``display``."""
    _check_name(name)
    try:
        from myst_nb import glue as myst_glue  # optional and heavy (Sphinx): imported on use
    except ImportError:
        if display:
            print(value)
        return
    myst_glue(name, value, display=display)


def glue_all(values: dict | None = None, /, **named) -> None:
    """Glue several values in one call: ``glue_all(acc="97.1%", epochs=12)``, or a dict for
    names that are not Python identifiers. Nothing is shown; the names are checked first, so
    a mistake glues nothing."""
    if isinstance(named.get("values"), dict):
        raise TypeError("glue_all got a dict as values=..., which would glue one value named "
                        "'values': pass the dict positionally, glue_all({...})")
    if values is not None and not isinstance(values, dict):
        raise TypeError(f"glue_all takes name=value pairs or one dict of them, got a "
                        f"{type(values).__name__}: write glue_all(acc=..., epochs=...)")
    values = dict(values or {})
    both = sorted(set(values) & set(named))
    if both:
        raise ValueError(f"glue_all got {both[0]!r} twice (in the dict and as a keyword): "
                         "give each name once")
    values.update(named)
    if not values:
        raise TypeError("glue_all got nothing to glue: write glue_all(acc=..., epochs=...)")
    for name in values:
        _check_name(name)
    for name, value in values.items():
        glue(name, value)


def _check_name(name) -> None:
    """Refuse a name that the page's glue role could not name."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a glue name must be a non-empty string of letters, digits, '_', "
                         f"'-' and '.' (what the glue:text role can name), got {name!r}")
