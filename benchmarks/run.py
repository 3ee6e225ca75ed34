"""Speed and memory of the simulator, in CPU time, against this machine's own limits and
against a lean SimPy model of the same attestation loop (the anchor).

One invocation measures and relates, all in this process and in CPU seconds
(``time.process_time``), so that a busy machine does not skew the ratios:

1. **Machine limits** (:mod:`benchmarks.micro`): SimPy's raw event rate, deterministic P-256
   ECDSA (RFC 6979) signatures and verifications, AES-256-GCM of vMotion-sized packets,
   SHA-256, ECDH and key wraps, each in a tight loop for a CPU budget.
2. **The simulator** (:mod:`benchmarks.simulation`) on one scenario for a bounded stretch of
   simulated time, build and summary included, and the same hosts alone (no VMs, no
   workload).
3. **The anchor** (:mod:`benchmarks.anchor`): the lean reference model
   (:mod:`benchmarks.reference`) bracketing the simulator's runs; attestations per CPU
   second of each, non-cryptographic CPU per attestation (crypto priced in place by a
   profiled run, :mod:`benchmarks.profile_shares`), SimPy events per attestation, CPU
   shares by subsystem, and the command line's fixed cost.

Issue 28's goals are printed next to their figures with "met" or "NOT met"; nothing here
asserts a speed. Run ``python benchmarks/run.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (
    None,
    "",
):  # run as a script: the repository root makes ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from benchmarks import anchor
from benchmarks.micro import (
    DEFAULT_BUDGET_S,
    DEFAULT_PROCESSES,
    GOALS,
    VMOTION_FULL_BYTES,
    Measurement,
    aes_key_wrap_rate,
    aesgcm_open_rate,
    aesgcm_seal_rate,
    ecdh_rate,
    ecdsa_sign_rate,
    ecdsa_verify_rate,
    measure_limits,
    sha256_rate,
    simpy_event_rate,
    timed,
    vmotion_stream_vs_raw,
)
from benchmarks.pricing import (
    PRICED_AS,
    PUBLIC_KEY_KINDS,
    crypto_seconds,
    day_floor,
    pk_seconds,
    ratios,
    reference_noncrypto_s,
)
from benchmarks.profile_shares import top_functions
from benchmarks.report import _RATIO_LABELS, render
from benchmarks.simulation import _cpu_model, hosts_alone, measure_simulation
from sim.domain import opcount
from sim.errors import ScenarioError
from sim.runner import versions
from sim.scenario import Scenario, load_scenario
from sim.scenario.units import parse_positive_duration

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "scenarios" / "large.yaml"

__all__ = [
    "DEFAULT_BUDGET_S",
    "DEFAULT_PROCESSES",
    "GOALS",
    "PRICED_AS",
    "PUBLIC_KEY_KINDS",
    "_RATIO_LABELS",
    "Measurement",
    "aes_key_wrap_rate",
    "aesgcm_open_rate",
    "aesgcm_seal_rate",
    "crypto_seconds",
    "day_floor",
    "ecdh_rate",
    "ecdsa_sign_rate",
    "ecdsa_verify_rate",
    "hosts_alone",
    "main",
    "measure_limits",
    "measure_simulation",
    "opcount",
    "pk_seconds",
    "ratios",
    "reference_noncrypto_s",
    "render",
    "run_benchmarks",
    "sha256_rate",
    "simpy_event_rate",
    "timed",
]


def run_benchmarks(
    scenario: Scenario,
    until: float,
    budget: float = DEFAULT_BUDGET_S,
    processes: int = DEFAULT_PROCESSES,
    seed: int | None = None,
    heap: bool = False,
    alone: bool = True,
    reference: bool = True,
    profiled: bool = True,
    cli: bool = False,
    rounds: int = 1,
) -> dict[str, Any]:
    """Machine limits, the simulator's figures and the ratios between them, as one dict.

    With ``alone`` the scenario's hosts are also timed on their own (:func:`hosts_alone`);
    with ``reference`` (and ``alone``) both runs are set against the lean reference model
    of as many hosts (``anchor``), with ``profiled`` including the in-place crypto and the
    profile shares, in ``rounds`` rounds (:func:`benchmarks.anchor.compare`); with ``cli``
    the command line's fixed cost is measured."""
    limits = measure_limits(budget, scenario.vmotion.packet_size, processes)
    payload = scenario.vmotion.payload
    stream = vmotion_stream_vs_raw(
        budget,
        scenario.vmotion.packet_size,
        VMOTION_FULL_BYTES if payload == "full" else int(payload),
    )
    sim = {**measure_simulation(scenario, until, seed, heap), "vmotion_stream": stream}
    report: dict[str, Any] = {
        "machine": {
            "summary": f"{_cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "versions": versions(),
        },
        "budget_s": budget,
        "limits": {k: m.as_dict() for k, m in limits.items()},
        "simulation": sim,
    }
    if alone:
        bare = hosts_alone(scenario)
        sim["hosts_alone"] = measure_simulation(bare, until, seed)
        if reference:
            report["anchor"] = {
                "hosts_alone": anchor.compare(
                    bare, until, seed, sim["hosts_alone"], None, profiled, rounds
                ),
                "with_workload": anchor.compare(scenario, until, seed, sim, None, False, rounds),
            }
    if cli:
        report["cli"] = anchor.cli_fixed_cost()
    report["ratios"] = ratios(limits, sim)
    return report


def _override(text: str) -> tuple[str, Any]:
    path, sep, value = text.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"expected PATH=VALUE, got {text!r}")
    return path, yaml.safe_load(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    p.add_argument(
        "--until",
        type=parse_positive_duration,
        default=3600.0,
        help="simulated time to run (default 1h)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--set",
        dest="overrides",
        type=_override,
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a scenario field (YAML value)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help="CPU seconds per micro-benchmark (default 0.5)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=DEFAULT_PROCESSES,
        help="processes in the many-process SimPy benchmark",
    )
    p.add_argument(
        "--tracemalloc",
        action="store_true",
        help="run the scenario once more under tracemalloc for the heap peak",
    )
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="run once more under cProfile and print the top N functions",
    )
    p.add_argument(
        "--no-hosts-alone",
        dest="alone",
        action="store_false",
        help="skip the extra run of the scenario's hosts without VMs or workload",
    )
    p.add_argument(
        "--no-reference",
        dest="reference",
        action="store_false",
        help="skip the lean reference model (the anchor ratios)",
    )
    p.add_argument(
        "--no-profile-shares",
        dest="profiled",
        action="store_false",
        help="skip the profiled runs (in-place crypto, shares by subsystem)",
    )
    p.add_argument(
        "--no-cli-cost",
        dest="cli",
        action="store_false",
        help="skip measuring the command line's fixed cost (three fresh interpreters)",
    )
    p.add_argument(
        "--scale",
        action="store_true",
        help="also run benchmarks/scale.py's growth exponent (100 and 1,000 hosts, 10 min) "
        "and sweep efficiency (4 runs of 100 hosts) in fresh processes",
    )
    p.add_argument(
        "--xlarge-day",
        action="store_true",
        help="also run one simulated day of scenarios/xlarge.yaml in a fresh process "
        "(expensive: about half an hour of CPU)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the simulator against the reference; the anchor ratios are the "
        "medians (default 3)",
    )
    p.add_argument("--json", type=Path, default=None, metavar="OUT")
    args = p.parse_args(argv)
    if args.budget <= 0 or args.processes < 1 or args.rounds < 1:
        p.error("--budget must be positive, --processes and --rounds at least 1")
    try:
        scenario = load_scenario(args.scenario, dict(args.overrides) or None)
    except ScenarioError as exc:
        print(f"{args.scenario}: {exc}", file=sys.stderr)
        return 2
    report = run_benchmarks(
        scenario,
        args.until,
        args.budget,
        args.processes,
        args.seed,
        args.tracemalloc,
        args.alone,
        args.reference,
        args.profiled,
        args.cli,
        args.rounds,
    )
    if args.scale or args.xlarge_day:
        from benchmarks import scale

        if args.scale:
            rows = [scale._child(n, 600.0, scale.XLARGE) for n in (100, 1000)]
            report["scale"] = {
                "exponents": scale.exponents(rows),
                "sweep": scale.measure_sweep(4, 2, 3600.0, 100),
            }
        if args.xlarge_day:
            day = scale._child(10_000, 86400.0, scale.XLARGE)
            report["xlarge_day"] = day
            anchored = report.get("anchor")
            if anchored is not None and day.get("exception") is None:
                limits = {k: Measurement.from_dict(m) for k, m in report["limits"].items()}
                per_att = reference_noncrypto_s(limits, anchored["hosts_alone"]["reference"])
                day["floor"] = day_floor(limits, day, per_att)
    print(render(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.profile > 0:
        print("\nPROFILE (one more run, by own time)")
        print(top_functions(scenario, args.until, args.seed, args.profile))
    return 0 if report["simulation"]["exception"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
