"""The collector's settings around a run: off while the estate is built and run, on and
lenient for the analysis, the caller's own settings back afterwards, also when runs in
several threads overlap. (That a run makes no cyclic garbage, which lets it run with the
collector off, is ``tests/test_behaviour_garbage.py``.)"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sim.collector import ANALYSIS_GEN0_THRESHOLD, RunCollector, frozen_heap


@pytest.fixture(autouse=True)
def _settings_kept() -> Iterator[None]:
    """Each test starts from CPython's defaults and leaves the process as it found it."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    gc.enable()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_a_run_collects_nothing_until_it_is_over_then_leniently() -> None:
    kept: list[list[int]] = [[] for _ in range(100)]  # objects alive through the "run"
    with RunCollector() as collector:
        assert not gc.isenabled()
        collector.estate_built()
        assert gc.get_freeze_count() >= len(kept)
        collector.run_over()
        assert gc.isenabled()
        assert gc.get_threshold()[0] == ANALYSIS_GEN0_THRESHOLD
    assert gc.isenabled()
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_a_caller_with_the_collector_off_gets_it_back_off() -> None:
    gc.disable()
    gc.set_threshold(1234, 5, 6)
    with RunCollector() as collector:
        collector.estate_built()
        collector.run_over()
    assert not gc.isenabled()
    assert gc.get_threshold() == (1234, 5, 6)


def test_settings_come_back_when_the_run_fails() -> None:
    with pytest.raises(RuntimeError), RunCollector():
        raise RuntimeError("the build failed")
    assert gc.isenabled() and gc.get_threshold() == (700, 10, 10)


def test_overlapping_runs_restore_only_when_the_last_ends() -> None:
    """Run A starts, run B starts, A ends (B is still simulating: the collector stays off),
    B ends: the settings from before A come back."""
    first, second = RunCollector(), RunCollector()
    first.__enter__()
    second.__enter__()
    first.run_over()
    first.__exit__(None, None, None)
    gc.disable()  # what B is doing now must not be undone by A's end...
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()  # ...and B's end restores the settings from before A
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_writing_freezes_what_is_alive_and_restores() -> None:
    kept: list[list[int]] = [[] for _ in range(100)]
    with frozen_heap():
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold()[0] == ANALYSIS_GEN0_THRESHOLD
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == (700, 10, 10)
