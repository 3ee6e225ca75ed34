"""Matplotlib figures from run folders and sweep folders; plotting never runs a simulation.

Every public figure function returns a :class:`matplotlib.figure.Figure` built with the
object-oriented API (no pyplot state, nothing shown), so it works under the Agg backend, in
notebooks and in worker processes alike. One style (:data:`STYLE`) applies to every figure.
Quantities are shown in a unit that suits their size (durations in ms, s, min, h or d; sizes
in MiB/GiB; utilisation in %), and the axis label names the unit. Sweep figures draw the cell
means of ``cells.csv`` with their 95% confidence intervals as bands or error bars; run figures
read the run folder's tables.

:func:`plot` is the dispatcher behind ``vtasim plot``: it checks the kind and that the source
is the right sort of folder, draws, and :func:`save` writes the file atomically (PNG or SVG;
identical data give byte-identical SVG).
"""

from __future__ import annotations

import functools
import math
import os
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec

import matplotlib as mpl
import networkx as nx
import numpy as np
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from pydantic import BaseModel

from sim import results
from sim.errors import Problem, RunError, ScenarioError
from sim.scenario import Scenario, load_scenario, parse_scenario
from sim.topology import build_graph
from sim.units import (
    format_bandwidth,
    format_duration,
    format_rate,
    format_size,
    parse_duration,
)

__all__ = [
    "COMPARISON_METRICS",
    "KINDS",
    "STYLE",
    "TIME_UNITS",
    "exposure_vs",
    "lapse_vs",
    "latency_cdf",
    "metric_vs",
    "percentiles_vs",
    "plot",
    "save",
    "time_unit",
    "topology",
    "topology_comparison",
    "utilisation_over_time",
]

PathLike = str | os.PathLike[str]
P = ParamSpec("P")

STYLE: dict[str, Any] = {
    "figure.figsize": (8.0, 5.0),
    "figure.constrained_layout.use": True,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "font.size": 9,
    "svg.hashsalt": "vtasim",
    "svg.fonttype": "path",
}
TIME_UNITS: dict[str, float] = {"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
COMPARISON_METRICS: tuple[str, ...] = (
    "attestation.latency_s.p95",
    "drift.time_to_lapse_s.mean",
    "drift.time_to_refusal_s.mean",
    "services.attestation_service.utilisation",
)
_SERVICES = {
    "attestation_service": "Attestation Service",
    "key_provider_service": "Key Provider Service",
    "status_service": "status endpoint",
    "kms": "KMS",
}
_STATS = ("mean", "p50", "p95", "p99", "max", "count")
_CELL_COLUMNS = (
    "cell_id",
    "variant",
    "runs",
    "metric",
    "n",
    "mean",
    "std",
    "ci_half_width",
    "ci_low",
    "ci_high",
)
_SERIALISERS = {
    format_duration: "duration",
    format_size: "size",
    format_bandwidth: "bandwidth",
    format_rate: "rate",
}


def _style() -> Any:
    """A context applying :data:`STYLE` (matplotlib types its keys as a closed Literal)."""
    return mpl.rc_context(typing.cast(Any, STYLE))


def _styled(fn: Callable[P, Figure]) -> Callable[P, Figure]:
    """Build the figure under :data:`STYLE`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with _style():
            return fn(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- units


def time_unit(seconds: float) -> tuple[str, float]:
    """The unit to show durations up to ``seconds`` in, and its length in seconds."""
    top = abs(seconds) if math.isfinite(seconds) else 0.0
    if top == 0.0:
        return "s", 1.0
    for name, limit in (("ms", 1.0), ("s", 120.0), ("min", 3 * 3600.0), ("h", 3 * 86400.0)):
        if top < limit:
            return name, TIME_UNITS[name]
    return "d", TIME_UNITS["d"]


def _scale(kind: str | None, values: Sequence[float]) -> tuple[str, float]:
    """Unit name and divisor for showing ``values`` of the given quantity kind."""
    top = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if kind == "duration":
        return time_unit(top)
    if kind == "size":
        return ("GiB", 2.0**30) if top >= 2**30 else ("MiB", 2.0**20)
    if kind == "bandwidth":
        return "Gbit/s", 1.25e8
    if kind == "rate":
        return ("per hour", 1 / 3600) if top * 3600 >= 1 else ("per day", 1 / 86400)
    if kind == "fraction":
        return "%", 0.01
    return "", 1.0


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """The model or scalar type inside an annotation, and the Annotated metadata met."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        inner, *meta = typing.get_args(tp)
        base, more = _unwrap(inner)
        return base, [*meta, *more]
    args = [a for a in typing.get_args(tp) if a is not type(None) and a is not Ellipsis]
    if origin in (typing.Union, types.UnionType, tuple, list) and args:
        return _unwrap(args[0])
    return tp, []


def factor_kind(path: str) -> str | None:
    """The quantity kind (``duration``, ``size``, ``bandwidth``, ``rate``) of the scenario
    field at dotted ``path``, read from the Scenario model; None for counts and text."""
    model: Any = Scenario
    meta: list[Any] = []
    for part in path.split("."):
        if part.isdigit():
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(part)
        if info is None:
            return None
        model, inner = _unwrap(info.annotation)
        meta = [*info.metadata, *inner]
    return next(
        (_SERIALISERS[m.func] for m in meta if getattr(m, "func", None) in _SERIALISERS), None
    )


def _metric_kind(metric: str) -> str | None:
    parts = metric.split(".")
    if any(p.endswith("_s") for p in parts):
        return "duration"
    return "fraction" if parts[-1] == "utilisation" else None


def _common_kind(metrics: Sequence[str]) -> str | None:
    kinds = {_metric_kind(m) for m in metrics}
    return kinds.pop() if len(kinds) == 1 else None


def _metric_label(metric: str) -> str:
    """``drift.time_to_lapse_s.mean`` -> ``time to lapse (mean)``."""
    parts = metric.split(".")
    stat = parts.pop() if parts[-1] in _STATS and len(parts) > 1 else None
    if parts[0] == "services" and len(parts) > 1:
        parts = [_SERVICES.get(parts[1], parts[1]), *parts[2:]]
    elif parts[0] == "drift" and len(parts) > 1:
        parts = [p for p in parts[1:] if p != "exposure"] or parts
    words = " ".join(p.removesuffix("_s").replace("_", " ") for p in parts)
    return f"{words} ({stat})" if stat else words


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _with_unit(label: str, unit: str) -> str:
    return f"{label} ({unit})" if unit else label


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _format_level(factor: str, value: Any) -> str:
    kind = factor_kind(factor)
    if _is_number(value) and kind is not None:
        fmt: dict[str, Callable[[Any], str]] = {
            "duration": format_duration,
            "size": lambda v: format_size(int(v)),
            "bandwidth": format_bandwidth,
            "rate": format_rate,
        }
        return fmt[kind](value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _factor_label(factor: str) -> str:
    return factor.replace(".", " ").replace("_", " ")


# --------------------------------------------------------------------------- sources


def _rows(table: Any) -> list[dict[str, Any]]:
    """Row dicts of a DataFrame or row list, with NaN cells as None."""
    records = table.to_dict("records") if hasattr(table, "to_dict") else table
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
        for r in records
    ]


def _columns(table: Any) -> list[str]:
    if hasattr(table, "columns"):
        return [str(c) for c in table.columns]
    return list(table[0]) if table else []


@dataclass(frozen=True)
class _Sweep:
    path: Path
    name: str
    factors: tuple[str, ...]
    cells: list[dict[str, Any]]
    index: list[dict[str, Any]]

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(str(r["metric"]) for r in self.cells))

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(str(r["variant"] or "") for r in self.cells))


def _source_kind(source: Any) -> str:
    """``run``, ``sweep``, ``scenario`` or a description of what ``source`` is instead."""
    if isinstance(source, results.RunResult):
        return "run"
    if isinstance(source, _Sweep):
        return "sweep"
    if isinstance(source, Scenario):
        return "scenario"
    p = Path(source)
    if p.is_dir():
        if (p / "index.csv").is_file() and (p / "cells.csv").is_file():
            return "sweep"
        if (p / results.SUMMARY_FILE).exists() or (p / results.SCENARIO_FILE).exists():
            return "run"
        return "a folder that is neither a run folder nor a sweep folder"
    if p.is_file() and p.suffix in (".yaml", ".yml"):
        return "scenario"
    return "a file that is not a scenario" if p.exists() else "missing"


def _load_sweep(source: PathLike | _Sweep) -> _Sweep:
    if isinstance(source, _Sweep):
        return source
    p = Path(source)
    if _source_kind(p) != "sweep":
        raise RunError(f"{p} is not a sweep folder (it needs index.csv and cells.csv)")
    cells = results.read_table(p / "cells.csv")
    name = p.name
    resolved = p / "sweep.resolved.yaml"
    if resolved.is_file():
        doc = yaml.safe_load(resolved.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("sweep"), dict):
            name = str(doc["sweep"].get("name", name))
    factors = tuple(c for c in _columns(cells) if c not in _CELL_COLUMNS)
    return _Sweep(p, name, factors, _rows(cells), _rows(results.read_table(p / "index.csv")))


def _load_run(source: PathLike | results.RunResult) -> results.RunResult:
    return source if isinstance(source, results.RunResult) else results.load(Path(source))


def _check_factor(sw: _Sweep, x: str, what: str = "x") -> None:
    if x not in sw.factors:
        have = ", ".join(sw.factors) or "none"
        raise ScenarioError(
            [Problem(what, f"{x!r} is not a factor of sweep {sw.name} (its factors: {have})")]
        )


def _check_metrics(sw: _Sweep, metrics: Sequence[str]) -> None:
    missing = [m for m in metrics if m not in sw.metrics]
    if missing:
        raise RunError(
            f"sweep {sw.name} did not record {', '.join(missing)}; add them to "
            f"the sweep's metrics (it has: {', '.join(sw.metrics)})"
        )


def _group_label(sw: _Sweep, variant: str, levels: Sequence[tuple[str, Any]]) -> str:
    parts = [variant] if variant and len(sw.variants) > 1 else []
    parts += [f"{f.rsplit('.', 1)[-1]}={_format_level(f, v)}" for f, v in levels]
    return ", ".join(parts)


# --------------------------------------------------------------------------- sweeps


def _draw_vs(ax: Axes, sw: _Sweep, x: str, metrics: Sequence[str], labels: Sequence[str]) -> str:
    """Mean lines with CI bands of ``metrics`` against factor ``x``; returns the y unit."""
    others = [f for f in sw.factors if f != x]
    groups: dict[tuple[str, tuple[Any, ...]], list[dict[str, Any]]] = {}
    for r in sw.cells:
        key = (str(r["variant"] or ""), tuple(r[o] for o in others))
        groups.setdefault(key, []).append(r)
    levels = list(dict.fromkeys(r[x] for r in sw.cells))
    numeric = all(_is_number(v) for v in levels)
    x_unit, x_div = _scale(factor_kind(x), [_num(v) for v in levels]) if numeric else ("", 1.0)
    chosen = [r for r in sw.cells if r["metric"] in metrics]
    y_unit, y_div = _scale(_common_kind(metrics), [_num(r["mean"]) for r in chosen])
    styles = ("-", "--", ":", "-.")
    markers = ("o", "s", "^", "D", "v")
    for gi, ((variant, combo), rows) in enumerate(groups.items()):
        glabel = _group_label(sw, variant, list(zip(others, combo, strict=True)))
        for mi, (metric, mlabel) in enumerate(zip(metrics, labels, strict=True)):
            pts = sorted(
                (
                    (
                        levels.index(r[x]) if not numeric else _num(r[x]),
                        _num(r["mean"]),
                        _num(r["ci_low"]),
                        _num(r["ci_high"]),
                    )
                    for r in rows
                    if r["metric"] == metric
                ),
                key=lambda p: p[0],
            )
            if not pts:
                continue
            xs, ys, lo, hi = (np.array(c) for c in zip(*pts, strict=True))
            if numeric:
                xs = xs / x_div
            label = (
                glabel
                if len(metrics) == 1 and glabel
                else mlabel
                if len(groups) == 1 or not glabel
                else f"{glabel}: {mlabel}"
            )
            colour = f"C{gi % 10}" if len(groups) > 1 else f"C{mi % 10}"
            ax.plot(
                xs,
                ys / y_div,
                color=colour,
                linestyle=styles[mi % 4],
                marker=markers[mi % 5],
                label=label,
            )
            ax.fill_between(xs, lo / y_div, hi / y_div, color=colour, alpha=0.15, linewidth=0)
    if all(_num(r["mean"]) >= 0 for r in chosen if math.isfinite(_num(r["mean"]))):
        ax.set_ylim(bottom=0)  # the quantities are non-negative; bands may reach below
    ax.set_xlabel(_with_unit(_factor_label(x), x_unit))
    if not numeric:
        ax.set_xticks(range(len(levels)), labels=[_format_level(x, v) for v in levels])
        ax.set_xlim(-0.5, len(levels) - 0.5)
    ax.legend(title="cell mean ± 95% CI")
    return y_unit


@_styled
def metric_vs(
    sweep: PathLike | _Sweep,
    x: str,
    metrics: Sequence[str],
    title: str | None = None,
    ylabel: str | None = None,
) -> Figure:
    """Mean ± 95% CI band of each of ``metrics`` against factor ``x``: one line per metric
    and per variant × combination of the other factors' levels."""
    sw = _load_sweep(sweep)
    _check_factor(sw, x)
    metrics = list(metrics)
    if not metrics:
        raise ScenarioError([Problem("metrics", "name at least one metric")])
    _check_metrics(sw, metrics)
    fig = Figure()
    ax = fig.subplots()
    unit = _draw_vs(ax, sw, x, metrics, [_metric_label(m) for m in metrics])
    if ylabel is None:
        ylabel = (
            _metric_label(metrics[0])
            if len(metrics) == 1
            else {"duration": "time", "fraction": "utilisation"}.get(
                _common_kind(metrics) or "", "value"
            )
        )
    ax.set_ylabel(_with_unit(ylabel, unit))
    ax.set_title(
        title
        or f"{', '.join(_metric_label(m) for m in metrics)} vs "
        f"{_factor_label(x)} (sweep {sw.name})",
        wrap=True,
    )
    return fig


@_styled
def percentiles_vs(
    sweep: PathLike | _Sweep,
    x: str,
    base: str = "attestation.latency_s",
    percentiles: Sequence[str] = ("p50", "p95", "p99"),
) -> Figure:
    """Cell means of the ``base`` metric's percentiles, with CI bands, against factor ``x``."""
    sw = _load_sweep(sweep)
    _check_factor(sw, x)
    metrics = [f"{base}.{p}" for p in percentiles]
    _check_metrics(sw, metrics)
    fig = Figure()
    ax = fig.subplots()
    unit = _draw_vs(ax, sw, x, metrics, list(percentiles))
    name = _metric_label(base)
    ax.set_ylabel(_with_unit(name, unit))
    ax.set_title(f"{_upper_first(name)} percentiles vs {_factor_label(x)} (sweep {sw.name})")
    return fig


def lapse_vs(sweep: PathLike | _Sweep, x: str = "attestation.interval") -> Figure:
    """Time to lapse and time to refusal (mean and p95 per run) against factor ``x``."""
    return metric_vs(
        sweep,
        x,
        (
            "drift.time_to_lapse_s.mean",
            "drift.time_to_lapse_s.p95",
            "drift.time_to_refusal_s.mean",
            "drift.time_to_refusal_s.p95",
        ),
        title=f"Time to lapse and to refusal after drift vs {_factor_label(x)}",
        ylabel="time after the drift event",
    )


def exposure_vs(sweep: PathLike | _Sweep, x: str = "attestation.interval") -> Figure:
    """Exposure per run on drifted hosts (keys released, power-ons, migrations in)."""
    return metric_vs(
        sweep,
        x,
        (
            "drift.exposure.keys_released",
            "drift.exposure.power_ons",
            "drift.exposure.migrations_in",
        ),
        title=f"Exposure before refusal vs {_factor_label(x)}",
        ylabel="events on drifted hosts per run",
    )


@_styled
def topology_comparison(
    sweep: PathLike | _Sweep, metrics: Sequence[str] = COMPARISON_METRICS
) -> Figure:
    """One subplot per metric: a bar per variant (grouped by the other factors' levels)
    at the cell mean, with its 95% CI as error bar."""
    sw = _load_sweep(sweep)
    chosen = (
        [m for m in metrics if m in sw.metrics]
        if tuple(metrics) == COMPARISON_METRICS
        else list(metrics)
    )
    if not chosen:
        raise RunError(f"sweep {sw.name} recorded none of {', '.join(metrics)}")
    _check_metrics(sw, chosen)
    variants = sw.variants
    combos = list(dict.fromkeys(tuple(r[f] for f in sw.factors) for r in sw.cells))
    ncols = min(2, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    fig = Figure(figsize=(5.0 * ncols, 3.6 * nrows))
    axes = list(np.ravel(fig.subplots(nrows, ncols, squeeze=False)))
    for extra in axes[len(chosen) :]:
        fig.delaxes(extra)
    width = 0.8 / len(combos)
    for ax, metric in zip(axes, chosen, strict=False):
        rows = {
            (str(r["variant"] or ""), tuple(r[f] for f in sw.factors)): r
            for r in sw.cells
            if r["metric"] == metric
        }
        unit, div = _scale(_metric_kind(metric), [_num(r["mean"]) for r in rows.values()])
        for j, combo in enumerate(combos):
            cells = [rows.get((v, combo)) for v in variants]
            means = np.array([_num(c["mean"]) if c else math.nan for c in cells]) / div
            errs = np.array([_num(c["ci_half_width"]) if c else math.nan for c in cells]) / div
            xs = np.arange(len(variants)) + (j - (len(combos) - 1) / 2) * width
            colours = (
                [f"C{j % 10}"] * len(variants)
                if len(combos) > 1
                else [f"C{i % 10}" for i in range(len(variants))]
            )
            ax.bar(
                xs,
                means,
                width,
                yerr=np.nan_to_num(errs),
                capsize=3,
                color=colours,
                label=_group_label(sw, "", list(zip(sw.factors, combo, strict=True))),
            )
        ax.set_xticks(range(len(variants)), labels=[v or "base" for v in variants])
        ax.set_xlabel("variant")
        ax.set_ylabel(_with_unit(_metric_label(metric), unit))
        ax.set_title(_upper_first(_metric_label(metric)))
    if len(combos) > 1:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(combos)))
    fig.suptitle(f"Variants compared (sweep {sw.name}; error bars: 95% CI)")
    return fig


# --------------------------------------------------------------------------- runs


def _warmup(scenario_yaml: str) -> float:
    try:
        data = yaml.safe_load(scenario_yaml)
        return parse_duration(data.get("warmup", 0) if isinstance(data, dict) else 0)
    except (yaml.YAMLError, ValueError) as exc:
        raise RunError(f"cannot read the run's warm-up from its scenario: {exc}") from exc


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
            key = f"{by.rsplit('.', 1)[-1]}={_format_level(by, r[by])}"
        folder = sw.path / str(r["path"])
        warmup = _warmup((folder / results.SCENARIO_FILE).read_text(encoding="utf-8"))
        values = _attestation_values(
            results.read_table(folder / "attestations.csv"), metric, warmup
        )
        groups.setdefault(key or "all runs", []).extend(values)
    return groups


@_styled
def latency_cdf(
    source: PathLike | results.RunResult | _Sweep, by: str = "variant", metric: str = "latency_s"
) -> Figure:
    """Empirical CDF of attestation ``metric`` (successful attestations after the warm-up):
    one curve for a run folder; for a sweep folder one per group of its ok runs, pooled
    (``by``: ``variant`` (per cell when there is one variant), ``cell`` or a factor)."""
    if _source_kind(source) == "sweep":
        sw = _load_sweep(source)  # type: ignore[arg-type]
        groups = _pooled(sw, by, metric)
        where = f"sweep {sw.name}"
    else:
        run = _load_run(source)  # type: ignore[arg-type]
        where = f"{run.manifest.get('scenario', run.path.name)} seed {run.manifest.get('seed')}"
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
            ax.step(
                xs,
                np.arange(1, len(xs) + 1) / len(xs),
                where="post",
                label=f"{label} (n={len(xs)})",
            )
    name = {"latency_s": "attestation latency"}.get(metric, _metric_label(metric))
    ax.set_xlabel(_with_unit(name, unit))
    ax.set_ylabel("fraction of attestations ≤ x")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{_upper_first(name)}, empirical CDF ({where})")
    ax.legend(loc="lower right")
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
        ax.legend(loc="upper right")
        ax.set_ylim(bottom=0)
    top.set_ylabel("utilisation (%)")
    top.set_title("Utilisation: busy workers / workers, mean over nodes")
    bottom.set_ylabel("queue length (requests)")
    bottom.set_title("Queue length, mean over nodes")
    bottom.set_xlabel(_with_unit("simulated time", unit))
    fig.suptitle(
        f"Service load over time ({rr.manifest.get('scenario', rr.path.name)} "
        f"seed {rr.manifest.get('seed')})"
    )
    return fig


# --------------------------------------------------------------------------- topology

_NODE_STYLE: dict[str, tuple[str, str, int]] = {  # kind: legend label, colour, size
    "site": ("site switch", "#7f7f7f", 520),
    "vta-vcenter": ("vTA vCenter", "#9467bd", 420),
    "vta": ("vTA node (attestation + key provider)", "#d62728", 420),
    "kms": ("KMS server", "#ff7f0e", 420),
    "vcenter": ("workload vCenter", "#1f77b4", 420),
    "host": ("trusted ESXi host", "#2ca02c", 110),
    "cluster": ("host cluster (collapsed)", "#2ca02c", 700),
}


def _scenario_of(source: PathLike | Scenario | results.RunResult) -> Scenario:
    if isinstance(source, Scenario):
        return source
    if isinstance(source, results.RunResult):
        return parse_scenario(yaml.safe_load(source.scenario_yaml))
    p = Path(source)
    if p.is_dir():
        return parse_scenario(
            yaml.safe_load((p / results.SCENARIO_FILE).read_text(encoding="utf-8"))
        )
    return load_scenario(p)


def _collapse(g: nx.Graph, max_hosts: int) -> nx.Graph:
    """``g`` with each cluster's hosts replaced by one node, when there are too many."""
    hosts = [n for n, d in g.nodes(data=True) if d["kind"] == "host"]
    if len(hosts) <= max_hosts:
        return g
    h = g.copy()
    for n in hosts:
        d = g.nodes[n]
        node = f"cluster:{d['vcenter']}/{d['cluster']}"
        if node not in h:
            h.add_node(
                node,
                kind="cluster",
                site=d["site"],
                vcenter=d["vcenter"],
                cluster=d["cluster"],
                hosts=0,
            )
            h.add_edge(node, f"site:{d['site']}", kind="lan")
        h.nodes[node]["hosts"] += 1
        h.remove_node(n)
    return h


def _layout(g: nx.Graph) -> tuple[dict[str, tuple[float, float]], list[tuple[float, float, str]]]:
    """Node positions and cluster captions: sites side by side; per site the trust authority
    and KMS on top, the site switch, the workload vCenters, and under each vCenter its hosts
    (a row per cluster, wrapped at 8) or its collapsed clusters (rows of 5)."""
    pos: dict[str, tuple[float, float]] = {}
    captions: list[tuple[float, float, str]] = []
    kinds = {n: d["kind"] for n, d in g.nodes(data=True)}
    x0 = 0.0
    for site in [n for n, k in kinds.items() if k == "site"]:
        here = [n for n in g.nodes if kinds[n] != "site" and g.nodes[n]["site"] == site[5:]]
        top = [n for n in here if kinds[n] in ("vta-vcenter", "vta", "kms")]
        blocks = []
        for vc in (n for n in here if kinds[n] == "vcenter"):
            members = [
                n
                for n in here
                if kinds[n] in ("host", "cluster") and f"vcenter:{g.nodes[n]['vcenter']}" == vc
            ]
            rows: list[tuple[str, list[str]]] = []
            wrap, step = (5, 1.6) if any(kinds[n] == "cluster" for n in members) else (8, 0.8)
            for cl in dict.fromkeys(g.nodes[n]["cluster"] for n in members):
                mine = [n for n in members if g.nodes[n]["cluster"] == cl]
                rows += [
                    (cl if i == 0 and step < 1 else "", mine[i : i + wrap])
                    for i in range(0, len(mine), wrap)
                ]
            if step > 1:  # collapsed clusters share rows
                flat = [n for _, r in rows for n in r]
                rows = [("", flat[i : i + wrap]) for i in range(0, len(flat), wrap)]
            cols = max((len(r) for _, r in rows), default=1)
            pad = 0.9 if step < 1 else 0.0
            blocks.append((vc, rows, step, pad, max(1.6, cols * step + pad)))
        span = sum(b[4] for b in blocks) + 0.6 * max(0, len(blocks) - 1)
        width = max(1.6 * len(top), span, 1.6)
        centre = x0 + width / 2
        pos[site] = (centre, 2.0)
        for i, n in enumerate(top):
            pos[n] = (centre + (i - (len(top) - 1) / 2) * 1.6, 3.2)
        left = centre - span / 2
        for vc, rows, step, pad, w in blocks:
            pos[vc] = (left + w / 2, 1.0)
            for r, (caption, nodes) in enumerate(rows):
                y = -r * (0.6 if step < 1 else 1.0)
                for j, n in enumerate(nodes):
                    pos[n] = (left + pad + (j + 0.5) * step, y)
                if caption:
                    captions.append((left + pad - 0.1, y, caption))
            left += w + 0.6
        x0 += width + 2.0
    return pos, captions


def _node_label(g: nx.Graph, n: str) -> str:
    d = g.nodes[n]
    if d["kind"] == "cluster":
        return f"{d['cluster']}\n{d['hosts']} hosts"
    prefix, _, name = n.partition(":")
    return {"vta": f"vTA {name}", "kms": f"KMS {name}"}.get(prefix, name)


@_styled
def topology(source: PathLike | Scenario | results.RunResult, max_hosts: int = 100) -> Figure:
    """The estate graph of a scenario (a Scenario, a scenario YAML file or a run folder),
    nodes coloured by kind, each host under its vCenter; with more than ``max_hosts`` hosts
    each cluster is drawn as one node labelled with its host count."""
    s = _scenario_of(source)
    full = build_graph(s)
    g = _collapse(full, max_hosts)
    pos, captions = _layout(g)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    fig = Figure(
        figsize=(
            min(16.0, max(7.0, 0.6 * (max(xs) - min(xs)) + 2)),
            min(9.0, 1.1 * (max(ys) - min(ys)) + 2.5),
        )
    )
    ax = fig.subplots()
    edges = list(g.edges(data="kind"))
    nx.draw_networkx_edges(
        g,
        pos,
        ax=ax,
        edgelist=[(a, b) for a, b, k in edges if k != "wan"],
        edge_color="#bbbbbb",
        width=0.6,
    )
    wan = [(a, b) for a, b, k in edges if k == "wan"]
    if wan:
        nx.draw_networkx_edges(
            g, pos, ax=ax, edgelist=wan, edge_color="#555555", width=2.0, style="--"
        )
    for kind, (label, colour, size) in _NODE_STYLE.items():
        nodes = [n for n, d in g.nodes(data=True) if d["kind"] == kind]
        if nodes:
            nx.draw_networkx_nodes(
                g, pos, ax=ax, nodelist=nodes, node_color=colour, node_size=size, label=label
            )
    n_hosts = sum(1 for _, d in full.nodes(data=True) if d["kind"] == "host")
    shown = [n for n, d in g.nodes(data=True) if d["kind"] != "host" or n_hosts <= 24]
    nx.draw_networkx_labels(
        g,
        {n: (pos[n][0], pos[n][1] - 0.22) for n in shown},
        ax=ax,
        labels={n: _node_label(g, n) for n in shown},
        font_size=7,
        verticalalignment="top",
    )
    for cx, cy, text in captions:
        ax.text(cx, cy, text, ha="right", va="center", fontsize=7, style="italic")
    legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=4, fontsize=7)
    for handle in legend.legend_handles:
        if handle is not None and hasattr(handle, "set_sizes"):
            handle.set_sizes([60])
    ax.set_axis_off()
    ax.margins(0.08)
    note = " (hosts collapsed per cluster)" if g is not full else ""
    ax.set_title(
        f"Estate {s.name}: {n_hosts} trusted hosts, {len(s.vcenters)} workload "
        f"vCenter(s), {len(s.network.sites)} site(s){note}"
    )
    return fig


# --------------------------------------------------------------------------- output


def save(fig: Figure, path: PathLike) -> Path:
    """Write ``fig`` as PNG or SVG (by the extension, 150 dpi) atomically, creating parent
    folders; SVG output carries no date and fixed ids, so identical data give identical
    bytes."""
    target = Path(path)
    fmt = _out_format(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    try:
        with _style():
            fig.savefig(tmp, format=fmt, dpi=150, metadata=metadata, bbox_inches="tight")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _out_format(target: Path) -> str:
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ScenarioError(
            [
                Problem(
                    "--out",
                    f"{target}: write a figure as .png or .svg, "
                    f"not {target.suffix or 'no extension'}",
                )
            ]
        )
    return fmt


KINDS: dict[str, Callable[..., Figure]] = {
    "latency-cdf": latency_cdf,
    "latency-percentiles": percentiles_vs,
    "lapse": lapse_vs,
    "exposure": exposure_vs,
    "utilisation": utilisation_over_time,
    "topology-comparison": topology_comparison,
    "topology": topology,
}
_ACCEPTS: dict[str, tuple[str, ...]] = {
    "latency-cdf": ("run", "sweep"),
    "latency-percentiles": ("sweep",),
    "lapse": ("sweep",),
    "exposure": ("sweep",),
    "utilisation": ("run",),
    "topology-comparison": ("sweep",),
    "topology": ("run", "scenario"),
}
_NOUNS = {
    "run": "a run folder (one simulation, as `vtasim run` writes it)",
    "sweep": "a sweep folder (with index.csv and cells.csv, as a sweep writes it)",
    "scenario": "a scenario YAML file",
}


def _wrong_source(kind: str, source: Any, what: str) -> RunError:
    wanted = " or ".join(_NOUNS[a] for a in _ACCEPTS[kind])
    found = {
        "missing": "does not exist",
        **{k: f"is {v.split(' (')[0]}" for k, v in _NOUNS.items()},
    }.get(what, f"is {what}")
    hint = ""
    if what == "sweep" and "run" in _ACCEPTS[kind]:
        runs = sorted(Path(source).glob("runs/*/rep-*"))
        hint = f"; pass one of its runs, e.g. {runs[0]}" if runs else "; pass one of its runs"
    elif what == "scenario" and "run" in _ACCEPTS[kind]:
        hint = f"; run it first (vtasim run {source})"
    elif what == "run" and _ACCEPTS[kind] == ("sweep",):
        hint = "; it holds one run, and this figure compares the cells of a sweep"
    return RunError(f"plot kind {kind!r} needs {wanted}; {source} {found}{hint}")


def plot(
    source: PathLike | results.RunResult | Scenario, kind: str, out: PathLike, x: str | None = None
) -> Path:
    """Draw figure ``kind`` from ``source`` and save it to ``out`` (.png or .svg). ``x``
    is the factor for the sweep kinds (default: the sweep's first factor); for
    ``latency-cdf`` on a sweep it names a factor to group by."""
    if kind not in KINDS:
        raise ScenarioError(
            [Problem("--kind", f"unknown plot kind {kind!r}; choose one of {', '.join(KINDS)}")]
        )
    _out_format(Path(out))
    what = _source_kind(source)
    if what not in _ACCEPTS[kind]:
        raise _wrong_source(kind, source, what)
    if x is not None and kind not in ("latency-cdf", "latency-percentiles", "lapse", "exposure"):
        raise ScenarioError([Problem("--x", f"plot kind {kind!r} has no x factor")])
    if kind == "latency-cdf":
        fig = latency_cdf(source, by=x or "variant")  # type: ignore[arg-type]
    elif kind in ("latency-percentiles", "lapse", "exposure"):
        sw = _load_sweep(source)  # type: ignore[arg-type]
        if x is None:
            if not sw.factors:
                raise RunError(
                    f"sweep {sw.name} has no factors to plot against; try "
                    "--kind topology-comparison"
                )
            x = sw.factors[0]
        _check_factor(sw, x, "--x")
        fig = KINDS[kind](sw, x)
    else:
        fig = KINDS[kind](source)
    return save(fig, out)
