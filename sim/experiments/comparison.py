"""Regimes side by side: one row per variant of a sweep, the comparison figures with 95%
confidence intervals over its replications.

The figures (documentation: Attestation regimes; every one is per run, then averaged):

- time to detection, lapse and refusal: the Kaplan-Meier restricted mean over the run's
  drifts (``km_restricted_mean``: drifts whose event never came count up to the end of
  their window, so a regime that never detects a kind is not flattered), with the number
  of censored drifts beside it;
- exposure: keys released to drifted hosts before remediation;
- verifier utilisation: busy workers / workers of the primary Attestation Service nodes
  (fallback nodes, idle while a primary one is up, left out);
- attestations per host-hour: verdicts the Attestation Services reached, per trusted host
  and hour of the measured span (duration less warm-up).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.analysis import folder_io, results
from sim.analysis.stats import nonneg_estimate
from sim.errors import RunError
from sim.scenario.loading import parse_resolved_scenario
from sim.scenario.yaml_safe import load_yaml_text


@dataclass(frozen=True)
class ComparedFigure:
    """One compared figure: its column name, unit and how a run yields it."""

    name: str
    unit: str
    metric: str


FIGURES: tuple[ComparedFigure, ...] = (
    ComparedFigure("time to detection", "s", "drift.time_to_detection_s.km_restricted_mean"),
    ComparedFigure("detection censored", "drifts", "drift.time_to_detection_s.censored"),
    ComparedFigure("time to lapse", "s", "drift.time_to_lapse_s.km_restricted_mean"),
    ComparedFigure("time to refusal", "s", "drift.time_to_refusal_s.km_restricted_mean"),
    ComparedFigure("refusal censored", "drifts", "drift.time_to_refusal_s.censored"),
    ComparedFigure("exposure: keys released", "keys", "drift.exposure.keys_released"),
    ComparedFigure("verifier utilisation", "%", "services.attestation_service.nodes"),
    ComparedFigure("attestations per host-hour", "1/h", "attestation.verdicts.reached"),
)
"""What :func:`regime_table` reports, in order."""


def _run_scale(folder: Path, run_path: str) -> tuple[float, list[str]]:
    """Host-hours of a run's measured span, and the utilisation metrics of its primary
    Attestation Service nodes."""
    run = folder / run_path  # the recorded scenario, never re-resolved; bounded read
    scenario = parse_resolved_scenario(
        folder_io.read_scenario_text(run), str(run / results.SCENARIO_FILE)
    )
    hosts = len(scenario.host_names())
    hours = (scenario.duration - scenario.warmup) / 3600.0
    nodes = [
        f"services.attestation_service.nodes.{i}.utilisation"
        for i in range(scenario.trust_authority.hosts)
    ]
    return hosts * hours, nodes


def _per_run(folder: Path, row: dict[str, Any]) -> dict[str, float | None]:
    host_hours, nodes = _run_scale(folder, str(row["path"]))
    out: dict[str, float | None] = {}
    for fig in FIGURES:
        if fig.metric == "services.attestation_service.nodes":
            missing = [n for n in nodes if n not in row]
            if missing:
                raise RunError(f"{folder}: the sweep did not record {missing[0]}")
            values = [row[n] for n in nodes]
            out[fig.name] = None if None in values else 100.0 * sum(values) / len(values)
            continue
        if fig.metric not in row:
            raise RunError(f"{folder}: the sweep did not record {fig.metric}")
        value = row[fig.metric]
        if value is not None and fig.name == "attestations per host-hour":
            value = value / host_hours
        out[fig.name] = None if value is None else float(value)
    return out


def _order(folder: Path, variant: str) -> int:
    """The variant's place in the sweep file (``sweep.resolved.yaml``)."""
    text = folder_io.read_scenario_text(folder, "sweep.resolved.yaml")
    resolved = load_yaml_text(text, str(folder / "sweep.resolved.yaml"))  # no alias bomb
    names = list(resolved["sweep"]["variants"] or {})
    return names.index(variant) if variant in names else len(names)


def regime_rows(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Per variant of the sweep in ``folder`` and figure: ``variant``, ``figure``, ``unit``,
    ``n``, ``mean``, ``ci_low``, ``ci_high`` (a 95% interval over the replications that stays
    non-negative, as every figure is; ``ci_method`` names it, see
    :func:`sim.analysis.stats.nonneg_estimate`)."""
    path = Path(folder)
    index = results.read_table(path / "index.csv")
    rows = index.to_dict("records") if hasattr(index, "to_dict") else list(index)
    per_variant: dict[str, list[dict[str, float | None]]] = {}
    for row in rows:
        if row["status"] == "ok":
            per_variant.setdefault(str(row["variant"]), []).append(_per_run(path, row))
    out: list[dict[str, Any]] = []
    for variant, runs in sorted(per_variant.items(), key=lambda kv: _order(path, kv[0])):
        for fig in FIGURES:
            est = nonneg_estimate([r[fig.name] for r in runs])
            out.append(
                {
                    "variant": variant,
                    "figure": fig.name,
                    "unit": fig.unit,
                    "n": est.n,
                    "mean": est.mean,
                    "ci_low": est.low,
                    "ci_high": est.high,
                    "ci_method": est.method,
                }
            )
    return out


def regime_table(folder: str | os.PathLike[str]) -> Any:
    """The comparison as a pandas DataFrame (needs pandas): one row per variant, one column
    per figure (``figure (unit)``), each cell ``mean`` over the replications."""
    import pandas as pd

    long = pd.DataFrame(regime_rows(folder))
    long["column"] = long["figure"] + " (" + long["unit"] + ")"
    order = list(dict.fromkeys(long["variant"]))
    columns = [f"{f.name} ({f.unit})" for f in FIGURES]
    table = long.pivot(index="variant", columns="column", values="mean")
    return table.loc[order, columns].rename_axis(index="regime", columns=None)
