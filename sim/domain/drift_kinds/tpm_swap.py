"""Drift kind ``tpm_swap``: the host's TPM is replaced (a new EK and AK)."""

from __future__ import annotations

from dataclasses import replace

from sim.domain.drift_kinds import DriftFacts, DriftKindSpec
from sim.domain.installed import Change


def _change(drift: DriftFacts) -> Change:
    return lambda now: replace(now, tpm=drift.new_tpm())


KIND = DriftKindSpec(
    name="tpm_swap",
    order=5,
    doc="the host's TPM is replaced: a new endorsement key, unknown until registered",
    change=_change,
    random_default=True,
    adopted_with_tpm=True,
)
