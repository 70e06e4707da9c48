"""What a measurement needs around it: the machine it ran on, that machine's peak, and a file.

``cnnlib.bench`` and ``cnnlib.recipes`` both measure; this module holds what they share, so that
neither needs the other: the machine and software a number came from (``machine_info``), the
device's peak FLOP/s (a data-sheet value for known GPUs, an estimate for a CPU), where result
files go and how they are read back (``write_result``, ``load_results``), and how rates and
FLOP/s are written in the tables.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import platform
import re
import tempfile
import time
from pathlib import Path

import torch

from .settings import versions

# New results go to ./benchmarks under the folder the command runs in (--out to choose). The
# results the book shows travel inside the package, in cnnlib/recorded/, so that an installed
# cnnlib (Colab, a wheel) prints the same tables as the repository.
OUTPUT_DIR = Path("benchmarks")


# ---------------------------------------------------------------------------------------------
# The machine and its limit

# Dense (no sparsity) 16-bit tensor-core peaks from the vendors' data sheets, in FLOP/s. The
# first name that occurs in torch.cuda.get_device_name() wins, so specific names come first.
GPU_PEAKS = (
    ("H100 PCIe", 756e12, "bf16"), ("H100 NVL", 835e12, "bf16"), ("H100", 989e12, "bf16"),
    ("H200", 989e12, "bf16"), ("GH200", 989e12, "bf16"), ("A100", 312e12, "bf16"),
    ("L40S", 362e12, "bf16"), ("L4", 121e12, "bf16"), ("A10G", 70e12, "bf16"),
    ("A10", 125e12, "bf16"), ("RTX 4090", 165e12, "bf16"), ("RTX 3090", 71e12, "bf16"),
    ("V100", 125e12, "fp16"), ("T4", 65e12, "fp16"),
)


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return found.group(1).strip() if found else platform.machine()


def cpu_cores() -> int:
    """Cores this process may run on (a container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_vector_units(cpuinfo: str) -> tuple[str, int]:
    """The widest vector instructions this CPU has, and its fp32 FLOPs per cycle per core.

    Two FMA units per core, each a multiply and an add on every lane: 2 x 2 x 16 = 64 with
    AVX-512, 2 x 2 x 8 = 32 with AVX2 + FMA, 16 with AVX, 8 otherwise. AMD's Zen 4 (family 25)
    runs an AVX-512 instruction as two 256-bit halves, so it does 32, as with AVX2; Zen 5
    (family 26) has full-width units. A cloud VM often names every AMD host "AMD EPYC", so the
    flags and the family are what tell two hosts apart.
    """
    flags_line = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    flags = set(flags_line.group(1).split()) if flags_line else set()
    family = re.search(r"^cpu family\s*:\s*(\d+)$", cpuinfo, re.M)
    zen4 = "AuthenticAMD" in cpuinfo and family is not None and int(family.group(1)) == 25
    if "avx512f" in flags and zen4:
        return "AVX-512 on 256-bit units", 32
    if "avx512f" in flags:
        return "AVX-512", 64
    if {"avx2", "fma"} <= flags:
        return "AVX2+FMA", 32
    if "avx" in flags:
        return "AVX", 16
    return "SSE or unknown", 8


def cpu_family(cpuinfo: str | None = None) -> str:
    """Vendor, family and model numbers ("AuthenticAMD 26/2"): what a masked model name hides."""
    cpuinfo = _read_cpuinfo() if cpuinfo is None else cpuinfo
    fields = {key: re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.M)
              for key in ("vendor_id", "cpu family", "model")}
    if not all(fields.values()):
        return "unknown"
    return (f"{fields['vendor_id'].group(1).strip()} {fields['cpu family'].group(1).strip()}/"
            f"{fields['model'].group(1).strip()}")


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_peak(cpuinfo: str | None = None, cores: int | None = None) -> dict:
    """An ESTIMATE of fp32 peak: cores x clock x FLOPs per cycle per core
    (:func:`cpu_vector_units`). The clock is the one /proc/cpuinfo reports; a core that slows
    down under wide vector instructions reaches less."""
    cpuinfo = _read_cpuinfo() if cpuinfo is None else cpuinfo
    cores = cores or cpu_cores()
    isa, per_cycle = cpu_vector_units(cpuinfo)
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)$", cpuinfo, re.M)]
    ghz = max(mhz) / 1000 if mhz else None
    flops = cores * ghz * 1e9 * per_cycle if ghz else None
    return {"flops": flops, "precision": "fp32", "estimate": True,
            "how": (f"estimate: {cores} cores x {ghz:.2f} GHz x {per_cycle} FLOP/cycle ({isa})"
                    if ghz else "unknown: no clock in /proc/cpuinfo")}


def gpu_peak(name: str) -> dict:
    """The data-sheet peak of the GPU called ``name`` (as ``torch.cuda.get_device_name`` says)."""
    for key, flops, precision in GPU_PEAKS:
        if key in name:
            return {"flops": flops, "precision": precision, "estimate": False,
                    "how": f"data sheet: {key}, dense {precision} tensor cores"}
    return {"flops": None, "precision": None, "estimate": False,
            "how": f"unknown GPU {name!r}: add it to cnnlib.results.GPU_PEAKS"}


def device_peak(device: torch.device) -> dict:
    """Peak FLOP/s of ``device``: a data-sheet value for known GPUs, an estimate for a CPU."""
    if device.type == "cuda":
        return gpu_peak(torch.cuda.get_device_name(device))
    if device.type == "cpu":
        return cpu_peak()
    return {"flops": None, "precision": None, "estimate": False,
            "how": f"unknown for {device.type}"}


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"{cpu_model()}, {cpu_cores()} cores"
    return device.type


def device_slug(device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    return re.sub(r"[^a-z0-9]+", "-", f"{device.type} {name}".lower()).strip("-")


def machine_info(device: torch.device) -> dict:
    """What a number needs next to it to mean anything: hardware and software."""
    return {"device": str(device), "device_name": device_label(device),
            "machine": {"platform": platform.platform(), "cpu_model": cpu_model(),
                        "cpu_family": cpu_family(), "cores": cpu_cores(),
                        "torch_threads": torch.get_num_threads()},
            "versions": {**versions(), "cuda": torch.version.cuda}}


# ---------------------------------------------------------------------------------------------
# Result files

def recorded_results_dir():
    """The folder of results recorded with the book (package data, readable when installed)."""
    return importlib.resources.files("cnnlib") / "recorded"


def default_out(device: torch.device, mode: str, kind: str | None = None) -> Path:
    """``./benchmarks/[<kind>-]<device>-<date>-<mode>.json``, under the current folder."""
    prefix = f"{kind}-" if kind else ""
    date = time.strftime("%Y-%m-%d")
    return OUTPUT_DIR / f"{prefix}{device_slug(device)}-{date}-{mode}.json"


class ResultFile:
    """Where one run's result goes: checked before the run, and never over another file.

    The one rule for result file names: if ``out`` exists (a run earlier the same day, or a
    file of yours), the result goes to ``<name>-2.json``, ``<name>-3.json``... instead; the
    name is claimed when the first result is written (atomically, so two runs at once get two
    files), and every later :meth:`write` of the same run replaces only that file. A path that
    cannot be written (a folder, a file in the way of its folder, a read-only folder) is an
    error when the ``ResultFile`` is made, before any measuring.
    """

    def __init__(self, out):
        self.wanted, self.path = check_result_path(out), None

    def write(self, result: dict) -> Path:
        """Write ``result`` as JSON (atomically); return the path it went to."""
        text = json.dumps(result, indent=1) + "\n"
        claimed = self.path is None
        if claimed:
            self.path = _claim(self.wanted)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            if claimed:  # the empty file this call created, and nothing else
                self.path.unlink(missing_ok=True)
                self.path = None
            raise
        return self.path


def check_result_path(out) -> Path:
    """``out`` as a ``Path`` a result file can be written to, or an error that says why not."""
    if not isinstance(out, (str, os.PathLike)) or not os.fspath(out).strip():
        raise ValueError(f"out must be the path of a .json file, got {out!r}")
    text = os.fspath(out)
    path = Path(text).expanduser()
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise ValueError(f"out={text!r} is a folder: give a file path in it, such as "
                         f"{str(path / 'result.json')!r}")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"out={text!r} cannot be written: {folder} is a file, not a folder. "
                         "Choose a path in a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"out={text!r} cannot be written: the folder {folder} is not "
                              "writable. Choose a folder you can write to")
    return path


def _claim(path: Path) -> Path:
    """Create ``path``, or the first free ``<stem>-N<suffix>`` beside it: never an existing
    file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = path, 1
    while True:
        try:
            os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return candidate
        except FileExistsError:
            n += 1
            candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")


def write_result(result: dict, out: Path) -> Path:
    """Write a measured result as JSON, creating its folder (``./benchmarks`` by default); an
    existing file is never replaced (:class:`ResultFile`): returns the path written."""
    return ResultFile(out).write(result)


def load_results(paths=None, kind: str | None = None) -> list[dict]:
    """Results from JSON files, oldest first; by default the ones recorded with the book
    (``cnnlib/recorded/``). ``kind`` keeps only ``"bench"`` or ``"recipe"`` results."""
    if paths is None:
        paths = sorted((p for p in recorded_results_dir().iterdir() if p.name.endswith(".json")),
                       key=lambda p: p.name)
    results = []
    for path in paths:
        path = Path(path) if isinstance(path, str) else path  # a Path or a package resource
        result = json.loads(path.read_text())
        result.setdefault("file", path.name)
        if kind is None or result.get("kind") == kind:
            results.append(result)
    return sorted(results, key=lambda r: r.get("date", ""))


# ---------------------------------------------------------------------------------------------
# Numbers in tables

def format_rate(x) -> str:
    """Items per second, short: ``459.3k``, ``1.2M``; ``-`` when not measured."""
    if x is None:
        return "-"
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if x >= size:
            return f"{x / size:.1f}{unit}"
    return f"{x:.0f}"


def format_flops(x) -> str:
    """FLOP/s with its unit: ``989.0 TFLOP/s``; ``unknown`` when there is no peak."""
    if not x:
        return "unknown"
    for unit, size in (("PFLOP/s", 1e15), ("TFLOP/s", 1e12), ("GFLOP/s", 1e9)):
        if x >= size:
            return f"{x / size:.1f} {unit}"
    return f"{x:.0f} FLOP/s"


def format_ratio(ratio) -> str:
    """A speed-up: ``5.8x``; ``-`` when there is none."""
    return "-" if ratio is None else f"{ratio:.1f}x"
