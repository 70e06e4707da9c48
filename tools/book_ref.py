"""The book's version, its git ref and the addresses built from them, in one place.

The version is set once, in ``cnnlib/_version.py`` (``__version__``; ``pyproject.toml`` and
``cnnlib/__init__.py`` read it from there). Everything a reader follows to run the book's code
names one git ref: the launch buttons (``repository.branch`` in ``_config.yml``), the Colab
install cell of every notebook, the links to the practice copies and the install line in the
prose. That ref (``ref()``) is

* the tag ``v<version>`` on the release commit, the one commit that tag points at, so that the
  book built from the tag opens notebooks that install the library they were written with;
* ``main`` everywhere else, so that a notebook opened from ``main`` installs ``main``'s
  library, not an older release that lacks functions ``main`` already uses.

It is read from git (``git tag --points-at HEAD``): the tree is at the release when its checked
out commit carries the tag. Without git (an archive of the repository) the ref is the one
``_config.yml`` names, if it is the version's tag, else ``main``. ``tools/release.py`` writes
every place from ``ref()`` (the release command writes the tag into the release commit and
``main`` into the next), and ``tests/test_release.py`` fails when any of them disagrees.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
VERSION_FILE = Path("cnnlib") / "_version.py"  # relative to the repository's root
VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.M)
RELEASE_VERSION = re.compile(r"\d+\.\d+\.\d+")
MAIN = "main"  # the ref of every commit but a release's
EDITION = "colab"  # the folder of the Colab edition (tools/make_colab.py)


def version(root: Path = ROOT) -> str:
    """``cnnlib.__version__`` as written in the source (without importing the package)."""
    text = (root / VERSION_FILE).read_text()
    found = VERSION_LINE.search(text)
    if not found:
        raise ValueError(f"no `__version__ = \"X.Y.Z\"` line in {root / VERSION_FILE}")
    return found.group(1)


def ref_of(version_: str) -> str:
    """The git tag of a version: ``0.2.0`` -> ``v0.2.0``."""
    return f"v{version_}"


def tags_at_head(root: Path = ROOT) -> set[str] | None:
    """The tags on the commit checked out at ``root``; None where ``root`` is no git checkout
    of its own (no git, an archive, a folder inside another repository)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                              text=True).stdout.strip()
    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != Path(root).resolve():
            return None
        return set(git("tag", "--points-at", "HEAD").split())
    except (OSError, subprocess.CalledProcessError):
        return None


def ref(root: Path = ROOT) -> str:
    """The ref every notebook installs from: the version's tag on the commit that tag points
    at, ``main`` on any other (see the module's docstring)."""
    tag = ref_of(version(root))
    tags = tags_at_head(root)
    if tags is None:  # an archive: trust _config.yml only for the tag of its own version
        named = (yaml.safe_load((root / "_config.yml").read_text()).get("repository") or {})
        return tag if named.get("branch") == tag else MAIN
    return tag if tag in tags else MAIN


def repository(root: Path = ROOT) -> str:
    """The repository's URL, from ``_config.yml`` (``repository.url``), without a trailing /."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/")


def install_spec(repo: str, ref: str) -> str:
    """What pip installs in Colab: ``cnnlib @ git+<repository>@<ref>``."""
    return f"cnnlib @ git+{repo}@{ref}"


def github_url(repo: str, ref: str, path: str) -> str:
    """A file of the repository at ``ref``, as GitHub shows it."""
    return f"{repo}/blob/{ref}/{path}"


def colab_url(repo: str, ref: str, path: str) -> str:
    """A notebook of the repository at ``ref``, opened in Google Colab."""
    owner_name = repo.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_name}/blob/{ref}/{path}"


def edition_path(path: str) -> str:
    """Where the Colab edition of a notebook lives: ``colab/`` and the same path.

    Colab shows MyST markup as raw text, so every link into Colab (the launch buttons, the
    practice links) opens the edition that ``tools/make_colab.py`` generates, not the source.
    """
    return f"{EDITION}/{path}"


def book_url(root: Path = ROOT) -> str:
    """The published HTML book's address, from ``_config.yml`` (``html.baseurl``), ending in /."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    url = (config.get("html") or {}).get("baseurl")
    if not url:
        raise ValueError(f"no html.baseurl in {root / '_config.yml'}: set it to the address "
                         "the HTML book is published at (the Colab edition links to it)")
    return url.rstrip("/") + "/"


def disagreements(root: Path, files: dict, orphan: str, stale: str) -> list[str]:
    """One line per generated file that differs from what ``files`` says it should hold
    (its text, or None for a file whose source is gone): the check that ``make colab`` and
    the release command share."""
    wrong = []
    for path, text in files.items():
        name = str(path.relative_to(root))
        if text is None:
            wrong.append(f"{name}: {orphan}")
        elif not path.exists():
            wrong.append(f"{name}: missing")
        elif path.read_text() != text:
            wrong.append(f"{name}: {stale}")
    return wrong
