"""The run folder: write a finished run atomically, load it back into tables.

A run folder holds everything one run produced, in plain formats that diff well:
``scenario.resolved.yaml`` (verbatim), ``summary.json`` (nested metrics), ``durations.json``
(the survival data of every time-to-event figure), one ``<table>.csv``
and one ``<table>.parquet`` per table (the same values; Parquet is what :func:`load` reads,
see :mod:`sim.analysis.columnar`) and ``manifest.json`` (seed, versions, times, the
exception that ended the run). Identical inputs give byte-identical
files, so two runs of one seed can be compared with ``cmp``.

JSON: sorted keys, indent 2, trailing newline, floats by ``repr`` (shortest round trip).
JSON has no NaN or infinity, so non-finite floats are written as ``null``; an exception
object becomes ``{"type": "<module>.<qualname>", "message": str(exc)}``.

CSV: ``\\n`` line endings; columns in the order of ``columns[name]`` when given, else of the
first row's keys; the header is written even for zero rows (no columns at all: an empty
file). Cells are quoted only where needed to keep their type: numbers (``repr``) and
``true``/``false`` are bare, ``None`` is an empty bare cell, and a string is quoted when it
holds ``,``, ``"``, CR or LF or would read back as something else (``""``, ``"12"``,
``"true"``). Any CSV reader sees an ordinary file; ``load`` returns exactly what was written.

Atomicity: the folder is built in a hidden sibling (``.seed-1.tmp-<pid>-<n>``), each file is
fsynced and ``manifest.json`` is written last; then an existing target is renamed aside, the
new folder renamed in and the old one removed. At every instant the target name holds the old
complete folder, the new complete folder or nothing. An existing target is only replaced
when it is empty or holds nothing but run-folder files, so a mistyped path never deletes
unrelated work.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.analysis.cells import (
    arrow_array,
    encode_column,
    json_bytes,
    parquet_bytes,
    plain_columns,
    quote_text,
    read_csv_columns,
    render_csv,
    table_rows,
)
from sim.analysis.folder_io import (
    open_folder_file,
    read_json,
    read_lines,
    read_scenario_text,
    sync_folder,
    sync_handle,
    write_file_atomic,
    write_new_file,
)
from sim.analysis.recorded import ColumnKinds
from sim.analysis.tables import TABLES, Table
from sim.errors import RunError, printable

SCENARIO_FILE = "scenario.resolved.yaml"
SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "manifest.json"
DURATIONS_FILE = "durations.json"
"""The run's survival data (see :mod:`sim.analysis.durations`)."""
_REQUIRED = (SCENARIO_FILE, SUMMARY_FILE, MANIFEST_FILE)


_TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_names = itertools.count()


def _streamed_columns(name: str, table: Any, columns: Mapping[str, Sequence[str]]) -> list[str]:
    """The columns to write of a chunked table: ``columns[name]`` when given (the same
    names as the table's, perhaps in another order), else the table's own."""
    own = list(table.names)
    given = columns.get(name)
    if given is None:
        return own
    if len(set(given)) != len(given) or set(given) != set(own):
        raise ValueError(f"table {name!r}: columns {list(given)} do not match its keys {own}")
    if not own:
        raise ValueError(f"table {name!r}: rows without columns cannot be written")
    return list(given)


def _chunked(table: Any) -> bool:
    """Is ``table`` a recorded table read chunk by chunk (has ``names`` and ``chunks``)?"""
    return hasattr(table, "chunks") and hasattr(table, "names")


PARQUET_ROW_GROUP = 1024 * 1024
"""Rows per Parquet row group: pyarrow's default, so a streamed table smaller than this is
written byte for byte as :func:`parquet_bytes` would write it."""


def _write_streamed(folder: Path, name: str, table: Any, cols: Sequence[str]) -> None:
    """Write a chunked table's CSV and Parquet files into ``folder`` chunk by chunk, holding
    at most one Parquet row group of it in memory. The column types are the table's own
    (:meth:`~sim.analysis.recorded.RecordedTable.kinds`, kept as it was recorded), or come
    from a first pass over its values when it holds values that are not plain scalars."""
    where = f"table {name!r}"
    known = table.kinds(cols) if hasattr(table, "kinds") else None
    if known is not None:
        kinds = [types for types, _ in known]
        fits = [fit for _, fit in known]
        chunks: Any = table.typed_chunks(cols)
    else:
        kinds, fits = _first_pass(where, table, cols)
        chunks = ((chunk, None) for chunk in table.chunks(cols))
    pa = importlib.import_module("pyarrow")
    pq = importlib.import_module("pyarrow.parquet")
    pending: list[list[Any]] = [[] for _ in cols]  # per column: Arrow arrays, one a chunk
    held = 0  # rows in ``pending``
    with open(folder / f"{name}.csv", "xb") as csv, open(folder / f"{name}.parquet", "xb") as out:
        writer: Any = None

        def flush(rows: int) -> None:
            nonlocal writer, held
            arrays = []
            for i, parts in enumerate(pending):
                whole = pa.concat_arrays(parts) if parts else arrow_array([], kinds[i], fits[i])
                arrays.append(whole.slice(0, rows))
                pending[i] = [whole.slice(rows)] if len(whole) > rows else []
            held -= rows
            batch = pa.Table.from_arrays(arrays, names=list(cols)).combine_chunks()
            if writer is None:
                writer = pq.ParquetWriter(out, batch.schema)
            writer.write_table(batch)

        csv.write(("".join([",".join(quote_text(c) for c in cols), "\n"])).encode("utf-8"))
        first = 0
        for chunk, types in chunks:
            columns = plain_columns(where, cols, chunk, first, types)
            size = len(columns[0]) if columns else 0
            first += size
            if types is None:
                cells = [encode_column(values) for values in columns]
            else:
                cells = [encode_column(v, t) for v, t in zip(columns, types, strict=True)]
            if size:
                text = "\n".join(map(",".join, zip(*cells, strict=True)))
                csv.write(text.encode("utf-8") + b"\n")
            for i, values in enumerate(columns):
                pending[i].append(arrow_array(values, kinds[i], fits[i]))
            held += size
            while held >= PARQUET_ROW_GROUP:
                flush(PARQUET_ROW_GROUP)
        if held or writer is None:
            flush(held)
        writer.close()
        for handle in (csv, out):
            sync_handle(handle)


def _first_pass(where: str, table: Any, cols: Sequence[str]) -> tuple[list[set[type]], list[bool]]:
    """The types of each column's values (None left out) and whether its integers all fit
    in 64 bits, read from the values themselves."""
    kept = [ColumnKinds() for _ in cols]
    first = 0
    for chunk in table.chunks(cols):
        columns = plain_columns(where, cols, chunk, first)
        for kinds, values in zip(kept, columns, strict=True):
            kinds.add(values, frozenset(map(type, values)))
        first += len(columns[0]) if columns else 0
    return [k.types - {type(None)} for k in kept], [k.fits for k in kept]


def _sibling(target: Path, tag: str) -> Path:
    """A hidden name next to ``target`` that nothing uses yet."""
    while True:
        candidate = target.with_name(f".{target.name}.{tag}-{os.getpid()}-{next(_names)}")
        if not os.path.lexists(candidate):
            return candidate


def check_target(target: Path, overwrite: bool = True, shown: str | None = None) -> None:
    """Raise unless ``target`` is absent, or may be replaced: an empty folder, or an earlier
    run folder (it has a manifest and nothing but run-folder files). A folder of someone's
    own CSV files is never replaced, nor the current directory or one holding it (replacing
    it would pull the directory out from under the user's shell). Messages name ``shown``
    (the path as the user gave it), else ``target``."""
    shown = str(target) if shown is None else shown
    try:
        here: Path | None = Path(os.getcwd())
    except OSError:  # the current directory was removed
        here = None
    if here is not None and (target == here or target in here.parents):
        raise RunError(
            f"refusing to write a run folder at {shown!r}: it is the current directory or "
            f"holds it, and a run folder replaces its target; name a new folder such as "
            f"{os.path.join(shown, 'run')!r}"
        )
    if not os.path.lexists(target):
        return
    if not overwrite:
        raise RunError(f"{shown} exists and overwrite is off")
    entries = list(target.iterdir()) if target.is_dir() and not target.is_symlink() else None
    replaceable = entries is not None and (
        not entries
        or (
            (target / MANIFEST_FILE).is_file()
            and all(
                (e.name in (*_REQUIRED, DURATIONS_FILE) or e.suffix in (".csv", ".parquet"))
                and e.is_file()
                and not e.is_symlink()
                for e in entries
            )
        )
    )
    if not replaceable:
        raise RunError(f"refusing to replace {shown}: it is not a run folder")


def _swap_in(built: Path, target: Path, overwrite: bool, shown: str) -> None:
    check_target(target, overwrite, shown)
    aside = None
    if os.path.lexists(target):
        aside = _sibling(target, "old")
        os.rename(target, aside)
    try:
        os.rename(built, target)
    except BaseException:
        if aside is not None:
            os.rename(aside, target)
        raise
    sync_folder(target.parent)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def write_run(
    out_dir: Path,
    *,
    scenario_yaml: str,
    manifest: Mapping[str, Any],
    summary: Mapping[str, Any],
    tables: Mapping[str, Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]],
    columns: Mapping[str, Sequence[str]] | None = None,
    overwrite: bool = True,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write one run folder atomically and return its absolute path.

    A table is a list of row dicts with the same keys, a dict of equally long columns, or a
    recorded table read chunk by chunk (see :mod:`sim.analysis.recorded`), which is written
    straight into the folder without holding it in memory.
    ``extra_files`` maps relative paths inside the folder (such as
    ``evidence/esx-01/quote.msg``) to their bytes; they are written with the rest.
    Malformed input raises ``ValueError``/``TypeError`` before anything touches the disk
    (a recorded table's values are checked as they are written, and a bad one removes the
    half-built folder);
    a target that exists and may not, or must not, be replaced raises ``RunError``, and so
    does a failure to write (a full disk, say), naming ``out_dir`` as given.
    """
    shown = str(out_dir)
    target = Path(os.path.abspath(out_dir))
    if not target.name:
        raise RunError(f"{out_dir} cannot be a run folder")
    columns = columns or {}
    unknown = sorted(set(columns) - set(tables))
    if unknown:
        raise ValueError(f"columns given for tables that do not exist: {unknown}")
    files = {
        SCENARIO_FILE: scenario_yaml.encode("utf-8"),
        SUMMARY_FILE: json_bytes(summary, "summary"),
    }
    streamed: dict[str, tuple[Any, list[str]]] = {}
    for name in sorted(tables):
        if not _TABLE_NAME.fullmatch(name):
            raise ValueError(f"table name {name!r} is not a plain file name")
        if _chunked(tables[name]):
            streamed[name] = (tables[name], _streamed_columns(name, tables[name], columns))
            continue
        cols, rows = table_rows(name, tables[name], columns.get(name))
        files[f"{name}.csv"] = render_csv(cols, rows)
        parquet = parquet_bytes(cols, rows)
        if parquet is not None:
            files[f"{name}.parquet"] = parquet
    for rel, data in sorted((extra_files or {}).items()):
        parts = Path(rel).parts
        if not parts or Path(rel).is_absolute() or ".." in parts or rel in (*files, MANIFEST_FILE):
            raise ValueError(f"extra file {rel!r} is not a new relative path in the folder")
        files[Path(*parts).as_posix()] = bytes(data)
    files[MANIFEST_FILE] = json_bytes(manifest, "manifest")  # last: it marks completeness

    check_target(target, overwrite, shown)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        built = _sibling(target, "tmp")
        built.mkdir()
    except OSError as exc:
        raise RunError(f"cannot write the run folder {shown}: {exc.strerror or exc}") from None
    try:
        for name, data in files.items():
            if name == MANIFEST_FILE:  # last: it marks completeness
                for table_name, (table, cols) in streamed.items():
                    _write_streamed(built, table_name, table, cols)
            (built / name).parent.mkdir(parents=True, exist_ok=True)
            write_new_file(built / name, data)
        sync_folder(built)
        _swap_in(built, target, overwrite, shown)
    except BaseException as exc:
        shutil.rmtree(built, ignore_errors=True)
        if isinstance(exc, OSError):
            raise RunError(f"cannot write the run folder {shown}: {exc.strerror or exc}") from exc
        raise
    return target


def is_complete(path: Path | str) -> bool:
    """Is ``path`` a run folder that finished writing (its manifest is there)?"""
    folder = Path(path)
    return folder.is_dir() and all((folder / name).is_file() for name in _REQUIRED)


@dataclass(frozen=True, repr=False)
class RunResult:
    """A run folder read whole, for the figures and reports that draw from its files;
    ``tables`` maps names to pandas DataFrames. (The public result of a run is
    :class:`sim.results.Run`, which reads the same folder table by table.)"""

    path: Path
    scenario_yaml: str
    manifest: dict[str, Any]
    summary: dict[str, Any]
    tables: dict[str, Any]

    def __repr__(self) -> str:
        """One line: the folder, scenario, seed and table names (never the contents: the
        dataclass default printed every table and the scenario, 20,000+ characters)."""
        return (
            f"<RunResult {printable(self.path)!s:.200}: scenario "
            f"{printable(self.manifest.get('scenario'))!s:.80}, seed "
            f"{printable(self.manifest.get('seed'))!s:.30}, {len(self.tables)} tables>"
        )

    def table(self, name: str) -> Any:
        """The table ``name``; a KeyError that lists the tables there are when missing."""
        if name not in self.tables:
            raise KeyError(f"no table {name!r} in {self.path}; tables: {sorted(self.tables)}")
        return self.tables[name]


def _complete_folder(path: Path | str) -> Path:
    folder = Path(path)
    if not folder.exists():
        raise RunError(f"no run folder at {folder}")
    missing = [n for n in _REQUIRED if not (folder / n).is_file()]
    if missing:
        raise RunError(
            f"run folder {folder} is incomplete (missing {', '.join(missing)}): "
            "its run did not finish writing it"
        )
    return folder


def load_summary(path: Path | str) -> dict[str, Any]:
    """The summary of a complete run folder (``RunError`` otherwise)."""
    return read_json(_complete_folder(path) / SUMMARY_FILE)


def load(path: Path | str) -> RunResult:
    """Load a complete run folder; ``RunError`` when it is missing, incomplete or damaged.
    Each table is read from its Parquet file when there is one, else from its CSV file. A
    table the run declares (:data:`sim.analysis.tables.TABLES`) must have the declared
    columns; its DataFrame has the declared types and carries the column units in
    ``attrs["units"]``."""
    folder = _complete_folder(path)
    names = sorted({p.stem for p in (*folder.glob("*.csv"), *folder.glob("*.parquet"))})
    tables = {name: _load_table(folder, name) for name in names}
    return RunResult(
        path=folder,
        scenario_yaml=read_scenario_text(folder),
        manifest=read_json(folder / MANIFEST_FILE),
        summary=read_json(folder / SUMMARY_FILE),
        tables=tables,
    )


def load_table(path: Path | str, name: str) -> Any:
    """One table of a complete run folder, read as :func:`load` reads it; a figure that
    needs one table of each of many runs need not read every table of each."""
    folder = _complete_folder(path)
    if not any((folder / f"{name}.{ext}").is_file() for ext in ("csv", "parquet")):
        raise KeyError(f"no table {name!r} in {folder}")
    return _load_table(folder, name)


def _load_table(folder: Path, name: str) -> Any:
    parquet = folder / f"{name}.parquet"
    if parquet.is_file():
        from sim.analysis.columnar import read_parquet

        return read_parquet(parquet, TABLES.get(name))
    return read_table(folder / f"{name}.csv", TABLES.get(name))


def load_sweep(path: Path | str) -> dict[str, Any]:
    """A sweep folder's run tables, one DataFrame per table kind across all its ok runs,
    each row led by its run's ``run``, ``cell_id``, ``variant``, factor levels,
    ``replication`` and ``seed``."""
    folder = Path(path)
    if not (folder / "index.csv").is_file():
        raise RunError(f"{folder} is not a sweep folder (it has no index.csv)")
    return load_sweep_tables(folder, read_table(folder / "index.csv"))


def load_sweep_tables(folder: Path, index: Any) -> dict[str, Any]:
    """One DataFrame per table kind across every ok run of a sweep, each row led by the
    run's ``run``, ``cell_id``, ``variant``, factor levels, ``replication`` and ``seed``
    (from ``index``, the sweep's index DataFrame)."""
    import pandas as pd

    from sim.analysis.columnar import read_parquet

    lead = [c for c in index.columns if c not in ("status", "error", "wall_time_s", "path")]
    lead = lead[: lead.index("seed") + 1] if "seed" in lead else lead
    parts: dict[str, list[Any]] = {}
    for row in index.to_dict("records"):
        if row.get("status") != "ok":
            continue
        run = folder / str(row["path"])
        for name, declared in TABLES.items():
            parquet, csv = run / f"{name}.parquet", run / f"{name}.csv"
            if parquet.is_file():
                table = read_parquet(parquet, declared)
            elif csv.is_file():
                table = read_table(csv, declared)
            else:
                continue
            for i, col in enumerate(lead):
                value = row[col]
                if isinstance(value, float) and math.isnan(value):
                    value = None
                table.insert(i, col, [value] * len(table))
            parts.setdefault(name, []).append(table)
    out: dict[str, Any] = {}
    for name, frames in parts.items():
        joined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        joined.attrs["units"] = TABLES[name].units
        out[name] = joined
    return out


def write_table(
    path: Path | str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> Path:
    """Write one CSV table atomically (a temporary sibling renamed over ``path``), in the
    run folder's CSV dialect; returns the path."""
    target = Path(path)
    cols, data = table_rows(target.stem, rows, columns)
    return write_file_atomic(target, render_csv(cols, data))


MAX_CSV_BYTES = 256 << 20
"""Largest CSV table read by :func:`read_table` (its values cost several times the file in
memory; a run's large tables are read from their Parquet files, which have no such cost)."""
MAX_CSV_ROWS = 4_000_000
"""Most rows of a CSV table read by :func:`read_table`."""


def read_table(path: Path | str, declared: Table | None = None) -> Any:
    """Read a CSV table written by this module as a pandas DataFrame. With its
    declaration, the header must hold the declared columns in order (``RunError``
    otherwise), the DataFrame has the declared types (:func:`sim.analysis.columnar.typed`)
    and carries the units in ``attrs["units"]``; then the table's Parquet file beside it is
    read instead when there is one (the same frame, a test compares them).

    The CSV is read record by record into columns, never whole: a file over
    :data:`MAX_CSV_BYTES` or with more than :data:`MAX_CSV_ROWS` rows is refused with a
    ``RunError`` naming it and the limit, and so is one that takes longer than
    :data:`sim.analysis.folder_io.MAX_READ_SECONDS` to read and parse."""
    import pandas as pd  # imported when a table is read: writing a run folder needs none

    p = Path(path)
    parquet = p.with_suffix(".parquet")
    if declared is not None and parquet.is_file():
        from sim.analysis.columnar import read_parquet

        return read_parquet(parquet, declared)
    with open_folder_file(p, MAX_CSV_BYTES) as handle:
        lines = read_lines(handle, p, MAX_CSV_BYTES)
        cols, columns = read_csv_columns(lines, str(p), MAX_CSV_ROWS)
    if declared is not None and tuple(cols) != declared.names:
        raise RunError(
            f"{p}: columns {cols} differ from the declared {list(declared.names)} "
            "(written by another version of vtasim?)"
        )
    frame = pd.DataFrame(dict(zip(cols, columns, strict=True)), columns=cols)
    if declared is not None:
        from sim.analysis.columnar import typed

        return typed(frame, declared)
    return frame
