"""How a comparison reads: figures, differences and relative changes as text with units,
and as raw records for CSV and JSON (:func:`comparison_table`).

Shown conventions (the documentation's "Comparing results" repeats them): a cell's mean
is followed by its 95% interval in brackets (an interval that stays non-negative: t on the log scale
when every run's value is positive, a percentile bootstrap otherwise); ``(no variation)``
where every run agreed, so the figure is exact; ``n=k of r`` when only k of the r runs
defined the figure; the difference B − A with its 95% interval and ``*`` when that interval
excludes 0; the relative change (B − A) / |A| in percent.
"""

from __future__ import annotations

from typing import Any

from sim.analysis.catalogue import unit_of
from sim.analysis.compare import Comparison, Figure, Row, shown
from sim.analysis.stats import NO_VARIATION, Difference
from sim.analysis.tabular import Table
from sim.analysis.text import format_value

MARK = "*"
"""Marks a difference whose 95% interval excludes 0."""
INTERVAL = "95% interval >= 0: t on the log scale if every value > 0, else bootstrap"
"""How a side's interval is made, as the notes say it."""


def _whole(key: str, value: float) -> float | int:
    """A count as an int (shown with thousands separators like the run's own table)."""
    return int(value) if unit_of(key) == "count" and float(value).is_integer() else value


def value_text(key: str, value: float, short: bool = False) -> str:
    """``value`` with the unit of ``key`` (``short``: without the longer unit in brackets,
    for interval bounds)."""
    text = format_value(key, _whole(key, value))
    return text.split(" (", 1)[0] if short else text


def side_text(key: str, fig: Figure, cell: bool) -> str:
    """One side's figure as a reader sees it."""
    est = fig.estimate
    if est.mean is None:
        return fig.undefined
    if key.endswith(".censored") and fig.events is not None and fig.runs:
        total = (fig.events + (fig.censored or 0)) / fig.runs
        text = f"{value_text(key, est.mean, True)} of {value_text(key, total, True)}"
    else:
        text = value_text(key, est.mean, True)
    if not cell:
        return text
    if est.method == NO_VARIATION:
        text += " (no variation)"
    elif est.low is not None and est.high is not None:
        text += f" [{value_text(key, est.low, True)} .. {value_text(key, est.high, True)}]"
    if est.n < fig.runs:
        text += f" n={est.n} of {fig.runs}"
    return text


def _signed(key: str, value: float, short: bool = False) -> str:
    text = value_text(key, value, short)
    return f"+{text}" if value > 0 else text


def diff_text(key: str, d: Difference | None) -> str:
    """B − A with its interval, ``(no variation)`` or a bare difference, and the mark."""
    if d is None:
        return "n/a"
    text = _signed(key, d.diff, True)
    if d.no_variation:
        return text + " (no variation)"
    if d.low is not None and d.high is not None:
        text += f" [{_signed(key, d.low, True)} .. {_signed(key, d.high, True)}]"
    return text + (f" {MARK}" if d.excludes_zero else "")


def change_text(change: float | None) -> str:
    """A relative change in percent (``n/a`` against 0 or nothing)."""
    if change is None:
        return "n/a"
    pct = 100.0 * change
    if pct == 0:
        return "0%"
    return f"{pct:+.1f}%" if abs(pct) >= 0.05 or pct == 0 else f"{pct:+.2g}%"


def figure_record(prefix: str, fig: Figure) -> dict[str, Any]:
    """One side's figure as record columns (``a_mean``, ``a_ci_low``...)."""
    est = fig.estimate
    return {
        f"{prefix}_runs": fig.runs,
        f"{prefix}_n": est.n,
        f"{prefix}_mean": est.mean,
        f"{prefix}_ci_low": est.low,
        f"{prefix}_ci_high": est.high,
        f"{prefix}_ci_method": est.method,
        f"{prefix}_events": fig.events,
        f"{prefix}_censored": fig.censored,
    }


def diff_record(d: Difference | None, change: float | None) -> dict[str, Any]:
    """A difference as record columns."""
    return {
        "diff": None if d is None else d.diff,
        "diff_ci_low": None if d is None else d.low,
        "diff_ci_high": None if d is None else d.high,
        "test": None if d is None else d.test,
        "no_variation": None if d is None else d.no_variation,
        "excludes_zero": None if d is None else d.excludes_zero,
        "relative_change": change,
    }


def _row_cells(row: Row, cell: bool) -> list[str]:
    return [
        row.key,
        side_text(row.key, row.a, cell),
        side_text(row.key, row.b, cell),
        diff_text(row.key, row.diff),
        change_text(row.change),
    ]


def notes(cells: bool) -> list[str]:
    """The footnotes that define what the table shows."""
    if not cells:
        return ["figures of one run each: no interval (compare sweep cells for one)"]
    return [
        f"A, B: means over the runs [{INTERVAL}]",
        f"B - A [95% CI]: {MARK} the CI excludes 0; change: (B - A) / |A|",
        "censored: drifts without their event in their window, of all drifts (per run); "
        "km_*: Kaplan-Meier",
    ]


def comparison_table(c: Comparison) -> Table:
    """The comparison as a :class:`Table` (title naming both sides and the test)."""
    cells = c.a.is_cell and c.b.is_cell
    runs = [len(c.a.summaries), len(c.b.summaries)]
    title = [
        f"A: {shown(c.a.path)} ({runs[0]} run{'s' if runs[0] != 1 else ''})",
        f"B: {shown(c.b.path)} ({runs[1]} run{'s' if runs[1] != 1 else ''})",
        f"test: {c.test}",
    ]
    records = [
        {
            "key": r.key,
            "unit": unit_of(r.key),
            **figure_record("a", r.a),
            **figure_record("b", r.b),
            **diff_record(r.diff, r.change),
        }
        for r in c.rows
    ]
    meta = {
        "a": str(c.a.path),
        "b": str(c.b.path),
        "a_runs": runs[0],
        "b_runs": runs[1],
        "test": "paired t" if c.paired else ("Welch t" if cells else "single runs"),
        "test_description": c.test,
    }
    return Table(
        title=title,
        columns=["figure", "A", "B", "B - A [95% CI]", "change"],
        cells=[_row_cells(r, cells) for r in c.rows],
        records=records,
        notes=notes(cells),
        meta=meta,
        right=(1, 2, 4),
    )
