"""Smoke tests of benchmarks/scale.py: the scaled estates, the fitted exponents, the day
projection and the report, on tiny sizes. No test asserts a speed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.scenario import load_scenario
from tests.scripts import load_script

scale = load_script("benchmarks/scale.py", "vtasim_bench_scale")


@pytest.mark.parametrize("hosts", [1, 49, 50, 120, 1000, 10000])
def test_scaled_estate_has_the_asked_hosts_and_proportional_load(hosts: int) -> None:
    """xlarge.yaml scaled to N hosts has N hosts, 10 N VMs and 2 N power-ons an hour."""
    sc = load_scenario(scale.XLARGE, scale.scaled_overrides(hosts))
    assert len(sc.host_names()) == hosts
    assert sc.vms.count == 10 * hosts
    assert sc.workload.power_on_rate == pytest.approx(2 * hosts / 3600)
    assert len(sc.vcenters) == min(4, math.ceil(hosts / 50))


def test_unscaled_overrides_reproduce_the_shipped_xlarge_estate() -> None:
    """At 10,000 hosts the overrides describe the shipped scenario itself."""
    shipped = load_scenario(scale.XLARGE)
    scaled = load_scenario(scale.XLARGE, scale.scaled_overrides(10_000))
    assert scaled.host_names() == shipped.host_names()
    assert scaled.vms == shipped.vms and scaled.workload == shipped.workload


@given(k=st.floats(0.2, 2.5), c=st.floats(1e-3, 1e3))
def test_fitted_exponent_recovers_a_power_law(k: float, c: float) -> None:
    """For y = c x^k the fitted log-log slope is k."""
    xs = [100.0, 1000.0, 10000.0]
    assert scale.fit_exponent(xs, [c * x**k for x in xs]) == pytest.approx(k, rel=1e-9)


def test_fitted_exponent_needs_two_points() -> None:
    assert scale.fit_exponent([100.0], [1.0]) is None
    assert scale.fit_exponent([100.0, 100.0], [1.0, 2.0]) is None


def test_day_projection_extends_the_second_half() -> None:
    """A run whose second half costs 1 CPU-s and 1 MiB per 100 simulated s projects a day
    as the measured run plus the rest of the day at that rate; memory the analysis adds
    above the run's is added once."""
    row = {
        "sim_time_s": 200.0,
        "build_cpu_s": 5.0,
        "first_half_cpu_s": 3.0,
        "second_half_cpu_s": 1.0,
        "analysis_cpu_s": 0.0,
        "rss_half_bytes": 100 * 2**20,
        "rss_end_bytes": 101 * 2**20,
        "peak_rss_bytes": 101 * 2**20,
    }
    day = scale.day_projection(row)
    assert day["cpu_s"] == pytest.approx(9.0 + (86400 - 200) / 100)
    assert day["peak_rss_bytes"] == pytest.approx(101 * 2**20 + (86400 - 200) / 100 * 2**20)
    analysed = scale.day_projection({**row, "peak_rss_bytes": 103 * 2**20})
    assert analysed["peak_rss_bytes"] == pytest.approx(day["peak_rss_bytes"] + 2 * 2**20)


@pytest.mark.parametrize(("gib", "verdict"), [(1.5, "met"), (11.0, "not shown by a bound")])
def test_the_day_memory_bound_is_judged_only_when_it_is_under_the_goal(
    gib: float, verdict: str
) -> None:
    """The projected RSS is an upper bound: under 2 GiB it shows the goal met; over it, the
    report says to measure the day rather than calling the goal missed."""
    row = {
        "hosts": 10_000, "vms": 100_000, "wall_s": 20.0, "cpu_s": 20.0, "build_cpu_s": 9.0,
        "peak_rss_bytes": 2**30, "events": 1, "attestations": 1, "attestations_per_cpu_s": 0.05,
    }  # fmt: skip
    report = {
        "scenario": "xlarge.yaml",
        "until_s": 600.0,
        "sizes": [row],
        "exponents": {"cpu_s": None},
        "day": {"cpu_s": 1500.0, "peak_rss_bytes": gib * 2**30},
    }
    text = scale.render(report)
    rss = next(line for line in text.splitlines() if line.strip().startswith("RSS"))
    assert "at most" in rss and verdict in rss
    assert "NOT met" not in rss
    assert "--child 10000 --until 86400" in rss or verdict == "met"


@pytest.mark.slow
def test_main_measures_sizes_and_a_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line runs each size in its own process, fits exponents, runs the sweep
    and prints and writes every figure."""
    out = tmp_path / "scale.json"
    code = scale.main(
        [
            "--sizes", "3", "6",
            "--until", "5m",
            "--sweep-runs", "2",
            "--sweep-hosts", "3",
            "--sweep-until", "5m",
            "--json", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    rows = report["sizes"]
    assert [r["hosts"] for r in rows] == [3, 6]
    for r in rows:
        assert r["sim_time_s"] == 300.0 and r["exception"] is None
        assert r["events"] > 0 and r["attestations"] > 0
        assert r["cpu_s"] == pytest.approx(
            r["build_cpu_s"] + r["first_half_cpu_s"] + r["second_half_cpu_s"] + r["analysis_cpu_s"]
        )
        assert r["peak_rss_bytes"] >= r["rss_end_bytes"] > 0
    assert set(report["exponents"]) == {
        "wall_s",
        "cpu_s",
        "run_cpu_s",
        "events",
        "rss_growth_bytes",
    }
    sweep = report["sweep"]
    assert sweep["runs"] == 2 and sweep["failed_runs"] == 0
    assert sweep["efficiency"] == pytest.approx(
        sweep["worker_cpu_s"] / (sweep["workers"] * sweep["wall_s"])
    )
    printed = capsys.readouterr().out
    for heading in ("SCALE", "GROWTH EXPONENTS", "ONE SIMULATED DAY", "SWEEP"):
        assert heading in printed
