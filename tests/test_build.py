"""Building an estate: the pure helpers the builder draws attributes with."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.build import _weighted


@settings(max_examples=40, deadline=None)
@given(
    weights=st.lists(st.floats(min_value=0.0, max_value=1000.0), min_size=1, max_size=6).filter(
        lambda w: sum(w) > 0
    ),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_weighted_draws_what_numpy_choice_draws(weights: list[float], seed: int) -> None:
    """A weighted draw is, draw after draw, the index rng.choice(n, p=p) gives for the same
    stream (one uniform variate each, located in the normalised cumulative weights)."""
    names = {f"n{i}": w for i, w in enumerate(weights)}
    p = np.array(weights) / sum(weights)
    reference = np.random.Generator(np.random.PCG64(seed))
    draw = _weighted(np.random.Generator(np.random.PCG64(seed)), names)
    for _ in range(200):
        assert draw() == f"n{int(reference.choice(len(weights), p=p))}"


def test_weighted_refuses_weights_that_are_no_distribution() -> None:
    """All-zero or negative weights are an error, as numpy's choice would raise."""
    with pytest.raises(ValueError):
        _weighted(np.random.default_rng(0), {"a": 0.0, "b": 0.0})
    with pytest.raises(ValueError):
        _weighted(np.random.default_rng(0), {"a": -1.0, "b": 2.0})
