"""The size estimate of a run against the run itself, for every shipped scenario.

``vtasim run`` prints an estimate before it starts (:mod:`sim.scenario.estimate`). This
script runs each shipped scenario (``large``, ``metastable`` and ``xlarge`` shortened as the
golden tests shorten them), writes its run folder into a temporary directory, and prints
one line per scenario and quantity: the estimate, what the run really did, and their ratio.
The quantities compared are the deterministic ones (the same scenario and seed give the same
figures on every machine): simulation events, rows of the tables the estimate counts, the
bytes of vMotion payload really encrypted and the bytes of the run folder. Peak memory is
printed too, for information only: it depends on the machine and the Python build, so no
test asserts it.

Usage::

    python benchmarks/estimate_accuracy.py                  # every shipped scenario
    python benchmarks/estimate_accuracy.py baseline large   # some of them
    python benchmarks/estimate_accuracy.py --json results/estimate.json

The exit status is 1 when a deterministic quantity is outside
:data:`sim.scenario.estimate.TOLERANCE`, else 0. ``tests/scenario/test_estimate_accuracy.py``
asserts the same bound through :func:`measure`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
SHORTENED: dict[str, float] = {"large": 1200.0, "metastable": 1800.0, "xlarge": 60.0}
"""Simulated seconds of the scenarios run shorter than their duration (as the golden tests
and ``hash_runs`` run them), so the whole comparison takes about two CPU minutes."""


@dataclass(frozen=True)
class Compared:
    """One quantity of one scenario: the estimate, the run's figure and whether it counts
    against the tolerance (``checked``: deterministic, at least
    :data:`~sim.scenario.estimate.MIN_COUNT` and the estimate has no caveats)."""

    scenario: str
    quantity: str
    estimate: float
    actual: float
    checked: bool

    @property
    def ratio(self) -> float | None:
        """Estimate over actual (None when the run had none)."""
        return self.estimate / self.actual if self.actual else None


_BASIS: dict[str, str | None] = {"encrypted_bytes": "migrations", "output_bytes": None}
"""The count whose size decides whether a quantity is compared (its own by default; the run
folder is always compared)."""


def shipped() -> list[str]:
    """The names of the shipped scenarios, sorted."""
    return sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def _count(frame: object, column: str | None = None, value: str | None = None) -> int:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    if column is None:
        return len(frame)
    return int((frame[column] == value).sum())


def actual(name: str, folder: Path | None = None) -> dict[str, float]:
    """Run the shipped scenario ``name`` (shortened as :data:`SHORTENED` says), write its
    run folder (into ``folder``, else a temporary directory) and count what the estimate
    estimates."""
    from sim.analysis import results
    from sim.runner import simulate, write
    from sim.scenario import load_scenario

    out = simulate(load_scenario(SCENARIOS / f"{name}.yaml"), until=SHORTENED.get(name))
    with tempfile.TemporaryDirectory(prefix="vtasim-estimate-") as tmp:
        target = write(out, (folder or Path(tmp)) / name)
        t = results.load(target).tables
        return {
            "events": out.manifest["events"],
            "attestations": _count(t["attestations"]),
            "key_requests": _count(t["key_requests"]),
            "power_ons": _count(t["placements"], "trigger", "power_on"),
            "migrations": _count(t["migrations"]),
            "reboots": _count(t["host_events"], "event", "down"),
            "level_rows": _count(t["levels"]),
            "encrypted_bytes": int(out.summary["vmotion"]["encrypted_payload_bytes"]),
            "output_bytes": sum(p.stat().st_size for p in target.rglob("*") if p.is_file()),
        }


def compare(name: str, found: dict[str, float]) -> list[Compared]:
    """The estimate of the shipped scenario ``name`` against the run's figures ``found``
    (from :func:`actual`)."""
    from sim.scenario import load_scenario
    from sim.scenario.estimate import MIN_COUNT, estimate

    est = estimate(load_scenario(SCENARIOS / f"{name}.yaml"), SHORTENED.get(name))
    rows = []
    for quantity, real in found.items():
        basis = _BASIS.get(quantity, quantity)
        checked = not est.caveats and (basis is None or found[basis] >= MIN_COUNT)
        rows.append(Compared(name, quantity, float(getattr(est, quantity)), float(real), checked))
    return rows


def measure(name: str) -> list[Compared]:
    """Run the shipped scenario ``name`` and compare every estimated quantity with it."""
    return compare(name, actual(name))


def _child(name: str) -> None:
    """``--child NAME``: run ``name`` and print its figures, peak memory and CPU time as
    one JSON line."""
    started = time.process_time()
    found = actual(name)
    cpu = time.process_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"found": found, "memory_bytes": peak, "cpu_s": cpu}))


def measure_apart(name: str) -> dict[str, Any] | None:
    """:func:`actual` of ``name`` in a fresh Python process, so that each run's memory is
    given back and its peak measured alone: ``{"found": ..., "memory_bytes": peak RSS,
    "cpu_s": ...}`` (None, with the process's error printed, when it failed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO), env.get("PYTHONPATH"))))
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", name],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        print(f"{name}: the measuring process failed ({done.returncode}):\n{done.stderr}")
        return None
    got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return got


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def main(argv: list[str] | None = None) -> int:
    from sim.scenario.estimate import TOLERANCE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="shipped scenario names (default: all)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    parser.add_argument(
        "--actual",
        type=Path,
        help="read the runs' figures from this JSON file (written by --save-actual) instead "
        "of running the scenarios: for working on the estimate",
    )
    parser.add_argument("--save-actual", type=Path, help="write the runs' figures as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one run, in its own process
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child)
        return 0
    names = args.names or shipped()
    unknown = sorted(set(names) - set(shipped()))
    if unknown:
        parser.error(f"no shipped scenario {unknown}; there are {shipped()}")
    saved: dict[str, Any] = json.loads(args.actual.read_text()) if args.actual else {}
    rows: list[Compared] = []
    header = f"{'scenario':<16} {'quantity':<27} {'estimate':>18} {'actual':>18} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    failed = 0
    for name in names:
        got = saved.get(name) or measure_apart(name)
        if got is None:
            return 2
        saved[name] = got
        from sim.scenario import load_scenario
        from sim.scenario.estimate import estimate

        est = estimate(load_scenario(SCENARIOS / f"{name}.yaml"), SHORTENED.get(name))
        memory = Compared(name, "memory_bytes (informative)", est.memory_bytes,
                          got["memory_bytes"], False)  # fmt: skip
        found = [*compare(name, got["found"]), memory]
        rows += found
        for r in found:
            ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}"
            bad = r.checked and r.ratio is not None and abs(r.ratio - 1) > TOLERANCE
            failed += bad
            mark = "  OUT OF BOUND" if bad else ("" if r.checked else "  (not checked)")
            print(
                f"{r.scenario:<16} {r.quantity:<27} {_fmt(r.estimate):>18} "
                f"{_fmt(r.actual):>18} {ratio:>6}{mark}"
            )
        print(f"{name:<16} {'CPU seconds (run + write)':<27} {'':>18} {got['cpu_s']:>18.1f}")
        for caveat in est.caveats:
            print(f"{name:<16} not checked: {caveat}")
    print(f"\ntolerance: estimate within {TOLERANCE:.0%} of the run; {failed} outside")
    if args.save_actual is not None:
        args.save_actual.write_text(json.dumps(saved, indent=2) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
