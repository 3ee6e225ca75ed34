"""The notebook API: sim.run and sim.run_sweep validate overrides and return DataFrames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest
import yaml

import sim
from tests.cli.clitools import TINY


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny scenario as a file."""
    path = tmp_path_factory.mktemp("api") / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


def test_run_validates_overrides_and_returns_frames(tiny: Path, tmp_path: Path) -> None:
    """Keyword overrides with __, a mapping, and a str path; tables are the frames a
    loaded folder gives; the repr is one short line and the HTML a small table."""
    run = sim.run(str(tiny), seed=4, attestation__interval="2m", overrides={"vms.count": 6})
    assert run.scenario.attestation.interval == 120.0 and run.scenario.vms.count == 6
    assert run.seed == 4 and run.ok and run.folder is None
    assert run.metric("attestation.requests") == run.summary["attestation"]["requests"]
    assert isinstance(run.tables["attestations"], pd.DataFrame)
    text = repr(run)
    assert text.startswith("<Run tiny seed 4: 1800 s simulated") and len(text) < 200
    head = run.headline()
    assert head.loc["attestation.requests", "value"] == run.metric("attestation.requests")
    page = run._repr_html_()
    assert "<table>" in page and len(page) < 5000
    folder = run.save(tmp_path / "run")
    loaded = sim.results.load(folder)
    for name, frame in run.tables.items():
        pdt.assert_frame_equal(frame, loaded.tables[name])
    with pytest.raises(sim.ScenarioError, match=r"attestation\.interval"):
        sim.run(tiny, attestation__interval="0s")


def test_run_of_a_scenario_object_and_until(tiny: Path) -> None:
    """A loaded Scenario takes overrides through with_overrides; until shortens the run."""
    scenario = sim.load_scenario(tiny)
    run = sim.run(scenario, until="10m", kms__servers=4)
    assert run.scenario.kms.servers == 4 and run.manifest["sim_time_s"] == 600.0
    assert scenario.kms.servers != 4  # the loaded scenario is unchanged


def test_run_sweep_returns_frames(tiny: Path, tmp_path: Path) -> None:
    """index, cells and failed are DataFrames; tables() spans every run."""
    spec = {"name": "api", "base": str(tiny), "until": "10m",
            "factors": {"attestation.interval": ["2m", "5m"]}, "replications": 1}  # fmt: skip
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    sweep = sim.run_sweep(str(tmp_path / "s.yaml"), tmp_path / "out", workers=1, progress=False)
    assert isinstance(sweep.index, pd.DataFrame) and len(sweep.index) == 2
    assert isinstance(sweep.cells, pd.DataFrame) and sweep.failed.empty
    assert repr(sweep) == "<SweepRun out: 2 cells, 2 runs, 0 failed>"
    assert set(sweep.tables()["attestations"]["attestation.interval"]) == {120.0, 300.0}


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"until": "1e999s"}, "until"),
        ({"until": "soon"}, "until"),
        ({"until": "4000d"}, "until"),
    ],
)
def test_run_refuses_a_bad_seed_or_until_with_scenario_error(
    kwargs: dict[str, object], path: str
) -> None:
    """``sim.run`` raises the documented ScenarioError naming ``seed`` or ``until`` (before:
    a pydantic ValidationError or a ValueError)."""
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError) as info:
        sim.run(sim.parse_scenario(yaml.safe_load(TINY)), **kwargs)  # type: ignore[arg-type]
    assert [p.path for p in info.value.problems] == [path]
