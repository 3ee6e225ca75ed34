"""The table ``vtasim sweep`` prints at the end: each cell's mean and 95% interval of a few
decision figures the sweep recorded, so the user sees results without opening a file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.analysis.compare import Figure, shown
from sim.analysis.compare_view import INTERVAL, side_text
from sim.analysis.stats import Estimate
from sim.analysis.tabular import Table
from sim.experiments.pooled import POOLED

PREFERRED: tuple[str, ...] = (
    "attestation.latency_s.p95",
    "drift.time_to_refusal_s.km_restricted_mean",
    "drift.time_to_refusal_s.mean",
    "drift.exposure.keys_released",
    "capacity.usable_hosts.min",
    "capacity.attested_hosts.min",
    "attestation.failed",
)
"""The figures the overview shows first, when the sweep recorded them."""

MOST_CELLS = 20
"""Cells listed before the rest are left to ``cells.csv``."""


def chosen_metrics(recorded: Sequence[str], most: int = 3) -> list[str]:
    """Up to ``most`` of the recorded metrics: the preferred ones first, in their order,
    then the sweep's own order."""
    picked = [m for m in PREFERRED if m in recorded]
    picked += [m for m in recorded if m not in picked]
    return picked[:most]


def _figure(row: dict[str, Any]) -> Figure:
    est = Estimate(
        int(row["n"]),
        row["mean"],
        row["std"],
        row["ci_half_width"],
        row["ci_low"],
        row["ci_high"],
        method=str(row.get("ci_method") or ""),
    )
    return Figure(est, int(row["runs"]))


def overview_table(cells: Sequence[dict[str, Any]], recorded: Sequence[str]) -> Table:
    """One line per cell (the first :data:`MOST_CELLS`) with the chosen metrics."""
    metrics = chosen_metrics(recorded)
    by_cell: dict[str, dict[str, dict[str, Any]]] = {}
    for row in cells:
        by_cell.setdefault(str(row["cell_id"]), {})[str(row["metric"])] = row
    lines, records = [], []
    for cell_id, rows in list(by_cell.items())[:MOST_CELLS]:
        first = next(iter(rows.values()))
        figs = {m: _figure(rows[m]) for m in metrics if m in rows}
        lines.append(
            [shown(cell_id), shown(first.get("variant") or "") or "-", str(first["runs"])]
            + [side_text(m, figs[m], True) if m in figs else "n/a" for m in metrics]
        )
        records.append({"cell_id": cell_id, **{m: rows[m]["mean"] for m in figs}})
    notes = [f"means over the runs [{INTERVAL}]"]
    if any(
        rows.get(m, {}).get("estimator") == POOLED for rows in by_cell.values() for m in metrics
    ):
        notes.append("Kaplan-Meier figures (km_*): one estimate pooled over the runs' observations")
    if len(by_cell) > MOST_CELLS:
        notes.append(f"... {len(by_cell) - MOST_CELLS} more cells in cells.csv")
    notes.append("rank the cells on any summary key: vtasim compare SWEEP_DIR --metric KEY")
    columns = ["cell", "variant", "runs", *metrics]
    return Table([], columns, lines, records, notes, right=tuple(range(2, len(columns))))
