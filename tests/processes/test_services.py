"""The queueing station every trust-authority service is built on, checked against M/M/c theory.

A :class:`sim.processes.services.Service` fed by Poisson arrivals with exponential service
times is an M/M/c queue. Its steady state is known in closed form (Erlang C): the probability
of waiting ``C(c, a)`` with offered load ``a = lambda/mu``, the mean wait
``Wq = C(c, a) / (c*mu - lambda)``, the utilisation ``rho = lambda/(c*mu)`` and, by Little's
law, the mean queue length ``Lq = lambda*Wq``.

Each station runs for a warm-up (history discarded through :meth:`Level.reset`, exactly as a
scenario's warm-up does) and then for ``K`` equal time batches. Batches are many relaxation
times long (the relaxation time of these queues is some tens of mean service times; a batch
holds thousands of customers), so batch means are close to independent and normal, and the
99% confidence interval ``mean +- t(0.995, K-1) * sd / sqrt(K)`` is a fair tolerance. The
seeds are fixed, so the tests are deterministic; the intervals say how far a correct model may
stray, and a check that the interval is narrow keeps the comparison from being vacuous.

Beside the statistics, the recorder's time-weighted levels are checked against the customers'
own bookkeeping, which must agree to rounding: the area under the queue level is the sum of
the waiting time spent inside the window (Little's law on one sample path), and the area under
the busy level is the sum of the service time spent inside it.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from sim.analysis.recorder import Recorder
from sim.analysis.summary import summarise
from sim.processes.context import Context, CountingEnvironment
from sim.processes.network import Paths
from sim.processes.services import Service
from sim.rng import Streams
from sim.scenario.distributions import parse_distribution

KIND = "attestation_service"
NAME = f"{KIND}.0"
BATCHES = 25


@dataclass(frozen=True)
class Station:
    """An M/M/c station: ``c`` workers, arrival rate ``lam``, service rate ``mu`` (per s)."""

    c: int
    lam: float
    mu: float
    batch_s: float
    seed: int

    @property
    def a(self) -> float:
        """Offered load in Erlangs."""
        return self.lam / self.mu

    @property
    def rho(self) -> float:
        """Utilisation of each worker."""
        return self.lam / (self.c * self.mu)

    @property
    def warmup_s(self) -> float:
        """Warm-up length: two batches."""
        return 2 * self.batch_s

    @property
    def horizon_s(self) -> float:
        """End of the measured window."""
        return self.warmup_s + BATCHES * self.batch_s


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival has to wait in an M/M/c queue with offered load ``a``."""
    if not 0 < a < c:
        raise ValueError("the queue is stable only for 0 < a < c")
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def erlang_wq(s: Station) -> float:
    """Mean waiting time in queue, Erlang C."""
    return erlang_c(s.c, s.a) / (s.c * s.mu - s.lam)


@dataclass
class Observed:
    """What one run of a station produced."""

    arrivals: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    busy_area: list[float] = field(default_factory=list)
    queue_area: list[float] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def _run(s: Station) -> Observed:
    """Simulate station ``s`` to its horizon, drain it, and collect waits and level areas."""
    env = CountingEnvironment()
    rec = Recorder()
    streams = Streams(s.seed)
    ctx = Context(env, streams, rec, Paths(nx.Graph(), streams))
    service = parse_distribution({"dist": "exponential", "mean": 1.0 / s.mu})
    svc = Service(ctx, NAME, s.c, service, "service")
    arrival_rng = streams.stream("arrivals")
    obs = Observed()

    def customer(i: int) -> Generator[Any, Any, None]:
        waited = (yield from svc.serve()).waited
        obs.waits[i] = waited
        obs.done[i] = env.now

    def source() -> Generator[Any, Any, None]:
        while True:
            yield env.timeout(float(arrival_rng.exponential(1.0 / s.lam)))
            if env.now >= s.horizon_s:
                return
            obs.arrivals.append(env.now)
            obs.waits.append(math.nan)
            obs.done.append(math.nan)
            env.process(customer(len(obs.arrivals) - 1))

    def observer() -> Generator[Any, Any, None]:
        yield env.timeout(s.warmup_s)
        for level in rec.levels.values():
            level.reset(env.now)
        busy, queue = rec.levels[f"{NAME}.busy"], rec.levels[f"{NAME}.queue"]
        for _ in range(BATCHES + 1):
            span = env.now - s.warmup_s
            obs.busy_area.append(busy.mean(env.now) * span)
            obs.queue_area.append(queue.mean(env.now) * span)
            if len(obs.busy_area) == BATCHES + 1:
                obs.summary = summarise(rec, env.now, s.warmup_s)["services"][KIND]
                return
            yield env.timeout(s.batch_s)

    env.process(source())
    env.process(observer())
    env.run()  # the source stops at the horizon, so this drains every queued customer
    return obs


def _ci99(batch_means: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[float, float]:
    """Grand mean and half-width of the 99% batch-means confidence interval."""
    k = len(batch_means)
    half = float(sps.t.ppf(0.995, k - 1) * batch_means.std(ddof=1) / math.sqrt(k))
    return float(batch_means.mean()), half


def _batch_waits(s: Station, obs: Observed) -> np.ndarray[Any, np.dtype[np.float64]]:
    arr = np.asarray(obs.arrivals)
    waits = np.asarray(obs.waits)
    idx = np.floor((arr - s.warmup_s) / s.batch_s).astype(int)
    keep = (idx >= 0) & (idx < BATCHES)
    sums = np.bincount(idx[keep], weights=waits[keep], minlength=BATCHES)
    counts = np.bincount(idx[keep], minlength=BATCHES)
    return np.asarray(sums / counts, dtype=np.float64)


def _overlap(
    starts: np.ndarray[Any, Any], ends: np.ndarray[Any, Any], lo: float, hi: float
) -> float:
    return float(np.clip(np.minimum(ends, hi) - np.maximum(starts, lo), 0.0, None).sum())


STATIONS = {
    "c2_rho0.7": Station(c=2, lam=1.4, mu=1.0, batch_s=2000.0, seed=11),
    "c4_rho0.7": Station(c=4, lam=5.6, mu=2.0, batch_s=800.0, seed=12),
}
_CACHE: dict[str, Observed] = {}


@pytest.fixture(params=sorted(STATIONS), scope="module")
def station(request: pytest.FixtureRequest) -> tuple[Station, Observed]:
    """One simulated station with its observations (simulated once per module)."""
    key: str = request.param
    if key not in _CACHE:
        _CACHE[key] = _run(STATIONS[key])
    return STATIONS[key], _CACHE[key]


def test_erlang_c_matches_known_values() -> None:
    """The Erlang C helper reproduces hand-computed values (M/M/1: rho; 1/3; 4/9)."""
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0)
    assert erlang_c(3, 2.0) == pytest.approx(4.0 / 9.0)
    with pytest.raises(ValueError):
        erlang_c(2, 2.0)


@pytest.mark.slow
def test_every_customer_is_served(station: tuple[Station, Observed]) -> None:
    """After draining, every arrival has a wait >= 0 and a completion after its arrival."""
    s, obs = station
    waits, done, arr = np.asarray(obs.waits), np.asarray(obs.done), np.asarray(obs.arrivals)
    assert len(arr) > 0.95 * s.lam * s.horizon_s
    assert not np.isnan(waits).any()
    assert (waits >= 0).all()
    assert (done >= arr + waits).all()
    assert np.mean(waits > 0) == pytest.approx(erlang_c(s.c, s.a), abs=0.03)


@pytest.mark.slow
def test_mean_wait_matches_erlang_c(station: tuple[Station, Observed]) -> None:
    """Mean queue wait lies within the 99% batch-means CI of Erlang C's Wq."""
    s, obs = station
    mean, half = _ci99(_batch_waits(s, obs))
    wq = erlang_wq(s)
    assert half < 0.1 * wq, "run too short for a meaningful comparison"
    assert abs(mean - wq) <= half, f"Wq observed {mean:.4f} +- {half:.4f}, Erlang C {wq:.4f}"


@pytest.mark.slow
def test_utilisation_matches_offered_load(station: tuple[Station, Observed]) -> None:
    """The recorder's time-weighted utilisation equals lambda/(c*mu) within its 99% CI."""
    s, obs = station
    areas = np.diff(np.asarray(obs.busy_area))
    mean, half = _ci99(areas / (s.batch_s * s.c))
    assert half < 0.03
    assert obs.summary["workers"] == s.c
    assert obs.summary["nodes"]["0"]["utilisation"] == obs.summary["utilisation"]
    assert obs.summary["utilisation"] == pytest.approx(mean, rel=1e-9)
    assert abs(obs.summary["utilisation"] - s.rho) <= half


@pytest.mark.slow
def test_mean_queue_obeys_littles_law(station: tuple[Station, Observed]) -> None:
    """The recorder's mean queue length equals lambda*Wq (Erlang C) within its 99% CI."""
    s, obs = station
    areas = np.diff(np.asarray(obs.queue_area))
    mean, half = _ci99(areas / s.batch_s)
    lq = s.lam * erlang_wq(s)
    assert half < 0.12 * lq
    assert obs.summary["mean_queue"] == pytest.approx(mean, rel=1e-9)
    assert abs(obs.summary["mean_queue"] - lq) <= half


@pytest.mark.slow
def test_levels_match_customer_bookkeeping(station: tuple[Station, Observed]) -> None:
    """Queue and busy areas equal the customers' waiting and service time in the window."""
    s, obs = station
    arr, waits, done = (np.asarray(x) for x in (obs.arrivals, obs.waits, obs.done))
    lo, hi = s.warmup_s, s.horizon_s
    waited = _overlap(arr, arr + waits, lo, hi)
    served = _overlap(arr + waits, done, lo, hi)
    assert obs.queue_area[-1] == pytest.approx(waited, rel=1e-9)
    assert obs.busy_area[-1] == pytest.approx(served, rel=1e-9)
    observed_lam = float(np.count_nonzero((arr >= lo) & (arr < hi))) / (hi - lo)
    assert observed_lam == pytest.approx(s.lam, rel=0.02)


def _lock_trace(
    use_lock: bool, capacity: int, jobs: list[tuple[float, float]]
) -> tuple[list[tuple[int, float, float]], int]:
    """Who got a slot when and left when, for jobs (arrival, hold) on a ``Lock`` or a
    plain ``simpy.Resource``, and how many events the run processed."""
    import simpy

    from sim.processes.context import CountingEnvironment
    from sim.processes.services import Lock

    env = CountingEnvironment()
    res: simpy.Resource = Lock(env, capacity) if use_lock else simpy.Resource(env, capacity)
    trace: list[tuple[int, float, float]] = []

    def job(i: int, arrival: float, hold: float) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(arrival)
        if use_lock:
            assert isinstance(res, Lock)
            with res.slot() as turn:
                if turn.pending is not None:
                    yield turn.pending
                start = env.now
                yield env.timeout(hold)
        else:
            with res.request() as req:
                yield req
                start = env.now
                yield env.timeout(hold)
        trace.append((i, start, env.now))

    for i, (arrival, hold) in enumerate(jobs):
        env.process(job(i, arrival, hold))
    env.run()
    return trace, env.events_processed


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 3),
    jobs=st.lists(
        st.tuples(st.sampled_from([0.0, 1.0, 2.5, 3.0]), st.sampled_from([0.0, 0.5, 1.0, 2.0])),
        min_size=1,
        max_size=12,
    ),
)
def test_lock_grants_what_a_simpy_resource_grants_with_fewer_events(
    capacity: int, jobs: list[tuple[float, float]]
) -> None:
    """On the same jobs (ties in arrival and hold included) a Lock grants the same slots at
    the same times in the same order as simpy.Resource, and processes fewer events
    whenever some request found a free slot with nobody waiting."""
    lock, lock_events = _lock_trace(True, capacity, jobs)
    plain, plain_events = _lock_trace(False, capacity, jobs)
    assert lock == plain
    assert lock_events < plain_events
