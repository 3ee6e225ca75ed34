"""Global sensitivity designs of a sweep: Latin hypercube, Morris elementary effects and
Sobol indices over ranges or level lists of scenario fields, through SALib.

A sweep's ``design:`` replaces the full grid of ``factors:`` by a sample of points::

    design:
      kind: morris                  # grid (the default: use factors:), latin_hypercube,
                                    # morris or sobol
      samples: 6                    # latin_hypercube: points; morris: trajectories;
                                    # sobol: base samples N (a power of two)
      levels: 4                     # morris: grid levels of each factor (even)
      second_order: false           # sobol: also the pairwise indices S2
      resamples: 200                # bootstrap resamples of the confidence intervals
      confidence: 0.95
      factors:
        attestation.interval: {range: [1m, 15m]}      # numeric: durations, sizes, rates...
        trust_authority.hosts: {range: [1, 5]}        # a whole-number field: rounded (below)
        attestation.revocation: {levels: [none, push]}  # any values, one of them per point

Every factor is sampled on the unit interval ``u`` in [0, 1] (SALib's problem has bounds
[0, 1] for each), and mapped to a value:

- ``range: [low, high]`` on a field holding a number with a fraction (a duration, a rate, a
  fixed distribution such as a latency): ``low + u * (high - low)``, kept to 6 significant
  digits (so a point's identity is readable and stable);
- ``range: [low, high]`` on a whole-number field (trust-authority hosts, workers, KMS
  servers): the ``high - low + 1`` whole numbers share the unit interval equally,
  ``low + min(floor(u * (high - low + 1)), high - low)``, so each is equally likely and the
  ends are reached;
- ``levels: [...]``: the same rule over the list's positions.

The endpoints of a range are read by the scenario's own parsers (``2m`` is 120 seconds, a
fixed latency ``1ms`` is 0.001 s), by setting each endpoint in the base scenario and reading
the resolved field back, so a range names a real field with valid values or is refused with
the field's path. Points that map to the same values (whole numbers, levels, Morris grids)
are one cell of the sweep, run once: the analysis gives each design row its cell's figure.

The sample is drawn with a seed spawned from the sweep's root seed, so one sweep file gives
the same points every time; the sweep's runs use common random numbers (replication ``r`` of
every point has the same seed), so points differ by their settings, not by their draws.
Each point's response is its cell's figure in ``cells.csv`` (the mean over replications, or
the Kaplan-Meier figure pooled over them), and :func:`analyse` turns the responses into
indices: for ``morris`` ``mu``, ``mu_star`` (with its bootstrap interval) and ``sigma``; for
``sobol`` ``S1`` and ``ST`` (and ``S2`` per pair) with bootstrap intervals; for
``latin_hypercube`` RBD-FAST's first-order ``S1`` with its bootstrap interval. Elementary
effects are per unit of the factor's range (the whole range is 1), so ``mu_star`` compares
factors of different units.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from sim.scenario.bounds import StrictModel

DESIGN_KINDS: tuple[str, ...] = ("grid", "latin_hypercube", "morris", "sobol")
"""The ``design.kind`` values: the full grid of ``factors:`` or a sampled design."""

SENSITIVITY_FILE = "sensitivity.csv"
DESIGN_FILE = "design.csv"
SENSITIVITY_COLUMNS: tuple[str, ...] = (
    "metric", "design", "factor", "index", "value", "conf", "ci_low", "ci_high",
    "confidence", "points", "note",
)  # fmt: skip
"""The columns of ``sensitivity.csv``: one row per metric, factor (``a, b`` for a pair) and
index kind; ``conf`` is the half-width SALib's bootstrap gives at ``confidence``,
``ci_low``/``ci_high`` the value -/+ ``conf``; ``points`` the design rows with a defined
response; ``note`` why a metric has no indices (undefined at some points, constant)."""

MAIN_INDEX = {"morris": "mu_star", "sobol": "ST", "latin_hypercube": "S1"}
"""The index a factor is ranked by, per design kind (the tornado figure's bars)."""

DESIGN_SEED_KEY = 0x5A1B
ANALYSIS_SEED_KEY = 0x5A1C
"""Spawn keys (under the sweep's root seed) of the sample and of the bootstrap."""

DIGITS = 6
"""Significant digits kept of a continuous factor's value."""


class DesignFactor(StrictModel):
    """One factor of a sampled design: a numeric ``range`` or a list of ``levels``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    range: tuple[Any, Any] | None = Field(
        default=None, description="[low, high] of a numeric field, in the field's units"
    )
    levels: tuple[Any, ...] | None = Field(
        default=None, min_length=2, description="the values to choose from (any field)"
    )

    @model_validator(mode="after")
    def _one(self) -> DesignFactor:
        if (self.range is None) == (self.levels is None):
            raise ValueError("expected exactly one of range: [low, high] or levels: [...]")
        return self


class Design(StrictModel):
    """A sweep's design: the full grid, or a sample of points for a sensitivity analysis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["grid", "latin_hypercube", "morris", "sobol"] = Field(
        default="grid", description="grid (factors:), latin_hypercube, morris or sobol"
    )
    factors: dict[str, DesignFactor] = Field(
        default_factory=dict, description="dotted scenario path -> {range} or {levels}"
    )
    samples: int = Field(
        default=8,
        ge=2,
        le=4096,
        description="latin_hypercube: points; morris: trajectories; sobol: N (a power of 2)",
    )
    levels: int = Field(default=4, ge=2, le=16, description="morris: grid levels (even)")
    second_order: bool = Field(default=False, description="sobol: also pairwise indices S2")
    resamples: int = Field(
        default=200, ge=10, le=10_000, description="bootstrap resamples of the intervals"
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="level of the bootstrap intervals"
    )

    @model_validator(mode="after")
    def _check(self) -> Design:
        if self.kind == "grid":
            if self.factors:
                raise ValueError(
                    "design.factors needs a sampled design (kind latin_hypercube, morris or "
                    "sobol); a grid takes its levels from factors:"
                )
            return self
        if not self.factors:
            raise ValueError(f"a {self.kind} design needs design.factors")
        if self.kind == "morris" and self.levels % 2:
            raise ValueError("morris levels must be even (SALib's grid jump is levels/2)")
        if self.kind == "sobol" and self.samples & (self.samples - 1):
            raise ValueError("sobol samples must be a power of two (Sobol' sequence balance)")
        if self.kind == "latin_hypercube" and self.samples < 8:
            raise ValueError("a latin_hypercube design needs at least 8 samples (RBD-FAST)")
        if self.kind == "sobol" and len(self.factors) < 2:
            raise ValueError("a sobol design needs at least two factors")
        return self

    @property
    def sampled(self) -> bool:
        """Whether the design samples points (anything but the grid)."""
        return self.kind != "grid"

    def points(self) -> int:
        """How many design rows the sample has (before equal points are merged)."""
        k = len(self.factors)
        if self.kind == "latin_hypercube":
            return self.samples
        if self.kind == "morris":
            return self.samples * (k + 1)
        if self.kind == "sobol":
            return self.samples * ((2 * k + 2) if self.second_order else (k + 2))
        return 0


@dataclass(frozen=True)
class Axis:
    """A design factor resolved against the scenario: how a unit value maps to a value."""

    path: str
    kind: Literal["continuous", "integer", "levels"]
    low: float = 0.0
    high: float = 1.0
    levels: tuple[Any, ...] = ()

    def value(self, u: float) -> Any:
        """The factor's value at unit coordinate ``u`` (see the module doc)."""
        u = min(max(float(u), 0.0), 1.0)
        if self.kind == "continuous":
            v = self.low + u * (self.high - self.low)
            return float(f"{v:.{DIGITS}g}")
        if self.kind == "integer":
            span = int(self.high) - int(self.low)
            return int(self.low) + min(math.floor(u * (span + 1)), span)
        k = len(self.levels)
        return self.levels[min(math.floor(u * k), k - 1)]


@dataclass(frozen=True)
class DesignPoints:
    """A sampled design: the unit sample (rows x factors) and each row's values."""

    kind: str
    names: tuple[str, ...]
    unit: np.ndarray
    values: tuple[tuple[Any, ...], ...]


def spawn_seed(root: int, key: int) -> int:
    """A 32-bit seed spawned from ``root`` by ``key`` (numpy SeedSequence)."""
    seq = np.random.SeedSequence(root, spawn_key=(key,))
    return int(seq.generate_state(1, dtype=np.uint32)[0])


def problem(names: Sequence[str]) -> dict[str, Any]:
    """SALib's problem: every factor on the unit interval."""
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def unit_sample(design: Design, names: Sequence[str], seed: int) -> np.ndarray:
    """The design's sample on the unit cube (rows x factors), drawn by SALib with ``seed``."""
    from SALib.sample import latin, morris, sobol

    prob = problem(names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib's notes on sample sizes; checked above
        if design.kind == "latin_hypercube":
            x = latin.sample(prob, design.samples, seed=seed)
        elif design.kind == "morris":
            x = morris.sample(prob, design.samples, num_levels=design.levels, seed=seed)
        elif design.kind == "sobol":
            x = sobol.sample(prob, design.samples, calc_second_order=design.second_order, seed=seed)
        else:
            raise ValueError(f"design kind {design.kind!r} has no sample")
    return np.asarray(x, dtype=float)


def sample(design: Design, axes: Sequence[Axis], root_seed: int) -> DesignPoints:
    """The design's points: the unit sample and each row mapped through ``axes``."""
    names = tuple(a.path for a in axes)
    x = unit_sample(design, names, spawn_seed(root_seed, DESIGN_SEED_KEY))
    values = tuple(tuple(a.value(u) for a, u in zip(axes, row, strict=True)) for row in x)
    return DesignPoints(design.kind, names, x, values)


def _rows(
    kind: str, names: Sequence[str], result: Mapping[str, Any], keys: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    out = []
    for index, conf_key in keys:
        for i, name in enumerate(names):
            value = float(result[index][i])
            conf = float(result[conf_key][i]) if conf_key else None
            out.append(_row(kind, name, index, value, conf))
    return out


def _row(kind: str, factor: str, index: str, value: float, conf: float | None) -> dict[str, Any]:
    ok = math.isfinite(value)
    c = conf if conf is not None and math.isfinite(conf) else None
    return {
        "design": kind,
        "factor": factor,
        "index": index,
        "value": value if ok else None,
        "conf": c,
        "ci_low": value - c if ok and c is not None else None,
        "ci_high": value + c if ok and c is not None else None,
        "note": "" if ok else "SALib gave no finite value",
    }


def analyse(
    design: Design,
    names: Sequence[str],
    unit: np.ndarray,
    y: Sequence[float | None],
    seed: int,
) -> list[dict[str, Any]]:
    """The sensitivity indices of one response ``y`` (one value per design row, None where
    undefined) over the unit sample ``unit``, as rows of :data:`SENSITIVITY_COLUMNS` without
    ``metric``, ``confidence`` and ``points``. A response undefined at any row gets one row
    with a note and no indices (the designs need every row); a constant one gets indices 0
    for Morris (no effect) and a note for the variance-based designs (nothing to share)."""
    from SALib.analyze import morris, rbd_fast, sobol

    values = [math.nan if v is None else float(v) for v in y]
    arr = np.asarray(values, dtype=float)
    missing = int(np.count_nonzero(~np.isfinite(arr)))
    if missing:
        return [_note(design.kind, f"undefined at {missing} of {len(arr)} design points")]
    if float(np.ptp(arr)) <= 1e-12 * max(1.0, float(np.max(np.abs(arr)))):
        if design.kind == "morris":
            return [
                _row(design.kind, n, idx, 0.0, 0.0 if idx == "mu_star" else None)
                for idx in ("mu", "mu_star", "sigma")
                for n in names
            ]
        return [_note(design.kind, "the same at every design point: no variance to share")]
    prob = problem(names)
    common = {"num_resamples": design.resamples, "conf_level": design.confidence, "seed": seed}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if design.kind == "morris":
            res = morris.analyze(prob, unit, arr, num_levels=design.levels, **common)
            return _rows(
                design.kind, names, res, [("mu", ""), ("mu_star", "mu_star_conf"), ("sigma", "")]
            )
        if design.kind == "sobol":
            res = sobol.analyze(prob, arr, calc_second_order=design.second_order, **common)
            rows = _rows(design.kind, names, res, [("S1", "S1_conf"), ("ST", "ST_conf")])
            if design.second_order:
                for i, a in enumerate(names):
                    for j in range(i + 1, len(names)):
                        rows.append(
                            _row(
                                design.kind,
                                f"{a}, {names[j]}",
                                "S2",
                                float(res["S2"][i][j]),
                                float(res["S2_conf"][i][j]),
                            )
                        )
            return rows
        # RBD-FAST's bias correction divides by 1 - 2M/N, and its bootstrap resamples half
        # the points: M below N/4 keeps both defined
        m = max(1, min(10, (len(arr) - 1) // 4))
        res = rbd_fast.analyze(prob, unit, arr, M=m, **common)
        return _rows(design.kind, names, res, [("S1", "S1_conf")])


def _note(kind: str, text: str) -> dict[str, Any]:
    return {
        "design": kind,
        "factor": "",
        "index": "",
        "value": None,
        "conf": None,
        "ci_low": None,
        "ci_high": None,
        "note": text,
    }


def sensitivity_table(
    design: Design,
    points: DesignPoints,
    responses: Mapping[str, Sequence[float | None]],
    root_seed: int,
) -> list[dict[str, Any]]:
    """``sensitivity.csv``'s rows: :func:`analyse` for each metric's responses (one per
    design row), the bootstrap seeded from ``root_seed``."""
    seed = spawn_seed(root_seed, ANALYSIS_SEED_KEY)
    out: list[dict[str, Any]] = []
    for metric, y in responses.items():
        defined = sum(1 for v in y if v is not None and math.isfinite(float(v)))
        for row in analyse(design, points.names, points.unit, y, seed):
            out.append(
                {"metric": metric, **row, "confidence": design.confidence, "points": defined}
            )
    return out
