"""Field limits and strict scalars: values that would hang, crash or overflow a run are
refused with their field path and the bound in the field's units, and the JSON Schema
carries the same bounds."""

from __future__ import annotations

from typing import Any

import pytest

from sim.errors import Problem, ScenarioError
from sim.scenario import apply_overrides, parse_scenario, scenario_json_schema

MINIMAL: dict[str, Any] = {
    "name": "t",
    "vcenters": [{"name": "vc-a", "clusters": [{"name": "cl-a", "hosts": 2}]}],
}


def _problems(overrides: dict[str, Any]) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(apply_overrides(MINIMAL, overrides))
    return list(info.value.problems)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("vmotion.packet_size", "0B", "expected a packet size of at least 1KiB"),
        ("vmotion.packet_size", "1GiB", "expected a packet size of at most 16MiB"),
        ("vmotion.cipher_rate", 0, "expected a bandwidth of at least 1Mbps"),
        ("network.vmotion_nic", "0Gbps", "expected a bandwidth of at least 1Mbps"),
        ("network.lan_bandwidth", "10bps", "expected a bandwidth of at least 1Mbps"),
        ("metrics.sample_interval", "1ms", "expected a period of at least 1s"),
        ("attestation.interval", "1us", "expected a period of at least 1s"),
        ("vcenters.0.status_poll_interval", "0.5s", "expected a period of at least 1s"),
        ("duration", "1e300d", "expected a duration of at most 3650d"),
        ("attestation.report_lifetime", "4000d", "expected a duration of at most 3650d"),
        ("workload.power_on_rate", "2000000 per_second", "at most 1000000 per_second"),
        ("drift.random.rate", "1e-9 per_day", "expected 0 or a rate of at least 0.0001"),
        ("vms.memory", ["0B"], "expected a VM memory size of at least 1MiB"),
        ("vcenters.0.clusters.0.host_memory", "100TiB", "at most 24TiB"),
        ("attestation.tpm_sign_time", {"dist": "lognormal", "mu": 800, "sigma": 1}, "at most"),
        ("attestation.tpm_sign_time", {"dist": "exponential", "mean": "1e300d"}, "3650d"),
        ("vms.encryption.none", 1e300, "expected at most 1000000.0"),
        ("drift.random.kinds", [], "at least 1 item"),
    ],
)
def test_values_that_cannot_run_are_refused_at_their_path(
    path: str, value: Any, message: str
) -> None:
    """Each value that used to hang, crash or overflow a run is one problem at its path."""
    (problem,) = _problems({path: value})
    assert problem.path.startswith(path), problem
    assert message in problem.message, problem


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("vcenters.0.clusters.0.hosts", "8", "expected an integer; found '8'"),
        ("kms.servers", True, "expected an integer; found True"),
        ("kms.servers", 2.0, "expected an integer; found 2.0"),
        ("attestation.max_retries", "5", "expected an integer"),
        ("attestation.backoff_multiplier", "2", "expected a number"),
        ("attestation.require_secure_boot", "yes", "expected true or false"),
        ("attestation.require_secure_boot", 1, "expected true or false"),
        ("vms.initially_running", True, "expected a number"),
        ("kms.kmip_version", 1.1, 'expected a version in quotes, such as "1.2"'),
        ("attestation.tpm_sign_time", {"dist": "lognormal", "mu": "1", "sigma": 1}, "number"),
    ],
)
def test_coercions_that_hide_mistakes_are_refused(path: str, value: Any, message: str) -> None:
    """Text where a number belongs, a boolean where a count belongs, or an unquoted KMIP
    version are refused instead of being converted."""
    (problem,) = _problems({path: value})
    assert problem.path.startswith(path), problem
    assert message in problem.message, problem


def test_integers_are_still_numbers() -> None:
    """An integer where a float is expected stays valid (strict, not pedantic)."""
    s = parse_scenario(apply_overrides(MINIMAL, {"vms.initially_running": 1}))
    assert s.vms.initially_running == 1.0


def test_payload_must_fit_the_stream_counter() -> None:
    """A payload needing more than 2**32 - 1 packets is refused at vmotion.packet_size."""
    (problem,) = _problems(
        {
            "vmotion.payload": "full",
            "vmotion.packet_size": "1KiB",
            "vms.memory": ["8TiB"],
            "vcenters.0.clusters.0.host_memory": "16TiB",
        }
    )
    assert problem.path == "vmotion.packet_size"
    assert "32-bit counter" in problem.message


def test_total_hosts_are_bounded_before_any_host_is_named() -> None:
    """10,000 clusters of 100,000 hosts (10**9) are refused at once, without naming them."""
    clusters = [{"name": f"c{i}", "hosts": 100_000} for i in range(10_000)]
    (problem,) = _problems({"vcenters.0.clusters": clusters})
    assert problem.path == "vcenters"
    assert "at most 100,000 trusted hosts, found 1,000,000,000" in problem.message


def _branch(schema: dict[str, Any], *path: str) -> dict[str, Any]:
    node: dict[str, Any] = schema
    defs = schema["$defs"]
    for part in path:
        prop = node["properties"][part]
        ref = prop.get("$ref") or next(
            (b["$ref"] for b in prop.get("anyOf", []) if "$ref" in b), None
        )
        node = defs[ref.rsplit("/", 1)[-1]] if ref else prop
    return node


def test_json_schema_carries_the_bounds() -> None:
    """The schema's number branches show the same minimum and maximum the model enforces."""
    schema = scenario_json_schema()
    packet = _branch(schema, "vmotion")["properties"]["packet_size"]
    number = next(b for b in packet["anyOf"] if b["type"] == "integer")
    assert (number["minimum"], number["maximum"]) == (1024, 16 * 2**20)
    assert "Range: 1KiB to 16MiB" in packet["description"]
    sample = _branch(schema, "metrics")["properties"]["sample_interval"]
    assert any(b.get("minimum") == 1.0 for b in sample["anyOf"])
    duration = schema["properties"]["duration"]
    assert any(b.get("maximum") == 3650 * 86400.0 for b in duration["anyOf"])
