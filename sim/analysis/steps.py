"""Exact statistics of an integer step function of simulated time (a count of hosts, of VM
slots), updated at every change instead of sampled.

:class:`StepFunction` is told each new value as it happens (:meth:`StepFunction.set`) and
keeps, from its ``start`` (the end of the warm-up) on: the time spent at each level, hence
the time-weighted mean and the time below any threshold; the minimum and maximum over
values held for a positive time; when the minimum was first reached, how long it held in
all and in its longest uninterrupted stretch. Several changes at one instant leave only the
last value (the function is right-continuous: a value held for no time is never a level).
Each change costs O(1), so a tracker can follow every host of a 10,000-host estate.
It knows nothing of SimPy.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["StepFunction"]


class StepFunction:
    """Time-weighted statistics of an integer-valued step function from ``start`` on; with
    ``levels`` also the time at each level (and so below a threshold)."""

    __slots__ = (
        "_area",
        "_at_level",
        "_max",
        "_min",
        "_min_at",
        "_min_longest",
        "_min_total",
        "_run_from",
        "_run_to",
        "_run_value",
        "_span",
        "since",
        "start",
        "value",
    )

    def __init__(
        self, value: int = 0, start: float = 0.0, since: float = 0.0, levels: bool = True
    ) -> None:
        self.value = value
        self.start = start
        self.since = since
        self._at_level: dict[int, float] | None = {} if levels else None
        self._span = self._area = 0.0
        self._max: int | None = None
        self._min: int | None = None
        self._min_at = self._min_total = self._min_longest = 0.0
        # the current uninterrupted stretch at one value: the value, from, to
        self._run_value: int | None = None
        self._run_from = self._run_to = 0.0

    def set(self, now: float, value: int) -> None:
        """The function takes ``value`` at ``now`` (``now`` never goes back)."""
        if value == self.value:
            return
        if now > self.since:
            self._commit(now)
        self.value = value

    def add(self, now: float, delta: int) -> None:
        """The function changes by ``delta`` at ``now``."""
        if delta:
            self.set(now, self.value + delta)

    def _commit(self, until: float) -> None:
        """Credit the current value for the time from ``since`` (clipped to ``start``) to
        ``until``, and move ``since`` there."""
        low = self.since if self.since > self.start else self.start
        self.since = until
        if until <= low:
            return
        value, length = self.value, until - low
        self._span += length
        self._area += value * length
        if self._at_level is not None:
            self._at_level[value] = self._at_level.get(value, 0.0) + length
        if self._max is None or value > self._max:
            self._max = value
        if self._run_value != value or self._run_to != low:
            self._run_value, self._run_from = value, low
        self._run_to = until
        least = self._min
        if least is None or value < least:
            self._min, self._min_at = value, self._run_from
            self._min_total = self._min_longest = length
        elif value == least:
            self._min_total += length
            run = until - self._run_from
            if run > self._min_longest:
                self._min_longest = run

    def _settled(self, now: float) -> StepFunction:
        """A copy with the current value credited up to ``now`` (this one is unchanged)."""
        twin = StepFunction(self.value, self.start, self.since, self._at_level is not None)
        for name in StepFunction.__slots__:
            setattr(twin, name, getattr(self, name))
        if self._at_level is not None:
            twin._at_level = dict(self._at_level)
        if now > twin.since:
            twin._commit(now)
        return twin

    def summary(self, now: float, threshold: int | None = None) -> dict[str, Any]:
        """From ``start`` to ``now``: ``min``, ``min_at_s`` (when it was first reached),
        ``min_duration_s`` (total time at it), ``min_longest_s`` (its longest uninterrupted
        stretch), ``mean`` (time-weighted), ``max``; with a ``threshold`` (and levels kept)
        also ``below_threshold_s`` (time at a level below it) and ``time_at_level_s``
        (seconds at each level, keyed by the level as text). None/empty when no time has
        passed."""
        twin = self._settled(now)
        passed = twin._span > 0
        out: dict[str, Any] = {
            "min": twin._min,
            "min_at_s": twin._min_at if passed else None,
            "min_duration_s": twin._min_total if passed else None,
            "min_longest_s": twin._min_longest if passed else None,
            "mean": twin._area / twin._span if passed else None,
            "max": twin._max,
        }
        levels = twin._at_level
        if threshold is not None and levels is not None:
            out["below_threshold_s"] = math.fsum(t for k, t in levels.items() if k < threshold)
            out["time_at_level_s"] = {str(k): levels[k] for k in sorted(levels)}
        return out
