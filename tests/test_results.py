"""One result type for a run and one for a sweep: sim.run, sim.load, sim.run_sweep and
sim.load_sweep return the same Run / Sweep, with DataFrames, metric look-up that names the
nearest keys, a headline and a short repr."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest
import yaml

import sim
import sim.results
from sim.analysis.stats import nonneg_estimate
from sim.errors import RunError, ScenarioError, UnknownMetricError, VtasimError
from sim.results import MAX_REPR_LINES, Run, Sweep, load, load_sweep, run, run_sweep
from tests.cli.clitools import TINY


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny scenario as a file."""
    path = tmp_path_factory.mktemp("api") / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def saved(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """A run of the tiny scenario held in memory, and its folder."""
    done = run(tiny, seed=4)
    return done, done.save(tmp_path_factory.mktemp("saved") / "run")


@pytest.fixture(scope="module")
def swept(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """A sweep of two cells, one run each, of the tiny scenario."""
    base = tmp_path_factory.mktemp("sweep")
    spec = {"name": "api", "base": str(tiny), "until": "10m",
            "factors": {"attestation.interval": ["2m", "5m"]}, "replications": 1}  # fmt: skip
    (base / "s.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return run_sweep(str(base / "s.yaml"), base / "out", workers=1, progress=False)


def test_the_module_and_the_package_names_are_the_same_objects() -> None:
    """``import sim.results`` works and the package's lazy names are its objects."""
    assert sim.Run is Run and sim.Sweep is Sweep and sim.SweepRun is Sweep
    assert sim.run is run and sim.load is load and sim.load_sweep is load_sweep
    assert sim.run_sweep is run_sweep and sim.results is sim.results
    assert sim.load_sweep_results is load_sweep
    assert issubclass(UnknownMetricError, VtasimError) and issubclass(UnknownMetricError, KeyError)


def test_run_validates_overrides_and_returns_frames(tiny: Path) -> None:
    """Keyword overrides with __, a mapping, and a str path; tables are DataFrames."""
    done = sim.run(str(tiny), seed=4, attestation__interval="2m", overrides={"vms.count": 6})
    assert isinstance(done, Run)
    assert done.scenario.attestation.interval == 120.0 and done.scenario.vms.count == 6
    assert done.seed == 4 and done.ok and done.folder is None and done.name == "tiny"
    assert done.metric("attestation.requests") == done.summary["attestation"]["requests"]
    assert isinstance(done.tables["attestations"], pd.DataFrame)
    assert done.table("attestations") is done.tables["attestations"]  # read once, kept
    head = done.headline()
    assert head.loc["attestation.requests", "value"] == done.metric("attestation.requests")
    page = done._repr_html_()
    assert "<table>" in page and len(page) < 5000
    with pytest.raises(sim.ScenarioError, match=r"attestation\.interval"):
        sim.run(tiny, attestation__interval="0s")


def test_run_of_a_scenario_object_and_until(tiny: Path) -> None:
    """A loaded Scenario takes overrides through with_overrides; until shortens the run."""
    scenario = sim.load_scenario(tiny)
    done = sim.run(scenario, until="10m", kms__servers=4)
    assert done.scenario.kms.servers == 4 and done.manifest["sim_time_s"] == 600.0
    assert scenario.kms.servers != 4  # the loaded scenario is unchanged


def test_a_loaded_run_equals_the_run_in_memory(saved: tuple[Run, Path]) -> None:
    """sim.load gives the same class with equal tables, summary, manifest and scenario."""
    done, folder = saved
    assert done.folder == folder  # save remembers where
    loaded = sim.load(folder)
    assert type(loaded) is Run and loaded.folder == folder
    assert loaded.summary == json.loads(json.dumps(done.summary))
    assert loaded.manifest == json.loads(json.dumps(done.manifest))
    assert list(loaded.tables) == sorted(done.tables)
    for name, frame in done.tables.items():
        pdt.assert_frame_equal(frame, loaded.tables[name])
        assert frame.attrs["units"] == loaded.tables[name].attrs["units"]
    assert loaded.scenario_yaml == done.scenario_yaml
    assert loaded.scenario == done.scenario and loaded.seed == done.seed == 4
    pdt.assert_frame_equal(loaded.headline(), done.headline())
    assert repr(loaded) == repr(done)  # both know their folder now
    with pytest.raises(RunError, match="saved there already"):
        loaded.save(folder.parent / "again")


def test_repr_is_short_and_says_what_to_ask(saved: tuple[Run, Path]) -> None:
    """A loaded run's repr is a few lines (it was the whole dataclass: 21,354 characters),
    names the scenario, seed, folder and tables, and never reads a table to print."""
    _, folder = saved
    loaded = sim.load(folder)
    text = repr(loaded)
    lines = text.split("\n")
    assert len(lines) <= MAX_REPR_LINES and max(map(len, lines)) <= 100
    assert lines[0].startswith("Run tiny, seed 4: 1,800 s simulated") and lines[0].endswith("ok")
    assert str(folder) in text and "attestations" in text and ".metric(key)" in text
    assert loaded.tables._frames == {}  # nothing read to print the repr
    assert "read on first use" in repr(loaded.tables)


def test_repr_of_a_hostile_folder_is_bounded_and_printable(
    saved: tuple[Run, Path], tmp_path: Path
) -> None:
    """A received folder whose manifest names a huge scenario with control characters and
    which holds hundreds of table files still prints a short, escaped repr."""
    _, folder = saved
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["scenario"] = "\x1b[2J" + "x" * 10_000
    (copy / "manifest.json").write_text(json.dumps(manifest))
    for i in range(300):
        (copy / f"extra_{i:03d}.csv").write_text("a\n1\n")
    text = repr(sim.load(copy))
    assert "\x1b" not in text and "\\x1b" in text
    assert len(text.split("\n")) <= MAX_REPR_LINES and len(text) < 3000


def test_metric_names_the_nearest_keys(saved: tuple[Run, Path]) -> None:
    """A misspelt key raises UnknownMetricError (a KeyError) naming the keys meant; a
    group gives its dict; a figure the run could not define is None, not an error."""
    done, _ = saved
    with pytest.raises(UnknownMetricError) as info:
        done.metric("drift.time_to_lapse.mean")
    assert "drift.time_to_lapse_s.mean" in info.value.suggestions
    assert "did you mean 'drift.time_to_lapse_s.mean'" in str(info.value)
    assert "tiny seed 4" in str(info.value)
    with pytest.raises(KeyError):
        done.metric("atestation.requests")
    assert done.metric("attestation") == done.summary["attestation"]
    undefined = [k for k, v in sim.results._shared._dotted(done.summary).items() if v is None]
    assert undefined and done.metric(undefined[0]) is None
    with pytest.raises(KeyError, match=r"no table 'attestation'.*did you mean 'attestations'"):
        done.tables["attestation"]


def test_load_refuses_what_is_not_a_run_folder(
    saved: tuple[Run, Path], swept: Sweep, tiny: Path, tmp_path: Path
) -> None:
    """Each refusal is a RunError naming the path and what to do instead."""
    _, folder = saved
    with pytest.raises(RunError, match="no run folder"):
        sim.load(tmp_path / "missing")
    with pytest.raises(RunError, match=r"sweep folder.*sim\.load_sweep"):
        sim.load(swept.folder)
    with pytest.raises(RunError, match=r"scenario file is run with sim\.run"):
        sim.load(tiny)
    partial = tmp_path / "partial"
    shutil.copytree(folder, partial)
    (partial / "manifest.json").unlink()
    with pytest.raises(RunError, match=r"incomplete \(missing manifest.json\)"):
        sim.load(partial)
    with pytest.raises(RunError, match="sweep file, not a sweep folder"):
        sim.load_sweep(tiny)
    with pytest.raises(RunError, match="not a sweep folder"):
        sim.load_sweep(folder)


def test_a_sweep_run_and_loaded_is_one_class_with_frames(swept: Sweep) -> None:
    """run_sweep and load_sweep give equal Sweeps: index, cells, factors, failed, tables
    with the factor levels as columns, and runs as Run objects equal to their folders."""
    loaded = sim.load_sweep(swept.folder)
    assert type(swept) is Sweep and type(loaded) is Sweep
    pdt.assert_frame_equal(swept.index, loaded.index)
    pdt.assert_frame_equal(swept.cells, loaded.cells)
    assert loaded.name == "api" and loaded.factors == ("attestation.interval",)
    assert loaded.path == loaded.folder and loaded.failed.empty and len(loaded.index) == 2
    assert set(loaded.tables["attestations"]["attestation.interval"]) == {120.0, 300.0}
    assert len(loaded.runs) == 2 and all(isinstance(r, Run) for r in loaded.runs)
    first = loaded.runs[0]
    assert first is loaded.runs[0]  # read once
    assert first.folder == loaded.folder / loaded.index["path"][0]
    assert first.summary == sim.load(first.folder).summary
    assert first.seed == loaded.index["seed"][0]
    with pytest.raises(IndexError):
        loaded.runs[2]


def test_sweep_metric_per_cell_recorded_or_computed(swept: Sweep) -> None:
    """A recorded metric comes from cells.csv; another summary key is computed from the
    runs the way cells.csv is; an unknown one names the nearest keys."""
    recorded = swept.metric("attestation.requests")
    assert list(recorded["cell_id"]) == list(dict.fromkeys(swept.index["cell_id"]))
    assert {"attestation.interval", "mean", "ci_low", "ci_high", "n"} <= set(recorded.columns)
    by_cell = dict(zip(swept.index["cell_id"], swept.index["attestation.requests"], strict=True))
    assert dict(zip(recorded["cell_id"], recorded["mean"], strict=True)) == by_cell
    key = "attestation.queue_wait_s.max"
    assert key not in swept.metrics
    computed = swept.metric(key)
    assert list(computed.columns) == list(recorded.columns)
    for i, row in computed.iterrows():
        value = swept.runs[int(str(i))].metric(key)
        assert row["mean"] == pytest.approx(nonneg_estimate([value]).mean)
        assert row["estimator"] == "mean over runs" and row["runs"] == 1
    with pytest.raises(UnknownMetricError, match=r"did you mean 'attestation\.requests'"):
        swept.metric("attestation.request")


def test_sweep_summary_headline_and_repr(swept: Sweep) -> None:
    """summary nests cells.csv; headline is one row per cell; the repr stays short."""
    summary = swept.summary
    assert set(summary) == set(swept.index["cell_id"])
    cell = next(iter(summary.values()))
    assert cell["runs"] == 1 and set(cell["factors"]) == {"attestation.interval"}
    assert set(cell["metrics"]) == set(swept.metrics)
    assert cell["metrics"]["attestation.requests"]["estimator"] == "mean over runs"
    head = swept.headline()
    assert list(head.index) == list(summary) and "attestation.interval" in head.columns
    text = repr(swept)
    assert text.startswith("Sweep api: 2 cells, 2 runs, 0 failed")
    assert len(text.split("\n")) <= MAX_REPR_LINES
    assert "<table" in swept._repr_html_()
    assert "means over the runs" in swept.overview()


def test_run_sweep_refuses_overrides_of_a_loaded_sweep(tiny: Path, tmp_path: Path) -> None:
    """Overrides go with a sweep file's path, not with a loaded sweep."""
    spec = {"name": "api", "base": str(tiny), "factors": {"attestation.interval": ["2m"]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    loaded = sim.experiments.load_sweep(tmp_path / "s.yaml")
    with pytest.raises(ValueError, match="overrides of a loaded sweep"):
        sim.run_sweep(loaded, tmp_path / "out", vms__count=3)


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
    """``sim.run`` raises the documented ScenarioError naming ``seed`` or ``until``."""
    with pytest.raises(ScenarioError) as info:
        sim.run(sim.parse_scenario(yaml.safe_load(TINY)), **kwargs)  # type: ignore[arg-type]
    assert [p.path for p in info.value.problems] == [path]


def test_runs_and_sweeps_go_where_folder_paths_go(
    saved: tuple[Run, Path], swept: Sweep, tiny: Path
) -> None:
    """A saved or loaded Run and every Sweep are path-like, so the figures take them; a
    run held only in memory says to save it first."""
    import os

    import sim.plots

    done, folder = saved
    assert Path(done) == folder and os.fspath(sim.load(folder)) == str(folder)
    assert Path(swept) == swept.folder
    assert sim.plots.latency_cdf(done).axes[0].get_lines()
    assert sim.plots.latency_cdf(swept).axes[0].get_lines()
    with pytest.raises(RunError, match=r"held in memory only.*run\.save"):
        Path(sim.run(tiny, until="10m"))


def test_a_sweep_index_naming_a_folder_elsewhere_is_refused(swept: Sweep, tmp_path: Path) -> None:
    """A received sweep folder whose index.csv sends a run path outside the folder is
    refused when loaded, naming index.csv, before any table is read from there."""
    copy = tmp_path / "copy"
    shutil.copytree(swept.folder, copy)
    index = (copy / "index.csv").read_text(encoding="utf-8")
    first = str(swept.index["path"][0])
    (copy / "index.csv").write_text(index.replace(first, "../../elsewhere", 1), encoding="utf-8")
    with pytest.raises(RunError, match=r"index\.csv: the run path '\.\./\.\./elsewhere' leaves"):
        sim.load_sweep(copy)
