"""Operating the estate over time, against figures derived by hand: onboarding, rolling
upgrades, vSphere HA, repairs, rotations and network partitions.

Deterministic estates: LAN hop 0.1 ms, TPM 50 ms, attestation 5 ms, KPS 2 ms, status
reports reach the vCenter 1 s after an attestation; an attestation's verdict comes
RTT = 0.6 ms + 50 ms + 5 ms after it starts and the host holds it 0.2 ms later.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from sim.runner import RunOutput, simulate
from sim.scenario import load_scenario, parse_scenario
from tests.conftest import ROOT
from tests.designed import merge

RTT = 0.0006 + 0.05 + 0.005
HOP = 0.0002
PROPAGATION = 1.0

BASE: dict[str, Any] = {
    "name": "operations",
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
                  "clusters": [{"name": "c", "hosts": 6}]}],
    "vms": {"count": 0},
    "workload": {"power_on_rate": 0, "migration_rate": 0},
    "reboots": {"duration": "4m"},
}  # fmt: skip


def _run(over: dict[str, Any], seed: int = 1) -> RunOutput:
    return simulate(parse_scenario(merge(BASE, over)), seed=seed)


def _steps(*names_at: tuple[str, str]) -> list[dict[str, str]]:
    return [{"step": name, "at": at} for name, at in names_at]


ORDERED = _steps(
    ("enable_trust_authority", "10m"),
    ("import_workload_principal", "20m"),
    ("import_host_identities", "30m"),
    ("import_base_images", "40m"),
    ("configure_key_provider", "50m"),
    ("register_trusted_cluster", "1h"),
)


# --------------------------------------------------------------------------- 1. onboarding


def test_onboarding_in_order_gives_capacity_at_the_cluster_registration() -> None:
    """All six steps in VMware's order; the hosts attest when their cluster is registered
    at 1 h, so the vCenter sees the first (and, with no queueing, every) host attested at
    3600 s + RTT + hop back + 1 s."""
    out = _run({"duration": "2h", "setup": ORDERED})
    setup = out.summary["operations"]["setup"]
    assert setup["steps_done"] == 6 and setup["steps_failed"] == 0
    expected = 3600 + RTT + HOP + PROPAGATION
    assert setup["time_to_first_trusted_capacity_s"] == pytest.approx(expected, abs=1e-6)
    assert setup["time_to_full_capacity_s"] == pytest.approx(expected, abs=1e-6)
    assert min(a["requested_at"] for a in out.tables["attestations"]) == pytest.approx(3600)


def test_a_step_out_of_order_fails_with_the_reason_the_system_gives() -> None:
    """Registering the cluster before importing the vCenter's principal fails
    (setup.principal_not_imported) and changes nothing: no host ever attests."""
    steps = _steps(("enable_trust_authority", "10m"), ("register_trusted_cluster", "20m"),
                   ("import_workload_principal", "30m"))  # fmt: skip
    out = _run({"duration": "1h", "setup": steps})
    failed = [o for o in out.tables["operations"] if o["outcome"] == "failed"]
    assert [(o["target"], o["reason"]) for o in failed] == [
        ("register_trusted_cluster", "setup.principal_not_imported")
    ]
    assert out.tables["attestations"] == []
    assert out.summary["operations"]["setup"]["time_to_first_trusted_capacity_s"] is None


def test_hosts_pass_only_once_every_step_they_depend_on_is_done() -> None:
    """Registered before host identities and base images are imported, the hosts fail
    (EK untrusted, image not approved) until both are in; they pass from the next
    attestation after the last import."""
    steps = _steps(("enable_trust_authority", "1m"), ("import_workload_principal", "2m"),
                   ("configure_key_provider", "3m"), ("register_trusted_cluster", "5m"),
                   ("import_host_identities", "20m"), ("import_base_images", "30m"))  # fmt: skip
    out = _run({"duration": "1h", "setup": steps})
    verdicts = out.tables["verdicts"]
    early = [v for v in verdicts if v["verdict_at"] < 1200]
    assert early and all(v["outcome"] == "fail" for v in early)
    reasons = set(early[0]["reasons"].split())
    assert {"attestation.identity.ek_untrusted", "attestation.image.not_approved"} <= reasons
    assert all(v["outcome"] == "pass" for v in verdicts if v["verdict_at"] > 1800)
    first_pass = min(v["verdict_at"] for v in verdicts if v["outcome"] == "pass")
    assert first_pass > 1800


# --------------------------------------------------------------------------- 2. upgrades


def _upgrade(import_at: str) -> RunOutput:
    return _run({
        "duration": "5h",
        "trust_authority": {"base_images": [{"name": "next", "build": 22380480,
                                             "import_at": import_at}]},
        "upgrades": [{"at": "1h", "cluster": "c", "to_image": "next", "batch": 2,
                      "per_host": "20m"}],
        "metrics": {"sample_interval": "1m"},
    })  # fmt: skip


def test_importing_the_image_first_gives_no_failed_attestation() -> None:
    """Imported at 30 min, upgrade from 1 h: no upgraded host fails; attested capacity
    dips by the batch (2 of 6 hosts) during each of the three 20-minute steps. With no VMs
    to evacuate, the next batch goes down the instant the previous one boots, which is seen
    attested one attestation and status report (``back``) later: 2 hosts for ``back`` at
    1 h 20 and 1 h 40 (the true minimum, which 1-minute samples miss), below 6 from 1 h to
    2 h + ``back``."""
    out = _upgrade("30m")
    ops = out.summary["operations"]["upgrades"]
    assert ops["hosts_upgraded"] == 6 and ops["failed_attestations"] == 0
    back = RTT + HOP + PROPAGATION
    hosts = out.summary["capacity"]["attested_hosts"]
    assert out.summary["capacity"]["sampled"]["attested_hosts"]["min"] == 4
    assert hosts["min"] == 2 and hosts["min_at_s"] == pytest.approx(4800.0)
    assert hosts["min_duration_s"] == pytest.approx(2 * back, abs=1e-6)
    assert hosts["below_threshold_s"] == pytest.approx(3600 + back, abs=1e-6)
    assert hosts["time_at_level_s"]["4"] == pytest.approx(3600 - back, abs=1e-6)


def test_importing_the_image_late_fails_exactly_the_hosts_booted_before_it() -> None:
    """Imported at 1 h 50 min: the two batches that booted before (at 1 h 20 and 1 h 40)
    fail with image reasons until the import; the third batch (2 h) does not."""
    out = _upgrade("110m")
    ups = [o for o in out.tables["operations"] if o["operation"] == "upgrade"]
    booted = {o["target"]: o["time"] for o in ups if o["event"] == "host_up"}
    before = {h for h, t in booted.items() if t < 6600}
    failing = {
        v["host"] for v in out.tables["verdicts"]
        if v["outcome"] == "fail" and "attestation.image." in v["reasons"]
    }  # fmt: skip
    assert len(before) == 4 and failing == before


# --------------------------------------------------------------------------- 3. HA


def test_a_host_crash_makes_a_key_burst_of_encrypted_vms_minus_cache_hits() -> None:
    """ha-burst.yaml: every VM of the crashed host restarts 30 s later at once; the KPS
    burst is the encrypted ones whose new host does not hold the key already, and with one
    2x service-free... worker per node (service 20 ms) the deepest queue is the batch
    spread round-robin over 3 nodes: ceil(B / 3) - 1."""
    out = simulate(load_scenario(ROOT / "scenarios" / "ha-burst.yaml"))
    crashed = [r for r in out.tables["ha_restarts"]]
    crash_at = crashed[0]["crashed_at"]
    restart_at = crash_at + 30
    near = [k for k in out.tables["key_requests"] if restart_at <= k["time"] < restart_at + 1]
    encrypted = sum(1 for r in crashed if r["needs_key"])
    hits = sum(1 for k in near if k["outcome"] == "host_cache")
    burst = sum(1 for k in near if k["outcome"] != "host_cache")
    assert burst == encrypted - hits and burst > 10
    assert all(r["outcome"] == "restarted" for r in crashed)
    assert out.summary["services"]["key_provider_service"]["max_queue"] == math.ceil(burst / 3) - 1
    assert out.summary["operations"]["ha"]["latency_s"]["p50"] == pytest.approx(30, abs=0.5)


# --------------------------------------------------------------------------- 4. repairs


@pytest.mark.parametrize("mode,recovery", [("none", 0.0), ("tpm", 3600.0)])
def test_a_tpm_repair_restores_capacity_after_registration_and_the_next_attestation(
    mode: str, recovery: float
) -> None:
    """A TPM replaced in esx-02 at 1 h (down 1 h, no VMs to move). Not in TPM mode: the boot
    attestation at 2 h fails (new EK untrusted); the administrator registers the EK 30 min
    later; the third attestation after the boot passes: restore = 3600 + 3 (600 + RTT +
    hop) + RTT + hop + 1 s. In TPM mode the host cannot boot at 2 h: it stays down for the
    configuration's recovery (default 1 h), so everything after comes 3600 s later."""
    out = _run({
        "duration": "5h",
        "trust_authority": {"require_endorsement_keys": True},
        "admin": {"ek_registration_delay": "30m"},
        "hosts": {"secure_configuration": mode},
        "repairs": [{"at": "1h", "host": "esx-02", "part": "tpm", "duration": "1h"}],
    })  # fmt: skip
    restore = out.summary["operations"]["repairs"]["time_to_restore_s"]
    expected = 3600 + recovery + 3 * (600 + RTT + HOP) + RTT + HOP + PROPAGATION
    assert restore["count"] == 1 and restore["mean"] == pytest.approx(expected, abs=1e-6)
    events = [(e["time"], e["event"]) for e in out.tables["host_events"] if e["host"] == "esx-02"]
    recovering = [(7200.0, "config_recovery")] if mode == "tpm" else []
    assert events == [(0, "up"), (3600.0, "down"), *recovering, (7200.0 + recovery, "up")]


def test_a_new_motherboard_with_binding_fails_until_registered() -> None:
    """A motherboard (server and TPM) replaced: the bound record names another server and
    EK; after the administrator's registration the host passes."""
    out = _run({
        "duration": "4h",
        "admin": {"ek_registration_delay": "10m"},
        "repairs": [{"at": "1h", "host": "esx-01", "part": "motherboard", "duration": "30m"}],
    })  # fmt: skip
    fails = [v for v in out.tables["verdicts"] if v["host"] == "esx-01" and v["outcome"] == "fail"]
    assert fails and "attestation.identity.platform_mismatch" in fails[0]["reasons"].split()
    assert len(out.tables["identity_events"]) == 1
    assert out.summary["operations"]["repairs"]["time_to_restore_s"]["count"] == 1


# --------------------------------------------------------------------------- 5. rotations


def _rotation(overlap: str) -> RunOutput:
    return _run({
        "duration": "3h",
        "attestation": {"report_lifetime": "15m", "interval": "10m"},
        "vms": {"count": 300, "initially_running": 0, "memory": ["4GiB"],
                "encryption": {"none": 0, "storage_policy": 0, "vtpm": 1}},
        "workload": {"power_on_rate": "600 per_hour", "lifetime": {"dist": "fixed", "value": "5m"}},
        "rotations": [{"at": "1h", "what": "attestation_signing_key", "overlap": overlap}],
    })  # fmt: skip


@pytest.mark.slow
def test_an_overlap_longer_than_the_report_lifetime_refuses_nothing() -> None:
    """Overlap 20 min > lifetime 15 min: every old report expired before its issuer left."""
    out = _rotation("20m")
    assert out.summary["operations"]["rotations"]["refused_unknown_issuer"] == 0


@pytest.mark.slow
def test_no_overlap_refuses_each_host_once_until_it_attests_again() -> None:
    """Overlap 0: a host's first key request after the rotation, made before its next
    attestation, is refused (report.unknown_issuer); the host drops the report and attests
    on demand, so each such host is refused exactly once."""
    out = _rotation("0s")
    kps = [k for k in out.tables["key_requests"] if k["outcome"] != "host_cache"]
    expected = 0
    for host in {k["host"] for k in kps}:
        first = min((k["time"] for k in kps if k["host"] == host and k["time"] >= 3600),
                    default=None)  # fmt: skip
        renewed = min(r["delivered_at"] for r in out.tables["reports"]
                      if r["host"] == host and r["delivered_at"] is not None
                      and r["delivered_at"] >= 3600)  # fmt: skip
        if first is not None and first < renewed:
            expected += 1
    refused = out.summary["operations"]["rotations"]["refused_unknown_issuer"]
    assert refused == expected > 0


# --------------------------------------------------------------------------- 6. partitions


def test_a_cut_link_leaves_the_far_site_unattested_and_unknown() -> None:
    """Cluster ``far`` in dc2, its vCenter and the trust authority in dc1, one WAN link:
    cut for 30 min at 1 h, the vCenter sees the far hosts unknown at once and their
    attestations fail as attestation.unavailable; after the link is back their next
    attestation (and report) makes them attested again. The near cluster is untouched."""
    out = _run({
        "duration": "3h",
        "network": {"sites": [{"name": "dc1"}, {"name": "dc2"}],
                    "links": [{"a": "dc1", "b": "dc2", "latency": "5ms"}],
                    "outages": [{"link": ["dc1", "dc2"], "at": "1h", "duration": "30m"}]},
        "vcenters": [{"name": "vc-a", "status_propagation": "1s", "clusters": [
            {"name": "near", "hosts": 2}, {"name": "far", "hosts": 2, "site": "dc2"}]}],
    })  # fmt: skip
    far, near = {"esx-03", "esx-04"}, {"esx-01", "esx-02"}
    views = [v for v in out.tables["status_views"] if v["time"] >= 3600]
    assert {(v["host"], v["status"]) for v in views if v["time"] == 3600} == {
        (h, "unknown") for h in far
    }
    assert not any(v["host"] in near for v in views)
    during = [
        a
        for a in out.tables["attestations"]
        if a["host"] in far and 3600 < a["requested_at"] < 5300
    ]
    assert during and all(a["reasons"] == "attestation.unavailable" for a in during)
    back = [v for v in views if v["host"] in far and v["time"] > 5400]
    assert {v["host"] for v in back if v["status"] == "attested"} == far
