"""The scenario format: loading, defaults, round trips, field problems with their dotted
paths, dotted-path overrides and the JSON Schema. Topology checks and host naming are in
test_topology.py."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import textwrap
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import Problem, ScenarioError
from sim.scenario import (
    DriftKind,
    Scenario,
    apply_overrides,
    load_scenario,
    parse_scenario,
    scenario_json_schema,
)
from sim.scenario.distributions import Empirical, Exponential, Fixed, LogNormal, Uniform
from sim.scenario.model import DEFAULT_MEASURED_AT
from tests.conftest import ROOT

BASELINE = ROOT / "scenarios" / "baseline.yaml"
GiB = 2**30


def _baseline_data() -> dict[str, Any]:
    data = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _minimal(**sections: Any) -> dict[str, Any]:
    """A small valid scenario (one vCenter, one cluster of 2 hosts) with sections replaced."""
    data: dict[str, Any] = {
        "name": "t",
        "vcenters": [{"name": "vc-a", "clusters": [{"name": "cl-a", "hosts": 2}]}],
        "vms": {"count": 4},
    }
    data.update(sections)
    return data


def _yaml(text: str) -> dict[str, Any]:
    """:func:`_minimal` with the sections of an indented YAML snippet."""
    return _minimal(**yaml.safe_load(textwrap.dedent(text)))


def _problems(data: Any, overrides: dict[str, Any] | None = None) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, overrides)
    assert info.value.problems, "a ScenarioError must carry at least one problem"
    return list(info.value.problems)


def _by_path(problems: list[Problem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        out.setdefault(p.path, []).append(p.message)
    return out


# --------------------------------------------------------------------------- loading & defaults


def test_baseline_loads() -> None:
    """The shipped baseline scenario loads with the estate its comments describe."""
    s = load_scenario(BASELINE)
    assert s.name == "baseline"
    assert s.seed == 1
    assert s.duration == 86400.0
    assert [vc.name for vc in s.vcenters] == ["vc-prod"]
    assert [(c.name, c.hosts, c.host_memory) for c in s.vcenters[0].clusters] == [
        ("cl-a", 8, 512 * GiB),
        ("cl-b", 8, 512 * GiB),
    ]
    assert len(s.host_names()) == 16
    assert s.vms.count == 200
    assert s.vms.memory == (4 * GiB, 8 * GiB, 16 * GiB)
    assert s.workload.power_on_rate == pytest.approx(60 / 3600)
    (drift,) = s.drift.scheduled
    assert (drift.at, drift.host, drift.remediate_after) == (6 * 3600.0, "esx-07", 7200.0)
    assert drift.kind is DriftKind.UNAPPROVED_VIB


def test_defaults_are_filled_in() -> None:
    """A minimal scenario gets every documented default, in SI units."""
    s = parse_scenario(_minimal())
    assert (s.seed, s.duration, s.warmup) == (0, 86400.0, 0.0)
    assert [site.name for site in s.network.sites] == ["dc1"]
    assert s.network.lan_latency == Fixed(value=250e-6)
    assert s.network.lan_bandwidth == 25e9 / 8
    ta = s.trust_authority
    assert (ta.vcenter, ta.hosts, ta.site) == ("vta-vcenter", 3, "dc1")
    assert ta.sso_domain == "vsphere.local"
    assert ta.key_providers[0].primary_key_cache_ttl == 3600.0
    assert ta.attestation_service.service_time == LogNormal(median=0.015, p95=0.04)
    assert (s.kms.servers, s.kms.kmip_version) == (2, "1.1")
    att = s.attestation
    assert (att.interval, att.jitter, att.report_lifetime) == (300.0, 10.0, 900.0)
    assert (att.revocation, att.timeout, att.max_retries) == ("none", 10.0, 5)
    assert att.tpm_sign_time == LogNormal(median=0.2, p95=0.6)
    assert att.min_acceptance == "PartnerSupported" and att.require_secure_boot
    vc = s.vcenters[0]
    assert (vc.site, vc.sso_domain) == ("dc1", "vsphere.local")
    assert (vc.status_poll_interval, vc.placement) == (60.0, "least_loaded")
    assert vc.clusters[0].host_memory == 512 * GiB
    assert s.vms.memory == (4 * GiB, 8 * GiB, 16 * GiB)
    assert s.workload.lifetime == Exponential(mean=8 * 3600.0)
    assert s.drift.scheduled == () and s.drift.random.rate == 0.0
    assert {k.value: v for k, v in s.drift.measured_at.items()} == DEFAULT_MEASURED_AT
    assert s.metrics.sample_interval == 300.0


def test_measured_at_keeps_defaults_for_unlisted_kinds() -> None:
    """Overriding one drift kind's measurement point keeps the defaults of the others."""
    s = parse_scenario(_minimal(drift={"measured_at": {"esxi_build_change": "runtime"}}))
    assert s.drift.measured_at[DriftKind.ESXI_BUILD_CHANGE] == "runtime"
    assert s.drift.measured_at[DriftKind.UNAPPROVED_VIB] == "boot"
    assert s.drift.measured_at[DriftKind.TPM_SWAP] == "boot"
    assert len(s.drift.measured_at) == len(DriftKind)


def test_scenario_is_frozen() -> None:
    """A validated scenario cannot be changed in place."""
    s = parse_scenario(_minimal())
    with pytest.raises(pydantic.ValidationError):
        s.attestation.interval = 1.0


def test_resolved_yaml_round_trips_baseline() -> None:
    """parse(resolved_yaml()) gives back the same scenario, and resolving again is stable."""
    s = load_scenario(BASELINE)
    text = s.resolved_yaml()
    again = parse_scenario(yaml.safe_load(text))
    assert again == s
    assert again.resolved_yaml() == text
    resolved = yaml.safe_load(text)
    assert resolved["attestation"]["interval"] == "5m"
    assert resolved["kms"]["kmip_version"] == "1.1"


_seconds = st.one_of(
    st.integers(min_value=1, max_value=10**7),
    st.floats(min_value=1e-6, max_value=1e7, allow_nan=False, allow_infinity=False),
)
_distributions = st.one_of(
    _seconds.map(lambda v: {"dist": "fixed", "value": v}),
    st.tuples(_seconds, _seconds).map(lambda t: {"dist": "uniform", "low": min(t), "high": max(t)}),
    _seconds.map(lambda v: {"dist": "exponential", "mean": v}),
    st.tuples(_seconds, st.floats(min_value=1.01, max_value=100))
    .filter(lambda t: t[0] * t[1] <= 3650 * 86400)  # durations are at most 3650d
    .map(lambda t: {"dist": "lognormal", "median": t[0], "p95": t[0] * t[1]}),
    st.tuples(st.floats(-10, 10), st.floats(0.01, 5)).map(
        lambda t: {"dist": "lognormal", "mu": t[0], "sigma": t[1]}
    ),
    st.lists(_seconds, min_size=1, max_size=4).map(lambda v: {"dist": "empirical", "samples": v}),
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(
    interval=_seconds.filter(lambda v: v >= 1),
    jitter=st.floats(min_value=0, max_value=1e5),
    rate=st.just(0.0) | st.floats(min_value=1e-8, max_value=1e4),
    bandwidth=st.floats(min_value=125_000, max_value=1e13),
    packet=st.integers(min_value=1024, max_value=2**24),
    service_time=_distributions,
)
def test_resolved_yaml_round_trips_any_values(
    interval: float,
    jitter: float,
    rate: float,
    bandwidth: float,
    packet: int,
    service_time: dict[str, Any],
) -> None:
    """Quantities and distributions of any value survive resolved_yaml() exactly."""
    s = parse_scenario(
        _minimal(
            attestation={"interval": interval, "jitter": jitter},
            workload={"migration_rate": rate},
            network={"lan_bandwidth": bandwidth},
            vmotion={"packet_size": packet},
            kms={"service_time": service_time},
        )
    )
    assert parse_scenario(yaml.safe_load(s.resolved_yaml())) == s


def test_distribution_forms_parse() -> None:
    """Each distribution form in YAML becomes its model with SI values."""
    s = parse_scenario(
        _yaml("""
        kms: {service_time: {dist: uniform, low: 1ms, high: 3ms}}
        attestation: {tpm_sign_time: {dist: empirical, samples: [120ms, 0.18]}}
        reboots: {duration: 90}
    """)
    )
    assert s.kms.service_time == Uniform(low=0.001, high=0.003)
    assert s.attestation.tpm_sign_time == Empirical(samples=(0.12, 0.18))
    assert s.reboots.duration == Fixed(value=90.0)


# --------------------------------------------------------------------------- field problems


def test_unknown_keys_rejected_at_several_depths() -> None:
    """Unknown keys at the top, in sections and inside list items are each reported by
    path; one close to a key of its section (found by difflib: ratio >= 0.75) gets a
    "did you mean"."""
    data = _baseline_data()
    data["bogus"] = 1
    data["attestation"]["intervall"] = "5m"
    data["network"]["sites"][0]["zone"] = "a"
    data["trust_authority"]["attestation_service"] = {"workerz": 2}
    data["vcenters"][0]["clusters"][1]["hostz"] = 3
    found = _by_path(_problems(data))
    unknown = "unknown key (not part of the scenario format)"
    for path, hint in (
        ("bogus", ""),
        ("attestation.intervall", "; did you mean 'interval'?"),
        ("network.sites.0.zone", ""),
        ("trust_authority.attestation_service.workerz", "; did you mean 'workers'?"),
        ("vcenters.0.clusters.1.hostz", "; did you mean 'hosts'?"),
    ):
        assert found.get(path) == [unknown + hint], path


def test_error_in_only_list_item_reports_no_spurious_length_problem() -> None:
    """An unknown key in the only vCenter is the only problem reported."""
    data = _minimal()
    data["vcenters"][0]["clusters"][0]["hostz"] = 1
    assert [p.path for p in _problems(data)] == ["vcenters.0.clusters.0.hostz"]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("attestation.interval", "5 minutes", "a duration takes d, h, m, s, ms, us"),
        ("duration", "soon", "expected a duration such as 250ms"),
        ("attestation.interval", "0s", "greater than zero"),
        ("attestation.jitter", "-5s", "must not be negative"),
        ("vms.memory", ["16 gigs", "8GiB"], "a size takes B, KiB"),
        ("vms.memory", ["1.5B"], "whole number of bytes"),
        ("workload.power_on_rate", "3 per_week", "a rate takes per_second, per_minute, per_hour"),
        ("network.lan_bandwidth", "fast", "expected a bandwidth such as 10Gbps"),
        ("network.vmotion_nic", "10 Gbit", "a bandwidth takes bps"),
    ],
)
def test_bad_quantity_gives_path_and_expected_form(path: str, value: Any, expected: str) -> None:
    """A malformed duration, size, rate or bandwidth names its field and the accepted form."""
    found = _by_path(_problems(_minimal(), {path: value}))
    where, shown = (f"{path}.0", value[0]) if isinstance(value, list) else (path, value)
    assert where in found, found
    (message,) = found[where]
    assert expected in message
    assert repr(shown) in message


def test_bad_distribution_path_has_no_union_tag() -> None:
    """A bad distribution value is reported at its own dotted path, without pydantic's tag."""
    data = _yaml("""
        attestation: {tpm_sign_time: fast}
        kms: {service_time: {dist: lognormal, median: x, p95: 1s}}
        network: {lan_latency: {dist: fixed, value: 1ms, jitter: 1ms}}
    """)
    found = _by_path(_problems(data))
    assert set(found) == {
        "attestation.tpm_sign_time",
        "kms.service_time.median",
        "network.lan_latency.jitter",
    }


def test_bad_distribution_kind_lists_the_kinds() -> None:
    """An unknown 'dist' is rejected with the list of distribution kinds."""
    found = _by_path(_problems(_minimal(kms={"service_time": {"dist": "gamma"}})))
    (message,) = found["kms.service_time"]
    assert "fixed, uniform, exponential, normal, lognormal, empirical" in message


def test_problem_shows_found_value_once() -> None:
    """A problem message shows the offending value once, not twice."""
    found = _by_path(_problems(_minimal(attestation={"interval": "5 minutes"})))
    (message,) = found["attestation.interval"]
    assert message.count("'5 minutes'") == 1


def test_unquoted_kmip_version_is_refused() -> None:
    """An unquoted KMIP version (a number to YAML: 1.10 reads as 1.1) is refused with a
    message asking for quotes; a quoted one is accepted."""
    found = _by_path(_problems(_minimal(kms=yaml.safe_load("kmip_version: 1.10\n"))))
    (message,) = found["kms.kmip_version"]
    assert 'in quotes, such as "1.2"' in message
    quoted = yaml.safe_load('kmip_version: "1.2"\n')
    assert parse_scenario(_minimal(kms=quoted)).kms.kmip_version == "1.2"


def test_missing_required_fields() -> None:
    """A mapping without name and vcenters reports both as missing."""
    found = _by_path(_problems({}))
    assert found == {
        "name": ["required field is missing"],
        "vcenters": ["required field is missing"],
    }


@pytest.mark.parametrize("data", [[1, 2], "baseline", 42, None])
def test_non_mapping_top_level(data: Any) -> None:
    """A top level that is not a mapping is one problem, without a field path."""
    (problem,) = _problems(data)
    assert problem.path == ""
    assert problem.message == "a scenario must be a YAML mapping at the top level"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("name: x\nseed: 1\nattestation:\n\tinterval: 5m\n", 4),
        ("name: x\nseed: 1\nattestation:\n  interval: 5m\n jitter: 10s\n", 5),
        ("name: x\nvcenters: [{name: vc\nkms: {}\n", 3),
    ],
)
def test_malformed_yaml_names_the_line(tmp_path: Path, text: str, line: int) -> None:
    """Malformed YAML gives one problem naming the file and the line of the error."""
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (problem,) = info.value.problems
    assert "malformed YAML" in problem.message
    assert f"line {line}," in problem.message
    assert str(path) in problem.message


def test_empty_file_is_not_a_mapping(tmp_path: Path) -> None:
    """An empty file is reported as a non-mapping top level."""
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ScenarioError, match="must be a YAML mapping"):
        load_scenario(path)


def test_missing_file(tmp_path: Path) -> None:
    """A file that cannot be read is a ScenarioError naming the file and the cause."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (problem,) = info.value.problems
    assert f"cannot read {path}" in problem.message
    assert "No such file" in problem.message


def test_non_utf8_file_is_a_scenario_error(tmp_path: Path) -> None:
    """A scenario file that is not UTF-8 is reported as a ScenarioError."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(ScenarioError):
        load_scenario(path)


# --------------------------------------------------------------------------- overrides


def test_overrides_by_dotted_path() -> None:
    """Overrides set nested fields and list items by dotted path without touching the input."""
    data = _baseline_data()
    before = copy.deepcopy(data)
    s = parse_scenario(
        data, {"attestation.interval": "1m", "vcenters.0.clusters.0.hosts": 3, "kms.workers": 16}
    )
    assert s.attestation.interval == 60.0
    assert s.vcenters[0].clusters[0].hosts == 3
    assert len(s.host_names()) == 11
    assert s.kms.workers == 16 and s.kms.servers == 2
    assert data == before


def test_override_creates_missing_sections() -> None:
    """An override into a section the file leaves out creates that section."""
    s = parse_scenario(_minimal(), {"reboots.rate": "2 per_day"})
    assert s.reboots.rate == pytest.approx(2 / 86400)
    assert apply_overrides({"a": 1}, {"b.c.d": 2}) == {"a": 1, "b": {"c": {"d": 2}}}


def test_overrides_are_validated() -> None:
    """An overridden value is validated like one written in the file."""
    found = _by_path(_problems(_minimal(), {"attestation.report_lifetime": "forever"}))
    assert "attestation.report_lifetime" in found


def test_override_inside_a_scalar_is_a_problem() -> None:
    """Setting a field inside a scalar names the scalar's path."""
    (problem,) = _problems(_baseline_data(), {"attestation.interval.value": "1m"})
    assert problem.path == "attestation.interval"
    assert "not a section" in problem.message


@pytest.mark.parametrize("dotted", ["vcenters.5.name", "vcenters.first.name"])
def test_bad_list_index_in_override_is_a_problem(dotted: str) -> None:
    """An override with a list index that does not exist is a ScenarioError."""
    with pytest.raises(ScenarioError):
        parse_scenario(_baseline_data(), {dotted: "vc-x"})


# --------------------------------------------------------------------------- JSON Schema


def _validator() -> Any:
    if importlib.util.find_spec("jsonschema") is None:
        return None
    jsonschema = importlib.import_module("jsonschema")
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_json_schema_structure() -> None:
    """The schema is a closed 2020-12 object schema requiring name and vcenters."""
    schema = scenario_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "vtasim scenario"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "vcenters"}
    assert set(schema["properties"]) == {*Scenario.model_fields, "extends"}
    for name in ("Attestation", "VCenter", "Cluster", "TrustAuthority", "Fixed", "LogNormal"):
        assert schema["$defs"][name]["additionalProperties"] is False, name


def test_json_schema_accepts_baseline() -> None:
    """The baseline file and its resolved form are valid under the schema."""
    validator = _validator()
    if validator is None:
        pytest.skip("jsonschema is not installed; structure is checked separately")
    resolved = yaml.safe_load(load_scenario(BASELINE).resolved_yaml())
    assert list(validator.iter_errors(_baseline_data())) == []
    assert list(validator.iter_errors(resolved)) == []


def test_json_schema_rejects_unknown_key_and_bad_duration() -> None:
    """The schema flags an unknown key and a duration with an unknown unit, at their paths."""
    validator = _validator()
    if validator is None:
        pytest.skip("jsonschema is not installed; structure is checked separately")
    data = _baseline_data()
    data["attestation"]["intervall"] = "5m"
    errors = list(validator.iter_errors(data))
    assert [list(e.absolute_path) for e in errors] == [["attestation"]]
    assert "intervall" in errors[0].message
    data = _baseline_data()
    data["attestation"]["interval"] = "5 minutes"
    errors = list(validator.iter_errors(data))
    assert [list(e.absolute_path) for e in errors] == [["attestation", "interval"]]


def test_start_time_is_utc_and_anchors_simulated_time() -> None:
    """start_time defaults to 2024-01-01T00:00:00Z, is normalised to UTC, and needs a zone."""
    assert parse_scenario(_minimal()).epoch == 1704067200.0
    shifted = parse_scenario(_minimal(start_time="2025-03-01T12:00:00+02:00"))
    assert shifted.start_time.isoformat() == "2025-03-01T10:00:00+00:00"
    assert parse_scenario(yaml.safe_load(shifted.resolved_yaml())).start_time == shifted.start_time
    (problem,) = _problems(_minimal(start_time="2025-03-01T12:00:00"))
    assert problem.path == "start_time" and "zone" in problem.message
