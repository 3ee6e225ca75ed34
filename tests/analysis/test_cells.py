"""Tests for run-folder values: CSV cells and files, JSON, Parquet column types."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.cells import (
    arrow_array,
    encode_cell,
    encode_column,
    fits_int64,
    json_bytes,
    parse_csv,
    plain,
    render_csv,
)
from sim.errors import RunError

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5)
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(scalars, max_size=30),
        st.lists(st.floats(), max_size=30),
        st.lists(st.one_of(st.none(), st.floats()), max_size=30),
        st.lists(
            st.one_of(st.none(), st.sampled_from(["a", "1", "1.5", "", "x,y", 'q"'])), max_size=30
        ),
        st.lists(st.integers(-(2**70), 2**70), max_size=30),
        st.lists(st.one_of(st.none(), st.integers()), max_size=30),
        st.lists(st.one_of(st.none(), st.booleans()), max_size=30),
        st.lists(st.booleans(), max_size=30),
        # texts that do and do not start like a number, a flag, inf or nan
        st.lists(
            st.one_of(
                st.none(),
                st.sampled_from(
                    ["nan", "inf", "-inf", "true", "false", "", "1e+05", "-3", "2.5", "a1", "n"]
                ),
                st.text(alphabet='-0123456789.eiftnarsuxyz,"\n '),
            ),
            max_size=30,
        ),
    )
)
@pytest.mark.slow
def test_a_column_encodes_cell_by_cell(values: list[Any]) -> None:
    """The writer's column-at-a-time CSV cells are exactly the cell-by-cell ones, whatever
    mix of kinds a column holds (its fast paths for floats and texts included)."""
    assert encode_column(values) == [encode_cell(v) for v in values]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            st.lists(st.text(min_size=1, max_size=4), min_size=n, max_size=n),
            st.lists(st.lists(scalars, min_size=n, max_size=n), max_size=6),
        )
    )
)
def test_csv_reads_back_every_value_with_its_type(table: tuple[list[str], list[list[Any]]]) -> None:
    """Whatever the texts hold (commas, quotes, newlines, text that looks like a number or
    a boolean), a rendered CSV parses back to the same header and the same typed cells."""
    columns, rows = table
    header, back = parse_csv(render_csv(columns, rows).decode("utf-8"), "t.csv")
    assert header == columns
    assert len(back) == len(rows)
    for row, got in zip(rows, back, strict=True):
        assert all(_same(a, b) for a, b in zip(row, got, strict=True)), (row, got)


def test_csv_quotes_only_what_would_read_back_as_something_else() -> None:
    assert [encode_cell(v) for v in (None, True, 3, 0.5, "x", "", "12", "true", "a,b")] == [
        "",
        "true",
        "3",
        "0.5",
        "x",
        '""',
        '"12"',
        '"true"',
        '"a,b"',
    ]


def test_malformed_csv_names_the_file_and_the_place() -> None:
    with pytest.raises(RunError, match=r"t\.csv: row 1 has 1 cells, the header has 2"):
        parse_csv("a,b\n1\n", "t.csv")
    with pytest.raises(RunError, match=r"t\.csv: malformed CSV at character 5"):
        parse_csv('a\n"x"y\n', "t.csv")


def test_json_is_sorted_finite_and_names_what_it_cannot_write() -> None:
    data = {"b": float("nan"), "a": [1, float("inf"), ValueError("boom")]}
    text = json_bytes(data, "summary").decode("utf-8")
    assert text.endswith("\n") and text.index('"a"') < text.index('"b"')
    assert '"b": null' in text and '"message": "boom"' in text
    with pytest.raises(TypeError, match=r"summary\.x: set cannot be written as JSON"):
        json_bytes({"x": {1}}, "summary")
    with pytest.raises(TypeError, match=r"summary: keys \[1\] are not strings"):
        json_bytes({1: 2}, "summary")  # type: ignore[dict-item]


def test_numpy_scalars_and_enums_become_plain_values() -> None:
    import enum

    import numpy as np

    class Kind(str, enum.Enum):
        A = "a"

    assert [type(plain(v)) for v in (np.int64(3), np.float64(0.5), np.bool_(True), Kind.A)] == [
        int,
        float,
        bool,
        str,
    ]


def test_parquet_column_types_follow_the_kinds_of_value() -> None:
    import pyarrow as pa

    assert arrow_array([1, None, 2], {int}, True).type == pa.int64()
    assert arrow_array([2**64, 1], {int}, fits_int64([2**64, 1])).type == pa.string()
    assert arrow_array([1, 0.5], {int, float}, True).type == pa.float64()
    assert arrow_array([1, "x"], {int, str}, True).to_pylist() == ["1", "x"]
    assert arrow_array([None, None], set(), True).type == pa.null()


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.one_of(
        st.lists(_SCALARS, max_size=30),
        st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30),
        st.lists(st.integers(-(2**63), 2**63 - 1), max_size=30),
        st.lists(st.booleans(), max_size=30),
        st.lists(st.text(max_size=8), max_size=30),
    )
)
def test_arrow_columns_are_what_pyarrow_array_builds(values: list[object]) -> None:
    """A column assembled from its buffers is the array pyarrow.array builds from the same
    list (type, nulls, values) and writes the same Parquet bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.analysis.cells import arrow_array, encode_cell, fits_int64

    kinds = {type(v) for v in values if v is not None}
    fits = fits_int64(values)  # type: ignore[arg-type]
    if not kinds:
        expected = pa.nulls(len(values))
    elif kinds == {int} and not fits:
        expected = pa.array([None if v is None else str(v) for v in values], pa.string())
    elif kinds in ({bool}, {int}):
        expected = pa.array(values, type=pa.bool_() if bool in kinds else pa.int64())
    elif kinds <= {int, float}:
        floats = [None if v is None else float(v) for v in values]  # type: ignore[arg-type]
        expected = pa.array(floats, type=pa.float64())
    else:
        text = [v if v is None or isinstance(v, str) else encode_cell(v) for v in values]  # type: ignore[arg-type]
        expected = pa.array(text, type=pa.string())
    got = arrow_array(values, kinds, fits)  # type: ignore[arg-type]
    assert got.type == expected.type and got.null_count == expected.null_count
    # by repr, so that NaN equals NaN (Array.equals holds NaN unequal to itself)
    assert repr(got.to_pylist()) == repr(expected.to_pylist())

    def parquet(array: object) -> bytes:
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_arrays([array], names=["c"]), sink)
        return bytes(sink.getvalue().to_pybytes())

    assert parquet(got) == parquet(expected)
