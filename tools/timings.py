"""The table of how long each chapter took, written from the notebooks' own execution records.

    python tools/timings.py           # rewrite the table in book/how_to_use.md
    python tools/timings.py --check   # exit 1 if the table there is out of date

For every chapter: the device and mode from its banner (the first output that starts with
``cnnlib ``), and the time from the start of its first code cell to the end of its last, from
the ``execution`` metadata that nbclient records. Training runs made ahead of a notebook in
background processes (CONTRIBUTING.md) are not in that record; ``benchmarks/made_ahead.json``
lists them with their hardware, date and wall time, and the table adds them per chapter.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "book" / "how_to_use.md"
MADE_AHEAD = ROOT / "benchmarks" / "made_ahead.json"
START, END = "<!-- timings: start -->", "<!-- timings: end -->"
BANNER = re.compile(r"device (?P<device>.+?) \| mode (?P<mode>\w+)")


def duration(seconds: float) -> str:
    """``1 h 53 min``, ``4 min 10 s``, ``20 s``: precise enough for a table."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if minutes < 10 and secs else f"{minutes} min"
    return f"{secs} s"


def record(path: Path) -> dict:
    """Title, device, mode and wall time of one executed notebook."""
    nb = json.loads(path.read_text())
    title = "".join(nb["cells"][0]["source"]).splitlines()[0].lstrip("# ").strip()
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    times = [c.get("metadata", {}).get("execution", {}) for c in code]
    if not times or "iopub.status.busy" not in times[0] or "iopub.status.idle" not in times[-1]:
        raise ValueError(f"{path.name} has no execution record: execute it with "
                         "tools/execute_notebook.py")
    start = datetime.fromisoformat(times[0]["iopub.status.busy"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(times[-1]["iopub.status.idle"].replace("Z", "+00:00"))
    banner = next((m for c in code for o in c.get("outputs", [])
                   for m in [BANNER.search("".join(o.get("text", "")))] if m), None)
    if banner is None:
        raise ValueError(f"{path.name} shows no banner (cnnlib.setup's first line)")
    device = banner["device"].replace("cpu (", "CPU, ").rstrip(")")
    return {"title": title, "device": device, "mode": banner["mode"],
            "seconds": (end - start).total_seconds(), "date": start.date().isoformat()}


def table(root: Path = ROOT) -> str:
    ahead = json.loads((root / "benchmarks" / "made_ahead.json").read_text())
    lines = ["| Chapter | Device (from the banner) | Mode | Whole notebook | Made ahead |",
             "|---|---|---|---|---|"]
    for number, path in enumerate(sorted((root / "chapters").glob("*.ipynb")), 1):
        r = record(path)
        runs = [run for run in ahead["runs"] if run["chapter"] == path.name]
        extra = "; ".join(f"{duration(run['wall_seconds'])} ({run['what']})" for run in runs)
        lines.append(f"| {number}. {r['title']} | {r['device']} | {r['mode']} | "
                     f"{duration(r['seconds'])} ({r['date']}) | {extra or '-'} |")
    return "\n".join(lines)


def updated(page_text: str, new_table: str) -> str:
    if START not in page_text or END not in page_text:
        raise ValueError(f"{PAGE} has no {START} ... {END} markers for the table")
    head, rest = page_text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{new_table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    args = parser.parse_args(argv)
    text = PAGE.read_text()
    new = updated(text, table())
    if args.check:
        if new != text:
            print(f"{PAGE.relative_to(ROOT)}: the timing table is out of date; run "
                  "python tools/timings.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new)
    print(f"wrote the timing table of {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
