"""The trusted key provider, the host key cache, key persistence and KMS faults, against
figures derived by hand.

Deterministic estates: LAN hop 0.1 ms, fixed service times (KPS 2 ms, KMS 3 ms), TPM 50 ms,
no jitter. A key release that needs the KMS pays host -> node (0.2 ms), the KPS (2 ms), node
-> KMS (0.2 ms), the KMS (3 ms), back (0.2 ms) and node -> host (0.2 ms).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from sim.build import build
from sim.domain.key_hierarchy import WrappedKek, unwrap_kek
from sim.runner import RunOutput, simulate
from sim.scenario import parse_scenario
from tests.designed import merge

BASE: dict[str, Any] = {
    "name": "keys",
    "network": {"lan_latency": "0.1ms"},
    "trust_authority": {
        "attestation_service": {"workers": 8, "service_time": "5ms"},
        "key_provider_service": {"workers": 8, "service_time": "2ms"},
        "status_service_time": "1ms",
    },
    "kms": {"service_time": "3ms", "workers": 16},
    "attestation": {"interval": "10m", "jitter": "0s", "report_lifetime": "2h",
                    "tpm_sign_time": "50ms"},
    "vcenters": [{"name": "vc-a", "clusters": [{"name": "c", "hosts": 4}]}],
    "vms": {"count": 200, "initially_running": 0, "memory": ["4GiB"],
            "encryption": {"none": 0, "storage_policy": 0, "vtpm": 1}},
    "workload": {"power_on_rate": "600 per_hour", "migration_rate": 0,
                 "lifetime": {"dist": "exponential", "mean": "5m"}},
}  # fmt: skip


def _run(over: dict[str, Any], seed: int = 1) -> RunOutput:
    return simulate(parse_scenario(merge(BASE, over)), seed=seed)


def _kps(out: RunOutput) -> list[dict[str, Any]]:
    return [k for k in out.tables["key_requests"] if k["outcome"] != "host_cache"]


# --------------------------------------------------------------------------- 1. primary key


def test_kek_is_wrapped_with_the_primary_key_on_the_kms() -> None:
    """Each encrypted VM carries a 40-byte RFC 3394 wrapped KEK that only its provider's
    primary key (held on the KMS) unwraps; the KMS holds no per-VM key."""
    estate = build(parse_scenario(merge(BASE, {"vms": {"count": 5}})), seed=2)
    providers = estate.ta.providers
    primary = providers.primary_key("tkp")
    wrapped = [vm.wrapped_kek for vm in estate.pool.vms]
    assert all(isinstance(w, WrappedKek) and len(w.wrapped) == 40 for w in wrapped)
    keks = [unwrap_kek(primary, w.wrapped) for w in wrapped if w is not None]
    assert all(k is not None and len(k) == 32 for k in keks) and len(set(keks)) == 5
    assert unwrap_kek(bytes(32), wrapped[0].wrapped) is None  # type: ignore[union-attr]
    assert len(estate.kms["kms"].store.locate(estate.ta.nodes[0].kmip_client, "primary-key")
               .identifiers) == 1  # fmt: skip


@pytest.mark.parametrize("vms,rate", [(100, "300 per_hour"), (400, "1200 per_hour")])
def test_kms_gets_follow_nodes_and_ttl_not_vms_or_requests(vms: int, rate: str) -> None:
    """TTL 20 min over 2 h, 3 nodes, requests every few seconds: each node fetches the
    primary key once per 20-minute window it serves in, 3 x ceil(7200/1200) = 18 Gets,
    whatever the number of VMs and the request rate."""
    out = _run({
        "duration": "2h",
        "trust_authority": {"key_providers": [{"primary_key_cache_ttl": "20m"}]},
        "vms": {"count": vms}, "workload": {"power_on_rate": rate},
    })  # fmt: skip
    assert len(_kps(out)) > 200
    assert out.summary["key_providers"]["tkp"]["kms_gets"] == 3 * math.ceil(7200 / 1200)


def test_with_no_primary_key_cache_every_unwrap_asks_the_kms() -> None:
    """TTL 0: KMS Gets = unwraps (every key request that passed the report check)."""
    out = _run(
        {"duration": "1h", "trust_authority": {"key_providers": [{"primary_key_cache_ttl": 0}]}}
    )
    reached = [k for k in _kps(out) if k["cache_hit"] is not None]
    assert reached and out.summary["key_requests"]["kms_gets"] == len(reached)


def test_a_deactivated_primary_key_fails_unwraps_once_the_cached_copy_expires() -> None:
    """Deactivated at 30 min, TTL 10 min: releases go on from cached copies (at most 10
    min), then fail with the KMIP reason (Illegal Operation); a destroyed key gives Item Not
    Found."""
    for action, reason in (
        ("deactivate", "kms.illegal_operation"),
        ("destroy", "kms.item_not_found"),
    ):
        out = _run({
            "duration": "1h",
            "trust_authority": {"key_providers": [{
                "primary_key_cache_ttl": "10m",
                "primary_key_events": [{"at": "30m", "action": action}],
            }]},
        })  # fmt: skip
        kps = _kps(out)
        assert all(k["outcome"] == "released" for k in kps if k["time"] < 1800)
        late = [k for k in kps if k["time"] > 1800 + 600 + 1]
        assert late and all(k["outcome"] == "failed" and k["reason"] == reason for k in late)
        (event,) = out.tables["kms_events"]
        assert event["event"] == f"primary_key_{action}"


def test_vms_spread_over_key_providers_by_weight() -> None:
    """Two providers on two KMS clusters, weights 3:1: each provider's VMs unwrap with its
    own primary key and its own KMS answers its Gets."""
    out = _run({
        "duration": "1h",
        "kms_clusters": [{"name": "kms-b", "servers": 1, "service_time": "3ms"}],
        "trust_authority": {"key_providers": [
            {"name": "gold", "kms": "kms"}, {"name": "silver", "kms": "kms-b"}]},
        "vms": {"key_provider": {"gold": 3, "silver": 1}},
    })  # fmt: skip
    estate = out.estate
    share = np.mean([vm.wrapped_kek.provider == "gold" for vm in estate.pool.vms])
    assert share == pytest.approx(0.75, abs=0.08)
    providers = out.summary["key_providers"]
    assert providers["gold"]["released"] > 0 and providers["silver"]["released"] > 0
    assert providers["silver"]["kms_gets"] >= 1
    assert out.summary["services"]["kms"]["nodes"]["kms-b-0"]["utilisation"] > 0


# --------------------------------------------------------------------------- 2, 3. host cache


def test_a_host_holding_a_key_needs_no_kps_call() -> None:
    """Power-ons of VMs whose key the host already holds are host-cache hits: the first
    power-on of each VM on each host asks the KPS, later ones on that host do not."""
    out = _run({"duration": "2h", "vms": {"count": 20}})
    seen: set[tuple[str, str]] = set()
    for k in out.tables["key_requests"]:
        pair = (k["host"], k["vm"])
        assert (k["outcome"] == "host_cache") == (pair in seen)
        if k["outcome"] == "released":
            seen.add(pair)
    assert out.summary["key_requests"]["host_cache_hits"] > 0


def test_a_reboot_empties_the_key_cache_unless_keys_persist() -> None:
    """After a reboot at 1 h the host asks the KPS again for keys it held; with key
    persistence (no seal change) it asks for none of them."""
    over = {"duration": "3h", "vms": {"count": 20},
            "reboots": {"scheduled": [{"at": "1h", "host": "esx-01"}]}}  # fmt: skip
    for persistence in (False, True):
        out = _run(merge(over, {"hosts": {"key_persistence": persistence}}))
        before = {
            k["vm"]
            for k in out.tables["key_requests"]
            if k["host"] == "esx-01" and k["outcome"] == "released" and k["time"] < 3600
        }
        again = [k for k in _kps(out)
                 if k["host"] == "esx-01" and k["time"] > 3840 and k["vm"] in before]  # fmt: skip
        assert before
        assert (len(again) == 0) == persistence


def test_secure_boot_off_breaks_the_seal_of_persisted_keys() -> None:
    """With persistence, a reboot into Secure Boot off cannot unseal the keys: all dropped."""
    out = _run({
        "duration": "3h", "vms": {"count": 20}, "hosts": {"key_persistence": True},
        "drift": {"scheduled": [{"at": "1h", "host": "esx-01", "kind": "secure_boot_off",
                                 "reboot_after": "1m"}]},
    })  # fmt: skip
    drops = [
        e for e in out.tables["key_cache"] if e["host"] == "esx-01" and e["event"] == "dropped"
    ]
    assert drops and all(e["reason"] == "seal_mismatch" for e in drops)
    boot = min(e["time"] for e in out.tables["host_events"]
               if e["host"] == "esx-01" and e["event"] == "up" and e["time"] > 3600)  # fmt: skip
    assert all(e["time"] == boot for e in drops)


def test_keys_resident_counts_what_a_drifted_host_held() -> None:
    """The exposure counts the distinct keys the drifted host held in its window (already
    there or added), beyond the releases made in the window."""
    out = _run({
        "duration": "2h", "vms": {"count": 40},
        "drift": {"scheduled": [{"at": "1h", "host": "esx-02", "kind": "unapproved_vib",
                                 "remediate_after": "30m"}]},
    })  # fmt: skip
    (d,) = out.tables["drift_events"]
    events = [e for e in out.tables["key_cache"] if e["host"] == "esx-02"]
    held_at = {e["vm"] for e in events if e["event"] == "added" and e["time"] <= 3600}
    added_in = {e["vm"] for e in events if e["event"] == "added" and 3600 < e["time"] < 5400}
    assert d["keys_resident"] == len(held_at | added_in) > d["keys_released"]


# --------------------------------------------------------------------------- 4. KMS faults


def _kms_outage(ttl: str) -> RunOutput:
    return _run({
        "duration": "2h",
        "kms": {"connection_timeout": "30s",
                "outages": [{"server": 0, "at": "30m", "duration": "1h"}]},
        "trust_authority": {"key_providers": [{"primary_key_cache_ttl": ttl}]},
    })  # fmt: skip


def test_one_kms_server_down_makes_half_the_calls_pay_the_timeout() -> None:
    """2 servers, one down, no failure memory, TTL 0: calls alternate between the servers,
    so half of them wait the 30 s timeout: the lower half of key latencies is what it is
    without the outage (5.8 ms), p95 is 30 s + 5.8 ms; every release still succeeds."""
    out = _kms_outage("0s")
    during = [k for k in _kps(out) if 1800 <= k["time"] < 5400 and k["kms_get"]]
    paid = np.mean([k["kms_timeouts"] == 1 for k in during])
    assert paid == pytest.approx(0.5, abs=0.06)
    lat = np.array([k["latency_s"] for k in during])
    normal = 0.0002 + 0.002 + 0.0002 + 0.003 + 0.0002 + 0.0002
    assert np.percentile(lat, 40) == pytest.approx(normal, abs=1e-6)
    assert np.percentile(lat, 95) == pytest.approx(30.0 + normal, abs=1e-6)
    assert all(k["outcome"] == "released" for k in _kps(out))


def test_a_primary_key_ttl_longer_than_the_outage_hides_a_full_kms_outage() -> None:
    """Both servers down for 20 min while every node holds a fresh copy (TTL 1 h, fetched in
    the first minutes): no release fails; the provider is ERROR for exactly 20 min."""
    out = _run({
        "duration": "1h",
        "kms": {"outages": [{"server": s, "at": "10m", "duration": "20m"} for s in (0, 1)]},
        "trust_authority": {"key_providers": [{"primary_key_cache_ttl": "1h"}]},
    })  # fmt: skip
    assert out.summary["key_requests"]["failed"] == 0
    tkp = out.summary["key_providers"]["tkp"]
    assert tkp["seconds_error"] == pytest.approx(1200)
    assert tkp["seconds_ok"] == pytest.approx(3600 - 1200)
    states = [(r["time"], r["state"]) for r in out.tables["provider_health"]]
    assert states == [(0.0, "OK"), (600.0, "WARNING"), (600.0, "ERROR"), (1800.0, "WARNING"),
                      (1800.0, "OK")]  # fmt: skip


def test_health_is_warning_while_some_servers_answer() -> None:
    """One of two servers down for an hour: WARNING for 3600 s."""
    tkp = _kms_outage("1h").summary["key_providers"]["tkp"]
    assert tkp["seconds_warning"] == pytest.approx(3600)


# --------------------------------------------------------------------------- 5. TA outage


def test_a_full_trust_authority_outage_as_operators_see_it() -> None:
    """All nodes down from 30 min to 2 h 30 min with 1 h reports: new keys are refused or
    fail; hosts keep powering VMs on from their key caches where the vCenter still sees
    them attested; attested capacity falls to 0 once views leave attested."""
    out = _run({
        "duration": "3h", "vms": {"count": 20},
        "attestation": {"report_lifetime": "1h", "interval": "5m"},
        "trust_authority": {"outages": [{"node": n, "at": "30m", "duration": "2h"}
                                        for n in range(3)]},
    })  # fmt: skip
    during = [k for k in out.tables["key_requests"] if 1800 < k["time"] < 9000]
    assert not any(k["outcome"] == "released" for k in during)
    assert any(k["outcome"] == "host_cache" for k in during)
    capacity = out.tables["capacity"]
    before = [c["attested_hosts"] for c in capacity if c["time"] < 1800]
    late = [c["attested_hosts"] for c in capacity if 1800 + 3600 < c["time"] < 9000]
    assert min(before) == 4 and max(late) == 0
    assert out.summary["capacity"]["attested_hosts"]["min"] == 0


def test_keys_sealed_with_secure_boot_off_survive_turning_it_on() -> None:
    """The seal is one-way. Secure Boot not required, persistence on: esx-01 reboots into
    Secure Boot off at 1 h 1 min (every key it held was sealed with it on: all dropped,
    seal_mismatch), keeps attesting and obtains keys sealed with it off, then remediation at
    2 h 1 min reboots it with Secure Boot on: none of those keys is dropped, and a VM whose
    key it obtained with Secure Boot off powers on there again from its key cache."""
    out = _run({
        "duration": "4h", "vms": {"count": 20}, "hosts": {"key_persistence": True},
        "attestation": {"require_secure_boot": False},
        "drift": {"scheduled": [{"at": "1h", "host": "esx-01", "kind": "secure_boot_off",
                                 "reboot_after": "1m", "remediate_after": "61m"}]},
    })  # fmt: skip
    ups = sorted(e["time"] for e in out.tables["host_events"]
                 if e["host"] == "esx-01" and e["event"] == "up" and e["time"] > 3600)  # fmt: skip
    off_boot, on_boot = ups[0], ups[1]
    assert on_boot > 7260 > off_boot > 3660
    cache = [e for e in out.tables["key_cache"] if e["host"] == "esx-01"]
    held_on = {e["vm"] for e in cache if e["event"] == "added" and e["time"] < 3660}
    sealed_off = {e["vm"] for e in cache if e["event"] == "added" and off_boot <= e["time"] < 7260}
    drops = [e for e in cache if e["event"] == "dropped"]
    assert held_on and sealed_off
    assert {e["vm"] for e in drops if e["time"] == off_boot} == held_on  # on -> off: lost
    assert not [e for e in drops if e["time"] >= on_boot]  # off -> on: kept
    mine = [k for k in out.tables["key_requests"] if k["host"] == "esx-01"]
    later = [k for k in mine if k["time"] > on_boot and k["vm"] in sealed_off]
    assert later and all(k["outcome"] == "host_cache" for k in later)
