"""Run one scenario: build the estate, advance simulated time, derive metrics, write the run
folder.

A run always yields a manifest: seed, versions, wall time, simulated time, event count and
the exception that ended it (or null). A run that fails part-way still writes its folder,
with the exception in the manifest, so the failure is on record; the folder is written
atomically either way (see :mod:`sim.analysis.results`).
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from simpy import Environment

from sim.analysis import results
from sim.analysis.drift import finalise_drift
from sim.analysis.durations import DURATIONS_FILE, collect, durations_json
from sim.analysis.recorded import RecordedTable, spilling_into
from sim.analysis.summary import summarise
from sim.analysis.survival import Durations
from sim.analysis.tables import TABLE_COLUMNS
from sim.build import Estate, build
from sim.collector import RunCollector, frozen_heap
from sim.scenario import Scenario

log = logging.getLogger(__name__)

_PACKAGES = ("simpy", "numpy", "networkx", "cryptography", "pydantic", "pyyaml", "matplotlib")


def versions() -> dict[str, str]:
    """Versions of vtasim, Python and the packages that shape a run's numbers."""
    out = {"vtasim": _version("vtasim"), "python": platform.python_version()}
    for name in _PACKAGES:
        out[name] = _version(name)
    return out


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class RunOutput:
    """Everything one run produced, in memory."""

    scenario: Scenario
    seed: int
    manifest: dict[str, Any]
    summary: dict[str, Any]
    tables: dict[str, RecordedTable]
    estate: Estate
    durations: Mapping[str, Durations] = field(default_factory=dict)
    """The survival data of every time-to-event figure (``durations.json``)."""

    @property
    def ok(self) -> bool:
        """Whether the run reached its end without an exception."""
        return self.manifest["exception"] is None


def simulate(
    scenario: Scenario,
    seed: int | None = None,
    until: float | None = None,
    progress: bool = False,
    spill_dir: Path | str | None = None,
) -> RunOutput:
    """Build and run ``scenario`` (for ``until`` simulated seconds, default its duration).
    Older records are kept on disk in column chunks: in ``spill_dir`` (an existing folder,
    such as where the run folder will be written), else in the system's temporary folder."""
    root = scenario.seed if seed is None else seed
    end = scenario.duration if until is None else until
    scenario = scenario.for_run(root, end)
    log.info("simulating %s, seed %d, %g s of simulated time", scenario.name, root, end)
    started = time.perf_counter()
    bar = _progress_bar(scenario, end) if progress else None
    try:
        with spilling_into(spill_dir), RunCollector() as collector:
            _stage(bar, scenario, "building the estate")
            estate = build(scenario, root)
            estate.start()
            collector.estate_built()
            _stage(bar, scenario, None)
            error, stops = _advance(estate.env, end, bar)
            collector.run_over()
            env = estate.env
            now = float(env.now)
            log.debug("simulated %g s in %.2f s of wall time", now, time.perf_counter() - started)
            _stage(bar, scenario, "summarising")
            estate.recorder.end_of_run(now)  # work still running is written ``unfinished``
            estate.recorder.sample_levels(now)  # the period since the last sample
            finalise_drift(estate.recorder, now, estate.host_vcenter)
            durations = collect(estate.recorder, now, scenario.warmup)
            summary = summarise(estate.recorder, now, scenario.warmup, scenario, durations)
    finally:
        if bar is not None:
            bar.close()
    manifest = {
        "scenario": scenario.name,
        "seed": root,
        "versions": versions(),
        "wall_time_s": time.perf_counter() - started,
        "sim_time_s": now,
        "events": env.events_processed - _stop_events(stops, error is None),
        "exception": None
        if error is None
        else {
            "type": f"{type(error).__module__}.{type(error).__qualname__}",
            "message": str(error),
        },
    }
    return RunOutput(scenario, root, manifest, summary, estate.recorder.tables, estate, durations)


def _progress_bar(scenario: Scenario, end: float) -> Any:
    """A progress bar over the run's simulated seconds, shown from before the estate is
    built (its stage in the description), so a long build does not look like a stall."""
    from tqdm.auto import tqdm

    return tqdm(total=round(end), unit="sim-s", desc=scenario.name, leave=False)


def _stage(bar: Any, scenario: Scenario, stage: str | None) -> None:
    """Name the stage the run is in (building, summarising) on ``bar``; None: simulating."""
    if bar is not None:
        bar.set_description(f"{scenario.name}: {stage}" if stage else scenario.name)


def _advance(env: Environment, end: float, bar: Any) -> tuple[BaseException | None, int]:
    """Run ``env`` to ``end`` (in 100 steps advancing ``bar`` when there is one); the
    exception that stopped it (or None) and how many ``run`` calls completed."""
    error: BaseException | None = None
    stops = 0
    try:
        steps = 100 if bar is not None else 1
        for k in range(1, steps + 1):
            env.run(until=end * k / steps)
            stops += 1
            if bar is not None:
                bar.update(round(end * k / steps) - bar.n)
    except Exception as exc:  # recorded in the manifest; the caller decides the exit code
        error = exc
    return error, stops


def _stop_events(chunks: int, finished: bool) -> int:
    """How many of the processed events were SimPy's own stop events: each completed
    ``run(until=...)`` processes one, and SimPy processes it once more when the next
    ``run`` resumes (so the count does not depend on how many chunks were run)."""
    if chunks == 0:
        return 0
    return 2 * chunks - 1 if finished else 2 * chunks


def default_out_dir(scenario: Scenario, seed: int) -> Path:
    """``results/<scenario name>/seed-<N>``."""
    return Path("results") / scenario.name / f"seed-{seed}"


def write(
    output: RunOutput,
    out_dir: Path | str | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write ``output`` as a run folder (atomically), with its survival data
    (``durations.json``) and ``extra_files`` (relative path -> bytes, such as exported
    evidence) inside it; return its path."""
    target = Path(out_dir) if out_dir is not None else default_out_dir(output.scenario, output.seed)
    log.info("writing the run folder %s", target)
    with frozen_heap():
        return results.write_run(
            target,
            scenario_yaml=output.scenario.resolved_yaml(),
            manifest=output.manifest,
            summary=output.summary,
            tables=output.tables,
            columns=TABLE_COLUMNS,
            extra_files={DURATIONS_FILE: durations_json(output.durations), **(extra_files or {})},
        )
