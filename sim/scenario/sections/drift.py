"""The ``drift`` section: drift kinds, scheduled and random drift, and when each kind is
measured."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from sim.domain import drift_kinds
from sim.domain.drift_kinds import DriftKind as DriftKind
from sim.scenario.common import Name, Section, rate
from sim.scenario.distributions import Distribution
from sim.scenario.sections.attestation import Acceptance
from sim.scenario.units import Duration, PositiveDuration, Rate

# Drift kinds come from their registry (sim.domain.drift_kinds, one module per kind).
DEFAULT_MEASURED_AT: dict[str, Literal["runtime", "boot"]] = drift_kinds.default_measured_at()


_ACCEPTANCE_DOC = (
    "acceptance level of an unapproved VIB: PartnerSupported (default) is signed but not in"
    " the approved image; CommunitySupported cannot be installed on a host with Secure Boot"
    " on (the install is blocked)"
)
_REBOOT_AFTER_DOC = "the change reboots the host this long after it (most VIB installs need one)"


class ScheduledDrift(Section):
    """One drift at a fixed moment on a named host."""

    at: Duration = Field(description="when the drift happens")
    host: Name = Field(description="the drifting host, e.g. esx-02")
    kind: DriftKind = Field(description="what changes on the host")
    remediate_after: PositiveDuration | None = Field(
        default=None,
        description="time from the drift to its remediation (none: never)",
    )
    reboot_after: Distribution | None = Field(default=None, description=_REBOOT_AFTER_DOC)
    acceptance: Acceptance = Field(default="PartnerSupported", description=_ACCEPTANCE_DOC)


class RandomDrift(Section):
    """Drift arriving at random on every trusted host (Poisson per host)."""

    rate: Rate = Field(default=rate(0.0), description="per host")
    kinds: tuple[DriftKind, ...] = Field(
        default=tuple(DriftKind(k) for k in drift_kinds.random_default()),
        min_length=1,
        description="kinds of drift drawn from, with equal probability",
    )
    remediate_after: Distribution | None = Field(
        default=None,
        description="time from a drift to its remediation (none: never)",
    )
    reboot_after: Distribution | None = Field(default=None, description=_REBOOT_AFTER_DOC)
    acceptance: Acceptance = Field(default="PartnerSupported", description=_ACCEPTANCE_DOC)


class Drift(Section):
    """Drift events, and whether each kind is measured at once or only at the next boot.

    ``boot`` (the default for every kind, as VMware documents: attestation covers the
    *booted* software, measured while the host starts) means the change shows in quotes only
    after the host's next reboot. ``runtime`` (the source article's reading; what runtime
    measurement such as Linux IMA gives) means a VIB or driver is measured into the TPM when
    it loads, and a build change, Secure Boot off or a TPM swap forces an immediate reboot.
    """

    scheduled: tuple[ScheduledDrift, ...] = Field(
        default=(),
        description="drift events at given times on given hosts",
    )
    random: RandomDrift = Field(
        default=RandomDrift(),
        description="drift events drawn at random on every host",
    )
    measured_at: dict[DriftKind, Literal["runtime", "boot"]] = Field(
        default_factory=lambda: {DriftKind(k): v for k, v in DEFAULT_MEASURED_AT.items()},
        description="per drift kind: measured at runtime (at once) or at the next boot",
    )

    @field_validator("measured_at")
    @classmethod
    def _fill(
        cls, v: dict[DriftKind, Literal["runtime", "boot"]]
    ) -> dict[DriftKind, Literal["runtime", "boot"]]:
        full: dict[DriftKind, Literal["runtime", "boot"]] = {
            DriftKind(k): m for k, m in DEFAULT_MEASURED_AT.items()
        }
        full.update(v)
        return full
