"""Summaries as aligned text: dotted keys, numbers with units chosen from the key names.

The text agrees with the keys and with ``summary.json``: ``_s`` values are shown in seconds
(with hours or minutes in brackets when long: ``7,200 s (2.00 h)``), ``bytes`` values in
bytes (B to TiB), ``_per_s`` rates per second, ``_bytes_per_s`` byte rates, and fractions
(``utilisation``, ``ratio``, ``fraction``, ``share``: 0..1 in the JSON) as percent with a
``%`` sign (below 1% to two significant digits, so a small share never reads as 0);
``count``/``n``/``n_*`` as integers. A statistic leaf (``p95``, ``mean``, ``max``, ...)
takes the unit of the nearest parent key that has one, so
``attestation.latency_s.p95`` is shown in seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sim.analysis.cells import plain

_KINDS = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"(?:.*_)?bytes_per_s", "byte_rate"),
        (r".*_per_s", "rate"),
        (r"(?:.*_)?bytes(?:_.*)?", "bytes"),
        (r".*_s", "seconds"),
        (r"(?:.*_)?(?:fraction|frac|utili[sz]ation|util|share|ratio)", "fraction"),
        (r"n|count|n_.*|.*_count", "count"),
    )
)
_STATISTIC = re.compile(
    r"p[0-9]+|q[0-9]+|mean|median|min|max|std|stdev|sd|sum|total|km_median|"
    r"km_median_ci_low|km_median_ci_high|km_restricted_mean|km_horizon|"
    r"ci_?(?:low|high|lo|hi)|low|high|lo|hi|first|last|[0-9]+"
)  # a number: a level of its parent (``time_at_level_s.12`` is in seconds)
_LONG_STEPS = ((60.0, "min"), (3600.0, "h"), (86400.0, "d"))
_BYTE_STEPS = ((1.0, "B"), (2.0**10, "KiB"), (2.0**20, "MiB"), (2.0**30, "GiB"), (2.0**40, "TiB"))


def _kind(key: str) -> str | None:
    """The unit kind of a dotted key: by its leaf's suffix, or for a statistic leaf such as
    ``p95`` by the nearest ancestor that has one (``latency_s.p95`` is in seconds)."""
    segments = key.split(".")
    for depth, segment in enumerate(reversed(segments)):
        if depth == 1 and not _STATISTIC.fullmatch(segments[-1]):
            return None
        kind = next((k for pattern, k in _KINDS if pattern.fullmatch(segment)), None)
        if kind is not None:
            return kind
    return None


def _num(x: float) -> str:
    size = abs(x)
    return f"{x:,.0f}" if size >= 100 else f"{x:.1f}" if size >= 10 else f"{x:.2f}"


def _scaled(x: float, steps: Sequence[tuple[float, str]]) -> tuple[str, str]:
    """``x`` in the largest unit of ``steps`` (ascending) that is not bigger than it."""
    size, unit = max((s for s in steps if abs(x) >= s[0]), default=steps[0])
    return _num(x / size), unit


def _seconds(value: float) -> tuple[str, str]:
    """Seconds as seconds (the key's unit), with a longer unit in brackets from 2 minutes."""
    if value == 0:
        return "0", "s"
    text = _num(value) if abs(value) >= 1 else f"{value:.3g}"
    if abs(value) < 120:
        return text, "s"
    longer, unit = _scaled(value, _LONG_STEPS)
    return text, f"s ({longer} {unit})"


def _number(kind: str | None, value: float) -> tuple[str, str]:
    """The number text and unit text of one numeric summary value."""
    if not math.isfinite(value):
        return ("n/a" if math.isnan(value) else str(value)), ""
    if kind == "seconds":
        return _seconds(value)
    if kind in ("bytes", "byte_rate"):
        suffix = "/s" if kind == "byte_rate" else ""
        text, unit = (f"{value:,.0f}", "B") if abs(value) < 1024 else _scaled(value, _BYTE_STEPS)
        return text, unit + suffix
    if kind == "rate":
        return _num(value), "/s"
    if kind == "fraction":
        pct = value * 100
        if 0 < abs(pct) < 1:  # two significant digits: a small share is never shown as 0
            return f"{pct:.{1 - math.floor(math.log10(abs(pct)))}f}", "%"
        return f"{pct:.1f}", "%"
    if isinstance(value, int) or (kind == "count" and float(value).is_integer()):
        return f"{int(value):,}", ""
    return (f"{value:,.0f}" if 1e4 <= abs(value) < 1e15 else f"{value:.4g}"), ""


def _flatten(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key in sorted(value, key=str):
        item = value[key]
        if isinstance(item, Mapping) and item:
            yield from _flatten(item, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", item


def _cell_text(key: str, value: Any) -> tuple[str, str] | str:
    """(number, unit) for a numeric value, else its text."""
    value = plain(value)
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else ("yes" if value else "no")
    if isinstance(value, (int, float)):
        return _number(_kind(key), value)
    if isinstance(value, Mapping):
        return "(empty)"
    if isinstance(value, (list, tuple)):
        cells = [_cell_text(key, item) for item in value]
        return (
            "[" + ", ".join(" ".join(c).strip() if isinstance(c, tuple) else c for c in cells) + "]"
        )
    return str(value)


def format_value(key: str, value: Any) -> str:
    """One summary value as text with its unit, as :func:`format_summary` shows it."""
    cell = _cell_text(key, value)
    return " ".join(cell).strip() if isinstance(cell, tuple) else cell


def format_summary(summary: Mapping[str, Any]) -> str:
    """An aligned text table of a nested summary: dotted keys, numbers with units.

    Units come from key suffixes: ``_s`` seconds (shown as µs/ms/s/min/h), ``_bytes`` (B to
    TiB), ``_per_s`` rates, ``_bytes_per_s`` byte rates, ``fraction``/``utilisation``/
    ``share`` as percent, ``count``/``n``/``n_*`` as integers. A statistic leaf (``p95``,
    ``mean``, ``max``, ...) takes the unit of the nearest parent key that has one.
    """
    rows = [(key, _cell_text(key, value)) for key, value in _flatten(summary)]
    if not rows:
        return "(empty summary)"
    key_width = max(len(key) for key, _ in rows)
    num_width = max((len(cell[0]) for _, cell in rows if isinstance(cell, tuple)), default=0)
    return "\n".join(
        f"{key:<{key_width}}  {cell[0]:>{num_width}} {cell[1]}".rstrip()
        if isinstance(cell, tuple)
        else f"{key:<{key_width}}  {cell}"
        for key, cell in rows
    )


def headline_notes(summary: Mapping[str, Any]) -> list[str]:
    """Sentences the headline adds below its figures, for what its figures leave out: the
    drifts never measured (boot-measured, and no reboot of their host before the end), whose
    lapse the headline therefore cannot show."""
    drift = summary.get("drift")
    unmeasured = drift.get("not_measured") if isinstance(drift, Mapping) else None
    if not unmeasured:
        return []
    noun = "drift" if unmeasured == 1 else "drifts"
    return [f"{unmeasured} {noun} not measured: boot-measured, no reboot before the end"]


def format_headline(summary: Mapping[str, Any], shown: Mapping[str, Any]) -> str:
    """``shown`` (the headline or the whole of ``summary``) as :func:`format_summary`
    writes it, followed by the :func:`headline_notes` of ``summary``."""
    return "\n".join([format_summary(shown), *headline_notes(summary)])
