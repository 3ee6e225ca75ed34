"""Tests for sim.scenario.distributions: YAML forms, sampling, exact means, quantiles, samplers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from sim.scenario.distributions import (
    DIST_KINDS,
    UNION_TAGS,
    Z95,
    Distribution,
    DistributionModel,
    Empirical,
    Exponential,
    Fixed,
    LogNormal,
    Normal,
    Uniform,
    make_sampler,
    parse_distribution,
)

N = 20_000
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)


class Service(BaseModel):
    """A scenario-like model with one distribution field."""

    latency: Distribution


def rng(seed: int = 20210501) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("250ms", Fixed(value=0.25)),
        (0.25, Fixed(value=0.25)),
        (2, Fixed(value=2.0)),
        ({"dist": "fixed", "value": "250ms"}, Fixed(value=0.25)),
        ({"dist": "uniform", "low": "1s", "high": "3s"}, Uniform(low=1.0, high=3.0)),
        ({"dist": "uniform", "low": "2s", "high": "2s"}, Uniform(low=2.0, high=2.0)),
        ({"dist": "exponential", "mean": "2s"}, Exponential(mean=2.0)),
        ({"dist": "normal", "mean": "1s", "std": "200ms"}, Normal(mean=1.0, std=0.2)),
        (
            {"dist": "lognormal", "median": "200ms", "p95": "600ms"},
            LogNormal(median=0.2, p95=0.6),
        ),
        ({"dist": "lognormal", "mu": -1.6, "sigma": 0.67}, LogNormal(mu=-1.6, sigma=0.67)),
        (
            {"dist": "empirical", "samples": ["120ms", "180ms", "400ms"]},
            Empirical(samples=(0.12, 0.18, 0.4)),
        ),
    ],
)
def test_every_yaml_form_parses(raw: Any, expected: DistributionModel) -> None:
    """Each documented YAML shape, shorthand included, parses to the expected model."""
    assert parse_distribution(raw) == expected
    assert Service(latency=raw).latency == expected


def test_parsed_model_passes_through() -> None:
    """An already-built distribution is accepted as it is."""
    dist = Exponential(mean=3.0)
    assert Service(latency=dist).latency is dist


@pytest.mark.parametrize(
    ("raw", "loc", "message"),
    [
        ("soon", ("latency", "shorthand"), "expected a duration such as 250ms, 90s"),
        ("-1s", ("latency", "shorthand"), "must not be negative"),
        ({"dist": "gamma", "shape": 2}, ("latency",), "'dist' is one of fixed, uniform"),
        ({"value": "1s"}, ("latency",), "expected a duration such as 250ms, or a mapping"),
        (True, ("latency",), "expected a duration such as 250ms, or a mapping"),
        (None, ("latency",), "expected a duration such as 250ms, or a mapping"),
        (
            {"dist": "fixed", "value": "1s", "jitter": "1ms"},
            ("latency", "fixed", "jitter"),
            "Extra inputs are not permitted",
        ),
        (
            {"dist": "uniform", "low": "3s", "high": "1s"},
            ("latency", "uniform"),
            "uniform needs low <= high, got low=3s and high=1s",
        ),
        (
            {"dist": "exponential", "mean": "0s"},
            ("latency", "exponential", "mean"),
            "greater than zero",
        ),
        (
            {"dist": "exponential", "mean_value": "1s"},
            ("latency", "exponential", "mean_value"),
            "Extra inputs are not permitted",
        ),
        (
            {"dist": "normal", "mean": "1s", "std": "0s"},
            ("latency", "normal", "std"),
            "greater than zero",
        ),
        (
            {"dist": "lognormal", "median": "200ms", "p95": "200ms"},
            ("latency", "lognormal"),
            "lognormal needs p95 > median",
        ),
        (
            {"dist": "lognormal", "median": "200ms", "p95": "600ms", "mu": -1.6, "sigma": 1},
            ("latency", "lognormal"),
            "either median and p95, or mu and sigma, not both",
        ),
        (
            {"dist": "lognormal", "median": "200ms"},
            ("latency", "lognormal"),
            "needs both median and p95, or both mu and sigma",
        ),
        (
            {"dist": "lognormal", "mu": -1.6, "sigma": 0},
            ("latency", "lognormal", "sigma"),
            "greater than 0",
        ),
        (
            {"dist": "lognormal", "mu": 800, "sigma": 1},
            ("latency", "lognormal", "mu"),
            "less than or equal to 20",
        ),
        (
            {"dist": "lognormal", "mu": 0, "sigma": 6},
            ("latency", "lognormal", "sigma"),
            "less than or equal to 5",
        ),
        (
            {"dist": "lognormal", "median": "1ms", "p95": "1d"},
            ("latency", "lognormal"),
            "p95 / median <= 3,7",
        ),
        (
            {"dist": "lognormal", "mu": "1", "sigma": 1},
            ("latency", "lognormal", "mu"),
            "valid number",
        ),
        (
            {"dist": "exponential", "mean": "1e300d"},
            ("latency", "exponential", "mean"),
            "at most 3650d",
        ),
        (
            {"dist": "lognormal", "mu": math.nan, "sigma": 1},
            ("latency", "lognormal", "mu"),
            "finite number",
        ),
        (
            {"dist": "empirical", "samples": []},
            ("latency", "empirical", "samples"),
            "at least 1 item",
        ),
        (
            {"dist": "empirical", "samples": ["1s", "fast"]},
            ("latency", "empirical", "samples", 1),
            "expected a duration",
        ),
    ],
)
def test_bad_forms_are_rejected(raw: Any, loc: tuple[Any, ...], message: str) -> None:
    """Every bad form fails validation at the right place with an explanatory message."""
    with pytest.raises(ValidationError) as info:
        Service(latency=raw)
    errors = info.value.errors()
    assert [e["loc"] for e in errors][-1] == loc
    assert any(message in e["msg"] for e in errors)


def test_models_are_frozen() -> None:
    """A parsed distribution cannot be changed after validation."""
    dist = Uniform(low=1.0, high=2.0)
    with pytest.raises(ValidationError, match="frozen"):
        dist.low = 0.5  # type: ignore[misc]


def test_lognormal_percentile_form() -> None:
    """The median/p95 form sets mu = ln(median), sigma from z95, and reproduces its p95."""
    dist = LogNormal(median=0.2, p95=0.6)
    assert math.isclose(Z95, 1.6448536269514722, rel_tol=1e-15)
    assert dist.log_mu == math.log(0.2)
    assert dist.log_sigma == pytest.approx(math.log(3.0) / 1.6448536269514722, rel=1e-15)
    assert dist.quantile(0.95) == pytest.approx(0.6, rel=1e-12)
    assert dist.quantile(0.5) == pytest.approx(0.2, rel=1e-12)
    assert dist.mean() == pytest.approx(0.2 * math.exp(dist.log_sigma**2 / 2), rel=1e-15)
    draws = dist.sample_many(rng(), 200_000)
    assert np.mean(draws <= 0.6) == pytest.approx(0.95, abs=0.003)


@PROPERTY
@given(
    st.floats(min_value=1e-4, max_value=10.0),
    st.floats(min_value=1.05, max_value=20.0),
)
def test_lognormal_p95_matches_parameter(median: float, ratio: float) -> None:
    """For any median and p95 > median, quantile(0.95) returns p95 and samples agree."""
    dist = LogNormal(median=median, p95=median * ratio)
    assert dist.quantile(0.95) == pytest.approx(median * ratio, rel=1e-12)
    share = float(np.mean(dist.sample_many(rng(), N) <= median * ratio))
    assert share == pytest.approx(0.95, abs=0.01)


def _assert_mean_converges(dist: DistributionModel) -> None:
    draws = dist.sample_many(rng(), N)
    assert draws.shape == (N,)
    assert np.all(draws >= 0.0)
    tolerance = 6.0 * float(np.std(draws)) / math.sqrt(N) + 1e-12 * dist.mean()
    assert abs(float(np.mean(draws)) - dist.mean()) <= tolerance


durations = st.floats(min_value=1e-3, max_value=100.0)


@PROPERTY
@given(durations, durations)
def test_uniform_mean_converges(a: float, b: float) -> None:
    """Sample means of uniform draws converge to (low + high) / 2."""
    _assert_mean_converges(Uniform(low=min(a, b), high=max(a, b)))


@PROPERTY
@given(durations)
def test_exponential_mean_converges(mean: float) -> None:
    """Sample means of exponential draws converge to the mean parameter."""
    _assert_mean_converges(Exponential(mean=mean))


@PROPERTY
@given(st.floats(min_value=0.0, max_value=10.0), durations)
def test_truncated_normal_mean_converges(mean: float, std: float) -> None:
    """Truncated-normal draws are never negative and average to the truncated mean."""
    dist = Normal(mean=mean, std=std)
    assert dist.mean() >= mean
    _assert_mean_converges(dist)


@PROPERTY
@given(st.floats(min_value=-6.0, max_value=3.0), st.floats(min_value=0.05, max_value=1.0))
def test_lognormal_mean_converges(mu: float, sigma: float) -> None:
    """Sample means of lognormal draws converge to exp(mu + sigma^2 / 2)."""
    _assert_mean_converges(LogNormal(mu=mu, sigma=sigma))


@PROPERTY
@given(st.lists(durations, min_size=1, max_size=30))
def test_empirical_mean_converges(samples: list[float]) -> None:
    """Empirical draws come from the listed values and average to their mean."""
    dist = Empirical(samples=tuple(samples))
    assert set(dist.sample_many(rng(), 500).tolist()) <= set(samples)
    _assert_mean_converges(dist)


def test_truncated_normal_known_values() -> None:
    """mean() is the truncated mean: a half-normal at mean 0 has mean std * sqrt(2/pi)."""
    half = Normal(mean=0.0, std=2.0)
    assert half.mean() == pytest.approx(2.0 * math.sqrt(2.0 / math.pi), rel=1e-14)
    assert half.quantile(0.5) == pytest.approx(2.0 * 0.6744897501960817, rel=1e-12)
    assert half.quantile(0.0) == 0.0
    assert half.quantile(1.0) == math.inf
    far = Normal(mean=10.0, std=0.1)
    assert far.mean() == pytest.approx(10.0, rel=1e-15)


def test_truncated_normal_matches_scipy() -> None:
    """Truncated-normal mean and quantiles agree with scipy's truncnorm."""
    stats = pytest.importorskip("scipy.stats")
    for mean, std in [(0.1, 1.0), (1.0, 0.2), (0.0, 0.5), (0.3, 3.0)]:
        dist = Normal(mean=mean, std=std)
        ref = stats.truncnorm(-mean / std, math.inf, loc=mean, scale=std)
        assert dist.mean() == pytest.approx(ref.mean(), rel=1e-9)
        for q in (0.01, 0.25, 0.5, 0.9, 0.999):
            assert dist.quantile(q) == pytest.approx(ref.ppf(q), rel=1e-9)


@PROPERTY
@given(st.floats(min_value=0.0, max_value=0.5), st.floats(min_value=0.5, max_value=5.0))
def test_truncation_never_yields_negatives(mean: float, std: float) -> None:
    """Even with most mass near zero, single draws and batches are all >= 0."""
    dist = Normal(mean=mean, std=std)
    gen = rng()
    assert all(dist.sample(gen) >= 0.0 for _ in range(200))
    assert float(np.min(dist.sample_many(gen, N))) >= 0.0


@pytest.mark.parametrize(
    "dist",
    [
        Uniform(low=0.5, high=1.5),
        Exponential(mean=2.0),
        Normal(mean=0.2, std=0.3),
        LogNormal(median=0.2, p95=0.6),
    ],
)
def test_quantiles_match_samples(dist: DistributionModel) -> None:
    """For continuous forms the share of draws below quantile(q) is close to q."""
    draws = dist.sample_many(rng(), N)
    for q in (0.1, 0.5, 0.9, 0.99):
        assert float(np.mean(draws <= dist.quantile(q))) == pytest.approx(q, abs=0.012)


def test_quantile_edges_and_range() -> None:
    """Quantiles are exact at the edges and refuse levels outside [0, 1]."""
    assert Fixed(value=0.25).quantile(0.7) == 0.25
    assert Uniform(low=1.0, high=3.0).quantile(0.25) == 1.5
    assert Exponential(mean=2.0).quantile(0.5) == pytest.approx(2.0 * math.log(2.0))
    assert Exponential(mean=2.0).quantile(1.0) == math.inf
    assert LogNormal(mu=0.0, sigma=1.0).quantile(0.0) == 0.0
    emp = Empirical(samples=(0.4, 0.12, 0.18))
    assert [emp.quantile(q) for q in (0.0, 0.33, 0.34, 0.67, 1.0)] == [
        0.12,
        0.12,
        0.18,
        0.4,
        0.4,
    ]
    for dist in (Fixed(value=1.0), Exponential(mean=1.0), emp):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            dist.quantile(1.5)


def test_describe() -> None:
    """describe() gives a short readable summary of each form."""
    assert Fixed(value=0.25).describe() == "fixed 250ms"
    assert Uniform(low=1.0, high=3.0).describe() == "uniform 1s..3s"
    assert Exponential(mean=2.0).describe() == "exponential mean 2s"
    assert Normal(mean=1.0, std=0.2).describe() == "normal mean 1s std 200ms (truncated at 0)"
    assert LogNormal(median=0.2, p95=0.6).describe() == "lognormal median 200ms p95 600ms"
    assert LogNormal(mu=-1.6, sigma=0.67).describe().startswith("lognormal mu=-1.6 sigma=0.67")
    assert Empirical(samples=(0.12, 0.18, 0.4)).describe() == (
        "empirical 3 samples 120ms..400ms, mean 233.3ms"
    )


def test_json_schema_lists_every_form() -> None:
    """model_json_schema() documents all six forms with YAML key names and the shorthand."""
    schema = Service.model_json_schema()
    defs = schema["$defs"]
    assert {"Fixed", "Uniform", "Exponential", "Normal", "LogNormal", "Empirical"} <= set(defs)
    branches = schema["properties"]["latency"]["oneOf"]
    assert len(branches) == len(DIST_KINDS) + 1 == len(UNION_TAGS)
    assert any("anyOf" in b and "Shorthand" in b.get("description", "") for b in branches)
    assert set(defs["Exponential"]["properties"]) == {"dist", "mean"}
    assert set(defs["Normal"]["required"]) == {"mean", "std"}
    assert set(defs["LogNormal"]["properties"]) == {"dist", "median", "p95", "mu", "sigma"}
    assert all(defs[name]["additionalProperties"] is False for name in defs)


ALL_FORMS: list[DistributionModel] = [
    Fixed(value=0.25),
    Uniform(low=1.0, high=3.0),
    Exponential(mean=2.0),
    Normal(mean=1.0, std=0.2),
    LogNormal(median=0.2, p95=0.6),
    LogNormal(mu=-1.6, sigma=0.67),
    Empirical(samples=(0.12, 0.18, 0.4)),
]


@pytest.mark.parametrize("dist", ALL_FORMS)
def test_json_dump_round_trip(dist: DistributionModel) -> None:
    """A JSON dump uses YAML keys and unit strings, omits unset fields, and parses back."""
    dumped = Service(latency=dist).model_dump(mode="json")["latency"]
    assert dumped["dist"] == dist.dist
    assert "mean_value" not in dumped
    assert None not in dumped.values()
    assert parse_distribution(dumped) == dist
    text = Service(latency=dist).model_dump_json()
    assert Service.model_validate_json(text).latency == dist


def test_json_dump_writes_units() -> None:
    """Durations inside distributions are written in their unit forms."""
    assert Normal(mean=1.0, std=0.2).model_dump(mode="json") == {
        "dist": "normal",
        "mean": "1s",
        "std": "200ms",
    }
    assert LogNormal(mu=-1.6, sigma=0.67).model_dump(mode="json") == {
        "dist": "lognormal",
        "mu": -1.6,
        "sigma": 0.67,
    }


@PROPERTY
@given(durations, durations)
def test_uniform_round_trip_any_values(a: float, b: float) -> None:
    """Any uniform distribution survives a JSON dump and re-parse exactly."""
    dist = Uniform(low=min(a, b), high=max(a, b))
    assert parse_distribution(dist.model_dump(mode="json")) == dist


@pytest.mark.parametrize("dist", ALL_FORMS)
def test_sampler_is_deterministic_for_a_batch_size(dist: DistributionModel) -> None:
    """Same seed, dist and batch size give the same sequence across batch boundaries."""
    first = make_sampler(dist, rng(7), batch=64)
    second = make_sampler(dist, rng(7), batch=64)
    a = [first() for _ in range(1000)]
    b = [second() for _ in range(1000)]
    assert a == b
    assert all(isinstance(x, float) and x >= 0.0 for x in a)
    gen = rng(7)
    batched = np.concatenate([dist.sample_many(gen, 64) for _ in range(16)])
    assert a == batched[:1000].tolist()


def test_sampler_batch_one_equals_single_draws() -> None:
    """With batch=1 the sampler yields what repeated sample() calls yield."""
    dist = Normal(mean=0.1, std=0.5)
    sampler = make_sampler(dist, rng(3), batch=1)
    gen = rng(3)
    assert [sampler() for _ in range(300)] == [dist.sample(gen) for _ in range(300)]


def test_fixed_sampler_leaves_rng_untouched() -> None:
    """A fixed distribution's sampler returns its value and draws nothing."""
    gen = rng(5)
    before = gen.bit_generator.state
    sampler = make_sampler(Fixed(value=0.25), gen)
    assert [sampler() for _ in range(10)] == [0.25] * 10
    assert gen.bit_generator.state == before


def test_sampler_rejects_bad_batch() -> None:
    """A batch size below one is refused."""
    with pytest.raises(ValueError, match="batch must be at least 1"):
        make_sampler(Exponential(mean=1.0), rng(), batch=0)
