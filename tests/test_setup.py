"""Setting up as the README says (issue case 1): the set-up commands create and use a
virtual environment (Debian refuses `pip install` outside one, PEP 668), `.ci/run` runs
them exactly as written, the base install has what the README's Python API snippet needs,
and the test extra has what the interoperability tests need."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.clitools import env
from tests.conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _blocks(text: str, lang: str) -> list[str]:
    return [b.strip() for b in re.findall(rf"```{lang}\n(.*?)```", text, re.S)]


def test_set_up_commands_use_a_virtual_environment() -> None:
    """Both set-up commands create and activate .venv before pip installs anything."""
    commands = _blocks(_section("Set up"), "sh")
    assert len(commands) == 2
    first, tests = commands
    prefix = "python3 -m venv .venv && . .venv/bin/activate && pip install -e "
    assert first == prefix + ". && vtasim run scenarios/baseline.yaml"
    assert tests == prefix + "'.[test]' && pytest -n 2"


def test_ci_runs_the_readme_commands_as_written() -> None:
    """.ci/run installs python3-venv and runs both README commands verbatim, the main job
    before the tests."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [x.strip() for x in ci.splitlines()]
    first, tests = _blocks(_section("Set up"), "sh")
    assert first in lines and tests in lines
    assert lines.index(first) < lines.index(tests)
    assert "python3-venv" in ci
    assert ci.startswith("#!/usr/bin/env bash\n")


def test_dependencies_cover_the_readme() -> None:
    """pandas and pyarrow are base dependencies (the Python API snippet loads tables as
    DataFrames); joserfc is in the test extra (the JWT interoperability test)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {re.split(r"[<>=\[; ]", d)[0] for d in project["dependencies"]}
    assert {"pandas", "pyarrow"} <= names
    test_extra = {re.split(r"[<>=\[; ]", d)[0] for d in project["optional-dependencies"]["test"]}
    assert "joserfc" in test_extra


@pytest.mark.slow
def test_readme_python_api_snippet_runs(tmp_path: Path) -> None:
    """The README's Python API snippet is five lines and runs as written (in a folder with
    the scenarios)."""
    (snippet,) = _blocks(_section("Python API (for notebooks)"), "python")
    assert len([line for line in snippet.splitlines() if line.strip()]) == 5
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    done = subprocess.run(
        [sys.executable, "-c", snippet + "\nprint(type(run.tables['attestations']).__name__)"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "DataFrame"
    assert (tmp_path / "results" / "demo" / "manifest.json").is_file()
