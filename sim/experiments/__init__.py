"""Experiments: sweep files (:mod:`~sim.experiments.spec`) and running them with
replications, confidence intervals and local or Dask executors
(:mod:`~sim.experiments.sweep`) on an executor (:mod:`~sim.experiments.executors`), and
attestation regimes compared from a sweep folder (:mod:`~sim.experiments.comparison`)."""

from sim.experiments.comparison import regime_rows, regime_table
from sim.experiments.executors import RunTask, dask_executor, execute, local_executor
from sim.experiments.spec import Cell, Sweep, load_sweep, parse_sweep
from sim.experiments.sweep import SweepResult, run_sweep

__all__ = [
    "Cell",
    "RunTask",
    "Sweep",
    "SweepResult",
    "dask_executor",
    "execute",
    "load_sweep",
    "local_executor",
    "parse_sweep",
    "regime_rows",
    "regime_table",
    "run_sweep",
]
