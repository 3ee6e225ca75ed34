"""Tests of the run folder: formats, byte identity, atomic replacement, loading, text summary."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.analysis.results as results
from sim.analysis.cells import parse_csv
from sim.analysis.results import is_complete, load, load_summary, write_run
from sim.analysis.text import format_summary
from sim.errors import RunError

SCENARIO = "seed: 1\nhosts: 4\n"
ROWS = [
    {"t_s": 0.5, "host": "esx-01", "hops": 3, "ok": True, "note": None},
    {"t_s": 1e-07, "host": "esx, 02", "hops": -4, "ok": False, "note": ""},
]


def _write(path: Path, **overrides: Any) -> Path:
    args: dict[str, Any] = {
        "scenario_yaml": SCENARIO,
        "manifest": {"seed": 1, "events": 42, "error": None},
        "summary": {"attestation": {"latency_s": {"p50": 0.2, "p95": 0.6}}, "hosts": 4},
        "tables": {"events": ROWS},
    }
    args.update(overrides)
    return write_run(path, **args)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _csv_records(path: Path) -> list[dict[str, Any]]:
    """The rows of a written CSV table with the Python types its cells encode (the run
    folder's own parser, which a DataFrame's dtypes would blur)."""
    cols, rows = parse_csv(path.read_bytes().decode("utf-8"), str(path))
    return [dict(zip(cols, row, strict=True)) for row in rows]


def test_round_trip_into_dataframes(tmp_path: Path) -> None:
    """A loaded run gives back the scenario text, manifest, summary and tables as DataFrames."""
    folder = _write(tmp_path / "seed-1")
    run = load(folder)
    assert run.path == folder
    assert run.scenario_yaml == SCENARIO
    assert run.manifest == {"seed": 1, "events": 42, "error": None}
    assert run.summary["attestation"]["latency_s"]["p95"] == 0.6
    frame = run.table("events")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["t_s", "host", "hops", "ok", "note"]
    assert frame["t_s"].tolist() == [0.5, 1e-07]
    assert frame["hops"].tolist() == [3, -4]
    assert frame["ok"].tolist() == [True, False]
    assert frame["host"].tolist() == ["esx-01", "esx, 02"]


def test_round_trip_of_the_csv_keeps_types(tmp_path: Path) -> None:
    """A table's CSV file reads back as the rows written, with their Python types."""
    events = _csv_records(_write(tmp_path / "run") / "events.csv")
    assert events == ROWS
    assert [type(v) for v in events[0].values()] == [float, str, int, bool, type(None)]


def test_table_helper_names_the_tables_there_are(tmp_path: Path) -> None:
    """Asking for a missing table raises a KeyError that lists the existing ones."""
    run = load(_write(tmp_path / "run"))
    with pytest.raises(KeyError, match="events"):
        run.table("placements")


CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(st.characters(codec="utf-8"), max_size=12),
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a.hex() == b.hex()
    return type(a) is type(b) and a == b


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(st.characters(codec="utf-8"), max_size=6), min_size=1, max_size=4, unique=True
    ).flatmap(
        lambda cols: st.tuples(
            st.just(cols), st.lists(st.fixed_dictionaries({c: CELLS for c in cols}), max_size=5)
        )
    )
)
def test_any_table_round_trips_exactly(table: tuple[list[str], list[dict[str, Any]]]) -> None:
    """Every cell of every table reads back with its exact type and value (floats bit-exact)."""
    cols, rows = table
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_run(
            Path(tmp) / "run",
            scenario_yaml="",
            manifest={},
            summary={},
            tables={"t": rows},
            columns={"t": cols},
        )
        back = _csv_records(folder / "t.csv")
    assert len(back) == len(rows)
    for got, want in zip(back, rows, strict=True):
        assert list(got) == cols
        assert all(_same(got[c], want[c]) for c in cols), (got, want)


@settings(max_examples=40, deadline=None)
@given(
    st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(st.characters(codec="utf-8")),
        ),
        lambda inner: st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=12,
    )
)
def test_summary_json_round_trips(leaf: Any) -> None:
    """Any nested summary of finite numbers, text, bools and None loads back equal."""
    summary = {"root": leaf}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_run(
            Path(tmp) / "run", scenario_yaml="", manifest={}, summary=summary, tables={}
        )
        assert load_summary(folder) == summary
        assert isinstance(format_summary(summary), str)


def test_empty_tables_keep_their_headers(tmp_path: Path) -> None:
    """A table with no rows still has its header; with no columns at all its file is empty."""
    folder = _write(
        tmp_path / "run",
        tables={"rejections": [], "bare": []},
        columns={"rejections": ["t_s", "host", "reason"]},
    )
    assert (folder / "rejections.csv").read_bytes() == b"t_s,host,reason\n"
    assert (folder / "bare.csv").read_bytes() == b""
    run = load(folder)
    assert list(run.table("rejections").columns) == ["t_s", "host", "reason"]
    assert len(run.table("rejections")) == 0
    assert run.table("bare").empty


def test_column_dicts_and_column_order(tmp_path: Path) -> None:
    """A dict of columns is a table too, and ``columns`` fixes the order of the CSV columns."""
    folder = _write(
        tmp_path / "run",
        tables={"keys": {"host": ["a", "b"], "n": [1, 2]}},
        columns={"keys": ["n", "host"]},
    )
    assert (folder / "keys.csv").read_text() == "n,host\n1,a\n2,b\n"
    assert load(folder).table("keys").to_dict("records") == [
        {"n": 1, "host": "a"},
        {"n": 2, "host": "b"},
    ]


def test_identical_inputs_give_identical_bytes(tmp_path: Path) -> None:
    """Writing the same inputs twice gives byte-identical folders, whatever the dict order."""
    first = _snapshot(_write(tmp_path / "a"))
    shuffled = {"hosts": 4, "attestation": {"latency_s": {"p95": 0.6, "p50": 0.2}}}
    second = _snapshot(_write(tmp_path / "b", summary=shuffled))
    assert first == second
    assert set(first) >= {"scenario.resolved.yaml", "manifest.json", "summary.json", "events.csv"}


def test_exact_file_formats(tmp_path: Path) -> None:
    """JSON is sorted, indented by 2 with a final newline; CSV uses LF, repr floats, bare None."""
    folder = _write(tmp_path / "run", manifest={"seed": 7, "b": [0.1, 1e-07], "a": True})
    assert (folder / "manifest.json").read_text() == (
        '{\n  "a": true,\n  "b": [\n    0.1,\n    1e-07\n  ],\n  "seed": 7\n}\n'
    )
    assert (folder / "events.csv").read_bytes() == (
        b't_s,host,hops,ok,note\n0.5,esx-01,3,true,\n1e-07,"esx, 02",-4,false,""\n'
    )
    assert (folder / "scenario.resolved.yaml").read_text() == SCENARIO


def test_non_finite_floats_and_exceptions_in_json(tmp_path: Path) -> None:
    """NaN and infinities become null in JSON; an exception is recorded by type and message."""
    manifest = {
        "wall_s": float("nan"),
        "limit": float("inf"),
        "error": RunError("kms down"),
        "seed": np.int64(3),
        "rate": np.float64(0.25),
    }
    folder = _write(tmp_path / "run", manifest=manifest)
    text = (folder / "manifest.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "wall_s": None,
        "limit": None,
        "seed": 3,
        "rate": 0.25,
        "error": {"type": "sim.errors.RunError", "message": "kms down"},
    }


def test_csv_quoting_survives_commas_quotes_and_newlines(tmp_path: Path) -> None:
    """Commas, quotes, CR and LF inside cells are quoted so any CSV reader sees the same text."""
    nasty = ["a,b", 'say "hi"', "two\nlines", "cr\rhere", '",\n"', " padded "]
    folder = _write(
        tmp_path / "run", tables={"notes": [{"text": s, "k": i} for i, s in enumerate(nasty)]}
    )
    raw = (folder / "notes.csv").read_bytes().decode()
    parsed = list(csv.reader(io.StringIO(raw, newline="")))
    assert parsed[0] == ["text", "k"]
    assert [row[0] for row in parsed[1:]] == nasty
    assert load(folder).table("notes")["text"].tolist() == nasty


def test_strings_that_look_like_other_values_stay_strings(tmp_path: Path) -> None:
    """Text such as "007", "1.5", "true" or "" is quoted, so it does not load as a number."""
    texts = ["007", "1.5", "true", "", "nan", "-3", "1e+16", "esx-01"]
    folder = _write(tmp_path / "run", tables={"ids": [{"id": s} for s in texts]})
    assert (folder / "ids.csv").read_text().splitlines()[1:] == [
        '"007"',
        '"1.5"',
        '"true"',
        '""',
        '"nan"',
        '"-3"',
        '"1e+16"',
        "esx-01",
    ]
    assert load(folder).table("ids")["id"].tolist() == texts


def test_bad_tables_are_rejected_before_touching_disk(tmp_path: Path) -> None:
    """Ragged rows, unsupported values, unsafe names and stray columns raise; nothing is made."""
    target = tmp_path / "run"
    with pytest.raises(ValueError, match="row 1"):
        _write(target, tables={"t": [{"a": 1}, {"b": 2}]})
    with pytest.raises(TypeError, match="column 'a'"):
        _write(target, tables={"t": [{"a": {1, 2}}]})
    with pytest.raises(ValueError, match="plain file name"):
        _write(target, tables={"../escape": []})
    with pytest.raises(ValueError, match="do not exist"):
        _write(target, columns={"nope": ["a"]})
    with pytest.raises(ValueError, match="different lengths"):
        _write(target, tables={"t": {"a": [1, 2], "b": [1]}})
    with pytest.raises(TypeError, match="not strings"):
        _write(target, summary={1: 2})
    assert list(tmp_path.iterdir()) == []


def _fail_on(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Make ``write_new_file`` raise when it reaches file ``name``; return the names written."""
    real = results.write_new_file
    written: list[str] = []

    def flaky(path: Path, data: bytes) -> None:
        if path.name == name:
            raise OSError(28, "No space left on device")
        real(path, data)
        written.append(path.name)

    monkeypatch.setattr(results, "write_new_file", flaky)
    return written


def test_failure_mid_write_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails halfway leaves neither the target nor a temporary folder behind,
    and its error names the target as given (not the hidden folder it was built in)."""
    written = _fail_on(monkeypatch, "events.csv")
    with pytest.raises(RunError, match=r"cannot write the run folder \S*/seed-1: No space"):
        _write(tmp_path / "seed-1")
    assert written == ["scenario.resolved.yaml", "summary.json"]
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_previous_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When rewriting fails, the earlier complete folder survives byte for byte."""
    target = _write(tmp_path / "seed-1")
    before = _snapshot(target)
    _fail_on(monkeypatch, "manifest.json")
    with pytest.raises(RunError):
        _write(target, summary={"changed": True})
    assert _snapshot(target) == before
    assert _hidden(tmp_path) == []


def test_failed_swap_restores_previous_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If renaming the new folder in fails, the old folder is put back under its name."""
    target = _write(tmp_path / "seed-1")
    before = _snapshot(target)
    real_rename = os.rename

    def rename(src: Any, dst: Any) -> None:
        if ".tmp-" in str(src):
            raise OSError(5, "Input/output error")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(RunError, match="Input/output"):
        _write(target, summary={"changed": True})
    assert _snapshot(target) == before
    assert _hidden(tmp_path) == []


def test_manifest_is_written_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """manifest.json, the mark of a complete folder, is the last file written."""
    written = _fail_on(monkeypatch, "not-a-file-we-write")
    _write(tmp_path / "run", tables={"b": [], "a": []})
    assert written[:2] == ["scenario.resolved.yaml", "summary.json"]
    assert written[-1] == "manifest.json"
    assert {"a.csv", "b.csv"} <= set(written[2:-1])


def test_overwrite_replaces_the_whole_folder(tmp_path: Path) -> None:
    """Rewriting replaces every file: a table that is gone from the new run is gone on disk."""
    target = _write(tmp_path / "seed-1", tables={"old": [], "events": ROWS})
    _write(target, tables={"events": ROWS[:1]})
    assert not (target / "old.csv").exists()
    assert len(load(target).table("events")) == 1
    assert _hidden(tmp_path) == []


def test_overwrite_off_refuses_an_existing_folder(tmp_path: Path) -> None:
    """With overwrite=False an existing folder is an error and stays untouched."""
    target = _write(tmp_path / "seed-1")
    before = _snapshot(target)
    with pytest.raises(RunError, match="exists"):
        _write(target, overwrite=False, summary={})
    assert _snapshot(target) == before


def test_refuses_to_replace_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    """A folder holding other files (a mistyped path) is never replaced."""
    target = tmp_path / "thesis"
    target.mkdir()
    (target / "chapter1.tex").write_text("precious")
    with pytest.raises(RunError, match="not a run folder"):
        _write(target)
    assert (target / "chapter1.tex").read_text() == "precious"
    assert _hidden(tmp_path) == []


def test_incomplete_or_missing_folder_raises_run_error(tmp_path: Path) -> None:
    """A folder without manifest.json, or no folder at all, cannot be loaded."""
    target = _write(tmp_path / "run")
    assert is_complete(target)
    (target / "manifest.json").unlink()
    assert not is_complete(target)
    with pytest.raises(RunError, match=r"incomplete \(missing manifest.json\)"):
        load(target)
    with pytest.raises(RunError, match="incomplete"):
        load_summary(target)
    with pytest.raises(RunError, match="no run folder"):
        load(tmp_path / "never-written")
    assert not is_complete(tmp_path / "never-written")


def test_damaged_files_raise_run_error(tmp_path: Path) -> None:
    """A truncated summary, a damaged Parquet file or (without Parquet) a ragged CSV is
    reported as a RunError naming the file."""
    target = _write(tmp_path / "run")
    (target / "events.parquet").write_bytes(b"PAR1 cut short")
    with pytest.raises(RunError, match=r"events\.parquet"):
        load(target)
    (target / "events.parquet").unlink()
    (target / "events.csv").write_text("a,b\n1\n")
    with pytest.raises(RunError, match=r"events\.csv: row 1 has 1 cells"):
        load(target)
    (target / "summary.json").write_text('{"hosts": ')
    with pytest.raises(RunError, match=r"summary\.json is not valid JSON"):
        load_summary(target)


def test_format_summary_units() -> None:
    """Seconds (in seconds, as their keys say), bytes, rates, fractions (as %) and counts are
    shown with their units."""
    text = format_summary(
        {
            "attestation": {"latency_s": {"p50": 0.2013, "p99": 0.0004, "n": 1200}},
            "lapse": {"mean_s": 95.0, "max_s": 7200.0, "min_s": 12.5},
            "vmotion": {
                "moved_bytes": 3 * 2**30,
                "stream_bytes_per_s": 200 * 2**20,
                "migrations_per_s": 0.5,
                "bytes_transferred": 2**20,
            },
            "key_requests": {"cache_hit_ratio": 0.25},
            "kms": {"utilisation": 0.125, "keys_released_count": 3.0},
            "drifted": True,
            "topology": "separate-sso",
            "first_refusal_s": None,
        }
    )
    lines = dict(line.split(None, 1) for line in text.splitlines())
    assert lines["attestation.latency_s.p50"].strip() == "0.201 s"
    assert lines["attestation.latency_s.p99"].strip() == "0.0004 s"
    assert lines["attestation.latency_s.n"].strip() == "1,200"
    assert lines["lapse.mean_s"].strip() == "95.0 s"
    assert lines["lapse.max_s"].strip() == "7,200 s (2.00 h)"
    assert lines["lapse.min_s"].strip() == "12.5 s"
    assert lines["vmotion.moved_bytes"].strip() == "3.00 GiB"
    assert lines["vmotion.bytes_transferred"].strip() == "1.00 MiB"
    assert lines["key_requests.cache_hit_ratio"].strip() == "25.0 %"
    assert lines["vmotion.stream_bytes_per_s"].strip() == "200 MiB/s"
    assert lines["vmotion.migrations_per_s"].strip() == "0.50 /s"
    assert lines["kms.utilisation"].strip() == "12.5 %"
    assert lines["kms.keys_released_count"].strip() == "3"
    assert lines["drifted"].strip() == "yes"
    assert lines["topology"].strip() == "separate-sso"
    assert lines["first_refusal_s"].strip() == "n/a"


def test_format_summary_aligns_keys_and_numbers() -> None:
    """Keys are left-aligned in one column and numbers right-aligned in the next."""
    text = format_summary({"a_s": 1.5, "much_longer_name_count": 12345, "b_bytes": 10})
    lines = text.splitlines()
    assert [line.split()[0] for line in lines] == ["a_s", "b_bytes", "much_longer_name_count"]
    number_ends = {line.index(line.split()[1]) + len(line.split()[1]) for line in lines}
    assert len(number_ends) == 1
    assert format_summary({}) == "(empty summary)"


def test_a_folder_of_user_csv_files_is_never_replaced(tmp_path: Path) -> None:
    """A folder with only CSV files but no manifest is someone's data: refused, untouched."""
    own = tmp_path / "mydata"
    own.mkdir()
    (own / "measurements.csv").write_text("a,b\n1,2\n")
    with pytest.raises(RunError, match="not a run folder"):
        write_run(own, scenario_yaml="x: 1\n", manifest={"seed": 1}, summary={}, tables={})
    assert (own / "measurements.csv").read_text() == "a,b\n1,2\n"


def test_extra_files_are_written_inside_the_folder(tmp_path: Path) -> None:
    """Extra files land at their relative paths (sub-folders made); a path that leaves the
    folder or replaces a run file is refused before anything is written."""
    folder = _write(tmp_path / "seed-1", extra_files={"evidence/esx-01/quote.msg": b"\x01\x02"})
    assert (folder / "evidence" / "esx-01" / "quote.msg").read_bytes() == b"\x01\x02"
    assert is_complete(folder)
    for bad in ("../escape", "/abs/path", "manifest.json", "summary.json"):
        with pytest.raises(ValueError, match="extra file"):
            _write(tmp_path / "seed-2", extra_files={bad: b""})
        assert not (tmp_path / "seed-2").exists()


def test_a_level_key_takes_the_unit_of_its_parent() -> None:
    """A numeric leaf (a capacity level) is shown in its parent's unit: time at 12 hosts of
    150 s reads as seconds."""
    text = format_summary({"capacity": {"usable_hosts": {"time_at_level_s": {"12": 150.0}}}})
    line = text.splitlines()[0].split(None, 1)
    assert line == ["capacity.usable_hosts.time_at_level_s.12", "150 s (2.50 min)"]
