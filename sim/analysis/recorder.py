"""The recorder: rows per declared table and time-weighted levels, filled in by the processes.

Processes add rows through :meth:`Recorder.add`, which lays each row out in the column order
declared in :mod:`sim.analysis.tables` and refuses a column the table does not declare; a
caller may fill in fields of a row it added later (an attempt's verdict, a report's
revocation). Each table is a :class:`~sim.analysis.recorded.RecordedTable`, which keeps its
older rows in column chunks on disk. Levels (busy workers, queue lengths) are integrated
over time, and capacity is tracked exactly at every change (:mod:`sim.analysis.capacity`).
The recorder also keeps the ground truth for the safety invariant, independent of the Key
Provider Service. It knows nothing of SimPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.analysis.capacity import CapacityTracker
from sim.analysis.recorded import RecordedTable, Row
from sim.analysis.tables import TABLES

__all__ = ["Level", "Recorder", "Row"]


def _tables() -> dict[str, RecordedTable]:
    return {name: RecordedTable(name, t.names) for name, t in TABLES.items()}


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
        self.peak = max(self.peak, value)

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
    _latest_report: dict[str, tuple[str, float]] = field(default_factory=dict)
    _revoked: set[str] = field(default_factory=set)
    _sampled: dict[str, tuple[float, float]] = field(default_factory=dict)

    def add(self, table: str, **values: Any) -> Row:
        """Append one row to ``table`` and return it (callers may fill fields later).
        Columns not given are None; a column the table does not declare is an error."""
        return self.tables[table].append(values)

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
                rows.append(
                    {"time": now, "series": name, "value": (total - last[1]) / (now - last[0])}
                )
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
