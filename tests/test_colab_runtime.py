"""cnnlib's declared ranges admit what Colab has preinstalled, read from Colab's own lists.

On Colab, ``pip install cnnlib`` keeps a preinstalled torch only if pyproject.toml's range
admits it; otherwise pip replaces it (a 900 MB download, and a torch Colab did not test). The
lists are the copy in ``benchmarks/colab_runtime/`` (source.json names Colab's commit), so
this runs offline; ``make colab-runtime`` runs the notebooks on those versions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import colab_runtime  # noqa: E402

LISTS = {"CPU": ROOT / "benchmarks" / "colab_runtime" / "pip-freeze.txt",
         "GPU": ROOT / "benchmarks" / "colab_runtime" / "pip-freeze.gpu.txt"}


@pytest.mark.parametrize("runtime", LISTS)
def test_every_declared_range_admits_colabs_preinstalled_version(runtime):
    versions = colab_runtime.colab_versions(LISTS[runtime])
    requirements, _ = colab_runtime.declared()
    # the lists were read at all: what cnnlib leans on most is preinstalled there
    assert {"torch", "torchvision", "numpy", "matplotlib", "pillow"} <= set(versions)
    assert colab_runtime.not_admitted(requirements, versions) == [], (
        f"on Colab's {runtime} runtime pip would replace these preinstalled packages: widen "
        "the range in pyproject.toml, or say in the book why Colab's version cannot work")


def test_requires_python_admits_colabs_python():
    _, requires_python = colab_runtime.declared()
    python = colab_runtime.colab_python()
    assert SpecifierSet(requires_python).contains(python), (
        f"Colab runs Python {python}, pyproject.toml's requires-python is '{requires_python}'")


def test_a_range_that_excludes_colabs_version_is_named_with_both_versions():
    versions = colab_runtime.colab_versions(LISTS["CPU"])
    bad = colab_runtime.not_admitted([Requirement("torch>=2.12"), Requirement("numpy<2"),
                                      Requirement("pillow>=9.1"),
                                      Requirement("not-on-colab>=1")], versions)
    assert bad == ["torch: Colab has 2.11.0+cpu, pyproject.toml declares 'torch>=2.12'",
                   "numpy: Colab has 2.1.3, pyproject.toml declares 'numpy<2'"]


def test_the_lists_are_read_as_pip_wrote_them(tmp_path):
    """``name==version`` lines, and ``name @ URL`` lines whose version is the wheel's."""
    freeze = tmp_path / "pip-freeze.txt"
    freeze.write_text("# a comment\nPyYAML==6.0.3\n"
                      "torch @ https://download.pytorch.org/whl/cpu/"
                      "torch-2.11.0%2Bcpu-cp313-cp313-manylinux_2_28_x86_64.whl\n"
                      "google-colab @ file:///colabtools/dist/google_colab-1.0.0.tar.gz\n"
                      "jupyter_kernel_gateway @ git+https://github.com/x/y@b134e99\n")
    assert colab_runtime.colab_versions(freeze) == {"pyyaml": "6.0.3", "torch": "2.11.0+cpu"}
    assert colab_runtime.constraints({"torch": "2.11.0+cpu", "nvidia-nccl-cu13": "2.31.2",
                                      "triton": "3.6.0"}) == "torch==2.11.0\n"


def test_the_copy_says_where_and_when_it_was_taken():
    source = json.loads((ROOT / "benchmarks" / "colab_runtime" / "source.json").read_text())
    assert source["repository"] == "https://github.com/googlecolab/backend-info"
    assert len(source["commit"]) == 40 and source["date"][:4].isdigit()
    assert all((ROOT / "benchmarks" / "colab_runtime" / f).is_file() for f in source["files"])
    assert colab_runtime.colab_python().startswith("3.")


def test_the_python_picked_is_of_the_wanted_minor_version_or_the_error_says_which():
    here = ".".join(map(str, sys.version_info[:3]))
    path, version = colab_runtime.find_python(here)
    assert version.split(".")[:2] == here.split(".")[:2] and path.exists()
    with pytest.raises(SystemExit, match=r"no Python 2\.99 \(nor an older 2\.x\)"):
        colab_runtime.find_python("2.99.0")
