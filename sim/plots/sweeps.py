"""Figures that compare the cells of a sweep: metrics against a factor with 95% CI
bands, and variants side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.errors import Problem, RunError, ScenarioError
from sim.plots._common import (
    COMPARISON_METRICS,
    PathLike,
    _check_factor,
    _check_metrics,
    _common_kind,
    _factor_label,
    _format_level,
    _group_label,
    _is_number,
    _load_sweep,
    _metric_kind,
    _metric_label,
    _num,
    _scale,
    _styled,
    _Sweep,
    _upper_first,
    _with_unit,
    factor_kind,
)

# --------------------------------------------------------------------------- sweeps


def _n_text(rows: Sequence[dict[str, Any]]) -> str:
    """``n=5`` (runs per cell mean), or ``n=3-5`` when the cells differ."""
    ns = sorted({int(r["n"]) for r in rows if _is_number(r.get("n"))})
    if not ns:
        return "n=0"
    return f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}-{ns[-1]}"


def _draw_vs(ax: Axes, sw: _Sweep, x: str, metrics: Sequence[str], labels: Sequence[str]) -> str:
    """Mean lines with CI bands of ``metrics`` against factor ``x``; returns the y unit.
    Bands are clipped to the physical range (no quantity here is negative; a fraction is
    at most 100%); each label says how many runs a mean is over."""
    others = [f for f in sw.factors if f != x]
    groups: dict[tuple[str, tuple[Any, ...]], list[dict[str, Any]]] = {}
    for r in sw.cells:
        key = (str(r["variant"] or ""), tuple(r[o] for o in others))
        groups.setdefault(key, []).append(r)
    levels = list(dict.fromkeys(r[x] for r in sw.cells))
    numeric = all(_is_number(v) for v in levels)
    x_unit, x_div = _scale(factor_kind(x), [_num(v) for v in levels]) if numeric else ("", 1.0)
    chosen = [r for r in sw.cells if r["metric"] in metrics]
    kind = _common_kind(metrics)
    y_unit, y_div = _scale(kind, [_num(r["mean"]) for r in chosen])
    upper = 1.0 if kind == "fraction" else math.inf
    styles = ("-", "--", ":", "-.")
    markers = ("o", "s", "^", "D", "v")
    for gi, ((variant, combo), rows) in enumerate(groups.items()):
        glabel = _group_label(sw, variant, list(zip(others, combo, strict=True)))
        for mi, (metric, mlabel) in enumerate(zip(metrics, labels, strict=True)):
            mine = [r for r in rows if r["metric"] == metric]
            pts = sorted(
                (
                    (
                        levels.index(r[x]) if not numeric else _num(r[x]),
                        _num(r["mean"]),
                        _num(r["ci_low"]),
                        _num(r["ci_high"]),
                    )
                    for r in mine
                ),
                key=lambda p: p[0],
            )
            if not pts:
                continue
            xs, ys, lo, hi = (np.array(c) for c in zip(*pts, strict=True))
            lo, hi = np.clip(lo, 0.0, upper), np.clip(hi, 0.0, upper)
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
                label=f"{label} ({_n_text(mine)})",
            )
            ax.fill_between(xs, lo / y_div, hi / y_div, color=colour, alpha=0.15, linewidth=0)
    ax.set_ylim(bottom=0)  # every figure here is non-negative
    ax.set_xlabel(_with_unit(_factor_label(x), x_unit))
    if not numeric:
        ax.set_xticks(range(len(levels)), labels=[_format_level(x, v) for v in levels])
        ax.set_xlim(-0.5, len(levels) - 0.5)
    elif len(levels) <= 12:  # the levels the sweep ran, not a continuum
        ticks = sorted(_num(v) / x_div for v in levels)
        ax.set_xticks(ticks, labels=[_format_level(x, v) for v in sorted(levels, key=_num)])
    return y_unit


def _facets(sw: _Sweep) -> list[tuple[str, _Sweep]]:
    """One (title, sweep restricted to it) per variant; one untitled facet without them."""
    if len(sw.variants) <= 1:
        return [("", sw)]
    return [
        (v or "base", replace(sw, cells=[r for r in sw.cells if str(r["variant"] or "") == v]))
        for v in sw.variants
    ]


def _legend_outside(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend for all panels, to the right of the data."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="outside right center",
            title="cell mean ± 95% CI",
        )


@_styled
def metric_vs(
    sweep: PathLike | _Sweep,
    x: str,
    metrics: Sequence[str],
    title: str | None = None,
    ylabel: str | None = None,
    labels: Sequence[str] | None = None,
) -> Figure:
    """Mean ± 95% CI band of each of ``metrics`` against factor ``x``: one panel per
    variant, and in it one line per metric (named by ``labels``, default the metric in
    words) and per combination of the other factors' levels; the legend sits outside the
    data."""
    sw = _load_sweep(sweep)
    _check_factor(sw, x)
    metrics = list(metrics)
    if not metrics:
        raise ScenarioError([Problem("metrics", "name at least one metric")])
    _check_metrics(sw, metrics)
    facets = _facets(sw)
    fig = Figure(figsize=(4.2 * len(facets) + 3.0, 4.5))
    axes = list(np.ravel(fig.subplots(1, len(facets), sharey=True, squeeze=False)))
    if ylabel is None:
        ylabel = (
            _metric_label(metrics[0])
            if len(metrics) == 1
            else {"duration": "time", "fraction": "utilisation"}.get(
                _common_kind(metrics) or "", "value"
            )
        )
    for ax, (name, part) in zip(axes, facets, strict=True):
        unit = _draw_vs(ax, part, x, metrics, labels or [_metric_label(m) for m in metrics])
        if name:
            ax.set_title(f"variant {name}")
    axes[0].set_ylabel(_with_unit(ylabel, unit))
    _legend_outside(fig, axes)
    fig.suptitle(
        title
        or f"{_upper_first(', '.join(_metric_label(m) for m in metrics))} vs "
        f"{_factor_label(x)} (sweep {sw.name})",
        wrap=True,
    )
    return fig


def percentiles_vs(
    sweep: PathLike | _Sweep,
    x: str,
    base: str = "attestation.latency_s",
    percentiles: Sequence[str] = ("p50", "p95", "p99"),
) -> Figure:
    """Cell means of the ``base`` metric's percentiles, with CI bands, against factor ``x``
    (one panel per variant)."""
    name = _metric_label(base)
    return metric_vs(
        sweep,
        x,
        [f"{base}.{p}" for p in percentiles],
        title=f"{_upper_first(name)} percentiles vs {_factor_label(x)}",
        ylabel=name,
        labels=list(percentiles),
    )


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
            errs = np.nan_to_num(
                np.array([_num(c["ci_half_width"]) if c else math.nan for c in cells]) / div
            )
            low_errs = np.minimum(errs, np.nan_to_num(means))  # the bar never goes below 0
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
                yerr=np.vstack([low_errs, errs]),
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
    fig.suptitle(f"Variants compared (sweep {sw.name}; error bars: 95% CI, clipped at 0)")
    return fig
