"""Every test falls in exactly one tier, from where it lives (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, TIERS, tier_of

T = ROOT / "tests"


@pytest.mark.parametrize(
    ("path", "marks", "tier"),
    [
        (T / "interop" / "test_calibration.py", set(), "interop"),
        (T / "domain" / "test_tpm_interop.py", set(), "interop"),
        (T / "domain" / "test_tpm.py", {"tpmtools"}, "interop"),
        (T / "test_golden.py", set(), "golden"),
        (T / "scenario" / "test_schema.py", set(), "golden"),
        (T / "cli" / "test_cli.py", set(), "behaviour"),
        (T / "plots" / "test_plots.py", set(), "behaviour"),
        (T / "experiments" / "test_sweep.py", set(), "behaviour"),
        (T / "test_behaviour_drift.py", set(), "behaviour"),
        (T / "test_invariants.py", set(), "behaviour"),
        (T / "test_benchmarks_smoke.py", set(), "behaviour"),
        (T / "domain" / "test_tpm.py", set(), "unit"),
        (T / "scenario" / "test_model.py", set(), "unit"),
        (T / "test_rng.py", set(), "unit"),
        (T / "test_architecture.py", set(), "unit"),
    ],
)
def test_each_place_has_its_tier(path: Path, marks: set[str], tier: str) -> None:
    """Directories and file names map to the documented tiers."""
    assert tier_of(path, marks) == tier


def test_this_test_is_tiered(request: pytest.FixtureRequest) -> None:
    """The collection hook really marks tests: this one carries exactly one tier, unit."""
    tiers = [m.name for m in request.node.iter_markers() if m.name in TIERS]
    assert tiers == ["unit"]


def test_the_tiers_are_registered_markers() -> None:
    """Each tier is a registered marker (``--strict-markers`` would refuse it otherwise)."""
    text = (ROOT / "pyproject.toml").read_text()
    assert all(f'"{tier}: ' in text for tier in (*TIERS, "slow"))
