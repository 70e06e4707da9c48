"""The book's version, in one place: ``tools/release.py`` writes it, its git tag is ``v`` + it."""

__version__ = "0.1.0"
