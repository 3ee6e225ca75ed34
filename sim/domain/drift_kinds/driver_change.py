"""Drift kind ``driver_change``: a third-party vmkernel driver is added."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sim.domain.drift_kinds import DriftFacts, DriftKindSpec
from sim.domain.image import measure_runtime_driver
from sim.domain.installed import Change
from sim.domain.tpm import VirtualTPM


def _change(drift: DriftFacts) -> Change:
    driver = drift.driver
    return lambda now: replace(now, image=now.image.with_driver(driver))


def _measure(drift: DriftFacts) -> Callable[[VirtualTPM], object]:
    driver = drift.driver
    return lambda tpm: measure_runtime_driver(tpm, driver)


KIND = DriftKindSpec(
    name="driver_change",
    order=4,
    doc="a third-party vmkernel driver is added (a runtime measurement records it as it loads)",
    change=_change,
    runtime_measurable=True,
    measure=_measure,
    random_default=True,
)
