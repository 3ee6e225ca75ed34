"""Drift kind ``esxi_build_change``: the host runs another ESXi build (the next one)."""

from __future__ import annotations

from dataclasses import replace

from sim.domain.drift_kinds import DriftFacts, DriftKindSpec
from sim.domain.installed import Change


def _change(drift: DriftFacts) -> Change:
    return lambda now: replace(now, image=now.image.with_build(now.image.build + 1))


KIND = DriftKindSpec(
    name="esxi_build_change",
    order=2,
    doc="the host runs another ESXi build (runs only after a reboot)",
    change=_change,
    random_default=True,
)
