"""Run-folder values: plain scalars, JSON, CSV cells and Parquet columns.

What a run folder may hold in a cell is a :data:`Scalar` (text, integer, float, boolean or
nothing); numpy scalars and enums are unwrapped to one first (:func:`plain`). This module
turns such values into the bytes of the folder's files and back, and nothing else: the
folder itself (atomic writing, loading, streaming recorded tables) is
:mod:`sim.analysis.results`, which documents the formats.

JSON: sorted keys, indent 2, trailing newline, floats by ``repr``; non-finite floats become
``null`` and an exception ``{"type", "message"}`` (:func:`json_bytes`). CSV: a cell is bare
when it reads back as what it is, else quoted (:func:`encode_cell`, :func:`encode_column`,
:func:`parse_csv`). Parquet: a column is typed by the kinds of value it holds
(:func:`arrow_array`), so a column that mixes kinds is the text of its CSV cells.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from typing import Any

import numpy as np

from sim.errors import RunError

Scalar = str | int | float | bool | None

_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?(?:[0-9]+\.[0-9]+(?:e[+-][0-9]+)?|[0-9]+e[+-][0-9]+|inf|nan)")
_QUOTED = re.compile(r'"([^"]*(?:""[^"]*)*)"')
_BARE = re.compile(r'[^,"\n]*')
_SPECIAL = re.compile(r'[,"\r\n]')


def plain(value: Any) -> Any:
    """Unwrap numpy scalars, and subclasses (enums) of the built-in scalar types."""
    if hasattr(value, "item") and not isinstance(value, (str, int, float)):
        value = value.item()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return int(value) if isinstance(value, int) else float(value)
    return str.__str__(value) if isinstance(value, str) else value


def jsonable(value: Any, where: str) -> Any:
    """A JSON-ready copy of ``value``: str keys, lists, finite floats or None."""
    value = plain(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, BaseException):
        kind = type(value)
        return {"type": f"{kind.__module__}.{kind.__qualname__}", "message": str(value)}
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{where}: keys {bad!r} are not strings")
        return {str.__str__(k): jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} cannot be written as JSON")


def json_bytes(value: Mapping[str, Any], where: str) -> bytes:
    text = json.dumps(
        jsonable(value, where), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False
    )
    return (text + "\n").encode("utf-8")


def decode_bare(raw: str) -> Scalar:
    """The value of an unquoted cell."""
    if raw in ("", "true", "false"):
        return None if raw == "" else raw == "true"
    try:
        if _INT.fullmatch(raw):
            return int(raw)
        if _FLOAT.fullmatch(raw):
            return float(raw)
    except ValueError:  # integers beyond Python's digit limit stay text
        pass
    return raw


def quote_text(text: str) -> str:
    if _SPECIAL.search(text) or not isinstance(decode_bare(text), str):
        return '"' + text.replace('"', '""') + '"'
    return text


def encode_cell(value: Scalar) -> str:
    if value is None or isinstance(value, bool):
        return "" if value is None else ("true" if value else "false")
    if isinstance(value, int):
        return int.__repr__(value)
    return float.__repr__(value) if isinstance(value, float) else quote_text(value)


def render_csv(columns: Sequence[str], rows: Sequence[Sequence[Scalar]]) -> bytes:
    if not columns:
        return b""
    lines = [",".join(quote_text(c) for c in columns)]
    lines.extend(",".join(encode_cell(v) for v in row) for row in rows)
    return ("\n".join(lines) + "\n").encode("utf-8")


def _parse_row(
    text: str, pos: int, where: str, *, decode: bool, offset: int = 0
) -> tuple[list[Scalar], int]:
    """One row of ``text`` from ``pos``: its cells (decoded unless a header) and where the
    next row starts. ``offset`` is the characters before ``text`` (for the message)."""
    row: list[Scalar] = []
    end = len(text)
    while True:
        quoted = _QUOTED.match(text, pos)
        if quoted:
            row.append(quoted.group(1).replace('""', '"'))
            pos = quoted.end()
        else:
            bare = _BARE.match(text, pos)
            assert bare is not None  # the pattern matches the empty string
            row.append(decode_bare(bare.group()) if decode else bare.group())
            pos = bare.end()
        if pos < end and text[pos] == ",":
            pos += 1
        elif pos >= end or text[pos] == "\n":
            return row, pos + 1
        else:
            raise RunError(f"{where}: malformed CSV at character {offset + pos}")


def parse_csv(text: str, where: str) -> tuple[list[str], list[list[Scalar]]]:
    """Parse what ``render_csv`` writes: a header of names, then rows of typed cells."""
    header: list[str] | None = None
    records: list[list[Scalar]] = []
    pos, end = 0, len(text)
    while pos < end:
        row, pos = _parse_row(text, pos, where, decode=header is not None)
        if header is None:
            header = [str(c) for c in row]
        elif len(row) != len(header):
            raise RunError(
                f"{where}: row {len(records) + 1} has {len(row)} cells, "
                f"the header has {len(header)}"
            )
        else:
            records.append(row)
    return header or [], records


def _records(lines: Iterable[bytes], where: str) -> Iterator[tuple[str, int]]:
    """The text of each record of a CSV file read line by line, with the characters before
    it: a record ends at a line break outside quotes (an even count of ``"`` so far: a
    quote inside a quoted cell is doubled), so a quoted line break stays inside its cell."""
    parts: list[str] = []
    quotes, offset = 0, 0
    for line in lines:
        try:
            part = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RunError(f"cannot read {where}: {exc}") from None
        parts.append(part)
        quotes += part.count('"')
        if quotes % 2 == 0 and part.endswith("\n"):
            record = "".join(parts)
            yield record, offset
            offset += len(record)
            parts, quotes = [], 0
    if parts:
        yield "".join(parts), offset


def read_csv_columns(
    lines: Iterable[bytes], where: str, max_rows: int
) -> tuple[list[str], list[list[Scalar]]]:
    """Parse a CSV file that ``render_csv`` wrote, record by record,
    into one list per column from its ``lines`` (each ending in ``\\n`` but perhaps the
    last): the same header and values as :func:`parse_csv` on its whole text, without ever
    holding the text or a list per row. More than ``max_rows`` rows is
    refused (``RunError``), so memory stays bounded."""
    header: list[str] | None = None
    columns: list[list[Scalar]] = []
    rows = 0
    for record, offset in _records(lines, where):
        pos, end = 0, len(record)
        while pos < end:
            row, pos = _parse_row(record, pos, where, decode=header is not None, offset=offset)
            if header is None:
                header = [str(c) for c in row]
                columns = [[] for _ in header]
                continue
            if len(row) != len(header):
                raise RunError(
                    f"{where}: row {rows + 1} has {len(row)} cells, the header has {len(header)}"
                )
            rows += 1
            if rows > max_rows:
                raise RunError(f"{where}: more than the limit of {max_rows:,} rows; not read")
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    return header or [], columns


def table_rows(
    name: str, table: Any, given: Sequence[str] | None
) -> tuple[list[str], list[list[Scalar]]]:
    """Columns and typed rows of one table given as row dicts or as a dict of columns."""
    where = f"table {name!r}"
    if isinstance(table, Mapping):
        cols = list(table)
        data = [list(table[c]) for c in cols]
        if len({len(d) for d in data}) > 1:
            raise ValueError(f"{where}: columns have different lengths")
        records = [dict(zip(cols, cells, strict=True)) for cells in zip(*data, strict=True)]
    else:
        records = [dict(r) for r in table]
        cols = list(records[0]) if records else []
    if given is not None:
        if len(set(given)) != len(given) or (cols and set(given) != set(cols)):
            raise ValueError(f"{where}: columns {list(given)} do not match its keys {cols}")
        cols = list(given)
    if not all(isinstance(c, str) for c in cols):
        raise TypeError(f"{where}: column names must be strings, got {cols!r}")
    if records and not cols:
        raise ValueError(f"{where}: rows without columns cannot be written")
    rows: list[list[Scalar]] = []
    for i, record in enumerate(records):
        if set(record) != set(cols):
            raise ValueError(f"{where}: row {i} has keys {sorted(record)}, expected {cols}")
        row = [plain(record[c]) for c in cols]
        bad = [
            c
            for c, v in zip(cols, row, strict=True)
            if v is not None and not isinstance(v, (str, int, float))
        ]
        if bad:
            raise TypeError(
                f"{where}: row {i} column {bad[0]!r} holds a "
                f"{type(record[bad[0]]).__name__}; use str, int, float, bool, None"
            )
        rows.append(row)
    return cols, rows


_BASIC = (str, int, float, bool, type(None))


def fits_int64(values: Sequence[Scalar]) -> bool:
    """Do all the integers (bools included) among ``values`` fit in 64 bits?"""
    ints = [v for v in values if type(v) is int]  # bools always fit
    return not ints or (min(ints) >= -(2**63) and max(ints) < 2**63)


def arrow_array(values: Sequence[Scalar], kinds: set[type], fits: bool) -> Any:
    """One Parquet column: typed by the kinds of value the whole column holds (``kinds``)
    and whether its integers all fit in 64 bits (``fits``).

    The column is assembled from its Arrow buffers (:func:`_from_buffers`), the same array
    ``pyarrow.array`` would build from the list: given a Python list, ``pyarrow.array``
    first imports pandas to ask whether it is a pandas object, which cost every run 0.3 s."""
    pa = importlib.import_module("pyarrow")
    if not kinds:
        return pa.nulls(len(values))
    if kinds == {int} and not fits:
        return _from_buffers([None if v is None else str(v) for v in values], pa.string(), pa)
    if kinds in ({bool}, {int}):
        return _from_buffers(values, pa.bool_() if bool in kinds else pa.int64(), pa)
    if kinds == {float}:
        return _from_buffers(values, pa.float64(), pa)
    if kinds <= {int, float}:
        return _from_buffers([None if v is None else float(v) for v in values], pa.float64(), pa)
    # mixed kinds: the CSV text of each cell
    text = [v if v is None or isinstance(v, str) else encode_cell(v) for v in values]
    return _from_buffers(text, pa.string(), pa)


def _from_buffers(values: Sequence[Scalar], kind: Any, pa: Any) -> Any:
    """The Arrow array of ``values`` (None: null) of type ``kind`` (bool, int64, float64 or
    string), from its validity bitmap and data buffers."""
    n = len(values)
    nulls = values.count(None)
    bitmap = None
    if nulls:
        valid = np.fromiter((v is not None for v in values), dtype=bool, count=n)
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    if kind == pa.string():
        texts: Sequence[Any] = (
            [str(v) if v is not None else "" for v in values] if nulls else values
        )
        joined = "".join(texts)  # every value of a string column is a text (or None)
        if joined.isascii():  # one byte a character: each text's length is its bytes'
            lengths: Iterable[int] = map(len, texts)
            raw = joined.encode("ascii")
        else:
            encoded = [str(v).encode("utf-8") for v in texts]
            lengths, raw = map(len, encoded), b"".join(encoded)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(list(lengths), out=offsets[1:])
        buffers = [bitmap, pa.py_buffer(offsets), pa.py_buffer(raw)]
    elif kind == pa.bool_():
        if nulls:
            bits = np.fromiter((v is True for v in values), dtype=bool, count=n)
        else:
            bits = np.array(values, dtype=bool)
        buffers = [bitmap, pa.py_buffer(np.packbits(bits, bitorder="little"))]
    else:
        dtype = np.int64 if kind == pa.int64() else np.float64
        if nulls:
            data = np.fromiter((0 if v is None else v for v in values), dtype=dtype, count=n)
        else:  # every value a Python int or float of the column's kind
            data = np.array(values, dtype=dtype)
        buffers = [bitmap, pa.py_buffer(data)]
    array = pa.Array.from_buffers(kind, n, buffers, null_count=nulls)
    array.validate(full=True)
    return array


def parquet_bytes(columns: Sequence[str], rows: Sequence[Sequence[Scalar]]) -> bytes | None:
    """The table as Parquet (None for a table without columns). The bytes depend only on
    the values (and the pyarrow version): no timestamps are written."""
    if not columns:
        return None
    pa = importlib.import_module("pyarrow")
    pq = importlib.import_module("pyarrow.parquet")
    arrays = []
    for i in range(len(columns)):
        values = [row[i] for row in rows]
        kinds = {type(v) for v in values if v is not None}
        arrays.append(arrow_array(values, kinds, fits_int64(values)))
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_arrays(arrays, names=list(columns)), sink)
    return bytes(sink.getvalue().to_pybytes())


PLAIN_TYPES = frozenset(_BASIC)
"""The types a cell holds as they are (:data:`Scalar`): anything else is unwrapped first."""


def plain_columns(
    where: str,
    cols: Sequence[str],
    chunk: Mapping[str, Any],
    first: int,
    types: Sequence[frozenset[type]] | None = None,
) -> list[list[Scalar]]:
    """One chunk's columns as plain scalars, checked like :func:`table_rows` checks rows;
    ``types``: the set of types of each column's values, when known."""
    out = []
    for k, c in enumerate(cols):
        given = chunk[c]
        kinds = set(map(type, given)) if types is None else types[k]
        if kinds <= PLAIN_TYPES:  # the usual case: nothing to unwrap
            out.append(list(given))
            continue
        values = [v if type(v) in _BASIC else plain(v) for v in given]
        for i, v in enumerate(values):
            if not isinstance(v, _BASIC):
                raise TypeError(
                    f"{where}: row {first + i} column {c!r} holds a "
                    f"{type(given[i]).__name__}; use str, int, float, bool, None"
                )
        out.append(values)
    return out


_BARE_START = frozenset("-0123456789iftn")
"""The first characters of every text that reads back as something else (an integer, a
float, ``inf``, ``nan``, ``true`` or ``false``); a text starting otherwise, and holding no
special character, is its own cell."""


def _text_cells(texts: Iterable[str | None]) -> dict[Scalar, str]:
    """Each distinct text's cell (:func:`quote_text`, its work skipped for the texts that
    cannot need quoting: most ids and names); None is left out."""
    special, start = _SPECIAL.search, _BARE_START
    return {
        t: quote_text(t) if not t or t[0] in start or special(t) else t
        for t in texts
        if t is not None
    }


def encode_column(values: Sequence[Scalar], kinds: Set[type] | None = None) -> list[str]:
    """Each value's CSV cell, as :func:`encode_cell` writes it, a whole column at a time
    (a text's quoting is worked out once per distinct text: names and outcomes repeat);
    ``kinds``: the set of the values' types, when known."""
    if kinds is None:
        kinds = set(map(type, values))
    if kinds == {float}:
        return list(map(float.__repr__, values))
    if kinds == {int}:
        return list(map(int.__repr__, values))
    if kinds <= {str, type(None)}:  # a text never equals None: one cell per distinct value
        cells = _text_cells(set(values))  # type: ignore[arg-type]  # kinds: str or None
        cells[None] = ""
        return list(map(cells.__getitem__, values))
    if kinds <= {float, type(None)}:
        return ["" if v is None else float.__repr__(v) for v in values]
    if kinds <= {int, type(None)}:
        return ["" if v is None else int.__repr__(v) for v in values]
    if kinds <= {bool, type(None)}:  # True == 1 but never reaches here with an int
        flags: dict[Scalar, str] = {None: "", True: "true", False: "false"}
        return list(map(flags.__getitem__, values))
    texts: dict[str, str] = {}
    out = []
    for v in values:
        if type(v) is float:
            out.append(float.__repr__(v))
        elif type(v) is str:
            cell = texts.get(v)
            if cell is None:
                cell = texts[v] = quote_text(v)
            out.append(cell)
        else:
            out.append(encode_cell(v))
    return out
