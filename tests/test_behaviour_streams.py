"""Common random numbers and the steady-state start, in whole estates.

Every source of randomness has its own stream (per host, per VM, per link, per purpose), so
changing one component leaves the random numbers of the others, and with no contention
their event times, exactly as they were. The steady-state start draws each host's age and
next attestation from the equilibrium of its renewal process, checked here against the
exact distribution.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from sim.processes.host import equilibrium_phase
from sim.runner import RunOutput, simulate
from sim.scenario import parse_scenario

BASE: dict[str, Any] = {
    "name": "crn",
    "duration": "2h",
    "network": {"lan_latency": "0.1ms"},
    "trust_authority": {
        "attestation_service": {
            "workers": 64,
            "service_time": {"dist": "lognormal", "median": "15ms", "p95": "40ms"},
        },
        "key_provider_service": {"workers": 64},
        "status_service_time": "1ms",
    },
    "attestation": {"interval": "5m", "jitter": "30s", "report_lifetime": "15m"},
    "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 6}]}],
    "vms": {"count": 40},
    "workload": {"power_on_rate": "60 per_hour", "migration_rate": "60 per_hour"},
}


def _run(over: dict[str, Any]) -> RunOutput:
    data = copy.deepcopy(BASE)
    for dotted, value in over.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return simulate(parse_scenario(data), seed=11)


def _attestation_times(out: RunOutput, host: str) -> list[tuple[float, float]]:
    return [
        (a["requested_at"], a["completed_at"])
        for a in out.tables["attestations"]
        if a["host"] == host
    ]


def test_rebooting_one_host_leaves_other_hosts_attestations_unchanged() -> None:
    """With no queueing, an extra reboot of esx-3 changes no other host's attestation times
    (formerly one shared jitter stream shifted them by up to the jitter)."""
    base = _run({})
    other = _run({"reboots.scheduled": [{"at": "30m", "host": "esx-03"}]})
    assert _attestation_times(base, "esx-03") != _attestation_times(other, "esx-03")
    for host in ("esx-01", "esx-02", "esx-04", "esx-05", "esx-06"):
        assert _attestation_times(base, host) == _attestation_times(other, host), host


def test_a_different_migration_rate_keeps_every_power_on_time() -> None:
    """Power-ons and migrations draw from separate streams: 60 -> 61 migrations per hour
    keeps the power-on request times (formerly 11 of 105 survived)."""
    over = {"vms.count": 200, "vms.initially_running": 0.5}
    base = _run(over)
    other = _run({**over, "workload.migration_rate": "61 per_hour"})
    times = lambda out: [p["time"] for p in out.tables["placements"]]  # noqa: E731
    assert len(times(base)) > 100
    assert times(base) == times(other)
    assert [m["start"] for m in base.tables["migrations"]] != [
        m["start"] for m in other.tables["migrations"]
    ]


def _equilibrium_cdf(w: np.ndarray, t: float, j: float) -> np.ndarray:
    """P(R <= w) for the residual of periods X = t + U(0, j): the integral of P(X > u)/E[X]."""
    mean = t + j / 2
    inside = np.clip(w - t, 0, j)
    return (np.minimum(w, t) + inside - inside**2 / (2 * j)) / mean


def test_equilibrium_phase_has_the_renewal_equilibrium_distribution() -> None:
    """Age and residual drawn by equilibrium_phase follow P(X > w)/E[X] (KS test), with
    means E[X^2]/(2 E[X])."""
    rng = np.random.default_rng(5)
    t, j = 300.0, 60.0
    draws = np.array([equilibrium_phase(t, j, rng.random(), rng.random()) for _ in range(4000)])
    for column in (0, 1):
        res = sps.kstest(draws[:, column], lambda w: _equilibrium_cdf(np.asarray(w), t, j))
        assert res.pvalue > 0.001
    second_moment = t * t + t * j + j * j / 3
    assert draws.mean(axis=0) == pytest.approx([second_moment / (2 * (t + j / 2))] * 2, rel=0.03)


@pytest.mark.slow
def test_steady_state_spreads_first_attestations_by_the_equilibrium() -> None:
    """300 hosts, period 300 s + U(0, 60 s): first attestations in [0, 100 s) are a
    binomial(300, 100/330) count (expected 90.9), not all 300 at t=0 as in a cold boot."""
    over = {
        "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 300}]}],
        "vms.count": 0,
        "workload.power_on_rate": 0,
        "workload.migration_rate": 0,
        "duration": "100s",
    }
    steady = _run(over)
    starts = [a["requested_at"] for a in steady.tables["attestations"]]
    p = 100 / 330
    assert abs(len(starts) - 300 * p) < 4 * (300 * p * (1 - p)) ** 0.5
    assert min(starts) > 0
    assert all(r["issued_at"] < 0 for r in steady.tables["reports"][:300])
    cold = _run({**over, "attestation.startup": "cold_boot"})
    assert sum(1 for a in cold.tables["attestations"] if a["requested_at"] == 0.0) == 300


def test_steady_state_views_start_attested_so_no_placement_is_refused_at_first() -> None:
    """In a running estate the vCenter knows its hosts' status at once: no encrypted
    placement is refused in the first poll interval (the cold boot's first-poll artefact)."""
    out = _run({"vms.encryption": {"none": 0, "storage_policy": 0, "vtpm": 1}})
    first = [p for p in out.tables["placements"] if p["time"] < 60]
    refused = [r for r in out.tables["refusals"] if r["time"] < 60]
    assert refused == [] and all(p["outcome"] == "placed" for p in first)


def test_removing_one_host_leaves_every_other_hosts_message_delays() -> None:
    """Random LAN latency, no VMs, one trust node: without esx-06 the other five hosts send
    and receive the same messages, and each pair's link draws come from its own streams,
    so all 115 of their attestation timings stay (formerly all 115 moved, by up to 8 ms:
    the shared link streams handed each host the draws esx-06 no longer took)."""
    quiet = {
        "network.lan_latency": {"dist": "lognormal", "median": "0.25ms", "p95": "1ms"},
        "vms.initially_running": 0,
        "workload.power_on_rate": 0,
        "workload.migration_rate": 0,
        "trust_authority.hosts": 1,
    }
    six = _run(quiet)
    five = _run({**quiet, "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 5}]}]})
    timings = [_attestation_times(six, f"esx-0{i}") for i in range(1, 6)]
    assert sum(map(len, timings)) == 115
    assert timings == [_attestation_times(five, f"esx-0{i}") for i in range(1, 6)]
    assert len({round(b - a, 9) for host in timings for a, b in host}) > 100  # delays do vary
