"""What a host runs, as its measured boot records it, and changes to it as values.

A host's installed state is its ESXi image, the server it runs on and its TPM. Drift,
upgrades, repairs and remediation do not reach into a host: each is a :data:`Change`, a
function from the installed state to the next one, that the host applies itself (at once,
or staged for its next boot). This keeps every write of a host's state inside the host and
lets a drift kind's effect be a pure function (:mod:`sim.domain.drift_kinds`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.domain.image import EsxiImage, Platform
from sim.domain.tpm import VirtualTPM


@dataclass(frozen=True)
class Installed:
    """A host's ESXi image, server platform and TPM."""

    image: EsxiImage
    platform: Platform
    tpm: VirtualTPM


Change = Callable[[Installed], Installed]
"""A change to what a host runs: the installed state after it, given the one before."""


def restore(to: Installed) -> Change:
    """The change that puts back ``to`` whatever the host runs (remediation, repair)."""
    return lambda _: to
