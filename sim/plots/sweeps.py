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
from matplotlib.patches import Rectangle

from sim.analysis.catalogue import unit_of
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
    plain,
)

# --------------------------------------------------------------------------- sweeps


def _n_text(rows: Sequence[dict[str, Any]]) -> str:
    """``n=5`` (runs per cell mean), or ``n=3-5`` when the cells differ (cells without a
    mean are not drawn and not counted)."""
    ns = sorted({int(r["n"]) for r in rows if _is_number(r.get("n")) and _is_number(r["mean"])})
    if not ns:
        return "n=0"
    return f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}-{ns[-1]}"


RIBBON_MIN_N = 10
"""Replications per cell from which a sweep figure draws its intervals as ribbons (with at
least :data:`RIBBON_MIN_LEVELS` numeric levels); below, points with error bars, because
the wide intervals of few replications swamp the lines as bands."""
RIBBON_MIN_LEVELS = 3


def _ribbons(rows: Sequence[dict[str, Any]], numeric: bool, levels: int) -> bool:
    """Whether to draw intervals as ribbons (see :data:`RIBBON_MIN_N`)."""
    ns = [int(r["n"]) for r in rows if _is_number(r.get("n"))]
    return numeric and levels >= RIBBON_MIN_LEVELS and bool(ns) and min(ns) >= RIBBON_MIN_N


def _has_data(rows: Sequence[dict[str, Any]]) -> bool:
    return any(_is_number(r.get("mean")) for r in rows)


def _interval_text(rows: Sequence[dict[str, Any]]) -> str:
    """How the intervals were made, from the cells' ``ci_method`` column."""
    methods = sorted({str(r["ci_method"]) for r in rows if r.get("ci_method")})
    return f"95% CI ({', '.join(methods)})" if methods else "95% CI"


def _series(
    rows: Sequence[dict[str, Any]], x: str, levels: list[Any], numeric: bool
) -> tuple[np.ndarray, ...]:
    """x, mean, CI low and CI high of ``rows`` (one cell per level), sorted by x; cells
    without a mean are left out."""
    pts = sorted(
        (
            _num(r[x]) if numeric else float(levels.index(r[x])),
            _num(r["mean"]),
            _num(r["ci_low"]),
            _num(r["ci_high"]),
        )
        for r in rows
        if _is_number(r.get("mean"))
    )
    return tuple(np.array(c, dtype=float) for c in zip(*pts, strict=True))


def _draw_vs(
    ax: Axes, sw: _Sweep, x: str, metrics: Sequence[str], labels: Sequence[str], ribbons: bool
) -> str:
    """Cell means of ``metrics`` against factor ``x`` with their 95% CIs (ribbons or error
    bars, as ``ribbons`` says: decided once per figure by :func:`_ribbons`); returns the y
    unit. Series without data are not drawn (so the legend lists only what is visible).
    Intervals come from the cells (non-negative for non-negative quantities) and are
    clipped to the physical range (a fraction is at most 100%); each label says how many
    runs a mean is over."""
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
    if not y_unit and len({unit_of(m) for m in metrics}) == 1:
        y_unit = unit_of(metrics[0])  # counts say so
    upper = 1.0 if kind == "fraction" else math.inf
    styles = ("-", "--", ":", "-.")
    markers = ("o", "s", "^", "D", "v")
    for gi, ((variant, combo), rows) in enumerate(groups.items()):
        glabel = _group_label(sw, variant, list(zip(others, combo, strict=True)))
        for mi, (metric, mlabel) in enumerate(zip(metrics, labels, strict=True)):
            mine = [r for r in rows if r["metric"] == metric]
            if not _has_data(mine):
                continue
            xs, ys, lo, hi = _series(mine, x, levels, numeric)
            lo, hi = np.clip(lo, 0.0, upper) / y_div, np.clip(hi, 0.0, upper) / y_div
            xs = xs / x_div
            label = (
                glabel
                if len(metrics) == 1 and glabel
                else plain(mlabel)
                if len(groups) == 1 or not glabel
                else f"{glabel}: {plain(mlabel)}"
            )
            colour = f"C{gi % 10}" if len(groups) > 1 else f"C{mi % 10}"
            ax.plot(
                xs,
                ys / y_div,
                color=colour,
                linestyle=styles[mi % 4] if numeric else "none",
                linewidth=1.6 if ribbons else 1.0,
                marker=markers[mi % 5],
                label=f"{label} ({_n_text(mine)})",
            )
            bounds = np.isfinite(lo) & np.isfinite(hi)
            if ribbons:
                ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, linewidth=0)
            else:
                ax.vlines(xs[bounds], lo[bounds], hi[bounds], color=colour, linewidth=1.2)
    ax.set_ylim(bottom=0)  # every figure here is non-negative
    ax.set_xlabel(_with_unit(_factor_label(x), x_unit))
    if not numeric:
        ax.set_xticks(range(len(levels)), labels=[plain(_format_level(x, v)) for v in levels])
        ax.set_xlim(-0.5, len(levels) - 0.5)
    elif len(levels) <= 12:  # the levels the sweep ran, not a continuum
        ticks = sorted(_num(v) / x_div for v in levels)
        ax.set_xticks(ticks, labels=[_format_level(x, v) for v in sorted(levels, key=_num)])
    return y_unit


def _facets(sw: _Sweep, metrics: Sequence[str]) -> tuple[list[tuple[str, _Sweep]], list[str]]:
    """One (title, sweep restricted to it) per variant with data for ``metrics`` (one
    untitled facet without variants), and the variants left out for having none."""
    if len(sw.variants) <= 1:
        return [("", sw)], []
    facets, empty = [], []
    for v in sw.variants:
        part = replace(sw, cells=[r for r in sw.cells if str(r["variant"] or "") == v])
        if _has_data([r for r in part.cells if r["metric"] in metrics]):
            facets.append((v or "base", part))
        else:
            empty.append(v or "base")
    return facets, empty


def _legend_outside(fig: Figure, axes: Sequence[Axes], title: str) -> None:
    """One legend for all panels, to the right of the data, one entry per distinct label
    of what was drawn."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside right center", title=title)


def _note(fig: Figure, text: str) -> None:
    """A note under the panels (what was left out and why)."""
    if text:
        fig.supxlabel(text, fontsize=8, style="italic", color="0.3")


CAP = 3.0
"""An interval reaching above CAP times the highest mean drawn is cut at the top of the
axis (and the note says so): at 2 or 3 replications a log-t upper bound can be 10 to 100
times the mean, and an axis that holds it squeezes every mean against 0."""


def _short(value: float) -> str:
    """A number for a note: 3 significant digits, no exponent below 10 million."""
    return f"{value:,.0f}" if 1000 <= value < 1e7 else f"{value:.3g}"


def _cap_intervals(axes: Sequence[Axes], unit: str) -> str:
    """Cut the (shared) y axis of ``axes`` at :data:`CAP` times the highest mean drawn (line
    or bar) when an interval reaches above it; returns the note saying so (or "")."""
    means = [  # the series, not the caps of error bars (unlabelled lines)
        np.asarray(line.get_ydata(), dtype=float)
        for ax in axes
        for line in ax.get_lines()
        if not str(line.get_label()).startswith("_")
    ]
    means += [
        np.array([bar.get_height()], dtype=float)
        for ax in axes
        for bar in ax.patches
        if isinstance(bar, Rectangle)
    ]
    bounds = [
        np.asarray(p.vertices, dtype=float)[:, 1]
        for ax in axes
        for c in ax.collections
        for p in c.get_paths()
    ]
    top = max((float(np.nanmax(m)) for m in means if np.isfinite(m).any()), default=0.0)
    high = max((float(np.nanmax(b)) for b in bounds if np.isfinite(b).any()), default=0.0)
    if not top > 0 or high <= CAP * top:
        return ""
    axes[0].set_ylim(0, CAP * top * 1.02)  # shared: every panel
    return (
        f"intervals above {_short(CAP * top)}{f' {unit}' if unit else ''} cut at the top "
        f"(highest {_short(high)}; see cells.csv)"
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
    """Cell means of each of ``metrics`` against factor ``x`` with their 95% CIs (error bars
    at few replications, ribbons from :data:`RIBBON_MIN_N`): one panel per variant with
    data (the others named in a note), and in it one line per metric (named by ``labels``,
    default the metric in words) and per combination of the other factors' levels. The
    legend sits outside the data; the title names the metric, its unit and the sweep, and
    its second line n and the interval."""
    sw = _load_sweep(sweep)
    _check_factor(sw, x)
    metrics = list(metrics)
    if not metrics:
        raise ScenarioError([Problem("metrics", "name at least one metric")])
    _check_metrics(sw, metrics)
    facets, empty = _facets(sw, metrics)
    chosen = [r for r in sw.cells if r["metric"] in metrics]
    if not _has_data(chosen):
        raise RunError(
            f"sweep {sw.name} has no values of {', '.join(metrics)} in any cell (no run "
            "recorded them; a time whose event did not happen before a run ended is censored: "
            "see the .censored and .km_* figures in vtasim compare)"
        )
    fig = Figure(figsize=(min(4.2 * len(facets), 16.0) + 3.0, 4.5))
    axes = list(np.ravel(fig.subplots(1, len(facets), sharey=True, squeeze=False)))
    if ylabel is None:
        ylabel = (
            _metric_label(metrics[0])
            if len(metrics) == 1
            else {"duration": "time", "fraction": "utilisation"}.get(
                _common_kind(metrics) or "", "value"
            )
        )
    levels = {r[x] for r in sw.cells}
    ribbons = _ribbons(chosen, all(_is_number(v) for v in levels), len(levels))
    unit = ""
    for ax, (name, part) in zip(axes, facets, strict=True):
        unit = _draw_vs(
            ax, part, x, metrics, labels or [_metric_label(m) for m in metrics], ribbons
        )
        if name:
            ax.set_title(f"variant {plain(name)}")
    axes[0].set_ylabel(_with_unit(ylabel, unit))
    shape = "bands" if ribbons else "bars"
    _legend_outside(fig, axes, f"cell mean, {shape}: 95% CI")
    missing = [m for m in metrics if not _has_data([r for r in chosen if r["metric"] == m])]
    notes = [f"variant {', '.join(empty)}: no values, not drawn" if empty else ""]
    notes.append(f"no values of {', '.join(missing)} in any cell" if missing else "")
    notes.append(_cap_intervals(axes, unit))
    _note(fig, "; ".join(n for n in notes if n))
    head = title or (
        f"{_upper_first(', '.join(_metric_label(m) for m in metrics))} vs {_factor_label(x)}"
    )
    fig.suptitle(
        f"{plain(head)}{f', y in {unit}' if unit else ''}, sweep {plain(sw.name)}\n"
        f"mean of {_n_text(chosen)} runs per cell; {shape}: {_interval_text(chosen)}",
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


def _bar_errors(cells: Sequence[dict[str, Any] | None], div: float) -> np.ndarray:
    """Lower and upper error-bar lengths from the cells' CI bounds (cut at 0: every compared
    figure is non-negative), zero where a cell has no interval."""
    low, high = [], []
    for c in cells:
        mean = _num(c["mean"]) if c else math.nan
        lo = max(_num(c["ci_low"]), 0.0) if c else math.nan
        hi = _num(c["ci_high"]) if c else math.nan
        low.append(mean - lo if math.isfinite(lo) and math.isfinite(mean) else 0.0)
        high.append(hi - mean if math.isfinite(hi) and math.isfinite(mean) else 0.0)
    return np.maximum(np.vstack([low, high]) / div, 0.0)


@_styled
def topology_comparison(
    sweep: PathLike | _Sweep, metrics: Sequence[str] = COMPARISON_METRICS
) -> Figure:
    """One panel per metric with values (the others named in a note): a bar per variant
    (grouped by the other factors' levels) at the cell mean, with its 95% CI as error bar,
    never below 0. The title names the sweep, n and the interval."""
    sw = _load_sweep(sweep)
    chosen = (
        [m for m in metrics if m in sw.metrics]
        if tuple(metrics) == COMPARISON_METRICS
        else list(metrics)
    )
    if not chosen:
        raise RunError(f"sweep {sw.name} recorded none of {', '.join(metrics)}")
    _check_metrics(sw, chosen)
    empty = [m for m in chosen if not _has_data([r for r in sw.cells if r["metric"] == m])]
    chosen = [m for m in chosen if m not in empty]
    if not chosen:
        raise RunError(f"sweep {sw.name} has no values of {', '.join(empty)} in any cell")
    variants = sw.variants
    combos = list(dict.fromkeys(tuple(r[f] for f in sw.factors) for r in sw.cells))
    ncols = min(2, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    wide = max(5.0, 0.45 * len(variants) * max(1, len(combos)) + 1.5)
    fig = Figure(figsize=(min(wide * ncols, 18.0) + (2.5 if len(combos) > 1 else 0), 3.8 * nrows))
    axes = list(np.ravel(fig.subplots(nrows, ncols, squeeze=False)))
    for extra in axes[len(chosen) :]:
        fig.delaxes(extra)
    width = 0.8 / len(combos)
    names = [plain(v or "base") for v in variants]
    for ax, metric in zip(axes, chosen, strict=False):
        rows = {
            (str(r["variant"] or ""), tuple(r[f] for f in sw.factors)): r
            for r in sw.cells
            if r["metric"] == metric
        }
        unit, div = _scale(_metric_kind(metric), [_num(r["mean"]) for r in rows.values()])
        for j, combo in enumerate(combos):
            cells = [rows.get((v, combo)) for v in variants]
            if not _has_data([c for c in cells if c]):
                continue
            means = np.array([_num(c["mean"]) if c else math.nan for c in cells]) / div
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
                yerr=_bar_errors(cells, div),
                capsize=3,
                color=colours,
                label=_group_label(sw, "", list(zip(sw.factors, combo, strict=True))),
            )
        ax.set_xticks(range(len(variants)), labels=names, rotation=30 if len(variants) > 4 else 0)
        ax.set_xlabel("variant")
        ax.set_ylabel(_with_unit(_metric_label(metric), unit))
        ax.set_title(_upper_first(_metric_label(metric)))
        ax.set_ylim(bottom=0)
    if len(combos) > 1:
        _legend_outside(fig, axes[: len(chosen)], "factor levels")
    cut = [
        f"{ax.get_title()}: {note}"
        for ax in axes[: len(chosen)]
        if (note := _cap_intervals([ax], ""))
    ]
    notes = [f"no values in any cell, not drawn: {', '.join(empty)}" if empty else "", *cut]
    _note(fig, "\n".join(n for n in notes if n))
    picked = [r for r in sw.cells if r["metric"] in chosen]
    fig.suptitle(
        f"Variants compared, sweep {plain(sw.name)}\n"
        f"bars: mean of {_n_text(picked)} runs per cell; error bars: {_interval_text(picked)}"
    )
    return fig
