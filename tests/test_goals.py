"""benchmarks/goals.py: the book's speed goals are judged only by runs that can judge them, and
the Goals section of benchmarks/README.md says what the recorded results say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("goals", ROOT / "benchmarks" / "goals.py")
goals = importlib.util.module_from_spec(spec)
spec.loader.exec_module(goals)


def test_the_goals_section_of_the_benchmarks_readme_is_up_to_date(capsys):
    """Fails when the recorded results changed without `python benchmarks/goals.py`."""
    assert goals.main(["--check"]) == 0, capsys.readouterr().err


def test_the_goals_section_is_replaced_in_place_or_appended():
    rows = [{"goal": "a | b", "status": "met", "measured": "1x", "source": "f.json"},
            {"goal": "c", "status": "not yet measured", "measured": "-"}]
    section = goals.goals_section(rows)
    assert "| a \\| b | met | 1x | `f.json` |" in section
    assert "| c | not yet measured | - | - |" in section
    readme = goals.with_goals("# Results\n\nSome text.\n", section)
    assert readme == "# Results\n\nSome text.\n\n" + section
    again = goals.with_goals(readme + "\n## Later\n", goals.goals_section(rows[1:]))
    assert "a \\| b" not in again and again.endswith(goals.END + "\n\n## Later\n")
    assert again.count("## Goals") == 1


def _bench_result(date, overheads):
    models = {name: {"overhead": {"overhead_pct": pct}} for name, pct in overheads.items()}
    return {"kind": "bench", "date": date, "file": f"{date}.json", "device": "cpu",
            "machine": {"cores": 2}, "models": models}


def test_overhead_goal_is_judged_only_by_a_run_of_every_default_model():
    everything = _bench_result("2026-01-01", dict.fromkeys(goals.DEFAULT_MODELS, 7.0))
    lenet_only = _bench_result("2026-02-01", {"lenet5": 1.0})
    row = goals.target_rows([everything, lenet_only])[1]
    assert row["status"] == "not met" and row["source"] == "2026-01-01.json"
    assert goals.target_rows([lenet_only])[1]["status"] == "not yet measured"
    good = _bench_result("2026-03-01", dict.fromkeys(goals.DEFAULT_MODELS, 4.9))
    assert goals.target_rows([everything, good])[1]["status"] == "met"
    text = goals.format_targets(goals.target_rows([everything, good]))
    assert "<= 5%, cpu\n  status:   met\n  measured: lenet5 4.9%" in text
    assert "status:   not yet measured" in text and "from:     2026-03-01.json" in text
    assert max(map(len, text.splitlines())) < 100  # readable in a terminal


def test_the_h100_goal_accepts_an_h200_run_and_names_it(recipe_result):
    slow = recipe_result(seconds_to_target=39.8)
    row = goals.target_rows([slow])[-1]
    assert row["status"] == "not met" and "39.8 s on an NVIDIA H200" in row["measured"]
    assert "the H100's chip" in row["measured"]
    fast = recipe_result(seconds_to_target=29.0, device_name="NVIDIA H100 80GB HBM3")
    row = goals.target_rows([slow, fast])[-1]
    assert row["status"] == "met" and "H100's chip" not in row["measured"]
    a100 = recipe_result(device_name="NVIDIA A100-SXM4-80GB", seconds_to_target=5.0)
    assert goals.target_rows([a100])[-1]["status"].startswith("not yet measured")


def test_overhead_goal_is_judged_for_each_device():
    cpu = _bench_result("2026-01-01", dict.fromkeys(goals.DEFAULT_MODELS, 1.0))
    cpu["device_name"] = "AMD EPYC, 2 cores"
    gpu = _bench_result("2026-02-01", dict.fromkeys(goals.DEFAULT_MODELS, 7.8))
    gpu.update(device="cuda", device_name="NVIDIA H200")
    rows = [r for r in goals.target_rows([cpu, gpu]) if "overhead" in r["goal"]]
    assert [(r["goal"].split(", ", 1)[1], r["status"]) for r in rows] == [
        ("AMD EPYC, 2 cores", "met"), ("NVIDIA H200", "not met")]


def test_a_run_that_stopped_before_the_last_model_does_not_judge_the_overhead_goal():
    partial = _bench_result("2026-04-01", {"lenet5": 0.0, "alexnet_cifar": 0.0})
    partial["complete"] = False
    assert goals.target_rows([partial])[1]["status"] == "not yet measured"


def test_every_recorded_run_is_listed_in_its_own_generated_section():
    from cnnlib.results import load_results
    results = load_results()
    section = goals.runs_section(results)
    assert section.startswith("## Every recorded run\n") and goals.RUNS_END in section
    assert section.count("cnnlib.bench, ") == sum(r["kind"] == "bench" for r in results)
    readme = goals.with_section("# R\n", section, goals.RUNS_BEGIN, goals.RUNS_END)
    again = goals.with_section(readme + "\n## Later\n", goals.runs_section([]),
                               goals.RUNS_BEGIN, goals.RUNS_END)
    assert "cnnlib.bench, " not in again and again.endswith("\n## Later\n")
