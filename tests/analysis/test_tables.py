"""Table declarations: the recorder, the run folder and the README all follow them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from sim.analysis import results
from sim.analysis.recorder import Recorder
from sim.analysis.tables import TABLE_COLUMNS, TABLES, Column, markdown
from sim.errors import RunError
from tests.conftest import ROOT

_BLOCK = re.compile(r"<!-- tables:begin -->\n(.*?)<!-- tables:end -->\n", re.S)


def test_readme_table_reference_is_rendered_from_the_declarations() -> None:
    """The README's table section equals markdown() (VTASIM_UPDATE_README=1 rewrites it)."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    found = _BLOCK.search(text)
    assert found is not None, "README.md has no tables:begin/tables:end block"
    if os.environ.get("VTASIM_UPDATE_README") == "1":
        readme.write_text(text[: found.start(1)] + markdown() + text[found.end(1) :])
        return
    assert found.group(1) == markdown()


def test_recorder_lays_rows_out_in_declared_order_with_missing_columns_empty() -> None:
    """add() returns a row keyed by every declared column, in order, unset ones None."""
    rec = Recorder()
    row = rec.add("refusals", reason="x", time=1.0)
    assert tuple(row) == TABLE_COLUMNS["refusals"]
    assert row == {"time": 1.0, "host": None, "vm": None, "kind": None, "reason": "x"}
    assert rec.tables["refusals"] == [row]


def test_recorder_refuses_an_undeclared_column() -> None:
    """A column the table does not declare is an error naming it."""
    with pytest.raises(KeyError, match="no column colour"):
        Recorder().add("refusals", time=1.0, colour="red")


def test_every_declared_column_has_a_known_type_and_a_meaning() -> None:
    """Declarations are complete: types from the four scalar kinds, a meaning each."""
    for table in TABLES.values():
        assert table.meaning
        assert len(set(table.names)) == len(table.names)
        for col in table.columns:
            assert col.type in ("str", "int", "float", "bool") and col.meaning
    with pytest.raises(ValueError, match="unknown type"):
        Column("x", "list", "", "a list")


def _write(tmp_path: Path, columns: tuple[str, ...]) -> Path:
    return results.write_run(
        tmp_path / "run",
        scenario_yaml="name: t\n",
        manifest={"seed": 1},
        summary={},
        tables={"refusals": {c: [1.0] if c == "time" else ["a"] for c in columns}},
        columns={"refusals": columns},
    )


def test_loaded_tables_carry_their_units(tmp_path: Path) -> None:
    """load() attaches the declared units to the DataFrame."""
    pytest.importorskip("pandas")
    folder = _write(tmp_path, TABLE_COLUMNS["refusals"])
    frame = results.load(folder).table("refusals")
    assert frame.attrs["units"] == {"time": "s"}
    assert list(frame.columns) == list(TABLE_COLUMNS["refusals"])


def test_a_table_whose_columns_differ_from_the_declaration_is_refused(tmp_path: Path) -> None:
    """A run folder from another version (other columns) is reported, not misread."""
    folder = _write(tmp_path, ("time", "host", "vm", "kind"))
    with pytest.raises(RunError, match="differ from the declared"):
        results.load(folder)
