"""Scenario sections for operating a vTA estate over time: onboarding, base images and
rolling upgrades, HA, repairs, rotations of trust material and network partitions.

Each is a list of timed entries; an empty list (the default) means the operation does not
happen (for ``setup``: everything was configured before the run started).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.common import Name, Section, dist, dur
from sim.scenario.distributions import Distribution
from sim.scenario.units import Duration, PositiveDuration

SETUP_STEPS = (
    "enable_trust_authority",
    "import_workload_principal",
    "import_host_identities",
    "import_base_images",
    "configure_key_provider",
    "register_trusted_cluster",
)
"""vTA's set-up steps, in the order VMware documents them."""

SetupStepName = Literal[
    "enable_trust_authority",
    "import_workload_principal",
    "import_host_identities",
    "import_base_images",
    "configure_key_provider",
    "register_trusted_cluster",
]


class SetupStep(Section):
    """One step of setting up vSphere Trust Authority, done at ``at + duration``."""

    step: SetupStepName = Field(
        description=(
            "enable_trust_authority (the Trust Authority administrator and state),"
            " import_workload_principal, import_host_identities (TPM CA certificate or EKs),"
            " import_base_images, configure_key_provider, register_trusted_cluster"
        )
    )
    at: Duration = Field(description="when the step starts")
    duration: Duration = Field(default=0.0, description="how long it takes")
    vcenter: Name | None = Field(
        default=None,
        description=(
            "for import_workload_principal and register_trusted_cluster: the workload vCenter"
            " (default: every one)"
        ),
    )


class BaseImage(Section):
    """An approved ESXi base image besides the one the hosts run at the start, imported into
    the Trust Authority cluster at ``import_at`` (and removed at ``remove_at``)."""

    name: Name = Field(description="how upgrades refer to it")
    build: int = Field(ge=1, le=999_999_999, description="the ESXi build number")
    import_at: Duration = Field(default=0.0, description="when it is imported")
    remove_at: Duration | None = Field(default=None, description="when it is removed (null: never)")


class Upgrade(Section):
    """A rolling upgrade of one trusted cluster to a base image, ``batch`` hosts at a time."""

    at: Duration = Field(description="when the first batch starts")
    cluster: Name = Field(description="the trusted cluster")
    vcenter: Name | None = Field(default=None, description="its vCenter, if names repeat")
    to_image: Name = Field(description="the base image (trust_authority.base_images) to install")
    batch: int = Field(default=1, ge=1, le=10_000, description="hosts upgraded together")
    per_host: Distribution = Field(
        default=dist("20m"), description="install and reboot time of one host"
    )
    maintenance_mode: bool = Field(
        default=True, description="evacuate each host by vMotion before it goes down"
    )


class Ha(Section):
    """vSphere HA: VMs of a crashed host restart on other hosts of its cluster."""

    restart_delay: Distribution = Field(
        default=dist({"dist": "lognormal", "median": "1m", "p95": "3m"}),
        description="from the crash to the restart attempt of each VM (a modelling choice)",
    )


class Repair(Section):
    """A TPM or motherboard replaced in a host: down for the repair, back with a new TPM
    (and, for a motherboard, a new server identity)."""

    at: Duration
    host: Name = Field(description="the host repaired")
    part: Literal["tpm", "motherboard"] = Field(
        default="tpm", description="the part replaced: tpm, or motherboard (new identity too)"
    )
    duration: Distribution = Field(default=dist("2h"), description="the host is down this long")


class Rotation(Section):
    """A rotation of trust material."""

    at: Duration
    what: Literal["attestation_signing_key", "service_certificates", "principal"] = Field(
        description=(
            "attestation_signing_key: new report-signing keys; service_certificates: new KMIP"
            " client certificates of the Key Provider Services; principal: the workload"
            " vCenters' principals"
        )
    )
    overlap: Duration = Field(
        default=0.0, description="how long the old material stays trusted after ``at``"
    )
    adopt_after: Duration = Field(
        default=0.0,
        description=(
            "service_certificates / principal: how long after ``at`` the other side (the KMS,"
            " the trust authority) learns the new material"
        ),
    )


class NetworkOutage(Section):
    """A WAN link (``link: [a, b]``) or a whole site (``site``) cut off for a while."""

    link: tuple[Name, Name] | None = Field(
        default=None, description="the WAN link cut, as its two sites (or give site)"
    )
    site: Name | None = Field(
        default=None, description="the site cut off from every other (or give link)"
    )
    at: Duration
    duration: PositiveDuration = Field(default=dur("1h"))

    @model_validator(mode="after")
    def _one_target(self) -> NetworkOutage:
        if (self.link is None) == (self.site is None):
            raise ValueError("expected exactly one of link and site")
        return self
