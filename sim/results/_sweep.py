"""One sweep: :class:`Sweep`, made by :func:`run_sweep` or read by :func:`load_sweep`."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import pandas as pd

from sim.analysis import catalogue, folder_io
from sim.analysis import results as folders
from sim.analysis.columnar import frame_of
from sim.analysis.results import load_sweep_tables
from sim.analysis.stats import nonneg_estimate
from sim.analysis.summary import metric_value
from sim.analysis.tables import TABLES
from sim.analysis.tabular import render
from sim.errors import (
    RunError,
    ScenarioError,
    printable,
    printable_lines,
)
from sim.experiments.folder import CELL_COLUMNS
from sim.experiments.overview import chosen_metrics, overview_table
from sim.experiments.pooled import MEAN_OVER_RUNS, pooled_metric, pooled_row, run_durations
from sim.experiments.spec import Sweep as SweepSpec
from sim.experiments.spec import load_sweep as load_sweep_spec
from sim.experiments.sweep import run_sweep as run_sweep_folder
from sim.results._run import Run, _merged, load
from sim.results._shared import (
    _WIDTH,
    MAX_REPR_LINES,
    Tables,
    _check_key,
    _dotted,
    _present,
    _short,
    _unknown,
    _wrapped,
)
from sim.scenario.yaml_safe import load_yaml_text


class _Runs(Sequence[Run]):
    """The successful runs of a sweep in index order, each read as a :class:`Run` when
    first asked for."""

    def __init__(self, folder: Path, paths: Sequence[str]):
        self._folder = folder
        self._paths = tuple(paths)
        self._loaded: dict[int, Run] = {}

    @overload
    def __getitem__(self, i: int) -> Run: ...
    @overload
    def __getitem__(self, i: slice) -> list[Run]: ...
    def __getitem__(self, i: int | slice) -> Run | list[Run]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._paths)))]
        j = range(len(self._paths))[i]  # IndexError as a list gives it
        if j not in self._loaded:
            self._loaded[j] = load(_inside(self._folder, self._paths[j]))
        return self._loaded[j]

    def __len__(self) -> int:
        return len(self._paths)

    def __repr__(self) -> str:
        return f"<{len(self._paths)} runs, read on first use: runs[0] … runs[{len(self) - 1}]>"


def _inside(folder: Path, relative: str) -> Path:
    """``folder / relative`` when it stays inside ``folder`` (a sweep's index.csv names its
    run folders; one naming a folder elsewhere is refused)."""
    path = folder / relative
    if Path(relative).is_absolute() or not path.resolve().is_relative_to(folder.resolve()):
        raise RunError(
            f"{printable(folder / 'index.csv')}: the run path '{printable(relative)}' leaves "
            "the sweep folder"
        )
    return path


class Sweep:
    """A sweep folder: every run of every cell, and each cell's figures with 95% intervals.

    :func:`run_sweep` returns one after running (or resuming) a sweep, :func:`load_sweep`
    reads one from its folder; both are this class.

    Attributes:
        folder: the sweep folder (also ``path``).
        name: the sweep's name (from ``sweep.resolved.yaml``, else the folder's name).
        index: one row per run (``index.csv``): run, cell_id, variant, one column per factor,
            replication, seed, status, error, wall_time_s, path and the recorded metrics.
        cells: one row per cell and recorded metric (``cells.csv``): cell_id, variant, the
            factor levels, runs, metric, estimator, n, censored, mean, std, ci_half_width,
            ci_low, ci_high, ci_method.
        factors: the factor names (dotted scenario paths), in the sweep's order.
        metrics: the metrics the sweep recorded per run and per cell.
        tables: one DataFrame per table kind holding the rows of every successful run, each
            row led by its run's run, cell_id, variant, factor levels, replication and seed;
            read on first use.
        runs: the successful runs, in index order, each a :class:`Run` read on first use.

    A Sweep is path-like (its folder): ``sim.plots.lapse_vs(sweep, x="attestation.interval")``.
    """

    def __init__(self, folder: Path, name: str, index: pd.DataFrame, cells: pd.DataFrame):
        """Not called directly: :func:`run_sweep` and :func:`load_sweep` build sweeps."""
        self.folder = folder
        self.name = name
        self.index = index
        self.cells = cells
        self.factors: tuple[str, ...] = tuple(
            str(c) for c in cells.columns if c not in CELL_COLUMNS
        )
        self.metrics: tuple[str, ...] = tuple(
            dict.fromkeys(str(m) for m in cells["metric"]) if "metric" in cells else ()
        )
        ok = index[index["status"] == "ok"] if "status" in index else index.iloc[0:0]
        self._ok = ok
        self.runs: Sequence[Run] = _Runs(folder, [str(p) for p in ok.get("path", [])])
        self._all_tables: dict[str, pd.DataFrame] | None = None
        self.tables = Tables(list(TABLES), self._table, f"the sweep folder {folder}")

    @property
    def path(self) -> Path:
        """The sweep folder (the same as :attr:`folder`)."""
        return self.folder

    def __fspath__(self) -> str:
        """The sweep folder's path: a Sweep goes wherever a sweep folder's path goes
        (``sim.plots.lapse_vs(sweep, x=...)``, ``Path(sweep)``)."""
        return str(self.folder)

    @property
    def failed(self) -> pd.DataFrame:
        """The index rows of the runs that failed (status other than ``ok``), with their
        error."""
        rows: pd.DataFrame = self.index[self.index["status"] != "ok"]
        return rows

    def _table(self, name: str) -> pd.DataFrame:
        if self._all_tables is None:
            self._all_tables = load_sweep_tables(self.folder, self.index)
        if name in self._all_tables:
            return self._all_tables[name]
        empty: pd.DataFrame = frame_of([], TABLES[name])
        return empty

    def _cell_rows(self) -> dict[str, dict[str, Any]]:
        """cell_id -> the cell's leading columns (variant, factor levels, runs)."""
        lead = ["cell_id", "variant", *self.factors, "runs"]
        out: dict[str, dict[str, Any]] = {}
        for row in _records(self.cells[[c for c in lead if c in self.cells]]):
            out.setdefault(str(row["cell_id"]), row)
        return out

    @property
    def summary(self) -> dict[str, Any]:
        """The sweep's figures per cell: ``{cell_id: {"variant", "factors": {name: level},
        "runs", "metrics": {metric: {estimator, n, censored, mean, std, ci_half_width,
        ci_low, ci_high, ci_method}}}}`` for every recorded metric (``cells.csv`` as a
        nested dict; missing values are None)."""
        out: dict[str, Any] = {}
        for row in _records(self.cells):
            cell = out.setdefault(
                str(row["cell_id"]),
                {
                    "variant": _plain(row.get("variant")),
                    "factors": {f: _plain(row.get(f)) for f in self.factors},
                    "runs": _plain(row.get("runs")),
                    "metrics": {},
                },
            )
            cell["metrics"][str(row["metric"])] = {
                c: _plain(row.get(c)) for c in CELL_COLUMNS[CELL_COLUMNS.index("estimator") :]
            }
        return out

    def metric(self, key: str) -> pd.DataFrame:
        """The figure ``key`` for every cell, one row per cell: cell_id, variant, the factor
        levels, runs, estimator, n, censored, mean, std, ci_half_width, ci_low, ci_high,
        ci_method (the 95% interval; how it was made is in ``ci_method``).

        A metric the sweep recorded comes from ``cells.csv``. Any other numeric summary key
        is computed now from the successful runs' summaries the way a sweep computes its
        cells: the mean over the runs with a 95% interval that stays non-negative, or for a
        Kaplan-Meier figure (``km_median``, ``km_restricted_mean``) one estimate pooled over
        the runs' observations.

        Raises:
            UnknownMetricError: no cell recorded ``key`` and no run's summary holds it; the
                message names the nearest keys. It is a KeyError.
        """
        key = _check_key(key)
        if key in self.metrics:
            rows: pd.DataFrame = self.cells[self.cells["metric"] == key]
            picked: pd.DataFrame = rows.drop(columns="metric").reset_index(drop=True)
            return picked
        summaries = [(str(r["cell_id"]), r, self.runs[i].summary) for i, r in self._ok_rows()]
        existing = list(
            dict.fromkeys([*self.metrics, *(k for _, _, s in summaries[:1] for k in _dotted(s))])
        )
        if not catalogue.is_metric(key) or not any(_present(s, key) for _, _, s in summaries):
            raise _unknown(key, f"the sweep {_short(self.name)} ({self.folder})", existing)
        found = pooled_metric(key)
        out: list[dict[str, Any]] = []
        for cell_id, lead in self._cell_rows().items():
            runs = [(r, s) for c, r, s in summaries if c == cell_id]
            row: dict[str, Any] = {**lead, "runs": len(runs)}
            if found is not None:
                horizon = metric_value(runs[0][1], f"{found[0]}.km_horizon") if runs else None
                parts = run_durations(self.folder, [r for r, _ in runs])
                row.update(pooled_row(parts, *found, horizon))
            else:
                est = nonneg_estimate([_number(metric_value(s, key)) for _, s in runs])
                row.update(estimator=MEAN_OVER_RUNS, censored=None, **est.as_row())
            out.append(row)
        columns = [c for c in self.cells.columns if c != "metric"]
        frame: pd.DataFrame = pd.DataFrame.from_records(out, columns=columns)
        return frame

    def _ok_rows(self) -> list[tuple[int, dict[str, Any]]]:
        return list(enumerate(_records(self._ok)))

    def headline(self) -> pd.DataFrame:
        """One row per cell (indexed by cell_id): variant, the factor levels, runs, and for
        a few decision figures the sweep recorded (the ones ``vtasim sweep`` prints) the
        mean and the ends of its 95% interval (``<metric>``, ``<metric>.ci_low``,
        ``<metric>.ci_high``)."""
        chosen = chosen_metrics(self.metrics)
        cells = self._cell_rows()
        by: dict[tuple[str, str], dict[str, Any]] = {
            (str(r["cell_id"]), str(r["metric"])): r for r in _records(self.cells)
        }
        rows = []
        for cell_id, lead in cells.items():
            row = {k: v for k, v in lead.items() if k != "cell_id"}
            for m in chosen:
                got = by.get((cell_id, m), {})
                row[m] = got.get("mean")
                row[f"{m}.ci_low"] = got.get("ci_low")
                row[f"{m}.ci_high"] = got.get("ci_high")
            rows.append(row)
        table: pd.DataFrame = pd.DataFrame.from_records(
            rows, index=pd.Index(list(cells), name="cell_id")
        )
        return table

    def overview(self) -> str:
        """The table ``vtasim sweep`` prints at its end: each cell's mean and 95% interval
        of a few decision figures, as text."""
        return render(overview_table(_records(self.cells), self.metrics), "text")

    def __repr__(self) -> str:
        cells = len(self._cell_rows())
        lines = [
            f"Sweep {_short(self.name)}: {cells} cells, {len(self.index)} runs, "
            f"{len(self.failed)} failed",
            f"  folder    {_short(self.folder, _WIDTH - 12)}",
        ]
        lines += _wrapped("  factors  ", [_short(f, 60) for f in self.factors] or ["none"], 2)
        lines += _wrapped(f"  metrics   {len(self.metrics)}:", [_short(m) for m in self.metrics], 2)
        room = MAX_REPR_LINES - len(lines) - 1
        if len(self.cells) and room > 3:
            first = chosen_metrics(self.metrics, 1)  # one figure: the lines stay short
            text = render(overview_table(_records(self.cells), first), "text")
            table = [
                line
                for line in printable_lines(text).split("\n")
                if line.strip() and not line.startswith("rank the cells")  # a CLI hint
            ]
            if len(table) > room:
                table = [*table[: room - 1], f"… {cells} cells in .headline() and .cells"]
            lines += ["  " + line[: _WIDTH - 2] for line in table]
        lines.append("  .metric(key)  .headline()  .cells  .index  .tables[name]  .runs[i]")
        return "\n".join(lines[:MAX_REPR_LINES])

    def _repr_html_(self) -> str:
        first = html.escape(repr(self).split("\n", 1)[0])
        frame = self.headline()
        return f"<p><b>{first}</b></p>" + str(frame.to_html(max_rows=20, escape=True))


SweepRun = Sweep
"""The name :func:`run_sweep`'s result had before it was the :class:`Sweep` that
:func:`load_sweep` also returns."""


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts keyed by column name."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    """A cell value from a DataFrame as a plain Python value (NaN and NA as None)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _sweep_name(folder: Path) -> str:
    """The sweep's name from ``sweep.resolved.yaml`` (bounded reader), else the folder's."""
    resolved = folder / "sweep.resolved.yaml"
    if not resolved.is_file():
        return folder.name
    text = folder_io.read_scenario_text(folder, "sweep.resolved.yaml")
    doc = load_yaml_text(text, str(resolved))
    if isinstance(doc, dict) and isinstance(doc.get("sweep"), dict):
        return str(doc["sweep"].get("name", folder.name))
    return folder.name


def load_sweep(folder: str | Path) -> Sweep:
    """Read a sweep folder (written by ``vtasim sweep`` or :func:`run_sweep`) as a
    :class:`Sweep`: ``index.csv`` and ``cells.csv`` now, the runs' tables and folders when
    first used.

    Raises:
        RunError: ``folder`` is not a sweep folder (no ``index.csv`` or ``cells.csv``), or
            one of its files is damaged; the message names the file.
    """
    where = Path(folder)
    if where.is_file() and where.suffix in (".yaml", ".yml"):
        raise RunError(
            f"{printable(where)} is a sweep file, not a sweep folder: run it with "
            "sim.run_sweep(path), or read the file with sim.experiments.load_sweep(path)"
        )
    missing = [n for n in ("index.csv", "cells.csv") if not (where / n).is_file()]
    if missing:
        raise RunError(
            f"{printable(where)} is not a sweep folder (it has no {' or '.join(missing)})"
        )
    try:
        index = folders.read_table(where / "index.csv")
        cells = folders.read_table(where / "cells.csv")
        name = _sweep_name(where)
    except (RunError, ScenarioError) as exc:
        raise RunError(printable(str(exc))) from None
    for file, frame, needed in (
        ("index.csv", index, ("run", "cell_id", "status", "path")),
        ("cells.csv", cells, ("cell_id", "metric", "mean")),
    ):
        absent = [c for c in needed if c not in frame.columns]
        if absent and len(frame.columns):
            raise RunError(f"{printable(where / file)}: no column {', '.join(absent)}")
    for relative in index.get("path", ()):
        if isinstance(relative, str):
            _inside(where, relative)  # every table and figure of a run is read from there
    return Sweep(where, name, index, cells)


def run_sweep(
    sweep: SweepSpec | str | Path,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Sweep:
    """Run (or resume) a sweep and return the :class:`Sweep`.

    Args:
        sweep: the path of a sweep YAML file, or a sweep loaded with
            :func:`sim.experiments.load_sweep`.
        out: the sweep folder (default ``results/sweeps/<name>``); a folder holding this
            sweep's finished runs is resumed, keeping them.
        workers: worker processes (default: one per CPU).
        progress: show a progress bar.
        overrides: scenario fields to change in every cell, by dotted path (a factor cannot
            be overridden); only with a sweep file's path.
        **fields: more overrides, ``__`` standing for ``.``.

    Raises:
        ScenarioError: the sweep file or an override is invalid, naming the field.
    """
    changes = _merged(overrides, fields)
    if isinstance(sweep, SweepSpec):
        if changes:
            raise ValueError(
                "overrides of a loaded sweep: pass them to "
                "sim.experiments.load_sweep(path, overrides), or give run_sweep the sweep "
                "file's path"
            )
        spec = sweep
    else:
        spec = load_sweep_spec(Path(sweep), changes or None)
    done = run_sweep_folder(spec, out, workers=workers, progress=progress)
    return load_sweep(done.path)
