"""Sweep files: a base scenario, factors over scenario fields, named variants and
replications, expanded into a deterministic list of runs.

```yaml
name: interval-sweep
base: ../baseline.yaml            # relative to this file
seed: 42                          # the sweep's root seed
until: 6h                         # optional: shorten every run
warmup: 30m                       # optional: records before this are not counted
factors:                          # a full grid over dotted scenario paths
  attestation.interval: [1m, 5m, 15m]
  attestation.revocation: [none, push]
variants:                         # optional named alternatives (each crossed with the grid)
  one-vcenter: {}
  two-sites: {overrides: {network.sites: [{name: dc1}, {name: dc2}], ...}}
  large: {scenario: ../large.yaml, overrides: {...}}
replications: 5                   # or {min: 3, max: 20, metric: drift.time_to_lapse_s.mean,
                                  #     half_width: 30s}
common_random_numbers: false      # optional: true keys seeds by replication only
metrics: [drift.time_to_lapse_s.mean, attestation.latency_s.p95]   # optional
design: {kind: grid}              # optional; or a sampled design instead of factors:
                                  # {kind: morris | sobol | latin_hypercube, samples: 6,
                                  #  factors: {attestation.interval: {range: [1m, 15m]},
                                  #            attestation.revocation: {levels: [none, push]}}}
```

A sampled design (:mod:`sim.experiments.design`) takes no ``factors:`` or ``variants:``;
its cells are the distinct points of the sample, and it always uses common random numbers.

Every run is validated before anything runs, so a typo in a factor path is reported with the
path of the sweep field and of the scenario field. Replication seeds are spawned from the
sweep's root seed by numpy ``SeedSequence`` keyed by the cell and replication, so each run has
its own seed and a run's seed does not depend on which other cells exist. With
``common_random_numbers: true`` they are keyed by the replication only: replication r of
every cell runs with the same seed, so cells differ by their settings, not by their draws
(common random numbers, for comparing variants such as attestation regimes).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.analysis.summary import HEADLINE_KEYS, is_metric
from sim.errors import Problem, ScenarioError
from sim.experiments.design import Axis, Design, DesignPoints, sample
from sim.scenario import Scenario, apply_overrides
from sim.scenario.bounds import StrictModel
from sim.scenario.compose import confined, resolve_extends
from sim.scenario.units import Duration, PositiveDuration, parse_duration
from sim.scenario.yaml_safe import load_yaml_file

DEFAULT_METRICS: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            *HEADLINE_KEYS,
            "attestation.latency_s.mean",
            "vmotion.encrypted_duration_s.mean",
            "vmotion.plain_duration_s.mean",
        )
    )
)
"""What a sweep records per run unless it names its ``metrics``: the headline figures plus
a few more for comparisons."""


MAX_REPLICATIONS = 10_000
"""Most replications of one cell (fixed, or the maximum of sequential replications)."""


class _Model(StrictModel):
    """Unknown keys forbidden; numbers strict (``replications: "3"`` is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_Model):
    """A named alternative: another scenario file and/or overrides of the base."""

    scenario: str | None = Field(
        default=None, description="another scenario file, relative to the sweep file"
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="dotted scenario paths set for this variant"
    )


class Sequential(_Model):
    """Replicate until the 95% CI half-width of ``metric`` is below ``half_width``."""

    min: int = Field(default=3, ge=2, le=1000, description="replications every cell gets")
    max: int = Field(
        default=20, ge=2, le=MAX_REPLICATIONS, description="most replications of one cell"
    )
    metric: str = Field(description="dotted summary key whose CI half-width decides")
    half_width: float = Field(gt=0, description="in the metric's unit (seconds for *_s)")
    relative: bool = Field(default=False, description="half_width as a fraction of the mean")

    @model_validator(mode="before")
    @classmethod
    def _units(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("half_width"), str):
            data = {**data, "half_width": parse_duration(data["half_width"])}
        return data

    @model_validator(mode="after")
    def _order(self) -> Sequential:
        if self.max < self.min:
            raise ValueError("max must be at least min")
        return self


class SweepSpec(_Model):
    """A validated sweep file."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="the sweep's name (its folder)"
    )
    description: str = Field(default="", description="what the sweep is for, in words")
    base: str = Field(description="the base scenario file, relative to the sweep file")
    seed: int = Field(
        default=0, ge=0, le=2**63 - 1, description="root seed every run's seed is spawned from"
    )
    until: PositiveDuration | None = Field(
        default=None, description="shorten every run to this simulated time"
    )
    warmup: Duration | None = Field(
        default=None, description="leave out records before this in every run"
    )
    factors: dict[str, list[Any]] = Field(
        default_factory=dict, description="dotted scenario path -> its levels (a full grid)"
    )
    variants: dict[str, Variant] = Field(
        default_factory=dict, description="named alternatives, each crossed with the grid"
    )
    replications: Annotated[int, Field(ge=1, le=MAX_REPLICATIONS)] | Sequential = Field(
        default=3, description="runs per cell, or a sequential rule {min, max, metric, half_width}"
    )
    common_random_numbers: bool = Field(
        default=False,
        description="seeds keyed by replication only: every cell's replication r shares one",
    )
    metrics: tuple[str, ...] = Field(
        default=DEFAULT_METRICS, description="dotted summary keys recorded per run"
    )
    design: Design = Field(
        default_factory=Design,
        description="grid (the full grid of factors), or a sampled design for a sensitivity "
        "analysis: latin_hypercube, morris or sobol over design.factors",
    )

    @field_validator("replications", mode="before")
    @classmethod
    def _replications(cls, v: Any) -> Any:
        # One clear message instead of one per member of the int | Sequential union.
        if isinstance(v, dict):
            return v
        if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_REPLICATIONS:
            return v
        raise ValueError(
            f"expected a whole number of replications from 1 to at most {MAX_REPLICATIONS}, "
            "or a mapping {min, max, metric, half_width}"
        )

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        _check_metrics(v)
        return v

    @model_validator(mode="after")
    def _check(self) -> SweepSpec:
        for path, values in self.factors.items():
            if not values:
                raise ValueError(f"factor {path!r} has no values")
        if isinstance(self.replications, int) and self.replications < 1:
            raise ValueError("replications must be at least 1")
        if self.design.sampled and (self.factors or self.variants):
            raise ValueError(
                f"a {self.design.kind} design samples its own points: give its factors under "
                "design.factors, not factors: or variants: (run one sweep per variant)"
            )
        fixed = ["seed"] + (["duration"] if self.until is not None else [])
        changed = [
            *self.factors,
            *self.design.factors,
            *(k for v in self.variants.values() for k in v.overrides),
        ]
        for path in changed:
            if path in fixed:
                raise ValueError(
                    f"{path!r} cannot vary: the sweep sets it for every run "
                    "(seeds come from the sweep's seed; duration from until)"
                )
        if isinstance(self.replications, Sequential):
            _check_metrics([self.replications.metric])
        return self


def _check_metrics(wanted: Sequence[str]) -> None:
    """ValueError naming every key that is not a summary figure, with close keys."""
    unknown = [m for m in wanted if not is_metric(m)]
    if unknown:
        from sim.analysis.catalogue import did_you_mean

        hints = "".join(did_you_mean(m) for m in unknown)
        raise ValueError(
            f"unknown metric(s) {', '.join(map(repr, unknown))}{hints} (use dotted summary "
            "keys such as drift.time_to_lapse_s.mean or services.kms.utilisation)"
        )


@dataclass(frozen=True)
class Cell:
    """One combination of variant and factor levels."""

    variant: str
    levels: tuple[tuple[str, Any], ...]
    scenario: Scenario

    @property
    def cell_id(self) -> str:
        """A readable, file-system-safe id, unique within the sweep."""
        parts = [f"{self.variant}"] if self.variant else []
        parts += [f"{k.rsplit('.', 1)[-1]}={_label(v)}" for k, v in self.levels]
        text = "__".join(parts) or "base"
        slug = re.sub(r"[^A-Za-z0-9_.=-]+", "-", text)[:100]
        digest = hashlib.sha256(repr((self.variant, self.levels)).encode()).hexdigest()[:6]
        return f"{slug}-{digest}"

    def seed(self, root: int, replication: int, common: bool = False) -> int:
        """The seed of replication ``replication`` of this cell under sweep seed ``root``
        (``common``: the same for every cell, keyed by the replication only)."""
        key = hashlib.sha256(self.cell_id.encode()).digest()
        words = tuple(int.from_bytes(key[i : i + 4], "big") for i in range(0, 16, 4))
        spawn = (replication,) if common else (*words, replication)
        seq = np.random.SeedSequence(root, spawn_key=spawn)
        hi, lo = (int(x) for x in seq.generate_state(2, dtype=np.uint32))
        return ((hi << 32) | lo) & (2**63 - 1)


@dataclass(frozen=True)
class Sweep:
    """A sweep file resolved into its cells."""

    spec: SweepSpec
    path: Path | None
    cells: tuple[Cell, ...] = field(default_factory=tuple)
    overrides: tuple[tuple[str, Any], ...] = ()
    """The ``--set`` assignments applied to every cell, in the order given."""
    points: DesignPoints | None = None
    """A sampled design's points (None for the grid); cells are its distinct points."""
    row_cells: tuple[str, ...] = ()
    """The cell id of each design row (rows with equal values share a cell)."""

    @property
    def common_seeds(self) -> bool:
        """Whether every cell's replication r shares one seed: asked for by
        ``common_random_numbers``, and always so for a sampled design (its points must
        differ by their settings only, or the indices measure the noise)."""
        return self.spec.common_random_numbers or self.spec.design.sampled

    @property
    def factor_names(self) -> tuple[str, ...]:
        """The dotted paths that vary between cells: the grid's factors or the design's."""
        return tuple(self.spec.factors) or tuple(self.spec.design.factors)

    @property
    def initial_replications(self) -> int:
        """Replications every cell gets first."""
        r = self.spec.replications
        return r if isinstance(r, int) else r.min


def _label(value: Any) -> str:
    if isinstance(value, dict | list):
        return hashlib.sha256(repr(value).encode()).hexdigest()[:8]
    return str(value)


def _load_yaml(path: Path, where: str, allow_outside: bool = False) -> dict[str, Any]:
    """A YAML mapping from ``path`` (read by the bounded, strict loader; a scenario named
    by a sweep field confined to the sweep file's folder or the current one, as ``extends``
    is); problems are reported at ``where`` (the sweep field that named the file) with the
    file's name."""
    if where:
        confined(path.parent, path.name, where, allow_outside)
    try:
        data = load_yaml_file(path)
    except ScenarioError as err:
        if not where:
            raise
        raise ScenarioError(
            Problem(where, f"{path}: {p.path}: {p.message}" if p.path else p.message)
            for p in err.problems
        ) from None
    if not isinstance(data, dict):
        raise ScenarioError([Problem(where, f"{path}: expected a YAML mapping")])
    if where:  # a scenario file: resolve its extends
        try:
            resolved: dict[str, Any] = resolve_extends(
                data, path.parent, (path,), allow_outside=allow_outside
            )
        except ScenarioError as err:
            raise ScenarioError(
                Problem(where, f"{path}: {p.path}: {p.message}") for p in err.problems
            ) from None
        return resolved
    return data


def parse_sweep(
    data: Any,
    base_dir: Path,
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    allow_outside: bool = False,
    max_runs: int | None = None,
) -> Sweep:
    """Validate a sweep mapping and expand it into cells (scenario files relative to
    ``base_dir``, their ``extends`` resolved). ``overrides`` (dotted path -> value, such as
    ``--set``) apply to every cell after its variant's overrides; a factor cannot be
    overridden. Every problem of every cell is reported at once. With ``max_runs`` a grid
    of more runs (cells x replications) is refused before any cell is expanded."""
    from sim.scenario import parse_scenario, problems_from

    if not isinstance(data, dict):
        raise ScenarioError([Problem("", "a sweep must be a YAML mapping")])
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(problems_from(err, SweepSpec)) from None
    fixed = sorted(set(overrides or {}) & (set(spec.factors) | set(spec.design.factors)))
    if fixed:
        raise ScenarioError(
            [Problem(f, "is a factor of the sweep; --set cannot fix it") for f in fixed]
        )
    variants = spec.variants or {"": Variant()}
    names = list(spec.factors)
    _check_grid(spec, len(variants), max_runs)
    base = _load_yaml(base_dir / spec.base, "base", allow_outside)
    if spec.design.sampled:
        return _design_sweep(spec, base, path, overrides or {})
    problems: list[Problem] = []
    cells: list[Cell] = []
    for vname, variant in variants.items():
        source = base
        where = f"variants.{vname}" if vname else "base"
        if variant.scenario is not None:
            source = _load_yaml(base_dir / variant.scenario, f"{where}.scenario", allow_outside)
        for combo in itertools.product(*(spec.factors[n] for n in names)):
            changes: dict[str, Any] = dict(variant.overrides)
            changes.update(overrides or {})
            changes.update(zip(names, combo, strict=True))
            if spec.warmup is not None:
                changes["warmup"] = spec.warmup
            if spec.until is not None:  # so the run-length rules (warm-up, drift) apply
                changes["duration"] = spec.until
            try:
                data_i = apply_overrides(source, changes)
                scenario = parse_scenario(data_i)
            except ScenarioError as err:
                label = ", ".join(f"{n}={v!r}" for n, v in zip(names, combo, strict=True))
                for p in err.problems:
                    prefix = f"{where}[{label}]" if label else where
                    problems.append(Problem(f"{prefix}: {p.path}", p.message))
                continue
            cells.append(Cell(vname, tuple(zip(names, combo, strict=True)), scenario))
    if problems:
        raise ScenarioError(problems)
    ids = [c.cell_id for c in cells]
    if len(set(ids)) != len(ids):
        raise ScenarioError([Problem("factors", "two cells resolve to the same id")])
    return Sweep(spec, path, tuple(cells), tuple((overrides or {}).items()))


def _fixed_changes(spec: SweepSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    """What every cell sets besides its levels: ``--set``, warm-up and run length."""
    changes: dict[str, Any] = dict(overrides)
    if spec.warmup is not None:
        changes["warmup"] = spec.warmup
    if spec.until is not None:
        changes["duration"] = spec.until
    return changes


def resolved_value(scenario: Scenario, path: str) -> Any:
    """The value of dotted ``path`` in the resolved scenario (durations in seconds, sizes in
    bytes; a fixed distribution as its value), or None when the path holds nothing."""
    node: Any = scenario.model_dump(mode="python")
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    if isinstance(node, dict) and node.get("dist") == "fixed":
        return node.get("value")
    return node


def _axes(
    spec: SweepSpec, base: dict[str, Any], overrides: dict[str, Any]
) -> tuple[list[Axis], list[Problem]]:
    """Each design factor resolved against the base scenario: every level and both ends of
    every range set in turn and parsed, so a wrong path or value is reported at its design
    field; a range's ends read back as numbers, a whole-number field kept whole."""
    from sim.scenario import parse_scenario

    fixed = _fixed_changes(spec, overrides)
    axes: list[Axis] = []
    problems: list[Problem] = []

    def parsed(path: str, value: Any, where: str) -> Any:
        try:
            scenario = parse_scenario(apply_overrides(base, {**fixed, path: value}))
        except ScenarioError as err:
            problems.extend(Problem(f"{where}: {p.path}", p.message) for p in err.problems)
            return None
        return resolved_value(scenario, path)

    for path, factor in spec.design.factors.items():
        where = f"design.factors.{path}"
        if factor.levels is not None:
            before = len(problems)
            for i, level in enumerate(factor.levels):
                parsed(path, level, f"{where}.levels[{i}]")
            if len(problems) == before:
                axes.append(Axis(path, "levels", levels=tuple(factor.levels)))
            continue
        assert factor.range is not None
        ends = [parsed(path, v, f"{where}.range[{i}]") for i, v in enumerate(factor.range)]
        if any(e is None for e in ends):
            if not problems:
                problems.append(Problem(where, "the range's field holds nothing to vary"))
            continue
        if not all(isinstance(e, int | float) and not isinstance(e, bool) for e in ends):
            problems.append(
                Problem(
                    f"{where}.range",
                    f"expected a numeric field (a number, duration, size, rate or fixed "
                    f"distribution), found {type(ends[0]).__name__}; give levels: instead",
                )
            )
            continue
        low, high = float(ends[0]), float(ends[1])
        if not low < high:
            problems.append(
                Problem(f"{where}.range", f"expected low < high, found {low:g} .. {high:g}")
            )
            continue
        whole = all(isinstance(e, int) for e in ends)
        axes.append(Axis(path, "integer" if whole else "continuous", low, high))
    return axes, problems


def _design_sweep(
    spec: SweepSpec, base: dict[str, Any], path: Path | None, overrides: dict[str, Any]
) -> Sweep:
    """A sampled design's sweep: one cell per distinct point of the sample (see
    :mod:`sim.experiments.design`)."""
    from sim.scenario import parse_scenario

    axes, problems = _axes(spec, base, overrides)
    if problems:
        raise ScenarioError(problems)
    points = sample(spec.design, axes, spec.seed)
    fixed = _fixed_changes(spec, overrides)
    cells: dict[tuple[tuple[str, Any], ...], Cell] = {}
    row_cells: list[str] = []
    for values in points.values:
        levels = tuple(zip(points.names, values, strict=True))
        if levels not in cells:
            try:
                scenario = parse_scenario(apply_overrides(base, {**fixed, **dict(levels)}))
            except ScenarioError as err:
                label = ", ".join(f"{n}={v!r}" for n, v in levels)
                raise ScenarioError(
                    Problem(f"design[{label}]: {p.path}", p.message) for p in err.problems
                ) from None
            cells[levels] = Cell("", levels, scenario)
        row_cells.append(cells[levels].cell_id)
    return Sweep(
        spec,
        path,
        tuple(cells.values()),
        tuple(overrides.items()),
        points,
        tuple(row_cells),
    )


def _check_grid(spec: SweepSpec, variants: int, max_runs: int | None) -> None:
    """Refuse a grid of more than ``max_runs`` runs before expanding it (300 x 300 levels
    would otherwise be built and validated cell by cell just to be refused)."""
    rule = spec.replications
    runs = variants * (rule.max if isinstance(rule, Sequential) else rule)
    for levels in spec.factors.values():
        runs *= len(levels)
    if spec.design.sampled:
        runs *= spec.design.points()
    if max_runs is not None and runs > max_runs:
        raise ScenarioError(
            [
                Problem(
                    "factors",
                    f"the sweep would start {runs:,} runs, over the limit of {max_runs:,}; "
                    "use fewer levels or replications, or pass --force",
                )
            ]
        )


def load_sweep(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    *,
    allow_outside: bool = False,
    max_runs: int | None = None,
) -> Sweep:
    """Read, validate and expand a sweep file (``overrides``, ``allow_outside`` and
    ``max_runs`` as in :func:`parse_sweep`)."""
    p = Path(path)
    return parse_sweep(
        _load_yaml(p, ""), p.parent, p, overrides, allow_outside=allow_outside, max_runs=max_runs
    )


def is_sweep_data(data: Any) -> bool:
    """Whether a parsed YAML mapping is a sweep file (it names a ``base`` scenario) rather
    than a scenario."""
    return isinstance(data, dict) and "base" in data and "vcenters" not in data


def sweep_json_schema() -> dict[str, Any]:
    """The JSON Schema of the sweep file format (``vtasim schema --sweep``)."""
    schema = SweepSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "vtasim sweep"
    return schema
