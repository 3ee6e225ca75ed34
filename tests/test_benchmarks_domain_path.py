"""Smoke tests of benchmarks/domain_path.py: every part is timed and the table names it.

No test asserts a speed: CPU figures depend on the machine and its load.
"""

from __future__ import annotations

import pytest

from tests.scripts import load_script

bench = load_script("benchmarks/domain_path.py", "vtasim_bench_domain_path")
PARTS = (
    "collect_evidence",
    "quote",
    "ECDSA sign",
    "parse",
    "verify",
    "ECDSA verify",
    "report prepare",
    "total",
    "not cryptography",
)


def test_every_part_is_timed_and_reported() -> None:
    """Each part costs a positive time; the totals follow their definitions; the table
    prints every part."""
    figures = bench.measure(budget=0.002)
    assert set(figures) == set(PARTS)
    assert all(figures[p] > 0 for p in PARTS[:-1])
    assert figures["total"] == pytest.approx(figures["collect_evidence"] + figures["verify"])
    assert figures["not cryptography"] == pytest.approx(
        figures["total"] - figures["ECDSA sign"] - figures["ECDSA verify"]
    )
    table = bench.report(figures)
    assert all(p in table for p in PARTS)


def test_a_non_positive_budget_is_refused() -> None:
    """A zero budget would time nothing: refused."""
    with pytest.raises(ValueError, match="budget"):
        bench.per_call_us(lambda i: i, 0.0)
    with pytest.raises(SystemExit):
        bench.main(["--budget", "0"])
