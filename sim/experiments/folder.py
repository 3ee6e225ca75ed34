"""The columns of a sweep folder's ``cells.csv`` (:func:`sim.results.load_sweep` reads a
sweep folder back).

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

CELL_COLUMNS: tuple[str, ...] = (
    "cell_id", "variant", "runs", "metric", "estimator", "n", "censored", "mean", "std",
    "ci_half_width", "ci_low", "ci_high", "ci_method",
)  # fmt: skip
"""The columns of ``cells.csv`` other than the factor columns (which follow ``variant``).
``estimator`` says how ``mean`` was found: ``mean over runs`` (``n`` runs, Student-t
interval) or ``pooled Kaplan-Meier`` (``n`` observations pooled over the runs, ``censored``
of them censored; see :mod:`sim.experiments.pooled`)."""
