"""Drift detection in a whole estate, checked against results derived by hand.

The estates here are deliberately cheap and nearly deterministic: one workload vCenter, one
small cluster, no jitter, fixed tiny latencies (LAN hop 0.1 ms, TPM signing 50 ms, fixed
service times of a few ms), so every attestation takes the same verdict latency ``RTT`` and
the only randomness left is the agent's boot phase and, where wanted, the drift instant.

Derivations used below (``T`` the re-attestation interval, ``L`` one attestation's latency,
``P`` the vCenter's status poll interval):

- A runtime-measured drift at a moment uniform relative to the attestation schedule is seen
  by the next periodic attestation, which starts ``W ~ Uniform(0, T + L)`` later and yields
  its failed verdict ``RTT`` after starting. With a report lifetime much longer than ``T``
  the failed verdict is the lapse, so ``time_to_lapse = W + RTT``: mean ``T/2 + RTT`` (the
  ``L/2`` of a few ms is negligible), standard deviation ``T/sqrt(12)``.
- The vCenter polls every ``P`` (plus a poll's round trip of about 1.4 ms), so it learns the
  lapse between 0 and ``P + eps`` after it.
- A boot-measured change waits for the next reboot; the boot attestation then fails exactly
  ``reboot duration + RTT`` after the reboot starts.
- With ``revocation: none`` the host keeps its last good report until it expires, and the Key
  Provider Service honours it; with ``push`` the failed verdict revokes it at that instant.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from sim.runner import RunOutput, simulate
from sim.scenario import parse_scenario
from tests.designed import merge

LAN = 0.0001
HOST_TO_VTA = 2 * LAN  # host -> site switch -> trust-authority node
T = 600.0
POLL = 90.0
N_REPLICATIONS = 40

BASE: dict[str, Any] = {
    "name": "drift-behaviour",
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
        {
            "name": "vc-a",
            "status_source": "trust_authority_poll",
            "status_poll_interval": "90s",
            "clusters": [{"name": "gold", "hosts": 3}],
        }
    ],
    "vms": {"count": 0},
    "workload": {"power_on_rate": 0, "migration_rate": 0},
    "reboots": {"duration": "4m"},
    # These estates study detection by periodic re-attestation: the source article's reading
    # (runtime measurement) and the trust authority polled by the vCenter.
    "drift": {"measured_at": {"unapproved_vib": "runtime", "driver_change": "runtime"}},
}


def _run(over: dict[str, Any], seed: int = 1) -> RunOutput:
    return simulate(parse_scenario(merge(BASE, over)), seed=seed)


def _rtt(out: RunOutput) -> float:
    """The verdict latency shared by every successful attestation of a run."""
    lat = [a["verdict_latency_s"] for a in out.tables["attestations"] if a["ok"]]
    assert lat and max(lat) - min(lat) < 1e-9, "latencies are meant to be deterministic"
    return float(lat[0])


def _only_drift(out: RunOutput) -> dict[str, Any]:
    rows = out.tables["drift_events"]
    assert len(rows) == 1
    row: dict[str, Any] = rows[0]
    return row


def _attestations(out: RunOutput, host: str) -> list[dict[str, Any]]:
    return [a for a in out.tables["attestations"] if a["host"] == host]


def _release_time(k: dict[str, Any]) -> float:
    """When the KPS handed the key out: the answer reaches the host one hop-pair later."""
    return float(k["time"] + k["latency_s"] - HOST_TO_VTA)


# --------------------------------------------------------------------------- (a) and (e)


@cache
def _replications() -> tuple[tuple[RunOutput, ...], tuple[float, ...]]:
    """N runs, each with its own seed and a drift instant uniform in [T, 2T]."""
    draw = np.random.default_rng(20240501)
    instants = tuple(float(x) for x in draw.uniform(T, 2 * T, N_REPLICATIONS))
    outs = tuple(
        _run(
            {
                "duration": f"{int(3 * T + 120)}s",
                "drift": {
                    "scheduled": [{"at": f"{at}s", "host": "esx-02", "kind": "unapproved_vib"}]
                },
            },
            seed=100 + i,
        )
        for i, at in enumerate(instants)
    )
    return outs, instants


@pytest.mark.slow
def test_runtime_drift_lapses_after_half_an_interval_on_average() -> None:
    """Mean time to lapse of a runtime VIB drift is within the 99% CI of T/2 + RTT."""
    outs, instants = _replications()
    rtt = _rtt(outs[0])
    lapses = []
    for out, at in zip(outs, instants, strict=True):
        assert _rtt(out) == pytest.approx(rtt, abs=1e-9)
        d = _only_drift(out)
        assert d["at"] == pytest.approx(at) and d["effective_at"] == d["at"]
        assert d["key_refusal_at"] is None, "the report outlives the run; lapse is the verdict"
        assert d["lapse_at"] == d["detected_at"]
        failed = [a for a in _attestations(out, "esx-02") if a["ok"] is False]
        assert failed[0]["verdict_at"] == d["detected_at"]
        assert "attestation.image.vib_not_approved" in failed[0]["reasons"].split()
        assert failed[0]["requested_at"] > at
        lapses.append(d["time_to_lapse_s"])
    x = np.asarray(lapses)
    latency = max(a["latency_s"] for a in _attestations(outs[0], "esx-02"))
    assert (x >= rtt).all() and (x <= T + latency + rtt).all()
    half = sps.norm.ppf(0.995) * (T / math.sqrt(12)) / math.sqrt(N_REPLICATIONS)
    assert abs(x.mean() - (T / 2 + rtt)) <= half, f"mean {x.mean():.1f}s, expected {T / 2:.1f}s"
    assert sps.kstest(x - rtt, sps.uniform(0, T).cdf).pvalue > 0.01


def test_vcenter_view_lags_lapse_by_at_most_one_poll() -> None:
    """The vCenter sees notAttested between 0 and one poll interval (+ its RTT) after lapse."""
    outs, _ = _replications()
    lags = []
    for out in outs:
        d = _only_drift(out)
        lag = d["vcenter_refusal_at"] - d["lapse_at"]
        assert 0.0 <= lag <= POLL + 0.01
        views = [
            v
            for v in out.tables["status_views"]
            if v["host"] == "esx-02" and v["time"] == d["vcenter_refusal_at"]
        ]
        assert [v["status"] for v in views] == ["notAttested"]
        assert d["time_to_refusal_s"] == pytest.approx(d["time_to_vcenter_refusal_s"])
        lags.append(lag)
    half = sps.norm.ppf(0.995) * (POLL / math.sqrt(12)) / math.sqrt(N_REPLICATIONS)
    assert abs(float(np.mean(lags)) - POLL / 2) <= half


# --------------------------------------------------------------------------- (b)


def _boot_drift(reboot: bool) -> RunOutput:
    over: dict[str, Any] = {
        "duration": "1h",
        "drift": {"scheduled": [{"at": "15m", "host": "esx-01", "kind": "esxi_build_change"}]},
    }
    if reboot:
        over["reboots"] = {"duration": "4m", "scheduled": [{"at": "40m", "host": "esx-01"}]}
    return _run(over, seed=7)


def test_boot_measured_drift_waits_for_the_next_reboot() -> None:
    """A boot-measured build change passes attestation until the reboot, then fails at once."""
    out = _boot_drift(reboot=True)
    d, rtt = _only_drift(out), _rtt(out)
    assert d["measured"] == "boot"
    between = [a for a in _attestations(out, "esx-01") if 900 <= a["requested_at"] < 2400]
    assert len(between) >= 2 and all(a["ok"] for a in between)
    assert d["effective_at"] == pytest.approx(2400 + 240)
    assert d["detected_at"] == pytest.approx(2400 + 240 + rtt, abs=1e-6)
    # Going down for the reboot the host loses the report it held: that is the lapse.
    assert d["lapse_at"] == pytest.approx(2400) and d["key_refusal_at"] == pytest.approx(2400)
    boot = next(a for a in _attestations(out, "esx-01") if a["requested_at"] >= 2400)
    assert boot["trigger"] == "boot" and boot["ok"] is False
    assert "attestation.image.build_not_approved" in boot["reasons"].split()


def test_boot_measured_drift_without_reboot_stays_censored() -> None:
    """Without a reboot a boot-measured change is never detected: the drift stays censored."""
    out = _boot_drift(reboot=False)
    d = _only_drift(out)
    assert d["effective_at"] is None and d["detected_at"] is None and d["lapse_at"] is None
    assert d["time_to_lapse_s"] is None
    assert all(a["ok"] for a in _attestations(out, "esx-01"))
    assert out.summary["drift"]["censored"] == 1 and out.summary["drift"]["lapsed"] == 0


def test_key_refusal_is_not_later_than_an_actual_kps_refusal() -> None:
    """Once the KPS has refused the drifted host a key, the drift row shows key refusal."""
    out = _run(
        {
            "duration": "1h",
            "vcenters": [
                {
                    "name": "vc-a",
                    "status_source": "trust_authority_poll",
                    "status_poll_interval": "20m",
                    "clusters": [{"name": "gold", "hosts": 1}],
                }
            ],
            "vms": {
                "count": 20,
                "initially_running": 0,
                "memory": ["4GiB"],
                "encryption": {"none": 0, "storage_policy": 0, "vtpm": 1},
            },
            "workload": {
                "power_on_rate": "360 per_hour",
                "lifetime": {"dist": "exponential", "mean": "2m"},
            },
            "drift": {"scheduled": [{"at": "15m", "host": "esx-01", "kind": "esxi_build_change"}]},
            "reboots": {"duration": "4m", "scheduled": [{"at": "40m", "host": "esx-01"}]},
        },
        seed=7,
    )
    d = _only_drift(out)
    refused = [
        k["time"]
        for k in out.tables["key_requests"]
        if k["outcome"] == "refused" and k["reason"].startswith("report.") and k["time"] >= d["at"]
    ]
    assert refused, "the scenario is meant to provoke KPS refusals after the reboot"
    assert d["key_refusal_at"] is not None
    assert d["at"] <= d["key_refusal_at"] <= min(refused)
    assert d["time_to_refusal_s"] is not None


# --------------------------------------------------------------------------- (c)


def _exposure_run(revocation: str) -> RunOutput:
    return _run(
        {
            "duration": "2h",
            "attestation": {"interval": "5m", "report_lifetime": "1h", "revocation": revocation},
            "vcenters": [
                {
                    "name": "vc-a",
                    "status_source": "trust_authority_poll",
                    "status_poll_interval": "20m",
                    "clusters": [{"name": "gold", "hosts": 1}],
                }
            ],
            # Many VMs, so that power-ons keep needing keys the host does not hold yet.
            "vms": {
                "count": 1000,
                "initially_running": 0,
                "memory": ["4GiB"],
                "encryption": {"none": 0, "storage_policy": 0, "vtpm": 1},
            },
            "workload": {
                "power_on_rate": "360 per_hour",
                "lifetime": {"dist": "exponential", "mean": "2m"},
            },
            "drift": {"scheduled": [{"at": "30m", "host": "esx-01", "kind": "unapproved_vib"}]},
        },
        seed=3,
    )


def _released(out: RunOutput) -> list[float]:
    return [
        _release_time(k)
        for k in out.tables["key_requests"]
        if k["host"] == "esx-01" and k["outcome"] == "released"
    ]


def test_without_revocation_keys_flow_until_the_report_expires() -> None:
    """revocation none: keys still reach the drifted host after its failed attestation."""
    out = _exposure_run("none")
    d = _only_drift(out)
    detected, refusal = d["detected_at"], d["key_refusal_at"]
    assert detected is not None and refusal is not None and refusal > detected
    last_good = max(r["issued_at"] for r in out.tables["reports"] if r["issued_at"] < detected)
    assert refusal == pytest.approx(last_good + 3600)
    released = _released(out)
    assert d["keys_released"] > 0
    assert any(detected < t < refusal for t in released)
    assert not any(t >= refusal for t in released)
    assert all(r["revoked_at"] is None for r in out.tables["reports"])
    assert out.summary["safety"]["violations"] == 0


def test_push_revocation_stops_keys_at_the_failed_verdict() -> None:
    """revocation push: key refusal coincides with detection and no key is released after."""
    out = _exposure_run("push")
    d = _only_drift(out)
    detected = d["detected_at"]
    assert detected is not None and d["key_refusal_at"] == detected
    released = _released(out)
    assert released and max(released) < detected
    after = [
        k
        for k in out.tables["key_requests"]
        if k["time"] >= detected and k["outcome"] != "host_cache"
    ]
    assert after and all(
        k["outcome"] == "refused" and k["reason"] == "report.revoked" for k in after
    )
    live = [
        r for r in out.tables["reports"] if r["expires_at"] > detected and r["issued_at"] < detected
    ]
    assert live and all(r["revoked_at"] == detected for r in live)
    assert d["first_refused_at"] is not None and d["first_refused_at"] >= detected
    assert out.summary["safety"]["violations"] == 0


def test_push_revocation_shrinks_exposure() -> None:
    """The same drift exposes fewer keys with push revocation than without."""
    none, push = _only_drift(_exposure_run("none")), _only_drift(_exposure_run("push"))
    assert none["detected_at"] == push["detected_at"]
    assert push["keys_released"] < none["keys_released"]
    assert push["time_to_key_refusal_s"] < none["time_to_key_refusal_s"]


# --------------------------------------------------------------------------- (d)


@pytest.mark.parametrize("mode", ["require_endorsement_keys", "require_certificate_validation"])
def test_swapped_tpm_fails_attestation_after_reboot(mode: str) -> None:
    """A TPM swapped in (applied at the next boot) is caught as an EK not bound to the host
    (the TPM bound to its server, as the source article has it)."""
    out = _run(
        {
            "duration": "40m",
            "trust_authority": {
                "require_endorsement_keys": mode == "require_endorsement_keys",
                "require_certificate_validation": mode == "require_certificate_validation",
                "bind_tpm_to_server": True,
            },
            "hosts": {"secure_configuration": "none"},  # boots at once on the new TPM
            "drift": {"scheduled": [{"at": "5m", "host": "esx-03", "kind": "tpm_swap"}]},
            "reboots": {"scheduled": [{"at": "20m", "host": "esx-03"}]},
        },
        seed=5,
    )
    d = _only_drift(out)
    assert d["measured"] == "boot" and d["effective_at"] == pytest.approx(1200 + 240)
    atts = _attestations(out, "esx-03")
    assert all(a["ok"] for a in atts if a["requested_at"] < 1200)
    after = [a for a in atts if a["requested_at"] >= 1200]
    assert after and all(a["ok"] is False for a in after)
    reasons = after[0]["reasons"].split()
    assert "attestation.identity.ek_not_bound" in reasons
    # With imported EKs the new EK is also unknown; with EK certificates it chains fine
    # (same manufacturer) and only the binding to this server rejects it.
    assert ("attestation.identity.ek_untrusted" in reasons) == (mode == "require_endorsement_keys")
    assert d["detected_at"] == pytest.approx(1200 + 240 + _rtt(out), abs=1e-6)
    assert d["lapse_at"] == pytest.approx(1200)  # down for the reboot: no report held
    assert out.summary["safety"]["violations"] == 0
