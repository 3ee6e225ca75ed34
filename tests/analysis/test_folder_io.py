"""Tests for the time and size bounds of reading folder files back."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from sim.analysis import folder_io, results
from sim.errors import RunError


def _slow_clock(monkeypatch: pytest.MonkeyPatch, step: float) -> None:
    """Make every look at the clock ``step`` seconds later than the one before: a file
    that takes ``step`` seconds per block or batch of lines, without waiting."""
    ticks = itertools.count()
    monkeypatch.setattr(folder_io, "_now", lambda: next(ticks) * step)


def test_a_slow_file_is_refused_after_the_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5-block file read at 10 s a block against a 25 s limit is refused after the third
    block (clock 0 at the start, then 10, 20, 30 > 25), naming the file and the limit."""
    path = tmp_path / "summary.json"
    path.write_bytes(b" " * (5 * folder_io.READ_BLOCK) + b"{}")
    monkeypatch.setattr(folder_io, "MAX_READ_SECONDS", 25.0)
    _slow_clock(monkeypatch, 10.0)
    with pytest.raises(
        RunError, match=r"summary\.json: reading it took longer than the limit of 25 s"
    ):
        folder_io.read_json(path)
    blocks = []
    _slow_clock(monkeypatch, 10.0)
    with path.open("rb") as handle, pytest.raises(RunError):
        for block in folder_io.read_blocks(handle, path, 10**9):
            blocks.append(block)
    assert len(blocks) == 2  # the third block is read but refused (30 s > 25 s)


def test_a_file_read_within_the_time_limit_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same file at 4 s a block (at most 24 s for 6 blocks) is read whole."""
    path = tmp_path / "summary.json"
    path.write_bytes(b" " * (5 * folder_io.READ_BLOCK) + b'{"a": 1}')
    monkeypatch.setattr(folder_io, "MAX_READ_SECONDS", 25.0)
    _slow_clock(monkeypatch, 4.0)
    assert folder_io.read_json(path) == {"a": 1}


def test_a_slow_csv_table_is_refused_and_so_is_a_slow_integrity_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV table of 5,000 rows at 10 s per 1,024 lines (a look at the clock each, from the
    start, about 50 s in all) against a 25 s limit is refused by the table reader and by
    the resume check."""
    folder = results.write_run(
        tmp_path / "run",
        scenario_yaml="x: 1\n",
        manifest={},
        summary={},
        tables={"t": [{"a": i, "b": f"x{i}"} for i in range(5000)]},
    )
    monkeypatch.setattr(folder_io, "MAX_READ_SECONDS", 25.0)
    _slow_clock(monkeypatch, 10.0)
    with pytest.raises(RunError, match=r"t\.csv: reading it took longer than the limit of 25 s"):
        results.read_table(folder / "t.csv")
    monkeypatch.setattr(folder_io, "READ_BLOCK", 1024)  # the CSV is ~40 KiB: 40 blocks
    _slow_clock(monkeypatch, 10.0)
    damage = folder_io.damage(folder)
    assert damage is not None and "took longer than the limit of 25 s" in damage
    monkeypatch.setattr(folder_io, "MAX_READ_SECONDS", 1e9)
    assert folder_io.damage(folder) is None
    assert len(results.read_table(folder / "t.csv")) == 5000


def test_a_file_growing_past_its_limit_while_read_is_refused(tmp_path: Path) -> None:
    """The size is checked at the open and again on the bytes read (a file that grows
    meanwhile): reading 3 blocks against a limit of 2 blocks is refused."""
    path = tmp_path / "t.csv"
    path.write_bytes(b"a\n" * (3 * folder_io.READ_BLOCK // 2))
    with path.open("rb") as handle, pytest.raises(RunError, match=r"larger than the limit"):
        list(folder_io.read_blocks(handle, path, 2 * folder_io.READ_BLOCK))
    with path.open("rb") as handle, pytest.raises(RunError, match=r"larger than the limit"):
        list(folder_io.read_lines(handle, path, 2 * folder_io.READ_BLOCK))
