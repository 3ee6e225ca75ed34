"""The scenario model: one frozen pydantic section per subsystem, and :class:`Scenario`.

Every default of the model lives in this module and nowhere else. Unknown keys are errors.
Durations, sizes, rates and bandwidths accept units (``250ms``, ``8GiB``, ``3 per_day``,
``10Gbps``); every timing is a distribution (see :mod:`sim.scenario.distributions`). Rules
that need the whole estate (topology, references between sections) live in
:mod:`sim.scenario.rules`; reading YAML and applying overrides in :mod:`sim.scenario.loading`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from sim.domain import drift_kinds
from sim.domain.drift_kinds import DriftKind as DriftKind
from sim.scenario.common import Name, Section
from sim.scenario.distributions import Distribution, DistributionModel, parse_distribution
from sim.scenario.limits import (
    HostMemory,
    LinkBandwidth,
    PacketSize,
    PayloadSize,
    Period,
    VmMemory,
)
from sim.scenario.operations import (
    BaseImage,
    Ha,
    NetworkOutage,
    Repair,
    Rotation,
    SetupStep,
    Upgrade,
)
from sim.scenario.units import (
    Bandwidth,
    Duration,
    PositiveDuration,
    Rate,
    Size,
    parse_bandwidth,
    parse_duration,
    parse_rate,
    parse_size,
)


def _require_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{what} name {n!r} is used twice")
        seen.add(n)


def _dur(v: str | float) -> float:
    return parse_duration(v)


def _size(v: str | int) -> int:
    return parse_size(v)


def _rate(v: str | float) -> float:
    return parse_rate(v)


def _bw(v: str | float) -> float:
    return parse_bandwidth(v)


def _dist(v: Any) -> DistributionModel:
    return parse_distribution(v)


_Model = Section


# Drift kinds come from their registry (sim.domain.drift_kinds, one module per kind).
DEFAULT_MEASURED_AT: dict[str, Literal["runtime", "boot"]] = drift_kinds.default_measured_at()

ACCEPTANCE_LEVELS = ("CommunitySupported", "PartnerSupported", "VMwareAccepted", "VMwareCertified")
Acceptance = Literal["CommunitySupported", "PartnerSupported", "VMwareAccepted", "VMwareCertified"]
"""A VIB acceptance level, lowest first."""


# --------------------------------------------------------------------------- network


class Site(_Model):
    """A data-centre site; hosts and services in one site talk over its LAN."""

    name: Name = Field(
        description="the site's name, referred to by vCenters, the trust authority and the KMS",
    )


class SiteLink(_Model):
    """A WAN link between two sites."""

    a: Name = Field(description="one site of the link")
    b: Name = Field(description="the other site of the link")
    latency: Distribution = Field(default=_dist("10ms"), description="one-way latency of the link")
    bandwidth: LinkBandwidth = Field(
        default=_bw("10Gbps"), description="bandwidth of the link in each direction"
    )


class Network(_Model):
    """Sites, the LAN inside each site and the WAN links between sites."""

    sites: tuple[Site, ...] = Field(
        default=(Site(name="dc1"),),
        description="the data-centre sites; hosts and services in one site share its LAN",
    )
    lan_latency: Distribution = Field(
        default=_dist("250us"), description="one-way latency per LAN hop"
    )
    lan_bandwidth: LinkBandwidth = Field(default=_bw("25Gbps"), description="site switch fabric")
    vmotion_nic: LinkBandwidth = Field(default=_bw("10Gbps"), description="each host's vMotion NIC")
    links: tuple[SiteLink, ...] = Field(
        default=(),
        description="WAN links between sites (every pair of sites that talk needs a path)",
    )
    outages: tuple[NetworkOutage, ...] = Field(
        default=(), description="WAN links or sites cut off for a while"
    )

    @model_validator(mode="after")
    def _check_sites(self) -> Network:
        names = [s.name for s in self.sites]
        if not names:
            raise ValueError("at least one site is needed")
        _require_unique(names, "site")
        for link in self.links:
            for end in (link.a, link.b):
                if end not in names:
                    raise ValueError(f"link end {end!r} is not a site (sites: {names})")
            if link.a == link.b:
                raise ValueError(f"link {link.a}-{link.b} joins a site to itself")
        return self


# --------------------------------------------------------------------------- trust authority


class ServiceSpec(_Model):
    """A queueing service: a number of parallel workers and a service-time distribution."""

    workers: int = Field(
        default=4, ge=1, le=4096, description="requests one node serves at once (its worker pool)"
    )
    service_time: Distribution = Field(
        default=_dist("10ms"),
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


class NodeOutage(_Model):
    """A trust-authority node that is down for a while (its services refuse connections)."""

    node: int = Field(ge=0, le=63, description="trust-authority host index, from 0")
    at: Duration
    duration: PositiveDuration


class KmsOutage(_Model):
    """A KMIP server that is down for a while (connections to it time out)."""

    server: int = Field(ge=0, le=63, description="server index in its cluster, from 0")
    at: Duration
    duration: PositiveDuration


class Kms(_Model):
    """A KMIP key server cluster: servers run active-active behind the Key Provider Service,
    which authenticates with its client certificate (no passwords)."""

    name: Name = Field(default="kms", description="the cluster's name (key providers refer to it)")
    servers: int = Field(
        default=2, ge=1, le=64, description="KMIP servers in the cluster (active-active)"
    )
    site: Name = Field(default="dc1", description="site the KMS servers are in")
    workers: int = Field(default=8, ge=1, le=4096, description="concurrent requests per server")
    service_time: Distribution = Field(
        default=_dist({"dist": "lognormal", "median": "8.6ms", "p95": "15.7ms"}),
        description=(
            "a KMIP Get; the default was measured against PyKMIP's reference server on"
            " loopback (vtasim calibrate kms)"
        ),
    )
    kmip_version: Literal["1.1", "1.2", "1.3", "1.4", "2.0"] = Field(
        default="1.1",
        description="KMIP protocol version the key provider speaks to the KMS",
    )
    connection_timeout: PositiveDuration = Field(
        default=_dur("30s"),
        description=(
            "a call to a server that is down waits this long, then the next server is tried"
            " (PowerCLI's ConnectionTimeOutSeconds)"
        ),
    )
    outages: tuple[KmsOutage, ...] = Field(
        default=(),
        description="scheduled outages of KMS servers",
    )

    @field_validator("kmip_version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        # YAML reads an unquoted 1.10 as the number 1.1: only text says which was meant.
        if isinstance(v, float | int) and not isinstance(v, bool):
            raise ValueError(f'expected a version in quotes, such as "1.2"; found the number {v!r}')
        return v

    @model_validator(mode="after")
    def _outage_servers(self) -> Kms:
        for outage in self.outages:
            if outage.server >= self.servers:
                raise ValueError(
                    f"an outage names server {outage.server}; expected one below {self.servers}"
                )
        return self


class PrimaryKeyEvent(_Model):
    """A change of a key provider's primary key on its KMS (KMIP Revoke / Destroy)."""

    at: Duration
    action: Literal["deactivate", "compromise", "destroy"] = Field(
        description=(
            "deactivate: Revoke (cessation of operation) -> Deactivated; compromise: Revoke"
            " (key compromise) -> Compromised; destroy: Revoke, then Destroy -> Destroyed"
        )
    )


class KeyProvider(_Model):
    """A trusted key provider: a KMS cluster and the primary key on it that wraps the KEKs
    the Key Provider Service makes (VMware: the KMS holds only the primary key)."""

    name: Name = Field(
        default="tkp",
        description="the trusted key provider's name, referred to by vms.key_provider",
    )
    kms: Name = Field(default="kms", description="the KMS cluster (kms.name or kms_clusters)")
    primary_key_id: Name = Field(default="primary-key", description="the primary key's KMIP Name")
    primary_key_cache_ttl: Duration = Field(
        default=_dur("1h"),
        description="each Key Provider Service node keeps the primary key this long; 0: never",
    )
    primary_key_events: tuple[PrimaryKeyEvent, ...] = Field(
        default=(),
        description="scheduled changes of the provider's primary key on the KMS",
    )


class TrustAuthority(_Model):
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
            workers=4, service_time=_dist({"dist": "lognormal", "median": "15ms", "p95": "40ms"})
        ),
        description="the Attestation Service on each Trust Authority host",
    )
    key_provider_service: ServiceSpec = Field(
        default=ServiceSpec(
            workers=4, service_time=_dist({"dist": "lognormal", "median": "4ms", "p95": "12ms"})
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
        default=_dist("2ms"), description="time to answer a vCenter's host-status poll"
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


class Attestation(_Model):
    """How trusted hosts attest, and what the attestation service accepts."""

    interval: Period = Field(default=_dur("5m"), description="re-attestation period")
    jitter: Duration = Field(default=_dur("10s"), description="each period adds uniform(0, jitter)")
    report_lifetime: PositiveDuration = Field(
        default=_dur("15m"), description="attestedUntil - attestedAt"
    )
    revocation: Literal["none", "push"] = Field(
        default="none",
        description="push: a failed re-attestation revokes the host's unexpired reports",
    )
    timeout: PositiveDuration = Field(
        default=_dur("10s"),
        description="how long the agent waits for an answer before retrying",
    )
    max_retries: int = Field(
        default=5,
        ge=0,
        le=100,
        description="retries of a failed or timed-out attestation before the agent gives up",
    )
    backoff: Duration = Field(default=_dur("2s"), description="wait before the first retry")
    backoff_multiplier: float = Field(
        default=2.0, ge=1.0, le=10.0, description="factor the wait grows by after each retry"
    )
    max_backoff: Duration = Field(default=_dur("60s"), description="longest wait between retries")
    tpm_sign_time: Distribution = Field(
        default=_dist({"dist": "lognormal", "median": "200ms", "p95": "600ms"}),
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


class Cluster(_Model):
    """A trusted cluster of ESXi hosts managed by a workload vCenter."""

    name: Name = Field(description="the cluster's name, unique within its vCenter")
    hosts: int = Field(ge=1, le=100_000, description="trusted ESXi hosts in the cluster")
    host_memory: HostMemory = Field(
        default=_size("512GiB"),
        description="memory of each host, for placement and attested capacity",
    )
    site: Name | None = Field(
        default=None, description="where its hosts are (default: its vCenter's site)"
    )


class VCenter(_Model):
    """A workload vCenter: polls host attestation status and places VMs."""

    name: Name = Field(description="the workload vCenter's name")
    site: Name = Field(default="dc1", description="site the vCenter and its hosts are in")
    sso_domain: Name = Field(
        default="vsphere.local",
        description="SSO domain of the vCenter (not the Trust Authority's, or shared with it)",
    )
    linked_mode_with: tuple[Name, ...] = Field(
        default=(),
        description="vCenters this one is in Enhanced Linked Mode with",
    )
    status_source: Literal["host_report", "trust_authority_poll"] = Field(
        default="host_report",
        description=(
            "host_report (VMware's documented path): each host reports its attestation status"
            " to its vCenter after every attempt; trust_authority_poll: the vCenter polls the"
            " trust authority every status_poll_interval"
        ),
    )
    status_propagation: Distribution = Field(
        default=_dist({"dist": "lognormal", "median": "2s", "p95": "10s"}),
        description="delay of a host's status report to its vCenter (host_report)",
    )
    status_poll_interval: Period = Field(
        default=_dur("60s"), description="poll period (trust_authority_poll)"
    )
    placement: Literal["first_fit", "least_loaded"] = Field(
        default="least_loaded",
        description="how a VM's host is chosen among the eligible ones",
    )
    clusters: tuple[Cluster, ...] = Field(
        min_length=1, description="the trusted clusters the vCenter manages"
    )


# --------------------------------------------------------------------------- VMs & workload


class EncryptionMix(_Model):
    """Weights of how VMs are encrypted (normalised)."""

    none: float = Field(
        default=0.5, ge=0, le=1e6, description="relative weight of VMs without encryption"
    )
    storage_policy: float = Field(
        default=0.2,
        ge=0,
        le=1e6,
        description="relative weight of VMs encrypted by a storage policy (need a key)",
    )
    vtpm: float = Field(
        default=0.3, ge=0, le=1e6, description="relative weight of VMs with a vTPM (need a key)"
    )

    @model_validator(mode="after")
    def _positive(self) -> EncryptionMix:
        if self.none + self.storage_policy + self.vtpm <= 0:
            raise ValueError("at least one weight must be positive")
        return self


class VMotionModeMix(_Model):
    """Weights of the per-VM encrypted vMotion setting (normalised)."""

    disabled: float = Field(
        default=0.1,
        ge=0,
        le=1e6,
        description="relative weight of VMs whose vMotion is never encrypted",
    )
    opportunistic: float = Field(
        default=0.8,
        ge=0,
        le=1e6,
        description="relative weight of VMs encrypted when both hosts support it",
    )
    required: float = Field(
        default=0.1,
        ge=0,
        le=1e6,
        description="relative weight of VMs whose vMotion must be encrypted",
    )

    @model_validator(mode="after")
    def _positive(self) -> VMotionModeMix:
        if self.disabled + self.opportunistic + self.required <= 0:
            raise ValueError("at least one weight must be positive")
        return self


class Vms(_Model):
    """The VM population."""

    count: int = Field(
        default=200, ge=0, le=10_000_000, description="virtual machines in the estate"
    )
    memory: tuple[VmMemory, ...] = Field(
        default=(_size("4GiB"), _size("8GiB"), _size("16GiB")),
        min_length=1,
        description="drawn uniformly",
    )
    dirty_rate: Bandwidth = Field(default=_bw("64MiB/s"), description="guest page-dirtying rate")
    initially_running: float = Field(
        default=0.8, ge=0, le=1, description="fraction of the VMs powered on at the start"
    )
    encryption: EncryptionMix = Field(
        default=EncryptionMix(),
        description="how the VMs are encrypted (relative weights)",
    )
    vmotion_mode: VMotionModeMix = Field(
        default=VMotionModeMix(),
        description="encrypted vMotion setting of the VMs (relative weights)",
    )
    key_provider: dict[Name, float] = Field(
        default_factory=dict,
        description="weights of the key providers encrypted VMs use (empty: the first)",
    )


class Hosts(_Model):
    """Settings every trusted host shares."""

    key_persistence: bool = Field(
        default=False,
        description=(
            "vSphere 7.0 U2+: keys a host obtained survive its reboots, sealed in its TPM"
            " (another TPM, or Secure Boot off for keys sealed with it on, drops them)"
        ),
    )
    secure_configuration: Literal["tpm", "none"] = Field(
        default="tpm",
        description=(
            "vSphere 7.0 U2+ secure ESXi configuration: tpm (TPM mode): a host whose TPM or"
            " motherboard was replaced cannot boot until its configuration is recovered with"
            " the recovery key; none: it boots with the new TPM at once"
        ),
    )
    configuration_recovery: Distribution = Field(
        default=_dist("1h"),
        description=(
            "TPM mode: how long a host whose TPM changed stays down after its reboot until an"
            " administrator recovers the configuration with the recovery key (modelling choice)"
        ),
    )


class Workload(_Model):
    """Estate-wide request streams (Poisson arrivals)."""

    power_on_rate: Rate = Field(
        default=_rate("60 per_hour"), description="power-ons of stopped VMs"
    )
    lifetime: Distribution = Field(
        default=_dist({"dist": "exponential", "mean": "8h"}),
        description="how long a powered-on VM runs before it is powered off",
    )
    migration_rate: Rate = Field(default=_rate("60 per_hour"), description="DRS-like migrations")


class VMotion(_Model):
    """Pre-copy vMotion model and the real encrypted sample stream."""

    setup_time: Distribution = Field(
        default=_dist("1s"),
        description="time to set up a migration before the pre-copy",
    )
    max_iterations: int = Field(
        default=8,
        ge=1,
        le=100,
        description="most pre-copy iterations before the switch-over is forced",
    )
    switchover_threshold: Size = Field(
        default=_size("512MiB"), description="stun when dirty < this"
    )
    switchover_time: Distribution = Field(
        default=_dist("300ms"),
        description="time the VM is stunned for the switch-over",
    )
    cipher_rate: LinkBandwidth = Field(
        default=_bw("4GiB/s"),
        description="AES-256-GCM throughput per stream; caps encrypted streams",
    )
    payload: PayloadSize | Literal["full"] = Field(
        default=_size("1MiB"), description="bytes really encrypted and checked per migration"
    )
    packet_size: PacketSize = Field(
        default=_size("64KiB"),
        description="size of one encrypted stream packet",
    )
    max_concurrent_per_host: int = Field(
        default=8,
        ge=1,
        le=128,
        description=(
            "migrations a host takes part in at once, as source or destination (VMware's"
            " limit on 10 GbE); more wait for a slot"
        ),
    )


# --------------------------------------------------------------------------- drift & reboots


_ACCEPTANCE_DOC = (
    "acceptance level of an unapproved VIB: PartnerSupported (default) is signed but not in"
    " the approved image; CommunitySupported cannot be installed on a host with Secure Boot"
    " on (the install is blocked)"
)
_REBOOT_AFTER_DOC = "the change reboots the host this long after it (most VIB installs need one)"


class ScheduledDrift(_Model):
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


class RandomDrift(_Model):
    """Drift arriving at random on every trusted host (Poisson per host)."""

    rate: Rate = Field(default=_rate(0.0), description="per host")
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


class Drift(_Model):
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


RebootKind = Literal["planned", "crash"]
_KIND_DOC = (
    "planned: the host enters maintenance mode (its VMs leave by vMotion) and reboots;"
    " crash: it fails at once and vSphere HA restarts its VMs on other hosts"
)


class ScheduledReboot(_Model):
    """A host reboot at a fixed moment."""

    at: Duration = Field(description="when the host reboots")
    host: Name = Field(description="the host that reboots")
    kind: RebootKind = Field(default="planned", description=_KIND_DOC)


class Reboots(_Model):
    """Host reboots: re-measure the boot chain (and apply boot-measured drift)."""

    rate: Rate = Field(default=_rate(0.0), description="per host")
    kind: RebootKind = Field(default="planned", description=_KIND_DOC + " (random reboots)")
    duration: Distribution = Field(
        default=_dist("4m"),
        description="how long a reboot keeps the host down",
    )
    scheduled: tuple[ScheduledReboot, ...] = Field(
        default=(),
        description="reboots at given times on given hosts",
    )


class Admin(_Model):
    """What administrators do in reaction to the estate."""

    ek_registration_delay: Distribution | None = Field(
        default=None,
        description=(
            "after a TPM swap fails attestation for an unregistered endorsement key, an"
            " administrator registers the new EK this long after the failure (null: never)"
        ),
    )


class Metrics(_Model):
    """How the run is measured."""

    sample_interval: Period = Field(
        default=_dur("5m"), description="period of the service utilisation / queue time series"
    )
    rmst_horizon: PositiveDuration = Field(
        default=_dur("2h"),
        description=(
            "horizon of every Kaplan-Meier restricted mean (km_restricted_mean): the mean"
            " time to event with times capped here, fixed before the run so that runs and"
            " sweep cells estimate the same quantity (a modelling choice)"
        ),
    )


class Capacity(_Model):
    """How capacity is judged (modelling choice)."""

    threshold: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description=(
            "fraction of the trusted hosts (rounded up to whole hosts) below which the time"
            " attested and usable capacity spent is reported (1: time below full capacity)"
        ),
    )


# --------------------------------------------------------------------------- scenario


RegimeName = Literal["vta", "keylime_pull", "keylime_push", "hgs"]
"""An attestation regime whose documented parameters a scenario can take as a preset."""


class Scenario(_Model):
    """A complete, validated estate and experiment."""

    name: Name = Field(
        description="the scenario's name (its run folders are results/<name>/seed-<N>)",
    )
    regime: RegimeName | None = Field(
        default=None,
        description=(
            "an attestation regime preset (see sim.scenario.regimes), expanded before"
            " validation; explicit settings in the file override it"
        ),
    )
    description: str = Field(default="", description="what the scenario is for, in words")
    seed: int = Field(
        default=0, ge=0, le=2**63 - 1, description="root seed every random stream is derived from"
    )
    duration: PositiveDuration = Field(
        default=_dur("1d"),
        description="simulated time a run covers",
    )
    warmup: Duration = Field(default=_dur("0s"), description="records before this are not counted")
    start_time: datetime = Field(
        default=datetime(2024, 1, 1, tzinfo=timezone.utc),
        description="UTC wall-clock time of simulated second 0 (anchors report timestamps)",
    )
    network: Network = Field(default=Network(), description="sites, LAN latency and WAN links")
    trust_authority: TrustAuthority = Field(
        default=TrustAuthority(),
        description="the vSphere Trust Authority cluster and its services",
    )
    kms: Kms = Field(default=Kms(), description="the KMIP key server cluster")
    kms_clusters: tuple[Kms, ...] = Field(default=(), description="further KMS clusters")
    attestation: Attestation = Field(
        default=Attestation(),
        description="how and how often hosts attest",
    )
    vcenters: tuple[VCenter, ...] = Field(
        min_length=1, description="the workload vCenters and their trusted clusters"
    )
    hosts: Hosts = Field(default=Hosts(), description="settings shared by every trusted host")
    vms: Vms = Field(default=Vms(), description="the virtual machines and their encryption")
    workload: Workload = Field(default=Workload(), description="power-ons and migrations over time")
    vmotion: VMotion = Field(
        default=VMotion(),
        description="the vMotion and encrypted-stream model",
    )
    drift: Drift = Field(default=Drift(), description="drift injected on trusted hosts")
    reboots: Reboots = Field(default=Reboots(), description="host reboots")
    admin: Admin = Field(default=Admin(), description="what administrators do (EK registration)")
    setup: tuple[SetupStep, ...] = Field(
        default=(),
        description="vTA set-up steps during the run (empty: everything set up before it)",
    )
    upgrades: tuple[Upgrade, ...] = Field(default=(), description="rolling ESXi upgrades")
    ha: Ha = Field(default=Ha(), description="vSphere HA restarts after host crashes")
    repairs: tuple[Repair, ...] = Field(default=(), description="TPM or motherboard repairs")
    rotations: tuple[Rotation, ...] = Field(default=(), description="trust-material rotations")
    metrics: Metrics = Field(default=Metrics(), description="how the run is measured")
    capacity: Capacity = Field(
        default=Capacity(), description="how attested and usable capacity are judged"
    )

    @field_validator("start_time")
    @classmethod
    def _start_time_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("expected a time with a zone, such as 2024-01-01T00:00:00Z")
        return value.astimezone(timezone.utc)

    @property
    def epoch(self) -> float:
        """``start_time`` as POSIX seconds: add simulated seconds to get wall-clock time."""
        return self.start_time.timestamp()

    def kms_cluster(self, name: str) -> Kms | None:
        """The KMS cluster called ``name``, if any."""
        return next((k for k in (self.kms, *self.kms_clusters) if k.name == name), None)

    def host_names(self) -> list[tuple[str, str, str]]:
        """(host, vcenter, cluster) for every trusted host, in estate order."""
        total = sum(c.hosts for vc in self.vcenters for c in vc.clusters)
        width = max(2, len(str(total)))
        out: list[tuple[str, str, str]] = []
        for vc in self.vcenters:
            for cl in vc.clusters:
                for _ in range(cl.hosts):
                    out.append((f"esx-{len(out) + 1:0{width}d}", vc.name, cl.name))
        return out

    def with_overrides(
        self, overrides: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Scenario:
        """A copy with fields set by dotted path, validated like a file (ScenarioError naming
        the path otherwise): ``with_overrides({"attestation.interval": "2m"})`` or
        ``with_overrides(attestation__interval="2m")`` (``__`` stands for ``.``)."""
        from sim.scenario.loading import parse_scenario

        merged = {**(overrides or {}), **{k.replace("__", "."): v for k, v in fields.items()}}
        return parse_scenario(self.model_dump(mode="json", round_trip=True), merged)

    def for_run(self, seed: int, duration: float) -> Scenario:
        """The scenario as one run executes it: its seed and (possibly shortened) duration.
        The values are validated field by field like a file, but not against the rules
        that tie schedules to the scenario's own duration: a run may stop early
        (``--until``), and what it then leaves out is reported as warnings."""
        return _Model._validated_copy(self, {"seed": seed, "duration": duration})

    def _validated_copy(self, update: Mapping[str, Any]) -> Scenario:
        unknown = sorted(set(update) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"Scenario has no field(s) {', '.join(unknown)}")
        return self.with_overrides(dict(update))

    def resolved_yaml(self) -> str:
        """The scenario with every default filled in, as YAML (units kept readable)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, width=100)
