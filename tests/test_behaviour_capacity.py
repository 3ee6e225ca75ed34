"""Behaviour: capacity figures are exact step-function statistics, not sample statistics."""

from __future__ import annotations

from typing import Any

import pytest

from sim.runner import RunOutput, simulate
from sim.scenario import load_scenario, parse_scenario
from tests.conftest import ROOT
from tests.designed import merge

# One attestation with no queueing, as in tests/test_behaviour_operations.py: LAN hops of
# 0.1 ms (two round trips plus the hop back), a 50 ms TPM signature, a 5 ms verdict; then
# the host's status report reaches its vCenter 1 s later.
RTT = 0.0006 + 0.05 + 0.005
HOP = 0.0002
PROPAGATION = 1.0
BACK = RTT + HOP + PROPAGATION  # from a host booting to its vCenter seeing it attested

BASE: dict[str, Any] = {
    "name": "capacity",
    "duration": "20m",
    "network": {"lan_latency": "0.1ms"},
    "trust_authority": {
        "attestation_service": {"workers": 8, "service_time": "5ms"},
        "key_provider_service": {"workers": 8, "service_time": "2ms"},
        "status_service_time": "1ms",
    },
    "kms": {"service_time": "3ms"},
    "attestation": {"interval": "10m", "jitter": "0s", "report_lifetime": "2h",
                    "tpm_sign_time": "50ms"},
    "vcenters": [{"name": "vc-a", "status_propagation": "1s",
                  "clusters": [{"name": "c", "hosts": 4}]}],
    "vms": {"count": 0},
    "workload": {"power_on_rate": 0, "migration_rate": 0},
    "reboots": {"duration": "243s", "scheduled": [{"at": "310s", "host": "esx-02",
                                                   "kind": "crash"}]},
    "metrics": {"sample_interval": "5m"},
}  # fmt: skip


def _run(over: dict[str, Any] | None = None) -> RunOutput:
    return simulate(parse_scenario(merge(BASE, over or {})), seed=1)


def test_an_outage_between_two_samples_gives_the_true_minimum_and_time_below() -> None:
    """esx-02 of 4 crashes at 310 s and is down 243 s, between the samples at 300 s and
    600 s: the samples stay at 4; exactly, 3 hosts are attested from 310 s until its vCenter
    sees it attested again, 243 s + one attestation + 1 s propagation later."""
    out = _run()
    cap = out.summary["capacity"]
    assert cap["sampled"]["attested_hosts"]["min"] == 4
    hosts = cap["attested_hosts"]
    assert hosts["min"] == 3 and hosts["min_at_s"] == pytest.approx(310.0)
    assert hosts["below_threshold_s"] == pytest.approx(243 + BACK, abs=1e-9)
    assert hosts["min_duration_s"] == pytest.approx(243 + BACK, abs=1e-9)
    assert hosts["mean"] == pytest.approx(4 - (243 + BACK) / 1200, rel=1e-12)
    assert cap["usable_hosts"] == hosts  # no maintenance mode in a crash


def test_the_warm_up_clips_the_outage_like_every_other_statistic() -> None:
    """With a warm-up of 8 min (480 s, inside the outage) only the part after it counts:
    310 + 243 + BACK - 480 s at 3 hosts, first reached at 480 s; with 10 min none does."""
    hosts = _run({"warmup": "8m"}).summary["capacity"]["attested_hosts"]
    assert hosts["min"] == 3 and hosts["min_at_s"] == 480.0
    assert hosts["below_threshold_s"] == pytest.approx(310 + 243 + BACK - 480, abs=1e-9)
    after = _run({"warmup": "10m"}).summary["capacity"]["attested_hosts"]
    assert after["min"] == 4 and after["below_threshold_s"] == 0.0 and after["mean"] == 4


def test_a_threshold_below_the_dip_counts_no_time() -> None:
    """capacity.threshold 0.75 of 4 hosts is 3: 3 attested hosts are not below it."""
    cap = _run({"capacity": {"threshold": 0.75}}).summary["capacity"]
    assert cap["threshold_hosts"] == 3 and cap["attested_hosts"]["below_threshold_s"] == 0.0


def _rolling(maintenance_mode: bool) -> RunOutput:
    s = load_scenario(ROOT / "scenarios" / "rolling-upgrade.yaml")
    return simulate(
        s.with_overrides({"duration": "150m", "upgrades.0.maintenance_mode": maintenance_mode})
    )


def test_a_rolling_upgrade_without_maintenance_mode_dips_to_12_between_samples() -> None:
    """rolling-upgrade.yaml without maintenance mode: cl-a's hosts go down two at a time
    for 20 min from 2 h. The next batch goes down the instant the previous one boots, while
    the booted pair still needs an attestation and a status report before its vCenter sees
    it attested: 16 - 2 - 2 = 12 hosts, first at 2 h 20 min (8400 s), for seconds only, so
    the 1-minute samples see 14 at the least."""
    cap = _rolling(False).summary["capacity"]
    assert cap["sampled"]["attested_hosts"]["min"] == 14
    hosts = cap["attested_hosts"]
    assert hosts["min"] == 12 and hosts["min_at_s"] == pytest.approx(8400.0)
    assert 0 < hosts["time_at_level_s"]["12"] < 10


def test_hosts_evacuating_in_maintenance_mode_are_attested_but_not_usable() -> None:
    """rolling-upgrade.yaml (maintenance mode): a host enters maintenance mode when its
    upgrade starts (the operations row host_down) and goes down when evacuated (its
    host_events row down); it stays attested meanwhile but is not usable, so the integral
    of attested minus usable hosts is the sum of those evacuation times."""
    out = _rolling(True)
    cap = out.summary["capacity"]
    start = {
        o["target"]: o["time"] for o in out.tables["operations"]
        if o["operation"] == "upgrade" and o["event"] == "host_down"
    }  # fmt: skip
    down = {
        e["host"]: e["time"] for e in out.tables["host_events"]
        if e["event"] == "down" and e["host"] in start
    }  # fmt: skip
    evacuating = sum(down[h] - start[h] for h in start)
    assert len(start) == 4 and evacuating > 0
    difference = (cap["attested_hosts"]["mean"] - cap["usable_hosts"]["mean"]) * 9000
    assert difference == pytest.approx(evacuating, rel=1e-9)
    assert cap["attested_hosts"]["min"] == 14
