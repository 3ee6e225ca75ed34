"""How big a run will be, from its scenario alone, before anything is built.

:func:`estimate` counts what a run will do (trusted hosts, VMs, attestations, key requests,
power-ons, migrations, level samples) from rates and periods, and turns the counts into
the SimPy events processed, the memory the run needs and the size of its run folder, with
per-item costs measured on the shipped scenarios (``vtasim run`` prints the estimate, and
the actual event count after the run). The counts follow the model: attestations as a
renewal process of the mean interval, power-ons cut off while no VM is stopped, a reboot per
runtime-measured drift that cannot be measured while running, per remediation, upgrade and
repair, and an evacuation of the host's running VMs per reboot. The deterministic figures
are within :data:`TOLERANCE` of the run unless :attr:`Estimate.caveats` says why not.

:data:`LIMITS` are the documented limits: ``vtasim run`` and ``vtasim sweep`` refuse a run
whose estimate is beyond any of them (exit code 2) unless given ``--force``, because such
a run would take hours or exhaust memory. On the machine that measured the costs, the
simulator processes about 15,000 events per second (each attestation signs and verifies
real ECDSA quotes and JWTs), so 100 million events is roughly two hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sim.domain import drift_kinds
from sim.errors import Problem
from sim.scenario.rules import total_hosts
from sim.scenario.units import describe_duration, format_size
from sim.scenario.unmeasured import unmeasured_drift

if TYPE_CHECKING:
    from sim.scenario.model import Scenario

__all__ = ["LIMITS", "MIN_COUNT", "TOLERANCE", "Estimate", "estimate", "run_warnings"]

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

TOLERANCE = 0.15
"""How close the estimate comes to the run: every deterministic figure of it (SimPy events,
attestations, key requests, power-ons, migrations, level rows, encrypted vMotion bytes,
run-folder bytes) is within 15 % of what the run does, for a scenario without
:attr:`Estimate.caveats` and a count of at least :data:`MIN_COUNT`.
``tests/scenario/test_estimate_accuracy.py`` checks it on every shipped scenario and
``python benchmarks/estimate_accuracy.py`` prints the comparison. Memory and time are
estimated too, but depend on the machine, so no bound is claimed for them."""
MIN_COUNT = 1000
"""Smallest count :data:`TOLERANCE` speaks for. The estimate is an expected value; a run
draws one outcome, and a count of N random events varies by about 1/sqrt(N) between seeds
(3 % at 1,000, 30 % at 10), so a smaller count can be off by more than the tolerance however
good the estimate. Encrypted bytes follow the migrations' count; the run folder's bytes are
always compared."""
_LABELS = {
    "hosts": "trusted hosts",
    "vms": "VMs",
    "events": "simulation events",
    "memory_bytes": "of memory",
    "encrypted_bytes": "of vMotion payload really encrypted",
}

# Per-item costs: fitted over the run figures of every shipped scenario (the counts of what
# each run really did, from its tables, against its events and folder bytes; ``python
# benchmarks/estimate_accuracy.py`` prints the comparison; events by the smallest largest
# relative error, the rest by least squares; metastable, whose overload the estimate does not
# model, left out). SimPy events: an attestation about 9.3 (the agent's timer, the round's
# six network hops, TPM quote and verdict, the status report's arrival; the round runs in the
# agent's process, a free TPM lock or service worker and a deadline called off cost no
# event), a migration 5 (its process, set-up, pre-copy rounds, key fetch, switch-over; free
# migration slots cost no event and a transfer waits for its timeout alone), a power-on 6
# (placement, key request; a VM's lifetime is an alarm, an event only if it ends within the
# run), each host under 1 at start-up, a reboot about 295 (the outage, the boot's re-attestation
# and retries, status changes) and each request of the power-on and migration streams 1 (its
# timer, even when no VM qualifies).
_EVENTS = {
    "attestation": 9.3,
    "migration": 5.25,
    "power_on": 6.4,
    "host": 0.4,
    "reboot": 295,
    "arrival": 1,  # a power-on or migration request's timer, even when no VM qualifies
    "drift": 2,  # its timer and its injection (reboots and remediation counted apart)
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
    "drift": 1024,  # its draft, held to the end, and a staged change waiting for a boot
}
# Run-folder bytes (CSV and Parquet together) per item, by the same least squares: an
# attestation writes a row in each of attestations, verdicts and reports; a reboot its host
# events, status views and drift rows; a host its status-view and capacity rows.
_OUTPUT = {
    "base": 86 * _KiB,  # summary, manifest, scenario, durations and the empty tables
    "attestation": 562,
    "migration": 212,
    "power_on": 203,  # its placement, key request and key-cache rows
    "level_row": 39,
    "host": 393,
    "reboot": 2864,
    "drift": 150,  # its drift_events row
}
_SERIES_PER_TA_NODE = 3 * 2  # attestation, key provider and status services: busy, queue
_WORKLOAD_STEPS = 1000  # steps of the stopped-VM pool's flow over the run


def _workload(s: Scenario, t: float) -> tuple[float, float]:
    """Power-ons over ``t`` seconds, and the mean number of running VMs.

    A power-on picks a stopped VM, so the power-on stream is cut off while no VM is
    stopped; a running VM powers off after its lifetime. The stopped pool follows that
    flow (in expectation): power-offs at running / mean lifetime, power-ons at the rate
    asked while a stopped VM (or one powering off in the step) is there."""
    n = float(s.vms.count)
    running = n * s.vms.initially_running
    if t <= 0 or n == 0:
        return 0.0, running
    life = s.workload.lifetime.mean()
    dt = t / _WORKLOAD_STEPS
    ons = area = 0.0
    for _ in range(_WORKLOAD_STEPS):
        offs = running * dt / life if life > 0 else 0.0
        on = min(s.workload.power_on_rate * dt, n - running + offs)
        ons += on
        area += (running + (on - offs) / 2) * dt
        running += on - offs
    return ons, area / t


_RUNTIME_MEASURABLE = drift_kinds.runtime_measurable()
"""Kinds a runtime measurement records at once (from the drift-kind registry); a
runtime-measured drift of another kind reboots its host at once (see
:mod:`sim.processes.drift`)."""


def _within(delay: float | None, t: float, start: float = 0.0) -> float:
    """The share of events spread evenly over [start, t) whose follow-up ``delay`` later
    still falls before ``t`` (0 without a follow-up)."""
    if delay is None or t <= start:
        return 0.0
    return max(0.0, (t - start - delay) / (t - start))


def _drift_reboots(s: Scenario, t: float, hosts: int) -> float:
    """Reboots the drift of ``s`` causes before ``t``: a runtime-measured drift of a kind
    that cannot be measured while running reboots at once, an install reboot
    (``reboot_after``) and the remediation reboot follow when they fall before the end."""
    d = s.drift

    def forced(kind: object) -> float:
        name = str(getattr(kind, "value", kind))
        return float(d.measured_at[kind] == "runtime" and name not in _RUNTIME_MEASURABLE)  # type: ignore[index]

    def mean(dist: Any) -> float | None:
        return None if dist is None else float(dist.mean())

    r = d.random
    per_random = sum(forced(k) for k in r.kinds) / len(r.kinds) if r.kinds else 0.0
    per_random += _within(mean(r.remediate_after), t) + _within(mean(r.reboot_after), t)
    out = hosts * t * r.rate * per_random
    for x in d.scheduled:
        if x.at < t:
            out += forced(x.kind)
            out += float(x.remediate_after is not None and x.at + x.remediate_after < t)
            out += _within(mean(x.reboot_after), t, x.at)
    return out


def _upgraded(s: Scenario, t: float) -> float:
    """Hosts rebooted by rolling upgrades before ``t``: a batch at a time from its start,
    each batch taking ``per_host``."""
    out = 0.0
    for up in s.upgrades:
        if up.at >= t:
            continue
        size = sum(
            c.hosts
            for vc in s.vcenters
            if up.vcenter in (None, vc.name)
            for c in vc.clusters
            if c.name == up.cluster
        )
        per = up.per_host.mean()
        batches = math.ceil((t - up.at) / per) if per > 0 else size
        out += min(size, batches * up.batch)
    return out


def caveats(s: Scenario) -> list[str]:
    """What makes the estimate of ``s`` unreliable, in words (empty: :data:`TOLERANCE`
    holds). The estimate counts the work a run is offered; it cannot foresee a run that
    stays overloaded: an attestation service offered more than its capacity, or one that
    serves abandoned requests after a cold-boot burst longer than the attestation timeout
    (every host attests at once, the clients give up and retry, the service verifies the
    abandoned requests too and may never catch up: a metastable failure)."""
    att = s.attestation
    svc = s.trust_authority.attestation_service
    workers = svc.workers * s.trust_authority.hosts
    service = svc.service_time.mean()
    hosts = total_hosts(s)
    load = hosts / (att.interval + att.jitter / 2) * service / workers
    out = []
    if load >= 1:
        out.append(f"the attestation service is offered {load:.0%} of its capacity")
    burst = hosts * service / workers
    if att.startup == "cold_boot" and svc.abandoned == "serve" and burst > att.timeout:
        out.append(
            f"the cold-boot burst takes {burst:.3g} s to serve, more than the attestation "
            f"timeout ({att.timeout:g} s), and abandoned requests are served: the service "
            "may stay overloaded"
        )
    return out


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
    caveats: tuple[str, ...] = ()
    """Why the figures may be far off (see :func:`caveats`); empty when :data:`TOLERANCE`
    holds."""

    def describe(self) -> str:
        """One line for people: the counts that matter, rounded, and any caveat."""
        return (
            f"{describe_duration(self.sim_seconds)} simulated, {self.hosts:,} hosts, "
            f"{self.vms:,} VMs: about {_round(self.attestations)} attestations, "
            f"{_round(self.events)} events, {_bytes(self.memory_bytes)} memory, "
            f"{_bytes(self.output_bytes)} run folder"
            + "".join(f"; uncertain: {c}" for c in self.caveats)
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
        + _drift_reboots(s, t, hosts)
        + _upgraded(s, t)
        + sum(1 for r in s.repairs if r.at < t)
    )
    # Steady state: each host's attestations are a renewal process of the mean interval;
    # a cold boot adds one round per host at the start; every boot attests.
    attestations = hosts * t / (att.interval + att.jitter / 2) + reboots
    if att.startup == "cold_boot":
        attestations += hosts
    samples = math.ceil(t / s.metrics.sample_interval)  # a last, partial period is a row too
    level_rows = samples * (s.trust_authority.hosts * _SERIES_PER_TA_NODE + 2 * s.kms.servers)
    power_ons, running = _workload(s, t)
    # A reboot first evacuates the host's running VMs by vMotion.
    evacuations = reboots * running / hosts if hosts else 0.0
    migrations = (t * s.workload.migration_rate if running >= 1 else 0.0) + evacuations
    enc = _fraction(s.vms.encryption.model_dump(), ("storage_policy", "vtpm"))
    key_requests = (power_ons + migrations) * enc  # VMs running at the start hold keys
    plain_encrypted = 1 - _fraction(s.vms.vmotion_mode.model_dump(), ("disabled",))
    mean_memory = sum(s.vms.memory) / len(s.vms.memory)
    per_migration = (
        mean_memory if s.vmotion.payload == "full" else min(float(s.vmotion.payload), mean_memory)
    )
    encrypted = migrations * (enc + (1 - enc) * plain_encrypted) * per_migration
    e = _EVENTS
    parts = {
        "attestation.interval": e["attestation"] * attestations,
        "workload.power_on_rate": e["power_on"] * power_ons
        + e["arrival"] * t * s.workload.power_on_rate,
        "workload.migration_rate": e["migration"] * migrations
        + e["arrival"] * t * s.workload.migration_rate,
        "vcenters": e["host"] * hosts,
        "reboots.rate": e["reboot"] * reboots,
        "drift.random.rate": e["drift"] * drifts,
    }
    events = sum(parts.values())
    requests = key_requests + power_ons + migrations
    o = _OUTPUT
    output = (
        o["base"]
        + o["attestation"] * attestations
        + o["migration"] * migrations
        + o["power_on"] * power_ons
        + o["level_row"] * level_rows
        + o["host"] * hosts
        + o["reboot"] * reboots
        + o["drift"] * drifts
    )
    m = _MEMORY
    memory = (
        _MEMORY_BASE
        + m["host"] * hosts
        + m["vm"] * s.vms.count
        + m["attestation"] * attestations
        + m["request"] * requests
        + m["level_row"] * level_rows
        + m["drift"] * drifts
    )
    memory_parts = {
        "vcenters": m["host"] * hosts,
        "vms.count": m["vm"] * s.vms.count,
        "attestation.interval": m["attestation"] * attestations,
        "workload": m["request"] * requests,
        "metrics.sample_interval": m["level_row"] * level_rows,
        "drift.random.rate": m["drift"] * drifts,
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
        caveats=tuple(caveats(s)),
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
