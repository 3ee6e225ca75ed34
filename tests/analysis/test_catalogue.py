"""The metrics catalogue: every summary key declared once, and everything derived from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sim.analysis.catalogue import CATALOGUE, Metric, is_metric, listing, markdown, matches
from tests.conftest import ROOT


def _leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_every_summary_leaf_matches_one_entry_and_every_entry_occurs() -> None:
    """Each leaf of the golden run summaries matches exactly one catalogue entry, and each
    entry matches some leaf (a new summary key without an entry, or a stale entry, fails)."""
    used: set[str] = set()
    unmatched: list[str] = []
    for path in sorted((ROOT / "tests" / "golden").glob("*.summary.json")):
        for leaf in _leaves(json.loads(path.read_text())):
            found = matches(leaf)
            if len(found) != 1:
                unmatched.append(f"{path.name}: {leaf} -> {[m.key for m in found]}")
            used.update(m.key for m in found)
    assert unmatched == []
    assert [m.key for m in CATALOGUE if m.key not in used] == []


def test_is_metric_follows_the_catalogue_patterns() -> None:
    """Dynamic parts match their placeholders only; text entries are not figures."""
    assert is_metric("drift.time_to_lapse_s.km_median")
    assert is_metric("services.kms.nodes.12.utilisation")
    assert is_metric("key_providers.tkp-2.seconds_ok")
    assert not is_metric("services.kmsx.utilisation")
    assert not is_metric("services.kms.nodes.a.utilisation")
    assert not is_metric("drift.time_to_lapse_s")
    assert not is_metric("warnings")


def test_an_unknown_unit_is_refused() -> None:
    """A catalogue entry must use a declared unit."""
    with pytest.raises(ValueError, match="unknown unit"):
        Metric("x.y", "parsecs", "nothing")


def test_listing_has_one_line_per_entry_with_unit_and_meaning() -> None:
    """`vtasim metrics` prints key, unit and definition for every entry."""
    lines = listing().splitlines()
    assert len(lines) == len(CATALOGUE)
    first = CATALOGUE[0]
    assert lines[0].split()[:2] == [first.key, first.unit]
    assert lines[0].endswith(first.meaning)


def test_metric_reference_page_is_rendered_from_the_catalogue() -> None:
    """docs/reference/metrics.md holds markdown() whole (``python -m tests.regenerate docs``
    rewrites the page)."""
    page = (ROOT / "docs" / "reference" / "metrics.md").read_text(encoding="utf-8")
    assert markdown() in page, "stale: run python -m tests.regenerate docs"
