"""Invariants every run must keep, over randomly generated small estates.

Hypothesis draws estates of 1-2 workload vCenters with 1-2 clusters of 1-4 hosts, up to 30
VMs, random attestation timing, revocation and poll intervals, random drift (rate, kinds,
measured at runtime or boot, remediation), random reboots, workload rates and trust-authority
node outages, and runs each for two simulated hours. After the run the tables and the final
estate are checked independently of the simulator's own bookkeeping:

- the safety counter is zero, and recomputed from the tables: every key release happened
  while the host's latest issued report was issued before it, unexpired and unrevoked;
- drift rows are causal (nothing lapses before the drift); time to refusal is never later
  than the vCenter's or the key refusal, and never earlier than time to lapse, which is never
  later than detection;
- completed migrations of one VM never overlap in time;
- no VM runs on two hosts, and each host's memory is exactly its VMs' memory plus what
  in-flight power-ons and incoming migrations have reserved, never more than it has;
- one seed gives identical summaries and tables (checked on fewer examples: two runs each).

The random estates keep the default 10 Gbps vMotion NIC, where a migration takes seconds. A
targeted test with slow vMotion and frequent reboots reproduces a known defect in migration
bookkeeping and is marked as an expected failure until it is fixed.

The LAN latency is fixed per estate (one site), so the moment the Key Provider Service
released a key is the request's end minus one host-to-trust-authority delay.
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.runner import RunOutput, simulate
from sim.scenario import DriftKind, parse_scenario

Row = dict[str, Any]
EPS = 1e-9
KINDS = [k.value for k in DriftKind]
LAN_LATENCIES = ["100us", "250us", "1ms"]

INVARIANTS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _seconds(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(lambda s: f"{s}s")


def _per_hour(*rates: float) -> st.SearchStrategy[str]:
    return st.sampled_from(rates).map(lambda r: f"{r} per_hour")


@st.composite
def estates(draw: st.DrawFn) -> dict[str, Any]:
    """A small random estate with drift, reboots, workload and outages."""
    vcenters = []
    for v in range(draw(st.integers(1, 2))):
        clusters = [
            {
                "name": f"cl{c}",
                "hosts": draw(st.integers(1, 4)),
                "host_memory": draw(st.sampled_from(["32GiB", "64GiB"])),
            }
            for c in range(draw(st.integers(1, 2)))
        ]
        vcenters.append(
            {
                "name": f"vc-{v}",
                "clusters": clusters,
                "status_poll_interval": draw(_seconds(10, 600)),
                "placement": draw(st.sampled_from(["first_fit", "least_loaded"])),
            }
        )
    weights = [draw(st.integers(0, 3)) for _ in range(3)]
    weights[2] += 0 if sum(weights) else 1
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5, unique=True))
    measured = {k: draw(st.sampled_from(["runtime", "boot"])) for k in kinds}
    outages = draw(
        st.lists(
            st.fixed_dictionaries(
                {"node": st.integers(0, 2), "at": _seconds(0, 6000), "duration": _seconds(60, 1800)}
            ),
            max_size=2,
        )
    )
    return {
        "name": "invariants",
        "duration": "2h",
        "network": {"lan_latency": draw(st.sampled_from(LAN_LATENCIES))},
        "trust_authority": {"outages": outages},
        "attestation": {
            "interval": draw(_seconds(60, 900)),
            "jitter": draw(_seconds(0, 30)),
            "report_lifetime": draw(_seconds(60, 3600)),
            "revocation": draw(st.sampled_from(["none", "push"])),
        },
        "vcenters": vcenters,
        "vms": {
            "count": draw(st.integers(5, 30) | st.integers(0, 4)),
            "memory": draw(
                st.lists(
                    st.sampled_from(["4GiB", "8GiB", "16GiB"]), min_size=1, max_size=3, unique=True
                )
            ),
            "initially_running": draw(st.sampled_from([0.5, 0.9, 0.0])),
            "encryption": dict(zip(("none", "storage_policy", "vtpm"), weights, strict=True)),
        },
        "workload": {
            "power_on_rate": draw(_per_hour(120, 30, 300, 0)),
            "migration_rate": draw(_per_hour(120, 30, 300, 0)),
            "lifetime": {"dist": "exponential", "mean": draw(_seconds(120, 3600))},
        },
        "drift": {
            "random": {
                "rate": draw(_per_hour(2, 0.5, 0)),
                "kinds": kinds,
                "remediate_after": draw(st.sampled_from([None, "10m", "40m"])),
            },
            "measured_at": measured,
        },
        "reboots": {"rate": draw(_per_hour(0.5, 1, 0)), "duration": "2m"},
        "seed": draw(st.integers(0, 2**32)),
    }


# --------------------------------------------------------------------------- checks


def _reports_by_host(out: RunOutput) -> dict[str, list[Row]]:
    by: dict[str, list[Row]] = defaultdict(list)
    for r in out.tables["reports"]:
        by[r["host"]].append(r)
    for rows in by.values():
        rows.sort(key=lambda r: r["issued_at"])
    return by


def _covered(reports: list[Row], t: float) -> bool:
    """Whether the latest report issued at or before ``t`` is unexpired and unrevoked."""
    issued = [r for r in reports if r["issued_at"] <= t + EPS]
    if not issued:
        return False
    latest = issued[-1]
    revoked = latest["revoked_at"]
    return bool(latest["expires_at"] > t and (revoked is None or revoked > t))


def check_key_releases(out: RunOutput) -> None:
    """Every released key went to a host whose latest report covered the release moment."""
    hop = 2 * out.scenario.network.lan_latency.mean()  # fixed latency: mean is the value
    end = out.manifest["sim_time_s"]
    reports = _reports_by_host(out)
    for k in out.tables["key_requests"]:
        if k["outcome"] != "released":
            continue
        mine = reports.get(k["host"], [])
        if k["latency_s"] is None:  # released in the last hop before the run ended
            assert _covered(mine, end - hop) or _covered(mine, end), k
            continue
        at = k["time"] + k["latency_s"] - hop
        assert at >= k["time"] - EPS
        assert _covered(mine, at), (k, at)


def check_reports(out: RunOutput) -> None:
    """Reports live exactly report_lifetime; revocations only under push, inside the life."""
    life = out.scenario.attestation.report_lifetime
    push = out.scenario.attestation.revocation == "push"
    ok_verdicts = {(a["host"], a["verdict_at"]) for a in out.tables["attestations"] if a["ok"]}
    issued = {(r["host"], r["issued_at"]) for r in out.tables["reports"]}
    assert ok_verdicts <= issued
    for r in out.tables["reports"]:
        assert r["expires_at"] - r["issued_at"] == pytest.approx(life)
        if r["revoked_at"] is not None:
            assert push
            assert r["issued_at"] <= r["revoked_at"] < r["expires_at"]


def check_drift(out: RunOutput) -> None:
    """Drift rows are causal and refusal comes no later than the vCenter's refusal."""
    for d in out.tables["drift_events"]:
        at = d["at"]
        for col in (
            "effective_at",
            "detected_at",
            "lapse_at",
            "key_refusal_at",
            "vcenter_refusal_at",
            "first_refused_at",
        ):
            assert d[col] is None or d[col] >= at, (col, d)
        if d["lapse_at"] is not None:
            assert d["time_to_lapse_s"] == pytest.approx(d["lapse_at"] - at)
            if d["key_refusal_at"] is not None:
                assert d["lapse_at"] <= d["key_refusal_at"]
        if d["time_to_vcenter_refusal_s"] is not None:
            assert d["time_to_refusal_s"] is not None
            assert d["time_to_refusal_s"] <= d["time_to_vcenter_refusal_s"]
        if d["time_to_key_refusal_s"] is not None:
            assert d["time_to_refusal_s"] <= d["time_to_key_refusal_s"]
        if d["time_to_refusal_s"] is not None:  # refusal implies lapse, never before it
            assert d["time_to_lapse_s"] is not None
            assert d["time_to_refusal_s"] >= d["time_to_lapse_s"]
        if d["time_to_detection_s"] is not None:
            assert d["time_to_lapse_s"] is not None
            assert d["time_to_lapse_s"] <= d["time_to_detection_s"]
        for col in ("keys_released", "power_ons", "migrations_in"):
            assert d[col] >= 0


def check_placement(out: RunOutput) -> None:
    """No VM on two hosts; memory is the VMs' plus in-flight reservations, within capacity."""
    estate = out.estate
    pool = estate.pool
    seen: dict[str, str] = {}
    for h in estate.hosts.values():
        for name, vm in h.vms.items():
            assert name not in seen, f"{name} runs on {seen[name]} and {h.name}"
            seen[name] = h.name
            assert vm.host == h.name
    assert {vm.name for vm in pool.running.items} == set(seen)
    assert not {vm.name for vm in pool.running.items} & {vm.name for vm in pool.stopped.items}
    reserved: dict[str, int] = defaultdict(int)
    for p in out.tables["placements"]:
        if p["host"] is not None and p["outcome"] == "refused":  # still fetching its key
            reserved[p["host"]] += pool.by_name[p["vm"]].memory
    for m in out.tables["migrations"]:
        if m["destination"] is not None and m["end"] is None:  # still moving
            reserved[m["destination"]] += pool.by_name[m["vm"]].memory
    for h in estate.hosts.values():
        assert 0 <= h.used_memory <= h.memory, h.name
        assert h.used_memory == sum(vm.memory for vm in h.vms.values()) + reserved[h.name]


def check_migrations(out: RunOutput) -> None:
    """Completed migrations of one VM never overlap in time (a VM moves one way at a time)."""
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in out.tables["migrations"]:
        if m["outcome"] == "completed":
            assert m["source"] != m["destination"]
            spans[m["vm"]].append((m["start"], m["end"]))
    for vm, moves in spans.items():
        moves.sort()
        for (_, end), (start, _) in pairwise(moves):
            assert start >= end, f"{vm}: a migration started at {start} before one ended at {end}"


def _run(data: dict[str, Any]) -> RunOutput:
    out = simulate(parse_scenario(data))
    assert out.ok, out.manifest["exception"]
    return out


@pytest.mark.slow
@INVARIANTS
@given(estates())
def test_random_estates_keep_every_invariant(data: dict[str, Any]) -> None:
    """Safety, causality, placement and memory invariants hold in random small estates."""
    out = _run(data)
    assert out.summary["safety"]["violations"] == 0
    check_key_releases(out)
    check_reports(out)
    check_drift(out)
    check_migrations(out)
    check_placement(out)


@settings(INVARIANTS, max_examples=5)
@given(estates())
def test_one_seed_gives_identical_runs(data: dict[str, Any]) -> None:
    """Simulating the same estate twice with one seed gives identical summary and tables."""
    first, second = _run(data), _run(data)
    assert first.summary == second.summary
    assert first.tables == second.tables
    assert not any(math.isnan(v) for v in _floats(first.summary))


def _floats(tree: Any) -> list[float]:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _floats(v)]
    return [tree] if isinstance(tree, float) else []


# Slow vMotion (1 Gbps, minutes per 16 GiB VM) and frequent reboots: a VM is powered off by
# its source's reboot mid-migration, powered on again and migrated again while the first,
# orphaned migration is still running.
SLOW_VMOTION_WITH_REBOOTS: dict[str, Any] = {
    "name": "overlapping-migrations",
    "duration": "1h",
    "network": {"vmotion_nic": "1Gbps"},
    "vcenters": [
        {"name": "vc-0", "clusters": [{"name": "cl0", "hosts": 3, "host_memory": "64GiB"}]}
    ],
    "vms": {
        "count": 6,
        "memory": ["16GiB"],
        "encryption": {"none": 1, "storage_policy": 0, "vtpm": 0},
    },
    "workload": {
        "power_on_rate": "1200 per_hour",
        "migration_rate": "1200 per_hour",
        "lifetime": {"dist": "exponential", "mean": "2h"},
    },
    "reboots": {"rate": "6 per_hour", "duration": "2m"},
}


def test_orphaned_migration_does_not_release_a_newer_one() -> None:
    """Slow vMotion with frequent reboots keeps one move per VM and exact memory accounting."""
    scenario = parse_scenario(SLOW_VMOTION_WITH_REBOOTS)
    for seed in range(8):
        out = simulate(scenario, seed=seed)
        assert out.ok
        check_migrations(out)
        check_placement(out)
