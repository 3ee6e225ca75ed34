"""Sweep cells pool their replications' survival data into one Kaplan-Meier estimate, and the
shipped interval sweep shows what each measurement scope implies."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.analysis.durations import DURATION_METRICS, durations_json
from sim.analysis.survival import Durations
from sim.experiments.executors import RunTask, execute
from sim.experiments.pooled import MEAN_OVER_RUNS, POOLED
from sim.experiments.spec import load_sweep
from sim.experiments.sweep import cell_table, run_sweep
from tests.conftest import ROOT

LAPSE = "drift.time_to_lapse_s"


def _fake_runs(tmp_path: Path, parts: Sequence[Durations]) -> tuple[Any, list[dict[str, Any]]]:
    """A one-cell sweep whose runs' folders hold only ``durations.json`` with ``parts``."""
    (tmp_path / "base.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "b",
                "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 2}]}],
                "metrics": {"rmst_horizon": "20s"},
            }
        )
    )
    (tmp_path / "s.yaml").write_text(
        yaml.safe_dump({"name": "s", "base": "base.yaml", "replications": len(parts)})
    )
    sw = load_sweep(tmp_path / "s.yaml")
    cell = sw.cells[0]
    index = []
    for rep, part in enumerate(parts):
        folder = tmp_path / "out" / "runs" / cell.cell_id / f"rep-{rep}"
        folder.mkdir(parents=True)
        data = {m: Durations() for m in DURATION_METRICS} | {LAPSE: part}
        (folder / "durations.json").write_bytes(durations_json(data))
        index.append(
            {
                "cell_id": cell.cell_id,
                "status": "ok",
                "path": str(folder.relative_to(tmp_path / "out")),
                f"{LAPSE}.km_median": [2.0, None][rep],  # the runs' own medians
                f"{LAPSE}.count": len(part.ended),
            }
        )
    return sw, index


def test_a_cell_median_is_pooled_over_runs_not_averaged(tmp_path: Path) -> None:
    """Run A: lapses 1, 2, 3 (median 2); run B: a lapse at 10, two drifts censored at 20 (no
    median). The old cell figure averaged the medians that exist: 2. Pooled, 6 at risk:
    S = 5/6, 4/6, 3/6 after 1, 2, 3: median 3. Restricted mean at the cell's 20 s horizon:
    1 + 5/6 + 4/6 + (3/6)*7 + (2/6)*10 = 1 + 0.8333 + 0.6667 + 3.5 + 3.3333 = 9.3333,
    Greenwood SE from A_i = area from t_i to 20: A = 8.3333, 7.5, 6.8333, 3.3333 over
    (n, d) = (6,1), (5,1), (4,1), (3,1)."""
    parts = [Durations.of([1.0, 2.0, 3.0], []), Durations.of([10.0], [20.0, 20.0])]
    sw, index = _fake_runs(tmp_path, parts)
    metrics = [f"{LAPSE}.km_median", f"{LAPSE}.km_restricted_mean", f"{LAPSE}.count"]
    rows = {r["metric"]: r for r in cell_table(sw, index, metrics, tmp_path / "out")}
    median = rows[f"{LAPSE}.km_median"]
    assert median["estimator"] == POOLED and median["mean"] == 3.0
    assert (median["n"], median["censored"]) == (6, 2)
    assert median["ci_low"] is not None and median["ci_low"] <= 3.0
    rmst = rows[f"{LAPSE}.km_restricted_mean"]
    assert rmst["mean"] == pytest.approx(1 + 5 / 6 + 4 / 6 + 3.5 + 20 / 6)
    areas = [25 / 3, 7.5, 41 / 6, 10 / 3]
    var = sum(a * a / (n * (n - 1)) for a, n in zip(areas, (6, 5, 4, 3), strict=True))
    assert rmst["ci_half_width"] == pytest.approx(1.959964 * math.sqrt(var), rel=1e-6)
    count = rows[f"{LAPSE}.count"]
    assert count["estimator"] == MEAN_OVER_RUNS and count["mean"] == 2.0 and count["n"] == 2


def _in_process(tasks: Sequence[RunTask]) -> Iterator[tuple[RunTask, dict[str, Any]]]:
    for task in tasks:
        yield task, execute(task)


@pytest.mark.slow
def test_the_interval_sweep_shows_the_interval_only_for_runtime_measurement(
    tmp_path: Path,
) -> None:
    """scenarios/sweeps/interval.yaml, one 2-hour replication per cell (same seeds in every
    cell). Boot-measured: the VIB is measured at its install's reboot 10 minutes later, and
    the host holds no report from going down for it, so the pooled lapse median is about
    600 s plus the evacuation at every interval (1 m and 5 m within a second). Runtime: the
    next re-attestation fails, so the median is at most interval + jitter (70 s at 1 m,
    310 s at 5 m) plus the verdict latency (under a second)."""
    spec = yaml.safe_load((ROOT / "scenarios/sweeps/interval.yaml").read_text())
    base = ROOT / "scenarios/sweeps/bases/interval-estate.yaml"
    spec.update(replications=1, until="2h", base=str(base))  # 2 h: about 4 drifts a run
    (tmp_path / "interval.yaml").write_text(yaml.safe_dump(spec))
    res = run_sweep(
        load_sweep(tmp_path / "interval.yaml"), tmp_path / "out", executor=_in_process,
        progress=False,
    )  # fmt: skip
    assert not res.failed
    median = {
        (r["drift.measured_at.unapproved_vib"], r["attestation.interval"]): r["mean"]
        for r in res.cells
        if r["metric"] == f"{LAPSE}.km_median"
    }
    assert median[("boot", 60.0)] >= 600 and median[("boot", 300.0)] >= 600
    assert median[("boot", 60.0)] == pytest.approx(median[("boot", 300.0)], abs=1.0)
    assert median[("runtime", 60.0)] <= 71 and median[("runtime", 300.0)] <= 311
