"""Drift that a run can never measure, found from the scenario alone.

A drift kind measured at ``boot`` (VMware's documented behaviour, the default) shows in
quotes only after its host's next reboot. When nothing in the scenario can reboot that host
between the drift and the end of the run (no ``reboot_after``, no scheduled or random reboot,
no upgrade of its cluster, no repair, no other drift that reboots it), the drift is censored:
it is never detected, never lapses, and the headline has no lapse line. ``vtasim validate``
and ``vtasim run`` print these as warnings (:func:`sim.scenario.estimate.run_warnings`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.domain import drift_kinds
from sim.errors import Problem
from sim.scenario.units import describe_duration

if TYPE_CHECKING:
    from sim.scenario.model import DriftKind, Scenario, ScheduledDrift

_RUNTIME_MEASURABLE = drift_kinds.runtime_measurable()
"""Kinds a runtime measurement records at once (from the drift-kind registry); the other
kinds, measured at runtime, reboot their host at once (see :mod:`sim.processes.drift`)."""


def _reboots_itself(s: Scenario, kind: DriftKind, reboot_after: object) -> bool:
    """Whether a drift of ``kind`` reboots its host: it has a ``reboot_after``, or it is
    runtime-measured and of a kind that needs a reboot to take effect."""
    runtime = s.drift.measured_at[kind] == "runtime"
    return reboot_after is not None or (runtime and kind.value not in _RUNTIME_MEASURABLE)


def _host_may_reboot(s: Scenario, host: str, after: float, end: float) -> bool:
    """Whether anything in ``s`` may reboot ``host`` in (after, end)."""
    if s.reboots.rate > 0 or (
        s.drift.random.rate > 0
        and any(_reboots_itself(s, k, s.drift.random.reboot_after) for k in s.drift.random.kinds)
    ):
        return True
    cluster = {h: (vc, cl) for h, vc, cl in s.host_names()}.get(host)
    if any(r.host == host and after < r.at < end for r in s.reboots.scheduled):
        return True
    if any(r.host == host and after < r.at < end for r in s.repairs):
        return True
    if cluster is not None and any(
        u.cluster == cluster[1] and u.vcenter in (None, cluster[0]) and u.at < end
        for u in s.upgrades
    ):
        return True
    return any(
        d.host == host and d.at < end and _reboots_itself(s, d.kind, d.reboot_after)
        for d in s.drift.scheduled
    )


def _scheduled(s: Scenario, i: int, d: ScheduledDrift, end: float) -> Problem | None:
    kind = d.kind.value
    if d.at >= end or s.drift.measured_at[d.kind] != "boot" or d.reboot_after is not None:
        return None
    if _host_may_reboot(s, d.host, d.at, end):
        return None
    return Problem(
        f"drift.scheduled.{i}",
        f"the {kind!r} drift on {d.host!r} at {describe_duration(d.at)} is measured at boot and"
        f" nothing reboots {d.host!r} before the end ({describe_duration(end)}): it will never"
        " be measured (censored, no detection or lapse); give it reboot_after, schedule a"
        f" reboot, or set drift.measured_at.{kind}: runtime",
    )


def unmeasured_drift(s: Scenario, end: float) -> list[Problem]:
    """One warning per scheduled drift, and one for the random drift, that a run ending at
    ``end`` can never measure (see the module doc)."""
    out = [p for i, d in enumerate(s.drift.scheduled) if (p := _scheduled(s, i, d, end))]
    rd = s.drift.random
    if rd.rate <= 0 or rd.reboot_after is not None or s.reboots.rate > 0:
        return out
    if any(_reboots_itself(s, k, None) for k in rd.kinds):
        return out  # some random drifts reboot their host, and may measure the others
    boot = [k.value for k in rd.kinds if s.drift.measured_at[k] == "boot"]
    if boot and not (s.reboots.scheduled or s.repairs or s.upgrades):
        kinds = ", ".join(repr(k) for k in boot)
        out.append(
            Problem(
                "drift.random",
                f"random drift of kind(s) {kinds} is measured at boot and nothing reboots the"
                " hosts: it will never be measured (censored, no detection or lapse); give it"
                " reboot_after, set reboots.rate, or measure those kinds at runtime",
            )
        )
    return out
