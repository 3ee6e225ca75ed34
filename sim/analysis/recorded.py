"""One recorded table held in column chunks spilled to disk, so a long run's records do not
live in memory as row dicts.

A run of 10,000 hosts for a day records millions of rows; as Python dicts (about 770 bytes
each) they would take gigabytes. A :class:`RecordedTable` keeps only its newest rows as
dicts (:class:`Row`): once ``2 * chunk_rows`` are pending it seals the oldest ``chunk_rows``
into one chunk of columns (one list of values per declared column, in row order), pickles it
to an unnamed temporary file and forgets the dicts. Pickling keeps every value exactly as
recorded (an ``int`` stays an ``int`` in a ``float`` column), so a table read back is the
table recorded.

Processes may still fill in fields of a row they hold after it was sealed (a report's
revocation, say): a sealed :class:`Row` passes each change to its table as a patch, applied
whenever the chunk is read. Readers take rows (:meth:`RecordedTable.__iter__`, a sequence of
dicts) or columns (:meth:`RecordedTable.columns`, :meth:`RecordedTable.chunks`), which is
what the analysis and the run-folder writer use to stay within bounded memory.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, overload

CHUNK_ROWS = 4096
"""Rows per sealed chunk: small enough to keep the pending dicts a few megabytes, large
enough that pickling and reading back cost little per row."""


_spill_dir: str | None = None


@contextmanager
def spilling_into(folder: Path | str | None) -> Iterator[None]:
    """Tables that seal their first chunk inside this block spill into ``folder`` (when it
    is an existing folder) instead of the system's temporary folder: a long run's records
    then go to the disk its run folder is written to, not to a ``/tmp`` that may be small
    or held in memory."""
    global _spill_dir
    saved = _spill_dir
    _spill_dir = str(folder) if folder is not None and os.path.isdir(folder) else None
    try:
        yield
    finally:
        _spill_dir = saved


class Row(dict[str, Any]):
    """One recorded row: a dict of its table's columns. Setting a column the table does not
    declare is a ``KeyError``; once the row is sealed, each change also reaches its table
    (a patch); columns cannot be removed. A copy or a pickle of a row is a plain dict."""

    __slots__ = ("_home",)

    _home: tuple[RecordedTable, int | None]  # its table, and its index once sealed

    def __setitem__(self, key: str, value: Any) -> None:
        table, index = self._home
        if index is None:
            table.check_column(key)
        else:
            table.patch(index, key, value)
        dict.__setitem__(self, key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Like ``dict.update``, column by column (see the class docstring)."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        """Like ``dict.setdefault`` (every declared column is always present)."""
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self, other: Any) -> Row:  # type: ignore[override,misc]
        self.update(other)
        return self

    def _keeps_columns(self, *_: Any) -> Any:
        raise TypeError("a recorded row keeps every column of its table")

    __delitem__ = pop = popitem = clear = _keeps_columns

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return dict, (dict(self),)


def _row(
    values: Iterable[tuple[str, Any]] | Mapping[str, Any], home: tuple[RecordedTable, int | None]
) -> Row:
    row = Row(values)
    row._home = home
    return row


class RecordedTable(Sequence[Row]):
    """The rows of one table in insertion order: newest as :class:`Row` dicts, older ones as
    pickled column chunks in a temporary file (see the module docstring)."""

    def __init__(self, name: str, names: Sequence[str], chunk_rows: int | None = None) -> None:
        chunk_rows = CHUNK_ROWS if chunk_rows is None else chunk_rows
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        self.name = name
        self.names: tuple[str, ...] = tuple(names)
        self._template: dict[str, Any] = dict.fromkeys(self.names)
        self._chunk_rows = chunk_rows
        self._pending: list[Row] = []
        self._chunks: list[tuple[int, int]] = []  # (offset, size) of each pickled chunk
        self._patches: dict[int, dict[int, dict[str, Any]]] = {}  # chunk -> row -> changes
        self._spill: IO[bytes] | None = None

    # --- writing ----------------------------------------------------------------------

    def append(self, values: Mapping[str, Any]) -> Row:
        """Add one row (columns not given are None) and return it; a column the table does
        not declare is a ``KeyError``."""
        row = _row(self._template, (self, None))
        dict.update(row, values)
        if len(row) != len(self.names):
            unknown = sorted(set(values) - set(self.names))
            raise KeyError(f"table {self.name} declares no column {', '.join(unknown)}")
        self._pending.append(row)
        if len(self._pending) >= 2 * self._chunk_rows:
            self._seal()
        return row

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add each of ``rows`` (see :meth:`append`)."""
        for row in rows:
            self.append(row)

    def __iadd__(self, rows: Iterable[Mapping[str, Any]]) -> RecordedTable:
        self.extend(rows)
        return self

    def update(self, index: int, **changes: Any) -> None:
        """Change columns of row ``index`` (pending or sealed) without holding the row."""
        sealed = len(self._chunks) * self._chunk_rows
        if index >= sealed:
            self._pending[index - sealed].update(changes)
            return
        for column, value in changes.items():
            self.patch(index, column, value)

    def check_column(self, column: str) -> None:
        """A ``KeyError`` unless the table declares ``column``."""
        if column not in self._template:
            raise KeyError(f"table {self.name} declares no column {column}")

    def patch(self, index: int, column: str, value: Any) -> None:
        """Change ``column`` of the sealed row ``index`` to ``value``."""
        self.check_column(column)
        chunk, at = divmod(index, self._chunk_rows)
        self._patches.setdefault(chunk, {}).setdefault(at, {})[column] = value

    def _seal(self) -> None:
        """Move the oldest ``chunk_rows`` pending rows into a pickled chunk of columns."""
        size = self._chunk_rows
        rows, self._pending = self._pending[:size], self._pending[size:]
        columns = [[r[name] for r in rows] for name in self.names]
        blob = pickle.dumps(columns, protocol=pickle.HIGHEST_PROTOCOL)
        if self._spill is None:
            # lives as long as the table; closed (and deleted) with it
            self._spill = tempfile.TemporaryFile(prefix=".vtasim-records-", dir=_spill_dir)  # noqa: SIM115
        spill = self._spill
        offset = spill.seek(0, 2)
        spill.write(blob)
        base = len(self._chunks) * size
        self._chunks.append((offset, len(blob)))
        for i, row in enumerate(rows):
            row._home = (self, base + i)

    # --- reading ----------------------------------------------------------------------

    def _sealed(self, k: int) -> list[list[Any]]:
        """Chunk ``k``'s columns with its patches applied."""
        assert self._spill is not None
        offset, size = self._chunks[k]
        self._spill.seek(offset)
        columns: list[list[Any]] = pickle.loads(self._spill.read(size))
        patches = self._patches.get(k)
        if patches:
            where = {name: i for i, name in enumerate(self.names)}
            for at, changes in patches.items():
                for name, value in changes.items():
                    columns[where[name]][at] = value
        return columns

    def chunks(self, names: Iterable[str] | None = None) -> Iterator[dict[str, list[Any]]]:
        """The table as successive chunks of columns (name -> values, in row order), every
        declared column or only ``names``; rows added while it is read are read too."""
        wanted = self.names if names is None else tuple(names)
        for name in wanted:
            if name not in self._template:
                raise KeyError(f"table {self.name} has no column {name!r}")
        where = {name: i for i, name in enumerate(self.names)}
        size, position = self._chunk_rows, 0
        while True:
            sealed = len(self._chunks) * size
            if position < sealed:
                k, at = divmod(position, size)
                columns = self._sealed(k)
                yield {name: columns[where[name]][at:] for name in wanted}
                position = (k + 1) * size
            elif position - sealed < len(self._pending):
                rows = self._pending[position - sealed :]
                yield {name: [r[name] for r in rows] for name in wanted}
                position += len(rows)
            else:
                return

    def select(self, *names: str) -> Iterator[tuple[Any, ...]]:
        """The values of columns ``names`` row by row, as tuples (no row dicts built)."""
        for chunk in self.chunks(names):
            yield from zip(*(chunk[name] for name in names), strict=True)

    def columns(self, *names: str) -> dict[str, list[Any]]:
        """Whole columns (every declared one when no ``names`` are given)."""
        out: dict[str, list[Any]] = {name: [] for name in (names or self.names)}
        for chunk in self.chunks(out):
            for name, values in chunk.items():
                out[name].extend(values)
        return out

    def __len__(self) -> int:
        return len(self._chunks) * self._chunk_rows + len(self._pending)

    def __iter__(self) -> Iterator[Row]:
        size, position = self._chunk_rows, 0
        while True:  # by position, so rows added (and chunks sealed) meanwhile are read too
            sealed = len(self._chunks) * size
            if position < sealed:
                k, at = divmod(position, size)
                columns = self._sealed(k)
                for i in range(at, size):
                    yield _row(
                        zip(self.names, [c[i] for c in columns], strict=True), (self, k * size + i)
                    )
                position = (k + 1) * size
            elif position - sealed < len(self._pending):
                yield self._pending[position - sealed]
                position += 1
            else:
                return

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return list(self)[index]
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"table {self.name} has {n} rows")
        index %= n
        sealed = len(self._chunks) * self._chunk_rows
        if index >= sealed:
            return self._pending[index - sealed]
        k, at = divmod(index, self._chunk_rows)
        return _row(zip(self.names, [c[at] for c in self._sealed(k)], strict=True), (self, index))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<RecordedTable {self.name}: {len(self)} rows, {len(self._chunks)} sealed chunks>"

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (to another process) as plain rows: the spill file stays here."""
        return {"name": self.name, "names": self.names, "rows": [dict(r) for r in self]}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"], state["names"])  # type: ignore[misc]
        for row in state["rows"]:
            self.append(row)
