"""How the simulator's cost grows with the estate: 100, 1,000 and 10,000 hosts.

Each size is ``scenarios/xlarge.yaml`` scaled down in proportion (50 hosts a cluster, up
to 4 workload vCenters, 10 VMs a host, power-ons and migrations at 2 per host-hour, the
same trust authority, KMS and drift) and run for the same simulated time in a fresh
process, so that each size's peak RSS is its own. For each size the table gives wall and
CPU time, peak RSS, SimPy events, attestations and attestations per CPU second; then the
growth exponents fitted by least squares on log-log axes (cost ~ hosts^k: k = 1 is linear
growth, the goal is k <= 1.05) and, for the largest size, a projection to one simulated day.

A second part measures a local sweep: ``--sweep-runs`` runs (8) of the ``--sweep-hosts``
estate (1,000 hosts, one simulated hour each, about 12 s a run) on ``--workers`` processes
(2); CPU efficiency = CPU used by the worker processes ÷ (workers × wall time of the sweep)
(goal >= 0.9).

Run ``python benchmarks/scale.py --help``. Nothing here is asserted by a test: the smoke test
runs it on tiny sizes and checks only that every figure is produced and consistent.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
XLARGE = REPO / "scenarios" / "xlarge.yaml"
DEFAULT_SIZES = (100, 1000, 10000)
HOSTS_PER_CLUSTER = 50
MAX_VCENTERS = 4
VMS_PER_HOST = 10
RATE_PER_HOST_HOUR = 2
DAY_S = 86400.0
GOAL_HOSTS = 10_000
GOALS = {"exponent": 1.05, "sweep_efficiency": 0.9}
"""Targets, printed next to the figures, never asserted."""


def scaled_overrides(hosts: int) -> dict[str, Any]:
    """Scenario overrides that shrink (or keep) xlarge.yaml to ``hosts`` hosts: full
    clusters of 50 (one smaller cluster for the remainder) spread over up to 4 vCenters."""
    if hosts < 1:
        raise ValueError("at least one host")
    sizes = [HOSTS_PER_CLUSTER] * (hosts // HOSTS_PER_CLUSTER)
    if hosts % HOSTS_PER_CLUSTER:
        sizes.append(hosts % HOSTS_PER_CLUSTER)
    n_vc = min(MAX_VCENTERS, len(sizes))
    vcenters: list[dict[str, Any]] = [{"name": f"vc-{v + 1}", "clusters": []} for v in range(n_vc)]
    for i, size in enumerate(sizes):
        vcenters[i * n_vc // len(sizes)]["clusters"].append(
            {"name": f"c{i + 1:03d}", "hosts": size}
        )
    rate = f"{RATE_PER_HOST_HOUR * hosts} per_hour"
    return {
        "vcenters": vcenters,
        "vms.count": VMS_PER_HOST * hosts,
        "workload.power_on_rate": rate,
        "workload.migration_rate": rate,
    }


def _rss_kib_now() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure_size(hosts: int, until: float, scenario: Path = XLARGE) -> dict[str, Any]:
    """Run the estate scaled to ``hosts`` for ``until`` simulated seconds in this process
    (call it in a fresh one), the way :func:`sim.runner.simulate` does, timing its phases:
    build and start, the first and the second half of simulated time, and the analysis
    (summary) with the writing of the run folder (into a temporary folder). The second
    half's rates are the steady state a projection extends."""
    from sim.analysis.drift import finalise_drift
    from sim.analysis.results import write_run
    from sim.analysis.summary import summarise
    from sim.analysis.tables import TABLE_COLUMNS
    from sim.build import build
    from sim.collector import RunCollector, frozen_heap
    from sim.domain import opcount
    from sim.scenario import load_scenario

    sc = load_scenario(scenario, scaled_overrides(hosts))
    sc = sc.for_run(sc.seed, until)
    marks: list[tuple[float, float, int]] = []  # (wall, CPU, current RSS) after each phase

    def mark() -> None:
        marks.append((time.perf_counter(), time.process_time(), _rss_kib_now() * 1024))

    mark()
    opcount.reset()
    with RunCollector() as collector:
        estate = build(sc, sc.seed)
        estate.start()
        collector.estate_built()
        mark()
        estate.env.run(until=until / 2)
        mark()
        estate.env.run(until=until)
        mark()
        collector.run_over()
        rec = estate.recorder
        rec.sample_levels(until)
        finalise_drift(rec, until, estate.host_vcenter)
        summary = summarise(rec, until, sc.warmup, sc)
    with tempfile.TemporaryDirectory() as folder, frozen_heap():
        write_run(
            Path(folder) / "run", scenario_yaml=sc.resolved_yaml(), manifest={"hosts": hosts},
            summary=summary, tables=rec.tables, columns=TABLE_COLUMNS,
        )  # fmt: skip
    mark()
    (w0, c0, r0), (_, c1, r1), (_, c2, r2), (_, c3, r3), (w4, c4, _) = marks
    return {
        "hosts": hosts,
        "vms": sc.vms.count,
        "sim_time_s": float(estate.env.now),
        "wall_s": w4 - w0,
        "cpu_s": c4 - c0,
        "build_cpu_s": c1 - c0,
        "first_half_cpu_s": c2 - c1,
        "second_half_cpu_s": c3 - c2,
        "analysis_cpu_s": c4 - c3,
        "rss_before_bytes": r0,
        "rss_built_bytes": r1,
        "rss_half_bytes": r2,
        "rss_end_bytes": r3,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "events": int(estate.env.events_processed),
        "attestations": len(rec.tables["attestations"]),
        "rows": sum(len(rows) for rows in rec.tables.values()),
        "attestations_per_cpu_s": len(rec.tables["attestations"]) / (c4 - c0),
        "crypto_ops": opcount.snapshot(),
        "exception": None,
    }


def _child(hosts: int, until: float, scenario: Path) -> dict[str, Any]:
    """:func:`measure_size` in a fresh interpreter (its own peak RSS)."""
    args = ["--child", str(hosts), "--until", repr(until), "--scenario", str(scenario)]
    return _in_fresh_process(args, f"{hosts} hosts")


def _in_fresh_process(args: list[str], what: str) -> dict[str, Any]:
    """Run this script with ``args`` in a new interpreter and read the JSON line it prints
    last; a failed child raises with the end of its stderr."""
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what}: exit {done.returncode}\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fit_exponent(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of log(y) on log(x); None with fewer than two usable points."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


def exponents(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Growth exponents in the host count of wall, CPU, run CPU (build left out), events
    and the RSS grown during the run."""
    hosts = [float(r["hosts"]) for r in rows]

    def fit(values: Sequence[float]) -> float | None:
        return fit_exponent(hosts, values)

    return {
        "wall_s": fit([r["wall_s"] for r in rows]),
        "cpu_s": fit([r["cpu_s"] for r in rows]),
        "run_cpu_s": fit([max(r["cpu_s"] - r["build_cpu_s"], 1e-9) for r in rows]),
        "events": fit([r["events"] for r in rows]),
        "rss_growth_bytes": fit(
            [max(r["peak_rss_bytes"] - r["rss_before_bytes"], 1) for r in rows]
        ),
    }


def day_projection(row: Mapping[str, Any]) -> dict[str, float]:
    """One simulated day at this size, from a shorter run: the build, then the second
    half's CPU and RSS growth per simulated second extended to a day, and the analysis and
    writing's CPU scaled with simulated time (they read every record). The memory the
    analysis and writing add above the run's is added once: they read the records a chunk
    at a time, and most of it is fixed (pyarrow). The RSS figure is an upper bound: a short
    run's second half still grows with the estate settling (VMs powering on, key caches
    filling), which slows down as the day goes on."""
    half = row["sim_time_s"] / 2
    rest = DAY_S - row["sim_time_s"]
    cpu_rate = row["second_half_cpu_s"] / half
    rss_rate = max(row["rss_end_bytes"] - row["rss_half_bytes"], 0) / half
    analysis_rss = max(row["peak_rss_bytes"] - row["rss_end_bytes"], 0)
    return {
        "cpu_s": row["build_cpu_s"]
        + row["first_half_cpu_s"]
        + row["second_half_cpu_s"]
        + cpu_rate * rest
        + row["analysis_cpu_s"] * DAY_S / row["sim_time_s"],
        "peak_rss_bytes": row["rss_end_bytes"] + rss_rate * rest + analysis_rss,
    }


def _sweep_file(folder: Path, runs: int, until: float, hosts: int) -> Path:
    base = folder / "base.yaml"
    scenario = yaml.safe_load(XLARGE.read_text(encoding="utf-8"))
    for dotted, value in scaled_overrides(hosts).items():
        *parents, leaf = dotted.split(".")
        node = scenario
        for key in parents:
            node = node[key]
        node[leaf] = value
    base.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    sweep = {
        "name": "scale-sweep",
        "base": "base.yaml",
        "seed": 1,
        "until": f"{until:g}s",
        "factors": {"attestation.interval": ["5m"]},
        "replications": runs,
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    return path


def measure_sweep(runs: int, workers: int, until: float, hosts: int = 1000) -> dict[str, Any]:
    """``runs`` replications of the ``hosts``-host estate as one sweep on ``workers``
    local processes (in a fresh interpreter, so only this sweep's workers count as its
    children): CPU efficiency = the workers' CPU ÷ (workers × wall)."""
    args = ["--child-sweep", str(runs), "--workers", str(workers), "--until", repr(until)]
    return _in_fresh_process([*args, "--sweep-hosts", str(hosts)], "sweep")


def _sweep_in_process(runs: int, workers: int, until: float, hosts: int) -> dict[str, Any]:
    from sim.experiments.sweep import run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = _sweep_file(folder, runs, until, hosts)
        wall0 = time.perf_counter()
        result = run_sweep(path, folder / "out", workers=workers, progress=False)
        wall = time.perf_counter() - wall0
        failed = sum(1 for row in result.index if row.get("status") != "ok")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = children.ru_utime + children.ru_stime
    return {
        "runs": runs,
        "workers": workers,
        "hosts": hosts,
        "sim_time_s": until,
        "wall_s": wall,
        "worker_cpu_s": cpu,
        "failed_runs": failed,
        "efficiency": cpu / (workers * wall),
    }


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _goal(value: float | None, goal: float, below: bool) -> str:
    if value is None:
        return "n/a"
    met = value <= goal if below else value >= goal
    sign = "<=" if below else ">="
    return f"(goal {sign} {goal:g}: {'met' if met else 'NOT met'})"


def render(report: Mapping[str, Any]) -> str:
    """The report as a plain-text table."""
    rows = report["sizes"]
    lines = [
        f"SCALE  {report['scenario']} scaled, {report['until_s']:g} simulated s per size",
        f"  {'hosts':>6} {'VMs':>8} {'wall s':>8} {'CPU s':>8} {'build':>7} {'peak RSS':>10} "
        f"{'events':>10} {'attest.':>8} {'att./CPU-s':>10}",
    ]
    for r in rows:
        lines.append(
            f"  {r['hosts']:>6,} {r['vms']:>8,} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} "
            f"{r['build_cpu_s']:>7.1f} {_mib(r['peak_rss_bytes']):>10} {r['events']:>10,} "
            f"{r['attestations']:>8,} {r['attestations_per_cpu_s']:>10.1f}"
        )
    lines += ["", "GROWTH EXPONENTS (cost ~ hosts^k)"]
    for key, k in report["exponents"].items():
        text = "n/a" if k is None else f"{k:.3f}"
        goal = "" if key == "rss_growth_bytes" else " " + _goal(k, GOALS["exponent"], True)
        lines.append(f"  {key:<18} {text}{goal}")
    if report.get("day") is not None:
        day, big = report["day"], rows[-1]["hosts"]
        goals = big >= GOAL_HOSTS  # the day goals are stated for 10,000 hosts
        cpu_goal = f" (goal <= 20 min: {'met' if day['cpu_s'] <= 1200 else 'NOT met'})"
        # the RSS projection is an upper bound (see day_projection): under the goal, the
        # goal is met; over it, only a measured day can tell
        rss_goal = (
            " (goal <= 2 GiB: met)"
            if day["peak_rss_bytes"] <= 2**31
            else f" (goal <= 2 GiB: not shown by a bound; measure: --child {big} --until 86400)"
        )
        lines += [
            "",
            f"ONE SIMULATED DAY AT {big:,} HOSTS (projected from the run above)",
            f"  CPU       {day['cpu_s'] / 60:,.1f} min on one core" + (cpu_goal if goals else ""),
            f"  RSS       at most {_mib(day['peak_rss_bytes'])}" + (rss_goal if goals else ""),
        ]
    sw = report.get("sweep")
    if sw is not None:
        lines += [
            "",
            f"SWEEP  {sw['runs']} runs of {sw['hosts']} hosts, {sw['sim_time_s']:g} sim-s each, "
            f"on {sw['workers']} workers",
            f"  wall {sw['wall_s']:.1f} s, worker CPU {sw['worker_cpu_s']:.1f} s, "
            f"failed runs {sw['failed_runs']}",
            f"  CPU efficiency {sw['efficiency']:.1%} "
            + _goal(sw["efficiency"], GOALS["sweep_efficiency"], False),
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    from sim.scenario.units import parse_positive_duration

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), metavar="N")
    p.add_argument(
        "--until",
        type=parse_positive_duration,
        default=600.0,
        help="simulated time per size (default 10m)",
    )
    p.add_argument("--scenario", type=Path, default=XLARGE, help=argparse.SUPPRESS)
    p.add_argument("--sweep-runs", type=int, default=8, help="runs in the sweep part (0: skip)")
    p.add_argument("--workers", type=int, default=2, help="sweep worker processes")
    p.add_argument("--sweep-until", type=parse_positive_duration, default=3600.0)
    p.add_argument("--sweep-hosts", type=int, default=1000)
    p.add_argument("--json", type=Path, default=None, metavar="OUT")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-sweep", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure_size(args.child, args.until, args.scenario)))
        return 0
    if args.child_sweep is not None:
        figures = _sweep_in_process(args.child_sweep, args.workers, args.until, args.sweep_hosts)
        print(json.dumps(figures))
        return 0
    if any(n < 1 for n in args.sizes) or args.workers < 1 or args.sweep_runs < 0:
        p.error("sizes and --workers must be positive, --sweep-runs not negative")
    rows = [_child(n, args.until, args.scenario) for n in sorted(set(args.sizes))]
    report: dict[str, Any] = {
        "scenario": args.scenario.name,
        "until_s": args.until,
        "sizes": rows,
        "exponents": exponents(rows),
        "day": day_projection(rows[-1]),
        "sweep": None,
    }
    if args.sweep_runs:
        report["sweep"] = measure_sweep(
            args.sweep_runs, args.workers, args.sweep_until, args.sweep_hosts
        )
    print(render(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    failed = [r for r in rows if r["exception"] is not None]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
