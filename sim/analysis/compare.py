"""Two results side by side (``vtasim compare RUN_A RUN_B``).

Each side is a run folder (one run) or a sweep cell's folder (``<sweep>/runs/<cell id>``,
holding one run folder per replication). For every figure the table shows A, B, the
difference B − A and the relative change (B − A) / |A|. When both sides are sweep cells the
values are the cell means, each with a 95% interval that stays non-negative
(:func:`~sim.analysis.stats.nonneg_estimate`), and the difference carries a 95% confidence
interval by one of two tests, named in the output:

- **paired t** when the two cells ran with the same seeds (a sweep with
  ``common_random_numbers: true``): the runs are paired by seed and the interval is
  Student's t on the per-seed differences, which removes the noise the two cells share;
- **Welch t** otherwise: unequal variances, Welch-Satterthwaite degrees of freedom.

A difference whose interval excludes 0 is marked ``*``. A figure that did not vary (every
run, or every pair's difference, the same) is shown as exact, with "no variation", never a
zero-width interval. Durations that may not end are shown with their censoring (see
:data:`DECISION_KEYS`); a figure no run could define because every drift was censored reads
``all N censored``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.analysis.catalogue import is_metric
from sim.analysis.folder_io import read_json
from sim.analysis.results import MANIFEST_FILE, is_complete, load_summary
from sim.analysis.stats import (
    PAIRED,
    Difference,
    Estimate,
    nonneg_estimate,
    paired,
    relative_change,
    welch,
)
from sim.analysis.summary import metric_value
from sim.errors import RunError

DECISION_KEYS: tuple[str, ...] = (
    "attestation.latency_s.p50",
    "attestation.latency_s.p95",
    "attestation.latency_s.p99",
    "drift.time_to_refusal_s.km_median",
    "drift.time_to_refusal_s.km_restricted_mean",
    "drift.time_to_refusal_s.mean",
    "drift.time_to_refusal_s.censored",
    "drift.exposure.keys_released",
    "drift.exposure.power_ons",
    "drift.exposure.migrations_in",
    "capacity.usable_hosts.min",
    "capacity.attested_hosts.min",
    "capacity.encrypted_vm_slots.min",
    "drift.routine_gaps.count",
    "drift.routine_gaps.fraction",
    "attestation.failed",
    "key_requests.failed",
    "placements.failed",
    "vmotion.failed",
    "operations.ha.failed",
    "key_requests.refused",
    "placements.refused",
    "safety.violations",
)
"""What ``compare`` shows by default, chosen for decisions: attestation latency
percentiles; time to refusal with its Kaplan-Meier median and restricted mean, the mean over
the drifts that were refused and how many were censored; exposure; the minimum usable and
attested capacity; hosts without a report outside drift (routine gaps); failures and
refusals; safety. A key neither side's summaries hold is skipped (``--full`` shows every
key)."""


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the summaries of its runs and their seeds."""

    path: Path
    summaries: tuple[dict[str, Any], ...]
    seeds: tuple[int | None, ...]

    @property
    def is_cell(self) -> bool:
        """A sweep cell (several runs) rather than one run folder."""
        return not is_complete(self.path)

    def values(self, key: str) -> list[float | None]:
        """The value of ``key`` in each run (None where it is undefined or not a number)."""
        return [_number(metric_value(s, key)) for s in self.summaries]

    def holds(self, key: str) -> bool:
        """Whether any run's summary has ``key`` (even when its value is null)."""
        return any(_present(s, key) for s in self.summaries)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _present(summary: dict[str, Any], dotted: str) -> bool:
    node: Any = summary
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _seed(run: Path) -> int | None:
    try:
        seed = read_json(run / MANIFEST_FILE).get("seed")  # bounded: a FIFO cannot hang it
    except (OSError, ValueError, RunError):
        return None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def load_side(path: Path) -> Side:
    """A run folder, or a folder of run folders (a sweep cell: ``rep-*``); RunError when
    it is neither."""
    if is_complete(path):
        return Side(path, (load_summary(path),), (_seed(path),))
    runs = sorted(p for p in path.glob("rep-*") if is_complete(p)) if path.is_dir() else []
    if not runs:
        raise RunError(
            f"{shown(path)} is neither a run folder nor a sweep cell (a folder of rep-<r> run "
            "folders, such as <sweep>/runs/<cell id>)"
        )
    return Side(path, tuple(load_summary(r) for r in runs), tuple(_seed(r) for r in runs))


def shown(name: object) -> str:
    """A name from a file or the command line as it is printed: as is when every character
    is printable, else escaped like ``repr`` (so no control character reaches a terminal)."""
    text = str(name)
    return text if text.isprintable() else repr(text)


def shares_seeds(a: Side, b: Side) -> bool:
    """Whether two sweep cells ran with the same seeds, one run each (common random
    numbers): then their runs pair by seed."""
    sa, sb = a.seeds, b.seeds
    return (
        len(sa) >= 2
        and None not in sa
        and len(set(sa)) == len(sa)
        and sorted(sa, key=str) == sorted(sb, key=str)
    )


def _leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def summary_keys(summaries: Sequence[dict[str, Any]]) -> list[str]:
    """Every numeric summary key of the summaries, in summary order."""
    seen = [k for s in summaries for k in _leaves(s)]
    return [k for k in dict.fromkeys(seen) if is_metric(k)]


def all_keys(a: Side, b: Side) -> list[str]:
    """Every numeric summary key of either side, in summary order."""
    return summary_keys((*a.summaries, *b.summaries))


@dataclass(frozen=True)
class Figure:
    """One side's figure: the estimate over its runs, and for a time-to-event figure the
    events and censored observations summed over the runs (None for other figures)."""

    estimate: Estimate
    runs: int
    events: int | None = None
    censored: int | None = None

    @property
    def mean(self) -> float | None:
        return self.estimate.mean

    @property
    def undefined(self) -> str:
        """Words for a figure no run defined: ``all N censored`` when every observation
        was censored, ``not reached (k of N censored)`` for a Kaplan-Meier median, else
        ``n/a``."""
        if self.censored:
            total = self.censored + (self.events or 0)
            if not self.events:
                return f"all {self.censored} censored"
            return f"not reached ({self.censored} of {total} censored)"
        return "n/a"


def figure(side: Side, key: str) -> Figure:
    """``key`` over the side's runs, with the censoring of its time-to-event group."""
    est = nonneg_estimate(side.values(key))
    parent = key.rsplit(".", 1)[0]
    if not is_metric(f"{parent}.km_median"):
        return Figure(est, len(side.summaries))
    events = sum(int(v or 0) for v in side.values(f"{parent}.count"))
    censored = sum(int(v or 0) for v in side.values(f"{parent}.censored"))
    return Figure(est, len(side.summaries), events, censored)


@dataclass(frozen=True)
class Row:
    """One figure compared: both sides, the difference B − A and the relative change."""

    key: str
    a: Figure
    b: Figure
    diff: Difference | None

    @property
    def change(self) -> float | None:
        """(B − A) / |A|, None when A is 0 or undefined."""
        return None if self.diff is None else relative_change(self.diff.diff, self.a.mean)


@dataclass(frozen=True)
class Comparison:
    """Two sides, the test used for their differences and one row per figure."""

    a: Side
    b: Side
    rows: tuple[Row, ...]
    paired: bool

    @property
    def test(self) -> str:
        """The test in words, as the output states it."""
        if not (self.a.is_cell and self.b.is_cell):
            return "a single run on one side or both: differences without an interval"
        if self.paired:
            return (
                f"paired t on the per-seed differences ({len(self.a.seeds)} pairs: the cells "
                "share seeds, common random numbers)"
            )
        return "Welch t (unequal variances; the cells do not share seeds)"


def difference(a: Side, b: Side, key: str, pair: bool) -> Difference | None:
    """B − A for ``key``: paired by seed when ``pair``, else Welch."""
    if pair:
        by_seed = dict(zip(b.seeds, b.values(key), strict=True))
        return paired([(va, by_seed[s]) for s, va in zip(a.seeds, a.values(key), strict=True)])
    va = [v for v in a.values(key) if v is not None]
    vb = [v for v in b.values(key) if v is not None]
    return welch(va, vb)


def compare(a: Side, b: Side, keys: Sequence[str] | None = None) -> Comparison:
    """One row per key (default :data:`DECISION_KEYS`) that either side's summaries hold."""
    pair = shares_seeds(a, b)
    rows = [
        Row(key, figure(a, key), figure(b, key), difference(a, b, key, pair))
        for key in (DECISION_KEYS if keys is None else keys)
        if a.holds(key) or b.holds(key)
    ]
    return Comparison(a, b, tuple(rows), pair)


__all__ = [
    "DECISION_KEYS",
    "PAIRED",
    "Comparison",
    "Figure",
    "Row",
    "Side",
    "all_keys",
    "compare",
    "figure",
    "load_side",
    "shares_seeds",
    "shown",
    "summary_keys",
]
