"""tools/timings.py: the timing table of *How to use* is written from the notebooks' own execution
records and the runs made ahead, and a test fails when it is out of date."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("timings", ROOT / "tools" / "timings.py")
timings = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timings)


def test_the_timing_table_of_how_to_use_is_up_to_date(capsys):
    """Fails when a chapter was executed again, or a run made ahead was added, without
    `python tools/timings.py`."""
    assert timings.main(["--check"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("seconds, text", [(20.4, "20 s"), (250, "4 min 10 s"), (600, "10 min"),
                                           (6780, "1 h 53 min")])
def test_durations_are_as_precise_as_a_table_needs(seconds, text):
    assert timings.duration(seconds) == text


def _notebook(tmp_path: Path, outputs: str, execution: dict | None) -> Path:
    cell = {"cell_type": "code", "source": "import cnnlib", "execution_count": 1,
            "metadata": {"execution": execution} if execution else {},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": outputs}]}
    nb = {"cells": [{"cell_type": "markdown", "source": "# A chapter", "metadata": {}}, cell],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "01_a.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_a_record_reads_title_device_mode_and_time(tmp_path):
    path = _notebook(tmp_path, "cnnlib 0.1.0 | device cpu (1 thread) | mode full | seed 0\n",
                     {"iopub.status.busy": "2026-12-05T10:00:00Z",
                      "iopub.status.idle": "2026-12-05T10:02:05Z"})
    assert timings.record(path) == {"title": "A chapter", "device": "CPU, 1 thread",
                                    "mode": "full", "seconds": 125.0, "date": "2026-12-05"}


def test_a_notebook_without_an_execution_record_or_banner_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no execution record"):
        timings.record(_notebook(tmp_path, "cnnlib ...", None))
    path = _notebook(tmp_path, "no banner here\n", {"iopub.status.busy": "2026-12-05T10:00:00Z",
                                                    "iopub.status.idle": "2026-12-05T10:00:01Z"})
    with pytest.raises(ValueError, match="shows no banner"):
        timings.record(path)


def test_the_table_adds_the_runs_made_ahead_to_their_chapter(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "benchmarks").mkdir()
    src = _notebook(tmp_path, "cnnlib | device cpu (2 threads) | mode full | seed 0\n",
                    {"iopub.status.busy": "2026-12-05T10:00:00Z",
                     "iopub.status.idle": "2026-12-05T10:00:30Z"})
    src.rename(tmp_path / "chapters" / "01_a.ipynb")
    (tmp_path / "benchmarks" / "made_ahead.json").write_text(json.dumps(
        {"runs": [{"chapter": "01_a.ipynb", "what": "one run", "wall_seconds": 3600}]}))
    table = timings.table(tmp_path)
    assert "| 1. A chapter | CPU, 2 threads | full | 30 s (2026-12-05) | 1 h 0 min (one run) |" \
        in table
