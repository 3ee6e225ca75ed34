"""Figures from the tables of runs: attestation latency CDFs (one run, or the pooled
runs of a sweep) and service utilisation over simulated time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sim.analysis import folder_io, results
from sim.analysis.tables import TABLES
from sim.errors import Problem, RunError, ScenarioError
from sim.plots._common import (
    _SERVICES,
    PathLike,
    _columns,
    _factor_label,
    _format_level,
    _group_label,
    _load_run,
    _load_sweep,
    _metric_label,
    _num,
    _rows,
    _source_kind,
    _styled,
    _Sweep,
    _upper_first,
    _with_unit,
    plain,
    plain_log_ticks,
    time_unit,
)
from sim.scenario.units import (
    parse_duration,
)
from sim.scenario.yaml_safe import load_yaml_text

# --------------------------------------------------------------------------- runs

SCALES = ("linear", "log", "ccdf")
"""The axis choices of :func:`latency_cdf`."""


def _warmup(scenario_yaml: str) -> float:
    try:
        data = load_yaml_text(scenario_yaml, results.SCENARIO_FILE)  # bounded: no alias bomb
        return parse_duration(data.get("warmup", 0) if isinstance(data, dict) else 0)
    except (ScenarioError, ValueError, OverflowError) as exc:
        raise RunError(f"cannot read the run's warm-up from its scenario: {exc}") from None


def _run_folder(sweep: Path, rel: str) -> Path:
    """The run folder ``rel`` (an ``index.csv`` path) inside the sweep folder; a path that
    leaves it (``../..``, absolute) is refused, never read."""
    folder = sweep / rel
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise RunError(f"{sweep / 'index.csv'}: run path {rel!r} leaves the sweep folder")
    return folder


def _attestation_values(table: Any, metric: str, warmup: float) -> list[float]:
    """``metric`` of the successful attestations requested after the warm-up."""
    if metric not in _columns(table):
        raise ScenarioError(
            [Problem("metric", f"{metric!r} is not a column of the attestations table")]
        )
    return [
        float(r[metric])
        for r in _rows(table)
        if r["ok"] is not None
        and bool(r["ok"])
        and r[metric] is not None
        and _num(r["requested_at"]) >= warmup
    ]


def _pooled(sw: _Sweep, by: str, metric: str) -> dict[str, list[float]]:
    """Attestation values of the sweep's ok runs, pooled per group."""
    if by not in ("variant", "cell") and by not in sw.factors:
        raise ScenarioError(
            [
                Problem(
                    "by",
                    f"group by 'variant', 'cell' or a factor of sweep "
                    f"{sw.name} ({', '.join(sw.factors) or 'none'})",
                )
            ]
        )
    per_cell = by == "cell" or (by == "variant" and len(sw.variants) == 1)
    groups: dict[str, list[float]] = {}
    for r in sw.index:
        if r["status"] != "ok":
            continue
        if per_cell:
            key = _group_label(sw, str(r["variant"] or ""), [(f, r[f]) for f in sw.factors])
        elif by == "variant":
            key = str(r["variant"] or "")
        else:
            key = f"{_factor_label(by)}={plain(_format_level(by, r[by]))}"
        folder = _run_folder(sw.path, str(r["path"]))
        warmup = _warmup(folder_io.read_scenario_text(folder))
        values = _attestation_values(
            results.read_table(folder / "attestations.csv", TABLES["attestations"]), metric, warmup
        )
        groups.setdefault(key or "all runs", []).extend(values)
    return groups


@_styled
def latency_cdf(
    source: PathLike | results.RunResult | _Sweep,
    by: str = "variant",
    metric: str = "latency_s",
    scale: str = "linear",
) -> Figure:
    """Empirical CDF of attestation ``metric`` (successful attestations after the warm-up):
    one curve for a run folder; for a sweep folder one per group of its ok runs, pooled
    (``by``: ``variant`` (per cell when there is one variant), ``cell`` or a factor).
    ``scale``: ``linear``; ``log`` (a log time axis); ``ccdf`` (the fraction above x on
    log-log axes, which shows the tail the CDF squeezes against 1)."""
    if scale not in SCALES:
        raise ScenarioError(
            [Problem("--scale", f"expected one of {', '.join(SCALES)}, found {scale!r}")]
        )
    if _source_kind(source) == "sweep":
        sw = _load_sweep(source)  # type: ignore[arg-type]
        groups = _pooled(sw, by, metric)
        runs = sum(1 for r in sw.index if r["status"] == "ok")
        where = f"sweep {plain(sw.name)}"
        pooled = f" of {runs} runs"
    else:
        run = _load_run(source)  # type: ignore[arg-type]
        where = plain(run.manifest.get("scenario", run.path.name))
        pooled = ""
        groups = {
            where: _attestation_values(
                run.table("attestations"), metric, _warmup(run.scenario_yaml)
            )
        }
    if not any(groups.values()):
        raise RunError(f"{where}: no successful attestations to plot")
    unit, div = time_unit(max(max(v) for v in groups.values() if v))
    fig = Figure()
    ax = fig.subplots()
    for label, values in groups.items():
        if values:
            xs = np.sort(np.asarray(values)) / div
            ranks = np.arange(1, len(xs) + 1) / len(xs)
            # The CCDF at each value is the fraction strictly above it; its last point (0)
            # cannot be drawn on a log axis and is left out.
            ys = ranks if scale != "ccdf" else 1.0 - ranks
            keep = slice(None) if scale != "ccdf" else slice(0, len(xs) - 1)
            ax.step(xs[keep], ys[keep], where="post", label=f"{label} (n={len(xs)})")
    name = {"latency_s": "attestation latency"}.get(metric, _metric_label(metric))
    ax.set_xlabel(_with_unit(name, unit))
    if scale == "ccdf":
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_ticks(ax.xaxis)
        plain_log_ticks(ax.yaxis)
        ax.set_ylabel("fraction of attestations > x")
        kind = "complementary CDF (tail)"
    else:
        if scale == "log":
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis)
        ax.set_ylabel("fraction of attestations ≤ x")
        ax.set_ylim(0, 1.02)
        kind = "empirical CDF"
    total = sum(len(v) for v in groups.values())
    ax.set_title(
        f"{_upper_first(name)}, {kind}, {where}\n"
        f"{total} successful attestations{pooled} after the warm-up"
    )
    fig.legend(loc="outside right center", title="runs pooled" if len(groups) > 1 else None)
    return fig


@_styled
def utilisation_over_time(run: PathLike | results.RunResult) -> Figure:
    """Utilisation (busy workers / workers, %) and queue length of each service kind over
    simulated time, from the run's ``levels`` table (mean over each kind's nodes)."""
    rr = _load_run(run)
    services = rr.summary.get("services", {})
    series: dict[str, dict[str, dict[float, list[float]]]] = {"busy": {}, "queue": {}}
    for r in _rows(rr.table("levels")):
        kind, index, what = str(r["series"]).split(".")
        value = _num(r["value"])
        if what == "busy":
            workers = services.get(kind, {}).get("nodes", {}).get(index, {}).get("workers")
            if not workers:
                continue
            value = 100.0 * value / workers
        if what in series:
            series[what].setdefault(kind, {}).setdefault(_num(r["time"]), []).append(value)
    if not series["busy"] and not series["queue"]:
        raise RunError(f"{rr.path}: the levels table holds no service samples")
    end = max(t for per in series.values() for s in per.values() for t in s)
    unit, div = time_unit(end)
    fig = Figure(figsize=(8.0, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True)
    order = [k for k in _SERVICES if k in series["busy"] or k in series["queue"]]
    order += sorted({*series["busy"], *series["queue"]} - set(order))
    for ax, what in ((top, "busy"), (bottom, "queue")):
        for i, kind in enumerate(order):
            samples = series[what].get(kind)
            if samples:
                ts = sorted(samples)
                ax.plot(
                    np.array(ts) / div,
                    [float(np.mean(samples[t])) for t in ts],
                    color=f"C{i % 10}",
                    label=_SERVICES.get(kind, kind),
                )
        _mark_drift(ax, rr, div)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.set_ylim(bottom=0)
    top.set_ylabel("utilisation (%)")
    top.set_title("Utilisation: busy workers / workers, mean over nodes")
    bottom.set_ylabel("queue length (requests)")
    bottom.set_title("Queue length, mean over nodes")
    bottom.set_xlabel(_with_unit("simulated time", unit))
    fig.suptitle(
        f"Service load over time, run of {plain(rr.manifest.get('scenario', rr.path.name))}"
    )
    return fig


def _mark_drift(ax: Any, rr: results.RunResult, div: float) -> None:
    """Shade each drift window (from the drift to its remediation or the run's end)."""
    if "drift_events" not in rr.tables:
        return
    windows = [
        (_num(r["at"]), _num(r["window_end"]))
        for r in _rows(rr.table("drift_events"))
        if r["outcome"] != "blocked" and r["window_end"] is not None
    ]
    for i, (start, end) in enumerate(sorted(windows)):
        ax.axvspan(
            start / div,
            max(end, start) / div,
            color="0.5",
            alpha=0.12,
            linewidth=0,
            label="drift window" if i == 0 else None,
        )


# --------------------------------------------------------------------------- topology
