"""The documentation: the site builds with ``mkdocs build --strict`` (a broken link, anchor or
include fails), every generated page and block is current, the tutorials execute, the README
stays short with links that resolve, and the hand-written claims a test can check hold."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.analysis.tables import TABLES
from sim.scenario import parse_scenario, scenario_json_schema
from tests.cli.clitools import env
from tests.conftest import ROOT
from tests.regenerate import COMMAND, GROUPS, Target

DOCS = ROOT / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("*.ipynb"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _id(t: Target) -> str:
    return str(t.path.relative_to(ROOT))


@pytest.mark.parametrize("target", GROUPS["docs"](), ids=_id)
def test_generated_page_is_current(target: Target) -> None:
    """Each generated reference page, and the minimal run's blocks in the README and the
    getting-started page, equal what the code renders now (the minimal run's wall time
    aside)."""
    current = target.path.read_text(encoding="utf-8")
    assert target.same(current, target.render()), f"stale: run {COMMAND} docs"


@pytest.mark.slow
def test_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict`` succeeds into a temporary folder, writes nothing into the
    repository, renders every page in the navigation (tutorials and shipped notebooks
    included), loads nothing from another host, and links built pages, never source files
    (the notebooks' links go through mkdocs_hooks.py)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocs_jupyter")
    site = tmp_path / "site"
    before = sorted(p.name for p in ROOT.iterdir())
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", "mkdocs.yml", "-d", site],
        cwd=ROOT,
        env={**env(), "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    assert sorted(p.name for p in ROOT.iterdir()) == before
    pages = [
        "index.html",
        "reference/scenario/index.html",
        "guide/python-api/index.html",
        "tutorials/drift-study/index.html",
        "notebooks/05_regimes/index.html",
        "performance/index.html",
    ]
    for page in pages:
        assert (site / page).is_file(), page
    api = (site / "guide" / "python-api" / "index.html").read_text(encoding="utf-8")
    assert "doc-function" in api, "mkdocstrings rendered no function"
    perf = (site / "performance" / "index.html").read_text(encoding="utf-8")
    assert "How to read the ratios" in perf, "benchmarks/README.md was not included"
    for html in site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert remote == [], f"{html.relative_to(site)} loads {remote}"
        sources = re.findall(r'href="([^"]+\.(?:md|ipynb)(?:#[^"]*)?)"', text)
        assert sources == [], f"{html.relative_to(site)} links to source files {sources}"


def _slug(heading: str) -> str:
    """The anchor MkDocs' toc extension gives a heading."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[-\s]+", "-", text).strip("-")


def _anchors(page: Path) -> set[str]:
    lines = page.read_text(encoding="utf-8").splitlines()
    return {_slug(line.lstrip("#")) for line in lines if re.match(r"#{1,6} ", line)}


def test_readme_is_short_and_its_links_resolve() -> None:
    """The README fits on a screen or so (at most 200 lines), and every relative link in it
    names a file that exists and, with a #fragment, a heading of that page."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert len(local) >= 20, "the README links into the documentation"
    for link in local:
        path, _, fragment = link.partition("#")
        target = ROOT / path
        assert target.exists(), link
        if fragment:
            assert fragment in _anchors(target), link


def test_vta_status_and_the_kms_timeout_are_stated() -> None:
    """README and concepts say where vTA stands; the KMS connection timeout's 30 s is
    described as a modelling choice, not a VMware default, in the schema and the sources."""
    for page in (ROOT / "README.md", DOCS / "concepts" / "estate.md"):
        text = " ".join(page.read_text(encoding="utf-8").split())
        assert "deprecated in vSphere API 8.0.3.0" in text, page
        assert "removed in 9.0.0.0" in text, page
    kms = scenario_json_schema()["$defs"]["Kms"]["properties"]["connection_timeout"]
    assert "modelling choice, not a VMware default" in kms["description"]
    sources = (DOCS / "concepts" / "sources.md").read_text(encoding="utf-8")
    (row,) = [ln for ln in sources.splitlines() if ln.startswith("| KMS connection timeout")]
    assert "modelling choice" in row and "not a VMware default" in row


def _flat_keys(data: Any, prefix: str = "") -> set[str]:
    """Dotted keys of nested mappings, stopping at distributions and at lists."""
    out: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            out.add(prefix + key)
            if isinstance(value, dict) and "dist" not in value:
                out |= _flat_keys(value, f"{prefix}{key}.")
    return out


def test_scenario_guide_shows_every_field_with_its_default() -> None:
    """The scenario guide's "every default shown" block is a valid scenario that spells
    out every field of the model (vCenters aside, which it gives as an example) with the
    model's default value."""
    page = (DOCS / "guide" / "scenarios.md").read_text(encoding="utf-8")
    section = page.split("## Sections and their defaults", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    shown = yaml.safe_load(block.group(1))
    as_shown = parse_scenario(shown).model_dump(mode="json")
    defaults = parse_scenario({"name": shown["name"], "vcenters": shown["vcenters"]})
    assert as_shown == defaults.model_dump(mode="json")
    spelt = _flat_keys(shown)
    missing = {k for k in _flat_keys(as_shown) if not k.startswith("vcenters")} - spelt
    assert missing == set()


def test_run_folder_listing_names_every_table() -> None:
    """The run folder's listing in the guide names every declared table and their count."""
    page = (DOCS / "guide" / "run-folder.md").read_text(encoding="utf-8")
    listing = page.split("```text\n", 1)[1].split("```", 1)[0]
    named = set(re.findall(r"[a-z_]+", listing))
    assert set(TABLES) <= named
    assert f"the {len(TABLES)} tables" in listing


def _outputs(nb: Any) -> list[Any]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def test_there_are_three_tutorials() -> None:
    """One tutorial per kind of user, each in the site's navigation."""
    names = {p.stem for p in TUTORIALS}
    assert names == {"drift-study", "compare-topologies", "latency-curves"}
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert all(f"tutorials/{n}.ipynb" in nav for n in names)


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_is_committed_without_outputs(path: Path) -> None:
    """A committed tutorial is valid nbformat 4 with no outputs and no execution counts."""
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_executes(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tutorial runs top to bottom from its own folder, writing into the test's
    temporary folder, without an error, and shows at least one PNG figure."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("VTASIM_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", env()["PYTHONPATH"])
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [f"{o.ename}: {o.evalue}" for o in _outputs(nb) if o.output_type == "error"]
    assert errors == []
    pngs = [
        base64.b64decode(o["data"]["image/png"])
        for o in _outputs(nb)
        if o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})
    ]
    assert pngs and all(p.startswith(PNG_MAGIC) for p in pngs)
    assert list(tmp_path.rglob("index.csv")), "the tutorial wrote no sweep"
