"""Matplotlib figures from run folders and sweep folders; plotting never runs a simulation.

Every public figure function returns a :class:`matplotlib.figure.Figure` built with the
object-oriented API (no pyplot state, nothing shown), so it works under the Agg backend, in
notebooks and in worker processes alike. One style (:data:`STYLE`) applies to every figure.
Quantities are shown in a unit that suits their size (durations in ms, s, min, h or d; sizes
in MiB/GiB; utilisation in %), and the axis label names the unit. Sweep figures draw the cell
means of ``cells.csv`` with their 95% confidence intervals as bands or error bars; run figures
read the run folder's tables.

:func:`plot` is the dispatcher behind ``vtasim plot``: it checks the kind and that the source
is the right sort of folder, draws, and :func:`save` writes the file atomically (PNG, SVG or
PDF; identical data give byte-identical SVG).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from sim.analysis import folder_io, results
from sim.errors import Problem, RunError, ScenarioError
from sim.plots._common import (
    COMPARISON_METRICS,
    STYLE,
    TIME_UNITS,
    PathLike,
    _check_factor,
    _load_sweep,
    _source_kind,
    _style,
    factor_kind,
    time_unit,
)
from sim.plots.estate import topology
from sim.plots.operations import capacity_over_time
from sim.plots.regimes import regime_comparison
from sim.plots.runs import latency_cdf, utilisation_over_time
from sim.plots.sensitivity import sensitivity_bars
from sim.plots.sweeps import (
    exposure_vs,
    lapse_vs,
    metric_vs,
    percentiles_vs,
    topology_comparison,
)
from sim.scenario import Scenario

__all__ = [
    "COMPARISON_METRICS",
    "FORMATS",
    "KINDS",
    "STYLE",
    "TIME_UNITS",
    "capacity_over_time",
    "exposure_vs",
    "factor_kind",
    "lapse_vs",
    "latency_cdf",
    "metric_vs",
    "out_path",
    "percentiles_vs",
    "plot",
    "regime_comparison",
    "save",
    "sensitivity_bars",
    "time_unit",
    "topology",
    "topology_comparison",
    "utilisation_over_time",
]

# --------------------------------------------------------------------------- output


FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
"""The file formats :func:`save` writes, chosen by the output file's suffix."""


def save(fig: Figure, path: PathLike) -> Path:
    """Write ``fig`` as PNG, SVG or PDF (by the extension, 150 dpi for PNG) atomically,
    creating parent folders; SVG and PDF output carry no date and SVG fixed ids, so
    identical data give identical bytes."""
    target = Path(path)
    fmt = _out_format(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, Any] = {
        "png": {"Software": None},
        "svg": {"Date": None},
        "pdf": {"CreationDate": None, "ModDate": None, "Producer": None},
    }[fmt]
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format=fmt, dpi=150, metadata=metadata, bbox_inches="tight")
    return folder_io.write_file_atomic(target, buffer.getvalue())


def out_path(out: PathLike, fmt: str | None = None) -> Path:
    """The file to write: ``out``, with ``.fmt`` added when ``fmt`` is given and ``out`` has
    no suffix; a suffix that names another format than ``fmt`` is refused."""
    target = Path(out)
    if fmt is None:
        return target
    if fmt not in FORMATS:
        raise ScenarioError(
            [Problem("--format", f"expected one of {', '.join(FORMATS)}, found {fmt!r}")]
        )
    if not target.suffix:
        return target.with_name(f"{target.name}.{fmt}")
    if target.suffix.lower().lstrip(".") != fmt:
        raise ScenarioError(
            [Problem("--format", f"{fmt} does not match the output file {target.name}")]
        )
    return target


def _out_format(target: Path) -> str:
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ScenarioError(
            [
                Problem(
                    "--out",
                    f"{target}: write a figure as .png, .svg or .pdf (or pass --format), "
                    f"not {target.suffix or 'no extension'}",
                )
            ]
        )
    return fmt


KINDS: dict[str, Callable[..., Figure]] = {
    "latency-cdf": latency_cdf,
    "latency-percentiles": percentiles_vs,
    "lapse": lapse_vs,
    "exposure": exposure_vs,
    "utilisation": utilisation_over_time,
    "topology-comparison": topology_comparison,
    "topology": topology,
    "capacity": capacity_over_time,
    "sensitivity": sensitivity_bars,
}
_ACCEPTS: dict[str, tuple[str, ...]] = {
    "latency-cdf": ("run", "sweep"),
    "latency-percentiles": ("sweep",),
    "lapse": ("sweep",),
    "exposure": ("sweep",),
    "utilisation": ("run",),
    "topology-comparison": ("sweep",),
    "topology": ("run", "scenario"),
    "capacity": ("run", "sweep"),
    "sensitivity": ("sweep",),
}
_NOUNS = {
    "run": "a run folder (one simulation, as `vtasim run` writes it)",
    "sweep": "a sweep folder (with index.csv and cells.csv, as a sweep writes it)",
    "scenario": "a scenario YAML file",
}


def _wrong_source(kind: str, source: Any, what: str) -> RunError:
    wanted = " or ".join(_NOUNS[a] for a in _ACCEPTS[kind])
    found = {
        "missing": "does not exist",
        **{k: f"is {v.split(' (')[0]}" for k, v in _NOUNS.items()},
    }.get(what, f"is {what}")
    hint = ""
    if what == "sweep" and "run" in _ACCEPTS[kind]:
        runs = sorted(Path(source).glob("runs/*/rep-*"))
        hint = f"; pass one of its runs, e.g. {runs[0]}" if runs else "; pass one of its runs"
    elif what == "scenario" and "run" in _ACCEPTS[kind]:
        hint = f"; run it first (vtasim run {source})"
    elif what == "run" and _ACCEPTS[kind] == ("sweep",):
        hint = "; it holds one run, and this figure compares the cells of a sweep"
    return RunError(f"plot kind {kind!r} needs {wanted}; {source} {found}{hint}")


def plot(
    source: PathLike | results.RunResult | Scenario,
    kind: str,
    out: PathLike,
    x: str | None = None,
    scale: str = "linear",
    fmt: str | None = None,
) -> Path:
    """Draw figure ``kind`` from ``source`` and save it to ``out`` (.png, .svg or .pdf; with
    ``fmt``, that format, its suffix added to an ``out`` without one). ``x``
    is the factor for the sweep kinds (default: the sweep's first factor); for
    ``latency-cdf`` on a sweep it names a factor to group by, and ``scale`` (``linear``,
    ``log``, ``ccdf``) picks its axes."""
    if kind not in KINDS:
        raise ScenarioError(
            [Problem("--kind", f"unknown plot kind {kind!r}; choose one of {', '.join(KINDS)}")]
        )
    out = out_path(out, fmt)
    _out_format(out)
    what = _source_kind(source)
    if what not in _ACCEPTS[kind]:
        raise _wrong_source(kind, source, what)
    if scale != "linear" and kind != "latency-cdf":
        raise ScenarioError([Problem("--scale", f"plot kind {kind!r} has no scale choice")])
    if x is not None and kind not in (
        "latency-cdf", "latency-percentiles", "lapse", "exposure", "capacity"
    ):  # fmt: skip
        raise ScenarioError([Problem("--x", f"plot kind {kind!r} has no x factor")])
    if kind == "latency-cdf":
        fig = latency_cdf(source, by=x or "variant", scale=scale)  # type: ignore[arg-type]
    elif kind == "capacity":
        fig = capacity_over_time(source, by=x)  # type: ignore[arg-type]
    elif kind in ("latency-percentiles", "lapse", "exposure"):
        sw = _load_sweep(source)  # type: ignore[arg-type]
        if x is None:
            if not sw.factors:
                raise RunError(
                    f"sweep {sw.name} has no factors to plot against; try "
                    "--kind topology-comparison"
                )
            x = sw.factors[0]
        _check_factor(sw, x, "--x")
        fig = KINDS[kind](sw, x)
    else:
        fig = KINDS[kind](source)
    return save(fig, out)
