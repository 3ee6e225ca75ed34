"""One self-contained HTML page for a run or a sweep folder (``vtasim report DIR``).

The page holds the headline table (a run's headline figures; a sweep's cell means with their
95% confidence intervals and n) and the standard figures of the folder embedded as base64
PNG, so it can be mailed or archived as one file: no script, no style sheet or image
outside it. A figure that cannot be drawn for this folder (a sweep without factors has no
figure against a factor) is listed with the reason instead of failing the page. The page
is written atomically: ``<sweep>/report.html`` for a sweep, ``<run>.report.html`` beside a
run folder unless told otherwise.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math
import os
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from sim.analysis import folder_io, results
from sim.analysis.catalogue import unit_of
from sim.analysis.summary import HEADLINE_KEYS, metric_value
from sim.analysis.text import format_value
from sim.errors import RunError, ScenarioError, printable
from sim.plots._common import PathLike, _load_sweep, _source_kind, _style
from sim.plots.estate import topology
from sim.plots.runs import latency_cdf, utilisation_over_time
from sim.plots.sweeps import lapse_vs, percentiles_vs, topology_comparison

_CSS = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;font-size:90%}td,th{padding:2px 8px;"
    "border-bottom:1px solid #ddd;text-align:left}td.n{text-align:right}"
    "img{max-width:100%}"
)


def _png(fig: Figure) -> str:
    """The figure as a base64 PNG data URI."""
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None}, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figures(makers: list[tuple[str, Callable[[], Figure]]]) -> list[str]:
    out = []
    for title, make in makers:
        try:
            uri = _png(make())
        except (RunError, ScenarioError, ValueError, TypeError, KeyError, OverflowError) as exc:
            # a figure that cannot be drawn from this folder's values never loses the page
            out.append(f"<h3>{_esc(title)}</h3><p>not drawn: {_esc(exc)}</p>")
            continue
        out.append(f'<h3>{_esc(title)}</h3><img alt="{_esc(title)}" src="{uri}">')
    return out


def _esc(value: object) -> str:
    """Any value read from a run or sweep folder as HTML text: escaped (quotes too), control
    characters shown as escapes; the page holds no script, so no value can add one."""
    return html.escape(printable(value), quote=True)


def _seconds(value: object) -> str:
    """A manifest's time, whole seconds when it is a number, else the value as text."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.0f}"
    return str(value)


def _value(key: str, value: object) -> str:
    """A figure as the tables show it; a value of the wrong type from a file as text."""
    try:
        return format_value(key, value)
    except (TypeError, ValueError, OverflowError):
        return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _run_page(folder: Path) -> tuple[str, list[str]]:
    run = results.load(folder)
    rows = [
        [key, _value(key, metric_value(run.summary, key)), unit_of(key)]
        for key in HEADLINE_KEYS
        if metric_value(run.summary, key) is not None
    ]
    m = run.manifest
    title = f"Run {m.get('scenario', folder.name)}, seed {m.get('seed')}"
    intro = (
        f"<p>Simulated {_esc(_seconds(m.get('sim_time_s', 0)))} s, {_esc(m.get('events'))} "
        f"events; folder <code>{_esc(folder)}</code>.</p>"
    )
    parts = [intro, "<h2>Headline figures</h2>", _table(["figure", "value", "unit"], rows)]
    parts.append("<h2>Figures</h2>")
    parts += _figures(
        [
            ("Attestation latency (CDF)", lambda: latency_cdf(run)),
            ("Service load over time", lambda: utilisation_over_time(run)),
            ("Estate topology", lambda: topology(run)),
        ]
    )
    return title, parts


def _sweep_page(folder: Path) -> tuple[str, list[str]]:
    sw = _load_sweep(folder)
    rows = []
    for r in sw.cells:
        mean, half = r["mean"], r["ci_half_width"]
        key = str(r["metric"])
        ci = "" if half is None else f"± {_value(key, half)}"
        levels = ", ".join(f"{f}={r[f]}" for f in sw.factors)
        rows.append(
            [str(r["variant"] or "") or "-", levels, key, _value(key, mean), ci, str(r["n"])]
        )
    failed = sum(1 for r in sw.index if r["status"] != "ok")
    intro = (
        f"<p>{len({r['cell_id'] for r in sw.cells})} cells, {len(sw.index)} runs "
        f"({failed} failed); factors: {_esc(', '.join(sw.factors) or 'none')}.</p>"
    )
    header = ["variant", "levels", "metric", "mean", "95% CI", "n"]
    parts = [intro, "<h2>Cell means</h2>", _table(header, rows), "<h2>Figures</h2>"]
    makers: list[tuple[str, Callable[[], Figure]]] = []
    for x in sw.factors[:2]:
        makers.append((f"Attestation latency vs {x}", functools.partial(percentiles_vs, sw, x)))
        makers.append((f"Time to lapse and refusal vs {x}", functools.partial(lapse_vs, sw, x)))
    if len(sw.variants) > 1 or not sw.factors:
        makers.append(("Variants compared", lambda: topology_comparison(sw)))
    makers.append(("Attestation latency (CDF, pooled runs)", lambda: latency_cdf(sw)))
    return f"Sweep {sw.name}", [*parts, *_figures(makers)]


def render(source: PathLike) -> str:
    """The report page of a run or sweep folder, as HTML text."""
    folder = Path(source)
    what = _source_kind(folder)
    if what == "run":
        title, parts = _run_page(folder)
    elif what == "sweep":
        title, parts = _sweep_page(folder)
    else:
        raise RunError(f"{folder}: expected a run folder or a sweep folder; found {what}")
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n"
        f"<body><h1>{_esc(title)}</h1>\n{body}\n</body></html>\n"
    )


def default_out(source: PathLike) -> Path:
    """``<sweep>/report.html`` for a sweep; ``<run>.report.html`` beside a run folder (a
    run folder holds only what the run wrote, so a re-run may replace it)."""
    folder = Path(os.path.abspath(source))  # `report .` inside a run folder names it
    if _source_kind(folder) == "sweep":
        return folder / "report.html"
    return folder.with_name(folder.name + ".report.html")


def write_report(source: PathLike, out: PathLike | None = None) -> Path:
    """Write the report of ``source`` to ``out`` (default :func:`default_out`)."""
    text = render(source)
    target = Path(out) if out is not None else default_out(source)
    return folder_io.write_file_atomic(target, text.encode("utf-8"))
