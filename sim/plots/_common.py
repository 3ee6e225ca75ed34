"""Shared pieces of the figures: one style, units for axes, labels, and loading run
and sweep folders.
"""

from __future__ import annotations

import functools
import math
import os
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec

import matplotlib as mpl
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter
from pydantic import BaseModel

from sim.analysis import folder_io, results
from sim.errors import Problem, RunError, ScenarioError, printable
from sim.experiments.folder import CELL_COLUMNS
from sim.scenario import Scenario
from sim.scenario.units import (
    format_bandwidth,
    format_duration,
    format_rate,
    format_size,
)
from sim.scenario.yaml_safe import load_yaml_text

PathLike = str | os.PathLike[str]
P = ParamSpec("P")

STYLE: dict[str, Any] = {
    "figure.figsize": (8.0, 5.0),
    "figure.constrained_layout.use": True,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "font.size": 9,
    "svg.hashsalt": "vtasim",
    "svg.fonttype": "path",
    # names from files ("a$b") are text, never mathtext (an unmatched $ loses the figure)
    "text.parse_math": False,
}
TIME_UNITS: dict[str, float] = {"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
COMPARISON_METRICS: tuple[str, ...] = (
    "attestation.latency_s.p95",
    "drift.time_to_lapse_s.mean",
    "drift.time_to_refusal_s.mean",
    "services.attestation_service.utilisation",
)
_SERVICES = {
    "attestation_service": "Attestation Service",
    "key_provider_service": "Key Provider Service",
    "status_service": "status endpoint",
    "kms": "KMS",
}
_STATS = ("mean", "p50", "p95", "p99", "max", "count")
_SERIALISERS = {
    format_duration: "duration",
    format_size: "size",
    format_bandwidth: "bandwidth",
    format_rate: "rate",
}


def _style() -> Any:
    """A context applying :data:`STYLE` (matplotlib types its keys as a closed Literal)."""
    return mpl.rc_context(typing.cast(Any, STYLE))


def _styled(fn: Callable[P, Figure]) -> Callable[P, Figure]:
    """Build the figure under :data:`STYLE`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with _style():
            return fn(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- units


def time_unit(seconds: float) -> tuple[str, float]:
    """The unit to show durations up to ``seconds`` in, and its length in seconds."""
    top = abs(seconds) if math.isfinite(seconds) else 0.0
    if top == 0.0:
        return "s", 1.0
    for name, limit in (("ms", 1.0), ("s", 120.0), ("min", 3 * 3600.0), ("h", 3 * 86400.0)):
        if top < limit:
            return name, TIME_UNITS[name]
    return "d", TIME_UNITS["d"]


def _scale(kind: str | None, values: Sequence[float]) -> tuple[str, float]:
    """Unit name and divisor for showing ``values`` of the given quantity kind."""
    top = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if kind == "duration":
        return time_unit(top)
    if kind == "size":
        return ("GiB", 2.0**30) if top >= 2**30 else ("MiB", 2.0**20)
    if kind == "bandwidth":
        return "Gbit/s", 1.25e8
    if kind == "rate":
        return ("per hour", 1 / 3600) if top * 3600 >= 1 else ("per day", 1 / 86400)
    if kind == "fraction":
        return "%", 0.01
    return "", 1.0


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """The model or scalar type inside an annotation, and the Annotated metadata met."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        inner, *meta = typing.get_args(tp)
        base, more = _unwrap(inner)
        return base, [*meta, *more]
    args = [a for a in typing.get_args(tp) if a is not type(None) and a is not Ellipsis]
    if origin in (typing.Union, types.UnionType, tuple, list) and args:
        return _unwrap(args[0])
    return tp, []


def factor_kind(path: str) -> str | None:
    """The quantity kind (``duration``, ``size``, ``bandwidth``, ``rate``) of the scenario
    field at dotted ``path``, read from the Scenario model; None for counts and text."""
    model: Any = Scenario
    meta: list[Any] = []
    for part in path.split("."):
        if part.isdigit():
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(part)
        if info is None:
            return None
        model, inner = _unwrap(info.annotation)
        meta = [*info.metadata, *inner]
    return next(
        (_SERIALISERS[m.func] for m in meta if getattr(m, "func", None) in _SERIALISERS), None
    )


def _metric_kind(metric: str) -> str | None:
    parts = metric.split(".")
    if any(p.endswith("_s") for p in parts):
        return "duration"
    return "fraction" if parts[-1] == "utilisation" else None


def _common_kind(metrics: Sequence[str]) -> str | None:
    kinds = {_metric_kind(m) for m in metrics}
    return kinds.pop() if len(kinds) == 1 else None


_WORDS = {
    "vmotion": "vMotion",
    "kms": "KMS",
    "kms_clusters": "KMS clusters",
    "vms": "VMs",
    "vcenters": "vCenters",
    "trust_authority": "Trust Authority",
    "tpm": "TPM",
    "ek": "EK",
    "vib": "VIB",
    "vibs": "VIBs",
    "esxi": "ESXi",
    "wan": "WAN",
}
"""Scenario and summary words as a reader writes them."""
_SINGULAR = {
    "vcenters": "vCenter",
    "clusters": "cluster",
    "sites": "site",
    "links": "link",
    "kms_clusters": "KMS cluster",
    "providers": "key provider",
    "scheduled": "scheduled event",
}


def _words(part: str) -> str:
    """One dotted-path part in words (``vmotion`` -> ``vMotion``, ``bytes_x`` -> ``bytes x``)."""
    if part in _WORDS:
        return _WORDS[part]
    return " ".join(_WORDS.get(w, w) for w in part.split("_"))


def _metric_label(metric: str) -> str:
    """``drift.time_to_lapse_s.mean`` -> ``time to lapse (mean)``."""
    parts = metric.split(".")
    stat = parts.pop() if parts[-1] in _STATS and len(parts) > 1 else None
    if parts[0] == "services" and len(parts) > 1:
        parts = [_SERVICES.get(parts[1], parts[1]), *parts[2:]]
    elif parts[0] == "drift" and len(parts) > 1:
        parts = [p for p in parts[1:] if p != "exposure"] or parts
    words = " ".join(p if p in _SERVICES.values() else _words(p.removesuffix("_s")) for p in parts)
    return f"{words} ({stat})" if stat else words


def plain_log_ticks(axis: Axis) -> None:
    """Label a logarithmic ``axis`` with plain numbers (10, 100, 0.01, 2e+04): the default
    labels are mathtext, which :data:`STYLE` turns off, so they would print as source."""
    axis.set_major_formatter(LogFormatter())
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def plain(text: object) -> str:
    """``text`` as matplotlib should show it: a ``$`` in a scenario, variant or sweep name
    is a dollar sign, not the start of mathtext (:data:`STYLE` turns mathtext off, so the
    text is shown as it is: escaping the `$` would print its backslash), and a control
    character (an escape sequence) is shown escaped (:func:`sim.errors.printable`), never
    handed to the font (whose missing-glyph warning would print it raw on the terminal)."""
    return printable(text)


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _with_unit(label: str, unit: str) -> str:
    return f"{label} ({unit})" if unit else label


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _format_level(factor: str, value: Any) -> str:
    kind = factor_kind(factor)
    if _is_number(value) and kind is not None:
        fmt: dict[str, Callable[[Any], str]] = {
            "duration": format_duration,
            "size": lambda v: format_size(int(v)),
            "bandwidth": format_bandwidth,
            "rate": format_rate,
        }
        return fmt[kind](value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _factor_label(factor: str) -> str:
    """A factor's dotted path in words: ``vcenters.0.clusters.0.hosts`` -> ``hosts per
    cluster``, ``attestation.interval`` -> ``attestation interval``, ``kms.servers`` ->
    ``KMS servers``. A control character in a name read from a folder is shown escaped
    (:func:`sim.errors.printable`)."""
    parts = printable(factor).split(".")
    last = parts[-1]
    if len(parts) >= 3 and parts[-2].isdigit():
        owner = _SINGULAR.get(parts[-3], _words(parts[-3]).removesuffix("s"))
        return f"{_words(last)} per {owner}"
    named = [p for p in parts if not p.isdigit()]
    if last == "count" and len(named) > 1:  # vms.count -> VMs
        return _words(named[-2])
    if len(named) == 1:
        return _words(last)
    return f"{_words(named[-2])} {_words(last)}"


# --------------------------------------------------------------------------- sources


def _rows(table: Any) -> list[dict[str, Any]]:
    """Row dicts of a DataFrame or row list, with NaN cells as None."""
    records = table.to_dict("records") if hasattr(table, "to_dict") else table
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
        for r in records
    ]


def _columns(table: Any) -> list[str]:
    if hasattr(table, "columns"):
        return [str(c) for c in table.columns]
    return list(table[0]) if table else []


@dataclass(frozen=True)
class _Sweep:
    path: Path
    name: str
    factors: tuple[str, ...]
    cells: list[dict[str, Any]]
    index: list[dict[str, Any]]

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(str(r["metric"]) for r in self.cells))

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(str(r["variant"] or "") for r in self.cells))


def _source_kind(source: Any) -> str:
    """``run``, ``sweep``, ``plan``, ``scenario`` or a description of what ``source`` is instead."""
    if isinstance(source, results.RunResult):
        return "run"
    if isinstance(source, _Sweep):
        return "sweep"
    if isinstance(source, Scenario):
        return "scenario"
    p = Path(source)
    if p.is_dir():
        if (p / "plan.json").is_file() and (p / "plan.resolved.yaml").is_file():
            return "plan"
        if (p / "index.csv").is_file() and (p / "cells.csv").is_file():
            return "sweep"
        if (p / results.SUMMARY_FILE).exists() or (p / results.SCENARIO_FILE).exists():
            return "run"
        return "a folder that is neither a run folder nor a sweep folder"
    if p.is_file() and p.suffix in (".yaml", ".yml"):
        return "scenario"
    return "a file that is not a scenario" if p.exists() else "missing"


def _load_sweep(source: PathLike | _Sweep) -> _Sweep:
    if isinstance(source, _Sweep):
        return source
    p = Path(source)
    if _source_kind(p) != "sweep":
        raise RunError(f"{p} is not a sweep folder (it needs index.csv and cells.csv)")
    cells = results.read_table(p / "cells.csv")
    name = p.name
    resolved = p / "sweep.resolved.yaml"
    if resolved.is_file():
        text = folder_io.read_scenario_text(p, "sweep.resolved.yaml")
        doc = load_yaml_text(text, str(resolved))  # bounded: no alias bomb
        if isinstance(doc, dict) and isinstance(doc.get("sweep"), dict):
            name = str(doc["sweep"].get("name", name))
    factors = tuple(c for c in _columns(cells) if c not in CELL_COLUMNS)
    return _Sweep(p, name, factors, _rows(cells), _rows(results.read_table(p / "index.csv")))


def _load_run(source: PathLike | results.RunResult) -> results.RunResult:
    return source if isinstance(source, results.RunResult) else results.load(Path(source))


def _check_factor(sw: _Sweep, x: str, what: str = "x") -> None:
    if x not in sw.factors:
        have = ", ".join(sw.factors) or "none"
        raise ScenarioError(
            [Problem(what, f"{x!r} is not a factor of sweep {sw.name} (its factors: {have})")]
        )


def _check_metrics(sw: _Sweep, metrics: Sequence[str]) -> None:
    missing = [m for m in metrics if m not in sw.metrics]
    if missing:
        raise RunError(
            f"sweep {sw.name} did not record {', '.join(missing)}; add them to "
            f"the sweep's metrics (it has: {', '.join(sw.metrics)})"
        )


def _group_label(sw: _Sweep, variant: str, levels: Sequence[tuple[str, Any]]) -> str:
    """A legend label: the variant (when there are several) and each factor in words at its
    level as the scenario writes it (``attestation interval=1m``, never ``60.0``)."""
    parts = [variant] if variant and len(sw.variants) > 1 else []
    parts += [f"{_factor_label(f)}={_format_level(f, v)}" for f, v in levels]
    return plain(", ".join(parts))
