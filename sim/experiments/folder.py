"""A sweep folder's tables, readable without running anything: the columns of
``cells.csv`` and loading ``index.csv`` and ``cells.csv`` back.

Layout of a sweep folder::

    <out>/sweep.resolved.yaml      the sweep as run (spec and cells)
    <out>/runs/<cell id>/rep-<r>/  one run folder per run (see sim.analysis.results)
    <out>/index.csv                one row per run: variant, factors, replication, seed,
                                   status, error, headline metrics
    <out>/cells.csv                one row per cell and metric: estimator, n, estimate, CI
                                   and how the CI was made (ci_method)
    <out>/design.csv               a sampled design's rows: unit coordinates, values, cell
    <out>/sensitivity.csv          its indices per metric and factor (sim.experiments.design)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.analysis import results

CELL_COLUMNS: tuple[str, ...] = (
    "cell_id", "variant", "runs", "metric", "estimator", "n", "censored", "mean", "std",
    "ci_half_width", "ci_low", "ci_high", "ci_method",
)  # fmt: skip
"""The columns of ``cells.csv`` other than the factor columns (which follow ``variant``).
``estimator`` says how ``mean`` was found: ``mean over runs`` (``n`` runs, Student-t
interval) or ``pooled Kaplan-Meier`` (``n`` observations pooled over the runs, ``censored``
of them censored; see :mod:`sim.experiments.pooled`)."""


@dataclass(frozen=True)
class SweepTables:
    """A finished sweep folder loaded back: index and cells as DataFrames (or row lists)."""

    path: Path
    index: Any
    cells: Any


def load_sweep_results(path: str | Path) -> SweepTables:
    """Load ``index.csv`` and ``cells.csv`` of a sweep folder."""
    p = Path(path)
    return SweepTables(p, results.read_table(p / "index.csv"), results.read_table(p / "cells.csv"))
