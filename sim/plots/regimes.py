"""The regimes compared: one panel per figure of :mod:`sim.experiments.comparison`, one bar
per regime at the mean over the replications, with its 95% confidence interval."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sim.errors import RunError, ScenarioError
from sim.experiments.comparison import regime_rows
from sim.plots._common import PathLike, _load_sweep, _styled, plain, plain_log_ticks

PANELS: tuple[tuple[str, bool], ...] = (
    ("time to detection", True),
    ("time to lapse", True),
    ("time to refusal", True),
    ("exposure: keys released", False),
    ("verifier utilisation", True),
    ("attestations per host-hour", True),
)
"""The panels drawn (figure name, logarithmic axis): the regimes differ by orders of
magnitude in detection time, utilisation and attestation load."""


@_styled
def regime_comparison(sweep: PathLike) -> Figure:
    """Six panels (detection, lapse, refusal, exposure, verifier utilisation, attestations
    per host-hour): a bar per regime (variant) with its 95% CI as error bar."""
    rows = regime_rows(sweep)
    variants = list(dict.fromkeys(str(r["variant"]) for r in rows))
    fig = Figure(figsize=(12.0, 7.0))
    axes = list(np.ravel(fig.subplots(2, 3, squeeze=False)))
    for ax, (name, log) in zip(axes, PANELS, strict=True):
        by_variant = {str(r["variant"]): r for r in rows if r["figure"] == name}
        means = np.array([_num(by_variant[v]["mean"]) for v in variants])
        low = np.maximum([_num(by_variant[v]["ci_low"]) for v in variants], 0.0)
        high = np.array([_num(by_variant[v]["ci_high"]) for v in variants])
        # every figure here is non-negative: the error bar stops at 0
        err = np.maximum(np.vstack([np.nan_to_num(means - low), np.nan_to_num(high - means)]), 0)
        xs = np.arange(len(variants))
        ax.bar(xs, means, yerr=err, capsize=4, color=[f"C{i}" for i in range(len(variants))])
        ax.set_xticks(xs, [plain(v) for v in variants], rotation=20)
        unit = by_variant[variants[0]]["unit"]
        ax.set_title(name[0].upper() + name[1:])
        ax.set_ylabel(f"{name} ({unit})")
        if log and np.nanmin(np.where(means > 0, means, np.nan), initial=np.inf) < np.inf:
            ax.set_yscale("log")
            plain_log_ticks(ax.yaxis)
        elif not np.nanmax(np.concatenate([means, high, [0.0]])) > 0:
            ax.set_ylim(0, 1)  # every value 0: an axis from 0, not one of +-0.05 around it
            ax.text(0.5, 0.5, "0 in every run", transform=ax.transAxes, ha="center")
    ns = sorted({int(r["n"]) for r in rows})
    n = f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]} to {ns[-1]}"
    methods = ", ".join(sorted({str(r["ci_method"]) for r in rows if r.get("ci_method")}))
    fig.suptitle(
        f"Attestation regimes on one estate, sweep {plain(_sweep_name(sweep))}\n"
        f"bars: mean over {n} runs per regime; error bars: 95% CI"
        f"{f' ({methods})' if methods else ''}, never below 0"
    )
    return fig


def _sweep_name(sweep: PathLike) -> str:
    """The sweep's name as its file gives it, else its folder's name."""
    try:
        return _load_sweep(sweep).name
    except (RunError, ScenarioError, OSError):
        return Path(sweep).name


def _num(value: object) -> float:
    if value is None:
        return math.nan
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else math.nan
