"""Setting up as the README says (issue case 1): the set-up commands create and use a
virtual environment (Debian refuses `pip install` outside one, PEP 668), `.ci/run` runs
them exactly as written (and so do the getting-started page's), the base install has what
the getting-started Python snippet needs, and the test extra has what the interoperability
tests and the documentation build need."""

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
GETTING_STARTED = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")


def _section(title: str, text: str = README) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


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
    assert _blocks(_section("Install", GETTING_STARTED), "sh") == commands


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
    DataFrames); joserfc is in the test extra (the JWT interoperability test), and so is
    every package of the docs extra (the tests build the site), with the same bounds."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {re.split(r"[<>=\[; ]", d)[0] for d in project["dependencies"]}
    assert {"pandas", "pyarrow"} <= names
    extras = project["optional-dependencies"]
    test_extra = {re.split(r"[<>=\[; ]", d)[0] for d in extras["test"]}
    assert "joserfc" in test_extra
    assert {"mkdocs", "mkdocs-material", "mkdocstrings", "mkdocs-jupyter"} <= {
        re.split(r"[<>=\[; ]", d)[0] for d in extras["docs"]
    }
    assert set(extras["docs"]) <= set(extras["test"])


@pytest.mark.slow
def test_getting_started_python_snippet_runs(tmp_path: Path) -> None:
    """The getting-started page's Python snippet runs as written, in a folder holding the
    page's minimal scenario as minimal.yaml, and its tables are DataFrames."""
    from tests.regenerate import MINIMAL_SCENARIO

    (snippet,) = _blocks(_section("The run folder", GETTING_STARTED), "python")
    (tmp_path / "minimal.yaml").write_text(MINIMAL_SCENARIO, encoding="utf-8")
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
