"""Every cell of a sweep ranked on one metric (``vtasim compare SWEEP --metric KEY``).

Each cell's figure is its mean over the runs (from the runs' summaries, so any summary key
can be ranked, not only those the sweep recorded in ``index.csv``), with a 95% interval that
stays non-negative. Cells are ordered best first: lowest first unless the metric is one
where more is better (capacity, successes, throughput; :func:`higher_is_better`), or as
``best`` says. Each cell's difference from a reference cell (the best one, or a named
baseline) carries a 95% interval: paired t on the per-seed differences when the two cells
share seeds (common random numbers), Welch's t otherwise; ``*`` marks an interval that
excludes 0. Cells where no run defined the metric come last.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.analysis.compare import (
    Figure,
    Side,
    difference,
    figure,
    load_side,
    shares_seeds,
    shown,
    summary_keys,
)
from sim.analysis.compare_view import (
    INTERVAL,
    MARK,
    change_text,
    diff_record,
    diff_text,
    figure_record,
    side_text,
)
from sim.analysis.stats import Difference, relative_change
from sim.analysis.tabular import Table
from sim.errors import Problem, RunError, ScenarioError
from sim.scenario.yaml_safe import load_yaml_file

_MORE_IS_BETTER = re.compile(
    r"capacity\.(?!min_attested_duration).*|.*\.(succeeded|released|placed|completed|"
    r"restarted|passed|delivered|reached|hosts_upgraded)|.*(throughput|goodput|hit_ratio).*"
)


def higher_is_better(key: str) -> bool:
    """Whether more of ``key`` is better (capacity, successes, throughput); for everything
    else (latency, time to refusal, exposure, failures, utilisation) less is better."""
    return bool(_MORE_IS_BETTER.fullmatch(key))


@dataclass(frozen=True)
class RankedCell:
    """One cell of the ranking: its id, variant, runs, figure and difference."""

    cell_id: str
    variant: str
    side: Side
    figure: Figure
    diff: Difference | None


@dataclass(frozen=True)
class Ranking:
    """A sweep's cells ranked on ``metric`` against ``reference``."""

    folder: Path
    metric: str
    best: str
    reference: str
    cells: tuple[RankedCell, ...]
    paired: bool


def _cells(folder: Path) -> list[tuple[str, str]]:
    """(cell id, variant) of every cell in ``sweep.resolved.yaml``, in sweep order."""
    path = folder / "sweep.resolved.yaml"
    if not path.is_file():
        raise RunError(
            f"{shown(folder)} is not a sweep folder (no sweep.resolved.yaml); give two run "
            "folders or sweep cells to compare, or a sweep folder with --metric"
        )
    doc = load_yaml_file(path)
    cells = doc.get("cells") if isinstance(doc, dict) else None
    if not isinstance(cells, list):
        raise RunError(f"{shown(path)}: expected a list under 'cells'")
    out = []
    for c in cells:
        cid = str(c.get("cell_id")) if isinstance(c, dict) else ""
        if cid in ("", ".", "..") or Path(cid).name != cid:
            raise RunError(f"{shown(path)}: {cid!r} is not a cell id (one folder name)")
        out.append((cid, str(c.get("variant") or "")))
    return out


def unknown_metric(given: str, keys: list[str]) -> ScenarioError:
    """The error for a ``--metric`` no run holds, naming the closest keys."""
    return _suggest(given, keys, "metric", "--metric")


def _suggest(given: str, names: list[str], what: str, where: str) -> ScenarioError:
    close = difflib.get_close_matches(given, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return ScenarioError([Problem(where, f"unknown {what} {given!r}{hint}")])


def _order(cell: RankedCell, more: bool) -> tuple[int, float]:
    mean = cell.figure.mean
    if mean is None:
        return (1, 0.0)
    return (0, -mean if more else mean)


def rank(
    folder: Path, metric: str, baseline: str | None = None, best: str | None = None
) -> Ranking:
    """Rank every cell with runs in the sweep ``folder`` on ``metric``; ``baseline`` (a cell
    id or a variant name) is the reference, else the best cell; ``best`` is ``lowest`` or
    ``highest`` (default by :func:`higher_is_better`). An unknown metric or baseline is a
    ScenarioError naming the closest ones."""
    found = []
    for cid, variant in _cells(folder):
        try:
            found.append((cid, variant, load_side(folder / "runs" / cid)))
        except RunError:  # no finished run yet (an interrupted sweep): not ranked
            continue
    if not found:
        raise RunError(f"{shown(folder)}: no cell of the sweep has a finished run")
    keys = summary_keys([s for _, _, side in found for s in side.summaries])
    if metric not in keys:
        raise unknown_metric(metric, keys)
    more = higher_is_better(metric) if best is None else best == "highest"
    ranked = [RankedCell(cid, v, side, figure(side, metric), None) for cid, v, side in found]
    ranked.sort(key=lambda c: _order(c, more))
    ref = ranked[0]
    if baseline is not None:
        chosen = [c for c in ranked if baseline in (c.cell_id, c.variant)]
        if len(chosen) != 1:
            names = [c.cell_id for c in ranked] + [c.variant for c in ranked if c.variant]
            if not chosen:
                raise _suggest(baseline, names, "cell", "--baseline")
            raise ScenarioError(
                [Problem("--baseline", f"{baseline!r} names several cells; give a cell id")]
            )
        ref = chosen[0]
    out = []
    for c in ranked:
        pair = shares_seeds(ref.side, c.side)
        d = None if c is ref else difference(ref.side, c.side, metric, pair)
        out.append(RankedCell(c.cell_id, c.variant, c.side, c.figure, d))
    paired = all(shares_seeds(ref.side, c.side) for c in ranked if c is not ref)
    return Ranking(folder, metric, "highest" if more else "lowest", ref.cell_id, tuple(out), paired)


def _test(r: Ranking) -> str:
    if r.paired:
        return "paired t on the per-seed differences (the cells share seeds: common random numbers)"
    return "Welch t (unequal variances) where two cells do not share seeds, else paired t"


def ranking_table(r: Ranking) -> Table:
    """The ranking as a :class:`~sim.analysis.tabular.Table`."""
    title = [
        f"sweep: {shown(r.folder)}",
        f"metric: {shown(r.metric)} ({r.best} is best); reference: {shown(r.reference)}",
        f"test: {_test(r)}",
    ]
    cells, records = [], []
    for i, c in enumerate(r.cells, start=1):
        change = None if c.diff is None else relative_change(c.diff.diff, _ref_mean(r))
        is_ref = c.cell_id == r.reference
        cells.append(
            [
                str(i),
                shown(c.cell_id),
                shown(c.variant) or "-",
                str(c.figure.runs),
                side_text(r.metric, c.figure, True),
                "(reference)" if is_ref else diff_text(r.metric, c.diff),
                "" if is_ref else change_text(change),
            ]
        )
        records.append(
            {
                "rank": i,
                "cell_id": c.cell_id,
                "variant": c.variant,
                "reference": is_ref,
                **figure_record("cell", c.figure),
                **diff_record(c.diff, change),
            }
        )
    meta: dict[str, Any] = {
        "sweep": str(r.folder),
        "metric": r.metric,
        "best": r.best,
        "reference": r.reference,
        "test": "paired t" if r.paired else "Welch t",
    }
    notes = [
        f"mean: over the cell's runs [{INTERVAL}]",
        f"vs reference [95% CI]: {MARK} the CI excludes 0; change: (cell - ref) / |ref|",
    ]
    columns = ["rank", "cell", "variant", "runs", "mean", "vs reference [95% CI]", "change"]
    return Table(title, columns, cells, records, notes, meta, right=(0, 3, 4, 6))


def _ref_mean(r: Ranking) -> float | None:
    return next(c.figure.mean for c in r.cells if c.cell_id == r.reference)
