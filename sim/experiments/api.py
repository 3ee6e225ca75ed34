"""The notebook API: one call runs a scenario (or a sweep) and hands back DataFrames.

::

    import sim
    run = sim.run("scenarios/baseline.yaml", seed=7, attestation__interval="2m")
    run.summary["drift"]["time_to_lapse_s"]["mean"]
    run.tables["attestations"].latency_s.describe()
    run                                      # a short repr; in Jupyter a small table

Overrides are validated like the scenario file (:class:`~sim.errors.ScenarioError` naming the
dotted path): give them as keyword arguments with ``__`` for ``.`` or as a mapping
``overrides={"attestation.interval": "2m"}``. Nothing is written unless ``out`` is given.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis import results
from sim.analysis.columnar import frame_of
from sim.analysis.summary import headline, metric_value
from sim.analysis.tables import TABLES
from sim.analysis.text import format_value
from sim.errors import Problem, ScenarioError
from sim.experiments.spec import Sweep, load_sweep
from sim.experiments.sweep import run_sweep as _run_sweep
from sim.runner import RunOutput, simulate, write
from sim.scenario import Scenario, load_scenario

__all__ = ["Run", "SweepRun", "run", "run_sweep"]


def _merged(overrides: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping and ``a__b=v`` keyword arguments as one dotted-path mapping."""
    return {**(overrides or {}), **{k.replace("__", "."): v for k, v in fields.items()}}


@dataclass(frozen=True, eq=False)
class Run:
    """One finished run, in memory: ``summary`` (nested dict), ``tables`` (pandas
    DataFrames in the declared types, built on first use), ``manifest``, the ``scenario``
    as run, and the run ``folder`` when one was written."""

    output: RunOutput = field(repr=False)
    folder: Path | None = None

    @property
    def scenario(self) -> Scenario:
        return self.output.scenario

    @property
    def seed(self) -> int:
        return self.output.seed

    @property
    def summary(self) -> dict[str, Any]:
        return self.output.summary

    @property
    def manifest(self) -> dict[str, Any]:
        return self.output.manifest

    @property
    def ok(self) -> bool:
        """Whether the run reached its end without an exception."""
        return self.output.ok

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every recorded table as a DataFrame (the same frames ``sim.results.load`` gives
        for the run folder)."""
        return {
            name: frame_of(self.output.tables[name], declared)
            for name, declared in TABLES.items()
            if name in self.output.tables
        }

    def metric(self, dotted: str) -> Any:
        """The summary value at a dotted key, such as ``drift.time_to_lapse_s.mean``."""
        return metric_value(self.summary, dotted)

    def save(self, out: str | Path) -> Path:
        """Write the run folder (atomically) and return its path."""
        return write(self.output, out)

    def headline(self) -> pd.DataFrame:
        """The headline figures, as ``vtasim run`` prints them (durations with their
        censoring): one row per key with its value and the value as text."""
        shown = _dotted(headline(self.summary))
        keys = list(shown)
        table: pd.DataFrame = pd.DataFrame(
            {
                "value": [shown[k] for k in keys],
                "shown": [format_value(k, shown[k]) for k in keys],
            },
            index=pd.Index(keys, name="figure"),
        )
        return table

    def __repr__(self) -> str:
        m = self.manifest
        state = "ok" if self.ok else f"ended by {m['exception']['type']}"
        rows = sum(len(t) for t in self.output.tables.values())
        where = f", folder {self.folder}" if self.folder is not None else ""
        return (
            f"<Run {self.scenario.name} seed {self.seed}: {m['sim_time_s']:.0f} s simulated, "
            f"{m['events']:,} events, {state}; {len(self.output.tables)} tables, "
            f"{rows:,} rows{where}>"
        )

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><td><code>{html.escape(str(k))}</code></td><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.headline()["shown"].items()
        )
        return (
            f"<p>{html.escape(repr(self))}</p>"
            f"<table><tr><th>figure</th><th>value</th></tr>{body}</table>"
        )


def _dotted(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted key -> leaf, in its order."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _check_seed(seed: object) -> None:
    """A ScenarioError on ``seed`` unless it is None or a whole number a scenario allows."""
    if seed is None:
        return
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 2**63 - 1:
        raise ScenarioError(
            [Problem("seed", f"expected a whole number from 0 to 2**63 - 1, found {seed!r:.80}")]
        )


def _until(until: object, scenario: Scenario) -> float:
    """``until`` in seconds: a positive duration of at most 3650d, after the warm-up; a
    ScenarioError on ``until`` otherwise."""
    from sim.scenario.units import MAX_DURATION, parse_duration, parse_positive_duration

    try:
        end = parse_positive_duration(until)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError) as exc:
        raise ScenarioError([Problem("until", str(exc))]) from None
    if end > parse_duration(MAX_DURATION):
        raise ScenarioError([Problem("until", f"expected at most {MAX_DURATION}, found {until!r}")])
    if end <= scenario.warmup:
        raise ScenarioError(
            [
                Problem(
                    "until",
                    f"expected a time after the warm-up ({scenario.warmup:g} s), found {end:g} s",
                )
            ]
        )
    return end


def run(
    scenario: Scenario | str | Path,
    seed: int | None = None,
    *,
    until: float | str | None = None,
    out: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: bool = False,
    **fields: Any,
) -> Run:
    """Run a scenario (a :class:`Scenario`, or the path of a YAML file) with ``seed``
    (default the scenario's) for ``until`` (a duration such as ``"6h"``; default its
    duration), after validating ``overrides`` and ``a__b=value`` keyword arguments; write
    the run folder when ``out`` is given."""
    changes = _merged(overrides, fields)
    if isinstance(scenario, Scenario):
        chosen = scenario.with_overrides(changes) if changes else scenario
    else:
        chosen = load_scenario(Path(scenario), changes)
    _check_seed(seed)
    end = None if until is None else _until(until, chosen)
    output = simulate(chosen, seed=seed, until=end, progress=progress)
    folder = write(output, out) if out is not None else None
    return Run(output, folder)


@dataclass(frozen=True)
class SweepRun:
    """A finished sweep: its ``path``, ``index`` (one row per run) and ``cells`` (one row
    per cell and metric: n, mean, 95% CI) as DataFrames; ``tables()`` loads the runs'
    tables across the sweep."""

    path: Path
    index: pd.DataFrame
    cells: pd.DataFrame

    @property
    def failed(self) -> pd.DataFrame:
        """The index rows of runs that failed."""
        rows: pd.DataFrame = self.index[self.index["status"] != "ok"]
        return rows

    def tables(self) -> dict[str, pd.DataFrame]:
        """One DataFrame per table kind across every ok run (see ``sim.results.load_sweep``)."""
        loaded: dict[str, pd.DataFrame] = results.load_sweep(self.path)
        return loaded

    def __repr__(self) -> str:
        cells = self.cells["cell_id"].nunique() if len(self.cells) else 0
        return (
            f"<SweepRun {self.path.name}: {cells} cells, {len(self.index)} runs, "
            f"{len(self.failed)} failed>"
        )

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>" + str(self.cells.to_html(max_rows=20))


def run_sweep(
    sweep: Sweep | str | Path,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    **fields: Any,
) -> SweepRun:
    """Run (or resume) a sweep and return its tables as DataFrames; ``overrides`` and
    ``a__b=value`` keyword arguments apply to every cell (validated; a factor cannot be
    overridden)."""
    changes = _merged(overrides, fields)
    if isinstance(sweep, Sweep):
        if changes:
            raise ValueError(
                "overrides of a Sweep object: pass them to sim.load_sweep(path, overrides), "
                "or give run_sweep the sweep file's path"
            )
        sw = sweep
    else:
        sw = load_sweep(Path(sweep), changes or None)
    result = _run_sweep(sw, out, workers=workers, progress=progress)
    return SweepRun(
        result.path,
        pd.DataFrame.from_records(result.index),
        pd.DataFrame.from_records(result.cells),
    )
