"""The ``capacity`` scenario section: its default and its field-path errors."""

from __future__ import annotations

from typing import Any

import pytest

from sim.errors import ScenarioError
from sim.scenario import parse_scenario


def _scenario(**sections: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "vcenters": [{"name": "vc-a", "clusters": [{"name": "cl-a", "hosts": 2}]}],
        **sections,
    }


def test_the_capacity_threshold_defaults_to_every_host() -> None:
    """Without a capacity section the threshold is 1 (time below full capacity)."""
    assert parse_scenario(_scenario()).capacity.threshold == 1.0


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, "most"])
def test_a_threshold_outside_zero_to_one_is_an_error_naming_its_path(bad: Any) -> None:
    """A threshold of 0 or less, above 1 or not a number names capacity.threshold."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_scenario(capacity={"threshold": bad}))
    assert [p.path for p in info.value.problems] == ["capacity.threshold"]


def test_an_unknown_key_in_the_capacity_section_is_an_error() -> None:
    """A misspelt key under capacity is refused with its path."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_scenario(capacity={"treshold": 0.9}))
    assert any(p.path.startswith("capacity") for p in info.value.problems)
