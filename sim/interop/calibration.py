"""Shared parts of ``vtasim calibrate``: where the figures came from, their summary, the
scenario snippet they become, and the measurement file.

A calibration times a real component a bounded number of times (``count`` samples, and
never past a wall-clock budget) and turns the samples into an ``empirical`` distribution
ready to paste into a scenario. The measurement file records every sample and the machine
that produced it (CPU, OS, Python, package and tool versions), because the numbers mean
nothing without it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from sim.errors import ExternalToolError


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _tool_version(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not available"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine_info(packages: Iterable[str], tools: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The machine the figures come from: CPU model and count, OS, Python, the versions
    of ``packages`` and of each tool (name -> argv that prints its version)."""
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": {name: _package_version(name) for name in ("vtasim", *packages)},
        "tools": {name: _tool_version(argv) for name, argv in tools.items()},
    }


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """Count, mean, min, p50, p95 and max of ``samples`` (seconds)."""
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "mean": statistics.fmean(ordered),
        "min": ordered[0],
        "p50": statistics.median(ordered),
        "p95": p95,
        "max": ordered[-1],
    }


def duration_text(seconds: float) -> str:
    """A duration the scenario parser reads back: milliseconds with microsecond precision."""
    return f"{seconds * 1000:.3f}ms"


def empirical_snippet(section: str, key: str, samples: Sequence[float]) -> str:
    """``section:\\n  key: {dist: empirical, samples: [...]}`` as scenario YAML."""
    values = ", ".join(duration_text(s) for s in samples)
    return f"{section}:\n  {key}: {{dist: empirical, samples: [{values}]}}\n"


@dataclass
class Budget:
    """At most ``count`` samples per series and no work past ``seconds`` of wall time."""

    count: int
    seconds: float
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds <= 0:
            raise ValueError("a calibration needs count >= 1 and a positive time budget")

    @property
    def exhausted(self) -> bool:
        """Whether the wall-time budget is spent."""
        return time.monotonic() - self.started > self.seconds


def timed(samples: list[float], action: Any) -> Any:
    """Run ``action()``, append its wall time (perf_counter seconds) to ``samples``."""
    t0 = time.perf_counter()
    result = action()
    samples.append(time.perf_counter() - t0)
    return result


def write_measurements(path: Path, data: Mapping[str, Any]) -> Path:
    """Write the measurement JSON atomically (an exclusively created temporary file in
    the same folder, then a rename: see :func:`sim.analysis.folder_io.write_file_atomic`)."""
    from sim.analysis.folder_io import write_file_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise ExternalToolError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def check_out(path: Path) -> None:
    """Check, before measuring, that the measurements can be written at ``path``: its
    folder can be created and written (an exclusive probe file), and ``path`` is not a
    folder. Raises ExternalToolError naming ``path``."""
    from sim.analysis.outdir import prepare_folder
    from sim.errors import RunError

    if path.is_dir():
        raise ExternalToolError(f"cannot write {path}: it is a folder")
    try:
        prepare_folder(path.parent, str(path))
    except RunError as exc:
        raise ExternalToolError(str(exc)) from None


def format_table(series: Mapping[str, Sequence[float]]) -> str:
    """A plain table of each series' n, p50, p95 and mean in milliseconds."""
    lines = [f"{'series':<34}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}"]
    for name, samples in series.items():
        s = summarize(samples)
        if s["n"] == 0:
            lines.append(f"{name:<34}{0:>5}")
            continue
        lines.append(
            f"{name:<34}{s['n']:>5}{s['p50'] * 1000:>10.3f}"
            f"{s['p95'] * 1000:>10.3f}{s['mean'] * 1000:>10.3f}"
        )
    return "\n".join(lines)
