"""The clean room on Colab's runtime: the notebooks run with Colab's Python and package versions.

Colab publishes each runtime's packages (github.com/googlecolab/backend-info); a copy of its
lists, with the commit and date they were taken from, is in ``benchmarks/colab_runtime/``, so
this runs without looking anything up. ``make colab-runtime`` (or this tool) then:

1. picks a Python of Colab's minor version (``python3.13``, or pyenv's), or the nearest one
   here, and says when it is not Colab's;
2. downloads (``pip download``, into ``build/colab_runtime/wheels``, kept for the next run)
   Colab's versions of numpy, matplotlib, pillow, scikit-image, tqdm, ipywidgets, ipykernel,
   torch and torchvision, and what cnnlib's wheel adds (torchinfo), every package at the
   version Colab's list has (its pip freeze is the constraint file): as ``pip install`` in a
   notebook's install cell resolves on Colab, where those are preinstalled. It prints the
   download's size and time. Colab's CPU runtime has the CPU build of torch from PyTorch's own
   index; here PyPI's build of the same version is installed (CUDA libraries included);
3. installs them in a fresh virtual environment, cnnlib non-editable from its wheel, runs
   ``pip check`` and prints the versions installed;
4. runs the notebooks there with the clean room (``tools/cleanroom.py``): each alone in an
   empty folder, as its Colab edition.

    python tools/colab_runtime.py chapters/02_convolution.ipynb whiteboard/drill_lenet5.ipynb
    python tools/colab_runtime.py chapters whiteboard book practice   # every notebook

It is run on demand, not by ``make test``: the first run downloads about 2.9 GB (torch's CUDA
libraries). The result of the last run is in ``benchmarks/colab_runtime/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from urllib.parse import unquote

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LISTS = ROOT / "benchmarks" / "colab_runtime"
WHEELS = ROOT / "build" / "colab_runtime" / "wheels"
# Preinstalled on Colab and used by cnnlib or a notebook's front end (the kernel).
PREINSTALLED = ("numpy", "matplotlib", "pillow", "scikit-image", "tqdm", "ipywidgets",
                "ipykernel", "torch", "torchvision")


def colab_versions(freeze: Path = LISTS / "pip-freeze.txt") -> dict[str, str]:
    """Package (canonical name) -> version, from a pip freeze: ``name==version`` lines and
    ``name @ URL`` lines naming a wheel (Colab's torch: ``torch @ .../torch-2.11.0%2Bcpu-...``)."""
    versions = {}
    for line in freeze.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "==" in line:
            name, version = line.split("==", 1)
            versions[canonicalize_name(name)] = version.strip()
        elif " @ " in line and line.split("#")[0].endswith(".whl"):
            name, url = line.split(" @ ", 1)
            _, version, _, _ = parse_wheel_filename(unquote(url.split("#")[0].rsplit("/", 1)[1]))
            versions[canonicalize_name(name)] = str(version)
    return versions


def colab_python(os_info: Path = LISTS / "os-info.txt") -> str:
    """Colab's Python version ("3.13.15"), from the ``Python 3.x.y`` line of os-info.txt."""
    found = re.search(r"^Python (\d+\.\d+\.\d+)\s*$", os_info.read_text(), re.M)
    if not found:
        raise SystemExit(f"colab runtime: no 'Python 3.x.y' line in {os_info}")
    return found.group(1)


def declared(pyproject: Path = ROOT / "pyproject.toml") -> tuple[list[Requirement], str]:
    """cnnlib's declared dependencies and its requires-python."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]], project["requires-python"]


def not_admitted(requirements: list[Requirement], versions: dict[str, str]) -> list[str]:
    """One line for each declared range that excludes the version Colab has preinstalled."""
    bad = []
    for req in requirements:
        have = versions.get(canonicalize_name(req.name))
        if have is not None and not req.specifier.contains(Version(have), prereleases=True):
            bad.append(f"{req.name}: Colab has {have}, pyproject.toml declares '{req}'")
    return bad


# The CUDA libraries that PyPI's torch requires at exact versions: Colab's CPU torch needs
# none, and its list's stray one (nvidia-nccl-cu13 2.31.2) conflicts with torch 2.11's pin.
CUDA_LIBRARIES = re.compile(r"^(nvidia-|cuda-|triton$)")


def constraints(versions: dict[str, str]) -> str:
    """Colab's freeze as a pip constraint file: local labels (+cpu, +cu128) dropped, since
    PyPI's wheels have none, and the CUDA libraries left to torch."""
    return "".join(f"{name}=={Version(v).public}\n" for name, v in sorted(versions.items())
                   if not CUDA_LIBRARIES.match(name))


def find_python(version: str) -> tuple[Path, str]:
    """An interpreter of Colab's minor version, else the nearest here; (path, its version)."""
    major, minor = map(int, version.split(".")[:2])
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = []
    for m in range(minor, minor - 4, -1):
        candidates.append(shutil.which(f"python{major}.{m}"))
        candidates += sorted(pyenv.glob(f"{major}.{m}.*/bin/python{major}.{m}"), reverse=True)
        for path in filter(None, candidates):
            done = subprocess.run([str(path), "-c", "import platform, venv; "
                                   "print(platform.python_version())"],
                                  capture_output=True, text=True)
            if done.returncode == 0:  # a pyenv shim of a version not selected fails here
                return Path(path), done.stdout.strip()
        candidates = []
    raise SystemExit(f"colab runtime: no Python {major}.{minor} (nor an older {major}.x) found; "
                     f"install Python {major}.{minor} (e.g. `pyenv install {major}.{minor}`)")


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def make_environment(where: Path, python: Path, versions: dict[str, str], wheels: Path,
                     report: dict) -> Path:
    """Colab's versions and cnnlib's wheel in a fresh virtual environment; its Python."""
    import cleanroom

    wheel = cleanroom.build_wheel(where / "build")
    pins = where / "colab-constraints.txt"
    pins.write_text(constraints(versions))
    wheels.mkdir(parents=True, exist_ok=True)
    before = folder_size(wheels)
    env = where / "env"
    subprocess.run([str(python), "-m", "venv", str(env)], check=True)
    pip = [str(env / "bin" / "python"), "-m", "pip"]
    # cnnlib's requirements rather than its wheel: no copy of the wheel is left in ``wheels``
    needed = [*PREINSTALLED, *map(str, cleanroom.wheel_requirements(wheel))]
    start = time.perf_counter()
    subprocess.run([*pip, "download", "--quiet", "-c", str(pins), "-d", str(wheels), *needed],
                   check=True)
    report["download_s"] = round(time.perf_counter() - start, 1)
    report["download_bytes"] = folder_size(wheels) - before
    report["wheels_bytes"] = folder_size(wheels)
    print(f"colab runtime: downloaded {report['download_bytes'] / 1e6:.0f} MB in "
          f"{report['download_s']:.0f} s ({report['wheels_bytes'] / 1e6:.0f} MB of wheels in "
          f"{wheels})", flush=True)
    start = time.perf_counter()
    subprocess.run([*pip, "install", "--quiet", "--no-index", "--find-links", str(wheels),
                    "-c", str(pins), *PREINSTALLED, str(wheel)], check=True)
    report["install_s"] = round(time.perf_counter() - start, 1)
    subprocess.run([*pip, "check"], check=True)
    listed = json.loads(subprocess.run([*pip, "list", "--format", "json"], check=True,
                                       capture_output=True, text=True).stdout)
    report["installed"] = {canonicalize_name(d["name"]): d["version"] for d in listed}
    where_from = subprocess.run([str(env / "bin" / "python"), "-I", "-c",
                                 "import cnnlib; print(cnnlib.__file__)"],
                                check=True, capture_output=True, text=True, cwd=where).stdout
    if not where_from.startswith(str(env)):
        raise SystemExit(f"colab runtime: cnnlib was imported from {where_from.strip()}, not "
                         "from the environment just built")
    print(f"colab runtime: installed in {report['install_s']:.0f} s; versions "
          "(Colab's in brackets where they differ):")
    for name in [*PREINSTALLED, "torchinfo", "cnnlib"]:
        have, colab = report["installed"].get(name, "-"), versions.get(name)
        note = "" if colab is None or colab == have else f"  ({colab})"
        print(f"  {name:<14} {have}{note}" + ("  (not on Colab)" if colab is None else ""))
    return env / "bin" / "python"


def main(argv: list[str] | None = None) -> int:
    import cleanroom

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="notebooks, or folders of notebooks")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--wheels", type=Path, default=WHEELS,
                        help=f"where downloads are kept between runs (default {WHEELS})")
    parser.add_argument("--report", type=Path, help="write versions, sizes and times as JSON")
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    notebooks = cleanroom.notebooks_in(args.paths)

    versions = colab_versions()
    requirements, requires_python = declared()
    bad = not_admitted(requirements, versions)
    if not SpecifierSet(requires_python).contains(colab_python()):
        bad.append(f"Python: Colab has {colab_python()}, requires-python is "
                   f"'{requires_python}'")
    if bad:
        raise SystemExit("colab runtime: pyproject.toml excludes Colab's versions:\n  "
                         + "\n  ".join(bad))
    wanted = colab_python()
    python, have = find_python(wanted)
    source = json.loads((LISTS / "source.json").read_text())
    print(f"colab runtime: Colab's lists of {source['date'][:10]} ({source['commit'][:7]}), "
          f"Python {wanted}; here Python {have} ({python})"
          + ("" if have.split(".")[:2] == wanted.split(".")[:2] else
             ": NOT Colab's minor version, the nearest found"), flush=True)
    report = {"colab_lists": source, "colab_python": wanted, "python": have}
    start = time.perf_counter()
    status = cleanroom.run(
        notebooks, extra, keep=args.keep,
        environment=lambda where: make_environment(where, python, versions, args.wheels,
                                                   report),
        describe="colab runtime: building cnnlib's wheel and an environment with Colab's "
                 "versions ...")
    report["status"], report["total_s"] = status, round(time.perf_counter() - start, 1)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    return status


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tools"))
    sys.exit(main())
