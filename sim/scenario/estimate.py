"""How big a run will be, from its scenario alone, before anything is built.

:func:`estimate` counts what a run will do (trusted hosts, VMs, attestations, key requests,
power-ons, migrations, level samples) from rates and periods, and turns the counts into
the SimPy events processed, the memory the run needs and the size of its run folder, with
per-item costs measured on the shipped scenarios (``vtasim run`` prints the estimate, and
the actual event count after the run). The figures are meant to be right within a factor
of about two, which is all a limit needs.

:data:`LIMITS` are the documented limits: ``vtasim run`` and ``vtasim sweep`` refuse a run
whose estimate is beyond any of them (exit code 2) unless given ``--force``, because such
a run would take hours or exhaust memory. On the machine that measured the costs, the
simulator processes about 15,000 events per second (each attestation signs and verifies
real ECDSA quotes and JWTs), so 100 million events is roughly two hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.errors import Problem
from sim.scenario.rules import total_hosts
from sim.scenario.units import describe_duration, format_size
from sim.scenario.unmeasured import unmeasured_drift

if TYPE_CHECKING:
    from sim.scenario.model import Scenario

__all__ = ["LIMITS", "Estimate", "estimate", "run_warnings"]

_KiB = 1024
_MiB = 1024 * _KiB
_GiB = 1024 * _MiB

LIMITS: dict[str, int] = {
    "hosts": 20_000,
    "vms": 1_000_000,
    "events": 100_000_000,
    "memory_bytes": 8 * _GiB,
    "encrypted_bytes": 1024 * _GiB,
}
"""Largest estimate ``run`` and ``sweep`` accept without ``--force``."""
_LABELS = {
    "hosts": "trusted hosts",
    "vms": "VMs",
    "events": "simulation events",
    "memory_bytes": "of memory",
    "encrypted_bytes": "of vMotion payload really encrypted",
}

# Measured per-item costs (baseline, drift-storm and large.yaml, each shortened).
_EVENTS = {
    "attestation": 15,
    "poll": 6,
    "sample": 1,
    "power_on": 2,
    "migration": 8,
    "vm": 1,
    "reboot": 30,
}
_MEMORY_BASE = 250 * _MiB  # the interpreter and imported libraries (pyarrow to write)
# Records live on disk in column chunks (sim/analysis/recorded.py); what an item costs in
# memory is what the analysis holds of it at the end (latencies, drifted hosts' rows).
_MEMORY = {
    "host": 60 * _KiB,  # TPM, keys, certificates, image of one host
    "vm": 1400,
    "attestation": 400,  # its attestations, verdicts and reports rows
    "request": 200,  # a key request, power-on or migration row
    "level_row": 100,
}
_OUTPUT = {"attestation": 330, "request": 110, "migration": 170, "level_row": 50}
_SERIES_PER_TA_NODE = 3 * 2  # attestation, key provider and status services: busy, queue


@dataclass(frozen=True)
class Estimate:
    """What one run of a scenario is expected to do and need (counts over its run time)."""

    sim_seconds: float
    hosts: int
    vms: int
    attestations: int
    key_requests: int
    power_ons: int
    migrations: int
    reboots: int
    level_rows: int
    events: int
    memory_bytes: int
    output_bytes: int
    encrypted_bytes: int
    drivers: dict[str, str]

    def describe(self) -> str:
        """One line for people: the counts that matter, rounded."""
        return (
            f"{describe_duration(self.sim_seconds)} simulated, {self.hosts:,} hosts, "
            f"{self.vms:,} VMs: about {_round(self.attestations)} attestations, "
            f"{_round(self.events)} events, {_bytes(self.memory_bytes)} memory, "
            f"{_bytes(self.output_bytes)} run folder"
        )

    def problems(self) -> list[Problem]:
        """One problem per figure beyond :data:`LIMITS`, at the field that drives it."""
        out: list[Problem] = []
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if value > limit:
                shown = _bytes if name.endswith("_bytes") else _round
                out.append(
                    Problem(
                        self.drivers.get(name, ""),
                        f"the run would need about {shown(value)} {_LABELS[name]}, over the "
                        f"limit of {shown(limit)}; make it shorter or smaller, or pass "
                        "--force to run it anyway",
                    )
                )
        return out


def _round(n: float) -> str:
    """A count rounded for reading: 4,548; 97k; 1.2M; 3.4e12."""
    if n < 10_000:
        return f"{n:,.0f}"
    for size, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "G")):
        if n < size * 1000:
            return f"{n / size:.3g}{suffix}"
    return f"{n:.2g}"


def _bytes(n: float) -> str:
    for size, unit in ((1 << 40, "TiB"), (_GiB, "GiB"), (_MiB, "MiB"), (_KiB, "KiB")):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return format_size(int(n))


def _fraction(weights: dict[str, float], keys: tuple[str, ...]) -> float:
    total = sum(weights.values())
    return sum(weights[k] for k in keys) / total if total > 0 else 0.0


def estimate(s: Scenario, until: float | None = None) -> Estimate:
    """The estimate of one run of ``s`` for ``until`` simulated seconds (default: its
    duration)."""
    t = s.duration if until is None else until
    hosts = total_hosts(s)
    att = s.attestation
    drifts = hosts * t * s.drift.random.rate + sum(1 for d in s.drift.scheduled if d.at < t)
    reboots = (
        hosts * t * s.reboots.rate
        + sum(1 for r in s.reboots.scheduled if r.at < t)
        + 2 * drifts  # a drift may force a reboot, and its remediation reboots the host
    )
    attestations = hosts * (1 + t / (att.interval + att.jitter / 2)) + reboots
    polls = sum(t / vc.status_poll_interval for vc in s.vcenters)
    samples = t / s.metrics.sample_interval
    level_rows = samples * (s.trust_authority.hosts * _SERIES_PER_TA_NODE + 2 * s.kms.servers)
    power_ons = t * s.workload.power_on_rate
    migrations = t * s.workload.migration_rate
    enc = _fraction(s.vms.encryption.model_dump(), ("storage_policy", "vtpm"))
    key_requests = s.vms.count * s.vms.initially_running * enc + (power_ons + migrations) * enc
    plain_encrypted = 1 - _fraction(s.vms.vmotion_mode.model_dump(), ("disabled",))
    mean_memory = sum(s.vms.memory) / len(s.vms.memory)
    per_migration = (
        mean_memory if s.vmotion.payload == "full" else min(float(s.vmotion.payload), mean_memory)
    )
    encrypted = migrations * (enc + (1 - enc) * plain_encrypted) * per_migration
    e = _EVENTS
    events = (
        e["attestation"] * attestations
        + e["poll"] * polls
        + e["sample"] * samples
        + e["power_on"] * power_ons
        + e["migration"] * migrations
        + e["vm"] * s.vms.count
        + e["reboot"] * reboots
    )
    requests = key_requests + power_ons + migrations
    o = _OUTPUT
    output = (
        16 * _KiB
        + o["attestation"] * attestations
        + o["request"] * (key_requests + power_ons)
        + o["migration"] * migrations
        + o["level_row"] * level_rows
    )
    m = _MEMORY
    memory = (
        _MEMORY_BASE
        + m["host"] * hosts
        + m["vm"] * s.vms.count
        + m["attestation"] * attestations
        + m["request"] * requests
        + m["level_row"] * level_rows
    )
    parts = {
        "attestation.interval": e["attestation"] * attestations,
        "vcenters": e["poll"] * polls,
        "metrics.sample_interval": e["sample"] * samples,
        "workload.power_on_rate": e["power_on"] * power_ons,
        "workload.migration_rate": e["migration"] * migrations,
        "vms.count": e["vm"] * s.vms.count,
        "reboots.rate": e["reboot"] * reboots,
    }
    memory_parts = {
        "vcenters": m["host"] * hosts,
        "vms.count": m["vm"] * s.vms.count,
        "attestation.interval": m["attestation"] * attestations,
        "workload": m["request"] * requests,
        "metrics.sample_interval": m["level_row"] * level_rows,
    }
    drivers = {
        "hosts": "vcenters",
        "vms": "vms.count",
        "events": max(parts, key=lambda k: parts[k]),
        "memory_bytes": max(memory_parts, key=lambda k: memory_parts[k]),
        "encrypted_bytes": "vmotion.payload",
    }
    return Estimate(
        sim_seconds=t,
        hosts=hosts,
        vms=s.vms.count,
        attestations=round(attestations),
        key_requests=round(key_requests),
        power_ons=round(power_ons),
        migrations=round(migrations),
        reboots=round(reboots),
        level_rows=round(level_rows),
        events=round(events),
        memory_bytes=round(memory),
        output_bytes=round(output),
        encrypted_bytes=round(encrypted),
        drivers=drivers,
    )


def run_warnings(s: Scenario, until: float | None = None) -> list[Problem]:
    """Things in ``s`` that a run for ``until`` seconds (default: its duration) silently
    leaves out: scheduled drift, reboots and outages at or after the end (a run stops
    before anything due at its last instant), drift that can never be measured (measured at
    boot, and nothing reboots its host before the end: :mod:`sim.scenario.unmeasured`), and
    a sampling period so long that the ``levels`` table gets no row."""
    t = s.duration if until is None else until
    end = describe_duration(t)
    why = f"the run ends at {end}" + (" (--until)" if until is not None else "")
    out: list[Problem] = []
    scheduled = [
        *((f"drift.scheduled.{i}", d.at, d.host) for i, d in enumerate(s.drift.scheduled)),
        *((f"reboots.scheduled.{i}", r.at, r.host) for i, r in enumerate(s.reboots.scheduled)),
        *(
            (f"trust_authority.outages.{i}", o.at, f"trust-authority node {o.node}")
            for i, o in enumerate(s.trust_authority.outages)
        ),
    ]
    for where, at, target in scheduled:
        if at >= t:
            out.append(
                Problem(where, f"at {describe_duration(at)} on {target} never happens: {why}")
            )
    out += unmeasured_drift(s, t)
    if s.metrics.sample_interval >= t:
        out.append(
            Problem(
                "metrics.sample_interval",
                f"{describe_duration(s.metrics.sample_interval)} is not shorter than the run "
                f"({end}): the levels table will have a single row per series, the whole run",
            )
        )
    return out
