"""Execute notebooks in place, top to bottom, in one kernel: how the committed outputs are made.

    CNNLIB_MODE=full python tools/execute_notebook.py chapters/03_lenet5.ipynb

Progress bars are turned off (CNNLIB_PROGRESS=0) so the committed outputs stay readable.
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("CNNLIB_PROGRESS", "0")
    start = time.perf_counter()
    NotebookClient(nb, timeout=None, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    return time.perf_counter() - start


if __name__ == "__main__":
    for name in sys.argv[1:]:
        seconds = execute(Path(name))
        print(f"{name}: executed in {seconds:.1f} s (mode {os.environ.get('CNNLIB_MODE', 'default')})")
