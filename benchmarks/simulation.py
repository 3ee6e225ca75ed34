"""The simulator timed on one scenario: CPU and wall time, counts, memory, crypto ops."""

from __future__ import annotations

import gc
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from sim.build import build
from sim.domain import opcount
from sim.runner import simulate
from sim.scenario import Scenario


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rss_now() -> int | None:
    """Resident set size of this process in bytes (Linux only; None elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def measure_simulation(
    scenario: Scenario,
    until: float,
    seed: int | None = None,
    heap: bool = False,
) -> dict[str, Any]:
    """Run ``scenario`` for ``until`` simulated seconds and report its speed and memory.

    Rates are per CPU second of this process (``time.process_time``) around
    ``sim.runner.simulate``, which builds the estate, runs it and summarises it; wall time
    is reported beside it. Building the estate is timed once more on its own, so run-only
    rates can be given. With ``heap`` the scenario runs a second time under tracemalloc for
    the Python heap peak (tracemalloc slows a run severalfold, so the timed run never uses
    it).
    """
    gc.collect()
    started = time.process_time()
    build(scenario.model_copy(update={"duration": until}), scenario.seed if seed is None else seed)
    build_s = time.process_time() - started
    gc.collect()
    rss_before = _rss_now()
    opcount.reset()
    cpu_started = time.process_time()
    started = time.perf_counter()
    output = simulate(scenario, seed=seed, until=until)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    crypto_ops = opcount.snapshot()
    peak_rss = _peak_rss()
    tables = output.tables
    sim_time = float(output.manifest["sim_time_s"])
    counts = {
        "events": int(output.manifest["events"]),
        "attestations": len(tables["attestations"]),
        "key_requests": len(tables["key_requests"]),
        "encrypted_payload_bytes": sum(
            int(m["payload_bytes"] or 0) for m in tables["migrations"] if m["encrypted"]
        ),
    }
    result: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": output.seed,
        "hosts": len(scenario.host_names()),
        "vms": scenario.vms.count,
        "migrations": len(tables["migrations"]),
        "sim_time_s": sim_time,
        "wall_s": wall,
        "cpu_s": cpu,
        "build_cpu_s": build_s,
        "sim_s_per_cpu_s": sim_time / cpu,
        **counts,
        **{f"{name}_per_cpu_s": n / cpu for name, n in counts.items()},
        "events_per_cpu_s_excluding_build": counts["events"] / max(cpu - build_s, 1e-9),
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak_rss,
        "rss_growth_bytes": None if rss_before is None else max(peak_rss - rss_before, 0),
        "tracemalloc_peak_bytes": None,
        "tracemalloc_cpu_s": None,
        "crypto_ops": crypto_ops,
        "exception": output.manifest["exception"],
    }
    del output
    if heap:
        gc.collect()
        tracemalloc.start()
        started = time.process_time()
        simulate(scenario, seed=seed, until=until)
        result["tracemalloc_cpu_s"] = time.process_time() - started
        result["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result


def hosts_alone(scenario: Scenario) -> Scenario:
    """``scenario`` with no VMs and no workload (no power-ons, no migrations): its hosts'
    attestations, drift and faults are what is left. Timed like the full run, it shows how
    much of the gap to the public-key-crypto-bound rate the attestation path itself leaves,
    and how much the VMs around it add."""
    return scenario.model_copy(
        update={
            "vms": scenario.vms.model_copy(update={"count": 0}),
            "workload": scenario.workload.model_copy(
                update={"power_on_rate": 0.0, "migration_rate": 0.0}
            ),
        }
    )
