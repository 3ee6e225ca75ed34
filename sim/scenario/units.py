"""Physical quantities in scenario files: durations, sizes, rates and bandwidths.

Scenario authors write ``250ms``, ``16GiB``, ``3 per_day`` or ``25 Gbit/s``; the simulator
works in plain SI numbers (seconds, bytes, events per second, bytes per second). This module
converts both ways:

* ``parse_*`` turn a number or a unit string into the SI number. Strings are converted
  exactly (as a fraction) and rounded once, so ``"100ms"`` and ``"0.1s"`` give the same
  float. Negative and non-finite values are rejected with a message that names what was
  expected.
* ``format_*`` write the SI number back in a compact unit form chosen so that
  ``parse(format(x)) == x`` holds exactly; resolved scenarios are written this way.
* ``Duration``, ``PositiveDuration``, ``Size``, ``Rate`` and ``Bandwidth`` are pydantic v2
  annotated types: they accept either form, serialise to the unit form in JSON mode and
  document themselves in ``model_json_schema()`` as string-or-number.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable, Sequence
from fractions import Fraction
from numbers import Real
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from sim.scenario.bounds import Within

__all__ = [
    "MAX_DURATION",
    "Bandwidth",
    "Duration",
    "PositiveDuration",
    "Rate",
    "Size",
    "describe_duration",
    "format_bandwidth",
    "format_duration",
    "format_rate",
    "format_size",
    "parse_bandwidth",
    "parse_duration",
    "parse_positive_duration",
    "parse_rate",
    "parse_size",
    "short_repr",
]

# Exponents are limited to three digits so that a hostile "1e999999999" cannot make the
# exact fraction arithmetic build an enormous integer.
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?"  # ASCII digits only
_QUANTITY = re.compile(rf"^\s*(?P<num>[+-]?{_NUMBER})\s*(?P<unit>[^\W\d_]\S*)?\s*$")
_MAX_COUNT = 10**15  # integer counts above this are not "compact"

_DURATION_UNITS: dict[str, Fraction] = {
    "d": Fraction(86400),
    "h": Fraction(3600),
    "m": Fraction(60),
    "s": Fraction(1),
    "ms": Fraction(1, 1000),
    "us": Fraction(1, 1_000_000),
}
_DURATION_ALIASES = {"µs": "us", "μs": "us"}

_SIZE_UNITS: dict[str, Fraction] = {
    "B": Fraction(1),
    "KiB": Fraction(2**10),
    "MiB": Fraction(2**20),
    "GiB": Fraction(2**30),
    "TiB": Fraction(2**40),
    "KB": Fraction(10**3),
    "MB": Fraction(10**6),
    "GB": Fraction(10**9),
    "TB": Fraction(10**12),
}
_SIZE_ALIASES = {"kB": "KB"}

_RATE_UNITS: dict[str, Fraction] = {
    "per_second": Fraction(1),
    "per_minute": Fraction(1, 60),
    "per_hour": Fraction(1, 3600),
    "per_day": Fraction(1, 86400),
}

_BANDWIDTH_UNITS: dict[str, Fraction] = {
    "bps": Fraction(1, 8),
    "kbps": Fraction(10**3, 8),
    "Mbps": Fraction(10**6, 8),
    "Gbps": Fraction(10**9, 8),
    "Tbps": Fraction(10**12, 8),
    "B/s": Fraction(1),
    "KB/s": Fraction(10**3),
    "MB/s": Fraction(10**6),
    "GB/s": Fraction(10**9),
    "TB/s": Fraction(10**12),
    "KiB/s": Fraction(2**10),
    "MiB/s": Fraction(2**20),
    "GiB/s": Fraction(2**30),
    "TiB/s": Fraction(2**40),
}
_BANDWIDTH_ALIASES = {
    "Kbps": "kbps",
    "bit/s": "bps",
    "kbit/s": "kbps",
    "Kbit/s": "kbps",
    "Mbit/s": "Mbps",
    "Gbit/s": "Gbps",
    "Tbit/s": "Tbps",
    "kB/s": "KB/s",
}


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def short_repr(value: object) -> str:
    """``repr(value)`` cut short (a hostile value may be megabytes long or deeply nested)."""
    return _REPR.repr(value)


class _Kind:
    """What one kind of quantity accepts, and how it words its errors."""

    def __init__(
        self,
        noun: str,
        examples: str,
        units: dict[str, Fraction],
        aliases: dict[str, str],
    ) -> None:
        self.noun = noun
        self.examples = examples
        self.units = units
        self.aliases = aliases

    def expected(self, value: object) -> ValueError:
        return ValueError(f"expected {self.noun} such as {self.examples}, got {short_repr(value)}")

    def exact(self, value: object) -> Fraction:
        """The exact, non-negative value of ``value`` in SI units."""
        if isinstance(value, bool) or not isinstance(value, (Real, str)):
            raise self.expected(value)
        if isinstance(value, str):
            amount = self._exact_text(value)
        else:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"{self.noun} must be finite, got {value!r}")
            amount = Fraction(number)
        if amount < 0:
            raise ValueError(f"{self.noun} must not be negative, got {value!r}")
        return amount

    def _exact_text(self, text: str) -> Fraction:
        match = _QUANTITY.match(text)
        if match is None:
            try:
                number = float(text)
            except ValueError:
                raise self.expected(text) from None
            if not math.isfinite(number):
                raise ValueError(f"{self.noun} must be finite, got {text!r}") from None
            raise self.expected(text)
        unit = match.group("unit")
        factor = Fraction(1)
        if unit is not None:
            unit = self.aliases.get(unit, unit)
            if unit not in self.units:
                known = ", ".join(self.units)
                shown = f"{short_repr(unit)} in {short_repr(text)}"
                raise ValueError(f"unknown unit {shown}; {self.noun} takes {known}")
            factor = self.units[unit]
        return Fraction(match.group("num")) * factor

    def to_float(self, value: object) -> float:
        if isinstance(value, float) and math.isfinite(value) and value >= 0:
            return value + 0.0  # normalises -0.0
        amount = self.exact(value)
        try:
            return float(amount)
        except OverflowError:
            raise ValueError(f"{self.noun} must be finite, got {value!r}") from None


_DURATION = _Kind("a duration", "250ms, 90s, 5m, 2h or 1d", _DURATION_UNITS, _DURATION_ALIASES)
_SIZE = _Kind("a size", "512B, 64KiB, 16GiB or 2TB", _SIZE_UNITS, _SIZE_ALIASES)
_RATE = _Kind(
    "a rate",
    "3 per_day, 0.5 per_hour, 2 per_minute or 10 per_second",
    _RATE_UNITS,
    {},
)
_BANDWIDTH = _Kind(
    "a bandwidth", "10Gbps, 25 Gbit/s, 1.25GB/s or 500MiB/s", _BANDWIDTH_UNITS, _BANDWIDTH_ALIASES
)


def parse_duration(v: str | int | float) -> float:
    """Seconds from a number of seconds or a string such as ``250ms``, ``5 m`` or ``1.5h``."""
    return _DURATION.to_float(v)


def parse_positive_duration(v: str | int | float) -> float:
    """Like :func:`parse_duration`, but zero is rejected too."""
    seconds = parse_duration(v)
    if seconds <= 0:
        raise ValueError(f"a duration must be greater than zero, got {v!r}")
    return seconds


def parse_size(v: str | int | float) -> int:
    """Bytes from a number of bytes or a string such as ``64KiB`` or ``2TB``."""
    amount = _SIZE.exact(v)
    if amount.denominator != 1:
        raise ValueError(f"a size must be a whole number of bytes, got {v!r}")
    return int(amount)


def parse_rate(v: str | int | float) -> float:
    """Events per second from a number (per second) or e.g. ``3 per_day``."""
    return _RATE.to_float(v)


def parse_bandwidth(v: str | int | float) -> float:
    """Bytes per second from a number (bytes/s) or e.g. ``10Gbps`` or ``500MiB/s``."""
    return _BANDWIDTH.to_float(v)


def _integer_form(
    value: float, units: dict[str, Fraction], parse: Callable[[str], float], sep: str
) -> str | None:
    """The unit form with the smallest whole count that parses back to ``value`` exactly."""
    exact = Fraction(value)
    best: tuple[int, str] | None = None
    for name, factor in units.items():
        count = round(exact / factor)
        if count <= 0 or count >= _MAX_COUNT:
            continue
        text = f"{count}{sep}{name}"
        if parse(text) == value and (best is None or count < best[0]):
            best = (count, text)
    return None if best is None else best[1]


def _decimal_form(
    value: float, units: dict[str, Fraction], parse: Callable[[str], float], sep: str
) -> str | None:
    """The shortest decimal unit form that parses back to ``value`` exactly."""
    exact = Fraction(value)
    best: str | None = None
    for name, factor in units.items():
        try:
            text = f"{float(exact / factor)!r}{sep}{name}"
            same = parse(text) == value
        except (OverflowError, ValueError):
            continue  # the count or its product overflows a float near the top of the range
        if same and (best is None or len(text) < len(best)):
            best = text
    return best


def _checked(value: float, kind: _Kind) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{kind.noun} to format must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{kind.noun} to format must be finite and non-negative, got {value!r}")
    return number + 0.0


def format_duration(seconds: float) -> str:
    """A compact duration string that :func:`parse_duration` reads back exactly.

    The largest unit with a whole count wins (300.0 -> ``5m``, 0.25 -> ``250ms``,
    1.5 -> ``1500ms``); values with no whole count in any unit are written in seconds.
    """
    value = _checked(seconds, _DURATION)
    if value == 0:
        return "0s"
    return _integer_form(value, _DURATION_UNITS, parse_duration, "") or f"{value!r}s"


def format_size(nbytes: int) -> str:
    """A compact size string (``16GiB``, ``2TB``, ``1536B``) that parses back exactly."""
    if isinstance(nbytes, int) and not isinstance(nbytes, bool) and nbytes >= 0:
        count = nbytes
    else:
        value = _checked(nbytes, _SIZE)
        if value != int(value):
            raise ValueError(f"a size to format must be a whole number of bytes, got {nbytes!r}")
        count = int(value)
    if count == 0:
        return "0B"
    best = (count, f"{count}B")
    exact = Fraction(count)
    for name, factor in _SIZE_UNITS.items():
        scaled = exact / factor
        if scaled.denominator == 1 and scaled < best[0]:
            best = (int(scaled), f"{scaled}{name}")
    return best[1]


def format_rate(per_second: float) -> str:
    """A compact rate string (``10 per_second``, ``3 per_day``) that parses back exactly."""
    value = _checked(per_second, _RATE)
    if value == 0:
        return "0 per_second"
    return (
        _integer_form(value, _RATE_UNITS, parse_rate, " ")
        or _decimal_form(value, _RATE_UNITS, parse_rate, " ")
        or f"{value!r} per_second"
    )


def format_bandwidth(bytes_per_second: float) -> str:
    """A compact bandwidth string (``10Gbps``, ``500MiB/s``) that parses back exactly."""
    value = _checked(bytes_per_second, _BANDWIDTH)
    if value == 0:
        return "0B/s"
    return (
        _integer_form(value, _BANDWIDTH_UNITS, parse_bandwidth, "")
        or _decimal_form(value, _BANDWIDTH_UNITS, parse_bandwidth, "")
        or f"{value!r}B/s"
    )


def describe_duration(seconds: float) -> str:
    """A short, rounded duration for people to read (``233.3ms``); not for round trips."""
    if not math.isfinite(seconds):
        return "inf" if seconds > 0 else str(seconds)
    magnitude = abs(seconds)
    scales: Sequence[tuple[float, float, str]] = (
        (1e-3, 1e-6, "us"),
        (1.0, 1e-3, "ms"),
        (120.0, 1.0, "s"),
        (7200.0, 60.0, "m"),
        (172800.0, 3600.0, "h"),
    )
    if magnitude == 0:
        return "0s"
    for limit, factor, unit in scales:
        if magnitude < limit:
            return f"{seconds / factor:.4g}{unit}"
    days = seconds / 86400.0
    return f"{days:.4g}d" if abs(days) < 1e4 else f"{days:.0f}d"


def _schema(
    pattern_units: Sequence[str], description: str, number: dict[str, Any], sep: str = r"\s*"
) -> WithJsonSchema:
    units = "|".join(re.escape(u) for u in sorted(pattern_units, key=len, reverse=True))
    pattern = rf"^\s*\+?{_NUMBER}{sep}({units})?\s*$"
    return WithJsonSchema(
        {
            "anyOf": [number, {"type": "string", "pattern": pattern}],
            "description": description,
        }
    )


def _all_names(units: dict[str, Fraction], aliases: dict[str, str]) -> list[str]:
    return [*units, *aliases]


_NON_NEGATIVE = {"type": "number", "minimum": 0}

MAX_DURATION = "3650d"
"""The longest duration any scenario field accepts (10 years; simulated times stay exact
to well below a microsecond)."""
_MAX_DURATION = Within(parse_duration, format_duration, high=MAX_DURATION, noun="a duration")

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, when_used="json"),
    _schema(
        _all_names(_DURATION_UNITS, _DURATION_ALIASES),
        "A duration: seconds as a number, or a string such as 250ms, 90s, 5m, 2h or 1d "
        "(units us, ms, s, m, h, d).",
        _NON_NEGATIVE,
    ),
    _MAX_DURATION,
]

PositiveDuration = Annotated[
    float,
    BeforeValidator(parse_positive_duration),
    PlainSerializer(format_duration, when_used="json"),
    _schema(
        _all_names(_DURATION_UNITS, _DURATION_ALIASES),
        "A duration greater than zero: seconds as a number, or a string such as 250ms, 90s, "
        "5m, 2h or 1d (units us, ms, s, m, h, d).",
        {"type": "number", "exclusiveMinimum": 0},
    ),
    _MAX_DURATION,
]

Size = Annotated[
    int,
    BeforeValidator(parse_size),
    PlainSerializer(format_size, when_used="json"),
    _schema(
        _all_names(_SIZE_UNITS, _SIZE_ALIASES),
        "A size: bytes as a whole number, or a string such as 64KiB, 16GiB or 2TB "
        "(binary B, KiB, MiB, GiB, TiB; decimal KB, MB, GB, TB).",
        {"type": "integer", "minimum": 0},
    ),
    Within(parse_size, format_size, high="1024TiB", noun="a size"),
]

Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    PlainSerializer(format_rate, when_used="json"),
    _schema(
        list(_RATE_UNITS),
        "A rate: events per second as a number, or a string such as 3 per_day, "
        "0.5 per_hour, 2 per_minute or 10 per_second.",
        _NON_NEGATIVE,
    ),
    Within(
        parse_rate,
        format_rate,
        low="0.0001 per_day",
        high="1000000 per_second",
        zero_ok=True,
        noun="a rate",
    ),
]

Bandwidth = Annotated[
    float,
    BeforeValidator(parse_bandwidth),
    PlainSerializer(format_bandwidth, when_used="json"),
    _schema(
        _all_names(_BANDWIDTH_UNITS, _BANDWIDTH_ALIASES),
        "A bandwidth: bytes per second as a number, or a string in bits (10Gbps, "
        "25 Gbit/s, 100Mbps) or bytes (1.25GB/s, 500MiB/s) per second.",
        _NON_NEGATIVE,
    ),
    Within(parse_bandwidth, format_bandwidth, high="1000Tbps", noun="a bandwidth"),
]
