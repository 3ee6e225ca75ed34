"""Results of runs and sweeps: one :class:`Run` type and one :class:`Sweep` type, whatever
produced them.

::

    import sim
    run = sim.run("scenarios/baseline.yaml", seed=7, attestation__interval="2m")
    run                                       # a short summary; in Jupyter a small table
    run.metric("attestation.latency_s.p95")   # one figure (a misspelt key names the nearest)
    run.headline()                            # the figures `vtasim run` prints, a DataFrame
    run.tables["attestations"]                # every table as a pandas DataFrame
    folder = run.save("results/demo")         # the run folder, written atomically
    again = sim.load(folder)                  # the same Run type, read from the folder

    sweep = sim.run_sweep("scenarios/sweeps/interval.yaml", "results/sweeps/interval")
    sweep = sim.load_sweep("results/sweeps/interval")   # the same Sweep type
    sweep.metric("attestation.latency_s.p95")  # per cell: factors, mean, 95% interval
    sweep.tables["attestations"]               # every run's rows, factor levels as columns
    sweep.runs[0]                              # one run of the sweep, as a Run

Both types answer the same questions the same way: ``.summary`` (the figures), ``.metric(key)``
(one figure; :class:`~sim.errors.UnknownMetricError` with the nearest keys when the key does
not exist), ``.headline()`` (the few figures worth reading first, as a DataFrame), ``.tables``
(DataFrames, read on first use) and a short ``repr`` (an HTML table in Jupyter).

A run folder or sweep folder may come from someone else: it is read with the bounded readers
of :mod:`sim.analysis.folder_io` (size and time limits, no YAML aliases, no ``extends``
followed), and every error is a :class:`~sim.errors.RunError` (or
:class:`~sim.errors.ScenarioError` for its scenario) naming the file, printable on a terminal.
"""

from __future__ import annotations

from sim.errors import UnknownMetricError
from sim.results._run import Run, load, run
from sim.results._shared import MAX_REPR_LINES, Tables
from sim.results._sweep import Sweep, SweepRun, load_sweep, run_sweep

__all__ = [
    "MAX_REPR_LINES",
    "Run",
    "Sweep",
    "SweepRun",
    "Tables",
    "UnknownMetricError",
    "load",
    "load_sweep",
    "run",
    "run_sweep",
]
