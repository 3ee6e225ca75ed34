"""Every duration of a run that may not end, as survival data: what ended and what was
censored, per summary figure, and the run folder's ``durations.json`` that carries them.

The summary reports each of these figures with :func:`sim.analysis.survival.time_to_event`;
a sweep pools the replications' observations of a cell from their ``durations.json`` into
one Kaplan-Meier estimate (:mod:`sim.experiments.pooled`). The figures:

- ``drift.<time>`` (:data:`DRIFT_TIMES`): within each drift's own window, censored at the
  window's length (see :mod:`sim.analysis.drift`);
- ``identity.time_to_restore_s``: from a TPM swap taking effect (the host booting with the
  new TPM) to the host's first passing verdict on a quote taken after it; censored at the end
  of the run when none came (an EK never registered). Swaps that never took effect are not
  counted;
- ``operations.ha.latency_s``: from a host's crash to each of its VMs running again after a
  vSphere HA restart; a restart refused, failed or still waiting at the end is censored at
  the end of the run (a VM powered on again before HA tried is not counted);
- ``operations.repairs.time_to_restore_s``: from a repair taking its host down to the first
  moment its vCenter sees it as attested again; censored at the end of the run when it never
  does.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from sim.analysis.cells import json_bytes
from sim.analysis.operations import ha_latencies, restore_durations
from sim.analysis.recorder import Recorder
from sim.analysis.results import DURATIONS_FILE
from sim.analysis.survival import Durations
from sim.errors import RunError

DRIFT_TIMES = (
    "unmeasured_s",
    "time_to_detection_s",
    "time_to_lapse_s",
    "time_to_refusal_s",
    "time_to_key_refusal_s",
    "time_to_vcenter_refusal_s",
    "time_to_first_refused_s",
)
"""The drift columns reported as right-censored time-to-event figures."""

DURATION_METRICS: tuple[str, ...] = (
    *(f"drift.{name}" for name in DRIFT_TIMES),
    "identity.time_to_restore_s",
    "operations.ha.latency_s",
    "operations.repairs.time_to_restore_s",
)
"""The summary keys of every time-to-event figure, in the order ``durations.json`` holds."""

__all__ = [
    "DRIFT_TIMES",
    "DURATIONS_FILE",
    "DURATION_METRICS",
    "collect",
    "drift_durations",
    "durations_json",
    "identity_restore",
    "read_durations",
]


def drift_durations(rec: Recorder, warmup: float) -> dict[str, Durations]:
    """Per drift time: the drifts (after the warm-up, not blocked) whose event happened in
    their window, and the others censored at their window's length."""
    drift = [
        d for d in rec.tables["drift_events"] if d["at"] >= warmup and d["outcome"] != "blocked"
    ]
    return {
        f"drift.{name}": Durations.of(
            (d[name] for d in drift if d[name] is not None),
            (d["window_end"] - d["at"] for d in drift if d[name] is None),
        )
        for name in DRIFT_TIMES
    }


def identity_restore(rec: Recorder, now: float, warmup: float) -> Durations:
    """From each TPM swap taking effect to the host's first passing verdict on a quote taken
    after it (censored at the end of the run)."""
    swaps = [
        d for d in rec.tables["drift_events"]
        if d["kind"] == "tpm_swap" and d["effective_at"] is not None and d["at"] >= warmup
    ]  # fmt: skip
    hosts = {d["host"] for d in swaps}
    passes: dict[str, list[tuple[float, float]]] = defaultdict(list)
    if hosts:
        for host, outcome, quoted_at, verdict_at in rec.tables["verdicts"].select(
            "host", "outcome", "quoted_at", "verdict_at"
        ):
            if outcome == "pass" and host in hosts and quoted_at is not None:
                passes[host].append((quoted_at, verdict_at))
    ended: list[float] = []
    censored: list[float] = []
    for d in swaps:
        after = [v for q, v in passes.get(d["host"], ()) if q >= d["effective_at"]]
        if after:
            ended.append(min(after) - d["effective_at"])
        else:
            censored.append(now - d["effective_at"])
    return Durations.of(ended, censored)


def collect(rec: Recorder, now: float, warmup: float) -> dict[str, Durations]:
    """The survival data of every figure of :data:`DURATION_METRICS`."""
    out = drift_durations(rec, warmup)
    out["identity.time_to_restore_s"] = identity_restore(rec, now, warmup)
    out["operations.ha.latency_s"] = ha_latencies(rec, now, warmup)
    out["operations.repairs.time_to_restore_s"] = restore_durations(rec, now)
    return out


def durations_json(durations: Mapping[str, Durations]) -> bytes:
    """The bytes of the run folder's ``durations.json``: per figure of
    :data:`DURATION_METRICS`, ``{"ended": [...], "censored": [...]}`` in seconds, in the
    order they were derived."""
    return json_bytes(
        {k: {"ended": list(v.ended), "censored": list(v.censored)} for k, v in durations.items()},
        "durations",
    )


def read_durations(folder: Path | str) -> dict[str, Durations]:
    """The survival data of a run folder (``RunError`` when its file is missing or bad)."""
    path = Path(folder) / DURATIONS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): Durations.of(v["ended"], v["censored"]) for k, v in dict(data).items()}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise RunError(f"cannot read the survival data {path}: {exc}") from None
