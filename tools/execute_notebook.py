"""Execute notebooks in place, top to bottom, in one kernel: the committed outputs.

    CNNLIB_MODE=full python tools/execute_notebook.py chapters/03_lenet5.ipynb

The run's mode is ``CNNLIB_MODE``, else cnnlib's default for this machine (full with a
CUDA GPU, quick otherwise), and the kernel runs in that mode. A notebook whose saved
outputs come from a full-mode run (the banner ``cnnlib.setup()`` printed says ``mode
full``) is not executed in quick mode: that would replace the real run's outputs with a
smoke test's. ``--allow-quick`` does it anyway. Nothing runs if any notebook is refused.

``--cells ID,ID`` runs only the set-up cell (the one that calls ``cnnlib.setup()``) and the
named cells, in one kernel, and puts only their outputs in place; every other output is
kept. It is for cells whose outputs do not depend on the mode or on the cells left out
(they read the shipped experiment records, or compute at initialisation) in a chapter whose
long runs cannot be repeated; the code cells are then numbered 1..N again.

Progress bars are turned off (CNNLIB_PROGRESS=0) so the committed outputs stay readable.
The notebook's metadata records a digest of the code it ran (``code_digest``), so a test
can tell when a cell was edited after the outputs were made. The kernel talks to this
process over local sockets (IPC, in a temporary folder) where the system has them, not
over unencrypted TCP.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

BANNER_MODE = re.compile(r"\| mode (quick|full) \| seed ")


def code_digest(nb) -> str:
    """SHA-256 of every code cell's source, in order, leaving out the Colab install cell
    (the release tool rewrites its version without changing what the notebook
    computes)."""
    sources = [cell["source"] if isinstance(cell["source"], str)
               else "".join(cell["source"])
               for cell in nb["cells"] if cell["cell_type"] == "code"]
    install = "# @title Install the book's library"
    sources = [s for s in sources if not s.startswith(install)]
    return hashlib.sha256("\n\0".join(sources).encode()).hexdigest()


def saved_mode(nb) -> str | None:
    """The mode the saved outputs were made in, read from the banner ``cnnlib.setup()``
    printed; ``None`` when no output holds a banner."""
    for cell in nb["cells"]:
        for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            text = text if isinstance(text, str) else "".join(text)
            found = BANNER_MODE.search(text)
            if found:
                return found.group(1)
    return None


def run_mode() -> tuple[str, str]:
    """The mode this run uses, and where it comes from (``CNNLIB_MODE``, or default)."""
    from cnnlib.settings import pick_mode

    source = ("CNNLIB_MODE" if os.environ.get("CNNLIB_MODE")
              else "default on this machine")
    return pick_mode(), source


def refusals(paths: list[Path], mode: str, source: str) -> list[str]:
    """Why each notebook must not be executed in ``mode`` (empty: all may)."""
    if mode != "quick":
        return []
    return [f"{path}: its saved outputs come from a full-mode run (its banner says "
            f"'mode full'); this run is in quick mode ({source}) and would replace "
            "them. Set CNNLIB_MODE=full to run it again in full mode, or pass "
            "--allow-quick to replace them with quick-mode outputs."
            for path in paths
            if saved_mode(nbformat.read(path, as_version=4)) == "full"]


def run_kernel(nb, mode: str, folder: Path) -> None:
    """Execute ``nb`` in place in a fresh kernel in ``mode``, in ``folder``, over local
    sockets where the system has them."""
    os.environ.setdefault("CNNLIB_PROGRESS", "0")
    os.environ["CNNLIB_MODE"] = mode  # the kernel inherits it: the mode checked is run
    with tempfile.TemporaryDirectory(prefix="cnnlib-kernel-") as sockets:
        ipc = {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}
        local = {} if os.name == "nt" else ipc
        manager = KernelManager(kernel_name="python3", **local)
        NotebookClient(nb, km=manager, timeout=None, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()


def execute(path: Path, mode: str) -> float:
    """Run the notebook in ``mode`` in one kernel, save it with its outputs; seconds."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    run_kernel(nb, mode, path.parent)
    nb.metadata["cnnlib"] = {"code_sha256": code_digest(nb)}
    nbformat.write(nb, path)
    return time.perf_counter() - start


def setup_cell(nb):
    """The code cell that calls ``cnnlib.setup()`` (not in a comment): every cell run alone
    needs it."""
    def calls_setup(source: str) -> bool:
        return any("cnnlib.setup(" in line.split("#", 1)[0] for line in source.splitlines())
    found = [c for c in nb.cells if c.cell_type == "code" and calls_setup(c.source)]
    if len(found) != 1:
        raise ValueError(f"--cells needs exactly one code cell that calls cnnlib.setup(), "
                         f"found {len(found)}")
    return found[0]


def execute_cells(path: Path, mode: str, ids: list[str]) -> float:
    """Run the set-up cell and the cells ``ids`` of ``path`` in one kernel, in that order,
    and save the notebook with their new outputs and every other output as it was."""
    nb = nbformat.read(path, as_version=4)
    by_id = {c.get("id"): c for c in nb.cells}
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"--cells names {repeated} more than once: each cell runs once")
    unknown = [i for i in ids if i not in by_id]
    not_code = [i for i in ids if i in by_id and by_id[i].cell_type != "code"]
    if unknown or not_code or not ids:
        raise ValueError(f"--cells names code cells of {path} by id: unknown {unknown}, "
                         f"not code {not_code}" if ids else "--cells names no cell")
    setup = setup_cell(nb)
    chosen = [by_id[i] for i in ids if by_id[i] is not setup]
    scratch = nbformat.v4.new_notebook(metadata=nb.metadata)
    # the cells keep their metadata: tags such as raises-exception act as in a whole run
    scratch.cells = [nbformat.v4.new_code_cell(c.source, metadata=c.metadata)
                     for c in [setup, *chosen]]
    start = time.perf_counter()
    run_kernel(scratch, mode, path.parent)
    refreshed = [setup, *chosen] if setup.get("id") in ids else chosen
    done_cells = scratch.cells if setup.get("id") in ids else scratch.cells[1:]
    for cell, done in zip(refreshed, done_cells):
        cell.outputs = done.outputs
    number = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.source.strip():
            cell.execution_count = None  # an empty cell is not run
        elif cell.cell_type == "code":
            number += 1
            cell.execution_count = number
            for output in cell.outputs:
                if "execution_count" in output:
                    output.execution_count = number
    nb.metadata["cnnlib"] = {"code_sha256": code_digest(nb)}
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--allow-quick", action="store_true",
                        help="replace full-mode outputs with a quick-mode run")
    parser.add_argument("--cells",
                        type=lambda s: [i.strip() for i in s.split(",") if i.strip()],
                        help="run only the set-up cell and these cells (ids, comma-"
                             "separated) and keep every other output")
    args = parser.parse_args(argv)
    mode, source = run_mode()
    if args.cells is not None:
        if len(args.notebooks) != 1:
            parser.error("--cells takes one notebook")
        path = args.notebooks[0]
        refused = [] if args.allow_quick else refusals([path], mode, source)
        if refused:  # a quick output under a full run's banner would misstate its mode
            print("\n".join(["execute_notebook: nothing executed.", *refused]),
                  file=sys.stderr)
            return 2
        try:
            seconds = execute_cells(path, mode, args.cells)
        except ValueError as error:
            parser.error(str(error))
        except CellExecutionError as error:  # the file is written only after every cell ran
            print(f"execute_notebook: a cell raised, {path} is unchanged:\n"
                  f"{str(error).strip().splitlines()[-1]}", file=sys.stderr)
            return 1
        print(f"{path}: cells {', '.join(args.cells)} executed in {seconds:.1f} s "
              f"(mode {mode}, {source}); every other output kept")
        return 0
    refused = [] if args.allow_quick else refusals(args.notebooks, mode, source)
    if refused:
        print("\n".join(["execute_notebook: nothing executed.", *refused]),
              file=sys.stderr)
        return 2
    for path in args.notebooks:
        seconds = execute(path, mode)
        print(f"{path}: executed in {seconds:.1f} s (mode {mode}, {source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
