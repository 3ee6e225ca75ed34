"""One self-contained HTML page for a run or a sweep folder (``vtasim report DIR``).

A sweep's page opens with the answer (its cells ranked on the first metric it records, each
with its difference from the best and a 95% interval, as ``vtasim compare SWEEP --metric``
prints it), then the figures, then the settings that differ between cells, then the full
table of cell means with their intervals last. A run's page shows the scenario's description,
its headline figures, its figures and its key settings as the scenario writes them. Figures
are embedded as base64 PNG, so it can be mailed or archived as one file: no script, no style
sheet or image outside it. A figure that cannot be drawn for this folder (a sweep without
factors has no figure against a factor) is listed with the reason instead of failing the
page. The page is written atomically: ``<sweep>/report.html`` for a sweep,
``<run>.report.html`` beside a run folder unless told otherwise.
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
from typing import Any

from matplotlib.figure import Figure

from sim.analysis import folder_io, results
from sim.analysis.catalogue import unit_of
from sim.analysis.compare import DECISION_KEYS
from sim.analysis.summary import HEADLINE_KEYS, metric_value
from sim.analysis.text import format_value
from sim.errors import RunError, ScenarioError, printable
from sim.experiments.ranking import rank, ranking_table
from sim.plots._common import (
    PathLike,
    _factor_label,
    _format_level,
    _load_sweep,
    _source_kind,
    _style,
    _Sweep,
)
from sim.plots.estate import topology
from sim.plots.runs import latency_cdf, utilisation_over_time
from sim.plots.sweeps import lapse_vs, percentiles_vs, topology_comparison
from sim.scenario.units import format_duration
from sim.scenario.yaml_safe import load_yaml_text

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


_NOT_DRAWN = (RunError, ScenarioError, OSError, ValueError, TypeError, KeyError, OverflowError)
"""What a figure drawn from a folder's values may raise (OSError: a run folder gone)."""


def _figures(makers: list[tuple[str, Callable[[], Figure]]]) -> list[str]:
    out = []
    for title, make in makers:
        try:
            uri = _png(make())
        except (
            RunError,
            ScenarioError,
            OSError,
            ValueError,
            TypeError,
            KeyError,
            OverflowError,
        ) as exc:
            # a figure that cannot be drawn from this folder's values never loses the page
            out.append(f"<h3>{_esc(title)}</h3><p>not drawn: {_esc(exc)}</p>")
            continue
        out.append(f'<h3>{_esc(title)}</h3><img alt="{_esc(title)}" src="{uri}">')
    return out


def _esc(value: object) -> str:
    """Any value read from a run or sweep folder as HTML text: escaped (quotes too), control
    characters shown as escapes; the page holds no script, so no value can add one."""
    return html.escape(printable(value), quote=True)


def _duration(value: object) -> str:
    """A manifest's time as a duration (``2 h``) when it is a finite number, else the value
    as text (a folder from elsewhere may hold anything there)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return format_duration(float(value))
    return str(value)


def _yaml_doc(text_of: Callable[[], str], source: str) -> dict[str, Any]:
    """A YAML mapping read from a run or sweep folder under the scenario reader's bounds;
    empty when it cannot be read or is not a mapping (the page shows what it can)."""
    try:
        doc = load_yaml_text(text_of(), source)
    except (RunError, ScenarioError, OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


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


def _unit_shown(key: str, value_text: str) -> str:
    """The unit column beside a formatted value: empty when the value already carries its
    unit (``0.0026 %``, ``60.0 s``), so a percentage is never labelled a fraction."""
    tail = value_text.rsplit(" ", 1)[-1] if " " in value_text else ""
    if value_text.endswith("%") or (tail and not tail.replace(".", "").isdigit()):
        return ""
    return unit_of(key)


_SETTINGS = ("duration", "warmup", "seed", "attestation", "kms", "vms", "trust_authority")
"""The scenario's top-level fields shown as its key settings (scalars, one level deep)."""


def _settings_rows(doc: dict[str, Any]) -> list[list[str]]:
    """Key settings of a scenario document as the scenario writes them (``5m``, not 300):
    its scalar top-level fields of :data:`_SETTINGS` and their scalar members."""
    rows = []
    for field in _SETTINGS:
        value = doc.get(field)
        if isinstance(value, dict):
            rows += [
                [f"{field}.{k}", str(v)] for k, v in value.items() if not isinstance(v, dict | list)
            ]
        elif value is not None and not isinstance(value, list):
            rows.append([field, str(value)])
    vcenters = [v for v in doc.get("vcenters") or [] if isinstance(v, dict)]
    clusters = [c for v in vcenters for c in v.get("clusters") or [] if isinstance(c, dict)]
    hosts = sum(int(c.get("hosts", 0)) for c in clusters if isinstance(c.get("hosts"), int))
    rows.append(
        ["estate", f"{len(vcenters)} vCenter(s), {len(clusters)} cluster(s), {hosts} hosts"]
    )
    return rows


def _run_page(folder: Path) -> tuple[str, list[str]]:
    run = results.load(folder)
    rows = []
    for key in HEADLINE_KEYS:
        value = metric_value(run.summary, key)
        if value is not None:
            text = _value(key, value)
            rows.append([key, text, _unit_shown(key, text)])
    m = run.manifest
    doc = _yaml_doc(lambda: run.scenario_yaml, "scenario.resolved.yaml")
    title = f"Run {m.get('scenario', folder.name)}, seed {m.get('seed')}"
    description = str(doc.get("description") or "").strip()
    intro = (f"<p>{_esc(description)}</p>" if description else "") + (
        f"<p>Simulated {_esc(_duration(m.get('sim_time_s', 0)))}, "
        f"{_esc(m.get('events'))} events; folder <code>{_esc(folder)}</code>.</p>"
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
    parts += ["<h2>Scenario settings</h2>", _table(["setting", "as written"], _settings_rows(doc))]
    return title, parts


def _headline_metric(sw: _Sweep) -> str | None:
    """The metric the sweep report answers on: the first decision figure of ``vtasim
    compare`` (latency percentiles, time to refusal, exposure, capacity, failures) that the
    sweep records with a value in some cell, else the first recorded metric with one."""
    candidates = [k for k in DECISION_KEYS if k in sw.metrics] + sw.metrics
    return next(
        (m for m in candidates if any(r["mean"] is not None for r in sw.cells if r["metric"] == m)),
        None,
    )


def _answer(sw: _Sweep) -> list[str]:
    """The sweep's cells ranked on its headline metric, with each cell's difference from
    the best and its 95% interval (``vtasim compare SWEEP --metric KEY``)."""
    metric = _headline_metric(sw)
    if metric is None:
        return ["<p>No cell recorded a value of any metric: nothing to rank.</p>"]
    try:
        table = ranking_table(rank(sw.path, metric))
    except (RunError, ScenarioError) as exc:
        return [f"<p>not ranked: {_esc(exc)}</p>"]
    top = table.cells[0] if table.cells else []
    lead = (
        f"<p><strong>Best on {_esc(metric)}: cell {_esc(top[1])} ({_esc(top[4])}).</strong></p>"
        if top
        else ""
    )
    lines = "".join(f"{_esc(t)}<br>" for t in table.title)
    lines += _esc(f"another figure: vtasim compare {sw.path} --metric KEY")
    notes = "".join(f"{_esc(n)}<br>" for n in table.notes)
    return [
        lead,
        f"<p>{lines}</p>",
        _table(list(table.columns), [list(r) for r in table.cells]),
        f"<p><small>{notes}</small></p>",
    ]


def _differing(sw: _Sweep) -> list[list[str]]:
    """Per cell, the settings that differ between cells: its variant's overrides and each
    factor's level, as the sweep file writes them."""
    overrides: dict[str, str] = {}
    if (sw.path / "sweep.resolved.yaml").is_file():
        doc = _yaml_doc(
            lambda: folder_io.read_scenario_text(sw.path, "sweep.resolved.yaml"),
            "sweep.resolved.yaml",
        )
        sweep = doc.get("sweep")
        variants = sweep.get("variants") if isinstance(sweep, dict) else None
        for name, spec in variants.items() if isinstance(variants, dict) else ():
            sets = spec.get("overrides") if isinstance(spec, dict) else None
            sets = sets if isinstance(sets, dict) else {}
            overrides[str(name)] = ", ".join(f"{k}={v}" for k, v in sets.items()) or "-"
    rows, seen = [], set()
    for r in sw.cells:
        if r["cell_id"] in seen:
            continue
        seen.add(r["cell_id"])
        variant = str(r["variant"] or "")
        levels = [_format_level(f, r[f]) for f in sw.factors]
        rows.append([str(r["cell_id"]), variant or "-", overrides.get(variant, "-"), *levels])
    return rows


def _sweep_page(folder: Path) -> tuple[str, list[str]]:
    sw = _load_sweep(folder)
    rows = []
    for r in sw.cells:
        mean, half = r["mean"], r["ci_half_width"]
        key = str(r["metric"])
        low, high = r.get("ci_low"), r.get("ci_high")
        ci = (
            f"{_value(key, low)} .. {_value(key, high)}"
            if low is not None and high is not None
            else ("" if half is None else f"± {_value(key, half)}")
        )
        levels = ", ".join(f"{f}={_format_level(f, r[f])}" for f in sw.factors)
        rows.append(
            [
                str(r["variant"] or "") or "-",
                levels,
                key,
                "" if mean is None else _value(key, mean),
                ci,
                str(r.get("ci_method") or ""),
                str(r["n"]),
            ]
        )
    failed = sum(1 for r in sw.index if r["status"] != "ok")
    intro = (
        f"<p>{len({r['cell_id'] for r in sw.cells})} cells, {len(sw.index)} runs "
        f"({failed} failed); factors: {_esc(', '.join(sw.factors) or 'none')}.</p>"
    )
    makers: list[tuple[str, Callable[[], Figure]]] = []
    for x in sw.factors[:2]:
        factor = _factor_label(x)
        makers.append(
            (f"Attestation latency vs {factor}", functools.partial(percentiles_vs, sw, x))
        )
        makers.append(
            (f"Time to lapse and refusal vs {factor}", functools.partial(lapse_vs, sw, x))
        )
    if len(sw.variants) > 1 or not sw.factors:
        makers.append(("Variants compared", lambda: topology_comparison(sw)))
    makers.append(("Attestation latency (CDF, pooled runs)", lambda: latency_cdf(sw)))
    header = ["variant", "levels", "metric", "mean", "95% CI", "interval", "n"]
    sensitivity = _sensitivity_section(folder)
    parts = [
        intro,
        "<h2>Answer</h2>",
        *_answer(sw),
        *sensitivity,
        "<h2>Figures</h2>",
        *_figures(makers),
        "<h2>Settings that differ between cells</h2>",
        _table(["cell", "variant", "variant overrides", *sw.factors], _differing(sw)),
        "<h2>Cell means</h2>",
        _table(header, rows),
    ]
    return f"Sweep {sw.name}", parts


def _sensitivity_section(folder: Path) -> list[str]:
    """A sensitivity sweep's section: what its indices mean, the tornado figure and the
    table of indices (nothing for a sweep without ``sensitivity.csv``)."""
    from sim.experiments.design import MAIN_INDEX, SENSITIVITY_FILE
    from sim.plots.sensitivity import load_sensitivity, sensitivity_bars

    if not (folder / SENSITIVITY_FILE).is_file():
        return []
    rows = load_sensitivity(folder)
    kind = str(rows[0]["design"]) if rows else ""
    main = MAIN_INDEX.get(kind, "S1")
    words = {
        "morris": "Morris elementary effects: mu_star is the mean absolute change of the "
        "metric over a factor's whole range (in the metric's unit), sigma their spread "
        "(large beside mu_star: interaction or non-linearity).",
        "sobol": "Sobol indices: S1 the share of the metric's variance due to the factor "
        "alone, ST its share including interactions.",
        "latin_hypercube": "RBD-FAST first-order indices (S1) on a Latin hypercube sample: the "
        "share of the metric's variance due to the factor alone.",
    }.get(kind, "")
    table = []
    for r in rows:
        if r["index"] not in (main, "S1", "sigma") and not r["note"]:
            continue
        key = str(r["metric"])
        value = r["value"]
        unit_key = key if kind == "morris" else ""
        shown = (
            ""
            if value in (None, "")
            else (_value(unit_key, value) if unit_key else f"{float(value):.3f}")
        )
        low, high = r.get("ci_low"), r.get("ci_high")
        ci = (
            ""
            if low in (None, "") or high in (None, "")
            else (
                f"{_value(unit_key, low)} .. {_value(unit_key, high)}"
                if unit_key
                else f"{float(low):.3f} .. {float(high):.3f}"
            )
        )
        table.append([key, str(r["factor"]), str(r["index"]), shown, ci, str(r["note"] or "")])
    conf = next((r["confidence"] for r in rows), 0.95)
    return [
        "<h2>Sensitivity</h2>",
        f"<p>{_esc(words)} Intervals: SALib's bootstrap at {_esc(conf)}; "
        f"table: {SENSITIVITY_FILE}.</p>",
        *_figures([("What drives each metric", lambda: sensitivity_bars(folder))]),
        _table(["metric", "factor", "index", "value", "interval", "note"], table),
    ]


def _plan_page(folder: Path) -> tuple[str, list[str]]:
    """A plan's page: the answer and its evidence, then every candidate and why it was
    rejected, then the compute spent (from ``plan.json``)."""
    doc = folder_io.load_json(folder / "plan.json")
    chosen = doc.get("chosen")
    parts = [f"<p>{_esc(doc.get('description') or '')}</p>"]
    parts.append(
        f"<p>Objectives, jointly at confidence {_esc(doc.get('confidence'))} (each at "
        f"{_esc(round(float(doc.get('objective_confidence', 0)), 4))}, Bonferroni): "
        + _esc("; ".join(map(str, doc.get("objectives", []))))
        + "</p>"
    )
    parts.append("<h2>Answer</h2>")
    if not isinstance(chosen, dict):
        parts.append("<p><strong>No candidate meets every objective with that confidence."
                     "</strong></p>")  # fmt: skip
    else:
        settings = ", ".join(f"{k} = {v}" for k, v in dict(chosen["settings"]).items())
        parts.append(
            f"<p><strong>{_esc(settings)}</strong> (cost {_esc(chosen['cost'])}, "
            f"{_esc(chosen['replications'])} replications)</p>"
        )
        parts.append(_evidence_table(chosen["evidence"]))
    parts.append("<h2>Candidates, cheapest first</h2>")
    rows = [
        [
            ", ".join(f"{k}={v}" for k, v in dict(c["settings"]).items()),
            str(c["cost"]),
            str(c["status"]),
            str(c["replications"]),
            str(c["reason"]),
        ]
        for c in doc.get("candidates", [])
    ]
    parts.append(_table(["settings", "cost", "status", "replications", "why"], rows))
    for c in doc.get("candidates", []):
        if c.get("evidence") and c is not chosen and c.get("status") != "meets":
            name = ", ".join(f"{k}={v}" for k, v in dict(c["settings"]).items())
            parts.append(f"<h3>{_esc(name)}: {_esc(c['status'])}</h3>")
            parts.append(_evidence_table(c["evidence"]))
    comp = doc.get("compute", {})
    parts.append("<h2>Compute spent</h2>")
    parts.append(
        f"<p>{_esc(comp.get('runs'))} runs ({_esc(comp.get('runs_now'))} run now, "
        f"{_esc(comp.get('runs_kept'))} kept from an earlier attempt, "
        f"{_esc(comp.get('runs_failed'))} failed); "
        f"{_esc(round(float(comp.get('cpu_s', 0.0)), 1))} CPU-s in the runs run now.</p>"
    )
    return f"Plan {doc.get('name', folder.name)}", parts


def _evidence_table(evidence: list[dict[str, Any]]) -> str:
    rows = []
    for e in evidence:
        key = str(e["metric"])
        rows.append(
            [
                str(e["objective"]),
                "" if e["estimate"] is None else _value(key, e["estimate"]),
                f"{'' if e['low'] is None else _value(key, e['low'])} .. "
                f"{'open' if e['high'] is None else _value(key, e['high'])}",
                str(e["n"]),
                str(e["verdict"]),
                str(e["method"]) + (f"; {e['note']}" if e.get("note") else ""),
            ]
        )
    return _table(["objective", "estimate", "interval", "n", "verdict", "how"], rows)


def render(source: PathLike) -> str:
    """The report page of a run or sweep folder, as HTML text."""
    folder = Path(source)
    what = _source_kind(folder)
    if what == "run":
        title, parts = _run_page(folder)
    elif what == "sweep":
        title, parts = _sweep_page(folder)
    elif what == "plan":
        title, parts = _plan_page(folder)
    else:
        raise RunError(
            f"{folder}: expected a run folder, a sweep folder or a plan folder; found {what}"
        )
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
    if _source_kind(folder) in ("sweep", "plan"):
        return folder / "report.html"
    return folder.with_name(folder.name + ".report.html")


def write_report(source: PathLike, out: PathLike | None = None) -> Path:
    """Write the report of ``source`` to ``out`` (default :func:`default_out`)."""
    text = render(source)
    target = Path(out) if out is not None else default_out(source)
    return folder_io.write_file_atomic(target, text.encode("utf-8"))
