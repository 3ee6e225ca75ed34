"""Two results side by side (``vtasim compare RUN_A RUN_B``).

Each side is a run folder (one run) or a sweep cell's folder (``<sweep>/runs/<cell id>``,
holding one run folder per replication). For every figure the table shows A, B and the
difference B − A; when both sides are sweep cells with at least two runs each, the values
are the cell means and the difference carries a 95% confidence interval by Welch's t
(unequal variances, Welch-Satterthwaite degrees of freedom), so a reader sees whether the
two settings differ beyond the noise of the replications (a CI that excludes 0).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.analysis.catalogue import is_metric, unit_of
from sim.analysis.results import is_complete, load_summary
from sim.analysis.stats import Difference, estimate, welch
from sim.analysis.summary import HEADLINE_KEYS, metric_value
from sim.analysis.text import format_value
from sim.errors import RunError


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the summaries of its runs."""

    path: Path
    summaries: tuple[dict[str, Any], ...]

    @property
    def is_cell(self) -> bool:
        """A sweep cell (several runs) rather than one run folder."""
        return not is_complete(self.path)

    def values(self, key: str) -> list[float]:
        """The defined numeric values of ``key`` over the runs."""
        out = []
        for s in self.summaries:
            v = metric_value(s, key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                out.append(float(v))
        return out


def load_side(path: Path) -> Side:
    """A run folder, or a folder of run folders (a sweep cell: ``rep-*``); RunError when
    it is neither."""
    if is_complete(path):
        return Side(path, (load_summary(path),))
    runs = sorted(p for p in path.glob("rep-*") if is_complete(p)) if path.is_dir() else []
    if not runs:
        raise RunError(
            f"{path} is neither a run folder nor a sweep cell (a folder of rep-<r> run "
            "folders, such as <sweep>/runs/<cell id>)"
        )
    return Side(path, tuple(load_summary(r) for r in runs))


def _leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


@dataclass(frozen=True)
class Row:
    """One figure compared."""

    key: str
    a: list[float]
    b: list[float]
    diff: Difference | None


def compare(a: Side, b: Side, keys: Sequence[str] | None = None) -> list[Row]:
    """One row per key (default: the headline figures) that either side defines."""
    if keys is None:
        keys = HEADLINE_KEYS
    rows = []
    for key in keys:
        va, vb = a.values(key), b.values(key)
        if va or vb:
            rows.append(Row(key, va, vb, welch(va, vb)))
    return rows


def all_keys(a: Side, b: Side) -> list[str]:
    """Every numeric summary key of either side, in summary order."""
    seen = [k for s in (*a.summaries, *b.summaries) for k in _leaves(s)]
    return [k for k in dict.fromkeys(seen) if is_metric(k)]


def _whole(key: str, value: float) -> float | int:
    """A count as an int (shown with thousands separators like the run's own table)."""
    return int(value) if unit_of(key) == "count" and float(value).is_integer() else value


def _side_text(key: str, values: list[float], cell: bool) -> str:
    if not values:
        return "n/a"
    est = estimate(values)
    assert est.mean is not None
    text = format_value(key, _whole(key, est.mean))
    return f"{text} (n={est.n})" if cell else text


def _diff_text(key: str, row: Row) -> str:
    d = row.diff
    if d is None:
        return "n/a"
    text = ("+" if d.diff > 0 else "") + format_value(key, _whole(key, d.diff))
    if d.half_width is not None and d.low is not None and d.high is not None:
        text += f"  [95% CI {format_value(key, d.low)} .. {format_value(key, d.high)}]"
    return text


def render(a: Side, b: Side, rows: Sequence[Row]) -> str:
    """The comparison as an aligned text table with a header naming both sides."""
    lines = [
        f"A: {a.path} ({len(a.summaries)} run{'s' if len(a.summaries) != 1 else ''})",
        f"B: {b.path} ({len(b.summaries)} run{'s' if len(b.summaries) != 1 else ''})",
    ]
    table = [("figure", "A", "B", "B - A")]
    table += [
        (
            r.key,
            _side_text(r.key, r.a, a.is_cell),
            _side_text(r.key, r.b, b.is_cell),
            _diff_text(r.key, r),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        lines.append(
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
        )
    if a.is_cell and b.is_cell:
        lines.append("cells: means over runs; CI of the difference by Welch's t")
    return "\n".join(lines) + "\n"
