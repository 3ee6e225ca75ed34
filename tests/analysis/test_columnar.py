"""Columnar results: Parquet and CSV give the same typed frames, Parquet is written
deterministically, and a sweep loads as one table per kind with its factors as columns."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pandas.testing as pdt
import pytest
import yaml

from sim.analysis import results
from sim.analysis.columnar import frame_of
from sim.analysis.tables import TABLES, Column, Table
from sim.runner import simulate, write
from sim.scenario import parse_scenario

SMALL: dict[str, Any] = {
    "name": "columnar",
    "seed": 5,
    "duration": "40m",
    "vcenters": [{"name": "vc-a", "clusters": [{"name": "cl-a", "hosts": 3}]}],
    "vms": {"count": 6},
    "drift": {"scheduled": [{"at": "10m", "host": "esx-02", "kind": "unapproved_vib"}]},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of a small scenario with a drift (so tables hold missing values)."""
    return write(simulate(parse_scenario(SMALL)), tmp_path_factory.mktemp("col") / "run")


def test_parquet_csv_and_memory_give_the_same_typed_frames(run_dir: Path, tmp_path: Path) -> None:
    """load() reads Parquet; without it, the CSV gives identical frames, and so do the
    in-memory rows; quoted empty texts stay '' and empty cells stay missing."""
    from_parquet = results.load(run_dir)
    csv_only = tmp_path / "csv-only"
    shutil.copytree(run_dir, csv_only)
    for p in csv_only.glob("*.parquet"):
        p.unlink()
    from_csv = results.load(csv_only)
    assert set(from_parquet.tables) == set(from_csv.tables) == set(TABLES)
    for name, frame in from_parquet.tables.items():
        pdt.assert_frame_equal(frame, from_csv.tables[name])
        assert frame.attrs["units"] == TABLES[name].units
        for column in TABLES[name].columns:
            if column.type == "float":
                assert frame[column.name].dtype == "float64"
    assert "" in set(from_csv.tables["verdicts"]["reasons"])  # quoted "" in the CSV
    out = simulate(parse_scenario(SMALL))
    memory = frame_of(out.tables["attestations"], TABLES["attestations"])
    pdt.assert_frame_equal(memory, from_parquet.tables["attestations"])


def test_declared_types_with_missing_values() -> None:
    """int with a gap is float64 NaN, bool with a gap is object, text keeps '' apart from None."""
    table = Table(
        "t",
        "test",
        (Column("i", "int", "", ""), Column("b", "bool", "", ""), Column("s", "str", "", "")),
    )
    rows: list[dict[str, Any]] = [
        {"i": 1, "b": True, "s": ""},
        {"i": None, "b": None, "s": None},
        {"i": 3, "b": False, "s": "x"},
    ]
    frame = frame_of(rows, table)
    assert frame["i"].dtype == "float64" and pd.isna(frame["i"][1])
    assert frame["b"].tolist() == [True, None, False]
    assert frame["s"].tolist() == ["", None, "x"]
    full = frame_of([{"i": 1, "b": True, "s": "a"}], table)
    assert (full["i"].dtype, full["b"].dtype) == ("int64", "bool")


def test_parquet_is_byte_identical_for_a_seed(run_dir: Path, tmp_path: Path) -> None:
    """Writing the same run again gives the same Parquet bytes."""
    again = write(simulate(parse_scenario(SMALL)), tmp_path / "again")
    for p in sorted(run_dir.glob("*.parquet")):
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name


def test_load_sweep_gives_one_table_per_kind_with_factors(tmp_path: Path) -> None:
    """Every ok run's rows, led by run, cell, variant, factor levels, replication and seed."""
    from sim.experiments.sweep import run_sweep

    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**SMALL, "drift": {}}), encoding="utf-8")
    spec = {
        "name": "col",
        "base": "s.yaml",
        "until": "20m",
        "factors": {"attestation.interval": ["2m", "5m"]},
        "replications": 2,
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = run_sweep(tmp_path / "sweep.yaml", tmp_path / "out", workers=1, progress=False)
    tables = results.load_sweep(result.path)
    att = tables["attestations"]
    lead = ["run", "cell_id", "variant", "attestation.interval", "replication", "seed"]
    assert att.columns[: len(lead)].tolist() == lead
    assert sorted(set(att["attestation.interval"])) == [120.0, 300.0]
    for row in result.index:
        one = results.load(result.path / row["path"]).tables["attestations"]
        mine = att[att["run"] == row["run"]].drop(columns=lead).reset_index(drop=True)
        pdt.assert_frame_equal(mine, one, check_dtype=False)
        assert (att[att["run"] == row["run"]]["seed"] == row["seed"]).all()
    with pytest.raises(results.RunError, match="not a sweep folder"):
        results.load_sweep(tmp_path)
