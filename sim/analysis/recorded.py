"""One recorded table held in column chunks spilled to disk, so a long run's records do not
live in memory as row dicts.

A run of 10,000 hosts for a day records millions of rows; as Python dicts (about 770 bytes
each) they would take gigabytes. A :class:`RecordedTable` keeps only its newest rows, as
tuples of values in the declared column order: once ``2 * chunk_rows`` are pending it seals
the oldest ``chunk_rows`` into one chunk of columns (one list of values per declared column,
in row order), pickles each column of it on its own to an unnamed temporary file (a reader
of a few columns unpickles only those) and forgets the tuples. Pickling keeps every value
exactly as recorded (an ``int`` stays an ``int`` in a ``float`` column), so a table read
back is the table recorded. As it seals a chunk the table also notes the types of each
column's values (:class:`ColumnKinds`), which is what the run-folder writer needs to type
the Parquet columns before it writes the first rows.

A row, once appended, never changes: records are written once, when their outcome is known
(see :mod:`sim.analysis.records`), so there is nothing to patch. Readers take rows
(:meth:`RecordedTable.__iter__`, a sequence of fresh dicts: changing one changes nothing) or
columns (:meth:`RecordedTable.columns`, :meth:`RecordedTable.chunks`), which is what the
analysis and the run-folder writer use to stay within bounded memory.
"""

from __future__ import annotations

import itertools
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, overload

from sim.analysis.cells import PLAIN_TYPES, fits_int64

CHUNK_ROWS = 4096
"""Rows per sealed chunk: small enough to keep the pending rows a few megabytes, large
enough that pickling and reading back cost little per row."""


class ColumnKinds:
    """What the values of one column are, over the rows sealed so far: the set of their
    types and whether every ``int`` among them fits in 64 bits. Kept as chunks are sealed,
    so that the run-folder writer types a table's Parquet columns without reading the
    table twice (:meth:`RecordedTable.kinds`)."""

    __slots__ = ("fits", "types")

    def __init__(self) -> None:
        self.types: set[type] = set()
        self.fits = True

    def add(self, values: Sequence[Any], types: frozenset[type]) -> None:
        """Take in ``values``, whose types are ``types``."""
        self.types |= types
        if self.fits and int in types:
            self.fits = fits_int64(values)

    def copy(self) -> ColumnKinds:
        """The same kinds, to take in more values without changing these."""
        other = ColumnKinds()
        other.types, other.fits = set(self.types), self.fits
        return other


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


class RecordedTable(Sequence[dict[str, Any]]):
    """The rows of one table in the order they were written: newest as tuples, older ones as
    pickled column chunks in a temporary file (see the module docstring)."""

    def __init__(self, name: str, names: Sequence[str], chunk_rows: int | None = None) -> None:
        chunk_rows = CHUNK_ROWS if chunk_rows is None else chunk_rows
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        self.name = name
        self.names: tuple[str, ...] = tuple(names)
        self._where = {name: i for i, name in enumerate(self.names)}
        self._chunk_rows = chunk_rows
        self._pending: list[tuple[Any, ...]] = []
        # each sealed chunk: where it starts in the spill file, where each column's pickle ends
        self._chunks: list[tuple[int, tuple[int, ...]]] = []
        self._spill: IO[bytes] | None = None
        self._kinds = [ColumnKinds() for _ in self.names]  # over the sealed rows
        self._chunk_types: list[tuple[frozenset[type], ...]] = []  # each chunk's, per column
        self._type_sets: dict[frozenset[type], frozenset[type]] = {}  # one object per set

    # --- writing ----------------------------------------------------------------------

    def append_values(self, values: tuple[Any, ...]) -> None:
        """Add one row given as its values in the declared column order."""
        if len(values) != len(self.names):
            raise ValueError(f"table {self.name} has {len(self.names)} columns, not {len(values)}")
        self._pending.append(values)
        if len(self._pending) >= 2 * self._chunk_rows:
            self._seal()

    def append(self, values: Mapping[str, Any]) -> None:
        """Add one row given by column (columns not given are None); a column the table
        does not declare is a ``KeyError``."""
        unknown = [name for name in values if name not in self._where]
        if unknown:
            raise KeyError(f"table {self.name} declares no column {', '.join(sorted(unknown))}")
        self.append_values(tuple(values.get(name) for name in self.names))

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add each of ``rows`` (see :meth:`append`)."""
        for row in rows:
            self.append(row)

    def __iadd__(self, rows: Iterable[Mapping[str, Any]]) -> RecordedTable:
        self.extend(rows)
        return self

    def _seal(self) -> None:
        """Move the oldest ``chunk_rows`` pending rows into a pickled chunk of columns."""
        size = self._chunk_rows
        rows, self._pending = self._pending[:size], self._pending[size:]
        columns = [list(column) for column in zip(*rows, strict=True)]
        self._chunk_types.append(tuple(self._take_kinds(columns)))
        blobs = [pickle.dumps(column, protocol=pickle.HIGHEST_PROTOCOL) for column in columns]
        if self._spill is None:
            # lives as long as the table; closed (and deleted) with it
            self._spill = tempfile.TemporaryFile(prefix=".vtasim-records-", dir=_spill_dir)  # noqa: SIM115
        spill = self._spill
        offset = spill.seek(0, 2)
        spill.write(b"".join(blobs))
        self._chunks.append((offset, tuple(itertools.accumulate(map(len, blobs)))))

    def _take_kinds(self, columns: Sequence[Sequence[Any]]) -> Iterator[frozenset[type]]:
        """Each column's set of types (one shared object per distinct set), taken into the
        table's :class:`ColumnKinds`."""
        shared = self._type_sets
        for kinds, values in zip(self._kinds, columns, strict=True):
            types = frozenset(map(type, values))
            types = shared.setdefault(types, types)
            kinds.add(values, types)
            yield types

    # --- reading ----------------------------------------------------------------------

    def kinds(self, names: Iterable[str]) -> list[tuple[set[type], bool]] | None:
        """For each of columns ``names``: the types of its values (None left out) and
        whether its integers all fit in 64 bits, over the whole table; None when a value
        is not a plain scalar (str, int, float, bool, None), which the writer must unwrap
        and check row by row."""
        out = []
        for name in names:
            i = self._where.get(name)
            if i is None:
                raise KeyError(f"table {self.name} has no column {name!r}")
            kept = self._kinds[i]
            if self._pending:
                pending = [row[i] for row in self._pending]
                kept = kept.copy()
                kept.add(pending, frozenset(map(type, pending)))
            if not kept.types <= PLAIN_TYPES:
                return None
            out.append((kept.types - {type(None)}, kept.fits))
        return out

    def typed_chunks(
        self, names: Sequence[str]
    ) -> Iterator[tuple[dict[str, list[Any]], list[frozenset[type]]]]:
        """:meth:`chunks` of columns ``names``, each with the set of types of each of its
        columns' values (known for sealed chunks, taken for the pending rows)."""
        where, size, position = self._where, self._chunk_rows, 0
        for chunk in self.chunks(names):
            k = position // size
            if k < len(self._chunk_types):
                types = self._chunk_types[k]
                kinds = [types[where[name]] for name in names]
            else:
                kinds = [frozenset(map(type, chunk[name])) for name in names]
            position += len(chunk[names[0]]) if names else size
            yield chunk, kinds

    def _sealed(self, k: int, which: Sequence[int] | None = None) -> list[list[Any]]:
        """Chunk ``k``'s columns, every one or those at positions ``which``: each column is
        pickled on its own, so a reader of a few columns unpickles only those."""
        assert self._spill is not None
        offset, ends = self._chunks[k]
        self._spill.seek(offset)
        data = memoryview(self._spill.read(ends[-1] if ends else 0))
        starts = (0, *ends)
        return [
            pickle.loads(data[starts[i] : ends[i]])
            for i in (range(len(ends)) if which is None else which)
        ]

    def chunks(self, names: Iterable[str] | None = None) -> Iterator[dict[str, list[Any]]]:
        """The table as successive chunks of columns (name -> values, in row order), every
        declared column or only ``names``; rows added while it is read are read too."""
        wanted = self.names if names is None else tuple(names)
        for name in wanted:
            if name not in self._where:
                raise KeyError(f"table {self.name} has no column {name!r}")
        where = self._where
        size, position = self._chunk_rows, 0
        while True:
            sealed = len(self._chunks) * size
            if position < sealed:
                k, at = divmod(position, size)
                columns = self._sealed(k, [where[name] for name in wanted])
                yield {name: column[at:] for name, column in zip(wanted, columns, strict=True)}
                position = (k + 1) * size
            elif position - sealed < len(self._pending):
                rows = self._pending[position - sealed :]
                yield {name: list(map(itemgetter(where[name]), rows)) for name in wanted}
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

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names, size, position = self.names, self._chunk_rows, 0
        while True:  # by position, so rows added (and chunks sealed) meanwhile are read too
            sealed = len(self._chunks) * size
            if position < sealed:
                k, at = divmod(position, size)
                columns = self._sealed(k)
                for i in range(at, size):
                    yield dict(zip(names, [c[i] for c in columns], strict=True))
                position = (k + 1) * size
            elif position - sealed < len(self._pending):
                yield dict(zip(names, self._pending[position - sealed], strict=True))
                position += 1
            else:
                return

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return list(self)[index]
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"table {self.name} has {n} rows")
        index %= n
        sealed = len(self._chunks) * self._chunk_rows
        if index >= sealed:
            return dict(zip(self.names, self._pending[index - sealed], strict=True))
        k, at = divmod(index, self._chunk_rows)
        return dict(zip(self.names, [c[at] for c in self._sealed(k)], strict=True))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<RecordedTable {self.name}: {len(self)} rows, {len(self._chunks)} sealed chunks>"

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (to another process) as plain rows: the spill file stays here."""
        return {"name": self.name, "names": self.names, "rows": list(self)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"], state["names"])  # type: ignore[misc]
        for row in state["rows"]:
            self.append(row)
