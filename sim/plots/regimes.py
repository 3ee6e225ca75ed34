"""The regimes compared: one panel per figure of :mod:`sim.experiments.comparison`, one bar
per regime at the mean over the replications, with its 95% confidence interval."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sim.experiments.comparison import regime_rows
from sim.plots._common import PathLike, _styled, plain

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
    name = Path(sweep).name
    fig.suptitle(
        f"Attestation regimes on one estate, sweep {plain(name)}\n"
        "bars: mean over the replications; error bars: 95% CI, cut at 0"
    )
    return fig


def _num(value: object) -> float:
    if value is None:
        return math.nan
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else math.nan
