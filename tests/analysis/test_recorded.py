"""Recorded tables in spilled column chunks: whatever the chunk size, a table reads back as
the rows recorded (changes made after sealing included), and the run folder written from it
is byte for byte the one written from plain row dicts."""

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
changes = st.lists(st.tuples(st.integers(0, 39), st.sampled_from(NAMES), values), max_size=20)


def _full(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in NAMES}


@settings(max_examples=150, deadline=None)
@given(rows, changes, st.integers(1, 6))
def test_a_table_reads_back_as_recorded_whatever_its_chunk_size(
    given_rows: list[dict[str, Any]], edits: list[tuple[int, str, Any]], chunk: int
) -> None:
    table = RecordedTable("t", NAMES, chunk_rows=chunk)
    held = [table.append(r) for r in given_rows]
    expected = [_full(r) for r in given_rows]
    for i, (index, column, value) in enumerate(edits):
        if index >= len(held):
            continue
        if i % 2:
            held[index][column] = value  # through the row the caller kept
        else:
            table.update(index, **{column: value})  # through the table
            held[index] = table[index]
        expected[index][column] = value
    assert len(table) == len(expected)
    assert list(table) == expected
    assert [table[i] for i in range(len(table))] == expected
    assert table.columns() == {n: [r[n] for r in expected] for n in NAMES}
    assert list(table.select("n", "host")) == [(r["n"], r["host"]) for r in expected]
    assert [type(v) for v in table.columns("n")["n"]] == [type(r["n"]) for r in expected]
    copy = pickle.loads(pickle.dumps(table))
    assert list(copy) == expected


def test_sealed_rows_leave_memory_and_changes_reach_the_file() -> None:
    table = RecordedTable("t", NAMES, chunk_rows=2)
    first = table.append({"time": 0, "host": "a"})
    for k in range(1, 5):
        table.append({"time": float(k), "host": "b"})
    assert len(table._pending) == 3 and len(table._chunks) == 1
    first.update(ok=True, n=7)  # the caller still holds a sealed row
    assert table[0] == {"time": 0, "host": "a", "ok": True, "n": 7}
    assert type(table[0]["time"]) is int  # an int stays an int
    for row in table:  # rows read back pass their changes on too
        row["n"] = 1
    assert table.columns("n") == {"n": [1] * 5}
    assert table[-1]["time"] == 4.0 and table[1:3] == [table[1], table[2]]
    with pytest.raises(IndexError):
        table[5]


def test_unknown_columns_are_refused_on_append_pending_and_sealed() -> None:
    table = RecordedTable("t", NAMES, chunk_rows=1)
    with pytest.raises(KeyError, match="declares no column colour"):
        table.append({"colour": "red"})
    row = table.append({"time": 1.0})
    with pytest.raises(KeyError, match="declares no column colour"):
        row.update(colour="red")  # still pending
    table.append({"time": 2.0})
    with pytest.raises(KeyError, match="declares no column colour"):
        row["colour"] = "red"  # sealed
    with pytest.raises(KeyError, match="declares no column colour"):
        table.update(0, colour="red")
    assert list(table) == [_full({"time": 1.0}), _full({"time": 2.0})]
    with pytest.raises(KeyError, match="no column 'colour'"):
        list(table.select("colour"))


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


def test_a_row_copies_and_pickles_as_a_plain_dict_and_keeps_its_columns() -> None:
    import copy

    table = RecordedTable("t", NAMES, chunk_rows=1)
    row = table.append({"n": 1})
    table.append({"n": 2})  # row 0 is sealed now
    for twin in (copy.copy(row), pickle.loads(pickle.dumps(row)), row.copy()):
        assert type(twin) is dict and twin == _full({"n": 1})
        twin["n"] = 99  # a copy is the caller's own
    assert table[0]["n"] == 1
    for remove in (lambda r: r.pop("n"), lambda r: r.clear(), lambda r: r.__delitem__("n")):
        with pytest.raises(TypeError, match="keeps every column"):
            remove(row)
    row |= {"n": 3}
    assert row.setdefault("n", 7) == 3 and table[0]["n"] == 3


def _folder(tmp: Path, name: str, table: Any) -> dict[str, bytes]:
    folder = results.write_run(
        tmp / name, scenario_yaml="", manifest={}, summary={}, tables={"t": table},
        columns={"t": list(reversed(NAMES))},
    )  # fmt: skip
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


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
    """Baseline to past its drift's detection: its tables sealed every 3 rows (every late
    change a patch, every table streamed from disk) give the same run folder byte for byte."""
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
