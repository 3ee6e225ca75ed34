"""KMS load from the Key Provider Services' primary-key caches, against figures derived by
hand: single flight for concurrent misses, the renewal estimate under sparse load, the
``nodes x ceil(duration / ttl)`` law as an upper bound, and what ``kms_gets`` counts.

Deterministic estates as in ``test_behaviour_keys``: LAN hop 0.1 ms, fixed service times
(KPS 2 ms, KMS 3 ms). A release whose node fetches the primary key pays host -> node
(0.2 ms), the KPS (2 ms), node -> KMS (0.2 ms), the KMS (3 ms), back (0.2 ms) and node ->
host (0.2 ms): 5.8 ms.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from sim.runner import RunOutput, simulate
from sim.scenario import parse_scenario
from tests.designed import merge
from tests.test_behaviour_keys import BASE

FETCHED = 0.0002 + 0.002 + 0.0002 + 0.003 + 0.0002 + 0.0002


def _run(over: dict[str, Any], seed: int = 1) -> RunOutput:
    return simulate(parse_scenario(merge(BASE, over)), seed=seed)


def _kps(out: RunOutput) -> list[dict[str, Any]]:
    return [k for k in out.tables["key_requests"] if k["outcome"] != "host_cache"]


def _burst(nodes: int) -> RunOutput:
    """esx-01 crashes at 30 min with its encrypted VMs; HA restarts every one of them 30 s
    later on the other hosts, which hold none of their keys. KPS workers outnumber the VMs,
    so every request passes the report check at the same instant and misses the node's
    cache at once (nothing asked for a key before: running VMs' keys are held by their
    hosts, and no VM powers on)."""
    return _run({
        "duration": "1h",
        "trust_authority": {"hosts": nodes, "key_provider_service": {"workers": 128},
                            "key_providers": [{"primary_key_cache_ttl": "10m"}]},
        "vms": {"count": 60, "initially_running": 1.0},
        "workload": {"power_on_rate": 0, "migration_rate": 0,
                     "lifetime": {"dist": "exponential", "mean": "1000h"}},
        "ha": {"restart_delay": "30s"},
        "reboots": {"scheduled": [{"at": "30m", "host": "esx-01", "kind": "crash"}]},
    })  # fmt: skip


@pytest.mark.parametrize("nodes", [1, 3])
def test_an_ha_burst_of_concurrent_misses_makes_one_get_per_node(nodes: int) -> None:
    """N restarts miss at once, round-robin over the nodes: each node sends one Get and its
    other misses wait for it (single flight), so Gets = nodes (formerly N); every key is
    released 5.8 ms after the restart asked, the waiters' too (they share the one answer)."""
    out = _burst(nodes)
    burst = [k for k in _kps(out) if k["time"] == pytest.approx(1830.0)]
    restarted = [r for r in out.tables["ha_restarts"] if r["needs_key"]]
    n = len(burst)
    assert n == len(restarted) and n >= 10  # each restart of an encrypted VM asked the KPS
    assert all(k["outcome"] == "released" for k in burst)
    assert sum(1 for k in burst if k["kms_get"]) == nodes
    assert out.summary["key_requests"]["kms_gets"] == nodes
    assert out.summary["key_requests"]["primary_key_waits"] == n - nodes
    assert out.summary["key_requests"]["cache_hit_ratio"] == 0.0  # all n lookups missed
    assert all(k["latency_s"] == pytest.approx(FETCHED, abs=1e-9) for k in burst)


def test_with_no_cache_concurrent_misses_each_send_a_get() -> None:
    """TTL 0 keeps no copy, so nothing is shared: each of the N misses sends its own Get."""
    out = _run({
        "duration": "1h",
        "trust_authority": {"hosts": 1, "key_provider_service": {"workers": 128},
                            "key_providers": [{"primary_key_cache_ttl": 0}]},
        "vms": {"count": 60, "initially_running": 1.0},
        "workload": {"power_on_rate": 0, "migration_rate": 0,
                     "lifetime": {"dist": "exponential", "mean": "1000h"}},
        "ha": {"restart_delay": "30s"},
        "reboots": {"scheduled": [{"at": "30m", "host": "esx-01", "kind": "crash"}]},
    })  # fmt: skip
    burst = _kps(out)
    assert len(burst) >= 10
    assert out.summary["key_requests"]["kms_gets"] == len(burst)
    assert out.summary["key_requests"]["primary_key_waits"] == 0


def _sparse(rate_per_hour: int) -> tuple[RunOutput, float, float]:
    """One node, TTL 10 min, 40 h of Poisson power-ons of distinct VMs (few repeat on a
    host that still holds the key): the node's primary-key lookups are close to Poisson."""
    duration, ttl = 40 * 3600.0, 600.0
    out = _run({
        "duration": "40h",
        "trust_authority": {"hosts": 1, "key_providers": [{"primary_key_cache_ttl": "10m"}]},
        "vms": {"count": 3000, "initially_running": 0},
        "workload": {"power_on_rate": f"{rate_per_hour} per_hour", "migration_rate": 0,
                     "lifetime": {"dist": "exponential", "mean": "5m"}},
    })  # fmt: skip
    return out, duration, ttl


@pytest.mark.slow
@pytest.mark.parametrize("rate_per_hour", [6, 60])
def test_sparse_load_follows_the_renewal_estimate_below_the_law(rate_per_hour: int) -> None:
    """Renewal: after each Get the copy lasts the TTL, then the next lookup comes after an
    exponential wait of mean 1/lam, so a cycle has mean mu = ttl + 1/lam and variance
    1/lam^2, and over D the Gets are D / mu with standard deviation sqrt(D var / mu^3).
    6 per hour (1/lam = 600 s): 144000 / 1200 = 120 +- 5.5; 60 per hour (1/lam = 60 s):
    144000 / 660 = 218.2 +- 1.3. lam is taken from the run (its lookups over D, which host
    key-cache hits thin a little). Both stay under the law's 1 x ceil(144000 / 600) = 240."""
    out, duration, ttl = _sparse(rate_per_hour)
    lookups = [k for k in _kps(out) if k["cache_hit"] is not None]
    lam = len(lookups) / duration
    assert 0.85 * rate_per_hour / 3600 <= lam <= rate_per_hour / 3600 * 1.05  # thinned a little
    mu = ttl + 1 / lam
    expected, sd = duration / mu, math.sqrt(duration * (1 / lam) ** 2 / mu**3)
    gets = out.summary["key_requests"]["kms_gets"]
    assert abs(gets - expected) <= 3.5 * sd + 1  # +1: the first cycle starts at 0, not at a Get
    assert gets <= math.ceil(duration / ttl)


def test_kms_gets_count_only_gets_a_server_answered() -> None:
    """One node, TTL 10 min, both KMS servers down from 20 to 40 min (timeout 30 s): a Get
    in the outage finds no server (2 x 30 s) and is counted in kms_gets_unanswered; the
    misses that arrive during those 60 s wait for it and fail with it (single flight), so
    every failed request is either the one that sent an unanswered Get or one that waited.
    Before and after, each 10-min copy costs one answered Get."""
    out = _run({
        "duration": "1h",
        "trust_authority": {"hosts": 1, "key_providers": [{"primary_key_cache_ttl": "10m"}]},
        "kms": {"connection_timeout": "30s",
                "outages": [{"server": s, "at": "20m", "duration": "20m"} for s in (0, 1)]},
    })  # fmt: skip
    kps = _kps(out)
    sent = [k for k in kps if k["kms_get"]]
    unanswered = [k for k in sent if k["reason"] == "kms.unavailable"]
    answered = [k for k in sent if k["reason"] != "kms.unavailable"]
    assert unanswered and all(k["kms_timeouts"] == 2 for k in unanswered)
    assert all(1200 <= k["time"] < 2400 for k in unanswered)
    summary = out.summary["key_requests"]
    assert summary["kms_gets"] == len(answered) and summary["kms_gets_unanswered"] == len(
        unanswered
    )
    failed = [k for k in kps if k["outcome"] == "failed"]
    waited = [k for k in failed if k["kms_get"] is False]
    assert len(failed) == len(unanswered) + len(waited)
    assert all(k["latency_s"] <= 60.0 + FETCHED for k in failed)
    # the ratio's denominator: lookups (every request here passed the report check)
    hits = sum(1 for k in kps if k["cache_hit"])
    assert summary["cache_hit_ratio"] == pytest.approx(hits / len(kps))
