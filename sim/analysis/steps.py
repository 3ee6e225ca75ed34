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
    """Time-weighted statistics of an integer-valued step function from ``start`` on."""

    __slots__ = (
        "_at_level",
        "_min",
        "_min_at",
        "_min_longest",
        "_stretch",
        "since",
        "start",
        "value",
    )

    def __init__(self, value: int = 0, start: float = 0.0, since: float = 0.0) -> None:
        self.value = value
        self.start = start
        self.since = since
        self._at_level: dict[int, float] = {}
        self._min: int | None = None
        self._min_at = 0.0
        self._min_longest = 0.0
        self._stretch: tuple[int, float, float] | None = None  # value, from, to

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
        low = max(self.since, self.start)
        self.since = until
        if until <= low:
            return
        value = self.value
        self._at_level[value] = self._at_level.get(value, 0.0) + (until - low)
        stretch = self._stretch
        if stretch is not None and stretch[0] == value and stretch[2] == low:
            stretch = (value, stretch[1], until)
        else:
            stretch = (value, low, until)
        self._stretch = stretch
        length = until - stretch[1]
        if self._min is None or value < self._min:
            self._min, self._min_at, self._min_longest = value, stretch[1], length
        elif value == self._min and length > self._min_longest:
            self._min_longest = length

    def _settled(self, now: float) -> StepFunction:
        """A copy with the current value credited up to ``now`` (this one is unchanged)."""
        twin = StepFunction(self.value, self.start, self.since)
        twin._at_level = dict(self._at_level)
        twin._min, twin._min_at = self._min, self._min_at
        twin._min_longest, twin._stretch = self._min_longest, self._stretch
        if now > twin.since:
            twin._commit(now)
        return twin

    def time_at_levels(self, now: float) -> dict[int, float]:
        """Seconds spent at each level from ``start`` to ``now``, by level."""
        return dict(sorted(self._settled(now)._at_level.items()))

    def summary(self, now: float, threshold: int | None = None) -> dict[str, Any]:
        """From ``start`` to ``now``: ``min``, ``min_at_s`` (when it was first reached),
        ``min_duration_s`` (total time at it), ``min_longest_s`` (its longest uninterrupted
        stretch), ``mean`` (time-weighted), ``max``; with a ``threshold`` also
        ``below_threshold_s`` (time at a level below it) and ``time_at_level_s`` (seconds at
        each level, keyed by the level as text). All None/empty when no time has passed."""
        twin = self._settled(now)
        levels = twin._at_level
        span = math.fsum(levels.values())
        out: dict[str, Any] = {
            "min": twin._min,
            "min_at_s": twin._min_at if levels else None,
            "min_duration_s": levels[twin._min] if twin._min is not None else None,
            "min_longest_s": twin._min_longest if levels else None,
            "mean": math.fsum(k * t for k, t in levels.items()) / span if span > 0 else None,
            "max": max(levels) if levels else None,
        }
        if threshold is not None:
            out["below_threshold_s"] = math.fsum(t for k, t in levels.items() if k < threshold)
            out["time_at_level_s"] = {str(k): levels[k] for k in sorted(levels)}
        return out
