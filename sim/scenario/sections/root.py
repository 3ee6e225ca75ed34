"""The root section of a scenario: every top-level field, each holding one section.

:class:`ScenarioFields` is what the whole-estate rules and the estimates read;
:class:`sim.scenario.model.Scenario` (the class everyone uses) adds the validated copies
(``with_overrides``, ``for_run``), which run those rules, so it lives above them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import Field, field_validator

from sim.scenario.common import Name, Section, dur
from sim.scenario.operations import Ha, Repair, Rotation, SetupStep, Upgrade
from sim.scenario.regimes import regime_names
from sim.scenario.sections.admin import Admin
from sim.scenario.sections.attestation import Attestation
from sim.scenario.sections.drift import Drift
from sim.scenario.sections.hosts import Hosts
from sim.scenario.sections.kms import Kms
from sim.scenario.sections.metrics import Capacity, Metrics
from sim.scenario.sections.network import Network
from sim.scenario.sections.reboots import Reboots
from sim.scenario.sections.trust_authority import TrustAuthority
from sim.scenario.sections.vcenters import VCenter
from sim.scenario.sections.vmotion import VMotion
from sim.scenario.sections.vms import Vms
from sim.scenario.sections.workload import Workload
from sim.scenario.units import Duration, PositiveDuration

if TYPE_CHECKING:
    RegimeName = str
else:
    RegimeName = Literal[regime_names()]
"""An attestation regime whose documented parameters a scenario can take as a preset: a
name from the registry of :mod:`sim.scenario.regimes`."""


class ScenarioFields(Section):
    """Every field of a scenario, and what follows from the fields alone.

    The whole-estate rules (:mod:`sim.scenario.rules`) are typed on this class: they sit
    above it, and :class:`sim.scenario.model.Scenario`, which adds the validated copies
    that run them, sits above the rules."""

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

    def resolved_yaml(self) -> str:
        """The scenario with every default filled in, as YAML (units kept readable)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, width=100)
