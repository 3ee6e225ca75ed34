"""Shared pytest fixtures and the policy for tests that need Debian's TPM tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def require_tools(*names: str) -> None:
    """Skip (or fail, when VTASIM_REQUIRE_TPM_TOOLS=1) unless every named tool is on PATH."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    msg = f"needs {', '.join(missing)} (Debian packages tpm2-tools, swtpm, swtpm-tools)"
    if os.environ.get("VTASIM_REQUIRE_TPM_TOOLS") == "1":
        pytest.fail(msg + " but VTASIM_REQUIRE_TPM_TOOLS=1", pytrace=False)
    pytest.skip(msg)


ROOT = Path(__file__).resolve().parent.parent
"""The repository's root folder (scenarios/, notebooks/, README.md)."""


TIERS = ("unit", "behaviour", "golden", "interop")
"""The tiers every test falls in, exactly one each (``pytest -m unit`` ...), set from where
the test lives (:func:`tier_of`) so a new test file needs no marker to be tiered."""

_BEHAVIOUR_DIRS = ("cli", "experiments", "plots")
_BEHAVIOUR_FILES = ("test_invariants", "test_valid_scenarios_run", "test_notebooks")
_BEHAVIOUR_PREFIXES = ("test_behaviour_", "test_benchmarks", "test_runner", "test_build")
_GOLDEN_FILES = ("test_golden", "test_schema")


def tier_of(path: Path, marks: set[str]) -> str:
    """The tier of a test in ``path`` (a file under tests/) carrying the marks ``marks``:

    - interop: under tests/interop, a file named ``*interop*``, or marked ``tpmtools``
      (outside tools: tpm2-tools, swtpm, PyKMIP, JOSE libraries);
    - golden: compares with committed generated files (``test_golden*``, ``test_schema``);
    - behaviour: runs the simulator, the CLI or a sweep end to end (tests/cli,
      tests/experiments, tests/plots, ``test_behaviour_*``, invariants, every valid
      scenario, notebooks, benchmarks smoke tests, runner and build);
    - unit: everything else (one module, in process, no simulation run end to end).
    """
    rel = path.resolve().relative_to(ROOT / "tests")
    stem = path.stem
    if rel.parts[0] == "interop" or "interop" in stem or "tpmtools" in marks:
        return "interop"
    if stem.startswith(_GOLDEN_FILES):
        return "golden"
    if (
        rel.parts[0] in _BEHAVIOUR_DIRS
        or stem in _BEHAVIOUR_FILES
        or stem.startswith(_BEHAVIOUR_PREFIXES)
    ):
        return "behaviour"
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every collected test with its tier (see :func:`tier_of`)."""
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        if marks.isdisjoint(TIERS):
            item.add_marker(tier_of(Path(str(item.path)), marks))
