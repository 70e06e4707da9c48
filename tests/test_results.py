"""cnnlib.results and cnnlib.reports: the machine's peak (data sheet or estimate), where result
files go and come from, and the tables printed from them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnlib import reports, results


def test_load_results_without_files_says_how_to_make_them(tmp_path):
    assert results.load_results([]) == []
    assert "python -m cnnlib.bench" in reports.format_results([])


CPUINFO = """model name\t: Example CPU
cpu MHz\t\t: 2500.000
flags\t\t: fpu sse2 avx avx2 fma {extra}
cpu MHz\t\t: 3000.000
"""


@pytest.mark.parametrize("extra, per_cycle", [("avx512f", 64), ("", 32)])
def test_cpu_peak_is_an_estimate_from_cores_clock_and_vector_width(extra, per_cycle):
    peak = results.cpu_peak(CPUINFO.format(extra=extra), cores=4)
    assert peak["estimate"] is True and peak["precision"] == "fp32"
    assert peak["flops"] == pytest.approx(4 * 3.0e9 * per_cycle)
    assert "estimate" in peak["how"] and f"{per_cycle} FLOP/cycle" in peak["how"]
    assert results.cpu_peak("flags : avx2", cores=2)["flops"] is None  # no clock: no number


@pytest.mark.parametrize("name, flops", [("NVIDIA H100 80GB HBM3", 989e12),
                                         ("NVIDIA H100 PCIe", 756e12),
                                         ("NVIDIA H200", 989e12), ("NVIDIA A100-SXM4-40GB", 312e12),
                                         ("Tesla T4", 65e12), ("Some Future GPU", None)])
def test_gpu_peak_comes_from_the_data_sheet_table(monkeypatch, name, flops):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: name)
    peak = results.device_peak(torch.device("cuda"))
    assert peak["flops"] == flops and peak["estimate"] is False
    assert results.device_slug(torch.device("cuda")).startswith("cuda-")


def test_new_results_go_under_the_current_folder_and_recorded_ones_come_with_the_package():
    assert not results.OUTPUT_DIR.is_absolute() and results.OUTPUT_DIR.parts == ("benchmarks",)
    out = results.default_out(torch.device("cpu"), "quick", kind="recipe-x")
    assert out.parent == Path("benchmarks") and out.name.startswith("recipe-x-cpu-")
    recorded = results.recorded_results_dir()
    assert "cnnlib" in str(recorded) and any(p.name.endswith(".json") for p in recorded.iterdir())
    assert results.load_results(kind="bench") and results.load_results(kind="recipe")
    bench_out = results.default_out(torch.device("cpu"), "full")
    assert bench_out.name.startswith("cpu-") and bench_out.name.endswith("-full.json")


def test_a_written_result_reads_back_with_its_file_name(tmp_path):
    out = results.write_result({"kind": "recipe", "date": "2026-01-02"}, tmp_path / "a" / "r.json")
    results.write_result({"kind": "bench", "date": "2026-01-01"}, tmp_path / "b.json")
    both = results.load_results([out, str(tmp_path / "b.json")])
    assert [r["file"] for r in both] == ["b.json", "r.json"]  # oldest first
    assert results.load_results([out, tmp_path / "b.json"], kind="recipe")[0]["file"] == "r.json"


def test_rates_flops_and_ratios_are_written_short():
    assert [results.format_rate(x) for x in (None, 950, 45_678, 1_234_567)] == [
        "-", "950", "45.7k", "1.2M"]
    assert results.format_flops(989e12) == "989.0 TFLOP/s" and results.format_flops(None) == (
        "unknown")
    assert results.format_ratio(5.83) == "5.8x" and results.format_ratio(None) == "-"
    assert "No recipe results" in reports.format_results([], kind="recipe")
