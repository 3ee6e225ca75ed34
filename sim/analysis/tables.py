"""The recorded tables: column names, types, units and meanings, derived from the record
types of :mod:`sim.analysis.records` (a table is declared there, once).

Everything that touches a table derives from :data:`TABLES`: the recorder lays each record
out in the declared column order, the run-folder writer writes the declared columns, the
reader checks a folder's header against them and attaches the units, and the documentation's
table reference is rendered by :func:`markdown` (a test keeps it in step).
Rows are stored by :class:`~sim.analysis.recorded.RecordedTable` (column chunks spilled to
disk), which only the recorder creates.

Types are those of the values a run records: ``str``, ``int``, ``float`` or ``bool``; every
column may hold ``None`` (a value not known, or not applicable). Units: ``s`` seconds of
simulated time (``*_at`` columns and ``time`` are instants, the others spans), ``B`` bytes,
``B/s`` bytes per second; no unit for counts, names and flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from sim.analysis.records import RECORD_TYPES

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


@dataclass(frozen=True)
class Column:
    """One column: its name, value type (``str``/``int``/``float``/``bool``), unit and
    a one-line meaning."""

    name: str
    type: str
    unit: str
    meaning: str

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")


@dataclass(frozen=True)
class Table:
    """One recorded table: one row per event of one kind (``record``: its record type)."""

    name: str
    meaning: str
    columns: tuple[Column, ...]
    record: type | None = field(default=None, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The column names in order."""
        return tuple(c.name for c in self.columns)

    @property
    def units(self) -> dict[str, str]:
        """Column name -> unit, for the columns that have one."""
        return {c.name: c.unit for c in self.columns if c.unit}

    def column(self, name: str) -> Column:
        """The column called ``name`` (KeyError when the table has none)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}")


def _type_of(annotation: object) -> str:
    """A field's column type from its annotation (``float | None`` -> ``float``)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    kinds = [part.strip() for part in str(text).split("|") if part.strip() != "None"]
    if len(kinds) != 1:
        raise ValueError(f"a column's annotation must be one of {sorted(_TYPES)}: {text!r}")
    return kinds[0]


def table_of(record: type) -> Table:
    """The declaration of the table of ``record`` (a record type of :mod:`sim.analysis.records`),
    from its fields: their names, annotations and metadata, in order."""
    columns = tuple(
        Column(f.name, _type_of(f.type), f.metadata["unit"], f.metadata["meaning"])
        for f in fields(record)
    )
    return Table(record.table, record.meaning, columns, record)  # type: ignore[attr-defined]


TABLES: dict[str, Table] = {t.name: t for t in map(table_of, RECORD_TYPES)}
"""Every table a run records, by name, in the order the run folder lists them."""

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {name: t.names for name, t in TABLES.items()}
"""Column names per table (derived from :data:`TABLES`)."""


def markdown() -> str:
    """The table reference (docs/reference/tables.md): one subsection per table with its
    columns."""
    out: list[str] = []
    for t in TABLES.values():
        out.append(f"**`{t.name}.csv`**: {t.meaning}.\n")
        out.append("| column | type | unit | meaning |")
        out.append("|---|---|---|---|")
        for c in t.columns:
            out.append(f"| `{c.name}` | {c.type} | {c.unit} | {c.meaning} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
