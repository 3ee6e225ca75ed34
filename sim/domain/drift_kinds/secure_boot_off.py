"""Drift kind ``secure_boot_off``: Secure Boot is turned off in the server's firmware."""

from __future__ import annotations

from dataclasses import replace

from sim.domain.drift_kinds import DriftFacts, DriftKindSpec
from sim.domain.installed import Change


def _change(drift: DriftFacts) -> Change:
    return lambda now: replace(now, platform=replace(now.platform, secure_boot=False))


KIND = DriftKindSpec(
    name="secure_boot_off",
    order=3,
    doc="Secure Boot is turned off (a firmware setting, measured at boot)",
    change=_change,
    random_default=True,
)
