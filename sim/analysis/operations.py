"""Figures of operations: set-up, upgrades, HA restarts, repairs and rotations.

- ``setup.time_to_first_trusted_capacity_s``: from the start of the run to the first moment
  a workload vCenter sees any host as attested; ``time_to_full_capacity_s``: to the first
  moment it sees every host as attested at once (None when that never happens).
- ``upgrades.failed_attestations``: failed verdicts of upgraded hosts between their upgrade
  reboot and the end of the run whose reasons name the image (``attestation.image.*``).
- ``ha``: VMs of crashed hosts that vSphere HA restarted, refused (no eligible host), failed
  (no key) and the restart latency, from the crash to the VM running again (censored at the
  end of the run for a VM that never ran again, see :mod:`sim.analysis.durations`).
- ``repairs.time_to_restore_s``: from a repair taking its host down to the first moment its
  vCenter sees it as attested again (censored at the end of the run when it never does).
- ``rotations``: key requests refused for a retired signing key (``report.unknown_issuer``),
  KMS calls refused for an unknown client certificate, attestations refused for an
  untrusted principal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sim.analysis.recorder import Recorder, Row
from sim.analysis.survival import Durations
from sim.domain.reasons import Reason


def _attested_times(views: Iterable[Row], hosts: int) -> tuple[float | None, float | None]:
    """First moment any host, and every host, is seen as attested."""
    attested: set[tuple[str, str]] = set()
    first = full = None
    for v in sorted(views, key=lambda r: r["time"]):
        key = (v["vcenter"], v["host"])
        if v["status"] == "attested":
            attested.add(key)
        else:
            attested.discard(key)
        if attested and first is None:
            first = float(v["time"])
        if hosts and len(attested) >= hosts and full is None:
            full = float(v["time"])
    return first, full


def restore_durations(rec: Recorder, now: float) -> Durations:
    """From each repair taking its host down to the first moment a vCenter sees the host
    as attested again; censored at the end of the run when it never does."""
    repairs = [
        op
        for op in rec.tables["operations"]
        if op["operation"] == "repair" and op["event"] == "host_down"
    ]
    targets = {op["target"] for op in repairs}
    attested: dict[str, list[float]] = {}  # per repaired host: when a view saw it attested
    if targets:
        for host, status, time in rec.tables["status_views"].select("host", "status", "time"):
            if status == "attested" and host in targets:
                attested.setdefault(host, []).append(time)
    ended: list[float] = []
    censored: list[float] = []
    for op in repairs:
        back = [t for t in attested.get(op["target"], ()) if t > op["time"]]
        if back:
            ended.append(min(back) - op["time"])
        else:
            censored.append(now - op["time"])
    return Durations.of(ended, censored)


def ha_latencies(rec: Recorder, now: float, warmup: float) -> Durations:
    """From a crash to each VM HA restarted running again; a restart that did not end with
    the VM running (refused, failed, still waiting) is censored at the end of the run. A VM
    that was running again before HA tried (``already_running``) is not counted."""
    ended: list[float] = []
    censored: list[float] = []
    for crashed_at, outcome, latency in rec.tables["ha_restarts"].select(
        "crashed_at", "outcome", "latency_s"
    ):
        if crashed_at < warmup or outcome == "already_running":
            continue
        if latency is not None:
            ended.append(latency)
        else:
            censored.append(now - crashed_at)
    return Durations.of(ended, censored)


def _upgrade_failures(rec: Recorder) -> int:
    downs = {
        op["target"]: op["time"]
        for op in rec.tables["operations"]
        if op["operation"] == "upgrade" and op["event"] == "host_down"
    }
    if not downs:
        return 0
    return sum(
        1
        for host, outcome, verdict_at, reasons in rec.tables["verdicts"].select(
            "host", "outcome", "verdict_at", "reasons"
        )
        if outcome == "fail"
        and host in downs
        and verdict_at >= downs[host]
        and "attestation.image." in (reasons or "")
    )


def operations_summary(
    rec: Recorder, warmup: float, times: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """The operations figures (see the module doc); ``times`` holds the time-to-event
    figures ``ha.latency_s`` and ``repairs.time_to_restore_s``."""
    t = rec.tables
    ops = t["operations"]
    setup = [o for o in ops if o["operation"] == "setup"]

    def count(operation: str, event: str) -> int:
        return sum(1 for o in ops if o["operation"] == operation and o["event"] == event)

    hosts = len({e["host"] for e in t["host_events"]})
    first, full = _attested_times(t["status_views"], hosts) if setup else (None, None)
    restarts = [r for r in t["ha_restarts"] if r["crashed_at"] >= warmup]
    reasons = Counter(
        reason for time, reason in t["key_requests"].select("time", "reason") if time >= warmup
    )
    return {
        "setup": {
            "steps_done": sum(1 for o in setup if o["outcome"] == "ok"),
            "steps_failed": sum(1 for o in setup if o["outcome"] == "failed"),
            "time_to_first_trusted_capacity_s": first,
            "time_to_full_capacity_s": full,
        },
        "upgrades": {
            "hosts_upgraded": count("upgrade", "host_up"),
            "failed_attestations": _upgrade_failures(rec),
        },
        "ha": {
            "restarts": len(restarts),
            "restarted": sum(1 for r in restarts if r["outcome"] == "restarted"),
            "refused": sum(1 for r in restarts if r["outcome"] == "refused"),
            "failed": sum(1 for r in restarts if r["outcome"] == "failed"),
            "unfinished": sum(1 for r in restarts if r["outcome"] == "unfinished"),
            "latency_s": times["ha.latency_s"],
        },
        "repairs": {
            "count": sum(
                1 for o in ops if o["operation"] == "repair" and o["event"] == "host_down"
            ),
            "time_to_restore_s": times["repairs.time_to_restore_s"],
        },
        "rotations": {
            "events": sum(
                1 for o in ops if o["operation"] == "rotation" and o["event"] == "rotated"
            ),
            "refused_unknown_issuer": reasons[Reason.REPORT_UNKNOWN_ISSUER.text],
            "kms_authentication_failures": reasons[Reason.KMS_AUTHENTICATION_NOT_SUCCESSFUL.text],
            "principal_refusals": sum(
                1
                for (why,) in t["verdicts"].select("reasons")
                if Reason.PRINCIPAL_NOT_IMPORTED.text in (why or "")
            ),
        },
    }
