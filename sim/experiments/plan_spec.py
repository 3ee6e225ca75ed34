"""Plan files: the cheapest setting of a scenario that meets service-level objectives.

```yaml
name: ta-sizing
scenario: ../baseline.yaml            # relative to this file
seed: 7                               # root seed: replication r of every candidate shares one
until: 2h                             # optional: shorten every run
warmup: 10m                           # optional
confidence: 0.95                      # joint, over all objectives (see below)
replications: {min: 3, max: 12, step: 2}
monotone: true                        # skip candidates dominated by a failed one
candidates:                           # a grid of settings, each level list from least to most
  trust_authority.hosts: {levels: [1, 2, 3], cost: 10}          # cost per unit of the value
  trust_authority.attestation_service.workers:
    {levels: [1, 2, 4], cost: 1, per: trust_authority.hosts}    # per worker and per node
  trust_authority.key_providers.0.primary_key_cache_ttl:
    {levels: [5m, 1h], costs: [0, 0]}                           # a cost per level
objectives:
  - attestation.latency_s.p95 <= 2s
  - drift.time_to_refusal_s.km_median <= 20m
  - capacity.usable_hosts.min >= 0.9 * hosts
```

**Costs.** A candidate's cost is the sum over its settings: ``cost * value`` (times the value
of the setting named by ``per``), or the level's entry of ``costs``. Per-unit costs must be
positive, per-level costs non-negative; a value must be a number for a per-unit cost.

**Order and dominance.** Candidates are tried from the cheapest (ties in the order of the
grid); the first that meets every objective is the answer and the search stops. The level
lists are read as ordered from the least to the most resource. With ``monotone: true`` (the
default) the plan assumes that no objective gets worse when any setting moves later in its
list (more nodes, workers, servers never make latency, refusal or capacity worse), so a
candidate with every setting at or before that of a candidate that clearly *failed* would
fail too, and is skipped as dominated without running it. The assumption is the planner's
to make: turn it off (``monotone: false``) when a setting trades one objective against
another (a longer primary-key TTL means fewer KMS calls but longer exposure, say).

**Objectives.** ``KEY OP BOUND``: ``KEY`` a summary metric (``vtasim metrics``), ``OP``
``<=``, ``<``, ``>=`` or ``>``, ``BOUND`` a number in the metric's unit (a duration such as
``2s`` or ``20m`` for a time) or ``F * hosts`` (``hosts``: the candidate's trusted hosts). An
ordinary figure is the mean over replications of each run's value, with the interval of
:func:`sim.analysis.stats.nonneg_estimate` (log-scale t or bootstrap; exact when every run
gives the same value). A Kaplan-Meier leaf (``...km_median``, ``...km_restricted_mean``) is
pooled over the runs' observations as a sweep's cells are (:mod:`sim.experiments.pooled`).

**Confidence.** Each objective's interval is two-sided at ``1 - (1 - confidence) / k`` for
``k`` objectives (Bonferroni), so all hold together with at least ``confidence``. An
objective is *met* when the whole interval lies on its side of the bound, *failed* when the
whole interval lies on the other side, and *undecided* otherwise. A candidate gets ``min``
replications, then ``step`` more at a time while any objective is undecided and none has
failed, up to ``max``: it *meets* when every objective is met, *fails* when one failed, and
is *inconclusive* when ``max`` replications leave one undecided (it is not chosen; more
replications or a looser bound decide it). The intervals are recomputed after every step,
which the nominal level does not correct for (sequential looks); keep ``max`` modest.

**Censored medians.** A Kaplan-Meier median is reached only when the pooled survival curve
falls to 0.5. Its interval is Brookmeyer and Crowley's; an open upper end means the data do
not bound the median from above, so a ``<=`` objective cannot be met (it stays undecided
until more events arrive, or fails when even the lower end is above the bound). When the
lower band never falls to 0.5 either, the median lies beyond the longest time watched with
the stated confidence: a ``<=`` bound at or below that time has failed. The pooled
observations of one run share its estate, so these intervals are narrower than intervals
over runs would be.

Every candidate's runs use the same seeds (common random numbers): candidates differ by
their settings, not by their draws, and a plan resumes like a sweep (finished run folders
are kept). Results are the same whichever executor ran them.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.analysis.catalogue import did_you_mean, is_metric, unit_of
from sim.errors import Problem, ScenarioError
from sim.experiments.spec import Cell, resolved_value
from sim.scenario import Scenario, apply_overrides
from sim.scenario.bounds import StrictModel
from sim.scenario.units import Duration, PositiveDuration, parse_duration

MAX_CANDIDATES = 10_000
"""Most candidates a plan's grid may hold."""


class _Model(StrictModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Setting(_Model):
    """One candidate setting: its levels (least to most resource) and their cost."""

    levels: tuple[Any, ...] = Field(min_length=1, description="values, least to most resource")
    cost: float | None = Field(default=None, gt=0, description="cost per unit of the value")
    per: str | None = Field(
        default=None, description="another setting whose value multiplies this cost"
    )
    costs: tuple[float, ...] | None = Field(default=None, description="a cost per level")

    @model_validator(mode="after")
    def _one_cost(self) -> Setting:
        if (self.cost is None) == (self.costs is None):
            raise ValueError("expected exactly one of cost (per unit) or costs (per level)")
        if self.costs is not None:
            if len(self.costs) != len(self.levels):
                raise ValueError(
                    f"costs has {len(self.costs)} entries for {len(self.levels)} levels"
                )
            if any(not math.isfinite(c) or c < 0 for c in self.costs):
                raise ValueError("costs must be finite and not negative")
        if self.per is not None and self.cost is None:
            raise ValueError("per needs a per-unit cost")
        return self


class Replications(_Model):
    """Sequential replications of one candidate."""

    min: int = Field(default=3, ge=2, le=1000, description="replications every candidate gets")
    max: int = Field(default=12, ge=2, le=1000, description="most replications of a candidate")
    step: int = Field(default=2, ge=1, le=1000, description="replications added at a time")

    @model_validator(mode="after")
    def _order(self) -> Replications:
        if self.max < self.min:
            raise ValueError("max must be at least min")
        return self


_OBJECTIVE = re.compile(r"^\s*(?P<key>[A-Za-z0-9_.]+)\s*(?P<op><=|>=|<|>)\s*(?P<bound>.+?)\s*$")
_SCALED = re.compile(r"^(?:(?P<f>[0-9.eE+-]+)\s*\*\s*)?hosts$")


@dataclass(frozen=True)
class Objective:
    """``metric op bound``; ``bound`` in the metric's unit, times the candidate's trusted
    hosts when ``per_host``."""

    text: str
    metric: str
    op: Literal["<=", "<", ">=", ">"]
    bound: float
    per_host: bool = False

    def limit(self, hosts: int) -> float:
        """The bound for a candidate with ``hosts`` trusted hosts."""
        return self.bound * hosts if self.per_host else self.bound

    @property
    def upper(self) -> bool:
        """Whether the bound is an upper one (the metric must stay below it)."""
        return self.op in ("<=", "<")


def parse_objective(text: str) -> Objective:
    """An objective from its text (ValueError with what was expected, naming close metric
    keys when the key is not one)."""
    m = _OBJECTIVE.match(text)
    if m is None:
        raise ValueError(
            f"expected 'METRIC OP BOUND' such as 'attestation.latency_s.p95 <= 2s', found {text!r}"
        )
    key, op, bound = m["key"], m["op"], m["bound"]
    if not is_metric(key):
        raise ValueError(f"unknown metric {key!r}{did_you_mean(key)} (see vtasim metrics)")
    scaled = _SCALED.match(bound)
    if scaled is not None:
        try:
            factor = float(scaled["f"]) if scaled["f"] else 1.0
        except ValueError:
            raise ValueError(f"expected a number before '* hosts', found {bound!r}") from None
        return Objective(text.strip(), key, op, factor, per_host=True)  # type: ignore[arg-type]
    try:
        value = float(bound)
    except ValueError:
        if unit_of(key) != "s":
            raise ValueError(
                f"expected a number (the metric's unit is {unit_of(key)}) or 'F * hosts', "
                f"found {bound!r}"
            ) from None
        try:
            value = parse_duration(bound)
        except ValueError as exc:
            raise ValueError(f"expected a duration such as 2s or 20m: {exc}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a finite bound, found {bound!r}")
    return Objective(text.strip(), key, op, value)  # type: ignore[arg-type]


class PlanSpec(_Model):
    """A validated plan file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="the plan's name")
    description: str = Field(default="", description="what the plan is for, in words")
    scenario: str = Field(description="the scenario file, relative to the plan file")
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="root seed of every run")
    until: PositiveDuration | None = Field(default=None, description="shorten every run")
    warmup: Duration | None = Field(default=None, description="leave out records before this")
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="joint confidence over all objectives"
    )
    replications: Replications = Field(
        default_factory=Replications,
        description="sequential replications per candidate: {min, max, step}",
    )
    monotone: bool = Field(
        default=True, description="skip candidates dominated by a failed one (see the doc)"
    )
    candidates: dict[str, Setting] = Field(
        min_length=1, description="dotted scenario path -> its levels and cost"
    )
    objectives: tuple[str, ...] = Field(min_length=1, description="'METRIC OP BOUND' each")

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        errors = []
        for i, text in enumerate(v):
            try:
                parse_objective(text)
            except ValueError as exc:
                errors.append(f"[{i}] {exc}")
        if errors:
            raise ValueError("; ".join(errors))
        return v

    @field_validator("candidates")
    @classmethod
    def _candidates(cls, v: dict[str, Setting]) -> dict[str, Setting]:
        for path, s in v.items():
            if path in ("seed", "duration", "warmup"):
                raise ValueError(f"{path!r} cannot be a candidate setting (the plan sets it)")
            if s.per is not None and s.per not in v:
                raise ValueError(f"{path}.per names {s.per!r}, which is not a candidate setting")
            if s.per == path:
                raise ValueError(f"{path}.per cannot name the setting itself")
        count = math.prod(len(s.levels) for s in v.values())
        if count > MAX_CANDIDATES:
            raise ValueError(f"{count:,} candidates, over the limit of {MAX_CANDIDATES:,}")
        return v

    def parsed_objectives(self) -> tuple[Objective, ...]:
        return tuple(parse_objective(t) for t in self.objectives)


@dataclass(frozen=True)
class Candidate:
    """One setting of the grid: its positions in the level lists, values, cost, scenario."""

    positions: tuple[int, ...]
    levels: tuple[tuple[str, Any], ...]
    cost: float
    scenario: Scenario
    hosts: int

    @property
    def cell(self) -> Cell:
        return Cell("", self.levels, self.scenario)

    @property
    def candidate_id(self) -> str:
        return self.cell.cell_id

    def dominated_by(self, other: Candidate) -> bool:
        """Whether every setting of this candidate is at or before ``other``'s."""
        return self.positions != other.positions and all(
            a <= b for a, b in zip(self.positions, other.positions, strict=True)
        )


@dataclass(frozen=True)
class Plan:
    """A plan file resolved into its candidates, cheapest first."""

    spec: PlanSpec
    path: Path | None
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    objectives: tuple[Objective, ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()


def _cost(spec: PlanSpec, numeric: dict[str, Any], pos: dict[str, int]) -> float:
    """A candidate's cost (see the module doc)."""
    total = 0.0
    for path, s in spec.candidates.items():
        if s.costs is not None:
            total += s.costs[pos[path]]
            continue
        assert s.cost is not None
        part = s.cost * float(numeric[path])
        if s.per is not None:
            part *= float(numeric[s.per])
        total += part
    return total


def parse_plan(
    data: Any,
    base_dir: Path,
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    allow_outside: bool = False,
) -> Plan:
    """Validate a plan mapping and expand it into candidates, cheapest first; every problem
    is reported at once, naming the plan field and the scenario field."""
    from sim.experiments.spec import _load_yaml
    from sim.scenario import parse_scenario, problems_from

    if not isinstance(data, dict):
        raise ScenarioError([Problem("", "a plan must be a YAML mapping")])
    try:
        spec = PlanSpec.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(problems_from(err, PlanSpec)) from None
    clash = sorted(set(overrides or {}) & set(spec.candidates))
    if clash:
        raise ScenarioError(
            [Problem(f, "is a candidate setting; --set cannot fix it") for f in clash]
        )
    base = _load_yaml(base_dir / spec.scenario, "scenario", allow_outside)
    fixed: dict[str, Any] = dict(overrides or {})
    if spec.warmup is not None:
        fixed["warmup"] = spec.warmup
    if spec.until is not None:
        fixed["duration"] = spec.until
    problems: list[Problem] = []
    numeric: dict[tuple[str, int], Any] = {}
    for name, s in spec.candidates.items():  # each level alone first: errors name the level
        for i, level in enumerate(s.levels):
            try:
                sc = parse_scenario(apply_overrides(base, {**fixed, name: level}))
            except ScenarioError as err:
                problems += [
                    Problem(f"candidates.{name}.levels[{i}]: {p.path}", p.message)
                    for p in err.problems
                ]
                continue
            value = resolved_value(sc, name)
            needs_number = s.cost is not None or any(
                o.per == name for o in spec.candidates.values()
            )
            if needs_number and (not isinstance(value, int | float) or isinstance(value, bool)):
                problems.append(
                    Problem(
                        f"candidates.{name}.levels[{i}]",
                        f"a per-unit cost needs a numeric value, found {level!r}; "
                        "give costs: per level instead",
                    )
                )
            numeric[(name, i)] = value
    if problems:
        raise ScenarioError(problems)
    names = list(spec.candidates)
    found: list[Candidate] = []
    for combo in itertools.product(*(range(len(spec.candidates[n].levels)) for n in names)):
        pos = dict(zip(names, combo, strict=True))
        values = {n: spec.candidates[n].levels[i] for n, i in pos.items()}
        try:
            sc = parse_scenario(apply_overrides(base, {**fixed, **values}))
        except ScenarioError as err:
            label = ", ".join(f"{n}={v!r}" for n, v in values.items())
            problems += [Problem(f"candidates[{label}]: {p.path}", p.message) for p in err.problems]
            continue
        cost = _cost(spec, {n: numeric[(n, i)] for n, i in pos.items()}, pos)
        hosts = len(sc.host_names())
        found.append(Candidate(combo, tuple(values.items()), cost, sc, hosts))
    if problems:
        raise ScenarioError(problems)
    order = sorted(range(len(found)), key=lambda i: (found[i].cost, i))
    return Plan(
        spec,
        path,
        tuple(found[i] for i in order),
        spec.parsed_objectives(),
        tuple((overrides or {}).items()),
    )


def load_plan(
    path: str | Path, overrides: dict[str, Any] | None = None, *, allow_outside: bool = False
) -> Plan:
    """Read, validate and expand a plan file."""
    from sim.experiments.spec import _load_yaml

    p = Path(path)
    return parse_plan(_load_yaml(p, ""), p.parent, p, overrides, allow_outside=allow_outside)


def is_plan_data(data: Any) -> bool:
    """Whether a parsed YAML mapping is a plan file (it has candidates and objectives)."""
    return isinstance(data, dict) and "candidates" in data and "objectives" in data


def plan_digest(plan: Plan) -> str:
    """A short digest of what the plan's runs depend on (its identity in its folder)."""
    text = repr((plan.spec.model_dump(mode="json"), plan.overrides))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_json_schema() -> dict[str, Any]:
    """The JSON Schema of the plan file format (``vtasim schema --plan``)."""
    schema = PlanSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "vtasim plan"
    return schema
