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


def amd(family: int, flags: str) -> str:
    return (f"vendor_id\t: AuthenticAMD\ncpu family\t: {family}\nmodel\t\t: 2\n"
            f"model name\t: AMD EPYC\ncpu MHz\t\t: 2600.000\nflags\t\t: avx2 fma {flags}\n")


@pytest.mark.parametrize("family, flags, per_cycle", [
    (26, "avx512f", 64),  # Zen 5: full-width AVX-512 units
    (25, "avx512f", 32),  # Zen 4: AVX-512 as two 256-bit halves, no more FLOPs than AVX2
    (25, "", 32),         # Zen 3: AVX2 only
])
def test_the_peak_estimate_tells_amd_generations_apart_behind_one_model_name(family, flags,
                                                                              per_cycle):
    cpuinfo = amd(family, flags)
    assert results.cpu_peak(cpuinfo, cores=2)["flops"] == pytest.approx(2 * 2.6e9 * per_cycle)
    assert results.cpu_family(cpuinfo) == f"AuthenticAMD {family}/2"
    assert results.cpu_family("") == "unknown"


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


def _run(device: str, rates: dict[str, float], peak_how: str = "", threads: int = 2) -> dict:
    """A bench result with the fields the device tables read: ``rates`` are book images/s;
    the baseline runs at half of them."""
    models = {name: {"flops_per_train_image": 1e9,
                     "train": {"book_images_per_s": rate, "baseline_images_per_s": rate / 2,
                               "speedup": 2.0},
                     "eval": {"book_images_per_s": 4 * rate, "baseline_images_per_s": rate,
                              "speedup": 4.0}}
              for name, rate in rates.items()}
    return {"kind": "bench", "device": device, "date": "2026-01-01 10:00:00", "mode": "full",
            "machine": {"torch_threads": threads}, "models": models,
            "peak": {"flops": 2e11, "how": peak_how},
            "data_path": {"tensor_loader": {"images_per_s": 1e5},
                          "dataloader_pil_workers0": {"images_per_s": 1e3},
                          "dataloader_pil_workers2": {"images_per_s": 2e3}}}


def test_compare_devices_puts_both_paths_of_both_devices_in_one_row_per_measurement():
    cpu, gpu = _run("cpu", {"a": 100, "b": 10}), _run("cuda", {"a": 1000, "b": 5000, "c": 1})
    rows = reports.compare_devices(cpu, gpu)
    assert [r["images/s"] for r in rows] == ["train a", "train b", "evaluate a", "evaluate b",
                                             "data path only"]
    assert rows[0] == {"images/s": "train a", "CPU book": "100", "CPU baseline": "50",
                       "GPU book": "1.0k", "GPU baseline": "500", "GPU ÷ CPU": "10.0x"}
    assert rows[1]["GPU ÷ CPU"] == "500.0x" and rows[3]["GPU book"] == "20.0k"
    # the data path compares with the DataLoader at its most workers
    assert rows[-1]["CPU baseline"] == "2.0k" and rows[-1]["GPU ÷ CPU"] == "1.0x"


def test_achieved_rows_show_each_cpu_run_next_to_its_own_hosts_peak():
    fast = _run("cpu", {"alexnet_cifar": 200},
                "estimate: 2 cores x 2.60 GHz x 64 FLOP/cycle (AVX-512)")
    slow = _run("cpu", {"alexnet_cifar": 50},
                "estimate: 2 cores x 2.45 GHz x 32 FLOP/cycle (AVX2+FMA)", threads=1)
    gpu, other = _run("cuda", {"alexnet_cifar": 9e3}), _run("cpu", {"lenet5": 1.0})
    rows = reports.achieved_rows([fast, slow, gpu, other])
    assert len(rows) == 2  # CPU runs that trained the model, nothing else
    assert rows[0]["clock, vector unit"] == "2.60 GHz, AVX-512" and rows[0]["achieved"] == "200"
    assert rows[1]["threads"] == 1 and rows[1]["clock, vector unit"] == "2.45 GHz, AVX2+FMA"
    assert reports.achieved_rows([_run("cpu", {"alexnet_cifar": 1.0}, "unknown")])[0][
        "clock, vector unit"] == "-"


def test_plot_throughput_draws_two_bars_per_run_and_model_on_a_log_axis():
    import matplotlib.pyplot as plt

    from cnnlib import plots
    cpu, gpu = _run("cpu", {"a": 100, "b": 10}), _run("cuda", {"a": 1000, "b": 5000})
    fig = plots.plot_throughput({"CPU": cpu, "GPU": gpu})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.patches) == 2 * 2 * 2
    assert sorted(p.get_width() for p in ax.patches)[-1] == 5000
    plt.close(fig)
    with pytest.raises(ValueError, match="share no measured model"):
        plots.plot_throughput({"CPU": cpu, "GPU": _run("cuda", {"c": 1.0})})


def test_a_speed_ratio_below_one_reads_slower_not_faster():
    from cnnlib.reports import faster_or_slower
    assert faster_or_slower(5.83) == "5.8x faster"
    assert faster_or_slower(0.7) == "1.4x slower"  # not "0.7x faster"
    assert faster_or_slower(1.0) == "1.00x faster"
    assert faster_or_slower(None) == "-"


def test_a_speed_ratio_must_be_positive_and_finite_and_near_one_keeps_two_decimals():
    from cnnlib.reports import faster_or_slower
    for bad in (0, -2.0, float("nan"), float("inf"), True, "2"):
        with pytest.raises(ValueError, match="positive, finite"):
            faster_or_slower(bad)
    assert faster_or_slower(0.96) == "1.04x slower"
    assert faster_or_slower(1.04) == "1.04x faster"
