"""The analysis notebooks and the sweep files they run.

Every notebook under ``notebooks/`` is executed top to bottom in a fresh kernel, in its small
setting, with its output folder redirected into the test's temporary folder through
``VTASIM_NOTEBOOK_OUT``; it must finish without an error and show at least one figure. The
committed notebooks must carry no outputs, and every sweep file under ``scenarios/sweeps/``
must validate.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest

import sim
from sim.errors import ScenarioError

pytestmark = pytest.mark.slow  # each notebook executed in a kernel: > 30 s each

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
SWEEP_DIR = ROOT / "scenarios" / "sweeps"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
SWEEPS = sorted(SWEEP_DIR.glob("*.yaml"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _outputs(nb: Any) -> list[Any]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def _pngs(nb: Any) -> list[bytes]:
    found = []
    for out in _outputs(nb):
        data = out.get("data", {}) if out.output_type in ("display_data", "execute_result") else {}
        if "image/png" in data:
            found.append(base64.b64decode(data["image/png"]))
    return found


def _errors(nb: Any) -> list[str]:
    return [f"{out.ename}: {out.evalue}" for out in _outputs(nb) if out.output_type == "error"]


def test_the_three_notebooks_are_there() -> None:
    """The latency, refusal and topology notebooks exist under notebooks/."""
    names = {p.name for p in NOTEBOOKS}
    assert {
        "01_attestation_latency.ipynb",
        "02_time_to_refusal.ipynb",
        "03_topology_comparison.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_stripped(path: Path) -> None:
    """A committed notebook is valid nbformat 4 with no outputs and no execution counts."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_layout(path: Path) -> None:
    """A notebook opens with a markdown title, has a tagged parameters cell that runs small
    and reads VTASIM_NOTEBOOK_OUT, and explains its figures in markdown."""
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    source = params[0].source
    assert "SMALL = True" in source
    assert "VTASIM_NOTEBOOK_OUT" in source
    assert f"../results/notebooks/{path.stem}" in source
    assert "WORKERS = 2" in source
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "sim.plots." in code and "display(" in code
    markdown = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "SMALL = False" in markdown
    assert "Student-t" in markdown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_small(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The notebook executes without an error in its small setting, with its output folder
    given as a string the way papermill injects parameters, shows PNG figures and writes its
    sweep folder and figures there."""
    out = tmp_path / "out"
    monkeypatch.setenv("VTASIM_NOTEBOOK_OUT", str(tmp_path / "not-used"))
    nb = nbformat.read(path, as_version=4)
    # As papermill does: a cell after the parameters cell sets them, paths as strings.
    tagged = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(f"OUT = {str(out)!r}")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(tagged + 1, injected)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    started = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n{path.name}: executed in {elapsed:.1f} s")
    assert _errors(nb) == []
    pngs = _pngs(nb)
    assert pngs, "no figure was displayed"
    assert all(p.startswith(PNG_MAGIC) for p in pngs)
    index = sim.load_sweep(next(out.rglob("index.csv")).parent).index
    assert len(index) > 0 and set(index["status"]) == {"ok"}
    assert list(out.rglob("*.png")), "no figure was saved"


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_sweep_file_validates(path: Path) -> None:
    """Every shipped sweep file loads, validates and expands into at least two cells."""
    sweep = sim.experiments.load_sweep(path)
    assert len(sweep.cells) >= 2
    assert len({c.cell_id for c in sweep.cells}) == len(sweep.cells)


def test_sweep_typo_is_reported_with_its_path(tmp_path: Path) -> None:
    """A misspelt factor path in a sweep file is rejected with the scenario field named."""
    text = (SWEEP_DIR / "refusal-tradeoff.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    (tmp_path / "bases").mkdir()
    for base in (SWEEP_DIR / "bases").glob("*.yaml"):
        (tmp_path / "bases" / base.name).write_text(base.read_text(encoding="utf-8"))
    bad.write_text(
        text.replace("attestation.interval:", "attestation.intervall:"), encoding="utf-8"
    )
    with pytest.raises(ScenarioError) as err:
        sim.experiments.load_sweep(bad)
    assert any("intervall" in p.path for p in err.value.problems)
