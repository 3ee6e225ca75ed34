"""Timing distributions for scenario files (all values in seconds).

Service times, think times and delays in a scenario are distributions written in YAML::

    250ms                                    # fixed (shorthand; a bare number is seconds)
    {dist: fixed, value: 250ms}
    {dist: uniform, low: 1s, high: 3s}
    {dist: exponential, mean: 2s}
    {dist: normal, mean: 1s, std: 200ms}     # truncated at zero
    {dist: lognormal, median: 200ms, p95: 600ms}
    {dist: lognormal, mu: -1.6, sigma: 0.67} # parameters of ln(seconds)
    {dist: empirical, samples: [120ms, 180ms, 400ms]}

Each form is a frozen pydantic model; ``Distribution`` is the annotated type that scenario
fields use (a discriminated union on ``dist`` that also takes the shorthand). Every model
samples from a ``numpy.random.Generator`` and knows its exact mean and its quantiles.

Truncation of the normal distribution: a service time cannot be negative, so draws below
zero are discarded and drawn again. That is sampling from the normal distribution
conditioned on ``X >= 0``; ``mean()`` and ``quantile()`` are those of the conditioned
distribution, not of the untruncated one. Because a mean is a duration (never negative), at
least half of all draws are kept.

The simulator draws millions of values; one numpy call per value is slow, so
:func:`make_sampler` draws in batches and hands the values out one at a time.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from itertools import chain, repeat
from statistics import NormalDist as _StdNormal
from typing import Annotated, Any, Literal, Union

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    TypeAdapter,
    WithJsonSchema,
    model_serializer,
    model_validator,
)

from sim.scenario.bounds import StrictModel
from sim.scenario.units import Duration, PositiveDuration, describe_duration, parse_duration

__all__ = [
    "DIST_KINDS",
    "UNION_TAGS",
    "Distribution",
    "DistributionModel",
    "Empirical",
    "Exponential",
    "Fixed",
    "LogNormal",
    "Normal",
    "Uniform",
    "make_sampler",
    "parse_distribution",
]

MAX_LOG_MU = 20.0
"""Bound of a log-normal's ``|mu|`` (ln seconds): a median between 2 ns and 15 years."""
MAX_LOG_SIGMA = 5.0
"""Bound of a log-normal's ``sigma``: with ``mu`` bounded too, ``exp`` of any draw (and the
mean, ``exp(mu + sigma**2 / 2)``) stays far from overflow, so no draw is ever infinite."""

_STD_NORMAL = _StdNormal()
Z95 = _STD_NORMAL.inv_cdf(0.95)
"""The 95th percentile of the standard normal distribution (1.6448536...)."""

DIST_KINDS = ("fixed", "uniform", "exponential", "normal", "lognormal", "empirical")
UNION_TAGS = frozenset((*DIST_KINDS, "shorthand"))
"""The tags pydantic puts into error locations below a ``Distribution`` field."""

# Field names that differ from their YAML keys because the model also has a method of the
# same name (``mean()``).
_KEY_OF_FIELD = {"mean_value": "mean"}


def _check_q(q: float) -> float:
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"a quantile level must lie in [0, 1], got {q!r}")
    return q


class _Dist(StrictModel, ABC):
    """What every timing distribution offers (numbers strict and finite)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dist: str = Field(description="the distribution's name")

    @abstractmethod
    def sample_many(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        """``n`` independent draws, in seconds, all ``>= 0``."""

    @abstractmethod
    def mean(self) -> float:
        """The exact mean in seconds."""

    @abstractmethod
    def quantile(self, q: float) -> float:
        """The ``q``-quantile in seconds (inverse CDF); ``inf`` at ``q = 1`` if unbounded."""

    @abstractmethod
    def describe(self) -> str:
        """A short human-readable form, e.g. ``lognormal median 200ms p95 600ms``."""

    def sample(self, rng: np.random.Generator) -> float:
        """One draw in seconds (``>= 0``)."""
        return float(self.sample_many(rng, 1)[0])

    @model_serializer(mode="wrap")
    def _as_yaml_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {_KEY_OF_FIELD.get(k, k): v for k, v in data.items() if v is not None}


class Fixed(_Dist):
    """Always the same value."""

    dist: Literal["fixed"] = Field(default="fixed", description="always the same value")
    value: Duration

    def sample_many(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        return np.full(n, self.value, dtype=np.float64)

    def mean(self) -> float:
        return self.value

    def quantile(self, q: float) -> float:
        _check_q(q)
        return self.value

    def describe(self) -> str:
        return f"fixed {describe_duration(self.value)}"


class Uniform(_Dist):
    """Uniform on ``[low, high]``."""

    dist: Literal["uniform"] = Field(default="uniform", description="uniform between low and high")
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.low > self.high:
            raise ValueError(
                f"uniform needs low <= high, got low={describe_duration(self.low)} "
                f"and high={describe_duration(self.high)}"
            )
        return self

    def sample_many(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        return rng.uniform(self.low, self.high, n)

    def mean(self) -> float:
        return (self.low + self.high) / 2.0

    def quantile(self, q: float) -> float:
        return self.low + _check_q(q) * (self.high - self.low)

    def describe(self) -> str:
        return f"uniform {describe_duration(self.low)}..{describe_duration(self.high)}"


class Exponential(_Dist):
    """Exponential with the given mean (memoryless inter-arrival or service times)."""

    dist: Literal["exponential"] = Field(
        default="exponential",
        description="exponential with the given mean",
    )
    mean_value: PositiveDuration = Field(alias="mean")

    def sample_many(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        return rng.exponential(self.mean_value, n)

    def mean(self) -> float:
        return self.mean_value

    def quantile(self, q: float) -> float:
        if _check_q(q) == 1.0:
            return math.inf
        return -self.mean_value * math.log1p(-q)

    def describe(self) -> str:
        return f"exponential mean {describe_duration(self.mean_value)}"


class Normal(_Dist):
    """Normal with ``mean`` and ``std``, truncated at zero by redrawing negative values.

    ``mean_value`` and ``std`` are the parameters of the untruncated normal distribution;
    :meth:`mean` and :meth:`quantile` describe the truncated one.
    """

    dist: Literal["normal"] = Field(default="normal", description="normal, truncated at 0")
    mean_value: Duration = Field(alias="mean")
    std: PositiveDuration

    def _kept(self) -> float:
        """P(X >= 0) for the untruncated distribution; at least 0.5."""
        return _STD_NORMAL.cdf(self.mean_value / self.std)

    def sample_many(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        out = np.empty(n, dtype=np.float64)
        filled = 0
        while filled < n:
            need = n - filled
            draws = rng.normal(self.mean_value, self.std, need + need // 2 + 1)
            kept = draws[draws >= 0.0][:need]
            out[filled : filled + kept.size] = kept
            filled += kept.size
        return out

    def mean(self) -> float:
        alpha = -self.mean_value / self.std
        density = math.exp(-0.5 * alpha * alpha) / math.sqrt(2.0 * math.pi)
        return self.mean_value + self.std * density / self._kept()

    def quantile(self, q: float) -> float:
        # Work from the upper tail: P(X > x | X >= 0) = 1 - q keeps precision near q = 1.
        tail = (1.0 - _check_q(q)) * self._kept()
        if tail <= 0.0:
            return math.inf
        if tail >= 1.0:
            return 0.0
        return max(0.0, self.mean_value - self.std * _STD_NORMAL.inv_cdf(tail))

    def describe(self) -> str:
        return (
            f"normal mean {describe_duration(self.mean_value)} "
            f"std {describe_duration(self.std)} (truncated at 0)"
        )


class LogNormal(_Dist):
    """Log-normal, given either by ``median`` and ``p95`` or by ``mu`` and ``sigma``.

    ``mu`` and ``sigma`` are the mean and standard deviation of ``ln(seconds)``. From the
    percentile form, ``mu = ln(median)`` and ``sigma = (ln(p95) - ln(median)) / z95`` with
    ``z95`` the standard normal 95th percentile.
    """

    dist: Literal["lognormal"] = Field(
        default="lognormal",
        description="log-normal, by median and p95 or by mu and sigma",
    )
    median: PositiveDuration | None = Field(default=None, description="the median (with p95)")
    p95: PositiveDuration | None = Field(
        default=None,
        description="the 95th percentile (with median)",
    )
    mu: float | None = Field(
        default=None,
        ge=-MAX_LOG_MU,
        le=MAX_LOG_MU,
        description="mean of the underlying normal, log-seconds (with sigma)",
    )
    sigma: float | None = Field(
        default=None,
        gt=0,
        le=MAX_LOG_SIGMA,
        description="standard deviation of the underlying normal (with mu)",
    )

    @model_validator(mode="after")
    def _one_form(self) -> LogNormal:
        by_percentiles = self.median is not None or self.p95 is not None
        by_moments = self.mu is not None or self.sigma is not None
        if by_percentiles and by_moments:
            raise ValueError("lognormal takes either median and p95, or mu and sigma, not both")
        if self.median is not None and self.p95 is not None:
            if self.p95 <= self.median:
                raise ValueError(
                    f"lognormal needs p95 > median, got median={describe_duration(self.median)}"
                    f" and p95={describe_duration(self.p95)}"
                )
            if self.log_sigma > MAX_LOG_SIGMA:
                raise ValueError(
                    f"lognormal needs p95 / median <= {math.exp(MAX_LOG_SIGMA * Z95):,.0f} "
                    f"(sigma <= {MAX_LOG_SIGMA:g}), got median={describe_duration(self.median)}"
                    f" and p95={describe_duration(self.p95)}"
                )
        elif self.mu is None or self.sigma is None:
            raise ValueError("lognormal needs both median and p95, or both mu and sigma")
        return self

    @property
    def log_mu(self) -> float:
        """Mean of ``ln(seconds)``."""
        if self.mu is not None:
            return self.mu
        assert self.median is not None
        return math.log(self.median)

    @property
    def log_sigma(self) -> float:
        """Standard deviation of ``ln(seconds)``."""
        if self.sigma is not None:
            return self.sigma
        assert self.median is not None and self.p95 is not None
        return (math.log(self.p95) - math.log(self.median)) / Z95

    def sample_many(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        return rng.lognormal(self.log_mu, self.log_sigma, n)

    def mean(self) -> float:
        return math.exp(self.log_mu + 0.5 * self.log_sigma**2)

    def quantile(self, q: float) -> float:
        if _check_q(q) == 0.0:
            return 0.0
        if q == 1.0:
            return math.inf
        return math.exp(self.log_mu + self.log_sigma * _STD_NORMAL.inv_cdf(q))

    def describe(self) -> str:
        if self.median is not None and self.p95 is not None:
            return (
                f"lognormal median {describe_duration(self.median)} "
                f"p95 {describe_duration(self.p95)}"
            )
        return (
            f"lognormal mu={self.log_mu:.4g} sigma={self.log_sigma:.4g} "
            f"(median {describe_duration(math.exp(self.log_mu))})"
        )


class Empirical(_Dist):
    """Resamples uniformly from measured values (each listed value equally likely)."""

    dist: Literal["empirical"] = Field(
        default="empirical",
        description="resampled from measured values",
    )
    samples: tuple[Duration, ...] = Field(
        min_length=1,
        max_length=100_000,
        description="the measured values, drawn with equal probability",
    )

    def sample_many(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        values = np.asarray(self.samples, dtype=np.float64)
        return values[rng.integers(0, values.size, n)]

    def mean(self) -> float:
        return math.fsum(self.samples) / len(self.samples)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        rank = math.ceil(_check_q(q) * len(ordered))
        return ordered[max(rank, 1) - 1]

    def describe(self) -> str:
        return (
            f"empirical {len(self.samples)} samples "
            f"{describe_duration(min(self.samples))}..{describe_duration(max(self.samples))}"
            f", mean {describe_duration(self.mean())}"
        )


DistributionModel = Union[Fixed, Uniform, Exponential, Normal, LogNormal, Empirical]  # noqa: UP007
"""Any parsed timing distribution."""


def _shorthand(value: Any) -> Fixed:
    return Fixed(value=parse_duration(value))


def _tag_of(value: Any) -> str | None:
    if isinstance(value, dict):
        tag = value.get("dist")
        return tag if isinstance(tag, str) else None
    if isinstance(value, _Dist):
        return value.dist
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return "shorthand"
    return None


_SHORTHAND_SCHEMA: dict[str, Any] = {
    **TypeAdapter(Duration).json_schema(),
    "description": "Shorthand for a fixed duration, e.g. 250ms or 0.25 (seconds).",
}

Distribution = Annotated[
    Union[  # noqa: UP007
        Annotated[Fixed, Tag("fixed")],
        Annotated[Uniform, Tag("uniform")],
        Annotated[Exponential, Tag("exponential")],
        Annotated[Normal, Tag("normal")],
        Annotated[LogNormal, Tag("lognormal")],
        Annotated[Empirical, Tag("empirical")],
        Annotated[
            Fixed, BeforeValidator(_shorthand), WithJsonSchema(_SHORTHAND_SCHEMA), Tag("shorthand")
        ],
    ],
    Discriminator(
        _tag_of,
        custom_error_type="distribution",
        custom_error_message=(
            "expected a duration such as 250ms, or a mapping whose 'dist' is one of "
            + ", ".join(DIST_KINDS)
        ),
    ),
]
"""A timing distribution field: a mapping with ``dist``, or a duration for a fixed value."""

_ADAPTER: TypeAdapter[DistributionModel] = TypeAdapter(Distribution)


def parse_distribution(value: object) -> DistributionModel:
    """Validate one distribution outside a model (raises pydantic's ``ValidationError``)."""
    return _ADAPTER.validate_python(value)


def make_sampler(
    dist: DistributionModel, rng: np.random.Generator, batch: int = 1024
) -> Callable[[], float]:
    """A zero-argument function returning successive draws of ``dist`` from ``rng``.

    Draws are made ``batch`` at a time (lazily, on the first call and whenever a batch is
    used up). For a given ``rng`` state, ``dist`` and ``batch`` the sequence is fixed; it
    may differ between batch sizes. A fixed distribution does not touch ``rng``.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch!r}")
    if isinstance(dist, Fixed):
        return repeat(dist.value).__next__

    def batches() -> Iterator[list[float]]:
        while True:
            yield dist.sample_many(rng, batch).tolist()

    return chain.from_iterable(batches()).__next__


def make_parked_sampler(
    dist: DistributionModel,
    draw: Callable[[Callable[[np.random.Generator], list[float]]], list[float]],
    batch: int,
) -> Callable[[], float]:
    """Like :func:`make_sampler`, for a stream reached through ``draw`` (a parked stream's
    :meth:`~sim.rng.ParkedStream.draw`): the same draws, batch by batch, lazily."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch!r}")
    if isinstance(dist, Fixed):
        return repeat(dist.value).__next__

    def one_batch(rng: np.random.Generator) -> list[float]:
        values: list[float] = dist.sample_many(rng, batch).tolist()
        return values

    def batches() -> Iterator[list[float]]:
        while True:
            yield draw(one_batch)

    return chain.from_iterable(batches()).__next__
