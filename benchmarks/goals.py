"""The book's speed goals, judged from the recorded results: where each one stands.

    python benchmarks/goals.py            # print the goals; refresh README.md's Goals section
                                          # and its list of every recorded run
    python benchmarks/goals.py --check    # exit 1 if either section is out of date

Each goal is judged from the latest recorded run (``cnnlib/recorded/``) that can judge it; a goal
without such a run says "not yet measured", never "met". This is the project's bookkeeping, not
part of cnnlib: the library measures (``python -m cnnlib.bench``, ``python -m cnnlib.recipes``),
this script keeps the score.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the checkout's cnnlib, when run as a script
from cnnlib.bench import DEFAULT_MODELS  # noqa: E402
from cnnlib.recipes import format_recipe_table  # noqa: E402
from cnnlib.reports import format_results  # noqa: E402
from cnnlib.results import load_results  # noqa: E402

README = HERE / "README.md"
BEGIN = "<!-- goals: written by `python benchmarks/goals.py`; do not edit by hand -->"
END = "<!-- end of goals -->"
RUNS_BEGIN = "<!-- runs: written by `python benchmarks/goals.py`; do not edit by hand -->"
RUNS_END = "<!-- end of runs -->"
RULES = """\
Each goal is judged from the latest recorded run in `cnnlib/recorded/` that can judge it; a goal
without such a run says "not yet measured", never "met". Trainer overhead is judged once per
device, and only by a run that measured every default model. The H100 goal is judged from runs
on an H100 or an H200 (the same chip, with faster and larger memory)."""

# The H200 is the H100's chip (GH100: same tensor cores, same peak) with faster, larger memory,
# so a run on either can judge the H100 goal; the result names the device it ran on.
HOPPER = ("H100", "H200")

TARGETS = {"loader_speedup": 20.0, "overhead_pct": 5.0, "h100_seconds": 30.0,
           "h100_accuracy": 0.94}


def target_rows(results: list[dict] | None = None) -> list[dict]:
    """The book's speed goals, each judged from the latest recorded run that can judge it, or
    "not yet measured" when there is none."""
    results = load_results() if results is None else results
    benches = [r for r in results if r.get("kind") == "bench"]
    rows = []

    two_core = [r for r in benches if r["device"] == "cpu" and r["machine"]["cores"] == 2
                and r.get("data_path") and r["data_path"]["images"] >= 10_000]
    goal = f"tensor loader >= {TARGETS['loader_speedup']:g}x DataLoader + PIL, 2-core CPU"
    if two_core:
        r = two_core[-1]
        d = r["data_path"]
        ratios = {k.rsplit("workers", 1)[1]: v for k, v in d.items()
                  if k.startswith("speedup_vs_workers")}
        worst = min(ratios.values())
        rows.append({"goal": goal, "measured": ", ".join(
            f"{v:.1f}x vs {w} workers" for w, v in ratios.items()), "source": r["file"],
            "status": "met" if worst >= TARGETS["loader_speedup"] else "not met"})
    else:
        rows.append({"goal": goal, "measured": "-", "status": "not yet measured"})

    # Judged per device (the CPU's loop and a GPU's differ: on a GPU each extra operation is a
    # kernel launch), and only by a run that measured every default model: a run of LeNet-5
    # alone would call it met without ever timing the heavier models.
    with_models = [r for r in benches if set(DEFAULT_MODELS) <= set(r.get("models") or ())]
    devices = list(dict.fromkeys(r.get("device_name", r["device"]) for r in with_models))
    for device in devices:
        r = [r for r in with_models if r.get("device_name", r["device"]) == device][-1]
        pcts = {name: m["overhead"]["overhead_pct"] for name, m in r["models"].items()}
        rows.append({"goal": f"fit's overhead over a bare loop <= {TARGETS['overhead_pct']:g}%, "
                             f"{device}",
                     "measured": ", ".join(f"{name} {p:.1f}%" for name, p in pcts.items()),
                     "source": r["file"],
                     "status": "met" if max(pcts.values()) <= TARGETS["overhead_pct"]
                     else "not met"})
    if not devices:
        rows.append({"goal": f"fit's overhead over a bare loop <= {TARGETS['overhead_pct']:g}%",
                     "measured": "-", "status": "not yet measured"})

    goal = (f"ResNet-18 >= {100 * TARGETS['h100_accuracy']:g}% on CIFAR-10 in "
            f"<= {TARGETS['h100_seconds']:g} s, one H100")
    runs = [r for r in results if r.get("kind") == "recipe" and r["mode"] == "full"
            and any(chip in r["device_name"] for chip in HOPPER)
            and r["settings"]["model"] == "resnet18_cifar"
            and r["target"] >= TARGETS["h100_accuracy"]]
    if runs:
        r = runs[-1]
        met = r["reached"] and r["seconds_to_target"] <= TARGETS["h100_seconds"]
        on = f" on an {r['device_name']}" + ("" if "H100" in r["device_name"] else
                                               " (the H100's chip, faster memory)")
        measured = (f"{100 * r['target']:g}% in {r['seconds_to_target']:.1f} s{on}"
                    if r["reached"] else f"not reached: {100 * r['final_test_acc']:.2f}% after "
                                         f"{r['wall_seconds']:.1f} s{on}")
        rows.append({"goal": goal, "measured": measured, "source": r["file"],
                     "status": "met" if met else "not met"})
    else:
        rows.append({"goal": goal, "measured": "-",
                     "status": "not yet measured (no recorded run on an H100 or H200)"})
    return rows


def format_targets(rows: list[dict] | None = None) -> str:
    """The goals of :func:`target_rows`, one short block each (a table of them is too wide to
    read in a terminal)."""
    rows = target_rows() if rows is None else rows
    return "\n\n".join(f"{row['goal']}\n  status:   {row['status']}\n  measured: {row['measured']}"
                       + (f"\n  from:     {row['source']}" if row.get("source") else "")
                       for row in rows)


def goals_section(rows: list[dict]) -> str:
    """The README's "Goals" section: how the goals are judged, then one table row per goal."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["## Goals", "", BEGIN, "", RULES, "",
             "| goal | status | measured | from |", "| --- | --- | --- | --- |"]
    for row in rows:
        source = f"`{row['source']}`" if row.get("source") else "-"
        lines.append(f"| {cell(row['goal'])} | {cell(row['status'])} | "
                     f"{cell(row['measured'])} | {source} |")
    return "\n".join(lines + ["", END]) + "\n"


def runs_section(results: list[dict]) -> str:
    """The README's "Every recorded run" section: each bench run's tables as the command
    printed them, then one line per recipe run (how it differed from today's defaults)."""
    benches = [r for r in results if r.get("kind") == "bench"]
    recipes = [r for r in results if r.get("kind") == "recipe"]
    lines = ["## Every recorded run", "", RUNS_BEGIN, "",
             "### `python -m cnnlib.bench`", "", "```text", format_results(benches), "```", "",
             "### `python -m cnnlib.recipes`", "", "```text",
             format_recipe_table(recipes) if recipes else "(none recorded)", "```", "", RUNS_END]
    return "\n".join(lines) + "\n"


def with_section(readme: str, section: str, begin: str = BEGIN, end: str = END) -> str:
    """``readme`` with the section holding the ``begin`` marker replaced by ``section`` (its
    title is the first line), or ``section`` appended if there is none."""
    title = section.splitlines()[0]
    if begin in readme:
        start = readme.rindex(title, 0, readme.index(begin))
        stop = readme.index(end, start) + len(end) + 1
        return readme[:start] + section + readme[stop:]
    return readme.rstrip("\n") + "\n\n" + section


def with_goals(readme: str, section: str) -> str:
    """``readme`` with its Goals section replaced by ``section`` (appended if it has none)."""
    return with_section(readme, section)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/goals.py",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help=f"only check that {README.name}'s generated sections are up to date")
    args = parser.parse_args(argv)
    results = load_results()
    rows = target_rows(results)
    readme = README.read_text()
    updated = with_goals(readme, goals_section(rows))
    updated = with_section(updated, runs_section(results), RUNS_BEGIN, RUNS_END)
    if args.check:
        if updated != readme:
            print(f"{README} is out of date: run python benchmarks/goals.py", file=sys.stderr)
            return 1
        return 0
    print(format_targets(rows))
    if updated != readme:
        README.write_text(updated)
        print(f"\nupdated the generated sections of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
