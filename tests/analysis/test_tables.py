"""Table declarations: the recorder, the run folder and the documentation all follow them."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from sim.analysis import results
from sim.analysis.recorder import Recorder
from sim.analysis.records import HostEvent, Placement
from sim.analysis.tables import TABLE_COLUMNS, TABLES, Column, markdown
from sim.errors import RunError
from tests.conftest import ROOT


def test_table_reference_page_is_rendered_from_the_declarations() -> None:
    """docs/reference/tables.md holds markdown() whole and names the number of tables
    (``python -m tests.regenerate docs`` rewrites the page)."""
    page = (ROOT / "docs" / "reference" / "tables.md").read_text(encoding="utf-8")
    assert markdown() in page, "stale: run python -m tests.regenerate docs"
    assert f"A run folder holds {len(TABLES)} tables" in page


def test_recorder_lays_records_out_in_declared_order_with_missing_columns_empty() -> None:
    """A written record reads back keyed by every declared column, in order, unset ones None."""
    rec = Recorder()
    rec.add("host_events", event="up", time=1.0, host="h", reason="boot")
    rec.write(Placement(time=2.0, vcenter="vc", vm="v", trigger="power_on", needs_key=True,
                        outcome="refused"))  # fmt: skip
    (row,) = rec.tables["host_events"]
    assert tuple(row) == TABLE_COLUMNS["host_events"]
    assert row == {"time": 1.0, "host": "h", "event": "up", "reason": "boot"}
    (placed,) = rec.tables["placements"]
    assert tuple(placed) == TABLE_COLUMNS["placements"]
    assert placed["host"] is None and placed["elapsed_s"] is None and placed["needs_key"] is True


def test_recorder_refuses_an_undeclared_column_and_a_record_is_frozen() -> None:
    """A column the table does not declare is an error naming it; a record cannot change."""
    with pytest.raises(TypeError, match="colour"):
        Recorder().add("refusals", time=1.0, host="h", vm="v", kind="k", reason="r", colour="x")
    record = HostEvent(time=1.0, host="h", event="up", reason="boot")
    with pytest.raises(FrozenInstanceError):
        record.event = "down"  # type: ignore[misc]


def test_every_table_is_declared_by_its_record_type() -> None:
    """Each table's columns are its record type's fields, in order, with their annotations."""
    for name, table in TABLES.items():
        assert table.record is not None and table.record.table == name  # type: ignore[attr-defined]
        assert table.names == tuple(f.name for f in fields(table.record))
    assert TABLES["migrations"].column("elapsed_s").unit == "s"
    assert TABLES["migrations"].column("iterations").type == "int"
    assert TABLES["placements"].column("needs_key").type == "bool"


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
