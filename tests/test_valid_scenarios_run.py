"""Any scenario that validates runs (issue case 2): scenarios drawn from the bounds the
JSON Schema publishes either fail validation with field-path problems, or run for a short
simulated time to its end, without an exception, a hang or a non-finite figure, and every
timing distribution in them draws finite, non-negative values.

Every numeric knob below is drawn from its schema node (minimum, maximum, exclusive bounds,
constants and the bounds themselves, where mistakes hide), distributions in all six forms.
Only the scale of the test is capped, so each example takes a fraction of a second: at
most 4 hosts and 40 VMs, VM memory up to 64 GiB and an encrypted payload of at most 64 MiB
per migration (a larger one is real AES-GCM work, which the size estimate limits), and a
simulated time cut so that the estimate stays under a few thousand events.
"""

from __future__ import annotations

import math
import signal
import typing
from collections.abc import Iterator
from types import FrameType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from sim.errors import ScenarioError
from sim.runner import simulate
from sim.scenario import apply_overrides, parse_scenario, scenario_json_schema
from sim.scenario.distributions import DistributionModel
from sim.scenario.estimate import estimate

SCHEMA = scenario_json_schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]
BASE: dict[str, Any] = {
    "name": "drawn",
    "vcenters": [{"name": "vc-a", "clusters": [{"name": "cl-a", "hosts": 2}]}],
    "vms": {"count": 8},
    "trust_authority": {"key_providers": [{"name": "tkp"}]},
}
KNOBS = (
    "duration",
    "network.lan_latency",
    "network.lan_bandwidth",
    "network.vmotion_nic",
    "trust_authority.attestation_service.workers",
    "trust_authority.attestation_service.service_time",
    "trust_authority.key_provider_service.service_time",
    "trust_authority.hosts",
    "trust_authority.attestation_service.abandoned",
    "trust_authority.key_providers.0.primary_key_cache_ttl",
    "trust_authority.status_service_time",
    "kms.servers",
    "kms.workers",
    "kms.service_time",
    "kms.connection_timeout",
    "hosts.key_persistence",
    "attestation.interval",
    "attestation.jitter",
    "attestation.report_lifetime",
    "attestation.revocation",
    "attestation.timeout",
    "attestation.max_retries",
    "attestation.backoff",
    "attestation.backoff_multiplier",
    "attestation.max_backoff",
    "attestation.tpm_sign_time",
    "attestation.fan_out",
    "attestation.startup",
    "vcenters.0.status_poll_interval",
    "vcenters.0.status_source",
    "vcenters.0.status_propagation",
    "vcenters.0.placement",
    "vms.dirty_rate",
    "vms.initially_running",
    "vms.encryption.none",
    "vms.encryption.vtpm",
    "vms.vmotion_mode.disabled",
    "workload.power_on_rate",
    "workload.lifetime",
    "workload.migration_rate",
    "vmotion.setup_time",
    "vmotion.max_iterations",
    "vmotion.switchover_threshold",
    "vmotion.switchover_time",
    "vmotion.cipher_rate",
    "vmotion.packet_size",
    "drift.random.rate",
    "drift.random.remediate_after",
    "drift.random.reboot_after",
    "reboots.rate",
    "reboots.duration",
    "metrics.sample_interval",
)
CAPS = {
    "vcenters.0.clusters.0.hosts": (1, 4),
    "vms.count": (0, 40),
    "vms.memory": (2**20, 64 * 2**30),
    "vmotion.payload": (0, 64 * 2**20),
}
EVENT_BUDGET = 4000
_DIST_TYPES = typing.get_args(DistributionModel)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = DEFS[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _node(path: str) -> dict[str, Any]:
    """The schema node of a dotted scenario path."""
    node = SCHEMA
    for part in path.split("."):
        node = _resolve(node)
        if part.isdigit():
            node = node["items"]
            continue
        if "properties" not in node:  # an optional section: T | None
            node = next(_resolve(b) for b in node["anyOf"] if "$ref" in b)
        node = node["properties"][part]
    return node


def _number(node: dict[str, Any], cap: tuple[float, float] | None = None) -> st.SearchStrategy[Any]:
    """Numbers within a numeric node's bounds, the bounds themselves included."""
    integer = node["type"] == "integer"
    low = node.get("minimum", node.get("exclusiveMinimum", 0))
    high = node.get("maximum", 1e9)
    if cap is not None:
        low, high = max(low, cap[0]), min(high, cap[1])
    if integer:
        return st.integers(math.ceil(low), int(high))
    exclusive = "exclusiveMinimum" in node
    inside = st.floats(low, high, exclude_min=exclusive, allow_nan=False, allow_infinity=False)
    log = st.floats(-9, math.log10(high) if high > 0 else 0).map(lambda e: 10.0**e)
    edges = [st.just(float(high))] + ([] if exclusive else [st.just(float(low))])
    return st.one_of(*edges, inside, log.filter(lambda v: low < v <= high))


def _value(node: dict[str, Any], cap: tuple[float, float] | None = None) -> st.SearchStrategy[Any]:
    """Values of a schema node: numbers, constants, enums, booleans, distributions."""
    node = _resolve(node)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        kept = [b for b in branches if b.get("type") not in ("string", "null") or "const" in b]
        return st.one_of(*(_value(b, cap) for b in kept or branches))
    kind = node.get("type")
    if kind in ("number", "integer"):
        return _number(node, cap)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(_value(node["items"], cap), min_size=1, max_size=3)
    if kind == "object":
        return _distribution(node)
    raise AssertionError(f"no strategy for schema node {node}")


def _distribution(node: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props = node["properties"]
    kind = props["dist"]["const"]
    fields = [k for k in props if k != "dist"]
    if kind == "lognormal":  # either form, both of its fields
        forms = (("median", "p95"), ("mu", "sigma"))
        return st.sampled_from(forms).flatmap(
            lambda form: st.fixed_dictionaries(
                {"dist": st.just(kind), **{f: _value(props[f]) for f in form}}
            )
        )
    if kind == "uniform":
        ends = st.tuples(_value(props["low"]), _value(props["high"]))
        return ends.map(lambda t: {"dist": kind, "low": min(t), "high": max(t)})
    return st.fixed_dictionaries({"dist": st.just(kind), **{f: _value(props[f]) for f in fields}})


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario mapping with each knob either left at its default (so that the rest of
    the estate stays busy enough to reach the drawn values) or drawn from the schema, and
    the capped scale fields drawn."""
    overrides = {}
    for path in KNOBS:
        value = draw(st.none() | _value(_node(path)))
        if value is not None:
            overrides[path] = value
    for path, cap in CAPS.items():
        overrides[path] = draw(_value(_node(path), cap))
    overrides["vcenters.0.clusters.0.host_memory"] = "24TiB"  # every drawn VM fits
    return apply_overrides(BASE, overrides)


def _short_until(s: Any) -> float:
    """A simulated time whose estimate stays within the event budget."""
    until = min(s.duration, 600.0)
    for _ in range(3):
        events = estimate(s, until).events
        if events <= EVENT_BUDGET:
            break
        until *= EVENT_BUDGET / events
    return until


def _distributions(value: Any, path: str = "") -> Iterator[tuple[str, DistributionModel]]:
    """Every timing distribution of a validated scenario, with its dotted path."""
    if isinstance(value, _DIST_TYPES):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _distributions(getattr(value, name), f"{path}.{name}".lstrip("."))
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            yield from _distributions(item, f"{path}.{i}")


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, float | int) and not isinstance(value, bool):
        yield float(value)


def _edges(node: dict[str, Any]) -> list[Any]:
    """The extreme values a schema node admits: each numeric bound (the smallest positive
    number for an exclusive 0) and each constant; for a distribution, a fixed value at each
    bound and the log-normal with both parameters at their lower, then upper, bounds (the
    widest draws)."""
    node = _resolve(node)
    if "const" in node:
        return [node["const"]]
    if "enum" in node:
        return list(node["enum"])
    branches = node.get("anyOf") or node.get("oneOf")
    if branches and any(_resolve(b).get("title") == "LogNormal" for b in branches):
        props = DEFS["LogNormal"]["properties"]
        mu, sigma = _edges(props["mu"]), _edges(props["sigma"])
        shorthand = [v for b in branches if "anyOf" in b for v in _edges(b)]
        return [
            *shorthand,
            *({"dist": "lognormal", "mu": mu[i], "sigma": sigma[i]} for i in (0, 1)),
        ]
    if branches:
        kept = [b for b in branches if b.get("type") not in ("string", "null") or "const" in b]
        return [v for b in kept for v in _edges(b)]
    if node.get("type") == "array":
        return [[v] for v in _edges(node["items"])]
    if node.get("type") == "boolean":
        return [False, True]
    low = node.get("minimum", 1e-6 if "exclusiveMinimum" in node else 0)
    return [low, node["maximum"]]


EDGES = [
    (path, value) for path in KNOBS for value in {repr(v): v for v in _edges(_node(path))}.values()
]
"""Every knob at each of its extreme values (one at a time, the rest at the defaults)."""


class _Hung(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Hung("the run did not finish within 120 s of wall time")


def _refused_or_runs(data: dict[str, Any]) -> None:
    """``data`` is refused with one-line field-path problems, or runs for a short simulated
    time to its end without an exception, with every summary figure finite."""
    try:
        s = parse_scenario(data)
    except ScenarioError as err:
        assert err.problems and all(p.message and "\n" not in str(p) for p in err.problems)
        return
    for where, dist in _distributions(s):
        draws = dist.sample_many(np.random.default_rng(0), 10_000)
        assert np.isfinite(draws).all() and (draws >= 0).all(), where
        assert math.isfinite(dist.mean()), where
    until = _short_until(s)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(120)
    try:
        out = simulate(s, until=until)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert out.manifest["exception"] is None, out.manifest["exception"]
    assert out.manifest["sim_time_s"] == until
    assert all(math.isfinite(x) for x in _numbers(out.summary)), out.summary


@pytest.mark.parametrize(("path", "value"), EDGES, ids=[f"{p}={v!r}" for p, v in EDGES])
def test_each_knob_at_each_bound_runs(path: str, value: Any) -> None:
    """Every knob at each extreme its schema admits, the rest of a busy estate at its
    defaults, is refused cleanly or runs."""
    _refused_or_runs(apply_overrides(BASE, {path: value}))


@pytest.mark.slow
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios())
def test_every_scenario_that_validates_runs(data: dict[str, Any]) -> None:
    """Scenarios with many knobs drawn from the schema at once are refused cleanly or
    run."""
    _refused_or_runs(data)
