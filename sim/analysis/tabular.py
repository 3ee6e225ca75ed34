"""One table in five formats, for ``vtasim compare``: aligned text for a terminal, a Markdown
table for notes, a LaTeX table (booktabs) for papers, CSV and JSON for programs.

A :class:`Table` holds both what a reader sees (``cells``: formatted text, with units) and
what a program reads (``records``: the raw numbers, one dict per row, the same keys in every
row). Text and Markdown show the cells with the title and notes; CSV writes the records
under a header row (booleans ``true``/``false``, nothing as an empty cell); JSON writes
``meta``, the records as ``rows`` and the notes. Non-finite numbers become empty CSV cells
and JSON ``null``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

FORMATS: tuple[str, ...] = ("text", "markdown", "latex", "csv", "json")
"""The formats of :func:`render`."""


@dataclass(frozen=True)
class Table:
    """A table to print: title lines, display columns and cells, machine records, notes."""

    title: Sequence[str]
    columns: Sequence[str]
    cells: Sequence[Sequence[str]]
    records: Sequence[dict[str, Any]]
    notes: Sequence[str] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    right: Sequence[int] = ()
    """Indices of display columns aligned right in text (numbers)."""


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _text(t: Table) -> str:
    rows = [list(t.columns), *(list(r) for r in t.cells)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(t.columns))]
    lines = list(t.title)
    for row in rows:
        parts = [
            f"{c:>{w}}" if i in t.right else f"{c:<{w}}"
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    lines += list(t.notes)
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _markdown(t: Table) -> str:
    lines = [f"{_md_cell(line)}  " for line in t.title]
    if lines:
        lines.append("")
    lines.append("| " + " | ".join(_md_cell(c) for c in t.columns) + " |")
    lines.append(
        "|" + "|".join("---:" if i in t.right else "---" for i in range(len(t.columns))) + "|"
    )
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.cells]
    if t.notes:
        lines.append("")
        lines += [f"{_md_cell(n)}  " for n in t.notes]
    return "\n".join(lines) + "\n"


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "−": "-",
}


def latex_escape(text: str) -> str:
    """``text`` as LaTeX prints it literally (its special characters escaped, ± as math)."""
    return "".join(_LATEX.get(ch, ch) for ch in text)


def _latex(t: Table) -> str:
    """A ``table`` float with a booktabs ``tabular``: the title as the caption, the notes
    under the rule (needs the booktabs package)."""
    spec = "".join("r" if i in t.right else "l" for i in range(len(t.columns)))
    lines = [r"\begin{table}[ht]", r"\centering", r"\small"]
    if t.title:
        lines.append(r"\caption{" + latex_escape("; ".join(t.title)) + "}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    lines.append(" & ".join(latex_escape(c) for c in t.columns) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in t.cells]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\footnotesize " + latex_escape(n) for n in t.notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _csv_cell(value: Any) -> Any:
    """None as an empty cell, booleans as ``true``/``false`` (as the run folders write)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _csv(t: Table) -> str:
    out = io.StringIO()
    columns = list(t.records[0]) if t.records else list(t.meta.get("columns", ()))
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in t.records:
        writer.writerow({k: _csv_cell(v) for k, v in _finite(record).items()})
    return out.getvalue()


def _json(t: Table) -> str:
    doc = {**t.meta, "rows": list(t.records), "notes": list(t.notes)}
    return json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n"


def render(table: Table, fmt: str) -> str:
    """``table`` as ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "text":
        return _text(table)
    if fmt == "markdown":
        return _markdown(table)
    if fmt == "latex":
        return _latex(table)
    if fmt == "csv":
        return _csv(table)
    if fmt == "json":
        return _json(table)
    raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
