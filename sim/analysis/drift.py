"""Drift derivations: what followed each drift event, from the other tables.

At the end of a run :func:`finalise_drift` writes the ``drift_events`` record of every drift,
its derived columns taken within the drift's own window (from the drift to its remediation or the
end of the run), and :func:`host_trust` derives, per host, the spans in which it held a valid
report, the drift windows and the routine gaps. The definitions (see :mod:`sim.analysis.summary`):

- *held*: the host holds an unexpired, unrevoked report, from its delivery to the agent until
  it expires, is revoked or the host goes down (a report the agent gave up waiting for is never
  held). The Key Provider Service releases keys only to a host that holds one.
- *trust authority untrusted*: the newest non-stale failed verdict is newer than the newest
  report the agent received, whether or not the failure reached the agent.
- *vCenter view*: the managing vCenter's view of the host is not ``attested``.
- *unmeasured*: from the drift to the first quote taken after the change was measured into
  the TPM (at once for a runtime-measured VIB or driver, at the next boot otherwise).
- *detection*: the first non-stale failed verdict in the window.
- *lapse*: the first moment in the window at which any of the three stops treating the host
  as trusted (the drift moment itself if one already did).
- *key refusal*: the first moment in the window at which the host holds no report;
  *vCenter refusal*: the view leaves ``attested``; *refusal*: the earlier of the two.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sim.analysis.intervals import Span, contains, first_outside, subtract, union
from sim.analysis.recorder import Recorder
from sim.analysis.records import DriftEvent

Row = Mapping[str, Any]
"""A recorded row as the derivations read it."""

_HOST_TABLES = (
    "key_cache",
    "verdicts",
    "reports",
    "key_requests",
    "placements",
    "refusals",
    "migrations",
    "status_views",
    "host_events",
)


def _first(times: Iterable[float], after: float, before: float = math.inf) -> float | None:
    best = None
    for t in times:
        if after <= t < before and (best is None or t < best):
            best = t
    return best


def held_spans(reports: Sequence[Row], downs: Sequence[float]) -> list[Span]:
    """Where the host holds an unexpired, unrevoked report: from each report's delivery to
    its expiry, revocation or the host's next going down (``downs``), merged."""
    return union(
        _held_span(r["delivered_at"], r["expires_at"], r["revoked_at"], downs)
        for r in reports
        if r["delivered_at"] is not None
    )


def _held_span(
    delivered: float, expires: float, revoked: float | None, downs: Sequence[float]
) -> Span:
    """One delivered report's held span: to its expiry, revocation or the next going down."""
    end = float(expires)
    if revoked is not None:
        end = min(end, float(revoked))
    lost = _first(downs, delivered)
    return (float(delivered), end if lost is None else min(end, lost))


def _coverage_end(reports: Sequence[Row], t0: float, downs: Sequence[float] = ()) -> float:
    """First moment at or after ``t0`` at which the host holds no report."""
    return first_outside(held_spans(reports, downs), t0)


def _ta_untrusted(verdicts: Sequence[Row], t: float) -> bool:
    """Whether at ``t`` the newest non-stale failed verdict is newer than the newest report
    the agent had received (an unhealed failure at the trust authority)."""
    failed = [v["nonce"] for v in verdicts if v["outcome"] == "fail" and not v["stale"]
              and v["verdict_at"] <= t]  # fmt: skip
    if not failed:
        return False
    newest_fail = max(failed)
    return not any(
        v["outcome"] == "pass" and v["delivered_at"] is not None and v["delivered_at"] <= t
        and v["nonce"] > newest_fail
        for v in verdicts
    )  # fmt: skip


def _view_refusal(views: Sequence[Row], vcenter: str | None, at: float, until: float) -> float:
    """When the vCenter's view of the host is first not ``attested`` in [at, until): ``at``
    itself if it was not attested already (no change recorded yet means ``unknown``), and
    ``inf`` if it stays attested."""
    mine = [v for v in views if v["vcenter"] == vcenter]
    before = [v for v in mine if v["time"] <= at]
    if not before or before[-1]["status"] != "attested":
        return at
    found = _first((v["time"] for v in mine if v["status"] != "attested"), at, until)
    return math.inf if found is None else found


@dataclass(frozen=True)
class HostTrust:
    """One host's trust over the run: held-report spans, drift windows, routine gaps."""

    held: list[Span]
    up: list[Span]
    drift: list[Span]
    gaps: list[Span]


def _up_spans(events: Sequence[Row], end: float) -> list[Span]:
    spans, since = [], None
    for e in sorted(events, key=lambda e: e["time"]):
        if e["event"] == "up" and since is None:
            since = e["time"]
        elif e["event"] == "down" and since is not None:
            spans.append((since, e["time"]))
            since = None
    if since is not None:
        spans.append((since, end))
    return union(spans)


def host_trust(rec: Recorder, end: float) -> dict[str, HostTrust]:
    """Per host: the spans it held a report, was up and had a drift open, and its routine
    gaps (up, no report held, no drift open). Hosts come in the order they first appear in
    the host tables; the reports are read column by column, each host's held spans merged
    as they come, so no table is held in memory."""
    t = rec.tables
    events: dict[str, list[Row]] = defaultdict(list)
    for e in t["host_events"]:
        events[e["host"]].append(e)
    downs = {
        host: sorted(e["time"] for e in rows if e["event"] == "down")
        for host, rows in events.items()
    }
    held: dict[str, list[Span]] = defaultdict(list)
    merged: dict[str, int] = {}  # per host: spans left by its last merge
    for host, delivered, expires, revoked in t["reports"].select(
        "host", "delivered_at", "expires_at", "revoked_at"
    ):
        if host is None or delivered is None:
            continue
        spans = held[host]
        spans.append(_held_span(delivered, expires, revoked, downs.get(host, ())))
        if len(spans) >= max(_MERGE_AT, 2 * merged.get(host, 0)):
            held[host] = union(spans)
            merged[host] = len(held[host])
    windows: dict[str, list[Span]] = defaultdict(list)
    for d in t["drift_events"]:
        if d["outcome"] == "blocked":
            continue
        close = d["remediated_at"] if d["remediated_at"] is not None else end
        windows[d["host"]].append((d["at"], close))
    out: dict[str, HostTrust] = {}
    for host in _host_order(rec):
        mine = union(held.get(host, ()))
        up = _up_spans(events.get(host, ()), end)
        drift = union(windows.get(host, []))
        gaps = subtract(subtract(up, mine), drift)
        out[host] = HostTrust(mine, up, drift, gaps)
    return out


_MERGE_AT = 64
"""Merge a host's held spans once this many have gathered, and again whenever they have
doubled since (union is associative, so the result is the union of all of them at once;
doubling keeps a host with many disjoint spans from being merged over and over)."""


def _host_order(rec: Recorder) -> dict[str, None]:
    """Every host in the host tables, in the order it first appears in them."""
    order: dict[str, None] = {}
    for name in _HOST_TABLES:
        for chunk in rec.tables[name].chunks(_HOST_COLUMNS & set(rec.tables[name].names)):
            for host in _hosts(chunk):
                if host is not None and host not in order:
                    order[host] = None
    return order


_HOST_COLUMNS = {"host", "destination"}


def _hosts(chunk: dict[str, list[Any]]) -> list[str | None]:
    """Each row's host in a chunk of columns: its ``host``, else its ``destination``."""
    hosts, destinations = chunk.get("host"), chunk.get("destination")
    if destinations is None:
        return [h or None for h in hosts] if hosts is not None else []
    if hosts is None:
        return list(destinations)
    return [h or d for h, d in zip(hosts, destinations, strict=True)]


def _by_host(rec: Recorder, hosts: Container[str]) -> dict[str, dict[str, list[Row]]]:
    """The rows of the host tables that concern ``hosts``, per host and table (a row's host
    is its ``host``, else its ``destination``)."""
    by_host: dict[str, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for name in _HOST_TABLES:
        for chunk in rec.tables[name].chunks():
            names = list(chunk)
            for i, host in enumerate(_hosts(chunk)):
                if host is not None and host in hosts:
                    by_host[host][name].append({n: chunk[n][i] for n in names})
    return by_host


def finalise_drift(rec: Recorder, end: float, host_vcenter: dict[str, str]) -> None:
    """Write the ``drift_events`` record of every drift the injector reported
    (``rec.drifts``), in drift order, with the columns derived from the other tables."""
    by_host = _by_host(rec, {d.host for d in rec.drifts})
    for d in rec.drifts:
        facts: dict[str, Any] = {
            "id": d.id, "host": d.host, "kind": d.kind, "at": d.at, "measured": d.measured,
            "outcome": d.outcome, "effective_at": d.effective_at,
            "remediated_at": d.remediated_at,
        }  # fmt: skip
        if d.outcome == "blocked":
            zero: dict[str, Any] = dict.fromkeys(
                ("keys_released", "power_ons", "migrations_in", "keys_resident"), 0
            )
            rec.write(DriftEvent(**facts, **zero))
            continue
        h, at = d.host, d.at
        win_end = d.remediated_at if d.remediated_at is not None else end
        rows = by_host[h]
        verdicts = rows["verdicts"]
        quoted = None
        if d.effective_at is not None:
            quotes = (v["quoted_at"] for v in verdicts if v["quoted_at"] is not None)
            quoted = _first(quotes, d.effective_at, win_end)
        detected = _first(
            (v["verdict_at"] for v in verdicts if v["outcome"] == "fail" and not v["stale"]),
            at,
            win_end,
        )
        downs = sorted(e["time"] for e in rows["host_events"] if e["event"] == "down")
        cover = _coverage_end(rows["reports"], at, downs)
        key_refusal = cover if cover < win_end else None
        view = _view_refusal(rows["status_views"], host_vcenter.get(h), at, win_end)
        ta = at if _ta_untrusted(verdicts, at) else detected
        candidates = [x for x in (ta, key_refusal, view) if x is not None and x < win_end]
        lapse = min(candidates) if candidates else None
        view_at = view if view < win_end else None
        refusals = [x for x in (view_at, key_refusal) if x is not None]
        refusal = min(refusals) if refusals else None
        first_refused = _first((r["time"] for r in rows["refusals"]), at, win_end)
        exposed: dict[str, Any] = exposure(rows, h, [(at, win_end)])
        rec.write(
            DriftEvent(
                **facts,
                window_end=win_end,
                unmeasured_s=_since(quoted, at),
                detected_at=detected,
                lapse_at=lapse,
                key_refusal_at=key_refusal,
                vcenter_refusal_at=view_at,
                first_refused_at=first_refused,
                time_to_detection_s=_since(detected, at),
                time_to_lapse_s=_since(lapse, at),
                time_to_key_refusal_s=_since(key_refusal, at),
                time_to_vcenter_refusal_s=_since(view_at, at),
                time_to_refusal_s=_since(refusal, at),
                time_to_first_refused_s=_since(first_refused, at),
                **exposed,
            )
        )


def _since(t: float | None, at: float) -> float | None:
    return None if t is None else t - at


def exposure(rows: dict[str, list[Row]], host: str, spans: Sequence[Span]) -> dict[str, int]:
    """Trusted-workload events on ``host`` inside ``spans``: keys released to it, power-ons
    and migrations-in of VMs that need a key (each event counted once), and the distinct VM
    keys it held at some moment inside them (``keys_resident``)."""
    return {
        "keys_released": sum(
            1
            for k in rows["key_requests"]
            if k["outcome"] == "released" and contains(spans, k["time"])
        ),
        "power_ons": sum(
            1
            for p in rows["placements"]
            if p["outcome"] == "placed" and p["needs_key"] and contains(spans, p["time"])
        ),
        "migrations_in": sum(
            1
            for m in rows["migrations"]
            if m["outcome"] == "completed"
            and m["needs_key"]
            and m["destination"] == host
            and contains(spans, m["end"])
        ),
        "keys_resident": len(keys_held(rows["key_cache"], spans)),
    }


def keys_held(events: Sequence[Row], spans: Sequence[Span]) -> set[str]:
    """The VMs whose key a host held at some moment inside ``spans``, from its ``key_cache``
    rows: held at a span's start, or added inside it."""
    out: set[str] = set()
    by_vm: dict[str, list[Row]] = defaultdict(list)
    for e in events:
        by_vm[e["vm"]].append(e)
    for vm, rows in by_vm.items():
        for start, end in spans:
            before = [e for e in rows if e["time"] <= start]
            if (before and before[-1]["event"] == "added") or any(
                e["event"] == "added" and start < e["time"] < end for e in rows
            ):
                out.add(vm)
                break
    return out


def exposure_by_host(rec: Recorder, end: float, warmup: float) -> dict[str, dict[str, int]]:
    """Per drifted host, the exposure over the union of its drift windows that start at or
    after ``warmup`` (overlapping drifts of one host count each event once)."""
    windows: dict[str, list[Span]] = defaultdict(list)
    for d in rec.tables["drift_events"]:
        if d["at"] >= warmup and d["outcome"] != "blocked":
            close = d["remediated_at"] if d["remediated_at"] is not None else end
            windows[d["host"]].append((d["at"], close))
    by_host = _by_host(rec, windows)
    return {h: exposure(by_host[h], h, union(spans)) for h, spans in windows.items()}
