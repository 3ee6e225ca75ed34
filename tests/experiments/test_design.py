"""Sensitivity designs: the SALib glue checked on pure functions with known indices, the
mapping of unit samples to values, the validation of design sweeps, and a small design
sweep run end to end (and resumed)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.cli import main
from sim.errors import ScenarioError
from sim.experiments.design import Axis, Design, analyse, sample, sensitivity_table
from sim.experiments.spec import parse_sweep
from sim.experiments.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[2]
STATION = ROOT / "tests" / "experiments" / "data" / "mmc-station.yaml"


def _design(kind: str, samples: int, names: list[str], **kw: Any) -> Design:
    return Design(
        kind=kind,  # type: ignore[arg-type]
        samples=samples,
        factors={n: {"range": [0, 1]} for n in names},  # type: ignore[misc]
        **kw,
    )


def _axes(names: list[str]) -> list[Axis]:
    return [Axis(n, "continuous", 0.0, 1.0) for n in names]


def _index(rows: list[dict[str, Any]], factor: str, index: str) -> dict[str, Any]:
    return next(r for r in rows if r["factor"] == factor and r["index"] == index)


def test_sobol_recovers_known_indices_of_an_additive_function() -> None:
    """y = 2a + b + 0c with a, b, c uniform on [0, 1]: Var = 4/12 + 1/12, so S1 = ST = 0.8
    for a, 0.2 for b and 0 for c; the bootstrap intervals hold the true values."""
    names = ["a", "b", "c"]
    d = _design("sobol", 1024, names)
    pts = sample(d, _axes(names), root_seed=7)
    y = [2 * r[0] + r[1] for r in pts.unit]
    rows = analyse(d, names, pts.unit, y, seed=1)
    for factor, true in (("a", 0.8), ("b", 0.2), ("c", 0.0)):
        for idx in ("S1", "ST"):
            r = _index(rows, factor, idx)
            assert r["value"] == pytest.approx(true, abs=0.05)
            assert r["ci_low"] - 0.02 <= true <= r["ci_high"] + 0.02


def test_sobol_one_knob_takes_everything() -> None:
    """A response of one knob only (non-linear in it): S1 and ST of that knob are 1, every
    other knob's 0."""
    names = ["x", "y", "z", "w"]
    d = _design("sobol", 256, names)
    pts = sample(d, _axes(names), root_seed=3)
    rows = analyse(d, names, pts.unit, [np.sin(3 * r[2]) ** 2 for r in pts.unit], seed=2)
    assert _index(rows, "z", "ST")["value"] == pytest.approx(1.0, abs=0.05)
    assert _index(rows, "z", "S1")["value"] == pytest.approx(1.0, abs=0.05)
    for other in ("x", "y", "w"):
        assert abs(_index(rows, other, "ST")["value"]) < 1e-9


def test_morris_ranks_the_one_knob_first_and_zero_elsewhere() -> None:
    names = ["interval", "workers", "latency", "servers"]
    d = _design("morris", 10, names)
    pts = sample(d, _axes(names), root_seed=11)
    rows = analyse(d, names, pts.unit, [5.0 * r[1] ** 2 for r in pts.unit], seed=4)
    mu_star = {r["factor"]: r["value"] for r in rows if r["index"] == "mu_star"}
    assert max(mu_star, key=lambda k: mu_star[k]) == "workers"
    assert mu_star["workers"] > 1.0
    assert all(mu_star[k] == 0.0 for k in names if k != "workers")


def test_latin_hypercube_first_order_finds_the_knob() -> None:
    names = ["a", "b", "c"]
    d = _design("latin_hypercube", 200, names)
    pts = sample(d, _axes(names), root_seed=5)
    rows = analyse(d, names, pts.unit, [r[0] ** 3 for r in pts.unit], seed=6)
    s1 = {r["factor"]: r["value"] for r in rows}
    assert s1["a"] > 0.9
    assert s1["b"] < 0.3 and s1["c"] < 0.3


def test_undefined_and_constant_responses_get_notes() -> None:
    names = ["a", "b"]
    d = _design("sobol", 8, names)
    pts = sample(d, _axes(names), root_seed=1)
    y: list[float | None] = [1.0] * len(pts.unit)
    y[3] = None
    (row,) = analyse(d, names, pts.unit, y, seed=1)
    assert row["value"] is None and "undefined at 1 of" in row["note"]
    (row,) = analyse(d, names, pts.unit, [2.0] * len(pts.unit), seed=1)
    assert "same at every design point" in row["note"]
    m = _design("morris", 4, names)
    mp = sample(m, _axes(names), root_seed=1)
    rows = analyse(m, names, mp.unit, [2.0] * len(mp.unit), seed=1)
    assert {r["value"] for r in rows} == {0.0}


def test_the_sample_is_reproducible_from_the_root_seed() -> None:
    names = ["a", "b"]
    d = _design("latin_hypercube", 16, names)
    one, two = sample(d, _axes(names), 42), sample(d, _axes(names), 42)
    other = sample(d, _axes(names), 43)
    assert one.values == two.values
    assert one.values != other.values
    table = sensitivity_table(d, one, {"m": [r[0] for r in one.unit]}, 42)
    assert table == sensitivity_table(d, two, {"m": [r[0] for r in two.unit]}, 42)


def test_whole_numbers_share_the_unit_interval_and_reach_both_ends() -> None:
    axis = Axis("trust_authority.hosts", "integer", 1, 5)
    values = [axis.value(u) for u in np.linspace(0, 1, 1001)]
    counts = {v: values.count(v) for v in range(1, 6)}
    assert set(values) == {1, 2, 3, 4, 5}
    assert max(counts.values()) - min(counts.values()) <= 2
    levels = Axis("attestation.revocation", "levels", levels=("none", "push"))
    assert [levels.value(u) for u in (0.0, 0.49, 0.5, 1.0)] == ["none", "none", "push", "push"]
    cont = Axis("attestation.interval", "continuous", 60.0, 900.0)
    assert cont.value(0.0) == 60.0 and cont.value(1.0) == 900.0


def _sweep(design: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "sens", "base": str(STATION), "seed": 5, "design": design, **extra}


def test_a_design_sweep_resolves_units_merges_equal_points_and_uses_common_seeds() -> None:
    data = _sweep(
        {
            "kind": "morris",
            "samples": 3,
            "factors": {
                "trust_authority.attestation_service.workers": {"range": [3, 4]},
                "attestation.interval": {"range": ["20s", "40s"]},
                "network.lan_latency": {"range": ["0.1ms", "2ms"]},
            },
        }
    )
    sw = parse_sweep(data, ROOT, allow_outside=True)
    assert sw.points is not None
    assert len(sw.row_cells) == 3 * 4
    assert len(sw.cells) == len(set(sw.row_cells)) <= 12
    for cell in sw.cells:
        levels = dict(cell.levels)
        assert levels["trust_authority.attestation_service.workers"] in (3, 4)
        assert 20.0 <= levels["attestation.interval"] <= 40.0
        assert 0.0001 <= levels["network.lan_latency"] <= 0.002
    assert sw.common_seeds
    a, b = sw.cells[0], sw.cells[1]
    assert a.seed(5, 0, sw.common_seeds) == b.seed(5, 0, sw.common_seeds)


@pytest.mark.parametrize(
    ("design", "where", "says"),
    [
        ({"kind": "morris", "factors": {"attestation.intervall": {"range": ["1m", "2m"]}}},
         "attestation.intervall", "did you mean 'interval'"),
        ({"kind": "morris", "factors": {"attestation.interval": {"range": ["5m", "1m"]}}},
         "design.factors.attestation.interval.range", "low < high"),
        ({"kind": "morris", "factors": {"attestation.revocation": {"range": [0, 1]}}},
         "design.factors.attestation.revocation.range[0]", ""),
        ({"kind": "morris", "factors": {"attestation.revocation": {"levels": ["none", "pul"]}}},
         "design.factors.attestation.revocation.levels[1]", ""),
        ({"kind": "sobol", "samples": 6, "factors": {"a.b": {"range": [0, 1]},
                                                     "c.d": {"range": [0, 1]}}},
         "design", "power of two"),
        ({"kind": "morris", "factors": {"attestation.interval": {"range": ["1m"]}}},
         "design.factors.attestation.interval.range", ""),
    ],
)  # fmt: skip
def test_design_problems_name_the_field(design: dict[str, Any], where: str, says: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_sweep(_sweep(design), ROOT, allow_outside=True)
    text = "\n".join(str(p) for p in err.value.problems)
    assert where in text
    assert says in text


def test_a_design_refuses_grid_factors_and_metrics_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    design = {"kind": "morris", "factors": {"attestation.interval": {"range": ["1m", "2m"]}}}
    with pytest.raises(ScenarioError, match="samples its own points"):
        parse_sweep(_sweep(design, factors={"kms.servers": [1, 2]}), ROOT, allow_outside=True)
    f = tmp_path / "s.yaml"
    f.write_text(
        f"name: s\nbase: {STATION}\ndesign: {{kind: morris, factors: {{attestation.interval: "
        "{range: [1m, 2m]}}}\nmetrics: [attestation.latency_s.p59]\n"
    )
    assert main(["validate", "--allow-outside", str(f)]) == 2
    err = capsys.readouterr().err
    assert "metrics" in err and "did you mean 'attestation.latency_s.p99'" in err


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_a_small_design_sweep_writes_indices_a_figure_and_resumes(tmp_path: Path) -> None:
    """Eight Latin-hypercube points of a small M/M/c station (24 hosts, so 0.8 requests a
    second) over workers (1..3) and the LAN latency, 1 replication of 4 simulated minutes:
    the tables, the figure and the report are written; a second run keeps every run."""
    data = _sweep(
        {
            "kind": "latin_hypercube",
            "samples": 8,
            "factors": {
                "trust_authority.attestation_service.workers": {"range": [1, 3]},
                "network.lan_latency": {"range": ["0.1ms", "1ms"]},
            },
        },
        until="4m",
        warmup="1m",
        replications=1,
        metrics=["attestation.queue_wait_s.mean", "attestation.requests"],
    )
    sw = parse_sweep(data, ROOT, overrides={"vcenters.0.clusters.0.hosts": 24}, allow_outside=True)
    res = run_sweep(sw, tmp_path / "sens", workers=1, progress=False)
    assert not res.failed
    rows = _read(tmp_path / "sens" / "sensitivity.csv")
    assert {r["metric"] for r in rows} == {
        "attestation.queue_wait_s.mean",
        "attestation.requests",
    }
    assert {r["index"] for r in rows} == {"S1"}
    design = _read(tmp_path / "sens" / "design.csv")
    assert len(design) == 8
    again = run_sweep(sw, tmp_path / "sens", workers=1, progress=False)
    assert again.kept == len(sw.cells)
    assert _read(tmp_path / "sens" / "sensitivity.csv") == rows
    out = tmp_path / "fig.svg"
    assert main(["plot", str(tmp_path / "sens"), "--kind", "sensitivity", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert main(["report", str(tmp_path / "sens")]) == 0
    assert "<h2>Sensitivity</h2>" in (tmp_path / "sens" / "report.html").read_text()


@pytest.mark.parametrize("kind", ["morris", "sobol", "latin_hypercube"])
def test_the_sensitivity_figure_draws_each_design_and_notes_missing_indices(
    tmp_path: Path, kind: str
) -> None:
    """The tornado figure from a sensitivity.csv of each design kind (one metric with
    indices, one undefined at a point: listed in a note); a sweep folder without the table
    is refused with exit code 2 and a reason."""
    from sim.analysis import results
    from sim.experiments.design import SENSITIVITY_COLUMNS
    from sim.plots import plot

    names = ["attestation.interval", "kms.servers", "network.lan_latency"]
    d = _design(kind, 16 if kind != "morris" else 4, names)
    pts = sample(d, _axes(names), root_seed=2)
    y: list[float | None] = [3 * r[0] + r[1] ** 2 for r in pts.unit]
    gaps: list[float | None] = [*y[:-1], None]
    table = sensitivity_table(
        d, pts, {"drift.time_to_refusal_s.mean": y, "attestation.latency_s.p95": gaps}, 2
    )
    folder = tmp_path / "sweep"
    folder.mkdir()
    for name in ("index.csv", "cells.csv"):
        results.write_table(folder / name, [], ["cell_id", "variant", "metric"])
    assert (
        main(["plot", str(folder), "--kind", "sensitivity", "--out", str(tmp_path / "x.png")]) == 2
    )
    results.write_table(folder / "sensitivity.csv", table, list(SENSITIVITY_COLUMNS))
    out = plot(folder, "sensitivity", tmp_path / "s.svg")
    text = out.read_text()
    assert "attestation interval" in text and "KMS servers" in text  # text kept as comments
    assert "no indices" in text and "undefined at 1 of" in text
