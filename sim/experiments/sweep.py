"""Run a sweep: replications of every cell on a local process pool or a Dask cluster,
resumable, with per-cell means and 95% confidence intervals (Kaplan-Meier figures pooled
over the replications' observations).

Layout of a sweep folder::

    <out>/sweep.resolved.yaml      the sweep as run (spec and cells)
    <out>/runs/<cell id>/rep-<r>/  one run folder per run (see sim.analysis.results)
    <out>/index.csv                one row per run: variant, factors, replication, seed,
                                   status, error, headline metrics
    <out>/cells.csv                one row per cell and metric: estimator, n, estimate, CI
                                   and how the CI was made (ci_method)
    <out>/design.csv               a sampled design's rows: unit coordinates, values, cell
    <out>/sensitivity.csv          its indices per metric and factor (sim.experiments.design)

The run folders are the source of truth: each is written atomically, so an interrupted
sweep loses no finished run and leaves no half-written folder, and running the same sweep
again skips every run whose folder is complete, error-free and holds exactly the scenario
and seed it would run now, and redoes failed, unfinished or stale ones. A run that fails is
recorded with its exception and does not stop the sweep. Every run is deterministic in its
scenario and seed, so results are the same whichever executor ran them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim.analysis import folder_io, results
from sim.analysis.durations import DURATIONS_FILE
from sim.analysis.outdir import prepare_folder
from sim.analysis.stats import estimate, nonneg_estimate
from sim.analysis.summary import metric_value
from sim.errors import RunError, ScenarioError
from sim.experiments.executors import Executor, RunTask, local_executor
from sim.experiments.folder import CELL_COLUMNS
from sim.experiments.pooled import MEAN_OVER_RUNS, pooled_metric, pooled_row, run_durations
from sim.experiments.spec import Cell, Sequential, Sweep, load_sweep

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- sweep runs


@dataclass(frozen=True)
class SweepResult:
    """What a sweep produced: its folder, the index and the per-cell table (row dicts)."""

    path: Path
    index: list[dict[str, Any]]
    cells: list[dict[str, Any]]
    kept: int = 0
    """Runs whose finished folder was kept from an earlier sweep (the others ran now)."""

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Index rows of runs that failed."""
        return [r for r in self.index if r["status"] != "ok"]


def _run_dir(out: Path, cell: Cell, rep: int) -> Path:
    return out / "runs" / cell.cell_id / f"rep-{rep}"


def finished_run(
    path: Path, seed: int, scenario_yaml: str, metrics: Sequence[str]
) -> dict[str, Any] | None:
    """The result of a complete, error-free, undamaged run folder of exactly this scenario
    and seed (an edited base scenario or factor makes old runs stale; a truncated table
    is redone, with a warning saying so), else None."""
    if not results.is_complete(path) or not (path / DURATIONS_FILE).is_file():
        return None
    try:
        manifest = folder_io.load_json(path / results.MANIFEST_FILE)
        summary = folder_io.load_json(path / results.SUMMARY_FILE)
        recorded = folder_io.read_scenario_text(path)
    except (RunError, OSError, ValueError):
        return None
    if manifest.get("seed") != seed or manifest.get("exception") is not None:
        return None
    if recorded != scenario_yaml:
        return None
    broken = folder_io.damage(path)
    if broken is not None:
        log.warning("redoing the run %s: its folder is damaged: %s", path, broken)
        return None
    return {
        "status": "ok",
        "error": None,
        "wall_time_s": manifest.get("wall_time_s"),
        "metrics": {m: metric_value(summary, m) for m in metrics},
    }


def _factor_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def factor_levels(cell: Cell) -> dict[str, Any]:
    """The cell's factor levels as the scenario resolved them (durations in seconds, sizes
    in bytes), so tables and plots get numbers rather than unit strings."""
    data = cell.scenario.model_dump(mode="python")
    out: dict[str, Any] = {}
    for path, given in cell.levels:
        node: Any = data
        for part in path.split("."):
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = given
                break
        if hasattr(node, "value") and not isinstance(node, int | float | str):
            node = node.value
        if isinstance(node, dict) and node.get("dist") == "fixed":
            node = node["value"]
        out[path] = _factor_value(node)
    return out


def _needs_more(sweep: Sweep, rows: list[dict[str, Any]], cell: Cell, have: int) -> bool:
    rule = sweep.spec.replications
    if not isinstance(rule, Sequential) or have >= rule.max:
        return False
    est = estimate(
        [r[rule.metric] for r in rows if r["cell_id"] == cell.cell_id and r["status"] == "ok"]
    )
    if est.half_width is None or est.mean is None:
        return est.n < rule.max and have < rule.max
    target = rule.half_width * abs(est.mean) if rule.relative else rule.half_width
    return est.half_width > target


def run_sweep(
    sweep: Sweep | str | Path,
    out_dir: str | Path | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    force: bool = False,
) -> SweepResult:
    """Run (or resume) ``sweep`` into ``out_dir`` (default ``results/sweeps/<name>``).
    The folder must be new, empty or this sweep's own (:func:`check_folder`; ``force``
    lets another sweep take it over), and is locked while the sweep writes it."""
    sw = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    given = Path(out_dir) if out_dir is not None else Path("results") / "sweeps" / sw.spec.name
    out = given.resolve()  # workers (Dask ones too) may run in another working directory
    check_folder(sw, out, str(given), force)
    prepare_folder(out, str(given))  # before any run: a bad --out costs no simulated time
    with folder_lock(out, str(given)):
        check_folder(sw, out, str(given), force)  # again: another sweep may just have begun
        return _run_locked(sw, out, workers, executor, progress)


def _run_locked(
    sw: Sweep,
    out: Path,
    workers: int | None,
    executor: Executor | None,
    progress: bool,
) -> SweepResult:
    """:func:`run_sweep` once its folder is checked and locked."""
    run = executor or local_executor(workers)
    metrics = tuple(
        dict.fromkeys(
            (
                *sw.spec.metrics,
                *(
                    [sw.spec.replications.metric]
                    if isinstance(sw.spec.replications, Sequential)
                    else []
                ),
            )
        )
    )
    _write_resolved(sw, out)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    kept = 0
    reps = {c.cell_id: 0 for c in sw.cells}
    pending_cells = list(sw.cells)
    target = sw.initial_replications
    bar = _bar(progress, len(sw.cells) * target, sw.spec.name)
    try:
        while pending_cells:
            tasks: list[RunTask] = []
            for cell in pending_cells:
                for rep in range(reps[cell.cell_id], target):
                    seed = cell.seed(sw.spec.seed, rep, sw.common_seeds)
                    path = _run_dir(out, cell, rep)
                    resolved = cell.scenario.for_run(
                        seed, sw.spec.until or cell.scenario.duration
                    ).resolved_yaml()  # what the runner records for this run
                    done = finished_run(path, seed, resolved, metrics)
                    if done is not None:
                        log.debug("kept the finished run %s", path)
                        kept += 1
                        rows[(cell.cell_id, rep)] = _row(cell, rep, seed, path, out, done, metrics)
                        if bar is not None:
                            bar.update(1)
                        continue
                    tasks.append(
                        RunTask(
                            cell.cell_id,
                            rep,
                            seed,
                            cell.scenario.model_dump(mode="json"),
                            sw.spec.until,
                            str(path),
                            metrics,
                        )
                    )
                reps[cell.cell_id] = target
            by_id = {c.cell_id: c for c in sw.cells}
            log.info("sweep %s: starting %d runs", sw.spec.name, len(tasks))
            for task, result in run(tasks):
                cell = by_id[task.cell_id]
                rows[(task.cell_id, task.replication)] = _row(
                    cell, task.replication, task.seed, Path(task.out_dir), out, result, metrics
                )
                if bar is not None:
                    bar.update(1)
            if isinstance(sw.spec.replications, int):
                break
            ordered = [rows[k] for k in sorted(rows)]
            pending_cells = [c for c in sw.cells if _needs_more(sw, ordered, c, target)]
            target += 1
            if pending_cells and bar is not None:
                bar.total += len(pending_cells)
                bar.refresh()
    finally:
        if bar is not None:
            bar.close()
        index = [rows[k] for k in sorted(rows, key=lambda k: (_cell_order(sw, k[0]), k[1]))]
        cells = cell_table(sw, index, metrics, out)
        _write_tables(sw, out, index, cells, metrics)
        if sw.points is not None:
            write_sensitivity(sw, out, cells, metrics)
    return SweepResult(out, index, cells, kept)


def _cell_order(sw: Sweep, cell_id: str) -> int:
    return next(i for i, c in enumerate(sw.cells) if c.cell_id == cell_id)


def _row(
    cell: Cell,
    rep: int,
    seed: int,
    path: Path,
    out: Path,
    result: dict[str, Any],
    metrics: Sequence[str],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run": f"{cell.cell_id}/rep-{rep}",
        "cell_id": cell.cell_id,
        "variant": cell.variant,
    }
    row.update(factor_levels(cell))
    row.update(
        replication=rep,
        seed=seed,
        status=result["status"],
        error=result["error"],
        wall_time_s=result["wall_time_s"],
        path=str(path.relative_to(out)),
    )
    for m in metrics:
        v = result["metrics"].get(m)
        row[m] = v if v is None or isinstance(v, int | float) else None
    return row


def cell_table(
    sw: Sweep, index: list[dict[str, Any]], metrics: Sequence[str], out: Path | None = None
) -> list[dict[str, Any]]:
    """One row per (cell, metric) over the cell's successful runs: the mean of the runs'
    values with a 95% interval that stays non-negative (``ci_method`` names it, see
    :func:`sim.analysis.stats.nonneg_estimate`), or for a Kaplan-Meier figure one estimate
    pooled over the runs' observations (read from their folders under ``out``, which only
    these need; see :mod:`sim.experiments.pooled`)."""
    rows: list[dict[str, Any]] = []
    pooled = any(pooled_metric(m) for m in metrics)
    if pooled and out is None:
        raise ValueError("pooling Kaplan-Meier figures needs the sweep folder (out)")
    for cell in sw.cells:
        runs = [r for r in index if r["cell_id"] == cell.cell_id and r["status"] == "ok"]
        base: dict[str, Any] = {"cell_id": cell.cell_id, "variant": cell.variant}
        base.update(factor_levels(cell))
        base["runs"] = len(runs)
        parts = run_durations(out, runs) if out is not None and pooled else []
        for m in metrics:
            found = pooled_metric(m)
            if found is not None:
                horizon = cell.scenario.metrics.rmst_horizon
                rows.append({**base, "metric": m, **pooled_row(parts, *found, horizon)})
                continue
            est = nonneg_estimate([r[m] for r in runs])
            rows.append(
                {**base, "metric": m, "estimator": MEAN_OVER_RUNS, "censored": None} | est.as_row()
            )
    return rows


def _write_tables(
    sw: Sweep,
    out: Path,
    index: list[dict[str, Any]],
    cells: list[dict[str, Any]],
    metrics: Sequence[str],
) -> None:
    factors = list(sw.factor_names)
    results.write_table(
        out / "index.csv",
        index,
        [
            "run",
            "cell_id",
            "variant",
            *factors,
            "replication",
            "seed",
            "status",
            "error",
            "wall_time_s",
            "path",
            *metrics,
        ],
    )
    cell_columns = ["cell_id", "variant", *factors, *CELL_COLUMNS[2:]]
    results.write_table(out / "cells.csv", cells, cell_columns)


RESOLVED_FILE = "sweep.resolved.yaml"
_SWEEP_NAMES = ("index.csv", "cells.csv", "runs", "report.html", "manifest.json")
"""What a sweep writes into its folder, and a run folder's manifest: a folder holding one
of these but no sweep.resolved.yaml is someone else's."""
LOCK_FILE = ".vtasim-sweep.lock"


def _resolved_doc(sw: Sweep) -> dict[str, Any]:
    """What ``sweep.resolved.yaml`` records: the spec, the ``--set`` given and the cells;
    the sweep's identity (a folder belongs to one sweep)."""
    return {
        "sweep": sw.spec.model_dump(mode="json"),
        "set": {k: v for k, v in sw.overrides},
        "cells": [
            {"cell_id": c.cell_id, "variant": c.variant, "levels": {k: v for k, v in c.levels}}
            for c in sw.cells
        ],
    }


def _identity(doc: Any) -> Any:
    """The part of a resolved sweep document that must match to resume into its folder."""
    if not isinstance(doc, dict):
        return None
    return (doc.get("sweep"), doc.get("set") or {}, doc.get("cells"))


def check_folder(sw: Sweep, out: Path, shown: str, force: bool) -> None:
    """Refuse (RunError) to write ``sw`` into ``out`` unless it is new, holds nothing a
    sweep writes (nor a run folder's manifest), or is the folder of this very sweep (its
    ``sweep.resolved.yaml`` records the same spec, ``--set`` and cells: then the sweep
    resumes). ``force`` lets a different sweep take it over."""
    if force or not out.is_dir():
        return
    from sim.scenario.yaml_safe import load_yaml_text

    recorded: Any = None
    if (out / RESOLVED_FILE).is_file():
        try:
            recorded = load_yaml_text(folder_io.read_scenario_text(out, RESOLVED_FILE), shown)
        except (RunError, ScenarioError):
            recorded = None
    else:
        clash = sorted(n for n in _SWEEP_NAMES if os.path.lexists(out / n))
        if not clash:  # nothing a sweep writes is there (a folder of figures, say)
            return
        raise RunError(
            f"refusing to write the sweep into {shown}: it is not a sweep folder (no "
            f"sweep.resolved.yaml) and holds {', '.join(clash)}, which the sweep would "
            "replace; name a new folder, or pass --force"
        )
    if _identity(recorded) != _identity(json.loads(json.dumps(_resolved_doc(sw)))):
        raise RunError(
            f"refusing to write the sweep into {shown}: it holds another sweep (its "
            "sweep.resolved.yaml differs in spec, --set or cells); run that sweep again to "
            "resume it, name a new folder, or pass --force to replace its index"
        )


@contextlib.contextmanager
def folder_lock(out: Path, shown: str, what: str = "sweep") -> Iterator[None]:
    """Hold an exclusive lock on the sweep (or plan: ``what``) folder while it is written: a
    second sweep started into the same folder is refused at once instead of mixing its index
    with the first one's. The lock is released when the process ends, however it ends."""
    import fcntl

    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(out / LOCK_FILE, flags, 0o644)
    except OSError as exc:
        raise RunError(f"cannot lock the {what} folder {shown}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunError(
                f"another {what} is writing into {shown} (it holds {LOCK_FILE}); wait for it "
                "or name another folder"
            ) from None
        yield
    finally:
        os.close(fd)


def _write_resolved(sw: Sweep, out: Path) -> None:
    text = yaml.safe_dump(_resolved_doc(sw), sort_keys=False, width=100)
    folder_io.write_file_atomic(out / RESOLVED_FILE, text.encode("utf-8"))


def _bar(progress: bool, total: int, name: str) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="run", desc=name)


def point_responses(
    sw: Sweep, cells: Sequence[dict[str, Any]], metrics: Sequence[str]
) -> dict[str, list[float | None]]:
    """Each metric's response at each design row: its cell's figure in ``cells.csv``
    (rows with equal values share a cell, hence a figure)."""
    by_cell = {(str(r["cell_id"]), str(r["metric"])): r.get("mean") for r in cells}
    return {m: [by_cell.get((cid, m)) for cid in sw.row_cells] for m in metrics}


def write_sensitivity(
    sw: Sweep, out: Path, cells: Sequence[dict[str, Any]], metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """Write ``design.csv`` (each design row: its unit coordinates, values and cell) and
    ``sensitivity.csv`` (the indices of every metric, see :mod:`sim.experiments.design`)
    into the sweep folder; returns the sensitivity rows."""
    from sim.experiments.design import (
        DESIGN_FILE,
        SENSITIVITY_COLUMNS,
        SENSITIVITY_FILE,
        sensitivity_table,
    )

    pts = sw.points
    if pts is None:
        return []
    rows = []
    for i, (unit, values, cid) in enumerate(zip(pts.unit, pts.values, sw.row_cells, strict=True)):
        row: dict[str, Any] = {"row": i, "cell_id": cid}
        row.update({f"u:{n}": float(u) for n, u in zip(pts.names, unit, strict=True)})
        row.update({n: _factor_value(v) for n, v in zip(pts.names, values, strict=True)})
        rows.append(row)
    columns = ["row", "cell_id", *(f"u:{n}" for n in pts.names), *pts.names]
    results.write_table(out / DESIGN_FILE, rows, columns)
    table = sensitivity_table(
        sw.spec.design, pts, point_responses(sw, cells, metrics), sw.spec.seed
    )
    results.write_table(out / SENSITIVITY_FILE, table, list(SENSITIVITY_COLUMNS))
    return table
