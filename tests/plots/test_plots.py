"""Tests of sim.plots: every figure drawn from a small real run and sweep, its data checked
against the tables it came from, the files it writes, and the dispatcher's errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from sim import plots
from sim.analysis import results
from sim.errors import RunError, ScenarioError
from sim.experiments.sweep import run_sweep
from sim.results import load_sweep
from sim.runner import simulate, write
from sim.scenario import parse_scenario
from tests.plots.test_readability import fake_sweep

TINY: dict[str, Any] = {
    "name": "plots-tiny",
    "description": "Three hosts & one <drift> at 10m",
    "seed": 3,
    "duration": "1h",
    "network": {"sites": [{"name": "dc1"}]},
    "attestation": {"interval": "5m", "report_lifetime": "15m"},
    "vcenters": [
        {
            "name": "vc-a",
            "site": "dc1",
            "clusters": [{"name": "cl-a", "hosts": 3, "host_memory": "256GiB"}],
        }
    ],
    "vms": {"count": 10, "memory": ["4GiB"]},
    "drift": {"scheduled": [{"at": "10m", "host": "esx-02", "kind": "unapproved_vib"}]},
}
KINDS_OF_SERVICE = ("attestation_service", "key_provider_service", "status_service", "kms")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run folder of the tiny scenario."""
    out = simulate(parse_scenario(TINY))
    return Path(write(out, tmp_path_factory.mktemp("plots") / "run"))


@pytest.fixture(scope="session")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sweep: 2 interval levels x 2 variants x 2 replications of the tiny scenario."""
    base = tmp_path_factory.mktemp("plots-sweep")
    (base / "tiny.yaml").write_text(yaml.safe_dump(TINY), encoding="utf-8")
    spec = {
        "name": "plots-sweep",
        "base": "tiny.yaml",
        "seed": 5,
        "until": "1h",
        "factors": {"attestation.interval": ["2m", "10m"]},
        "variants": {"one": {}, "two-kms": {"overrides": {"kms.servers": 2}}},
        "replications": 2,
    }
    (base / "sweep.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = run_sweep(base / "sweep.yaml", base / "out", workers=1, progress=False)
    assert not result.failed
    return result.path


@pytest.fixture(scope="session")
def cells(sweep_dir: Path) -> list[dict[str, Any]]:
    """cells.csv of the sweep as row dicts."""
    return list(load_sweep(sweep_dir).cells.to_dict("records"))


def unit_of(label: str) -> float:
    """The length in seconds of the time unit named at the end of an axis label."""
    match = re.search(r"\((ms|s|min|h|d)\)$", label)
    assert match, label
    return plots.TIME_UNITS[match.group(1)]


def means(cells: list[dict[str, Any]], variant: str, metric: str) -> tuple[list[float], ...]:
    """x levels, means, CI lows and highs of one variant's cells for ``metric``, by x."""
    rows = sorted(
        (r for r in cells if r["variant"] == variant and r["metric"] == metric),
        key=lambda r: r["attestation.interval"],
    )
    return tuple(
        [float(r[c]) for r in rows] for c in ("attestation.interval", "mean", "ci_low", "ci_high")
    )


def assert_labelled(fig: Figure) -> None:
    """Every axes has a title, a y label (unless it shares the y axis of the panel to its
    left) and a legend (on it or on the figure); the bottom one an x label; no axis label
    is a raw dotted path or snake_case."""
    for i, ax in enumerate(fig.axes):
        shared = i > 0 and ax.get_shared_y_axes().joined(ax, fig.axes[i - 1])
        assert ax.get_title() and (ax.get_ylabel() or shared)
        assert ax.get_legend() is not None or fig.legends
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert "_" not in label and not re.search(r"\w\.\w", label), label
    assert fig.axes[-1].get_xlabel()


def assert_bands_clipped(fig: Figure, upper: float = np.inf) -> None:
    """Every CI band of every panel lies within [0, upper] in the plotted unit."""
    bands = [c for ax in fig.axes for c in ax.collections]
    assert bands
    for band in bands:
        for path in band.get_paths():
            ys = path.vertices[:, 1]
            assert ys.min() >= 0.0 and ys.max() <= upper


def ok_latencies(run: results.RunResult, warmup: float = 0.0) -> list[float]:
    """Latencies of the run's successful attestations requested from ``warmup`` on."""
    t = run.table("attestations")
    sel = t[(t.ok == True) & t.latency_s.notna() & (t.requested_at >= warmup)]  # noqa: E712
    return [float(v) for v in sel.latency_s]


# --------------------------------------------------------------------------- units


@given(st.floats(min_value=1e-6, max_value=8e7))
def test_time_unit_keeps_numbers_readable(seconds: float) -> None:
    """Any duration shown in its chosen unit lies between 0.001 and 1000."""
    name, length = plots.time_unit(seconds)
    assert plots.TIME_UNITS[name] == length
    assert 1e-3 <= seconds / length < 1000


@given(st.floats(min_value=1e-6, max_value=1e8), st.floats(min_value=1e-6, max_value=1e8))
def test_time_unit_is_monotone(a: float, b: float) -> None:
    """A larger duration never gets a smaller unit."""
    lo, hi = sorted((a, b))
    assert plots.time_unit(lo)[1] <= plots.time_unit(hi)[1]


def test_factor_kind_reads_the_scenario_model() -> None:
    """Factor units come from the Scenario field types, including fields inside lists."""
    assert plots.factor_kind("attestation.interval") == "duration"
    assert plots.factor_kind("vcenters.0.clusters.0.host_memory") == "size"
    assert plots.factor_kind("network.lan_bandwidth") == "bandwidth"
    assert plots.factor_kind("kms.servers") is None
    assert plots.factor_kind("attestation.revocation") is None
    assert plots.factor_kind("no.such.field") is None


# --------------------------------------------------------------------------- runs


def test_latency_cdf_of_a_run_plots_every_successful_latency(run_dir: Path) -> None:
    """One step curve whose x-data are the sorted latencies and whose y-data rise to 1."""
    run = results.load(run_dir)
    fig = plots.latency_cdf(run_dir)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    expected = np.sort(ok_latencies(run)) / unit_of(ax.get_xlabel())
    np.testing.assert_allclose(line.get_xdata(), expected)
    y = np.asarray(line.get_ydata())
    assert y[-1] == 1.0 and np.all(np.diff(y) > 0)
    assert f"n={len(expected)}" in line.get_label()
    assert_labelled(fig)


def test_latency_cdf_leaves_out_the_warmup(run_dir: Path) -> None:
    """Attestations requested before the scenario's warm-up are not in the curve."""
    run = results.load(run_dir)
    data = yaml.safe_load(run.scenario_yaml)
    data["warmup"] = "30m"
    warm = dataclasses.replace(run, scenario_yaml=yaml.safe_dump(data))
    (line,) = plots.latency_cdf(warm).axes[0].get_lines()
    kept = ok_latencies(run, 1800.0)
    assert 0 < len(kept) < len(ok_latencies(run))
    assert len(line.get_xdata()) == len(kept)


def test_latency_cdf_of_a_sweep_pools_runs_per_variant(sweep_dir: Path) -> None:
    """One curve per variant holding the latencies of all its runs; per cell on request."""
    index = load_sweep(sweep_dir).index
    fig = plots.latency_cdf(sweep_dir)
    lines = fig.axes[0].get_lines()
    assert [ln.get_label().split(" (")[0] for ln in lines] == ["one", "two-kms"]
    for line, variant in zip(lines, ("one", "two-kms"), strict=True):
        pooled = [
            v
            for p in index[index.variant == variant].path
            for v in ok_latencies(results.load(sweep_dir / p))
        ]
        assert len(line.get_xdata()) == len(pooled)
    assert len(plots.latency_cdf(sweep_dir, by="cell").axes[0].get_lines()) == 4
    assert len(plots.latency_cdf(sweep_dir, by="attestation.interval").axes[0].get_lines()) == 2
    with pytest.raises(ScenarioError):
        plots.latency_cdf(sweep_dir, by="nonsense")


def test_utilisation_over_time_is_the_node_mean_of_the_levels(run_dir: Path) -> None:
    """Two stacked axes, a line per service kind; y is busy/workers in %, averaged over nodes."""
    run = results.load(run_dir)
    fig = plots.utilisation_over_time(run_dir)
    top, bottom = fig.axes
    assert [ln.get_label() for ln in top.get_lines()] == [
        "Attestation Service",
        "Key Provider Service",
        "status endpoint",
        "KMS",
    ]
    assert len(bottom.get_lines()) == 4
    assert "%" in top.get_ylabel() and "queue" in bottom.get_ylabel()
    levels = run.table("levels")
    nodes = run.summary["services"]["attestation_service"]["nodes"]
    busy = levels[
        levels.series.str.startswith("attestation_service.") & levels.series.str.endswith(".busy")
    ]
    per_time = (
        busy.assign(
            pct=[
                100 * v / nodes[s.split(".")[1]]["workers"]
                for s, v in zip(busy.series, busy.value, strict=True)
            ]
        )
        .groupby("time")
        .pct.mean()
    )
    line = top.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), per_time.to_numpy())
    np.testing.assert_allclose(
        line.get_xdata(), per_time.index.to_numpy() / unit_of(bottom.get_xlabel())
    )
    assert_labelled(fig)


# --------------------------------------------------------------------------- sweeps


def test_percentiles_vs_draws_one_panel_per_variant_with_ci_bands(
    sweep_dir: Path, cells: list[dict[str, Any]]
) -> None:
    """One panel per variant, a line and a band per percentile with n in the legend; the
    legend sits outside the panels; y-data are the cell means, x the levels with discrete
    ticks at them; the axes are named in words."""
    fig = plots.percentiles_vs(sweep_dir, "attestation.interval")
    assert [ax.get_title() for ax in fig.axes] == ["variant one", "variant two-kms"]
    assert fig.legends and all(ax.get_legend() is None for ax in fig.axes)
    assert fig.axes[0].get_xlabel() == "attestation interval (min)"
    assert fig.axes[0].get_ylabel().startswith("attestation latency (")
    for ax, variant in zip(fig.axes, ("one", "two-kms"), strict=True):
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        assert sorted(lines) == [f"{p} (n=2)" for p in ("p50", "p95", "p99")]
        assert len(ax.collections) == 3
        assert [t.get_text() for t in ax.get_xticklabels()] == ["2m", "10m"]
        y_unit, x_unit = unit_of(fig.axes[0].get_ylabel()), unit_of(ax.get_xlabel())
        assert x_unit == 60.0
        for p in ("p50", "p95", "p99"):
            xs, ys, _, _ = means(cells, variant, f"attestation.latency_s.{p}")
            line = lines[f"{p} (n=2)"]
            np.testing.assert_allclose(line.get_xdata(), np.array(xs) / x_unit)
            np.testing.assert_allclose(line.get_ydata(), np.array(ys) / y_unit)
    assert "seed" not in fig.get_suptitle()
    assert_labelled(fig)
    assert_bands_clipped(fig)


def test_metric_vs_band_spans_the_confidence_interval_clipped_at_zero(
    sweep_dir: Path, cells: list[dict[str, Any]]
) -> None:
    """The interval around each line (error bars at 2 replications) runs from ci_low to
    ci_high of the cells, cut at 0."""
    fig = plots.metric_vs(sweep_dir, "attestation.interval", ["attestation.requests"])
    for ax, variant in zip(fig.axes, ("one", "two-kms"), strict=True):
        ((line,), (band,)) = ax.get_lines(), ax.collections
        assert line.get_label() == "attestation requests (n=2)"
        _, ys, lo, hi = means(cells, variant, "attestation.requests")
        np.testing.assert_allclose(line.get_ydata(), ys)
        band_y = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        for bound in (*lo, *hi):
            assert np.isclose(band_y, max(bound, 0.0)).any()
    assert fig.axes[0].get_ylabel().startswith("attestation requests")
    assert_bands_clipped(fig)
    with pytest.raises(RunError, match="did not record"):
        plots.metric_vs(sweep_dir, "attestation.interval", ["no.such.metric"])
    with pytest.raises(ScenarioError, match="not a factor"):
        plots.metric_vs(sweep_dir, "kms.servers", ["attestation.requests"])


def test_lapse_and_exposure_vs_the_interval(
    sweep_dir: Path, cells: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Lapse: 4 metrics per variant panel in time units; exposure: 3 counts per panel; a
    sweep whose drifts never lapsed (every duration censored) is refused, not drawn empty."""
    fake = fake_sweep(tmp_path / "fake", 2, 2)
    fake_cells = results.read_table(fake / "cells.csv").to_dict("records")
    lapse = plots.lapse_vs(fake)
    assert len(lapse.axes) == 2
    ax = lapse.axes[0]
    assert len(ax.get_lines()) == 4 and len(ax.collections) == 4
    line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("time to lapse (mean)"))
    rows = sorted(
        (
            r
            for r in fake_cells
            if r["variant"] == "a" and r["metric"] == "drift.time_to_lapse_s.mean"
        ),
        key=lambda r: r["attestation.interval"],
    )
    ys = [r["mean"] for r in rows]
    np.testing.assert_allclose(line.get_ydata(), np.array(ys) / unit_of(ax.get_ylabel()))
    assert_labelled(lapse)
    assert_bands_clipped(lapse)
    assert all(np.isnan(r["mean"]) for r in cells if r["metric"] == "drift.time_to_lapse_s.mean")
    with pytest.raises(RunError, match=r"no values of drift\.time_to_lapse_s\.mean"):
        plots.lapse_vs(sweep_dir)
    exposure = plots.exposure_vs(sweep_dir)
    ax = exposure.axes[1]
    assert len(ax.get_lines()) == 3
    line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("keys released"))
    np.testing.assert_allclose(
        line.get_ydata(), means(cells, "two-kms", "drift.exposure.keys_released")[1]
    )
    assert ax.figure.axes[0].get_ylabel().endswith("(count)")
    assert_labelled(exposure)


def test_bands_of_fractions_stay_within_0_and_100_percent(tmp_path: Path) -> None:
    """A utilisation CI reaching past 0 or 1 is drawn from 0% to 100% at most."""
    rows = [
        {
            "cell_id": f"c{i}",
            "variant": "",
            "kms.servers": k,
            "runs": 2,
            "metric": "services.kms.utilisation",
            "n": 2,
            "mean": m,
            "std": 0.5,
            "ci_half_width": 2.0,
            "ci_low": m - 2.0,
            "ci_high": m + 2.0,
        }
        for i, (k, m) in enumerate(((1, 0.1), (2, 0.9)))
    ]
    results.write_table(tmp_path / "cells.csv", rows)
    results.write_table(tmp_path / "index.csv", [{"run": "c0/rep-0", "status": "ok"}])
    fig = plots.metric_vs(tmp_path, "kms.servers", ["services.kms.utilisation"])
    assert fig.axes[0].get_xlabel() == "KMS servers"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "2"]
    assert fig.axes[0].get_ylabel() == "KMS utilisation (%)"
    assert_bands_clipped(fig, upper=100.0)
    band = fig.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == 0.0 and band.max() == 100.0


def test_topology_comparison_bars_are_cell_means(
    sweep_dir: Path, cells: list[dict[str, Any]]
) -> None:
    """One subplot per metric, a bar per variant x interval at the cell mean with CI bars."""
    fig = plots.topology_comparison(sweep_dir)
    # no drift lapsed or was refused in this sweep: those two panels are left out, noted
    assert len(fig.axes) == len(plots.COMPARISON_METRICS) - 2
    note = fig._supxlabel.get_text()  # type: ignore[union-attr]
    assert "drift.time_to_lapse_s.mean, drift.time_to_refusal_s.mean" in note
    assert fig.legends and "sweep plots-sweep" in fig.get_suptitle()
    for ax in fig.axes:
        assert len(ax.patches) == 4
        assert [t.get_text() for t in ax.get_xticklabels()] == ["one", "two-kms"]
    ax = fig.axes[0]  # attestation.latency_s.p95; bars grouped by interval (2m, then 10m)
    heights = [p.get_height() for p in ax.patches]
    expected = [
        means(cells, v, "attestation.latency_s.p95")[1][i]
        for i in (0, 1)
        for v in ("one", "two-kms")
    ]
    np.testing.assert_allclose(heights, np.array(expected) / unit_of(ax.get_ylabel()))
    assert_labelled(fig)
    single = plots.topology_comparison(sweep_dir, ["attestation.requests"])
    assert len(single.axes) == 1


def test_categorical_and_second_factor_lines(tmp_path: Path) -> None:
    """A text factor gets category ticks; another factor's levels get one line each."""
    rows = [
        {
            "cell_id": f"c{i}",
            "variant": "",
            "attestation.revocation": rev,
            "kms.servers": k,
            "runs": 2,
            "metric": "drift.time_to_lapse_s.mean",
            "n": 2,
            "mean": 60.0 * (i + 1),
            "std": 1.0,
            "ci_half_width": 5.0,
            "ci_low": 60.0 * (i + 1) - 5,
            "ci_high": 60.0 * (i + 1) + 5,
        }
        for i, (rev, k) in enumerate((("none", 1), ("push", 1), ("none", 2), ("push", 2)))
    ]
    results.write_table(tmp_path / "cells.csv", rows)
    results.write_table(tmp_path / "index.csv", [{"run": "c0/rep-0", "status": "ok"}])
    fig = plots.metric_vs(tmp_path, "attestation.revocation", ["drift.time_to_lapse_s.mean"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "push"]
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["KMS servers=1 (n=2)", "KMS servers=2 (n=2)"]
    np.testing.assert_allclose(lines[0].get_xdata(), [0, 1])
    np.testing.assert_allclose(lines[1].get_ydata(), [3.0, 4.0])  # minutes
    assert ax.get_ylabel().endswith("(min)")


# --------------------------------------------------------------------------- topology


def node_collections(fig: Figure) -> dict[str, PathCollection]:
    """The node scatter collections of a topology figure by their legend label."""
    return {str(c.get_label()): c for c in fig.axes[0].collections if isinstance(c, PathCollection)}


def test_topology_draws_every_node_by_kind(run_dir: Path) -> None:
    """Run folder, Scenario and YAML file give the same estate, nodes coloured by kind."""
    fig = plots.topology(run_dir)
    nodes = node_collections(fig)
    assert sorted(nodes) == sorted(
        [
            "site switch",
            "vTA vCenter",
            "vTA node (attestation + key provider)",
            "KMS server",
            "workload vCenter",
            "trusted ESXi host",
        ]
    )
    assert len(nodes["trusted ESXi host"].get_offsets()) == 3
    assert len(nodes["vTA node (attestation + key provider)"].get_offsets()) == 3
    assert len({tuple(c.get_facecolor()[0]) for c in nodes.values()}) == len(nodes)
    assert fig.axes[0].get_legend() is not None and "3 trusted hosts" in fig.axes[0].get_title()
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"esx-01", "vc-a", "dc1", "cl-a"} <= texts
    same = plots.topology(parse_scenario(TINY))
    assert len(node_collections(same)) == len(nodes)


def test_topology_collapses_many_hosts_per_cluster(tmp_path: Path) -> None:
    """Above 100 hosts each cluster becomes one node labelled with its host count."""
    big = {
        **TINY,
        "drift": {},
        "vcenters": [
            {
                "name": "vc-a",
                "site": "dc1",
                "clusters": [{"name": "cl-a", "hosts": 60}, {"name": "cl-b", "hosts": 50}],
            }
        ],
    }
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(big), encoding="utf-8")
    fig = plots.topology(path)
    nodes = node_collections(fig)
    assert "trusted ESXi host" not in nodes
    assert len(nodes["host cluster (collapsed)"].get_offsets()) == 2
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"cl-a\n60 hosts", "cl-b\n50 hosts"} <= texts
    assert "110 trusted hosts" in fig.axes[0].get_title()


# --------------------------------------------------------------------------- output


def test_save_writes_png_and_svg_atomically(run_dir: Path, tmp_path: Path) -> None:
    """PNG and SVG by extension, parent folders made, no temporary file left behind."""
    fig = plots.latency_cdf(run_dir)
    png = plots.save(fig, tmp_path / "a" / "b" / "cdf.png")
    svg = plots.save(fig, tmp_path / "a" / "b" / "cdf.svg")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 1000
    assert b"<svg" in svg.read_bytes()[:2000]
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["cdf.png", "cdf.svg"]
    with pytest.raises(ScenarioError) as err:
        plots.save(fig, tmp_path / "cdf.jpg")
    assert err.value.problems[0].path == "--out"


def test_svg_is_byte_identical_for_the_same_data(
    sweep_dir: Path, run_dir: Path, tmp_path: Path
) -> None:
    """Drawing and saving the same data twice gives the same SVG bytes (no date, fixed ids)."""
    for name, make in (
        ("exposure", lambda: plots.exposure_vs(sweep_dir)),
        ("topology", lambda: plots.topology(run_dir)),
    ):
        a = plots.save(make(), tmp_path / f"{name}-1.svg").read_bytes()
        b = plots.save(make(), tmp_path / f"{name}-2.svg").read_bytes()
        assert a == b
        assert b"<dc:date>" not in a


def test_figures_leave_no_global_state(run_dir: Path) -> None:
    """No pyplot figure is registered and the global rc settings are untouched."""
    import matplotlib.pyplot as plt

    before = dict(mpl.rcParams)
    plots.utilisation_over_time(run_dir)
    plots.topology(run_dir)
    assert plt.get_fignums() == []
    assert dict(mpl.rcParams) == before


@pytest.mark.parametrize(
    "kind,source",
    [
        ("latency-cdf", "run"),
        ("latency-cdf", "sweep"),
        ("latency-percentiles", "sweep"),
        ("lapse", "sweep"),
        ("exposure", "sweep"),
        ("utilisation", "run"),
        ("topology-comparison", "sweep"),
        ("topology", "run"),
        ("capacity", "run"),
        ("capacity", "sweep"),
    ],
)
def test_plot_dispatches_every_kind(
    kind: str, source: str, run_dir: Path, sweep_dir: Path, tmp_path: Path
) -> None:
    """Every kind draws from its source and writes the file it was asked for."""
    assert set(plots.KINDS) == {
        "latency-cdf",
        "latency-percentiles",
        "lapse",
        "exposure",
        "utilisation",
        "topology-comparison",
        "topology",
        "capacity",
        "sensitivity",  # drawn in tests/experiments/test_design.py
    }
    sweep = fake_sweep(tmp_path / "fake", 2, 2) if kind == "lapse" else sweep_dir
    out = plots.plot(run_dir if source == "run" else sweep, kind, tmp_path / "f.png")
    assert out == tmp_path / "f.png" and out.stat().st_size > 1000


def test_plot_refuses_wrong_kinds_sources_and_options(
    run_dir: Path, sweep_dir: Path, tmp_path: Path
) -> None:
    """Clear errors for an unknown kind, a source of the wrong sort, a bad x or extension."""
    out = tmp_path / "f.png"
    with pytest.raises(ScenarioError) as err:
        plots.plot(sweep_dir, "histogram", out)
    assert err.value.problems[0].path == "--kind" and "latency-cdf" in str(err.value)
    with pytest.raises(RunError, match=r"needs a run folder.*is a sweep folder.*rep-"):
        plots.plot(sweep_dir, "utilisation", out)
    with pytest.raises(RunError, match=r"needs a sweep folder.*is a run folder"):
        plots.plot(run_dir, "lapse", out)
    with pytest.raises(RunError, match="does not exist"):
        plots.plot(tmp_path / "missing", "topology", out)
    with pytest.raises(RunError, match="neither a run folder nor a sweep folder"):
        plots.plot(tmp_path, "latency-cdf", out)
    with pytest.raises(ScenarioError) as err:
        plots.plot(sweep_dir, "lapse", out, x="kms.servers")
    assert err.value.problems[0].path == "--x"
    with pytest.raises(ScenarioError):
        plots.plot(run_dir, "utilisation", out, x="attestation.interval")
    with pytest.raises(ScenarioError):
        plots.plot(sweep_dir, "lapse", tmp_path / "f.jpg")
    assert not out.exists()


# --------------------------------------------------------------------------- readability


def test_latency_cdf_offers_log_axis_and_ccdf(run_dir: Path) -> None:
    """``log`` puts the latency on a log axis; ``ccdf`` plots the fraction above x on
    log-log axes and equals 1 - CDF; neither names the seed."""
    cdf = plots.latency_cdf(run_dir)
    log = plots.latency_cdf(run_dir, scale="log")
    tail = plots.latency_cdf(run_dir, scale="ccdf")
    assert log.axes[0].get_xscale() == "log" and log.axes[0].get_yscale() == "linear"
    assert tail.axes[0].get_xscale() == "log" and tail.axes[0].get_yscale() == "log"
    assert tail.axes[0].get_ylabel() == "fraction of attestations > x"
    (line,), (tail_line,) = cdf.axes[0].get_lines(), tail.axes[0].get_lines()
    n = len(tail_line.get_ydata())
    np.testing.assert_allclose(tail_line.get_ydata(), 1.0 - line.get_ydata()[:n])
    for fig in (cdf, log, tail):
        assert "seed" not in fig.axes[0].get_title()
    with pytest.raises(ScenarioError, match="--scale"):
        plots.latency_cdf(run_dir, scale="cubic")


def test_utilisation_figure_marks_drift_windows(run_dir: Path) -> None:
    """Each drift window of the run is shaded on both panels and named in the legend."""
    run = results.load(run_dir)
    drift = run.table("drift_events")
    fig = plots.utilisation_over_time(run_dir)
    unit = unit_of(fig.axes[1].get_xlabel())
    for ax in fig.axes:
        spans = list(ax.patches)
        assert len(spans) == len(drift) == 1
        start, width = spans[0].get_x(), spans[0].get_width()  # type: ignore[attr-defined]
        assert np.isclose(start, drift["at"].iloc[0] / unit)
        assert np.isclose(start + width, drift["window_end"].iloc[0] / unit)
        assert "drift window" in ax.get_legend_handles_labels()[1]
    assert "seed" not in fig.get_suptitle()


def test_labels_say_vmotion_and_name_factors_in_words() -> None:
    """Metric and factor paths become words as a reader writes them."""
    from sim.plots._common import _factor_label, _metric_label

    assert _metric_label("vmotion.duration_s.mean") == "vMotion duration (mean)"
    assert _factor_label("vcenters.0.clusters.0.hosts") == "hosts per cluster"
    assert _factor_label("kms.servers") == "KMS servers"
    assert _factor_label("vms.count") == "VMs"
