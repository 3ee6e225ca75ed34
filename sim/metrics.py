"""Metrics: one record type per event, time-weighted levels, and the definitions of every
figure a run reports.

Processes call the :class:`Recorder`; at the end :func:`summarise` turns its tables into the
summary. Each reported figure is defined here, once (the README repeats these definitions):

attestation latency
    From the agent starting an attestation (nonce request) to the agent holding the report
    (or the final failure), including retries. ``verdict_latency`` stops at the Attestation
    Service's verdict instead.
time to lapse
    From a drift event to the first moment the host is no longer trusted: its status turns
    notAttested (a failed attestation verdict) or it holds no unexpired, unrevoked report.
time to key refusal
    From a drift event to the first moment the Key Provider Service would refuse the host a
    key: the host holds no report that is unexpired and unrevoked (a host comes back from a
    reboot without the report it held).
time to vCenter refusal
    From a drift event to the moment the managing workload vCenter's view of the host stops
    being ``attested`` (it learns status by polling), so placements needing a key are refused.
time to refusal
    The earlier of the two above: from then on a placement or a key release for the host
    would be refused.
time to first refused request
    From a drift event to the first request involving the host that was actually refused:
    a key request refused by the KPS, a placement that skipped the host for its attestation
    status, or a migration to it refused.
exposure
    Trusted-workload events on the drifted host from the drift until its remediation (or the
    end of the run): keys released to it, power-ons and migrations-in of VMs that need a key.
    Such events can only happen before refusal, so this is the exposure before refusal.
censored drift
    Every drift time is taken within the drift's own window, from the drift to its
    remediation or the end of the run; a drift whose host did not lapse within it is
    censored (no lapse time).
safety violations
    Keys released to a host whose latest issued report was expired or revoked at the moment of
    release (the model must keep this at 0).

Records before the scenario's warm-up are excluded from statistics (drift events by their
start, requests by their start).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Row = dict[str, Any]

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "attestations": (
        "host",
        "trigger",
        "node",
        "requested_at",
        "verdict_at",
        "completed_at",
        "ok",
        "reasons",
        "attempts",
        "queue_wait_s",
        "latency_s",
        "verdict_latency_s",
    ),
    "reports": (
        "jti",
        "host",
        "node",
        "issued_at",
        "delivered_at",
        "expires_at",
        "revoked_at",
        "image_id",
    ),
    "key_requests": (
        "time",
        "host",
        "vm",
        "node",
        "purpose",
        "outcome",
        "reason",
        "cache_hit",
        "latency_s",
    ),
    "placements": ("time", "vcenter", "vm", "host", "needs_key", "outcome", "reason"),
    "refusals": ("time", "host", "vm", "kind", "reason"),
    "migrations": (
        "start",
        "end",
        "vm",
        "source",
        "destination",
        "needs_key",
        "encrypted",
        "outcome",
        "reason",
        "duration_s",
        "iterations",
        "bytes_transferred",
        "payload_bytes",
        "bandwidth_Bps",
    ),
    "status_views": ("time", "vcenter", "host", "status"),
    "host_events": ("time", "host", "event", "reason"),
    "drift_events": (
        "id",
        "host",
        "kind",
        "at",
        "measured",
        "effective_at",
        "remediated_at",
        "detected_at",
        "lapse_at",
        "key_refusal_at",
        "vcenter_refusal_at",
        "first_refused_at",
        "time_to_lapse_s",
        "time_to_key_refusal_s",
        "time_to_vcenter_refusal_s",
        "time_to_refusal_s",
        "time_to_first_refused_s",
        "keys_released",
        "power_ons",
        "migrations_in",
    ),
    "levels": ("time", "series", "value"),
}


@dataclass
class Level:
    """A time-weighted level (busy workers, queue length): its integral and maximum."""

    start: float = 0.0
    value: float = 0.0
    since: float = 0.0
    area: float = 0.0
    peak: float = 0.0
    integral: float = 0.0  # like area, but never reset: for the sampled time series

    def set(self, now: float, value: float) -> None:
        """The level becomes ``value`` at ``now``."""
        step = self.value * (now - self.since)
        self.area += step
        self.integral += step
        self.since = now
        self.value = value
        self.peak = max(self.peak, value)

    def mean(self, now: float) -> float:
        """Time-weighted mean from ``start`` to ``now``."""
        span = now - self.start
        if span <= 0:
            return 0.0
        return (self.area + self.value * (now - self.since)) / span

    def integral_at(self, now: float) -> float:
        """The level's integral from time 0 to ``now`` (warm-up included)."""
        return self.integral + self.value * (now - self.since)

    def reset(self, now: float) -> None:
        """Forget history before ``now`` (end of warm-up) for the summary statistics."""
        self.integral = self.integral_at(now)
        self.area, self.since, self.start, self.peak = 0.0, now, now, self.value


@dataclass
class Recorder:
    """Collects rows per table and time-weighted levels; knows nothing of SimPy."""

    tables: dict[str, list[Row]] = field(
        default_factory=lambda: {name: [] for name in TABLE_COLUMNS}
    )
    levels: dict[str, Level] = field(default_factory=dict)
    capacities: dict[str, int] = field(default_factory=dict)
    safety_violations: int = 0
    _latest_report: dict[str, tuple[str, float]] = field(default_factory=dict)
    _revoked: set[str] = field(default_factory=set)
    _sampled: dict[str, tuple[float, float]] = field(default_factory=dict)

    def add(self, table: str, **row: Any) -> Row:
        """Append one row to ``table`` and return it (callers may fill fields later)."""
        self.tables[table].append(row)
        return row

    def level(self, series: str, capacity: int = 0) -> Level:
        """The level named ``series`` (created on first use)."""
        lv = self.levels.get(series)
        if lv is None:
            lv = self.levels[series] = Level()
            if capacity:
                self.capacities[series] = capacity
        return lv

    def sample_levels(self, now: float) -> None:
        """Append to the ``levels`` table, for every level, its time-weighted mean over the
        period since the previous sample (a row at ``time`` covers the period ending then;
        the first call only marks the start)."""
        rows = self.tables["levels"]
        for name, lv in self.levels.items():
            total = lv.integral_at(now)
            last = self._sampled.get(name)
            if last is not None and now > last[0]:
                rows.append(
                    {"time": now, "series": name, "value": (total - last[1]) / (now - last[0])}
                )
            self._sampled[name] = (now, total)

    # --- ground truth for the safety invariant ---------------------------------------

    def report_issued(self, jti: str, host: str, expires_at: float) -> None:
        """Note the host's newest report (ground truth, independent of the KPS)."""
        self._latest_report[host] = (jti, expires_at)

    def report_revoked(self, jti: str) -> None:
        """Note a revoked report."""
        self._revoked.add(jti)

    def key_released(self, host: str, now: float) -> bool:
        """Check the safety invariant for one release to ``host`` at ``now``: the host's
        latest issued report must be unexpired and unrevoked. Counts and returns a violation."""
        latest = self._latest_report.get(host)
        bad = latest is None or latest[1] <= now or latest[0] in self._revoked
        if bad:
            self.safety_violations += 1
        return bad


# --------------------------------------------------------------------------- derivation


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


# --------------------------------------------------------------------------- summary


def _services(rec: Recorder, now: float) -> dict[str, Any]:
    """Per service kind: utilisation and mean queue length averaged over its nodes, the
    peak queue of any node, the total workers, and the same per node (``nodes``)."""
    nodes: dict[str, dict[str, dict[str, float]]] = {}
    for name, lv in sorted(rec.levels.items()):
        kind, index, what = name.split(".")
        entry = nodes.setdefault(kind, {}).setdefault(index, {})
        cap = rec.capacities.get(name)
        if what == "busy" and cap:
            entry["utilisation"] = lv.mean(now) / cap
            entry["workers"] = cap
        else:
            entry[f"mean_{what}"] = lv.mean(now)
            entry[f"max_{what}"] = lv.peak
    out: dict[str, Any] = {}
    for kind, per_node in nodes.items():
        values = list(per_node.values())
        out[kind] = {
            "utilisation": sum(v.get("utilisation", 0.0) for v in values) / len(values),
            "workers": int(sum(v.get("workers", 0) for v in values)),
            "mean_queue": sum(v.get("mean_queue", 0.0) for v in values) / len(values),
            "max_queue": max(v.get("max_queue", 0.0) for v in values),
            "nodes": per_node,
        }
    return out


HEADLINE_KEYS: tuple[str, ...] = (
    "attestation.requests",
    "attestation.failed",
    "attestation.latency_s.p50",
    "attestation.latency_s.p95",
    "attestation.latency_s.p99",
    "drift.events",
    "drift.lapsed",
    "drift.censored",
    "drift.time_to_lapse_s.mean",
    "drift.time_to_lapse_s.p95",
    "drift.time_to_refusal_s.mean",
    "drift.time_to_refusal_s.p95",
    "drift.time_to_first_refused_s.mean",
    "drift.exposure.keys_released",
    "drift.exposure.power_ons",
    "drift.exposure.migrations_in",
    "key_requests.released",
    "key_requests.refused",
    "placements.placed",
    "placements.refused",
    "vmotion.completed",
    "vmotion.encrypted",
    "vmotion.duration_s.mean",
    "services.attestation_service.utilisation",
    "services.key_provider_service.utilisation",
    "services.kms.utilisation",
    "safety.violations",
)


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The subset of a summary that ``vtasim run`` prints (same nesting and keys)."""
    out: dict[str, Any] = {}
    for dotted in HEADLINE_KEYS:
        value = metric_value(summary, dotted)
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


def metric_value(summary: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path of a summary (None when absent)."""
    node: Any = summary
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def stats(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, mean, p50, p95, p99 and max of ``values`` (None where there are none)."""
    if not values:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    arr = np.asarray(values, dtype=float)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "count": len(values),
        "mean": float(arr.mean()),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(arr.max()),
    }


def summarise(rec: Recorder, now: float, warmup: float) -> dict[str, Any]:
    """The run's summary: every headline figure under a stable key."""
    t = rec.tables
    att = [a for a in t["attestations"] if a["requested_at"] >= warmup]
    done = [a for a in att if a["completed_at"] is not None]
    keys = [k for k in t["key_requests"] if k["time"] >= warmup]
    pl = [p for p in t["placements"] if p["time"] >= warmup]
    mig = [m for m in t["migrations"] if m["start"] >= warmup]
    mig_ok = [m for m in mig if m["outcome"] == "completed"]
    drift = [d for d in t["drift_events"] if d["at"] >= warmup]

    def col(rows: Iterable[Row], name: str) -> list[float]:
        return [r[name] for r in rows if r[name] is not None]

    services = _services(rec, now)
    return {
        "attestation": {
            "requests": len(att),
            "succeeded": sum(1 for a in done if a["ok"]),
            "failed": sum(1 for a in done if not a["ok"]),
            "latency_s": stats(col((a for a in done if a["ok"]), "latency_s")),
            "verdict_latency_s": stats(col(done, "verdict_latency_s")),
            "queue_wait_s": stats(col(done, "queue_wait_s")),
        },
        "key_requests": {
            "requests": len(keys),
            "released": sum(1 for k in keys if k["outcome"] == "released"),
            "refused": sum(1 for k in keys if k["outcome"] == "refused"),
            "failed": sum(1 for k in keys if k["outcome"] == "failed"),
            "cache_hit_ratio": (
                sum(1 for k in keys if k["cache_hit"])
                / max(1, sum(1 for k in keys if k["cache_hit"] is not None))
            ),
            "latency_s": stats(col((k for k in keys if k["outcome"] == "released"), "latency_s")),
        },
        "drift": {
            "events": len(drift),
            "lapsed": sum(1 for d in drift if d["lapse_at"] is not None),
            "censored": sum(1 for d in drift if d["lapse_at"] is None),
            "time_to_lapse_s": stats(col(drift, "time_to_lapse_s")),
            "time_to_refusal_s": stats(col(drift, "time_to_refusal_s")),
            "time_to_key_refusal_s": stats(col(drift, "time_to_key_refusal_s")),
            "time_to_vcenter_refusal_s": stats(col(drift, "time_to_vcenter_refusal_s")),
            "time_to_first_refused_s": stats(col(drift, "time_to_first_refused_s")),
            "exposure": {
                "keys_released": sum(d["keys_released"] for d in drift),
                "power_ons": sum(d["power_ons"] for d in drift),
                "migrations_in": sum(d["migrations_in"] for d in drift),
            },
        },
        "placements": {
            "requests": len(pl),
            "placed": sum(1 for p in pl if p["outcome"] == "placed"),
            "refused": sum(1 for p in pl if p["outcome"] == "refused"),
            "failed": sum(1 for p in pl if p["outcome"] == "failed"),
        },
        "vmotion": {
            "requests": len(mig),
            "completed": len(mig_ok),
            "refused": sum(1 for m in mig if m["outcome"] == "refused"),
            "failed": sum(1 for m in mig if m["outcome"] == "failed"),
            "encrypted": sum(1 for m in mig_ok if m["encrypted"]),
            "duration_s": stats(col(mig_ok, "duration_s")),
            "encrypted_duration_s": stats(col((m for m in mig_ok if m["encrypted"]), "duration_s")),
            "plain_duration_s": stats(col((m for m in mig_ok if not m["encrypted"]), "duration_s")),
            "bytes_transferred": int(sum(col(mig_ok, "bytes_transferred"))),
            "encrypted_payload_bytes": int(
                sum(col((m for m in mig_ok if m["encrypted"]), "payload_bytes"))
            ),
        },
        "services": services,
        "safety": {"violations": rec.safety_violations},
    }


SERVICE_KINDS = ("attestation_service", "key_provider_service", "status_service", "kms")
_SERVICE_FIELDS = ("utilisation", "workers", "mean_queue", "max_queue")


def _leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def is_metric(path: str) -> bool:
    """Whether ``path`` names a figure of the summary (``drift.time_to_lapse_s.mean``,
    ``services.kms.utilisation``, ``services.kms.nodes.0.max_queue``...)."""
    parts = path.split(".")
    if parts[0] == "services":
        if len(parts) == 3:
            return parts[1] in SERVICE_KINDS and parts[2] in _SERVICE_FIELDS
        return (
            len(parts) == 5
            and parts[1] in SERVICE_KINDS
            and parts[2] == "nodes"
            and parts[3].isdigit()
            and parts[4] in _SERVICE_FIELDS
        )
    return path in _SUMMARY_LEAVES


_SUMMARY_LEAVES = frozenset(_leaves(summarise(Recorder(), 1.0, 0.0)))
