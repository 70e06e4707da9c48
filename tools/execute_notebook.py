"""Execute notebooks in place, top to bottom, in one kernel: how the committed outputs are made.

    CNNLIB_MODE=full python tools/execute_notebook.py chapters/03_lenet5.ipynb

Progress bars are turned off (CNNLIB_PROGRESS=0) so the committed outputs stay readable. The
notebook's metadata records a digest of the code it ran (``code_digest``), so a test can tell
when a cell was edited after the outputs were made.
"""

import hashlib
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def code_digest(nb) -> str:
    """SHA-256 of every code cell's source, in order, leaving out the Colab install cell (the
    release tool rewrites its version without changing what the notebook computes)."""
    sources = [cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
               for cell in nb["cells"] if cell["cell_type"] == "code"]
    sources = [s for s in sources if not s.startswith("# @title Install the book's library")]
    return hashlib.sha256("\n\0".join(sources).encode()).hexdigest()


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("CNNLIB_PROGRESS", "0")
    start = time.perf_counter()
    NotebookClient(nb, timeout=None, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata["cnnlib"] = {"code_sha256": code_digest(nb)}
    nbformat.write(nb, path)
    return time.perf_counter() - start


if __name__ == "__main__":
    for name in sys.argv[1:]:
        seconds = execute(Path(name))
        print(f"{name}: executed in {seconds:.1f} s (mode {os.environ.get('CNNLIB_MODE', 'default')})")
