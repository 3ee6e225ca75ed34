"""Tables as pandas DataFrames with the declared types, from Parquet, CSV or memory.

Every path gives the same frame for the same table (a test compares them): a column is
typed by its declaration in :mod:`sim.analysis.tables`:

- ``float``: float64, a missing value NaN;
- ``int``: int64, or float64 with NaN when a value is missing;
- ``bool``: bool, or object holding True/False/None when a value is missing;
- ``str``: object holding str or None.

Parquet is read with pyarrow (what the run folder writes beside each CSV: the same values,
floats bit for bit). A CSV file is read by the run folder's own reader
(:func:`sim.analysis.results.read_table`, which types its frame with :func:`typed`); it
tells a quoted empty text (``""``) from an empty cell (missing), something pandas' CSV
reader cannot; it is slower, which is why Parquet comes first. A table without a
declaration keeps the types its file gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis import folder_io
from sim.analysis.tables import Table
from sim.errors import RunError


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _column(series: pd.Series[Any], kind: str) -> pd.Series[Any]:
    """One column in its declared type (see the module docstring)."""
    missing = series.isna()
    out: pd.Series[Any]
    if kind == "float":
        out = series.astype("float64")
    elif kind == "int":
        out = series.astype("float64" if missing.any() else "int64")
    elif kind == "bool" and series.dtype == bool:
        out = series
    elif kind == "bool":
        flags = [None if m else bool(v) for v, m in zip(series, missing, strict=True)]
        dtype: Any = object if None in flags else bool
        out = pd.Series(flags, index=series.index, dtype=dtype, name=series.name)
    else:
        out = series.astype(object)
        if pd.api.types.infer_dtype(out, skipna=True) not in ("string", "empty"):
            out = out.map(_text, na_action="ignore")
        if missing.any():
            out = out.where(~missing, None)
    return out


def typed(frame: pd.DataFrame, declared: Table) -> pd.DataFrame:
    """``frame`` with each column in its declared type and the units in ``attrs``."""
    out: pd.DataFrame = pd.DataFrame(
        {c.name: _column(frame[c.name], c.type) for c in declared.columns},
        columns=list(declared.names),
        index=pd.RangeIndex(len(frame)),
    )
    out.attrs["units"] = declared.units
    return out


def _check(path: Path, columns: Sequence[str], declared: Table) -> None:
    if tuple(columns) != declared.names:
        raise RunError(
            f"{path}: columns {list(columns)} differ from the declared {list(declared.names)} "
            "(written by another version of vtasim?)"
        )


def read_parquet(path: Path, declared: Table | None = None) -> pd.DataFrame:
    """A Parquet table as a DataFrame (declared types when declared)."""
    import pyarrow.parquet as pq

    try:
        with folder_io.open_folder_file(
            path, folder_io.MAX_TABLE_BYTES
        ) as handle:  # a file, bounded, no link
            table = pq.read_table(handle)
    except (OSError, ValueError) as exc:
        raise RunError(f"cannot read {path}: {exc}") from exc
    frame: pd.DataFrame = table.to_pandas()
    if declared is None:
        return frame
    _check(path, table.column_names, declared)
    return typed(frame, declared)


def frame_of(rows: Sequence[Mapping[str, Any]], declared: Table) -> pd.DataFrame:
    """In-memory rows (a run's recorded table) as the DataFrame loading gives."""
    columns = getattr(rows, "columns", None)  # a recorded table: read column by column
    data = (
        columns(*declared.names)
        if callable(columns)
        else {name: [r.get(name) for r in rows] for name in declared.names}
    )
    raw = pd.DataFrame(
        {k: pd.Series(v, dtype=object) for k, v in data.items()}, columns=list(declared.names)
    )
    return typed(raw, declared)
