"""Tests for reading a folder's CSV tables record by record: the same values as the whole-text
parser, bounded rows, bytes and memory."""

from __future__ import annotations

import io
import math
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis import results
from sim.analysis.cells import parse_csv, read_csv_columns, render_csv
from sim.analysis.tables import TABLES
from sim.errors import RunError

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["", "12", "true", "a,b", 'q"', "x\ny", "x\r\ny", '""', "\n", "-1.5e+03"]),
)

# Texts that stress the quoting: every one is quoted by the writer, and some hold a line
# break or a quote, so their records span several lines of the file.
AWKWARD = ["", "12", "true", "false", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "é€", "1e+05"]


def _old_read(path: Path) -> pd.DataFrame:
    """The reader as it was: the whole text parsed into row lists, then a DataFrame."""
    cols, rows = parse_csv(path.read_bytes().decode("utf-8"), str(path))
    return pd.DataFrame({c: [row[i] for row in rows] for i, c in enumerate(cols)}, columns=cols)


def _awkward_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, text in enumerate(AWKWARD * 3):
        rows.append(
            {
                "name": text,
                "count": None if i % 4 == 0 else i - 5,
                "ratio": [0.1, -0.0, math.inf, None, 1e300, 2.5][i % 6],
                "ok": [True, False, None][i % 3],
                "mixed": [1, "1", None, 2.5, "", True][i % 6],
                "empty": None,
            }
        )
    return rows


def test_a_written_table_reads_back_as_the_whole_text_reader_gave(tmp_path: Path) -> None:
    """Quoted texts (line breaks, quotes, commas, text that looks like a number), empty
    cells, floats, bools and mixed columns give the very frame the old reader gave."""
    path = results.write_table(tmp_path / "t.csv", _awkward_rows())
    new, old = results.read_table(path), _old_read(path)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert list(new.dtypes) == list(old.dtypes)
    # the empty column is all None (not NaN), the text column keeps "" apart from None
    assert list(new["empty"]) == [None] * len(new)
    assert list(new["name"]) == AWKWARD * 3


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda n: st.tuples(
            st.lists(st.text(min_size=1, max_size=4), min_size=n, max_size=n),
            st.lists(st.lists(scalars, min_size=n, max_size=n), max_size=8),
        )
    )
)
def test_record_reader_matches_the_whole_text_parser(table: tuple[list[str], list[Any]]) -> None:
    """For any rendered table the record-by-record reader gives the header and the
    columns of the whole-text parser (compared by type and repr: NaN, -0.0 and bools)."""
    columns, rows = table
    data = render_csv(columns, rows)
    header, want = parse_csv(data.decode("utf-8"), "t.csv")
    got_header, got = read_csv_columns(io.BytesIO(data), "t.csv", 1000)
    assert got_header == header
    by_column = [list(c) for c in zip(*want, strict=True)] if want else [[] for _ in header]
    assert [[(type(v), repr(v)) for v in c] for c in got] == [
        [(type(v), repr(v)) for v in c] for c in by_column
    ]


@pytest.mark.parametrize(
    "text",
    ["a,b\n1\n", 'a\n"x"y\n', 'a,b\n1,2\n"open\n3,4\n', 'a\n"x\ny"z\n', "a\n1\n\xff\n"],
)
def test_malformed_files_get_the_old_message(text: str) -> None:
    """A malformed file is refused with the whole-text parser's message (same row, same
    character), or as undecodable text, naming the file."""
    data = text.encode("utf-8", "surrogateescape") if "\xff" not in text else b"a\n1\n\xff\n"
    with pytest.raises(RunError) as new:
        read_csv_columns(io.BytesIO(data), "t.csv", 1000)
    if "\xff" in text:
        assert "cannot read t.csv" in str(new.value)
        return
    with pytest.raises(RunError) as old:
        parse_csv(text, "t.csv")
    assert str(new.value) == str(old.value)


def test_a_declared_table_is_read_from_its_parquet_file(tmp_path: Path) -> None:
    """With a declaration, the Parquet file beside the CSV gives the frame, equal to the
    CSV's (the CSV here is made unreadable to prove it is not read)."""
    rows = [{c: None for c in TABLES["levels"].names}]
    folder = results.write_run(
        tmp_path / "run",
        scenario_yaml="x: 1\n",
        manifest={},
        summary={},
        tables={"levels": rows},
    )
    from_csv = results.read_table(folder / "levels.csv", TABLES["levels"])
    (folder / "levels.csv").write_bytes(b"garbage\n")
    from_parquet = results.read_table(folder / "levels.csv", TABLES["levels"])
    pd.testing.assert_frame_equal(from_parquet, from_csv, check_exact=True)


def _hostile_csv(path: Path, megabytes: float) -> int:
    """A CSV of short rows of about ``megabytes`` MB, the kind that cost most per byte."""
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("a,b,c,d\n")
        i = 0
        while fh.tell() < megabytes * 1e6:
            fh.write(f'{i},{rng.random()!r},{"true" if i % 2 else ""},"x, {i % 50}"\n')
            i += 1
    return path.stat().st_size


@pytest.mark.slow
def test_a_large_csv_is_read_within_a_bounded_multiple_of_its_size(tmp_path: Path) -> None:
    """Reading a 3 MB CSV of short rows peaks (tracemalloc) under 20 times the file: its
    values as Python objects cost about 8 times it (per row of ~40 bytes: 4 pointers in
    the column lists, an int, a float and a text object, then the frame's arrays). Before,
    the reader also asked for a buffer the size of the 4 GiB limit (1,400 times this file)."""
    path = tmp_path / "big.csv"
    size = _hostile_csv(path, 3)
    tracemalloc.start()
    try:
        frame = results.read_table(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(frame) > 50_000
    assert peak < 20 * size, (peak, size)


def test_a_csv_over_the_row_or_byte_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV with more rows, or more bytes, than the limit is refused in one line naming
    the file and the limit."""
    path = tmp_path / "big.csv"
    size = _hostile_csv(path, 0.2)
    monkeypatch.setattr(results, "MAX_CSV_ROWS", 1000)
    with pytest.raises(RunError, match=r"big\.csv: more than the limit of 1,000 rows; not read"):
        results.read_table(path)
    monkeypatch.setattr(results, "MAX_CSV_ROWS", 10**9)
    monkeypatch.setattr(results, "MAX_CSV_BYTES", size - 1)
    with pytest.raises(RunError, match=r"big\.csv: larger than the limit of .*; not read"):
        results.read_table(path)
    monkeypatch.setattr(results, "MAX_CSV_BYTES", size)
    assert len(results.read_table(path)) > 1000
