"""Golden files: every shipped scenario runs and reproduces its recorded summary.

A golden summary is the summary.json of a run of the shipped scenario with its own seed
(``large.yaml`` shortened to 20 simulated minutes and ``xlarge.yaml`` to one, to keep the
suite fast). Integers and strings must match exactly and floats to 1e-9 relative, so any
change of model behaviour shows up here. Regenerate deliberately with
``python -m tests.regenerate golden`` and review the diff.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from tests.regenerate import COMMAND, GOLDEN, golden_summary, shipped_scenarios

pytestmark = pytest.mark.slow  # every shipped scenario run whole: 10 s to minutes each

SCENARIOS = shipped_scenarios()


def _compare(expected: Any, actual: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(actual)):
            if key not in expected or key not in actual:
                out.append(f"{path}.{key}: present on one side only")
            else:
                out.extend(_compare(expected[key], actual[key], f"{path}.{key}"))
        return out
    if isinstance(expected, float) and isinstance(actual, float):
        ok = math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12)
        return [] if ok else [f"{path}: expected {expected!r}, got {actual!r}"]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def test_every_scenario_has_a_golden_file() -> None:
    """Each YAML file in scenarios/ is covered by a golden summary."""
    assert SCENARIOS, "no shipped scenarios found"
    missing = [s for s in SCENARIOS if not (GOLDEN / f"{s}.summary.json").exists()]
    assert not missing, f"no golden summary for {missing}: run {COMMAND} golden"


@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenario_matches_golden_summary(name: str) -> None:
    """Running the shipped scenario reproduces its golden summary and keeps the invariant."""
    actual = golden_summary(name)
    assert actual["safety"]["violations"] == 0
    expected = json.loads((GOLDEN / f"{name}.summary.json").read_text())
    problems = _compare(expected, actual)
    assert not problems, (
        f"summary differs from golden (if meant, run {COMMAND} golden):\n"
        + "\n".join(problems[:20])
    )
