"""The ``trust_authority`` section: the vSphere Trust Authority cluster, its Attestation and
Key Provider Services, its trusted key providers and its node outages."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.common import Name, Section, dist, dur
from sim.scenario.distributions import Distribution
from sim.scenario.operations import BaseImage
from sim.scenario.units import Duration, PositiveDuration


class ServiceSpec(Section):
    """A queueing service: a number of parallel workers and a service-time distribution."""

    workers: int = Field(
        default=4, ge=1, le=4096, description="requests one node serves at once (its worker pool)"
    )
    service_time: Distribution = Field(
        default=dist("10ms"),
        description="time one worker spends on one request",
    )


class AttestationServiceSpec(ServiceSpec):
    """The Attestation Service: a queueing service that also decides what becomes of a
    request whose client gave up waiting."""

    abandoned: Literal["serve", "drop"] = Field(
        default="drop",
        description=(
            "drop: a worker discards a request whose client deadline has passed when it picks"
            " it up (deadline propagation); serve: it verifies it anyway and the answer"
            " reaches nobody (retries then multiply the load)"
        ),
    )


class NodeOutage(Section):
    """A trust-authority node that is down for a while (its services refuse connections)."""

    node: int = Field(ge=0, le=63, description="trust-authority host index, from 0")
    at: Duration
    duration: PositiveDuration


class PrimaryKeyEvent(Section):
    """A change of a key provider's primary key on its KMS (KMIP Revoke / Destroy)."""

    at: Duration
    action: Literal["deactivate", "compromise", "destroy"] = Field(
        description=(
            "deactivate: Revoke (cessation of operation) -> Deactivated; compromise: Revoke"
            " (key compromise) -> Compromised; destroy: Revoke, then Destroy -> Destroyed"
        )
    )


class KeyProvider(Section):
    """A trusted key provider: a KMS cluster and the primary key on it that wraps the KEKs
    the Key Provider Service makes (VMware: the KMS holds only the primary key)."""

    name: Name = Field(
        default="tkp",
        description="the trusted key provider's name, referred to by vms.key_provider",
    )
    kms: Name = Field(default="kms", description="the KMS cluster (kms.name or kms_clusters)")
    primary_key_id: Name = Field(default="primary-key", description="the primary key's KMIP Name")
    primary_key_cache_ttl: Duration = Field(
        default=dur("1h"),
        description="each Key Provider Service node keeps the primary key this long; 0: never",
    )
    primary_key_events: tuple[PrimaryKeyEvent, ...] = Field(
        default=(),
        description="scheduled changes of the provider's primary key on the KMS",
    )


class TrustAuthority(Section):
    """The vSphere Trust Authority cluster: its own vCenter and its ESXi hosts, each running
    the Attestation Service and the Key Provider Service, and its TPM 2.0 settings."""

    name: Name = Field(default="vta", description="the Trust Authority cluster's name")
    vcenter: Name = Field(
        default="vta-vcenter",
        description="name of the vCenter that manages the Trust Authority cluster",
    )
    site: Name = Field(default="dc1", description="site the Trust Authority hosts are in")
    sso_domain: Name = Field(
        default="vsphere.local",
        description="SSO domain of the Trust Authority's vCenter",
    )
    hosts: int = Field(
        default=3,
        ge=1,
        le=64,
        description="Trust Authority hosts; VMware documents no fixed count (the article uses 3)",
    )
    require_endorsement_keys: bool = Field(
        default=True, description="TPM 2.0 setting: only registered endorsement keys are trusted"
    )
    require_certificate_validation: bool = Field(
        default=False,
        description="TPM 2.0 setting: EK certificates must chain to an imported TPM CA",
    )
    bind_tpm_to_server: bool = Field(
        default=True,
        description=(
            "the source article's claim: a host's EK and server are bound, so a TPM moved to"
            " another server (or a new one in the same server) does not pass"
        ),
    )
    attestation_service: AttestationServiceSpec = Field(
        default=AttestationServiceSpec(
            workers=4, service_time=dist({"dist": "lognormal", "median": "15ms", "p95": "40ms"})
        ),
        description="the Attestation Service on each Trust Authority host",
    )
    key_provider_service: ServiceSpec = Field(
        default=ServiceSpec(
            workers=4, service_time=dist({"dist": "lognormal", "median": "4ms", "p95": "12ms"})
        ),
        description="the Key Provider Service on each Trust Authority host",
    )
    base_images: tuple[BaseImage, ...] = Field(
        default=(), description="approved ESXi images besides the one hosts start with"
    )
    key_providers: tuple[KeyProvider, ...] = Field(
        default=(KeyProvider(),), min_length=1, description="trusted key providers"
    )
    status_service_time: Distribution = Field(
        default=dist("2ms"), description="time to answer a vCenter's host-status poll"
    )
    outages: tuple[NodeOutage, ...] = Field(
        default=(),
        description="scheduled outages of Trust Authority nodes",
    )
    fallback_hosts: int = Field(
        default=0,
        ge=0,
        le=16,
        description=(
            "extra attestation and key provider nodes (indices after the primary ones) used"
            " only while every primary node is down (HGS's fallback server URLs)"
        ),
    )

    @model_validator(mode="after")
    def _one_tpm_setting(self) -> TrustAuthority:
        if not (self.require_endorsement_keys or self.require_certificate_validation):
            raise ValueError(
                "require_endorsement_keys and require_certificate_validation are both false;"
                " expected at least one true (otherwise no TPM is trusted or every TPM is)"
            )
        return self


# --------------------------------------------------------------------------- attestation
