"""The recorder: the records of every table and time-weighted levels, written by the processes.

Processes write each record once, when its outcome is known (:meth:`Recorder.write`, a
frozen record of :mod:`sim.analysis.records`; :meth:`Recorder.add` builds one from a table
name and its columns). Nothing changes a record after it is written. Work in progress is
the state of the component doing it, a *draft* (:class:`OpenWork`) that the component
registers with :meth:`Recorder.opened` and replaces by its record with
:meth:`Recorder.closed`. The run's one end-of-run step, :meth:`Recorder.end_of_run`, writes
every draft still open: work still running is written ``unfinished`` with its elapsed time,
and a report whose life has not ended as it stands.

Each table is a :class:`~sim.analysis.recorded.RecordedTable`, which keeps its older rows in
column chunks on disk. Levels (busy workers, queue lengths) are integrated over time, and
capacity is tracked exactly at every change (:mod:`sim.analysis.capacity`). The recorder
also keeps the ground truth for the safety invariant, independent of the Key
Provider Service. It knows nothing of SimPy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

from sim.analysis.capacity import CapacityTracker
from sim.analysis.recorded import RecordedTable
from sim.analysis.tables import TABLES

__all__ = ["DriftDraft", "Level", "OpenWork", "Recorder", "Row"]

Row = Mapping[str, Any]
"""A recorded row as readers see it (a fresh dict per read)."""


class OpenWork(Protocol):
    """A draft: work a component has started and not finished (a migration in pre-copy, a
    key request waiting on the KMS) or a record whose life has not ended (a report before
    its expiry). The component owns it; if the run ends first, the recorder writes what
    :meth:`at_end_of_run` gives."""

    def at_end_of_run(self, end: float) -> Any:
        """The record of this work as it stands at the end of the run, ``end``: work still
        running with outcome ``unfinished`` and ``elapsed_s = end - start``."""
        ...


@dataclass(slots=True, eq=False)
class DriftDraft:
    """What the drift injector knows of one drift event: when it took effect and when
    remediation closed its window. Its ``drift_events`` record is written once, at the end of
    the run, when the derived columns are known (:func:`sim.analysis.drift.finalise_drift`)."""

    id: int
    host: str
    kind: str
    at: float
    measured: str
    outcome: str = "applied"
    effective_at: float | None = None
    remediated_at: float | None = None


def _tables() -> dict[str, RecordedTable]:
    return {name: RecordedTable(name, t.names) for name, t in TABLES.items()}


def _writers(
    tables: dict[str, RecordedTable],
) -> dict[type, tuple[RecordedTable, Callable[[Any], tuple[Any, ...]]]]:
    """Per record type: its table, and the getter of its values in column order."""
    return {
        t.record: (tables[name], attrgetter(*t.names))
        for name, t in TABLES.items()
        if t.record is not None
    }


@dataclass
class Level:
    """A time-weighted level (busy workers, queue length): its integral and maximum."""

    start: float = 0.0
    value: float = 0.0
    since: float = 0.0
    area: float = 0.0
    peak: float = 0.0
    integral: float = 0.0  # like area, but never reset: for the sampled time series

    def set(self, now: float, value: float) -> None:
        """The level becomes ``value`` at ``now``."""
        step = self.value * (now - self.since)
        self.area += step
        self.integral += step
        self.since = now
        self.value = value
        if value > self.peak:  # as max(peak, value): the peak kept on a tie
            self.peak = value

    def mean(self, now: float) -> float:
        """Time-weighted mean from ``start`` to ``now``."""
        span = now - self.start
        if span <= 0:
            return 0.0
        return (self.area + self.value * (now - self.since)) / span

    def integral_at(self, now: float) -> float:
        """The level's integral from time 0 to ``now`` (warm-up included)."""
        return self.integral + self.value * (now - self.since)

    def reset(self, now: float) -> None:
        """Forget history before ``now`` (end of warm-up) for the summary statistics."""
        self.integral = self.integral_at(now)
        self.area, self.since, self.start, self.peak = 0.0, now, now, self.value


@dataclass
class Recorder:
    """Collects rows per table and time-weighted levels; knows nothing of SimPy."""

    tables: dict[str, RecordedTable] = field(default_factory=_tables)
    levels: dict[str, Level] = field(default_factory=dict)
    capacities: dict[str, int] = field(default_factory=dict)
    capacity: CapacityTracker = field(default_factory=CapacityTracker)  # exact, per change
    violations: list[float] = field(default_factory=list)
    drifts: list[DriftDraft] = field(default_factory=list)
    _latest_report: dict[str, tuple[str, float]] = field(default_factory=dict)
    _revoked: set[str] = field(default_factory=set)
    _sampled: dict[str, tuple[float, float]] = field(default_factory=dict)
    _open: dict[OpenWork, None] = field(default_factory=dict)
    _ended: bool = False

    def __post_init__(self) -> None:
        self._write = _writers(self.tables)

    def write(self, record: Any) -> None:
        """Write ``record`` (a frozen record of :mod:`sim.analysis.records`) to its table,
        once: nothing changes it afterwards."""
        table, values = self._write[type(record)]
        table.append_values(values(record))

    def closed_row(self, work: OpenWork, record_type: type, values: tuple[Any, ...]) -> None:
        """``work`` ended: write its record given as its values in column order (what a
        ``record_type`` record of them would hold: the drafts written once per attestation
        give their values without making the frozen record, a third of the cost), once,
        and forget the draft."""
        del self._open[work]
        self._write[record_type][0].append_values(values)

    def add(self, table: str, **values: Any) -> None:
        """Write one record of ``table`` from its columns (columns not given are None; a
        column the table does not declare is a ``TypeError``)."""
        record = TABLES[table].record
        assert record is not None
        self.write(record(**values))

    def drift_began(self, draft: DriftDraft) -> None:
        """A drift event began: its record is written at the end of the run, from ``draft``
        (which its injector keeps up to date) and the other tables."""
        self.drifts.append(draft)

    # --- open work -------------------------------------------------------------------

    def opened(self, work: OpenWork) -> None:
        """A component started ``work`` (a draft it owns): if the run ends before
        :meth:`closed`, :meth:`end_of_run` writes it."""
        self._open[work] = None

    def closed(self, work: OpenWork, record: Any) -> None:
        """``work`` ended: write its ``record`` (once) and forget the draft."""
        del self._open[work]
        self.write(record)

    @property
    def open_work(self) -> int:
        """How many drafts are open."""
        return len(self._open)

    def end_of_run(self, end: float) -> int:
        """The run ended at ``end``: write every open draft's record (work still running is
        ``unfinished``), in the order the drafts were opened; how many were written. Called
        once, by the runner, before the analysis."""
        if self._ended:
            raise RuntimeError("end_of_run was called already")
        self._ended = True
        drafts, self._open = list(self._open), {}
        for work in drafts:
            self.write(work.at_end_of_run(end))
        return len(drafts)

    def level(self, series: str, capacity: int = 0) -> Level:
        """The level named ``series`` (created on first use)."""
        lv = self.levels.get(series)
        if lv is None:
            lv = self.levels[series] = Level()
            if capacity:
                self.capacities[series] = capacity
        return lv

    def sample_levels(self, now: float) -> None:
        """Append to the ``levels`` table, for every level, its time-weighted mean over the
        period since the previous sample (a row at ``time`` covers the period ending then;
        the first call only marks the start)."""
        rows = self.tables["levels"]
        for name, lv in self.levels.items():
            total = lv.integral_at(now)
            last = self._sampled.get(name)
            if last is not None and now > last[0]:
                rows.append_values((now, name, (total - last[1]) / (now - last[0])))
            self._sampled[name] = (now, total)

    # --- ground truth for the safety invariant ---------------------------------------

    def report_issued(self, jti: str, host: str, expires_at: float) -> None:
        """Note the host's newest report (ground truth, independent of the KPS)."""
        self._latest_report[host] = (jti, expires_at)

    def report_revoked(self, jti: str) -> None:
        """Note a revoked report."""
        self._revoked.add(jti)

    def key_released(self, host: str, now: float) -> bool:
        """Check the safety invariant for one release to ``host`` at ``now``: the host's
        latest issued report must be unexpired and unrevoked. Records (the time of) and returns a
        violation."""
        latest = self._latest_report.get(host)
        bad = latest is None or latest[1] <= now or latest[0] in self._revoked
        if bad:
            self.violations.append(now)
        return bad
