"""Output locations, interrupts, sweep workers and quote export through the ``vtasim``
command (issue cases 5 and 6): refused before any simulated time is spent, messages naming
the user's path, nothing written half-way, no process left behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from sim.analysis import outdir
from sim.analysis.results import is_complete
from sim.cli import commands, main
from tests.cli.clitools import TINY, assert_clean_refusal, start, vtasim


def _tiny(tmp_path: Path) -> Path:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY, encoding="utf-8")
    return scenario


def _refused_before_running(result: Any, given: str, *words: str) -> None:
    """Exit 2, one error line naming ``given``; the estimate was printed, no summary."""
    assert result.code == 2 and "Traceback" not in result.err, result.err
    (line,) = result.err_lines
    assert line.startswith("vtasim: error: ") and given in line, line
    assert ".tmp-" not in line, line
    for word in words:
        assert word in line, line
    assert result.out.startswith("estimate: ") and "vtasim tiny" not in result.out


# --------------------------------------------------------------------------- case 5


def test_an_existing_file_is_refused_before_the_run(tmp_path: Path) -> None:
    """Case 5: --out naming an existing file (before: reported after the whole run)."""
    afile = tmp_path / "notes.txt"
    afile.write_text("mine\n", encoding="utf-8")
    result = vtasim(["run", str(_tiny(tmp_path)), "--out", str(afile), "--quiet"])
    _refused_before_running(result, str(afile), "it is not a run folder")
    assert afile.read_text(encoding="utf-8") == "mine\n"


def test_an_unwritable_location_is_refused_before_the_run(tmp_path: Path) -> None:
    """Case 5: a location that cannot be created (below a file here; a read-only mount
    alike) is refused before the run, naming the user's path, not a hidden temp folder."""
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    given = str(tmp_path / "afile" / "run")
    result = vtasim(["run", str(_tiny(tmp_path)), "--out", given, "--quiet"])
    _refused_before_running(result, given, "cannot write the run folder")


def test_a_full_disk_is_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 5: a file system without room for the estimated folder is refused before
    anything is simulated."""

    class Usage:
        free = 1024

    monkeypatch.setattr(outdir.shutil, "disk_usage", lambda path: Usage())
    out = tmp_path / "out"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vtasim: error: not enough room for the run folder {out}: ")
    assert not out.exists()


@pytest.mark.slow
def test_a_write_failure_names_the_users_path_and_leaves_nothing(tmp_path: Path) -> None:
    """Case 5: when the disk fills while the folder is written (a file-size limit makes the
    write fail for real), the message names the user's path, and no folder or hidden
    temporary folder is left."""
    given = tmp_path / "out"
    result = vtasim(["run", str(_tiny(tmp_path)), "--out", str(given), "--quiet"], file_size=2048)
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert result.err_lines == [
        f"vtasim: error: cannot write the run folder {given}: File too large"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


@pytest.mark.parametrize("given", [".", ""])
def test_the_current_directory_is_not_replaced(tmp_path: Path, given: str) -> None:
    """Case 5: `--out .` or `--out ""` in an empty folder (before: the folder under the
    user's shell was replaced) is refused; the folder keeps its inode and stays empty."""
    here = tmp_path / "empty"
    here.mkdir()
    inode = os.stat(here).st_ino
    result = vtasim(["run", str(_tiny(tmp_path)), "--out", given, "--quiet"], cwd=here)
    _refused_before_running(result, "'.'", "it is the current directory")
    assert os.stat(here).st_ino == inode and list(here.iterdir()) == []


# --------------------------------------------------------------------------- case 6


def test_interrupt_after_the_folder_was_written_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 6: a Ctrl-C right after the folder was written (before: "no run folder was
    written") says the folder was written, and it is complete."""

    def interrupted(*args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "_report_run", interrupted)
    out = tmp_path / "out"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(out), "--quiet"]) == 130
    assert capsys.readouterr().err == f"vtasim: interrupted; the run folder {out} was written\n"
    assert is_complete(out)


@pytest.mark.slow
def test_interrupt_during_the_run_writes_nothing_and_says_so(tmp_path: Path) -> None:
    """Case 6: SIGINT while simulating exits 130 saying no folder was written, truly."""
    scenario = tmp_path / "day.yaml"
    scenario.write_text(TINY.replace("duration: 30m", "duration: 7d"), encoding="utf-8")
    out = tmp_path / "out"
    proc = start(["run", str(scenario), "--out", str(out), "--quiet"])
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("estimate: ")
    time.sleep(1.0)  # let the simulation start
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.splitlines() == ["vtasim: interrupted; no run folder was written"]
    assert not out.exists() and list(tmp_path.iterdir()) == [scenario]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sweep_workers_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    """Case 6: after `kill -9` of a sweep's parent (before: its workers ran on for good),
    every worker exits by itself."""
    (tmp_path / "base.yaml").write_text(TINY.replace("30m", "30d"), encoding="utf-8")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "name: s\nbase: base.yaml\nfactors: {attestation.interval: [5m, 6m]}\nreplications: 1\n",
        encoding="utf-8",
    )
    proc = start(["sweep", str(sweep), "--workers", "2", "--out", str(tmp_path / "o"), "--quiet"])
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        workers = _children(proc.pid)
    assert len(workers) >= 2, f"the sweep started no workers: {proc.poll()}"
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 60
    while any(_running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [w for w in workers if _running(w)]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert alive == [], "workers outlived their parent"


@pytest.mark.slow
def test_export_quote_refuses_unknown_hosts(tmp_path: Path) -> None:
    """Case 6: `export-quote --host nosuch` (before: succeeded) is refused, and so is a host
    not in the scenario given with --scenario; nothing is written."""
    out = tmp_path / "q"
    base = ["export-quote", "--nonce", "00ff", "--out", str(out)]
    result = vtasim([*base, "--seed", "1", "--host", "nosuch"])
    assert_clean_refusal(result, "vtasim export-quote", "--host", "such as esx-01", "'nosuch'")
    result = vtasim([*base, "--scenario", str(_tiny(tmp_path)), "--host", "esx-03"])
    assert_clean_refusal(result, str(tmp_path / "tiny.yaml"), "--host", "no host 'esx-03'")
    assert not out.exists()


@pytest.mark.slow
def test_export_quote_on_a_full_disk_leaves_no_empty_or_cut_file(tmp_path: Path) -> None:
    """Case 6: when writing fails part-way (before: a 0-byte or cut-off file), no quote file
    is left and the message names the folder."""
    out = tmp_path / "q"
    args = ["export-quote", "--seed", "1", "--host", "esx-01", "--nonce", "00ff", "--out", str(out)]
    result = vtasim(args, file_size=1024)
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert result.err_lines == [
        f"vtasim: error: cannot write the quote files to {out}: File too large "
        "(none of them written)"
    ]
    assert list(out.iterdir()) == []
    ok = vtasim([*args, "--scenario", str(_tiny(tmp_path))])
    assert ok.code == 0, ok.err
    assert json.loads((out / "pcrs.json").read_text(encoding="utf-8"))["sha256"]
