"""The scenario model: the root :class:`Scenario`, made of one frozen section per subsystem.

Each section lives in its own module under :mod:`sim.scenario.sections` (network, trust
authority, KMS, attestation, vCenters, VMs, hosts, workload, vMotion, drift, reboots, admin,
metrics and capacity; the operations sections in :mod:`sim.scenario.operations`), with every
default of that section; this module assembles them and re-exports every section's names, so
``from sim.scenario.model import Kms`` keeps working. Unknown keys are errors. Durations,
sizes, rates and bandwidths accept units (``250ms``, ``8GiB``, ``3 per_day``, ``10Gbps``); every
timing is a distribution (see :mod:`sim.scenario.distributions`). Rules that need the whole
estate (topology, references between sections) live in :mod:`sim.scenario.rules`; reading YAML
and applying overrides in :mod:`sim.scenario.loading`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator

from sim.scenario.common import Name, Section, dur
from sim.scenario.operations import Ha, Repair, Rotation, SetupStep, Upgrade
from sim.scenario.sections.admin import Admin
from sim.scenario.sections.attestation import Acceptance, Attestation
from sim.scenario.sections.drift import (
    DEFAULT_MEASURED_AT,
    Drift,
    DriftKind,
    RandomDrift,
    ScheduledDrift,
)
from sim.scenario.sections.hosts import Hosts
from sim.scenario.sections.kms import Kms, KmsOutage
from sim.scenario.sections.metrics import Capacity, Metrics
from sim.scenario.sections.network import Network, Site, SiteLink
from sim.scenario.sections.reboots import RebootKind, Reboots, ScheduledReboot
from sim.scenario.sections.trust_authority import (
    AttestationServiceSpec,
    KeyProvider,
    NodeOutage,
    PrimaryKeyEvent,
    ServiceSpec,
    TrustAuthority,
)
from sim.scenario.sections.vcenters import Cluster, VCenter
from sim.scenario.sections.vmotion import VMotion
from sim.scenario.sections.vms import EncryptionMix, VMotionModeMix, Vms
from sim.scenario.sections.workload import Workload
from sim.scenario.units import Duration, PositiveDuration

__all__ = [
    "DEFAULT_MEASURED_AT",
    "Acceptance",
    "Admin",
    "Attestation",
    "AttestationServiceSpec",
    "Capacity",
    "Cluster",
    "Drift",
    "DriftKind",
    "EncryptionMix",
    "Hosts",
    "KeyProvider",
    "Kms",
    "KmsOutage",
    "Metrics",
    "Network",
    "NodeOutage",
    "PrimaryKeyEvent",
    "RandomDrift",
    "RebootKind",
    "Reboots",
    "RegimeName",
    "Scenario",
    "ScheduledDrift",
    "ScheduledReboot",
    "ServiceSpec",
    "Site",
    "SiteLink",
    "TrustAuthority",
    "VCenter",
    "VMotion",
    "VMotionModeMix",
    "Vms",
    "Workload",
]

RegimeName = Literal["vta", "keylime_pull", "keylime_push", "hgs"]
"""An attestation regime whose documented parameters a scenario can take as a preset."""


class Scenario(Section):
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
        default=dur("1d"),
        description="simulated time a run covers",
    )
    warmup: Duration = Field(default=dur("0s"), description="records before this are not counted")
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
        return Section._validated_copy(self, {"seed": seed, "duration": duration})

    def _validated_copy(self, update: Mapping[str, Any]) -> Scenario:
        unknown = sorted(set(update) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"Scenario has no field(s) {', '.join(unknown)}")
        return self.with_overrides(dict(update))

    def resolved_yaml(self) -> str:
        """The scenario with every default filled in, as YAML (units kept readable)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, width=100)
