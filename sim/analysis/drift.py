"""Drift derivations: what followed each drift event, from the other tables.

At the end of a run :func:`finalise_drift` fills the derived columns of every
``drift_events`` row (detection, lapse, refusals, exposure) from the attestation, report,
request and status tables, within the drift's own window (from the drift to its remediation
or the end of the run). The definitions are those of :mod:`sim.analysis.summary`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sim.analysis.recorder import Recorder, Row


def _coverage_end(reports: Sequence[Row], t0: float, boots: Sequence[float] = ()) -> float:
    """First moment at or after ``t0`` at which the host holds no unexpired, unrevoked report
    (a report is held from its delivery to the agent; one the agent gave up waiting for is
    never held). A host that reboots comes back up without the reports it held (``boots``:
    the times it came up)."""

    def end_of(r: Row) -> float:
        end = float(r["expires_at"])
        if r["revoked_at"] is not None:
            end = min(end, float(r["revoked_at"]))
        lost = _first((b for b in boots if b > r["issued_at"]), r["issued_at"])
        return end if lost is None else min(end, lost)

    spans = sorted(
        (r["delivered_at"], end_of(r)) for r in reports if r.get("delivered_at") is not None
    )
    cur = t0
    changed = True
    while changed:
        changed = False
        for start, end in spans:
            if start <= cur < end:
                cur = end
                changed = True
    return cur


def _first(times: Iterable[float], after: float, before: float = math.inf) -> float | None:
    best = None
    for t in times:
        if after <= t < before and (best is None or t < best):
            best = t
    return best


def _view_refusal(
    views: Sequence[Row], vcenter: str | None, at: float, until: float
) -> float | None:
    """When the vCenter's view of the host is first not ``attested`` in [at, until): ``at``
    itself if it was not attested already (no change recorded yet means ``unknown``)."""
    mine = [v for v in views if v["vcenter"] == vcenter]
    before = [v for v in mine if v["time"] <= at]
    if not before or before[-1]["status"] != "attested":
        return at
    return _first((v["time"] for v in mine if v["status"] != "attested"), at, until)


def finalise_drift(rec: Recorder, end: float, host_vcenter: dict[str, str]) -> None:
    """Fill the derived columns of every drift event from the other tables."""
    t = rec.tables
    by_host: dict[str, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for name in (
        "attestations",
        "reports",
        "key_requests",
        "placements",
        "refusals",
        "migrations",
        "status_views",
        "host_events",
    ):
        for row in t[name]:
            host = row.get("host") or row.get("destination")
            if host is not None:
                by_host[host][name].append(row)
    for d in t["drift_events"]:
        h, at = d["host"], d["at"]
        win_end = d["remediated_at"] if d["remediated_at"] is not None else end
        rows = by_host[h]
        failed = _first(
            (
                a["verdict_at"]
                for a in rows["attestations"]
                if a["ok"] is False and a["verdict_at"] is not None
            ),
            at,
            win_end,
        )
        boots = [e["time"] for e in rows["host_events"] if e["event"] == "up"]
        cover = _coverage_end(rows["reports"], at, boots)
        key_refusal = cover if cover < win_end else None
        lapse_candidates = [x for x in (failed, key_refusal) if x is not None]
        lapse = min(lapse_candidates) if lapse_candidates else None
        view = _view_refusal(rows["status_views"], host_vcenter.get(h), at, win_end)
        refusal_candidates = [x for x in (view, key_refusal) if x is not None]
        refusal = min(refusal_candidates) if refusal_candidates else None
        first_refused = _first((r["time"] for r in rows["refusals"]), at, win_end)
        d.update(
            detected_at=failed,
            lapse_at=lapse,
            key_refusal_at=key_refusal,
            vcenter_refusal_at=view,
            first_refused_at=first_refused,
            time_to_lapse_s=None if lapse is None else lapse - at,
            time_to_key_refusal_s=None if key_refusal is None else key_refusal - at,
            time_to_vcenter_refusal_s=None if view is None else view - at,
            time_to_refusal_s=None if refusal is None else refusal - at,
            time_to_first_refused_s=None if first_refused is None else first_refused - at,
            keys_released=sum(
                1
                for k in rows["key_requests"]
                if k["outcome"] == "released" and at <= k["time"] < win_end
            ),
            power_ons=sum(
                1
                for p in rows["placements"]
                if p["outcome"] == "placed" and p["needs_key"] and at <= p["time"] < win_end
            ),
            migrations_in=sum(
                1
                for m in rows["migrations"]
                if m["outcome"] == "completed"
                and m["needs_key"]
                and m["destination"] == h
                and at <= m["end"] < win_end
            ),
        )
