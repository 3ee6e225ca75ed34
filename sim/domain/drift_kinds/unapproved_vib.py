"""Drift kind ``unapproved_vib``: a signed partner VIB that is not in the approved image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sim.domain.drift_kinds import DriftFacts, DriftKindSpec
from sim.domain.image import AcceptanceLevel, Platform, measure_runtime_vib
from sim.domain.installed import Change
from sim.domain.tpm import VirtualTPM


def _change(drift: DriftFacts) -> Change:
    vib = drift.unapproved_vib
    return lambda now: replace(now, image=now.image.with_vib(vib))


def _measure(drift: DriftFacts) -> Callable[[VirtualTPM], object]:
    vib = drift.unapproved_vib
    return lambda tpm: measure_runtime_vib(tpm, vib)


def install_blocked(drift: DriftFacts, platform: Platform) -> bool:
    """Whether ESXi refuses to install the VIB: a CommunitySupported VIB cannot be installed
    on a host with Secure Boot on (VMware: "If you include VIBs at the CommunitySupported
    level, you cannot use secure boot")."""
    level = drift.unapproved_vib.acceptance
    return level is AcceptanceLevel.COMMUNITY_SUPPORTED and platform.secure_boot


KIND = DriftKindSpec(
    name="unapproved_vib",
    order=1,
    doc="a signed VIB that is not in the approved image is installed (a CommunitySupported"
    " one cannot be while Secure Boot is on: the drift is blocked)",
    change=_change,
    runtime_measurable=True,
    measure=_measure,
    random_default=True,
    blocked=install_blocked,
)
