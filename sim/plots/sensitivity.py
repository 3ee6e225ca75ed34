"""The tornado figure of a sensitivity sweep (``vtasim plot SWEEP --kind sensitivity``).

One panel per metric of ``sensitivity.csv``; each factor is a horizontal bar of the design's
main index (Morris ``mu_star``, Sobol ``ST``, Latin hypercube RBD-FAST ``S1``), largest on
top, with SALib's bootstrap interval as an error bar. Morris panels add ``sigma`` (the spread
of the elementary effects: interaction or non-linearity) as a hollow marker; Sobol panels add
``S1`` beside ``ST`` (their gap is the factor's share through interactions). A metric without
indices (undefined at some design points, or constant) is listed in a note instead.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from sim.analysis import results
from sim.analysis.catalogue import unit_of
from sim.errors import RunError
from sim.experiments.design import MAIN_INDEX, SENSITIVITY_FILE
from sim.plots._common import (
    PathLike,
    _factor_label,
    _metric_label,
    _rows,
    _styled,
    plain,
    time_unit,
)


def load_sensitivity(source: PathLike) -> list[dict[str, Any]]:
    """The rows of a sweep folder's ``sensitivity.csv`` (RunError when it has none)."""
    path = Path(source) / SENSITIVITY_FILE
    if not path.is_file():
        raise RunError(
            f"{source} has no {SENSITIVITY_FILE}: only a sweep with a sampled design "
            "(design: {kind: morris | sobol | latin_hypercube}) writes one"
        )
    return _rows(results.read_table(path))


def _f(v: Any) -> float | None:
    if v is None or v == "":
        return None
    x = float(v)
    return x if math.isfinite(x) else None


@_styled
def sensitivity_bars(source: PathLike) -> Figure:
    """The tornado figure of a sensitivity sweep folder (see the module doc)."""
    rows = load_sensitivity(source)
    metrics = list(dict.fromkeys(str(r["metric"]) for r in rows))
    kind = str(rows[0]["design"]) if rows else "morris"
    main = MAIN_INDEX.get(kind, "S1")
    shown = [m for m in metrics if any(r["metric"] == m and r["index"] == main for r in rows)]
    notes = [
        f"{_metric_label(m)}: {plain(r['note'])}"
        for m in metrics
        if m not in shown
        for r in rows
        if r["metric"] == m and r["note"]
    ][:6]
    n = max(1, len(shown))
    factors = len({r["factor"] for r in rows if r["index"] == main}) or 1
    fig = Figure(figsize=(8.0, 0.9 + n * (0.35 * factors + 0.8)))
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, metric in zip(axes, shown, strict=False):
        own = {(r["factor"], r["index"]): r for r in rows if r["metric"] == metric}
        mains = sorted(
            ((f, _f(r["value"]) or 0.0) for (f, i), r in own.items() if i == main),
            key=lambda fv: abs(fv[1]),
        )
        names = [f for f, _ in mains]
        scale_unit, div = "", 1.0
        if kind == "morris" and unit_of(metric) == "s":
            top = max([abs(v) for _, v in mains] + [0.0])
            scale_unit, div = time_unit(top)
        ys = list(range(len(names)))
        vals = [v / div for _, v in mains]
        errs = [(_f(own[(f, main)]["conf"]) or 0.0) / div for f in names]
        ax.barh(ys, vals, xerr=errs, color="#4477aa", capsize=3, label=main)
        if kind == "morris":
            sig = [(_f(own.get((f, "sigma"), {}).get("value")) or 0.0) / div for f in names]
            ax.plot(sig, ys, "o", mfc="none", color="#cc6677", label="sigma")
        elif kind == "sobol":
            s1 = [_f(own.get((f, "S1"), {}).get("value")) or 0.0 for f in names]
            ax.plot(s1, ys, "D", color="#ddaa33", label="S1")
        ax.set_yticks(ys, [_factor_label(f) for f in names])
        unit = f" ({scale_unit} per whole range)" if scale_unit else ""
        if kind == "morris" and not scale_unit:
            unit = f" ({unit_of(metric) or 'value'} per whole range)"
        ax.set_xlabel(f"{main}{unit}")
        ax.set_title(_metric_label(metric), loc="left")
        ax.axvline(0.0, color="#888888", linewidth=0.8)
        ax.legend(loc="lower right", fontsize="small")
    if not shown:
        axes[0].set_axis_off()
    points = next((r["points"] for r in rows if r.get("points") not in (None, "")), "?")
    fig.suptitle(f"Sensitivity ({kind}, {points} design points): what drives each metric")
    if notes:
        fig.text(0.01, 0.005, "no indices: " + "; ".join(notes), fontsize="x-small")
    return fig
