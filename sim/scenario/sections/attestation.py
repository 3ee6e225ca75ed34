"""The ``attestation`` section: how trusted hosts attest and what the service accepts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from sim.domain.acceptance import acceptance_labels
from sim.scenario.common import Section, dist, dur
from sim.scenario.distributions import Distribution
from sim.scenario.limits import (
    Period,
)
from sim.scenario.units import Duration, PositiveDuration

if TYPE_CHECKING:
    Acceptance = str
else:
    Acceptance = Literal[acceptance_labels()]
"""A VIB acceptance level, lowest first: a label from the registry of
:mod:`sim.domain.acceptance`."""


class Attestation(Section):
    """How trusted hosts attest, and what the attestation service accepts."""

    interval: Period = Field(default=dur("5m"), description="re-attestation period")
    jitter: Duration = Field(default=dur("10s"), description="each period adds uniform(0, jitter)")
    report_lifetime: PositiveDuration = Field(
        default=dur("15m"), description="attestedUntil - attestedAt"
    )
    revocation: Literal["none", "push"] = Field(
        default="none",
        description="push: a failed re-attestation revokes the host's unexpired reports",
    )
    timeout: PositiveDuration = Field(
        default=dur("10s"),
        description="how long the agent waits for an answer before retrying",
    )
    max_retries: int = Field(
        default=5,
        ge=0,
        le=100,
        description="retries of a failed or timed-out attestation before the agent gives up",
    )
    backoff: Duration = Field(default=dur("2s"), description="wait before the first retry")
    backoff_multiplier: float = Field(
        default=2.0, ge=1.0, le=10.0, description="factor the wait grows by after each retry"
    )
    max_backoff: Duration = Field(default=dur("60s"), description="longest wait between retries")
    tpm_sign_time: Distribution = Field(
        default=dist({"dist": "lognormal", "median": "200ms", "p95": "600ms"}),
        description="time the host's TPM takes to sign a quote",
    )
    min_acceptance: Acceptance = Field(
        default="PartnerSupported",
        description="lowest VIB acceptance level the attestation policy accepts",
    )
    require_secure_boot: bool = Field(
        default=True,
        description="whether a host booted without Secure Boot fails attestation",
    )
    fan_out: Literal["one", "all"] = Field(
        default="one",
        description=(
            "one: each attestation goes to one Trust Authority host (round-robin); all: to"
            " every host that is up, each issuing its own report (not documented by VMware)"
        ),
    )
    initiator: Literal["agent", "verifier"] = Field(
        default="agent",
        description=(
            "agent: each host's agent attests every interval + jitter (vTA, HGS, Keylime's push"
            " model); verifier: the verifier polls every agent, interval + jitter after its"
            " previous poll of that agent ended (Keylime's pull model)"
        ),
    )
    on_demand: bool = Field(
        default=True,
        description=(
            "the agent attests at once when it needs a key and holds no unexpired report"
            " (vTA, HGS); false: the key request goes out with what the host holds"
        ),
    )
    notification_delay: Distribution | None = Field(
        default=None,
        description=(
            "null: a revocation (push) takes effect at once at the Key Provider Services and"
            " vCenters learn status from the hosts only; a distribution: a notifier delivers"
            " each failed verdict this long after it to the Key Provider Services (revoking,"
            " with revocation: push) and to the host's vCenter (Keylime's revocation notifier)"
        ),
    )
    startup: Literal["steady_state", "cold_boot"] = Field(
        default="steady_state",
        description=(
            "steady_state: the estate has been running; each host holds the report of its last"
            " attestation, with age and next attestation drawn from the equilibrium of the"
            " attestation renewal process; cold_boot: every host boots and attests at t=0"
        ),
    )


# --------------------------------------------------------------------------- vCenters
