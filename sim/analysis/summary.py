"""The run summary, and the definition of every figure a run reports.

At the end of a run :func:`summarise` turns the recorder's tables and levels into the nested
summary (``summary.json``). Each reported figure is defined here, once (the documentation repeats
these definitions; every key, with its unit and a one-line definition, is declared in
:mod:`sim.analysis.catalogue`):

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
unfinished
    Work still running at the end of the run (a migration in pre-copy, a placement or key
    request waiting for a key, an attestation or a verdict under way, an HA restart): written
    with outcome ``unfinished`` and ``elapsed_s``, never counted as refused or failed. Every
    count of requests includes it; ``refused`` and ``failed`` do not, and ``unfinished``
    stands beside them.
safety violations
    Keys released to a host whose latest issued report was expired or revoked at the moment of
    release (the model must keep this at 0).

Records before the scenario's warm-up are excluded from statistics (drift events by their
start, requests by their start).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sim.analysis.catalogue import SERVICE_KINDS, is_metric
from sim.analysis.drift import exposure_by_host, host_trust
from sim.analysis.durations import DRIFT_TIMES, DURATION_METRICS, collect
from sim.analysis.intervals import intersect, total
from sim.analysis.operations import operations_summary
from sim.analysis.recorder import Recorder, Row
from sim.analysis.records import UNFINISHED
from sim.analysis.stats import stats
from sim.analysis.survival import Durations, time_to_event
from sim.domain.reasons import Reason
from sim.scenario.model import Metrics, Scenario

KMS_UNANSWERED = Reason.KMS_UNAVAILABLE.text
"""The reason of a KMIP Get that no KMS server answered (every server timed out)."""

__all__ = [
    "HEADLINE_KEYS",
    "SERVICE_KINDS",
    "censoring_view",
    "headline",
    "is_metric",
    "metric_value",
    "summarise",
]


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
    """The subset of a summary that ``vtasim run`` prints (same nesting and keys). A
    duration that may not end (a time-to-event group) is shown with its censoring: the
    number censored, the Kaplan-Meier median and restricted mean beside the mean over the
    events, and words where a figure has no value (``all 3 censored``)."""
    out: dict[str, Any] = {}
    for dotted in HEADLINE_KEYS:
        parent, leaf = dotted.rsplit(".", 1)
        group = metric_value(summary, parent)
        if isinstance(group, dict) and "censored" in group and "km_median" in group:
            for name, value in censoring_view(group).items():
                if name == leaf or name not in ("mean", "p95", "p50", "p99", "max"):
                    _put(out, f"{parent}.{name}", value)
            continue
        _put(out, dotted, metric_value(summary, dotted))
    return out


def censoring_view(group: dict[str, Any]) -> dict[str, Any]:
    """A time-to-event group as it is shown: ``mean`` over the events (``all N censored``
    when no event happened), ``censored``, ``km_median`` (``not reached (k of N censored)``
    when survival never fell to one half, ``all N censored`` without events) and
    ``km_restricted_mean``; empty when there were no observations at all."""
    events, censored = int(group.get("count") or 0), int(group.get("censored") or 0)
    if events + censored == 0:
        return {}
    view = dict(group)
    everything = f"all {censored} censored"
    if group.get("mean") is None:
        view["mean"] = everything
    if group.get("km_median") is None:
        view["km_median"] = (
            f"not reached ({censored} of {events + censored} censored)" if events else everything
        )
    for shown_elsewhere in ("km_horizon", "count", "km_median_ci_low", "km_median_ci_high"):
        view.pop(shown_elsewhere, None)  # the median's interval: in the summary, cells.csv
    return view


def _put(out: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``value`` at a dotted path of ``out`` (nothing when it is None)."""
    if value is None:
        return
    *parents, leaf = dotted.split(".")
    target = out
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def metric_value(summary: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path of a summary (None when absent)."""
    node: Any = summary
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _col(rows: Iterable[Mapping[str, Any]], name: str) -> list[float]:
    return [r[name] for r in rows if r[name] is not None]


def _attestation(rec: Recorder, now: float, warmup: float) -> dict[str, Any]:
    requests = done = succeeded = 0
    latency: list[float] = []
    verdict_latency: list[float] = []
    for requested, completed, ok, lat, vlat in rec.tables["attestations"].select(
        "requested_at", "completed_at", "ok", "latency_s", "verdict_latency_s"
    ):
        if requested < warmup:
            continue
        requests += 1
        if completed is None:
            continue
        done += 1
        if ok:
            succeeded += 1
            if lat is not None:
                latency.append(lat)
        if vlat is not None:
            verdict_latency.append(vlat)
    count = dict.fromkeys(("pass", "fail", "dropped", "lost", UNFINISHED), 0)
    stale_n = delivered = 0
    waits: list[float] = []
    for arrived, started, outcome, stale, delivered_at in rec.tables["verdicts"].select(
        "arrived_at", "started_at", "outcome", "stale", "delivered_at"
    ):
        if arrived < warmup:
            continue
        if started is not None:
            waits.append(started - arrived)
        if outcome in count:
            count[outcome] += 1
        if outcome in ("pass", "fail"):
            stale_n += 1 if stale else 0
            delivered += 0 if delivered_at is None else 1
    reached = count["pass"] + count["fail"]
    span = max(now - warmup, 1e-12)
    return {
        "requests": requests,
        "succeeded": succeeded,
        "failed": done - succeeded,
        "unfinished": requests - done,
        "latency_s": stats(latency),
        "verdict_latency_s": stats(verdict_latency),
        "queue_wait_s": stats(waits),
        "verdicts": {
            "reached": reached,
            "passed": count["pass"],
            "failed": count["fail"],
            "stale": stale_n,
            "delivered": delivered,
            "dropped": count["dropped"],
            "lost": count["lost"],
            "unfinished": count[UNFINISHED],
            "throughput_per_s": reached / span,
            "goodput_per_s": delivered / span,
        },
    }


def _key_requests(rec: Recorder, warmup: float) -> dict[str, Any]:
    """Key requests after the warm-up. ``cache_hit_ratio`` is node cache hits over primary-key
    lookups (requests that passed the report check: hits, misses that sent a Get, misses
    that waited for the Get in flight); None with no lookup. ``kms_gets`` counts the Gets a
    KMS server answered; ``kms_gets_unanswered`` those no server answered (every server
    timed out: ``kms.unavailable``)."""
    count = dict.fromkeys(("released", "refused", "failed", UNFINISHED), 0)
    rows = requests = lookups = hits = waits = gets = unanswered = timeouts = 0
    latency: list[float] = []
    for time, outcome, reason, cache_hit, kms_get, kms_timeouts, lat in rec.tables[
        "key_requests"
    ].select("time", "outcome", "reason", "cache_hit", "kms_get", "kms_timeouts", "latency_s"):
        if time < warmup:
            continue
        rows += 1
        if outcome == "host_cache":
            continue
        requests += 1
        if outcome in count:
            count[outcome] += 1
        if cache_hit is not None:
            lookups += 1
            hits += 1 if cache_hit else 0
            waits += 1 if not cache_hit and kms_get is False else 0
        if kms_get:
            answered = reason != KMS_UNANSWERED
            gets += 1 if answered else 0
            unanswered += 0 if answered else 1
        timeouts += kms_timeouts or 0
        if outcome == "released" and lat is not None:
            latency.append(lat)
    return {
        "requests": requests,
        "released": count["released"],
        "refused": count["refused"],
        "failed": count["failed"],
        "unfinished": count[UNFINISHED],
        "host_cache_hits": rows - requests,
        "cache_hit_ratio": hits / lookups if lookups else None,
        "primary_key_waits": waits,
        "kms_gets": gets,
        "kms_gets_unanswered": unanswered,
        "kms_timeouts": timeouts,
        "latency_s": stats(latency),
    }


def _key_providers(rec: Recorder, now: float, warmup: float) -> dict[str, Any]:
    """Per key provider: KMS Gets of its primary key a server answered, releases and
    failures, and the seconds its health spent OK, WARNING and ERROR after the warm-up."""
    health: dict[str, list[Row]] = defaultdict(list)
    for row in rec.tables["provider_health"]:
        health[row["provider"]].append(row)
    counts: dict[str, dict[str, int]] = {
        name: {"kms_gets": 0, "released": 0, "failed": 0} for name in health
    }
    for time, provider, outcome, reason, kms_get in rec.tables["key_requests"].select(
        "time", "provider", "outcome", "reason", "kms_get"
    ):
        mine = counts.get(provider) if time >= warmup else None
        if mine is not None:
            mine["kms_gets"] += 1 if kms_get and reason != KMS_UNANSWERED else 0
            if outcome in ("released", "failed"):
                mine[outcome] += 1
    out: dict[str, Any] = {}
    for name, changes in health.items():
        seconds = {"OK": 0.0, "WARNING": 0.0, "ERROR": 0.0}
        for change, nxt in zip(changes, [*changes[1:], None], strict=True):
            end = now if nxt is None else nxt["time"]
            seconds[change["state"]] += max(0.0, end - max(change["time"], warmup))
        out[name] = {
            **counts[name],
            "seconds_ok": seconds["OK"],
            "seconds_warning": seconds["WARNING"],
            "seconds_error": seconds["ERROR"],
        }
    return out


def _capacity(rec: Recorder, now: float, warmup: float, threshold: float) -> dict[str, Any]:
    """Capacity after the warm-up. Exact (from the step functions updated at every change):
    attested hosts, usable hosts and encrypted-VM slots with their time-weighted mean, true
    minimum (when first reached, how long in all and in its longest stretch), maximum, and
    for the host counts the time below ``threshold`` and at each level. Sampled (under
    ``sampled``, from the ``capacity`` table kept for plots): minimum, mean and maximum of
    the samples, which can miss a change between two samples. The exact figures start at
    the scenario's warm-up, set when the estate is built (the tracker keeps no history)."""
    rows = [r for r in rec.tables["capacity"] if r["time"] >= warmup]

    def spread(column: str) -> dict[str, float | None]:
        values = [float(r[column]) for r in rows]
        if not values:
            return {"min": None, "mean": None, "max": None}
        return {"min": min(values), "mean": sum(values) / len(values), "max": max(values)}

    return {
        **rec.capacity.summary(now, threshold),
        "sampled": {
            "attested_hosts": spread("attested_hosts"),
            "encrypted_vm_slots": spread("encrypted_vm_slots"),
        },
    }


def _drift(
    rec: Recorder, now: float, warmup: float, times: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    rows = [d for d in rec.tables["drift_events"] if d["at"] >= warmup]
    drift = [d for d in rows if d["outcome"] != "blocked"]
    out: dict[str, Any] = {
        "events": len(drift),
        "blocked": len(rows) - len(drift),
        "detected": sum(1 for d in drift if d["detected_at"] is not None),
        "lapsed": sum(1 for d in drift if d["lapse_at"] is not None),
        "censored": sum(1 for d in drift if d["lapse_at"] is None),
        "not_measured": sum(
            1 for d in drift if d["effective_at"] is None and d["remediated_at"] is None
        ),
    }
    for name in DRIFT_TIMES:
        out[name] = times[f"drift.{name}"]
    totals = {"keys_released": 0, "power_ons": 0, "migrations_in": 0, "keys_resident": 0}
    for counts in exposure_by_host(rec, now, warmup).values():
        for key, value in counts.items():
            totals[key] += value
    out["exposure"] = totals
    out["routine_gaps"] = _routine_gaps(rec, now, warmup)
    return out


def _routine_gaps(rec: Recorder, now: float, warmup: float) -> dict[str, Any]:
    """Time hosts spent up but holding no report while no drift of theirs was open."""
    after = [(warmup, now)]
    trust = host_trust(rec, now)
    gaps = [g for h in trust.values() for g in intersect(h.gaps, after)]
    up = sum(total(intersect(h.up, after)) for h in trust.values())
    spent = total(gaps)
    return {
        "count": len(gaps),
        "total_s": spent,
        "fraction": spent / up if up > 0 else 0.0,
        "longest_s": max((e - s for s, e in gaps), default=0.0),
    }


def _identity(rec: Recorder, warmup: float, restore: dict[str, Any]) -> dict[str, Any]:
    """EK registrations, and the time from a TPM swap taking effect to the host's first
    passing verdict after it (``restore``, see :mod:`sim.analysis.durations`)."""
    registrations = sum(1 for (t,) in rec.tables["identity_events"].select("time") if t >= warmup)
    return {"ek_registrations": registrations, "time_to_restore_s": restore}


def _vmotion(rec: Recorder, warmup: float) -> dict[str, Any]:
    requests = refused = failed = unfinished = 0
    ok: list[dict[str, Any]] = []
    for start, outcome, encrypted, duration, sent, payload in rec.tables["migrations"].select(
        "start", "outcome", "encrypted", "duration_s", "bytes_transferred", "payload_bytes"
    ):
        if start < warmup:
            continue
        requests += 1
        refused += 1 if outcome == "refused" else 0
        failed += 1 if outcome == "failed" else 0
        unfinished += 1 if outcome == UNFINISHED else 0
        if outcome == "completed":
            ok.append({"encrypted": encrypted, "duration_s": duration,
                       "bytes_transferred": sent, "payload_bytes": payload})  # fmt: skip
    return {
        "requests": requests,
        "completed": len(ok),
        "refused": refused,
        "failed": failed,
        "unfinished": unfinished,
        "encrypted": sum(1 for m in ok if m["encrypted"]),
        "duration_s": stats(_col(ok, "duration_s")),
        "encrypted_duration_s": stats(_col((m for m in ok if m["encrypted"]), "duration_s")),
        "plain_duration_s": stats(_col((m for m in ok if not m["encrypted"]), "duration_s")),
        "bytes_transferred": int(sum(_col(ok, "bytes_transferred"))),
        "encrypted_payload_bytes": int(
            sum(_col((m for m in ok if m["encrypted"]), "payload_bytes"))
        ),
    }


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Settings that make figures easy to misread, said in words."""
    att = scenario.attestation
    out = []
    if att.report_lifetime < att.interval + att.jitter:
        out.append(
            f"attestation.report_lifetime ({att.report_lifetime:g} s) is shorter than "
            f"interval + jitter ({att.interval + att.jitter:g} s): every host holds no report "
            "for part of each period, and those routine gaps (drift.routine_gaps) also end "
            "drift windows early (time to lapse and key refusal reflect expiry, not detection)"
        )
    return out


def summarise(
    rec: Recorder,
    now: float,
    warmup: float,
    scenario: Scenario | None = None,
    durations: Mapping[str, Durations] | None = None,
) -> dict[str, Any]:
    """The run's summary: every figure under a stable key. ``durations`` is the run's
    survival data when the caller derived it already (:func:`sim.analysis.durations.collect`);
    restricted means are taken at the scenario's ``metrics.rmst_horizon`` (its default
    without a scenario)."""
    data = collect(rec, now, warmup) if durations is None else durations
    horizon = (scenario.metrics if scenario is not None else Metrics()).rmst_horizon
    times = {key: time_to_event(data[key], horizon) for key in DURATION_METRICS}
    ops = {k.removeprefix("operations."): v for k, v in times.items() if k.startswith("op")}
    placed = dict.fromkeys(("placed", "refused", "failed", UNFINISHED), 0)
    requests = 0
    threshold = 1.0 if scenario is None else scenario.capacity.threshold
    for time, outcome in rec.tables["placements"].select("time", "outcome"):
        if time >= warmup:
            requests += 1
            if outcome in placed:
                placed[outcome] += 1
    return {
        "attestation": _attestation(rec, now, warmup),
        "key_requests": _key_requests(rec, warmup),
        "key_providers": _key_providers(rec, now, warmup),
        "capacity": _capacity(rec, now, warmup, threshold),
        "drift": _drift(rec, now, warmup, times),
        "placements": {"requests": requests, **placed},
        "vmotion": _vmotion(rec, warmup),
        "identity": _identity(rec, warmup, times["identity.time_to_restore_s"]),
        "operations": operations_summary(rec, warmup, ops),
        "services": _services(rec, now),
        "safety": {"violations": sum(1 for t in rec.violations if t >= warmup)},
        "warnings": [] if scenario is None else scenario_warnings(scenario),
    }
