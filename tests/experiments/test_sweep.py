"""Sweeps: expansion, seeds, confidence intervals, resumability, executors (local and Dask)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sim.analysis import results
from sim.analysis.stats import estimate
from sim.errors import ScenarioError
from sim.experiments.executors import RunTask, dask_executor, execute, local_executor
from sim.experiments.spec import load_sweep, parse_sweep
from sim.experiments.sweep import run_sweep
from sim.results import load_sweep as load_sweep_folder

TINY = {
    "name": "tiny",
    "duration": "1h",
    "attestation": {"interval": "5m", "report_lifetime": "15m"},
    "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 2}]}],
    "vms": {"count": 6},
    "workload": {"power_on_rate": "30 per_hour", "migration_rate": "30 per_hour"},
    "drift": {"scheduled": [{"at": "20m", "host": "esx-01", "kind": "unapproved_vib"}]},
}


def _sweep_file(tmp_path: Path, **extra: Any) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    spec = {
        "name": "tiny-sweep",
        "base": "base.yaml",
        "seed": 5,
        "until": "30m",
        "factors": {"attestation.interval": ["2m", "10m"]},
        "replications": 2,
        "metrics": ["drift.time_to_lapse_s.mean", "attestation.requests"],
    }
    spec.update(extra)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_sweep_expands_grid_times_variants(tmp_path: Path) -> None:
    """A 2-level factor crossed with 2 variants gives 4 cells with the overrides applied."""
    path = _sweep_file(
        tmp_path,
        variants={"one": {}, "poll": {"overrides": {"vcenters.0.status_poll_interval": "10s"}}},
    )
    sw = load_sweep(path)
    assert len(sw.cells) == 4
    polls = sorted({c.scenario.vcenters[0].status_poll_interval for c in sw.cells})
    assert polls == [10.0, 60.0]
    intervals = sorted({c.scenario.attestation.interval for c in sw.cells})
    assert intervals == [120.0, 600.0]
    assert len({c.cell_id for c in sw.cells}) == 4


def test_sweep_reports_bad_factor_paths_with_both_paths(tmp_path: Path) -> None:
    """A factor naming a field that does not exist is an error naming that field."""
    path = _sweep_file(tmp_path, factors={"attestation.intervall": ["2m"]})
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    text = str(err.value)
    assert "attestation.intervall" in text and "unknown key" in text


def test_sweep_rejects_unknown_sweep_keys(tmp_path: Path) -> None:
    """Unknown keys in the sweep file itself are errors."""
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    with pytest.raises(ScenarioError) as err:
        parse_sweep({"name": "x", "base": "base.yaml", "replicates": 3}, tmp_path)
    assert any(p.path == "replicates" for p in err.value.problems)


def test_replication_seeds_are_distinct_and_stable(tmp_path: Path) -> None:
    """Every run gets its own seed; a cell's seeds do not depend on the other cells."""
    sw = load_sweep(_sweep_file(tmp_path))
    seeds = [c.seed(5, r) for c in sw.cells for r in range(10)]
    assert len(set(seeds)) == len(seeds)
    fewer = load_sweep(_sweep_file(tmp_path, factors={"attestation.interval": ["10m"]}))
    same = next(c for c in sw.cells if c.scenario.attestation.interval == 600.0)
    assert [fewer.cells[0].seed(5, r) for r in range(3)] == [same.seed(5, r) for r in range(3)]
    assert same.seed(6, 0) != same.seed(5, 0)


def test_estimate_matches_student_t_by_hand() -> None:
    """The CI half-width is t(0.975, n-1) * s / sqrt(n); None values are left out."""
    est = estimate([1.0, 2.0, 3.0, 4.0, None])
    assert est.n == 4 and est.mean == pytest.approx(2.5)
    s = math.sqrt(sum((x - 2.5) ** 2 for x in (1, 2, 3, 4)) / 3)
    assert est.half_width == pytest.approx(3.182446305284263 * s / 2)
    assert estimate([7.0]).half_width is None
    assert estimate([]).mean is None


def test_ci_covers_true_mean_at_about_95_percent() -> None:
    """Over many normal samples the 95% interval covers the true mean about 95% of the time."""
    rng = np.random.default_rng(1)
    hits = 0
    trials = 2000
    for _ in range(trials):
        est = estimate(list(rng.normal(10.0, 3.0, size=5)))
        assert est.low is not None and est.high is not None
        hits += est.low <= 10.0 <= est.high
    assert abs(hits / trials - 0.95) < 0.02


def test_sweep_writes_index_cells_and_run_folders(tmp_path: Path) -> None:
    """A sweep writes one complete run folder per run, the index and the per-cell table."""
    sw = load_sweep(_sweep_file(tmp_path))
    res = run_sweep(sw, tmp_path / "out", workers=1, progress=False)
    assert len(res.index) == 4 and not res.failed
    for row in res.index:
        folder = tmp_path / "out" / row["path"]
        assert results.is_complete(folder)
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["seed"] == row["seed"]
    tables = load_sweep_folder(tmp_path / "out")
    assert len(tables.index) == 4
    cells = tables.cells
    req = cells[cells.metric == "attestation.requests"]
    assert sorted(req["attestation.interval"]) == [120.0, 600.0]
    # the per-cell mean is the mean of that cell's runs
    for _, row in req.iterrows():
        runs = [r["attestation.requests"] for r in res.index if r["cell_id"] == row.cell_id]
        assert row["mean"] == pytest.approx(sum(runs) / len(runs))
    # shorter interval, more attestations
    by = {r["attestation.interval"]: r["mean"] for _, r in req.iterrows()}
    assert by[120.0] > by[600.0]


def test_sweep_resumes_and_redoes_failed_runs(tmp_path: Path) -> None:
    """Re-running skips finished runs, redoes a deleted or failed one, same results."""
    sw = load_sweep(_sweep_file(tmp_path))
    out = tmp_path / "out"
    first = run_sweep(sw, out, workers=1, progress=False)
    victim = out / first.index[0]["path"]
    shutil.rmtree(victim)
    failed = out / first.index[1]["path"]
    manifest = json.loads((failed / "manifest.json").read_text())
    manifest["exception"] = {"type": "builtins.RuntimeError", "message": "boom"}
    (failed / "manifest.json").write_text(json.dumps(manifest))
    before = {
        p: (out / p / "summary.json").stat().st_mtime_ns
        for p in (r["path"] for r in first.index[2:])
    }
    second = run_sweep(sw, out, workers=1, progress=False)
    assert results.is_complete(victim)
    assert json.loads((failed / "manifest.json").read_text())["exception"] is None
    for p, mtime in before.items():
        assert (out / p / "summary.json").stat().st_mtime_ns == mtime
    strip = ("wall_time_s",)
    a = [{k: v for k, v in r.items() if k not in strip} for r in first.index]
    b = [{k: v for k, v in r.items() if k not in strip} for r in second.index]
    assert a == b


def test_failed_run_is_recorded_and_sweep_continues(tmp_path: Path) -> None:
    """A run that raises is an index row with status failed and its error; others finish."""
    task = RunTask("c", 0, 1, {"name": "broken"}, None, str(tmp_path / "r"), ("safety.violations",))
    out = execute(task)
    assert out["status"] == "failed" and "vcenters" in out["error"]
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_sequential_replication_stops_at_half_width_or_cap(tmp_path: Path) -> None:
    """Replication continues until the CI half-width target or the cap is reached."""
    sw = load_sweep(
        _sweep_file(
            tmp_path,
            replications={
                "min": 2,
                "max": 4,
                "metric": "attestation.latency_s.mean",
                "half_width": 1e-9,
            },
        )
    )
    res = run_sweep(sw, tmp_path / "out", workers=1, progress=False)
    counts = {}
    for r in res.index:
        counts[r["cell_id"]] = counts.get(r["cell_id"], 0) + 1
    assert all(n == 4 for n in counts.values())  # the target is unreachable: the cap applies
    loose = load_sweep(
        _sweep_file(
            tmp_path,
            replications={"min": 2, "max": 6, "metric": "attestation.requests", "half_width": 1e9},
        )
    )
    res2 = run_sweep(loose, tmp_path / "out2", workers=1, progress=False)
    assert len(res2.index) == 4  # met after the first two per cell


def test_local_pool_gives_same_results_as_in_process(tmp_path: Path) -> None:
    """Two worker processes produce the same index as running in this process."""
    sw = load_sweep(_sweep_file(tmp_path))
    a = run_sweep(sw, tmp_path / "a", executor=local_executor(1), progress=False)
    b = run_sweep(sw, tmp_path / "b", executor=local_executor(2), progress=False)
    strip = ("wall_time_s",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in a.index] == [
        {k: v for k, v in r.items() if k not in strip} for r in b.index
    ]
    run = a.index[0]["path"]
    for name in ("summary.json", "attestations.csv", "drift_events.csv"):
        left, right = tmp_path / "a" / run / name, tmp_path / "b" / run / name
        assert left.read_bytes() == right.read_bytes()


@pytest.mark.slow
def test_dask_local_cluster_runs_a_sweep_identically(tmp_path: Path) -> None:
    """A real distributed.LocalCluster on loopback runs the sweep with identical results."""
    distributed = pytest.importorskip("distributed")
    sw = load_sweep(_sweep_file(tmp_path))
    local = run_sweep(sw, tmp_path / "local", workers=1, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        scheduler_file = tmp_path / "scheduler.json"
        with distributed.Client(cluster) as client:
            client.write_scheduler_file(str(scheduler_file))
            remote = run_sweep(
                sw,
                tmp_path / "dask",
                progress=False,
                executor=dask_executor(scheduler_file=str(scheduler_file)),
            )
        by_address = run_sweep(
            sw,
            tmp_path / "dask2",
            progress=False,
            executor=dask_executor(address=cluster.scheduler_address),
        )
    strip = ("wall_time_s",)
    expected = [{k: v for k, v in r.items() if k not in strip} for r in local.index]
    for other in (remote, by_address):
        assert expected == [{k: v for k, v in r.items() if k not in strip} for r in other.index]


def test_cli_sweep_then_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`vtasim sweep` runs the sweep and `vtasim plot` draws from its folder."""
    from sim import cli

    lapse = [f"drift.time_to_{m}_s.{s}" for m in ("lapse", "refusal") for s in ("mean", "p95")]
    path = _sweep_file(tmp_path, metrics=lapse)
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--workers", "1", "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "4 runs ok (0 kept from an earlier sweep, 4 run now), 0 failed" in text
    header = next(ln for ln in text.splitlines() if ln.startswith("cell "))
    assert header.split()[3:] == ["drift.time_to_refusal_s.mean", *lapse[:2]]
    assert sum(1 for ln in text.splitlines() if ln.startswith("interval=")) == 2  # the cells
    assert cli.main(argv) == 0  # again: every finished run is kept
    assert "4 runs ok (4 kept from an earlier sweep, 0 run now)" in capsys.readouterr().out
    png = tmp_path / "cdf.png"
    assert cli.main(["plot", str(out), "--kind", "latency-cdf", "--out", str(png)]) == 0
    assert png.stat().st_size > 1000
    # no drift lapsed within these 1-hour runs (every time censored): refused, not drawn empty
    assert cli.main(["plot", str(out), "--kind", "lapse", "--out", str(tmp_path / "l.png")]) == 2
    assert "censored" in capsys.readouterr().err and not (tmp_path / "l.png").exists()
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it before any loading
        cli.main(["plot", str(out), "--kind", "nope", "--out", str(png)])
    assert exit_.value.code == 2
    assert "--kind" in capsys.readouterr().err


@pytest.mark.slow
def test_editing_the_base_scenario_makes_old_runs_stale(tmp_path: Path) -> None:
    """Runs of an older version of the base scenario are redone, not reused."""
    path = _sweep_file(tmp_path)
    first = run_sweep(load_sweep(path), tmp_path / "out", workers=1, progress=False)
    base = yaml.safe_load((tmp_path / "base.yaml").read_text())
    base["vms"]["count"] = 2
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    second = run_sweep(load_sweep(path), tmp_path / "out", workers=1, progress=False)
    for row in second.index:
        text = (tmp_path / "out" / row["path"] / "scenario.resolved.yaml").read_text()
        assert yaml.safe_load(text)["vms"]["count"] == 2
    assert [r["seed"] for r in first.index] == [r["seed"] for r in second.index]


def _die_on_first(task: RunTask) -> dict[str, Any]:
    import os

    if task.replication == 0 and task.cell_id.startswith("interval=2m"):
        os._exit(1)  # the worker process dies (killed, out of memory)
    return execute(task)


def test_a_dead_worker_fails_its_run_and_the_sweep_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker process that dies fails the runs it held; every other run completes."""
    import sim.experiments.executors as experiment

    monkeypatch.setattr(experiment, "execute", _die_on_first)
    sw = load_sweep(_sweep_file(tmp_path))
    res = run_sweep(sw, tmp_path / "out", executor=local_executor(2), progress=False)
    assert len(res.index) == 4
    assert 1 <= len(res.failed) <= 2  # the dead one, and at most the one beside it
    assert all("BrokenProcessPool" in r["error"] for r in res.failed)
    monkeypatch.undo()
    again = run_sweep(sw, tmp_path / "out", executor=local_executor(2), progress=False)
    assert not again.failed  # a second run redoes the failed ones


def test_sweep_rejects_fixed_fields_unknown_metrics_and_zero_until(tmp_path: Path) -> None:
    """Varying the seed, naming an unknown metric or until: 0 are sweep-file errors."""
    for extra, needle in (
        ({"factors": {"seed": [1, 2]}}, "cannot vary"),
        ({"metrics": ["attestation.latency.mean"]}, "unknown metric"),
        ({"until": 0}, "until"),
        ({"until": "10m", "warmup": "20m"}, "warm-up"),
    ):
        with pytest.raises(ScenarioError) as err:
            load_sweep(_sweep_file(tmp_path, **extra))
        assert needle in str(err.value), (extra, str(err.value))


def test_dask_executor_reports_a_missing_scheduler_file(tmp_path: Path) -> None:
    """A scheduler file that does not exist is a clear error before any run starts."""
    pytest.importorskip("distributed")
    from sim.errors import RunError

    with pytest.raises(RunError, match="no Dask scheduler file"):
        dask_executor(scheduler_file=str(tmp_path / "nope.json"))


@pytest.mark.slow
def test_common_random_numbers_give_every_cell_the_same_seeds(tmp_path: Path) -> None:
    """With ``common_random_numbers: true`` replication r of every cell (variants and factor
    levels) has one seed, distinct across replications; without it cells differ."""
    variants = {"one": {}, "two": {"overrides": {"vms.count": 4}}}
    crn = load_sweep(_sweep_file(tmp_path, variants=variants, common_random_numbers=True))
    seeds = {rep: {c.seed(5, rep, crn.spec.common_random_numbers) for c in crn.cells}
             for rep in range(3)}  # fmt: skip
    assert all(len(s) == 1 for s in seeds.values())
    assert len({next(iter(s)) for s in seeds.values()}) == 3
    plain = load_sweep(_sweep_file(tmp_path, variants=variants))
    assert not plain.spec.common_random_numbers
    assert len({c.seed(5, 0, plain.spec.common_random_numbers) for c in plain.cells}) == 4
    result = run_sweep(crn, tmp_path / "out", workers=1)
    by_rep: dict[int, set[int]] = {}
    for row in result.index:
        by_rep.setdefault(row["replication"], set()).add(row["seed"])
    assert all(len(s) == 1 for s in by_rep.values()) and len(by_rep) == 2


def test_cells_csv_interval_of_a_time_never_goes_below_zero(tmp_path: Path) -> None:
    """Times of 10 s and 2,000 s: Student's t gives 1,005 - 12.706 * 995 < 0 s; cells.csv
    gives the log-scale interval instead (positive, method named), and the bootstrap for a
    count that includes 0."""
    from sim.experiments.folder import CELL_COLUMNS
    from sim.experiments.sweep import cell_table

    sw = load_sweep(_sweep_file(tmp_path))
    cell = sw.cells[0]
    metrics = ["drift.time_to_lapse_s.mean", "attestation.requests"]
    index = [
        {"cell_id": cell.cell_id, "status": "ok", metrics[0]: t, metrics[1]: n}
        for t, n in ((10.0, 0), (2000.0, 7))
    ]
    rows = {r["metric"]: r for r in cell_table(sw, index, metrics) if r["cell_id"] == cell.cell_id}
    time = rows[metrics[0]]
    assert estimate([10.0, 2000.0]).low < 0  # what cells.csv used to show
    assert time["ci_method"] == "log-t" and 0 < time["ci_low"] < 10.0 < time["ci_high"]
    assert rows[metrics[1]]["ci_method"] == "bootstrap" and rows[metrics[1]]["ci_low"] >= 0
    assert "ci_method" in CELL_COLUMNS
