"""Scenarios: YAML in, one validated, frozen :class:`Scenario` out.

- :mod:`~sim.scenario.units`: durations, sizes, rates and bandwidths with units;
- :mod:`~sim.scenario.distributions`: timing distributions and their samplers;
- :mod:`~sim.scenario.model`: the root :class:`Scenario`; :mod:`~sim.scenario.sections`:
  its sections, one module per subsystem, each with every default it has
  (:mod:`~sim.scenario.sections.root`: the root's fields);
- :mod:`~sim.scenario.rules`: the topology rules vSphere Trust Authority imposes, and the
  limits that involve more than one field;
- :mod:`~sim.scenario.regimes`: attestation regime presets (vTA, Keylime, HGS) expanded
  before validation;
- :mod:`~sim.scenario.validation`: a mapping validated into a scenario, field-path errors;
- :mod:`~sim.scenario.loading`: reading files, the JSON Schema;
- :mod:`~sim.scenario.compose`: ``extends`` between files, overrides by dotted path;
- :mod:`~sim.scenario.yaml_safe`: YAML read within bounds (size, depth, aliases), strictly;
- :mod:`~sim.scenario.bounds`, :mod:`~sim.scenario.limits`: the limits that keep every valid
  scenario runnable, and strict numbers;
- :mod:`~sim.scenario.estimate`: how big a run will be, before it starts;
- :mod:`~sim.scenario.operations`: set-up, upgrades, HA, repairs, rotations, partitions.
"""

from sim.scenario.loading import (
    apply_overrides,
    load_scenario,
    parse_scenario,
    problems_from,
    scenario_json_schema,
)
from sim.scenario.model import (
    Attestation,
    Drift,
    DriftKind,
    Kms,
    Scenario,
    TrustAuthority,
    VCenter,
    VMotion,
)

__all__ = [
    "Attestation",
    "Drift",
    "DriftKind",
    "Kms",
    "Scenario",
    "TrustAuthority",
    "VCenter",
    "VMotion",
    "apply_overrides",
    "load_scenario",
    "parse_scenario",
    "problems_from",
    "scenario_json_schema",
]
