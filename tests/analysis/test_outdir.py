"""Checking an output location before a run: what may be replaced, what can be created and
written, free space, and never the current directory; messages name the path as given."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sim.analysis import outdir
from sim.analysis.outdir import prepare_folder, prepare_target
from sim.analysis.results import write_run
from sim.errors import RunError


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_new_target_is_prepared_and_nothing_is_left(tmp_path: Path) -> None:
    """Missing parents are created; the probe leaves no file behind; the target is not
    created yet (the run folder is written atomically later)."""
    target = prepare_target(tmp_path / "a" / "b" / "run")
    assert target == tmp_path / "a" / "b" / "run"
    assert (tmp_path / "a" / "b").is_dir() and not target.exists()
    assert list((tmp_path / "a" / "b").iterdir()) == []


def test_an_existing_file_or_foreign_folder_is_refused(tmp_path: Path) -> None:
    """An existing file, or a folder that is not a run folder, is refused by name."""
    afile = tmp_path / "notes.txt"
    afile.write_text("mine\n", encoding="utf-8")
    with pytest.raises(RunError, match=r"refusing to replace .*notes\.txt: it is not a run"):
        prepare_target(afile)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(RunError, match="it is not a run folder"):
        prepare_target(mine)
    assert afile.read_text(encoding="utf-8") == "mine\n"


def test_a_path_below_a_file_is_refused(tmp_path: Path) -> None:
    """A parent that is a file cannot hold a run folder: refused, naming the given path."""
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    given = str(tmp_path / "afile" / "run")
    with pytest.raises(RunError) as info:
        prepare_target(given)
    assert str(info.value).startswith(f"cannot write the run folder {given}: ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to read-only folders")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    """A folder that cannot be written is refused before the run, naming the given path."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(RunError, match=r"cannot write to .*ro/run: Permission denied"):
            prepare_target(ro / "run")
    finally:
        ro.chmod(0o700)


def test_too_little_free_space_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system with less room than the estimated folder is refused up front."""

    class Usage:
        free = 10 * 2**20

    def usage(path: Any) -> Usage:
        return Usage()

    monkeypatch.setattr(outdir.shutil, "disk_usage", usage)
    with pytest.raises(RunError, match=r"needs about 1\.0 GiB, its file system has 10\.0 MiB"):
        prepare_target(tmp_path / "run", need_bytes=2**30)
    assert prepare_target(tmp_path / "run", need_bytes=2**20) == tmp_path / "run"


@pytest.mark.parametrize("given", [".", "", "..", "./"])
def test_the_current_directory_is_never_a_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """`.`, `""` (the same to the OS) and any folder holding the current directory are
    refused, both before a run and by write_run itself; the folder keeps its inode."""
    here = tmp_path / "empty"
    here.mkdir()
    monkeypatch.chdir(here)
    inode = os.stat(here).st_ino
    with pytest.raises(RunError, match="it is the current directory or holds it"):
        prepare_target(given)
    with pytest.raises(RunError, match="it is the current directory or holds it"):
        write_run(Path(given), scenario_yaml="x: 1\n", manifest={}, summary={}, tables={})
    assert os.stat(here).st_ino == inode and list(here.iterdir()) == []


def test_prepare_folder_names_the_given_path(tmp_path: Path) -> None:
    """A sweep folder that cannot be created is reported with the path as given."""
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    with pytest.raises(RunError, match=r"^cannot write to given/path: "):
        prepare_folder(tmp_path / "afile" / "sweep", "given/path")
    prepare_folder(tmp_path / "sweep", "s")
    assert (tmp_path / "sweep").is_dir() and _hidden(tmp_path / "sweep") == []
