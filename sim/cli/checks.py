"""What ``vtasim`` checks before a run or sweep starts, so that a mistake costs a second, not
the run: the size estimate against the documented limits (``--force`` skips them), the
things a run would silently leave out (warnings), and the output location. Also the
interrupt message of ``vtasim run``, which must say truthfully whether a folder exists."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sim.errors import Problem, ScenarioError, printable

if TYPE_CHECKING:
    from sim.experiments.spec import Sweep
    from sim.scenario import Scenario
    from sim.scenario.estimate import Estimate

MAX_SWEEP_RUNS = 10_000
"""Most runs ``vtasim sweep`` starts without ``--force`` (cells x replications)."""


def print_problems(source: str, problems: Sequence[Problem], kind: str = "") -> None:
    """One ``SOURCE: [warning: ]path: message`` line per problem, on stderr (every part
    escaped by :func:`~sim.errors.printable`: names and keys come from files)."""
    for problem in problems:
        print(f"{printable(source)}: {kind}{problem}", file=sys.stderr)


def show_estimate(est: Estimate, stream: TextIO) -> None:
    """Print the estimate line now (before a long run, so it is seen at once)."""
    print(f"estimate: {est.describe()}", file=stream, flush=True)


def preflight_run(
    source: str, scenario: Scenario, until: float | None, force: bool, stream: TextIO
) -> Estimate:
    """Estimate, print and check one run; warn about what it leaves out. Raises
    ScenarioError (exit 2) when the estimate is over a limit and ``force`` is off."""
    from sim.scenario.estimate import estimate, run_warnings

    est = estimate(scenario, until)
    show_estimate(est, stream)
    print_problems(source, run_warnings(scenario, until), "warning: ")
    if not force and est.problems():
        raise ScenarioError(est.problems())
    return est


def preflight_sweep(sweep: Sweep, force: bool, prefix: str = "") -> None:
    """Estimate every cell of a sweep, print the total and refuse (ScenarioError) a sweep
    with more than MAX_SWEEP_RUNS runs or a cell whose single run is over a limit."""
    from sim.experiments.spec import Sequential
    from sim.scenario.estimate import estimate

    rule = sweep.spec.replications
    reps = rule.max if isinstance(rule, Sequential) else rule
    runs = len(sweep.cells) * reps
    ests = [estimate(c.scenario, sweep.spec.until) for c in sweep.cells]
    events = sum(e.events for e in ests) * reps
    biggest = max(ests, key=lambda e: e.events)
    print(
        f"{prefix}estimate: {len(sweep.cells)} cells x {reps} replications = {runs:,} runs, about "
        f"{events:,} events in all; largest run: {biggest.describe()}",
        flush=True,
    )
    if force:
        return
    problems: list[Problem] = []
    if runs > MAX_SWEEP_RUNS:
        problems.append(
            Problem(
                "replications",
                f"the sweep would start {runs:,} runs, over the limit of {MAX_SWEEP_RUNS:,}; "
                "use fewer cells or replications, or pass --force",
            )
        )
    for cell, est in zip(sweep.cells, ests, strict=True):
        problems += [Problem(f"cell {cell.cell_id}: {p.path}", p.message) for p in est.problems()]
    if problems:
        raise ScenarioError(problems)


def written_folder(target: Path, manifest: dict[str, Any] | None) -> bool:
    """Whether ``target`` holds the complete run folder of the run with ``manifest``: the
    truth an interrupt message must tell (the interrupt may come just after the folder was
    renamed into place)."""
    from sim.analysis.results import MANIFEST_FILE, is_complete

    if manifest is None or not is_complete(target):
        return False
    try:
        on_disk = json.loads((target / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    keys = ("seed", "wall_time_s", "sim_time_s", "events")
    return isinstance(on_disk, dict) and all(on_disk.get(k) == manifest.get(k) for k in keys)


def overrides_tag(overrides: dict[str, Any]) -> str:
    """A short, stable tag of ``--set`` assignments for a run's default folder name
    (``seed-1-set-3f2a9c1b``), so a run with overrides never replaces the plain run."""
    import hashlib

    text = json.dumps(overrides, sort_keys=True, default=str)
    return "set-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def check_replace(target: Path, resolved_yaml: str, force: bool, shown: str) -> None:
    """Refuse (ScenarioError on ``--out``) to replace the run folder at ``target`` when it
    holds a run of another scenario (its ``scenario.resolved.yaml`` differs from what this
    run will record), unless ``force``; a re-run of the same scenario and seed may replace
    it."""
    from sim.analysis.folder_io import read_scenario_text
    from sim.analysis.results import is_complete
    from sim.errors import RunError

    if force or not is_complete(target):
        return
    try:
        same = read_scenario_text(target) == resolved_yaml
    except RunError:
        same = False
    if not same:
        raise ScenarioError(
            [
                Problem(
                    "--out",
                    f"{shown} holds a run of another scenario (its {target.name}/"
                    "scenario.resolved.yaml differs); pass --force to replace it",
                )
            ]
        )
