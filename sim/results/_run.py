"""One run: :class:`Run`, made by :func:`run` or read by :func:`load`."""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis import folder_io
from sim.analysis import results as folders
from sim.analysis.columnar import frame_of
from sim.analysis.summary import headline as headline_of
from sim.analysis.summary import metric_value
from sim.analysis.tables import TABLES
from sim.analysis.text import format_value
from sim.errors import (
    Problem,
    RunError,
    ScenarioError,
    printable,
)
from sim.results._shared import (
    _REPR_FIGURES,
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
from sim.runner import RunOutput, simulate, write
from sim.scenario import Scenario, load_scenario
from sim.scenario.loading import parse_resolved_scenario


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
