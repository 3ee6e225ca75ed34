"""The ``vtasim`` command: exit codes, one-line problems without tracebacks, the schema, and
run folders that are complete and reproducible byte for byte."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

import sim
from sim.analysis.results import is_complete
from sim.analysis.tables import TABLE_COLUMNS
from sim.cli import main
from sim.scenario import load_scenario, scenario_json_schema
from tests.cli.clitools import TINY
from tests.conftest import ROOT

BASELINE = ROOT / "scenarios" / "baseline.yaml"


BAD = """\
name: bad
attestation:
  intervall: 5m
  interval: 5 minutes
vcenters:
  - name: vc-a
    clusters:
      - {name: cl-a, hosts: 2}
"""


def _main(argv: Sequence[str]) -> int:
    """Run the CLI in-process; argparse's SystemExit becomes the returned code."""
    try:
        return main(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _vtasim() -> str:
    beside = Path(sys.executable).with_name("vtasim")
    found = str(beside) if beside.exists() else shutil.which("vtasim")
    if found is None:
        pytest.skip("the vtasim console script is not installed (pip install -e .)")
    return found


def _manifest_without_wall_time(folder: Path) -> dict[str, Any]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert isinstance(manifest.pop("wall_time_s"), float)
    return dict(manifest)


def _assert_same_run(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name != "manifest.json":
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert _manifest_without_wall_time(a) == _manifest_without_wall_time(b)


# --------------------------------------------------------------------------- version & schema


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version and exits 0."""
    assert _main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vtasim {sim.__version__}"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Calling vtasim without a command exits 2 with a one-line error."""
    assert _main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vtasim: error: the following arguments are required: command"]


def test_schema_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`schema` prints the scenario JSON Schema, and --out writes the same text to a file."""
    assert _main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed) == json.loads(json.dumps(scenario_json_schema()))
    assert json.loads(printed)["title"] == "vtasim scenario"
    out = tmp_path / "schema.json"
    assert _main(["schema", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == printed


# --------------------------------------------------------------------------- validate


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    """`validate` on the baseline exits 0 and prints a one-line summary of the estate and
    the run's size estimate."""
    assert _main(["validate", str(BASELINE)]) == 0
    captured = capsys.readouterr()
    ok, estimate = captured.out.splitlines()
    assert ok == f"{BASELINE}: ok (baseline: 1 workload vCenter(s), 16 trusted hosts, 200 VMs)"
    assert re.fullmatch(
        r"  estimate: 24h simulated, 16 hosts, 200 VMs: about 4,5\d\d attestations, "
        r"\S+ events, \S+ MiB memory, \S+ MiB run folder",
        estimate,
    ), estimate
    assert captured.err == ""


def test_validate_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad scenario exits 2 with one `FILE: path.to.field: message` line per problem."""
    bad = _write(tmp_path, "bad.yaml", BAD)
    assert _main(["validate", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 2
    pattern = re.compile(rf"^{re.escape(str(bad))}: [a-z_][a-z_0-9.]*: \S.*$")
    assert all(pattern.match(line) for line in lines), lines
    assert (
        f"{bad}: attestation.intervall: unknown key (not part of the scenario format); "
        "did you mean 'interval'?"
    ) in lines
    (interval,) = [x for x in lines if x.startswith(f"{bad}: attestation.interval: ")]
    assert "a duration takes d, h, m, s, ms, us" in interval
    assert "Traceback" not in captured.err


def test_validate_reports_each_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Several files are all checked; one bad or missing file makes the exit code 2."""
    good = _write(tmp_path, "tiny.yaml", TINY)
    bad = _write(tmp_path, "bad.yaml", BAD)
    missing = tmp_path / "missing.yaml"
    assert _main(["validate", str(bad), str(missing), str(good)]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == (
        f"{good}: ok (tiny: 1 workload vCenter(s), 2 trusted hosts, 4 VMs)"
    )
    assert sum(line.startswith(f"{bad}: ") for line in captured.err.splitlines()) == 2
    assert f"{missing}: cannot read {missing}: No such file or directory" in captured.err


def test_validate_malformed_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Malformed YAML exits 2 with one line naming the file and the line of the error."""
    path = _write(tmp_path, "broken.yaml", "name: x\nseed: 1\nattestation:\n\tinterval: 5m\n")
    assert _main(["validate", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{path}: ")
    assert "malformed YAML at line 4" in line


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file exits 2 with a one-line error."""
    path = tmp_path / "nope.yaml"
    assert _main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"{path}: cannot read {path}: No such file or directory\n"


def test_console_script_validate_has_no_traceback(tmp_path: Path) -> None:
    """The installed `vtasim` script reports its version, and bad files without a traceback."""
    exe = _vtasim()
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0
    assert version.stdout.strip() == f"vtasim {sim.__version__}"
    bad = _write(tmp_path, "bad.yaml", BAD)
    missing = tmp_path / "missing.yaml"
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    proc = subprocess.run(
        [exe, "validate", str(bad), str(missing), str(latin)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert sum(line.startswith(f"{bad}: attestation.") for line in lines) == 2
    assert any(line.startswith(f"{missing}: cannot read") for line in lines)
    assert lines[-1].startswith((f"{latin}: ", "vtasim: error: ")), lines[-1]
    assert len(lines) == 4


# --------------------------------------------------------------------------- export-quote


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--seed", "x", "--nonce", "00"], "--seed"),
        (["--seed", "-1", "--nonce", "00"], "--seed"),
        (["--seed", str(2**63), "--nonce", "00"], "--seed"),
        (["--seed", "1", "--nonce", "zz"], "--nonce"),
        (["--seed", "1", "--nonce", "abc"], "--nonce"),
        (["--seed", "1", "--nonce", ""], "--nonce"),
        (["--seed", "1", "--nonce", "00" * 65], "--nonce"),
        (["--seed", "1", "--nonce", "00", "--pcrs", "24"], "--pcrs"),
        (["--seed", "1", "--nonce", "00", "--pcrs", "0,x"], "--pcrs"),
        (["--seed", "1", "--nonce", "00", "--pcrs", ","], "--pcrs"),
    ],
    ids=[
        "seed-text",
        "seed-negative",
        "seed-too-big",
        "nonce-not-hex",
        "nonce-odd",
        "nonce-empty",
        "nonce-too-long",
        "pcr-24",
        "pcr-text",
        "pcr-none",
    ],
)
def test_export_quote_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    """A bad seed, nonce or PCR list exits 2 with one error line and writes nothing."""
    out = tmp_path / "quote"
    assert _main(["export-quote", "--host", "esx-01", "--out", str(out), *args]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"vtasim export-quote: error: argument {option}: expected ")
    assert captured.out == ""
    assert not out.exists()


def test_export_quote_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """export-quote lists the files it wrote and prints a tpm2_checkquote command for them."""
    out = tmp_path / "quote"
    assert (
        _main(
            [
                "export-quote",
                "--seed",
                "1",
                "--host",
                "esx-01",
                "--nonce",
                "c0ffee",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    written = [Path(x) for x in lines[:-1]]
    assert {p.name for p in written} == {
        "ak.pub.pem",
        "quote.msg",
        "quote.sig",
        "pcrs.bin",
        "pcrs.json",
        "eventlog.json",
        "eventlog.bin",
        "ek.crt.pem",
        "tpm-ca.crt.pem",
        "ek.pub",
        "ak.pub",
        "ak.name",
    }
    assert all(p.is_file() and p.parent == out for p in written)
    assert lines[-1].startswith("check with: tpm2_checkquote ")
    assert " -q c0ffee " in lines[-1]
    assert f"-f {out / 'pcrs.bin'}" in lines[-1]


# --------------------------------------------------------------------------- run


def _run(tmp_path: Path, out: Path, *extra: str) -> int:
    scenario = tmp_path / "tiny.yaml"
    if not scenario.exists():
        scenario.write_text(TINY, encoding="utf-8")
    return _main(["run", str(scenario), "--out", str(out), "--quiet", *extra])


def test_run_writes_complete_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`run --out` writes manifest, summary, resolved scenario and every table, and prints a
    summary naming the folder."""
    out = tmp_path / "run"
    assert _run(tmp_path, out) == 0
    assert is_complete(out)
    names = {p.name for p in out.iterdir()}
    assert {"manifest.json", "summary.json", "scenario.resolved.yaml"} <= names
    assert {f"{t}.csv" for t in TABLE_COLUMNS} <= names
    for table, columns in TABLE_COLUMNS.items():
        with (out / f"{table}.csv").open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        assert tuple(header) == columns, table

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["scenario"], manifest["seed"], manifest["exception"]) == ("tiny", 3, None)
    assert manifest["sim_time_s"] == 1800.0
    assert manifest["events"] > 0
    assert manifest["versions"]["vtasim"] == sim.__version__

    resolved = load_scenario(out / "scenario.resolved.yaml")
    assert resolved == load_scenario(tmp_path / "tiny.yaml")

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    with (out / "attestations.csv").open(newline="", encoding="utf-8") as fh:
        attestations = list(csv.DictReader(fh))
    assert summary["attestation"]["requests"] == len(attestations) > 0
    assert {row["host"] for row in attestations} == {"esx-01", "esx-02"}

    stdout = capsys.readouterr().out
    estimate, stdout = stdout.split("\n", 1)
    assert estimate.startswith("estimate: 30m simulated, 2 hosts, 4 VMs: about ")
    assert stdout.startswith("vtasim tiny  seed 3  simulated 1800 s  events ")
    assert re.search(r"^attestation\.requests\s+" + str(len(attestations)) + "$", stdout, re.M)
    assert stdout.rstrip().endswith(f"run folder: {out}")


def test_run_json_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`run --json` prints exactly the summary that summary.json holds."""
    out = tmp_path / "run"
    assert _run(tmp_path, out, "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_run_is_reproducible(tmp_path: Path) -> None:
    """Two runs of one seed give byte-identical folders except the manifest's wall time,
    and another seed gives different results."""
    assert _run(tmp_path, tmp_path / "a", "--seed", "7") == 0
    assert _run(tmp_path, tmp_path / "b", "--seed", "7") == 0
    _assert_same_run(tmp_path / "a", tmp_path / "b")
    assert _manifest_without_wall_time(tmp_path / "a")["seed"] == 7
    assert "seed: 7\n" in (tmp_path / "a" / "scenario.resolved.yaml").read_text(encoding="utf-8")
    assert _run(tmp_path, tmp_path / "c", "--seed", "8") == 0
    assert (tmp_path / "a" / "attestations.csv").read_bytes() != (
        tmp_path / "c" / "attestations.csv"
    ).read_bytes()


@pytest.mark.slow
def test_console_script_run_matches_in_process_run(tmp_path: Path) -> None:
    """The `vtasim` script in a fresh process (another hash seed) writes the same folder as
    an in-process run."""
    exe = _vtasim()
    assert _run(tmp_path, tmp_path / "inproc") == 0
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run(
        [exe, "run", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "script"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    _assert_same_run(tmp_path / "inproc", tmp_path / "script")


def test_run_until_stops_early(tmp_path: Path) -> None:
    """`--until 10m` stops the simulation at 600 s and records that as the run's duration."""
    out = tmp_path / "run"
    assert _run(tmp_path, out, "--until", "10m") == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sim_time_s"] == 600.0
    assert yaml.safe_load((out / "scenario.resolved.yaml").read_text())["duration"] == "10m"
    with (out / "attestations.csv").open(newline="", encoding="utf-8") as fh:
        times = [float(row["requested_at"]) for row in csv.DictReader(fh)]
    assert times and max(times) <= 600.0


def test_run_bad_until(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed --until exits 2 before anything is simulated or written."""
    out = tmp_path / "run"
    assert _run(tmp_path, out, "--until", "soon") == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("vtasim run: error: argument --until: ")
    assert not out.exists()


def test_run_bad_scenario_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` of an invalid scenario exits 2 with its problems and writes no folder."""
    bad = _write(tmp_path, "bad.yaml", BAD)
    out = tmp_path / "run"
    assert _main(["run", str(bad), "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{bad}: attestation.") for line in lines)
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.yaml"]
