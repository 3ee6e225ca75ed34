"""Results are never silently replaced or clobbered: a run with overrides has its own
folder, a folder of another scenario or sweep is refused without ``--force``, a sweep
folder is locked while written and records its ``--set``, a damaged kept run is redone,
export-quote writes all its files or none, and temporaries never follow planted links."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from sim.analysis.folder_io import write_file_atomic
from sim.analysis.outdir import prepare_folder
from sim.scenario.yaml_safe import load_yaml_file
from tests.cli.clitools import TINY, vtasim

SWEEP = {"name": "sw", "base": "s.yaml", "seed": 1, "replications": 1}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_run_with_overrides_gets_its_own_default_folder(tmp_path: Path) -> None:
    """``run X --set a=b`` writes beside the plain run of X, never over it."""
    _write(tmp_path / "s.yaml", TINY)
    plain = vtasim(["run", "s.yaml", "-q"], cwd=tmp_path)
    assert plain.code == 0, plain.err
    changed = vtasim(["run", "s.yaml", "-q", "--set", "attestation.interval=2m"], cwd=tmp_path)
    assert changed.code == 0, changed.err
    folders = sorted(p.name for p in (tmp_path / "results" / "tiny").iterdir())
    assert folders[0] == "seed-3" and len(folders) == 2
    assert folders[1].startswith("seed-3-set-")
    again = vtasim(["run", "s.yaml", "-q", "--set", "attestation.interval=2m"], cwd=tmp_path)
    assert again.code == 0, again.err  # the same run again may replace its own folder


@pytest.mark.slow
def test_replacing_a_run_of_another_scenario_needs_force(tmp_path: Path) -> None:
    """``--out`` naming the folder of another scenario's run is refused, naming --force."""
    _write(tmp_path / "a.yaml", TINY)
    _write(tmp_path / "b.yaml", TINY.replace("name: tiny", "name: other"))
    out = str(tmp_path / "run")
    assert vtasim(["run", "a.yaml", "-q", "--out", out], cwd=tmp_path).code == 0
    refused = vtasim(["run", "b.yaml", "-q", "--out", out], cwd=tmp_path)
    assert refused.code == 2 and "Traceback" not in refused.err
    assert refused.err_lines == [
        f"b.yaml: --out: {out} holds a run of another scenario (its run/scenario.resolved.yaml "
        "differs); pass --force to replace it"
    ]
    assert vtasim(["run", "b.yaml", "-q", "--out", out, "--force"], cwd=tmp_path).code == 0


@pytest.mark.slow
def test_a_sweep_refuses_a_folder_that_is_not_its_own(tmp_path: Path) -> None:
    """``sweep --out`` naming the current folder, a run folder, or the folder of another
    sweep is refused; the same sweep resumes there; --force takes another's over. The
    folder records the --set given."""
    _write(tmp_path / "s.yaml", TINY)
    _write(tmp_path / "sw.yaml", json.dumps(SWEEP))
    _write(tmp_path / "index.csv", "mine\n")
    here = vtasim(["sweep", "sw.yaml", "-q", "--out", "."], cwd=tmp_path)
    assert here.code == 2 and "not a sweep folder" in here.err, here.err
    assert (tmp_path / "index.csv").read_text(encoding="utf-8") == "mine\n"
    _write(tmp_path / "run" / "manifest.json", "{}")
    in_run = vtasim(["sweep", "sw.yaml", "-q", "--out", "run"], cwd=tmp_path)
    assert in_run.code == 2 and "holds manifest.json" in in_run.err, in_run.err
    first = vtasim(["sweep", "sw.yaml", "-q", "--out", "out", "--set", "vms.count=5"], cwd=tmp_path)
    assert first.code == 0, first.err
    recorded = load_yaml_file(tmp_path / "out" / "sweep.resolved.yaml")
    assert recorded["set"] == {"vms.count": 5}
    index = (tmp_path / "out" / "index.csv").read_bytes()
    other = vtasim(["sweep", "sw.yaml", "-q", "--out", "out"], cwd=tmp_path)  # no --set
    assert other.code == 2 and "holds another sweep" in other.err, other.err
    assert (tmp_path / "out" / "index.csv").read_bytes() == index
    same = vtasim(["sweep", "sw.yaml", "-q", "--out", "out", "--set", "vms.count=5"], cwd=tmp_path)
    assert same.code == 0, same.err
    forced = vtasim(["sweep", "sw.yaml", "-q", "--out", "out", "--force"], cwd=tmp_path)
    assert forced.code == 0, forced.err
    assert load_yaml_file(tmp_path / "out" / "sweep.resolved.yaml")["set"] == {}


def test_a_locked_sweep_folder_is_refused(tmp_path: Path) -> None:
    """While a sweep holds the folder's lock a second sweep into it is refused."""
    _write(tmp_path / "s.yaml", TINY)
    _write(tmp_path / "sw.yaml", json.dumps(SWEEP))
    (tmp_path / "out").mkdir()
    fd = os.open(tmp_path / "out" / ".vtasim-sweep.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = vtasim(["sweep", "sw.yaml", "-q", "--out", "out"], cwd=tmp_path)
    finally:
        os.close(fd)
    assert result.code == 2 and "another sweep is writing into out" in result.err, result.err
    assert not (tmp_path / "out" / "index.csv").exists()


@pytest.mark.slow
def test_resume_redoes_a_run_with_a_truncated_table(tmp_path: Path) -> None:
    """A kept run whose table was truncated is redone on resume, with a warning saying so,
    and its table is whole again afterwards."""
    _write(tmp_path / "s.yaml", TINY)
    _write(tmp_path / "sw.yaml", json.dumps(SWEEP))
    assert vtasim(["sweep", "sw.yaml", "-q", "--out", "out"], cwd=tmp_path).code == 0
    (table,) = (tmp_path / "out" / "runs").glob("*/rep-0/attestations.csv")
    whole = table.read_bytes()
    table.write_bytes(whole[: len(whole) // 2])
    again = vtasim(["sweep", "sw.yaml", "--out", "out"], cwd=tmp_path)
    assert again.code == 0, again.err
    assert "redoing the run" in again.err and "attestations.csv" in again.err
    assert table.read_bytes() == whole
    quiet = vtasim(["sweep", "sw.yaml", "--out", "out"], cwd=tmp_path)
    assert quiet.code == 0 and "redoing" not in quiet.err


def test_export_quote_writes_all_its_files_or_none(tmp_path: Path) -> None:
    """With a folder in the way of one file, export-quote fails and writes no file."""
    out = tmp_path / "q"
    (out / "quote.sig").mkdir(parents=True)
    args = ["export-quote", "--seed", "1", "--host", "esx-01", "--nonce", "00ff", "--out", str(out)]
    result = vtasim(args)
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert "none of them written" in result.err
    assert sorted(p.name for p in out.iterdir()) == ["quote.sig"]


def test_temporaries_never_follow_planted_links(tmp_path: Path) -> None:
    """Links planted at the old guessable temporary names (the write probe's and a
    report's) are left alone and the files they point to are not touched."""
    victim = _write(tmp_path / "victim.txt", "precious\n")
    folder = tmp_path / "out"
    folder.mkdir()
    os.symlink(victim, folder / f".vtasim-probe-{os.getpid()}")
    os.symlink(victim, folder / f".r.html.tmp-{os.getpid()}")
    prepare_folder(folder, "out")
    write_file_atomic(folder / "r.html", b"<p>page</p>")
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert (folder / "r.html").read_bytes() == b"<p>page</p>"
    assert os.path.islink(folder / f".vtasim-probe-{os.getpid()}")


def test_calibrate_checks_its_out_before_measuring(tmp_path: Path) -> None:
    """``calibrate --out`` naming a folder is refused at once, before any measurement."""
    result = vtasim(["calibrate", "tpm", "--out", str(tmp_path)])
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert result.err_lines == [f"vtasim: error: cannot write {tmp_path}: it is a folder"]


@pytest.mark.parametrize("value", ["1" + "0" * 400 + "s", "1e999s", "9" * 5000])
def test_huge_numbers_in_unit_fields_name_the_field(tmp_path: Path, value: str) -> None:
    """A 400-digit or 5,000-digit number and 1e999 in a duration give one line naming the
    field (before: an OverflowError traceback, or Python's own digit-limit message)."""
    scenario = _write(tmp_path / "s.yaml", TINY + f"attestation: {{interval: {value}}}\n")
    result = vtasim(["validate", str(scenario)])
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert len(result.err_lines) == 1
    assert result.err_lines[0].startswith(f"{scenario}: attestation.interval")
