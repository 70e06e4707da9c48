"""The clean room: every notebook runs alone, in an empty folder, against an installed cnnlib.

That is how Colab opens a notebook: nothing of the repository around it, and ``cnnlib``
installed by pip with only the dependencies ``pyproject.toml`` declares. ``make test`` runs the
book's notebooks this way (and only this way), in quick mode:

1. build a wheel of ``cnnlib`` from ``pyproject.toml``, ``README.md`` and ``cnnlib/`` alone;
2. make a throwaway virtual environment holding what pip would install for that wheel, cnnlib's
   declared dependencies and theirs, plus ``ipykernel`` and its dependencies (every Jupyter
   front end, Colab included, brings a kernel). Those distributions are linked from the
   environment running this tool rather than downloaded, so the pinned torch is reused and
   nothing goes over the network. Anything else (scikit-learn, PyYAML, jupyter-book, the
   repository itself) is absent, so a notebook importing an undeclared package fails;
3. install the wheel there (``pip install --no-deps``), then ``pip check``: every declared
   requirement is met by the versions present;
4. copy each notebook alone into an empty folder and execute it with nbval, in a kernel that
   runs the clean environment's Python: outputs of cells tagged ``nbval-check-output`` are
   compared, every other cell must run without error.

A notebook of the book is run as a Colab reader gets it: its Colab edition (``colab/<path>``,
``tools/make_colab.py``), refused when out of date. The edition's answer cells carry no saved
output (the reader runs them after trying), so for the answer cells that nbval compares the
source's saved outputs are put back in the copy that runs: the comparisons stay those of the
sources, the code and prose are the edition's. ``--sources`` runs the sources instead.

    python tools/cleanroom.py chapters whiteboard book practice   # what make test runs
    python tools/cleanroom.py chapters/03_lenet5.ipynb --keep     # keep the folder to look in
    python tools/cleanroom.py chapters/03_lenet5.ipynb --sources  # the source, not the edition

Extra pytest options go after ``--``. Prints a line as each notebook finishes, with how
many are done ("[3/28] chapters/03_lenet5.ipynb ... 11.6 s"), and at the end every time
with "passed" or "FAILED".
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import nbformat
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book_ref  # noqa: E402
import make_colab  # noqa: E402

KERNEL = "cnnlib-cleanroom"
FRONT_END = ("ipykernel",)  # what the front end brings: Colab, Jupyter, VS Code all have it
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
PACKAGE_FILES = ("pyproject.toml", "README.md", "cnnlib")


def build_wheel(dest: Path) -> Path:
    """A wheel of cnnlib built from the files the package consists of, nothing else."""
    source = dest / "source"
    source.mkdir(parents=True)
    for name in PACKAGE_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    wheels = dest / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(wheels), str(source)], check=True)
    (wheel,) = wheels.glob("cnnlib-*.whl")
    return wheel


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = zf.read(name).decode()
    return [Requirement(line.split(":", 1)[1].strip()) for line in meta.splitlines()
            if line.startswith("Requires-Dist:")]


def closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """The installed distributions that satisfy ``requirements``, with theirs, recursively.

    Raises when one is missing or its installed version is outside the declared range: then
    the pinned set (requirements.txt) and pyproject.toml's ranges disagree.
    """
    found: dict[str, metadata.Distribution] = {}
    todo = [(req, "") for req in requirements]
    while todo:
        req, extra = todo.pop()
        env = {**default_environment(), "extra": extra}
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        key = canonicalize_name(req.name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"clean room: {req.name} (required as '{req}') is not installed in "
                             f"{sys.prefix}; run `make install` first") from None
        if not req.specifier.contains(dist.version, prereleases=True):
            raise SystemExit(f"clean room: {req.name} {dist.version} is installed, but '{req}' is "
                             "required: requirements.txt and pyproject.toml disagree")
        first_time = key not in found
        found[key] = dist
        for sub in dist.requires or []:
            sub = Requirement(sub)
            for wanted in [""] + sorted(req.extras):
                if first_time or wanted:
                    todo.append((sub, wanted))
    return found


def link_distributions(dists: dict[str, metadata.Distribution], site: Path) -> int:
    """Link each distribution's top-level files into ``site``; return how many were linked."""
    linked = 0
    for dist in dists.values():
        base = Path(dist.locate_file(""))
        if dist.files is None:
            raise SystemExit(f"clean room: {dist.metadata['Name']} has no RECORD, so its files "
                             "are unknown; reinstall it with pip")
        for top in sorted({f.parts[0] for f in dist.files if f.parts[0] != ".."}):
            target = site / top
            if not target.exists() and (base / top).exists():
                target.symlink_to(base / top)
                linked += 1
    return linked


def make_environment(where: Path) -> Path:
    """Build the clean environment under ``where``; return its Python."""
    wheel = build_wheel(where / "build")
    env = where / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    wanted = wheel_requirements(wheel) + [Requirement(name) for name in FRONT_END]
    link_distributions(closure(wanted), site)
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True)
    subprocess.run([*pip, "check"], check=True, stdout=subprocess.DEVNULL)
    where_from = subprocess.run([str(python), "-I", "-c", "import cnnlib; print(cnnlib.__file__)"],
                                check=True, capture_output=True, text=True, cwd=where).stdout
    if not where_from.startswith(str(env)):
        raise SystemExit(f"clean room: cnnlib was imported from {where_from.strip()}, not from "
                         "the clean environment")
    return python


def write_kernel(where: Path, python: Path) -> Path:
    """A kernel spec named cnnlib-cleanroom that starts the clean environment's Python."""
    spec = where / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "cnnlib clean room", "language": "python",
        "env": {"PYTHONNOUSERSITE": "1"}}))
    return where / "jupyter"


def notebooks_in(paths: list[str]) -> list[Path]:
    found = []
    for name in paths:
        path = Path(name)
        found += sorted(path.glob("*.ipynb")) if path.is_dir() else [path]
    missing = [str(p) for p in found if not p.is_file()]
    if missing:
        raise SystemExit(f"clean room: no such notebook: {', '.join(missing)}")
    return found


def edition_of(path: Path) -> Path | None:
    """The Colab edition of a notebook of the book (``colab/<path>``); None for any other."""
    try:
        rel = path.resolve().relative_to(ROOT)
    except ValueError:
        return None
    if len(rel.parts) != 2 or rel.parts[0] not in make_colab.FOLDERS:
        return None
    return ROOT / book_ref.EDITION / rel


def stale_editions(notebooks: list[Path]) -> list[str]:
    """The editions of ``notebooks`` that are missing or older than their sources."""
    wanted = {edition_of(p) for p in notebooks} - {None}
    if not wanted:
        return []
    files = {path: text for path, text in make_colab.plan(ROOT).items() if path in wanted}
    return make_colab.out_of_date(ROOT, files)


def edition_to_run(source: Path, edition: Path):
    """The edition, with the saved outputs of the answer cells nbval compares put back from
    the source (same cell id and code), so that their outputs are still checked."""
    nb = nbformat.read(edition, as_version=4)
    originals = {c.id: c for c in nbformat.read(source, as_version=4).cells
                 if c.cell_type == "code"}
    for cell in nb.cells:
        original = originals.get(cell.get("id"))
        if (cell.cell_type == "code" and not cell.outputs and original is not None
                and "nbval-check-output" in cell.metadata.get("tags", [])
                and original.source == cell.source):
            cell.outputs, cell.execution_count = original.outputs, original.execution_count
    return nb


def isolate(notebooks: list[Path], where: Path, editions: bool = True) -> list[Path]:
    """Each notebook alone in an empty folder of its own: ``<where>/<folder>-<name>/``; a
    notebook of the book as its Colab edition, unless ``editions`` is False."""
    copies = []
    for path in notebooks:
        folder = where / "run" / f"{path.parent.name}-{path.stem}"
        folder.mkdir(parents=True)
        edition = edition_of(path) if editions else None
        if edition is None:
            shutil.copy2(path, folder / path.name)
        else:
            nbformat.write(edition_to_run(path, edition), folder / path.name)
        copies.append(folder / path.name)
    return copies


class Timer:
    """A pytest plugin: wall time per notebook (set-up, cells and tear-down of its
    items), and a line as each notebook finishes: how many are done, which, its time.

    ``names`` maps each copy's pytest path (``folder/name.ipynb``) to the name shown."""

    def __init__(self, names: dict[str, str] | None = None):
        self.seconds = defaultdict(float)
        self.names = names or {}
        self.last: dict[str, str] = {}  # notebook -> the node id of its last cell
        self.failed: set[str] = set()  # notebooks with a failed cell (or set-up)
        self.done = 0
        self.config = None

    def pytest_configure(self, config):
        self.config = config  # its terminal reporter is registered after this plugin

    def pytest_collection_modifyitems(self, items):
        for item in items:
            self.last[item.nodeid.split("::")[0]] = item.nodeid

    def pytest_runtest_logreport(self, report):
        self.seconds[report.nodeid.split("::")[0]] += report.duration
        if report.failed:
            self.failed.add(report.nodeid.split("::")[0])

    def pytest_runtest_logfinish(self, nodeid):
        notebook = nodeid.split("::")[0]
        if self.last.get(notebook) != nodeid:
            return
        self.done += 1
        total = len(self.names) or len(self.last)
        name = self.names.get(notebook, notebook)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter.verbosity < 0:  # -q: the cells' dots run on, no newline before this
            reporter.write("\n")
        reporter.write_line(f"[{self.done}/{total}] {name} ... "
                            f"{self.seconds[notebook]:.1f} s")


def run(notebooks: list[Path], pytest_args: list[str], keep: bool = False,
        editions: bool = True, environment=None, describe: str | None = None) -> int:
    """Run ``notebooks`` in the clean room; pytest's exit status.

    ``environment(where) -> Python`` builds the environment the kernel runs (by default
    ``make_environment``; ``tools/colab_runtime.py`` passes one with Colab's versions), and
    ``describe`` is what is printed while it is built."""
    import pytest

    environment = environment or make_environment

    stale = stale_editions(notebooks) if editions else []
    if stale:
        raise SystemExit("clean room: the Colab edition is out of date (run `make colab`):\n  "
                         + "\n  ".join(stale))
    where = Path(tempfile.mkdtemp(prefix="cnnlib-cleanroom-"))
    try:
        start = time.perf_counter()
        print(describe or "clean room: building cnnlib's wheel and an environment with only "
              "its declared dependencies ...", flush=True)
        python = environment(where)
        print(f"clean room: environment ready in {time.perf_counter() - start:.0f} s ({where})")
        os.environ["JUPYTER_PATH"] = str(write_kernel(where, python))
        os.environ.pop("PYTHONPATH", None)
        os.environ.setdefault("CNNLIB_PROGRESS", "0")
        copies = isolate(notebooks, where, editions)
        (where / "run" / "pytest.ini").write_text(
            "[pytest]\nfilterwarnings = ignore::DeprecationWarning:jupyter_client.*\n")
        names = {str(copy.relative_to(where / "run")): f"{path.parent.name}/{path.name}"
                 for path, copy in zip(notebooks, copies)}
        timer = Timer(names)
        shown = sum(edition_of(p) is not None for p in notebooks) if editions else 0
        print(f"clean room: running {len(copies)} notebook(s), each alone"
              + (f" ({shown} as their Colab edition)" if shown else "") + " ...", flush=True)
        status = pytest.main(["--nbval-lax", "--nbval-kernel-name", KERNEL,
                              "--nbval-sanitize-with", str(SANITIZE), "-p", "no:cacheprovider",
                              "--rootdir", str(where / "run"), "-q", *pytest_args,
                              *map(str, copies)], plugins=[timer])
        print("\nclean room, wall time per notebook:")
        for original, copy in zip(notebooks, copies):
            key = str(copy.relative_to(where / "run"))
            seconds = timer.seconds.get(key, 0.0)
            verdict = ("FAILED" if key in timer.failed else "passed" if key in timer.seconds
                       else "not run")
            print(f"  {original.parent.name + '/' + original.name:<44} {seconds:6.1f} s  "
                  f"{verdict}")
        return int(status)
    finally:
        if keep:
            print(f"clean room kept: {where}")
        else:
            shutil.rmtree(where, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="notebooks, or folders of notebooks")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--sources", action="store_true",
                        help="run the book's source notebooks, not their Colab editions")
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    return run(notebooks_in(args.paths), extra, keep=args.keep, editions=not args.sources)


if __name__ == "__main__":
    sys.exit(main())
