"""The scenario model: :class:`Scenario`, made of one frozen section per subsystem.

Each section lives in its own module under :mod:`sim.scenario.sections` (network, trust
authority, KMS, attestation, vCenters, VMs, hosts, workload, vMotion, drift, reboots, admin,
metrics and capacity; the operations sections in :mod:`sim.scenario.operations`), with every
default of that section; :mod:`sim.scenario.sections.root` assembles them into the root's
fields. This module adds the copies validated like a file and re-exports every section's
names, so ``from sim.scenario.model import Kms`` keeps working. Unknown keys are errors. Durations,
sizes, rates and bandwidths accept units (``250ms``, ``8GiB``, ``3 per_day``, ``10Gbps``); every
timing is a distribution (see :mod:`sim.scenario.distributions`). Rules that need the whole
estate (topology, references between sections) live in :mod:`sim.scenario.rules`; reading YAML
and applying overrides in :mod:`sim.scenario.loading`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.scenario.common import Section
from sim.scenario.compose import apply_overrides
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
from sim.scenario.sections.root import RegimeName, ScenarioFields
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
from sim.scenario.validation import validated_scenario

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
    "ScenarioFields",
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


class Scenario(ScenarioFields):
    """A complete, validated estate and experiment."""

    def with_overrides(
        self, overrides: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Scenario:
        """A copy with fields set by dotted path, validated like a file (ScenarioError naming
        the path otherwise): ``with_overrides({"attestation.interval": "2m"})`` or
        ``with_overrides(attestation__interval="2m")`` (``__`` stands for ``.``)."""
        merged = {**(overrides or {}), **{k.replace("__", "."): v for k, v in fields.items()}}
        data = self.model_dump(mode="json", round_trip=True)
        return validated_scenario(type(self), apply_overrides(data, merged) if merged else data)

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
