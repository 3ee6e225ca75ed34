"""The run summary, and the definition of every figure a run reports.

At the end of a run :func:`summarise` turns the recorder's tables and levels into the nested
summary (``summary.json``). Each reported figure is defined here, once (the README repeats
these definitions):

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

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from sim.analysis.recorder import Recorder, Row


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
