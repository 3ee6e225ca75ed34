"""Tests for sim.scenario.units: parsing, exact round-trip formatting and the pydantic types."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from sim.scenario.units import (
    Bandwidth,
    Duration,
    PositiveDuration,
    Rate,
    Size,
    describe_duration,
    format_bandwidth,
    format_duration,
    format_rate,
    format_size,
    parse_bandwidth,
    parse_duration,
    parse_positive_duration,
    parse_rate,
    parse_size,
)

FAST = settings(max_examples=200, deadline=None, derandomize=True)
finite_non_negative = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("90s", 90.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
        ("500us", 0.0005),
        ("500µs", 0.0005),
        ("0s", 0.0),
        ("5 m", 300.0),
        ("  42 ", 42.0),
        ("0.25", 0.25),
        ("1e3ms", 1.0),
        (".5s", 0.5),
        (90, 90.0),
        (0.125, 0.125),
    ],
)
def test_parse_duration_forms(text: str | float, seconds: float) -> None:
    """Every documented duration form converts to the right number of seconds."""
    assert parse_duration(text) == seconds
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("abc", "expected a duration such as 250ms, 90s, 5m, 2h or 1d, got 'abc'"),
        ("", "expected a duration such as"),
        ("1.5.3s", "expected a duration such as"),
        ("5 x", "unknown unit 'x' in '5 x'"),
        ("5S", "unknown unit 'S'"),
        ("-1s", "must not be negative, got '-1s'"),
        (-0.5, "must not be negative"),
        ("inf", "must be finite"),
        (math.inf, "must be finite"),
        (math.nan, "must be finite"),
        ("1e999d", "must be finite"),
        (True, "expected a duration"),
        (None, "expected a duration"),
        ([1], "expected a duration"),
    ],
)
def test_parse_duration_rejects(bad: object, message: str) -> None:
    """Bad durations raise ValueError whose message says what was expected or wrong."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_duration(bad)  # type: ignore[arg-type]


def test_positive_duration_rejects_zero() -> None:
    """A positive duration accepts small values but refuses zero."""
    assert parse_positive_duration("1us") == 1e-6
    with pytest.raises(ValueError, match="greater than zero"):
        parse_positive_duration("0ms")


def test_parsing_is_exact_across_units() -> None:
    """The same quantity in different units gives the very same float."""
    assert parse_duration("100ms") == parse_duration("0.1s") == 0.1
    assert parse_duration("300ms") == 0.3  # 300 * 0.001 would give 0.30000000000000004
    assert parse_rate("1 per_minute") == parse_rate("60 per_hour") == 1 / 60


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [
        ("512B", 512),
        ("64KiB", 65536),
        ("1.5GiB", 1610612736),
        ("16 GiB", 17179869184),
        ("1TiB", 2**40),
        ("2TB", 2 * 10**12),
        ("10KB", 10_000),
        ("10kB", 10_000),
        ("3MB", 3_000_000),
        ("7", 7),
        (4096, 4096),
        (2048.0, 2048),
    ],
)
def test_parse_size_forms(text: str | int, nbytes: int) -> None:
    """Binary and decimal size units convert to whole bytes."""
    result = parse_size(text)
    assert result == nbytes
    assert isinstance(result, int)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("1.3KiB", "whole number of bytes"),
        (1.5, "whole number of bytes"),
        ("-1B", "must not be negative"),
        ("5 Mb", "unknown unit 'Mb'"),
        ("lots", "expected a size such as"),
    ],
)
def test_parse_size_rejects(bad: object, message: str) -> None:
    """Fractional, negative or unknown sizes are refused with a clear message."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_size(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("3 per_day", 3 / 86400),
        ("0.5 per_hour", 0.5 / 3600),
        ("2 per_minute", 2 / 60),
        ("10 per_second", 10.0),
        ("10per_second", 10.0),
        ("0 per_day", 0.0),
        (4, 4.0),
        ("0.25", 0.25),
    ],
)
def test_parse_rate_forms(text: str | int, per_second: float) -> None:
    """Rates in per_ forms or plain numbers convert to events per second."""
    assert parse_rate(text) == per_second


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("3/h", "expected a rate such as 3 per_day"),
        ("3 per_week", "unknown unit 'per_week'"),
        ("-2 per_day", "must not be negative"),
    ],
)
def test_parse_rate_rejects(bad: str, message: str) -> None:
    """Unsupported rate forms are refused, naming the accepted forms."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_rate(bad)


@pytest.mark.parametrize(
    ("text", "bytes_per_second"),
    [
        ("10Gbps", 1.25e9),
        ("25 Gbit/s", 3.125e9),
        ("100Mbps", 1.25e7),
        ("1.25GB/s", 1.25e9),
        ("500MiB/s", 500 * 2**20),
        ("8bps", 1.0),
        ("1kbps", 125.0),
        ("100", 100.0),
        (3.5, 3.5),
    ],
)
def test_parse_bandwidth_forms(text: str | float, bytes_per_second: float) -> None:
    """Bit and byte bandwidth units convert to bytes per second."""
    assert parse_bandwidth(text) == bytes_per_second


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("10 GBps", "unknown unit 'GBps'"),
        ("fast", "expected a bandwidth such as 10Gbps"),
        ("-1Gbps", "must not be negative"),
    ],
)
def test_parse_bandwidth_rejects(bad: str, message: str) -> None:
    """Ambiguous or unknown bandwidth units are refused."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_bandwidth(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (300.0, "5m"),
        (0.25, "250ms"),
        (1.5, "1500ms"),
        (90.0, "90s"),
        (5400.0, "90m"),
        (86400.0, "1d"),
        (0.0, "0s"),
        (0.0005, "500us"),
        (1e-7, "1e-07s"),
    ],
)
def test_format_duration_examples(seconds: float, text: str) -> None:
    """Durations are written with the largest unit that has a whole count."""
    assert format_duration(seconds) == text


def test_format_examples_for_other_units() -> None:
    """Sizes, rates and bandwidths are written in their compact unit forms."""
    assert format_size(2**30) == "1GiB"
    assert format_size(10**9) == "1GB"
    assert format_size(1536) == "1536B"
    assert format_size(0) == "0B"
    assert format_rate(parse_rate("3 per_day")) == "3 per_day"
    assert format_rate(10.0) == "10 per_second"
    assert format_rate(parse_rate("0.3 per_day")) == "0.3 per_day"
    assert format_bandwidth(1.25e9) == "10Gbps"
    assert format_bandwidth(500 * 2**20) == "500MiB/s"
    assert format_bandwidth(0.0) == "0B/s"


@pytest.mark.parametrize("formatter", [format_duration, format_size, format_rate, format_bandwidth])
def test_formatters_reject_negative_and_non_finite(formatter: object) -> None:
    """Formatting refuses values the parsers would refuse."""
    assert callable(formatter)
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="finite and non-negative"):
            formatter(bad)


@FAST
@given(finite_non_negative)
def test_duration_round_trip(seconds: float) -> None:
    """parse_duration(format_duration(x)) == x for every finite non-negative float."""
    assert parse_duration(format_duration(seconds)) == seconds


@FAST
@given(st.integers(min_value=0, max_value=2**70))
def test_size_round_trip(nbytes: int) -> None:
    """parse_size(format_size(n)) == n for every non-negative integer."""
    assert parse_size(format_size(nbytes)) == nbytes


@FAST
@given(finite_non_negative)
def test_rate_round_trip(per_second: float) -> None:
    """parse_rate(format_rate(x)) == x for every finite non-negative float."""
    assert parse_rate(format_rate(per_second)) == per_second


@FAST
@given(finite_non_negative)
def test_bandwidth_round_trip(bytes_per_second: float) -> None:
    """parse_bandwidth(format_bandwidth(x)) == x for every finite non-negative float."""
    assert parse_bandwidth(format_bandwidth(bytes_per_second)) == bytes_per_second


@FAST
@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["us", "ms", "s", "m", "h", "d"]),
)
def test_written_durations_stay_stable(count: int, unit: str) -> None:
    """A duration typed by a person survives format/parse unchanged and stays compact."""
    seconds = parse_duration(f"{count}{unit}")
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert len(text) <= len(f"{count}{unit}") + 3


def test_describe_duration_is_readable() -> None:
    """describe_duration rounds to four significant digits in a fitting unit."""
    assert describe_duration(0.2333333) == "233.3ms"
    assert describe_duration(2.5e-4) == "250us"
    assert describe_duration(150.0) == "2.5m"
    assert describe_duration(3 * 86400.0) == "3d"
    assert describe_duration(0.0) == "0s"


class Quantities(BaseModel):
    """A model using every annotated unit type."""

    timeout: Duration = 1.0
    interval: PositiveDuration = 60.0
    memory: Size = 0
    drift_rate: Rate = 0.0
    link: Bandwidth = 1.25e9


def test_pydantic_types_parse_and_dump_unit_forms() -> None:
    """Model fields accept unit strings; JSON dumps write unit forms, Python dumps numbers."""
    q = Quantities.model_validate(
        {
            "timeout": "250ms",
            "interval": "5m",
            "memory": "16GiB",
            "drift_rate": "3 per_day",
            "link": "25 Gbit/s",
        }
    )
    assert (q.timeout, q.interval, q.memory) == (0.25, 300.0, 16 * 2**30)
    assert q.model_dump(mode="json") == {
        "timeout": "250ms",
        "interval": "5m",
        "memory": "16GiB",
        "drift_rate": "3 per_day",
        "link": "25Gbps",
    }
    assert q.model_dump()["timeout"] == 0.25
    assert Quantities.model_validate_json(q.model_dump_json()) == q


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timeout", "soon", "expected a duration such as 250ms, 90s, 5m, 2h or 1d"),
        ("interval", "0s", "a duration must be greater than zero"),
        ("memory", "1.3KiB", "whole number of bytes"),
        ("drift_rate", "3 per_week", "unknown unit 'per_week'"),
        ("link", "-1Gbps", "must not be negative"),
    ],
)
def test_pydantic_errors_carry_messages(field: str, value: str, message: str) -> None:
    """Validator errors surface in ValidationError at the field with their message text."""
    with pytest.raises(ValidationError) as info:
        Quantities.model_validate({field: value})
    (error,) = info.value.errors()
    assert error["loc"] == (field,)
    assert message in error["msg"]


def test_json_schema_documents_string_or_number() -> None:
    """The JSON schema offers number or patterned string, and the pattern matches the parser."""
    props = Quantities.model_json_schema()["properties"]
    for name in ("timeout", "interval", "memory", "drift_rate", "link"):
        kinds = {branch["type"] for branch in props[name]["anyOf"]}
        assert kinds <= {"number", "integer", "string"} and "string" in kinds
        assert props[name]["description"]
    assert {"type": "number", "exclusiveMinimum": 0, "maximum": 3650 * 86400.0} in props[
        "interval"
    ]["anyOf"]
    pattern = next(b["pattern"] for b in props["timeout"]["anyOf"] if b["type"] == "string")
    for good in ("250ms", "5 m", "1.5h", "0.25", "500µs"):
        assert re.match(pattern, good)
    for bad in ("abc", "-1s", "5 x", "1..2s"):
        assert not re.match(pattern, bad)


_DURATION_PATTERN = next(
    b["pattern"]
    for b in Quantities.model_json_schema()["properties"]["timeout"]["anyOf"]
    if b["type"] == "string"
)


@FAST
@given(st.from_regex(_DURATION_PATTERN, fullmatch=True))
def test_strings_matching_schema_pattern_parse(text: str) -> None:
    """Every string the schema's pattern admits is parsed (or refused only as too large)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        assert "must be finite" in str(exc)
    else:
        assert seconds >= 0 and math.isfinite(seconds)
