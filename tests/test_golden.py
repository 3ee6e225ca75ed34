"""Golden files: every shipped scenario runs and reproduces its recorded summary.

A golden summary is the summary.json of a run of the shipped scenario with its own seed
(``large.yaml`` shortened to 20 simulated minutes and ``xlarge.yaml`` to one, to keep the
suite fast). Integers and strings must match exactly and floats to 1e-9 relative, so any
change of model behaviour shows up here. Regenerate deliberately with
``VTASIM_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from sim.runner import simulate
from sim.scenario import load_scenario

pytestmark = pytest.mark.slow  # every shipped scenario run whole: 10 s to minutes each

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
SHORTENED = {"large": 1200.0, "metastable": 1800.0, "xlarge": 60.0}
SCENARIOS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))


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
    if os.environ.get("VTASIM_UPDATE_GOLDEN") == "1":
        pytest.skip("updating golden files")
    missing = [s for s in SCENARIOS if not (GOLDEN / f"{s}.summary.json").exists()]
    assert not missing, f"no golden summary for {missing}"


@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenario_matches_golden_summary(name: str) -> None:
    """Running the shipped scenario reproduces its golden summary and keeps the invariant."""
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    out = simulate(scenario, until=SHORTENED.get(name))
    assert out.ok, out.manifest["exception"]
    assert out.summary["safety"]["violations"] == 0
    actual = json.loads(json.dumps(out.summary))
    golden = GOLDEN / f"{name}.summary.json"
    if os.environ.get("VTASIM_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
        return
    expected = json.loads(golden.read_text())
    problems = _compare(expected, actual)
    assert not problems, "summary differs from golden:\n" + "\n".join(problems[:20])
