"""Lapse, detection, abandoned attempts and routine gaps in whole estates, against figures
derived by hand.

The estates are nearly deterministic: fixed LAN hops of 0.1 ms, TPM signing 50 ms, fixed
service times, no jitter. One attestation round is then: nonce request and answer (two hops
each way, 0.4 ms), the quote (50 ms), the evidence to the service (0.2 ms), the service time
S, the answer back (0.2 ms): the verdict is reached ``0.6 ms + 50 ms + S`` after the attempt
starts (queueing aside).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim.runner import RunOutput, simulate
from sim.scenario import load_scenario, parse_scenario
from tests.conftest import ROOT
from tests.designed import merge

TO_VERDICT = 0.0006 + 0.05  # hops before the verdict, and the quote, without service time

BASE: dict[str, Any] = {
    "name": "trust-behaviour",
    "network": {"lan_latency": "0.1ms"},
    "trust_authority": {
        "attestation_service": {"workers": 4, "service_time": "5ms"},
        "key_provider_service": {"workers": 4, "service_time": "2ms"},
        "status_service_time": "1ms",
    },
    "kms": {"service_time": "3ms"},
    "attestation": {
        "interval": "10m",
        "jitter": "0s",
        "report_lifetime": "2h",
        "tpm_sign_time": "50ms",
    },
    "vcenters": [
        {"name": "vc-a", "status_poll_interval": "60s", "clusters": [{"name": "c", "hosts": 2}]}
    ],
    "vms": {"count": 0},
    "workload": {"power_on_rate": 0, "migration_rate": 0},
    "drift": {"measured_at": {"unapproved_vib": "runtime"}},
}


def _run(over: dict[str, Any], seed: int = 1) -> RunOutput:
    return simulate(parse_scenario(merge(BASE, over)), seed=seed)


def test_a_late_failed_verdict_is_the_lapse_though_no_agent_received_it() -> None:
    """Service time 2 s, agent timeout 1 s, abandoned requests served: the agent gives up,
    yet the trust authority judges the drifted evidence 2.0506 s after the attempt began,
    and that verdict is both the detection and the lapse (the report stays held for 2 h).
    The vCenter polls the trust authority here: with host reports it would already have
    seen the host as unknown after its first unanswered attestation."""
    out = _run(
        {
            "duration": "40m",
            "vcenters": [
                {
                    "name": "vc-a",
                    "status_source": "trust_authority_poll",
                    "clusters": [{"name": "c", "hosts": 2}],
                }
            ],
            "trust_authority": {
                "attestation_service": {"service_time": "2s", "abandoned": "serve"}
            },
            "attestation": {"timeout": "1s", "max_retries": 0},
            "drift": {"scheduled": [{"at": "700s", "host": "esx-01", "kind": "unapproved_vib"}]},
        }
    )
    (d,) = out.tables["drift_events"]
    attempt = next(
        a for a in out.tables["attestations"] if a["host"] == "esx-01" and a["requested_at"] > 700
    )
    assert attempt["ok"] is False and attempt["reasons"] == "attestation.unavailable"
    expected = attempt["requested_at"] + TO_VERDICT + 2.0
    assert d["detected_at"] == pytest.approx(expected, abs=1e-6)
    assert d["lapse_at"] == pytest.approx(expected, abs=1e-6)
    assert d["key_refusal_at"] is None  # the host still holds its unexpired report
    assert d["time_to_refusal_s"] >= d["time_to_lapse_s"]
    verdict = next(v for v in out.tables["verdicts"] if v["verdict_at"] == d["detected_at"])
    assert verdict["outcome"] == "fail" and verdict["delivered_at"] is None


def test_a_drift_on_a_host_already_untrusted_lapses_at_zero() -> None:
    """Revocation none: after a first drift fails the host, a second drift on it lapses at
    once (the host still holds its old report, but the trust authority distrusts it)."""
    out = _run(
        {
            "duration": "40m",
            "attestation": {"revocation": "none"},
            "drift": {
                "scheduled": [
                    {"at": "100s", "host": "esx-01", "kind": "unapproved_vib"},
                    {"at": "1500s", "host": "esx-01", "kind": "driver_change"},
                ]
            },
        }
    )
    first, second = out.tables["drift_events"]
    assert first["detected_at"] is not None and first["detected_at"] < 1500
    assert second["time_to_lapse_s"] == 0.0
    assert second["key_refusal_at"] is None  # the old report is still held (no revocation)


def _metastable(mode: str) -> RunOutput:
    scenario = load_scenario(
        ROOT / "scenarios" / "metastable.yaml",
        overrides={"trust_authority.attestation_service.abandoned": mode},
    )
    return simulate(scenario, until=1800.0)


@pytest.fixture(scope="module")
def metastable() -> dict[str, RunOutput]:
    """The shipped metastable scenario for 30 minutes, serving and dropping abandoned work."""
    return {mode: _metastable(mode) for mode in ("serve", "drop")}


def _goodput(out: RunOutput, after: float) -> float:
    delivered = [
        v
        for v in out.tables["verdicts"]
        if v["delivered_at"] is not None and v["delivered_at"] >= after
    ]
    return len(delivered) / (out.manifest["sim_time_s"] - after)


@pytest.mark.slow
def test_serving_abandoned_requests_collapses_and_dropping_recovers(
    metastable: dict[str, RunOutput],
) -> None:
    """150 hosts attest every 60 s (1.1 s per attestation) on 3 one-worker nodes of 0.9 s:
    75 % load. After the cold-boot burst, dropping expired requests gives a goodput of
    150 / 61.15 = 2.45 per s; serving them keeps the queue full of dead work, goodput ~0."""
    hosts, period = 150, 60 + TO_VERDICT + 0.9 + 0.0002
    assert _goodput(metastable["drop"], 900) == pytest.approx(hosts / period, rel=0.05)
    assert _goodput(metastable["serve"], 900) < 0.05 * hosts / period
    serve = metastable["serve"].summary["attestation"]["verdicts"]
    assert serve["throughput_per_s"] == pytest.approx(3 / 0.9, rel=0.01)  # busy on dead work
    assert serve["delivered"] < 0.05 * serve["reached"]
    assert metastable["drop"].summary["attestation"]["verdicts"]["dropped"] > 0


@pytest.mark.slow
def test_queue_wait_counts_abandoned_requests(metastable: dict[str, RunOutput]) -> None:
    """Queue-wait statistics cover every request a worker picked up, dropped ones included."""
    drop = metastable["drop"]
    started = [v for v in drop.tables["verdicts"] if v["started_at"] is not None]
    assert drop.summary["attestation"]["queue_wait_s"]["count"] == len(started)
    assert any(v["outcome"] == "dropped" for v in started)


@pytest.mark.parametrize("mode", ["serve", "drop"])
def test_no_host_is_attested_from_a_report_it_did_not_receive(
    metastable: dict[str, RunOutput], mode: str
) -> None:
    """At the end, the hosts the trust authority calls attested are exactly those whose
    agent holds an unexpired report."""
    estate = metastable[mode].estate
    now = estate.env.now
    for name, host in estate.hosts.items():
        attested = estate.ta.status_of(name, now) == "attested"
        assert attested == host.has_valid_report, name


def test_routine_gaps_when_reports_expire_before_renewal() -> None:
    """Lifetime 8 min, period 10 min + 55.6 ms: each period leaves a gap of
    2 min + 55.6 ms between expiry and the next report, a fraction 120.0556 / 600.0556 of
    the up time; the summary warns about it."""
    out = _run({"duration": "3h", "attestation": {"report_lifetime": "8m"}})
    gaps = out.summary["drift"]["routine_gaps"]
    period = 600 + TO_VERDICT + 0.005
    assert gaps["fraction"] == pytest.approx((period - 480) / period, rel=0.02)
    assert gaps["longest_s"] == pytest.approx(period - 480, abs=1e-3)
    assert any("report_lifetime" in w for w in out.summary["warnings"])


def test_no_warning_when_reports_outlive_the_period() -> None:
    """Lifetime longer than interval + jitter: no routine gaps but reboots', no warning."""
    out = _run({"duration": "1h"})
    assert out.summary["warnings"] == []
    assert out.summary["drift"]["routine_gaps"]["count"] == 0


def test_the_levels_table_covers_the_last_period(tmp_path: Path) -> None:
    """A run of 50 min sampled every 15 min has level rows at 15, 30, 45 and 50 min."""
    out = _run({"duration": "50m", "metrics": {"sample_interval": "15m"}})
    times = sorted({r["time"] for r in out.tables["levels"]})
    assert times == [900.0, 1800.0, 2700.0, 3000.0]


def test_safety_violations_before_the_warmup_are_not_counted() -> None:
    """The safety figure follows the warm-up like every other figure."""
    from sim.analysis.recorder import Recorder
    from sim.analysis.summary import summarise

    rec = Recorder()
    rec.key_released("h", 10.0)  # no report: a violation at 10 s
    rec.key_released("h", 500.0)  # and at 500 s
    assert summarise(rec, 1000.0, 0.0)["safety"]["violations"] == 2
    assert summarise(rec, 1000.0, 100.0)["safety"]["violations"] == 1
