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

import difflib
import html
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import pandas as pd

from sim.analysis import catalogue, folder_io
from sim.analysis import results as folders
from sim.analysis.columnar import frame_of
from sim.analysis.results import load_sweep_tables
from sim.analysis.stats import nonneg_estimate
from sim.analysis.summary import headline as headline_of
from sim.analysis.summary import metric_value
from sim.analysis.tables import TABLES
from sim.analysis.tabular import render
from sim.analysis.text import format_value
from sim.errors import (
    Problem,
    RunError,
    ScenarioError,
    UnknownMetricError,
    printable,
    printable_lines,
)
from sim.experiments.folder import CELL_COLUMNS
from sim.experiments.overview import chosen_metrics, overview_table
from sim.experiments.pooled import MEAN_OVER_RUNS, pooled_metric, pooled_row, run_durations
from sim.experiments.spec import Sweep as SweepSpec
from sim.experiments.spec import load_sweep as load_sweep_spec
from sim.experiments.sweep import run_sweep as run_sweep_folder
from sim.runner import RunOutput, simulate, write
from sim.scenario import Scenario, load_scenario
from sim.scenario.loading import parse_resolved_scenario
from sim.scenario.yaml_safe import load_yaml_text

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

MAX_REPR_LINES = 20
"""Most lines the ``repr`` of a :class:`Run` or :class:`Sweep` prints, whatever the result
holds (the tables, cells and figures are there to be asked for, not printed)."""
_WIDTH = 100
_NAME = 80  # characters of a name from a file shown in a repr
_REPR_FIGURES = 8  # headline figures a run's repr shows


def _short(text: object, most: int = _NAME) -> str:
    """A name from a file as a repr shows it: printable, cut to ``most`` characters."""
    shown = printable(text)
    return shown if len(shown) <= most else shown[: most - 1] + "…"


def _wrapped(label: str, words: Sequence[str], lines: int = 3) -> list[str]:
    """``words`` after ``label``, comma-separated and wrapped to :data:`_WIDTH`, at most
    ``lines`` lines (the rest counted at the end of the last)."""
    pad = " " * len(label)
    out: list[str] = []
    current = label
    for i, word in enumerate(words):
        piece = word + ("," if i < len(words) - 1 else "")
        last = len(out) == lines - 1
        reserve = len(f" … {len(words)} more") if last and i < len(words) - 1 else 0
        if len(current) + 1 + len(piece) + reserve > _WIDTH and current not in (label, pad):
            if last:
                current += f" … {len(words) - i} more"
                break
            out.append(current)
            current = pad
        current += " " + piece
    out.append(current)
    return out


# --------------------------------------------------------------------------- metric keys


def _dotted(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted key -> leaf, in its order."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _present(summary: Mapping[str, Any], key: str) -> bool:
    """Whether every part of the dotted ``key`` exists in ``summary`` (its value may be
    None: a figure the run could not define)."""
    node: Any = summary
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _catalogue_keys() -> list[str]:
    """The catalogue's keys, service kinds spelt out (the other placeholders kept)."""
    out: list[str] = []
    for m in catalogue.CATALOGUE:
        if "<kind>" in m.key:
            out += [m.key.replace("<kind>", k) for k in catalogue.SERVICE_KINDS]
        else:
            out.append(m.key)
    return out


def _unknown(key: object, where: str, existing: Sequence[str]) -> UnknownMetricError:
    """The error for a metric key that does not exist, naming the nearest keys among
    ``existing`` and the catalogue."""
    text = str(key)
    names = list(dict.fromkeys((*existing, *_catalogue_keys())))
    return UnknownMetricError(text, where, difflib.get_close_matches(text, names, n=3, cutoff=0.6))


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a metric key is a dotted string such as 'attestation.requests', "
                        f"found {type(key).__name__}")  # fmt: skip
    return key


# --------------------------------------------------------------------------- tables


class Tables(Mapping[str, pd.DataFrame]):
    """The tables of a run or sweep by name, each a pandas DataFrame read (or built) on
    first use and kept. Iterating gives the names; ``repr`` lists them without reading any.
    A name that does not exist raises ``KeyError`` listing the ones there are."""

    def __init__(self, names: Sequence[str], read: Callable[[str], pd.DataFrame], where: str):
        self._names = tuple(names)
        self._read = read
        self._where = where
        self._frames: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._names:
            close = difflib.get_close_matches(str(name), self._names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise KeyError(
                f"no table '{printable(name)}' in {printable(self._where)}{hint} "
                f"(tables: {', '.join(self._names) or 'none'})"
            )
        if name not in self._frames:
            self._frames[name] = self._read(name)
        return self._frames[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        names = ", ".join(_short(n, 40) for n in self._names[:30])
        more = f", … {len(self._names) - 30} more" if len(self._names) > 30 else ""
        return f"<{len(self._names)} tables, read on first use: {names}{more}>"


# --------------------------------------------------------------------------- one run


class Run:
    """One run: its figures, tables, scenario and manifest, in memory or read from its folder.

    :func:`run` returns one after simulating, :func:`load` reads one from a run folder, and
    ``Sweep.runs`` gives each run of a sweep; all three are this class and give equal
    ``summary``, ``manifest`` and ``tables`` for the same scenario and seed.

    Attributes:
        summary: every figure of the run, nested by topic (``summary.json``); see
            :meth:`metric` and ``vtasim metrics`` for the keys, units and meanings.
        manifest: seed, simulated time, events, versions, timings and the exception that
            ended the run, if any (``manifest.json``).
        tables: every recorded table as a pandas DataFrame in its declared column types,
            with the column units in ``frame.attrs["units"]``; read from the folder's Parquet
            files (or built from the records in memory) on first use.
        folder: the run folder, or None for a run held only in memory (see :meth:`save`).
            A run with a folder is path-like: ``sim.plots.latency_cdf(run)`` draws from it.
    """

    def __init__(
        self,
        *,
        summary: dict[str, Any],
        manifest: dict[str, Any],
        tables: Tables,
        folder: Path | None,
        scenario_yaml: Callable[[], str],
        scenario: Callable[[], Scenario],
        output: RunOutput | None = None,
    ) -> None:
        """Not called directly: :func:`run`, :func:`load` and ``Sweep.runs`` build runs."""
        self.summary = summary
        self.manifest = manifest
        self.tables = tables
        self.folder = folder
        self._scenario_yaml = scenario_yaml
        self._scenario = scenario
        self._output = output
        self._cache: dict[str, Any] = {}

    @classmethod
    def _of_output(cls, output: RunOutput, folder: Path | None) -> Run:
        """The run ``output`` of :func:`sim.runner.simulate`, with its folder when written."""
        recorded = output.tables
        return cls(
            summary=output.summary,
            manifest=output.manifest,
            tables=Tables(
                sorted(n for n in TABLES if n in recorded),  # as a folder lists them
                lambda name: frame_of(recorded[name], TABLES[name]),
                f"the run of {output.scenario.name}",
            ),
            folder=folder,
            scenario_yaml=output.scenario.resolved_yaml,
            scenario=lambda: output.scenario,
            output=output,
        )

    @property
    def scenario(self) -> Scenario:
        """The scenario as run (seed and duration included); for a loaded run, parsed from
        the folder's ``scenario.resolved.yaml`` on first use (a ScenarioError naming the
        file when it does not validate, say from another version of vtasim)."""
        if "scenario" not in self._cache:
            self._cache["scenario"] = self._scenario()
        found: Scenario = self._cache["scenario"]
        return found

    @property
    def scenario_yaml(self) -> str:
        """The resolved scenario as YAML text (``scenario.resolved.yaml``)."""
        if "yaml" not in self._cache:
            self._cache["yaml"] = self._scenario_yaml()
        text: str = self._cache["yaml"]
        return text

    @property
    def seed(self) -> int:
        """The root seed the run used."""
        seed = self.manifest.get("seed")
        return seed if isinstance(seed, int) else -1

    @property
    def name(self) -> str:
        """The scenario's name."""
        return str(self.manifest.get("scenario", ""))

    @property
    def ok(self) -> bool:
        """Whether the run reached its end without an exception."""
        return self.manifest.get("exception") is None

    def _where(self) -> str:
        where = f"the run of {_short(self.name)} seed {self.seed}"
        return where + (f" ({self.folder})" if self.folder is not None else "")

    def metric(self, key: str) -> Any:
        """The summary value at a dotted ``key`` such as ``"drift.time_to_lapse_s.mean"``
        (a number, or None when the run could not define it, such as a mean of no events; a
        group such as ``"drift.time_to_lapse_s"`` gives its dict).

        Raises:
            UnknownMetricError: the run's summary has no such key; the message names the
                nearest keys of the summary and of the metrics catalogue. It is a KeyError.
        """
        key = _check_key(key)
        if not _present(self.summary, key):
            raise _unknown(key, self._where(), list(_dotted(self.summary)))
        return metric_value(self.summary, key)

    def headline(self) -> pd.DataFrame:
        """The headline figures as ``vtasim run`` prints them (durations that may not end
        with their censoring), one row per dotted key: ``value`` (the number, or words such
        as ``all 3 censored``) and ``shown`` (the value as text with its unit)."""
        shown = _dotted(headline_of(self.summary))
        keys = list(shown)
        index = pd.Index(keys, name="figure")
        table: pd.DataFrame = pd.DataFrame(
            {
                "value": pd.Series([shown[k] for k in keys], index=index, dtype=object),
                "shown": [format_value(k, shown[k]) for k in keys],
            },
            index=index,
        )
        return table

    def table(self, name: str) -> pd.DataFrame:
        """``tables[name]``: one table as a DataFrame; a KeyError naming the tables there
        are when it does not exist."""
        return self.tables[name]

    def save(self, out: str | Path) -> Path:
        """Write the run folder at ``out`` atomically (see :mod:`sim.analysis.results`),
        remember it as :attr:`folder` and return its path. Only a run held in memory can
        be saved: a loaded run already is (copy its folder instead)."""
        if self._output is None:
            raise RunError(
                f"{self._where()} was read from its folder and is saved there already; "
                "copy the folder to keep it elsewhere"
            )
        self.folder = write(self._output, out)
        return self.folder

    def __fspath__(self) -> str:
        """The run folder's path: a saved or loaded run goes wherever a run folder's path
        goes (``sim.plots.latency_cdf(run)``, ``Path(run)``). A run held only in memory
        has none: a RunError says to save it first."""
        if self.folder is None:
            raise RunError(
                f"{self._where()} is held in memory only and has no folder yet: save it "
                "first (run.save(path)), or give sim.run an out folder"
            )
        return str(self.folder)

    def _state(self) -> str:
        exc = self.manifest.get("exception")
        if exc is None:
            return "ok"
        kind = exc.get("type") if isinstance(exc, Mapping) else exc
        return f"ended by {_short(kind, 60)}"

    def __repr__(self) -> str:
        m = self.manifest
        sim_time, events = m.get("sim_time_s"), m.get("events")
        lines = [
            f"Run {_short(self.name)}, seed {self.seed}: "
            + (f"{sim_time:,.0f} s simulated, " if isinstance(sim_time, int | float) else "")
            + (f"{events:,} events, " if isinstance(events, int) else "")
            + self._state()
        ]
        if self.folder is not None:
            lines.append(f"  folder    {_short(self.folder, _WIDTH - 12)}")
        lines += _wrapped(f"  tables    {len(self.tables)}:", [_short(n, 40) for n in self.tables])
        shown = self.headline()["shown"]
        room = min(_REPR_FIGURES, MAX_REPR_LINES - len(lines) - 2)
        lines += [
            f"  {_short(k, 50):<44} {_short(v, 40)}"
            for k, v in itertools.islice(shown.items(), room)
        ]
        if len(shown) > room:
            lines.append(f"  … {len(shown) - room} more headline figures in .headline()")
        lines.append("  .summary  .metric(key)  .headline()  .tables[name]  .scenario  .manifest")
        return "\n".join(lines[:MAX_REPR_LINES])

    def _repr_html_(self) -> str:
        first = html.escape(repr(self).split("\n", 1)[0])
        rows = "".join(
            f"<tr><td><code>{html.escape(printable(k))}</code></td>"
            f"<td>{html.escape(printable(v))}</td></tr>"
            for k, v in self.headline()["shown"].items()
        )
        where = (
            f"<br>folder <code>{html.escape(printable(self.folder))}</code>"
            if self.folder is not None
            else ""
        )
        return (
            f"<p><b>{first}</b>{where}<br>{len(self.tables)} tables: "
            f"{html.escape(', '.join(_short(n, 40) for n in self.tables))}</p>"
            f"<table><tr><th>figure</th><th>value</th></tr>{rows}</table>"
        )


# --------------------------------------------------------------------------- running and loading


def _merged(overrides: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping and ``a__b=v`` keyword arguments as one dotted-path mapping."""
    return {**(overrides or {}), **{k.replace("__", "."): v for k, v in fields.items()}}


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
    """Simulate a scenario and return the :class:`Run`.

    Args:
        scenario: a :class:`~sim.scenario.Scenario`, or the path of a scenario YAML file.
        seed: the root seed (default: the scenario's ``seed``); the same scenario and seed
            give byte-identical results.
        until: how long to simulate, a duration such as ``"6h"`` or seconds (default: the
            scenario's ``duration``); it must end after the warm-up.
        out: write the run folder there too (atomically); nothing is written without it.
        overrides: scenario fields to change, by dotted path:
            ``{"attestation.interval": "2m"}``.
        progress: show a progress bar.
        **fields: more overrides, ``__`` standing for ``.``: ``attestation__interval="2m"``.

    Raises:
        ScenarioError: the scenario, an override, ``seed`` or ``until`` is invalid; each
            problem names its dotted field path.
    """
    changes = _merged(overrides, fields)
    if isinstance(scenario, Scenario):
        chosen = scenario.with_overrides(changes) if changes else scenario
    else:
        chosen = load_scenario(Path(scenario), changes)
    _check_seed(seed)
    end = None if until is None else _until(until, chosen)
    output = simulate(chosen, seed=seed, until=end, progress=progress)
    folder = write(output, out) if out is not None else None
    return Run._of_output(output, folder)


def _run_folder(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """``path`` as a complete run folder and its summary; a RunError saying what it is
    instead."""
    folder = Path(path)
    if folder.is_dir() and (folder / "index.csv").is_file():
        raise RunError(
            f"{printable(folder)} is a sweep folder, not a run folder: read it with "
            "sim.load_sweep(path)"
        )
    if folder.is_file():
        raise RunError(
            f"{printable(folder)} is a file, not a run folder (a scenario file is run with "
            "sim.run(path))"
        )
    try:
        return folder, folders.load_summary(folder)  # checks the folder is complete
    except RunError as exc:
        raise RunError(printable(str(exc))) from None


def load(folder: str | Path) -> Run:
    """Read a run folder (written by ``vtasim run``, :meth:`Run.save` or a sweep) as a
    :class:`Run`. The summary, manifest and scenario text are read now; each table when it
    is first used, from its Parquet file (else its CSV file), in the declared column types.

    Raises:
        RunError: ``folder`` is missing, not a run folder, incomplete (its run did not
            finish writing it) or damaged; the message names the file.
    """
    where, summary = _run_folder(folder)
    names = sorted({p.stem for p in (*where.glob("*.csv"), *where.glob("*.parquet"))})
    scenario_file = str(where / folders.SCENARIO_FILE)

    def scenario_text() -> str:
        return folder_io.read_scenario_text(where)

    def scenario() -> Scenario:
        return parse_resolved_scenario(scenario_text(), scenario_file)

    def table(name: str) -> pd.DataFrame:
        frame: pd.DataFrame = folders.load_table(where, name)
        return frame

    try:
        text = scenario_text()  # read now: a damaged folder fails at once, naming the file
        manifest = folder_io.read_json(where / folders.MANIFEST_FILE)
    except RunError as exc:
        raise RunError(printable(str(exc))) from None
    return Run(
        summary=summary,
        manifest=manifest,
        tables=Tables(names, table, f"the run folder {where}"),
        folder=where,
        scenario_yaml=lambda: text,
        scenario=scenario,
    )


# --------------------------------------------------------------------------- sweeps


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
