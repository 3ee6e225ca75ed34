"""Recorded tables in spilled column chunks: whatever the chunk size, a table reads back as
the rows recorded, rows read back are the reader's own (nothing changes a written row), and
the run folder written from it is byte for byte the one written from plain row dicts."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis import recorded, results
from sim.analysis.recorded import RecordedTable
from sim.runner import simulate, write
from sim.scenario import load_scenario

NAMES = ("time", "host", "ok", "n")

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=6),
)
rows = st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys(NAMES, values)), max_size=40)


def _full(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in NAMES}


@settings(max_examples=150, deadline=None)
@given(rows, st.integers(1, 6))
def test_a_table_reads_back_as_recorded_whatever_its_chunk_size(
    given_rows: list[dict[str, Any]], chunk: int
) -> None:
    """Rows given by column or by values in order read back the same, pending or sealed."""
    table = RecordedTable("t", NAMES, chunk_rows=chunk)
    for i, row in enumerate(given_rows):
        if i % 2:
            table.append(row)
        else:
            table.append_values(tuple(_full(row).values()))
    expected = [_full(r) for r in given_rows]
    assert len(table) == len(expected)
    assert list(table) == expected
    assert [table[i] for i in range(len(table))] == expected
    assert table.columns() == {n: [r[n] for r in expected] for n in NAMES}
    assert list(table.select("n", "host")) == [(r["n"], r["host"]) for r in expected]
    assert [type(v) for v in table.columns("n")["n"]] == [type(r["n"]) for r in expected]
    copy = pickle.loads(pickle.dumps(table))
    assert list(copy) == expected


def test_sealed_rows_leave_memory_and_a_row_read_back_changes_nothing() -> None:
    """Sealed rows leave the pending list; changing a row read back leaves the table as
    written (a row is written once), pending or sealed."""
    table = RecordedTable("t", NAMES, chunk_rows=2)
    for k in range(5):
        table.append({"time": k if k == 0 else float(k), "host": "a" if k == 0 else "b"})
    assert len(table._pending) == 3 and len(table._chunks) == 1
    assert table[0] == {"time": 0, "host": "a", "ok": None, "n": None}
    assert type(table[0]["time"]) is int  # an int stays an int
    for row in table:
        row["n"] = 1
    table[0]["n"] = 2
    table[-1]["n"] = 3
    assert table.columns("n") == {"n": [None] * 5}
    assert table[-1]["time"] == 4.0 and table[1:3] == [table[1], table[2]]
    with pytest.raises(IndexError):
        table[5]
    assert not hasattr(table, "update") and not hasattr(table, "patch")


def test_unknown_columns_and_short_rows_are_refused() -> None:
    """A column the table does not declare, or a row of the wrong width, is an error."""
    table = RecordedTable("t", NAMES, chunk_rows=1)
    with pytest.raises(KeyError, match="declares no column colour"):
        table.append({"colour": "red"})
    with pytest.raises(ValueError, match="has 4 columns, not 3"):
        table.append_values((1.0, "a", True))
    table.append({"time": 1.0})
    table.append({"time": 2.0})
    assert list(table) == [_full({"time": 1.0}), _full({"time": 2.0})]
    with pytest.raises(KeyError, match="no column 'colour'"):
        list(table.select("colour"))
    with pytest.raises(KeyError, match="no column 'colour'"):
        table.kinds(["time", "colour"])


def test_rows_added_while_reading_are_read_too() -> None:
    """Like a list: a reader sees rows appended meanwhile, even as chunks are sealed."""
    table = RecordedTable("t", NAMES, chunk_rows=2)
    table.extend({"n": i} for i in range(5))
    seen = []
    for row in table:
        seen.append(row["n"])
        if row["n"] < 3:
            table.append({"n": 10 + row["n"]})
    assert seen == [0, 1, 2, 3, 4, 10, 11, 12]
    got = []
    for chunk in table.chunks(["n"]):
        got.extend(chunk["n"])
        if len(table) == 8:  # once, while the first chunk is being read
            table.extend({"n": 20 + k} for k in range(4))
    assert got == [0, 1, 2, 3, 4, 10, 11, 12, 20, 21, 22, 23]


@settings(max_examples=150, deadline=None)
@given(rows, st.integers(1, 6), st.permutations(NAMES))
def test_the_kinds_kept_while_recording_are_those_a_pass_over_the_values_finds(
    given_rows: list[dict[str, Any]], chunk: int, order: list[str]
) -> None:
    """The writer types a table's Parquet columns from :meth:`RecordedTable.kinds`, kept
    as chunks are sealed, instead of reading the table once more: they are the types (None
    left out) and the 64-bit fit a pass over the values finds, sealed rows and pending
    alike; each chunk's types are those of its values."""
    table = RecordedTable("t", NAMES, chunk_rows=chunk)
    table.extend(given_rows)
    kinds = table.kinds(order)
    assert kinds is not None
    expected_types, expected_fits = results._first_pass("t", table, order)
    assert [types for types, _ in kinds] == expected_types
    assert [fits for _, fits in kinds] == expected_fits
    chunks = list(table.typed_chunks(order))
    assert [c for c, _ in chunks] == list(table.chunks(order))
    for chunk_values, types in chunks:
        assert types == [frozenset(map(type, chunk_values[name])) for name in order]


def test_a_table_holding_other_values_than_plain_scalars_has_no_kinds() -> None:
    """A value the writer must unwrap (a numpy scalar, a ``str`` enum), sealed or pending,
    leaves the typing to a pass over the values, which unwraps and checks each."""
    import enum

    import numpy as np

    class Colour(str, enum.Enum):
        RED = "red"

    for extra in ({"n": np.int64(3)}, {"host": Colour.RED}):
        for rows_before in (0, 3):
            table = RecordedTable("t", NAMES, chunk_rows=2)
            table.extend([{"n": 1}] * rows_before + [extra] + [{"n": 2}])
            assert table.kinds(NAMES) is None
            assert table.kinds(["time", "ok"]) == [(set(), True), (set(), True)]


def _folder(tmp: Path, name: str, table: Any) -> dict[str, bytes]:
    folder = results.write_run(
        tmp / name, scenario_yaml="", manifest={}, summary={}, tables={"t": table},
        columns={"t": list(reversed(NAMES))},
    )  # fmt: skip
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(rows, st.integers(1, 5), st.integers(1, 7))
def test_a_streamed_table_writes_the_same_bytes_as_its_rows(
    given_rows: list[dict[str, Any]], chunk: int, group: int
) -> None:
    import tempfile

    table = RecordedTable("t", NAMES, chunk_rows=chunk)
    table.extend(given_rows)
    with tempfile.TemporaryDirectory() as tmp:
        plain = _folder(Path(tmp), "plain", [_full(r) for r in given_rows])
        streamed = _folder(Path(tmp), "streamed", table)
        assert streamed == plain
        # row groups smaller than the table: another file, the same values
        saved = results.PARQUET_ROW_GROUP
        results.PARQUET_ROW_GROUP = group
        try:
            grouped = results.load(results.write_run(
                Path(tmp) / "grouped", scenario_yaml="", manifest={}, summary={},
                tables={"t": table},
            ))  # fmt: skip
        finally:
            results.PARQUET_ROW_GROUP = saved
        loaded = results.load(Path(tmp) / "plain")
    assert grouped.tables["t"].equals(loaded.tables["t"][list(NAMES)])


def test_a_bad_value_in_a_streamed_table_leaves_no_folder(tmp_path: Path) -> None:
    table = RecordedTable("t", NAMES, chunk_rows=1)
    table.extend([{"n": 1}, {"n": 2}, {"n": {3}}])
    with pytest.raises(TypeError, match="row 2 column 'n' holds a set"):
        results.write_run(
            tmp_path / "run", scenario_yaml="", manifest={}, summary={}, tables={"t": table}
        )
    assert list(tmp_path.iterdir()) == []


def test_the_chunk_size_is_read_when_a_table_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorded, "CHUNK_ROWS", 3)
    assert RecordedTable("t", NAMES)._chunk_rows == 3
    with pytest.raises(ValueError, match="at least 1"):
        RecordedTable("t", NAMES, chunk_rows=0)


def _hashed(folder: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(folder.iterdir()):
        data = p.read_bytes()
        if p.name == "manifest.json":  # the wall time differs between any two runs
            manifest = json.loads(data)
            del manifest["wall_time_s"]
            data = json.dumps(manifest, sort_keys=True).encode()
        out[p.name] = data
    return out


def test_a_shipped_run_is_the_same_whatever_the_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Baseline to past its drift's detection: its tables sealed every 3 rows (every table
    streamed from disk) give the same run folder byte for byte."""
    scenario = load_scenario(Path("scenarios/baseline.yaml"))
    folders = []
    for chunk in (recorded.CHUNK_ROWS, 3):
        monkeypatch.setattr(recorded, "CHUNK_ROWS", chunk)
        out = simulate(scenario, until=1500.0)
        sealed = max(len(t._chunks) for t in out.tables.values())
        assert (sealed > 0) == (chunk == 3)
        folders.append(_hashed(write(out, tmp_path / f"chunk-{chunk}")))
    assert folders[0] == folders[1]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the file")
def test_records_spill_into_the_given_folder_and_leave_nothing_there(tmp_path: Path) -> None:
    with recorded.spilling_into(tmp_path):
        table = RecordedTable("t", NAMES, chunk_rows=1)
        table.extend([{"n": 1}, {"n": 2}])
    assert table._spill is not None
    where = os.readlink(f"/proc/self/fd/{table._spill.fileno()}")
    assert where.startswith(str(tmp_path)) and where.endswith("(deleted)")
    assert list(tmp_path.iterdir()) == []  # unnamed: nothing to clean up
    with recorded.spilling_into(tmp_path / "missing"):  # not a folder: the system's
        other = RecordedTable("t", NAMES, chunk_rows=1)
        other.extend([{"n": 1}, {"n": 2}])
    assert other._spill is not None
    assert not os.readlink(f"/proc/self/fd/{other._spill.fileno()}").startswith(str(tmp_path))


cells = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5)
)
