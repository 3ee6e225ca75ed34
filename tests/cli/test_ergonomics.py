"""The researcher's commands: --set, validate on sweep files, sweep --dry-run, schema --sweep,
metrics, compare, report, logging options, shell completion and a light start-up."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sim.analysis.catalogue import CATALOGUE
from sim.cli import main
from sim.cli.analysis import bash_completion
from sim.cli.parser import PLOT_KINDS
from tests.cli.clitools import TINY, env

SWEEP = {
    "name": "ergo",
    "base": "tiny.yaml",
    "seed": 2,
    "factors": {"attestation.interval": ["2m", "5m"]},
    "variants": {"a": {}, "b": {"overrides": {"kms.servers": 2}}},
    "replications": 2,
}


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A folder with the tiny scenario and a 4-cell sweep over it."""
    (tmp_path / "tiny.yaml").write_text(TINY, encoding="utf-8")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(SWEEP), encoding="utf-8")
    return tmp_path


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 4-cell sweep of two replications (run in-process)."""
    base = tmp_path_factory.mktemp("ergo")
    (base / "tiny.yaml").write_text(TINY, encoding="utf-8")
    (base / "sweep.yaml").write_text(yaml.safe_dump(SWEEP), encoding="utf-8")
    from sim.experiments.sweep import run_sweep

    result = run_sweep(base / "sweep.yaml", base / "out", workers=1, progress=False)
    assert not result.failed
    return result.path


def test_set_overrides_a_field_and_names_the_path_of_a_bad_value(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--set values are YAML, validated like the file; a bad one is refused at its path."""
    out = folder / "run"
    args = ["--set", "attestation.interval=2m", "--set", "vms.count=6"]
    code = main(["run", str(folder / "tiny.yaml"), *args, "--out", str(out), "-q"])
    assert code == 0
    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text())
    assert resolved["attestation"]["interval"] == "2m" and resolved["vms"]["count"] == 6
    capsys.readouterr()
    assert main(["validate", str(folder / "tiny.yaml"), "--set", "kms.servers=many"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{folder / 'tiny.yaml'}: kms.servers: expected an integer")
    assert main(["validate", str(folder / "tiny.yaml"), "--set", "kms"]) == 2
    assert "--set: expected PATH=VALUE" in capsys.readouterr().err


def test_validate_checks_every_cell_of_a_sweep_file(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A valid sweep file validates (no misleading scenario errors); a bad level is named
    with its cell; --set applies to every cell."""
    assert main(["validate", str(folder / "sweep.yaml")]) == 0
    assert "ok (sweep ergo: 4 cells, each valid)" in capsys.readouterr().out
    bad = {**SWEEP, "factors": {"attestation.interval": ["2m", "-1m"]}}
    (folder / "bad.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    assert main(["validate", str(folder / "bad.yaml")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2  # the bad level in each of the two variants
    assert "[attestation.interval='-1m']: attestation.interval:" in lines[0]
    assert main(["validate", str(folder / "sweep.yaml"), "--set", "vms.count=-1"]) == 2
    assert "vms.count" in capsys.readouterr().err


def test_sweep_dry_run_lists_cells_and_runs_nothing(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run prints one line per cell and the run count, and writes no folder."""
    out = folder / "out"
    assert main(["sweep", str(folder / "sweep.yaml"), "--dry-run", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines[-1].startswith("sweep ergo: 4 cells x 2 replications = 8 runs")
    assert "[a] attestation.interval=2m" in lines[0]
    assert not out.exists()


def test_schema_sweep_and_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    """schema --sweep prints the sweep format; every field of it has a description."""
    assert main(["schema", "--sweep"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "vtasim sweep"
    assert {"base", "factors", "variants", "replications"} <= set(schema["properties"])
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name


def test_metrics_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    """vtasim metrics prints every catalogue key; a prefix filters; an unknown one is exit 2."""
    assert main(["metrics"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(CATALOGUE)
    assert main(["metrics", "vmotion.duration_s"]) == 0
    lines = capsys.readouterr().out.splitlines()
    stats = ("count", "mean", "p50", "p95", "p99", "max")
    assert [ln.split()[0] for ln in lines] == [f"vmotion.duration_s.{s}" for s in stats]
    assert main(["metrics", "nosuch"]) == 2


def test_compare_two_runs_and_two_sweep_cells(
    sweep_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs: values and B - A; two cells (own seeds): means with a Welch CI."""
    cells = sorted(p for p in (sweep_dir / "runs").iterdir())
    a, b = cells[0] / "rep-0", cells[1] / "rep-0"
    assert main(["compare", str(a), str(b), "--full"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = next(ln for ln in out if ln.startswith("attestation.requests "))
    va = json.loads((a / "summary.json").read_text())["attestation"]["requests"]
    vb = json.loads((b / "summary.json").read_text())["attestation"]["requests"]
    assert row.split()[1:4] == [f"{va:,}", f"{vb:,}", f"{vb - va:+,d}" if vb != va else "0"]
    assert main(["compare", str(cells[0]), str(cells[1])]) == 0
    text = capsys.readouterr().out
    assert "test: Welch t" in text and "95% CI" in text
    assert main(["compare", str(a), str(sweep_dir)]) == 2


@pytest.mark.slow
def test_report_is_one_self_contained_html_page(
    sweep_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sweep's report embeds every figure as a data URI and links nothing outside."""
    assert main(["report", str(sweep_dir)]) == 0
    page = (sweep_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Cell means" in page
    assert page.count('src="data:image/png;base64,') >= 3
    assert "http" not in page.replace("http-equiv", "")
    run = next((sweep_dir / "runs").iterdir()) / "rep-0"
    out = sweep_dir / "run.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    text = out.read_text()
    assert "Headline figures" in text and text.count("data:image/png;base64,") == 3


def test_verbose_and_quiet_set_the_log_level() -> None:
    """-v logs what is done, -vv details, -q errors only, before or after the command."""
    for argv, level in (
        (["metrics", "drift.events"], logging.WARNING),
        (["-v", "metrics", "drift.events"], logging.INFO),
        (["metrics", "drift.events", "-vv"], logging.DEBUG),
        (["-q", "metrics", "drift.events"], logging.ERROR),
        (["metrics", "drift.events", "--quiet"], logging.ERROR),
    ):
        assert main(argv) == 0
        assert logging.getLogger("sim").level == level, argv


def test_bash_completion_completes_commands_options_and_choices(tmp_path: Path) -> None:
    """The generated script, sourced in bash, completes subcommands, their options and the
    plot kinds; the kinds are those of sim.plots."""
    from sim.plots import KINDS

    assert tuple(KINDS) == PLOT_KINDS
    script = tmp_path / "vtasim.bash"
    script.write_text(bash_completion(), encoding="utf-8")
    probe = (
        f"source {script}\n"
        'c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vtasim; echo "${COMPREPLY[*]}"; }\n'
        "c vtasim com\nc vtasim -v swe\nc vtasim sweep x --dr\nc vtasim plot d --kind lat\n"
    )
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "compare completion",
        "sweep",
        "--dry-run",
        "latency-cdf latency-percentiles",
    ]


def test_cli_start_up_imports_no_heavy_module() -> None:
    """`vtasim --version`/`--help` stay fast: importing sim.cli and parsing loads none of
    SciPy, pandas, matplotlib, SimPy, pydantic, numpy or networkx."""
    code = (
        "import sys, sim.cli\n"
        "from sim.cli.parser import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = ('scipy', 'pandas', 'matplotlib', 'simpy', 'pydantic', 'numpy', 'networkx',"
        " 'pyarrow', 'cryptography', 'yaml')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env()
    )
    assert out.stdout.strip() == "[]"
