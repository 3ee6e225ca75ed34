"""The cyclic garbage collector's settings while one run is built, run and summarised.

CPython frees an object when its last reference goes; the cycle collector exists only for
objects that refer to each other in a loop. A run allocates tens of millions of objects and,
on every path of the shipped scenarios, leaves none of them in such a loop
(``tests/test_behaviour_garbage.py`` runs each shipped scenario and holds its cyclic garbage to a
few objects, whatever the run's length). With the collector on, each collection walks the
young objects and, every so often, the whole heap that is not frozen: for nothing, because
it finds nothing to free. On the 10,000-host estate that was about 7 % of the run's CPU time
and a fifth of the build's (``benchmarks/scale.py``).

So, for one run (:class:`RunCollector`):

- the build and the simulation run with automatic collection off;
- once built, the estate is frozen (``gc.freeze``), and once run, what the run made:
  whatever collection happens later in the process does not walk their objects;
- the summary and the writing of the run folder, which use pandas and pyarrow (libraries
  that do make cycles), run with collection on and a first-generation threshold of 10,000
  instead of 700 (the frozen estate is not walked);
- afterwards the estate is unfrozen and the settings are restored, so that a notebook
  that drops a run's output gets its memory back at the next collection;
- the run folder is written inside :func:`frozen_heap`, for the same reason as the
  summary.

Collection timing never affects results: the model keeps no finalisers or weak references.
A scenario whose run did make cyclic garbage would hold it until the run ends, no longer.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

ANALYSIS_GEN0_THRESHOLD = 10_000
"""First-generation threshold while a run is summarised (CPython's default is 700)."""

_lock = threading.Lock()
_holders = 0
_saved: tuple[tuple[int, ...], bool] = ((700, 10, 10), True)


def _take() -> None:
    """One more run or write under these settings (the first one saves the caller's)."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            _saved = (gc.get_threshold(), gc.isenabled())
        _holders += 1


def _give_back() -> None:
    """One fewer; the last one unfreezes and puts the caller's settings back. Runs in
    several threads of one process overlap: the collector is the process's, so only the
    last to finish may restore it."""
    global _holders
    with _lock:
        _holders -= 1
        if _holders == 0:
            gc.unfreeze()
            thresholds, enabled = _saved
            gc.set_threshold(*thresholds)
            if enabled:
                gc.enable()
            else:
                gc.disable()


def _freeze_and_relax() -> None:
    """Freeze every object alive now and collect what follows with the lenient threshold."""
    gc.freeze()
    gc.set_threshold(ANALYSIS_GEN0_THRESHOLD, 10, 10)


class RunCollector:
    """The collector's settings for one run, used as a context manager around it: off
    from entry, the estate frozen by :meth:`estate_built`, on (lenient) again from
    :meth:`run_over`, the caller's settings back once the last run in the process is
    over."""

    def __enter__(self) -> RunCollector:
        _take()
        gc.disable()
        return self

    def estate_built(self) -> None:
        """The estate is built and started: freeze its objects out of every collection."""
        gc.freeze()

    def run_over(self) -> None:
        """Simulation is over: collect again (leniently) while the results are derived.
        What the run made is frozen first: with the collector off it all stayed in the
        youngest generation, which the next collection would walk, object by object
        (about 2 s at 10,000 hosts after one simulated hour), only to find it alive."""
        _freeze_and_relax()
        gc.enable()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _give_back()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze every object alive now (a run's estate and records, say) and collect
    leniently inside the block; unfreeze and restore the caller's settings afterwards.
    Writing a run folder allocates pyarrow and pandas objects, which are collected as
    usual, without walking the run's millions of objects at every full collection."""
    _take()
    _freeze_and_relax()
    try:
        yield
    finally:
        _give_back()
