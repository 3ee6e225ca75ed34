"""Every figure kind and both report kinds on real sweeps of 2 and 20 replications, with
their run folders (a tiny estate run for 10 simulated minutes, once per module): legend
entries are the series drawn, no interval or value below 0, axis labels carry a unit,
titles name the sweep (or run) and n, legends sit outside the panels; a report lists its
sections in order and every figure drawn or "not drawn" with a reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from sim import plots
from sim.analysis import results
from sim.experiments.spec import DEFAULT_METRICS
from sim.experiments.sweep import run_sweep
from sim.plots.report import render
from tests.plots.test_readability import draw, interval_ys

pytestmark = pytest.mark.slow  # built on 2- and 20-replication sweeps: > 5 s each

NAME = "fig-props"
BASE: dict[str, Any] = {
    "name": "props-estate",
    "description": "Two hosts & one drift measured when it happens",
    "seed": 1,
    "duration": "10m",
    "attestation": {"report_lifetime": "6m"},
    "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 2}]}],
    "vms": {"count": 6},
    "workload": {"power_on_rate": "60 per_hour", "migration_rate": "60 per_hour"},
    # measured at runtime, so that the drift is detected, lapses and is refused in 10m
    "drift": {
        "measured_at": {"unapproved_vib": "runtime"},
        "scheduled": [{"at": "2m", "host": "esx-01", "kind": "unapproved_vib"}],
    },
    "metrics": {"rmst_horizon": "5m"},
}
REGIME_METRICS = [  # what sim.experiments.comparison reads beside the default metrics
    "attestation.verdicts.reached",
    "drift.time_to_detection_s.km_restricted_mean",
    "drift.time_to_detection_s.censored",
    "drift.time_to_lapse_s.km_restricted_mean",
    "drift.time_to_refusal_s.km_restricted_mean",
    "drift.time_to_refusal_s.censored",
    *(f"services.attestation_service.nodes.{i}.utilisation" for i in range(3)),
]
VARIANTS = ("vta", "two-kms")
CELLS = 4  # 2 variants x 2 intervals
UNIT = re.compile(r"\((ms|s|min|h|d|%|count|keys|hosts|requests|1/h)\)$")
SWEEP_KINDS = (
    "latency-cdf",
    "latency-percentiles",
    "lapse",
    "exposure",
    "topology-comparison",
    "capacity",
    "regimes",
)
RUN_KINDS = ("latency-cdf", "utilisation", "capacity")


@pytest.fixture(scope="module", params=[2, 20], ids=["2-reps", "20-reps"])
def sweep(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sweep folder: 2 variants x intervals 1m and 3m x 2 or 20 replications."""
    reps = int(request.param)
    root = tmp_path_factory.mktemp(f"props-{reps}")
    (root / "base.yaml").write_text(yaml.safe_dump(BASE), encoding="utf-8")
    spec = {
        "name": NAME,
        "base": "base.yaml",
        "seed": 3,
        "factors": {"attestation.interval": ["1m", "3m"]},
        "variants": {"vta": {}, "two-kms": {"overrides": {"kms.servers": 2}}},
        "replications": reps,
        "metrics": list(dict.fromkeys([*DEFAULT_METRICS, *REGIME_METRICS])),
    }
    (root / "sweep.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    result = run_sweep(root / "sweep.yaml", root / "out", workers=1, progress=False)
    assert not result.failed
    return result.path


def reps_of(sweep: Path) -> int:
    """Replications per cell, from index.csv."""
    runs = len(results.read_table(sweep / "index.csv"))
    return runs // CELLS


def first_run(sweep: Path) -> Path:
    """The folder of the sweep's first run."""
    return sweep / str(results.read_table(sweep / "index.csv")["path"].iloc[0])


def figure(kind: str, source: Path) -> Figure:
    """Figure ``kind`` of a sweep or run folder, laid out for inspection."""
    if kind in ("latency-percentiles", "lapse", "exposure", "topology-comparison"):
        return draw(kind, source)
    makers = {
        "latency-cdf": plots.latency_cdf,
        "capacity": plots.capacity_over_time,
        "regimes": plots.regime_comparison,
        "utilisation": plots.utilisation_over_time,
    }
    fig = makers[kind](source)
    FigureCanvasAgg(fig).draw()
    return fig


def series_labels(axes: list[Any]) -> list[str]:
    """Labels of what ``axes`` show with data: lines with a finite point, bar containers
    with a bar, labelled shaded spans."""
    labels = []
    for ax in axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_") and np.isfinite(line.get_ydata()).any():
                labels.append(line.get_label())
        for item in [*ax.containers, *ax.patches]:
            label = item.get_label()
            if label and not label.startswith("_") and getattr(item, "patches", [item]):
                labels.append(label)
    return labels


def assert_legends_match_series(fig: Figure, kind: str, reps: int) -> None:
    """A figure legend lists each series once, exactly those of all panels; a panel's own
    legend those of its panel; no legend overlaps a panel. Without a legend, one series
    (nothing to tell apart) or, for the regimes, bars named on the x axis."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    legends = [(leg, fig.axes) for leg in fig.legends]
    legends += [(ax.get_legend(), [ax]) for ax in fig.axes if ax.get_legend() is not None]
    for legend, axes in legends:
        entries = [t.get_text() for t in legend.get_texts()]
        assert len(entries) == len(set(entries)), entries
        assert set(entries) == set(series_labels(axes)), (entries, series_labels(axes))
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)
    if kind == "regimes":
        for ax in fig.axes:
            assert [t.get_text() for t in ax.get_xticklabels()] == list(VARIANTS)
            bars = [c for c in ax.containers if isinstance(c, BarContainer)]
            assert [len(b.patches) for b in bars] == [len(VARIANTS)]
    elif not legends:
        assert len(set(series_labels(fig.axes))) == 1


def assert_nothing_below_zero(fig: Figure, kind: str) -> None:
    """Every value drawn (lines, bars, error bars, ribbons) is >= 0: all are durations,
    counts, hosts or fractions; the kinds with intervals draw some."""
    ys = interval_ys(fig)
    if kind in ("latency-percentiles", "lapse", "exposure", "topology-comparison", "regimes"):
        assert ys.size
    assert not ys.size or ys.min() >= 0.0
    for ax in fig.axes:
        for line in ax.get_lines():
            values = np.asarray(line.get_ydata(), dtype=float)
            assert not (values[np.isfinite(values)] < 0).any(), line.get_label()
        for bars in ax.containers:
            assert all(p.get_height() >= 0 for p in getattr(bars, "patches", []))


def assert_units(fig: Figure) -> None:
    """Every panel has a y label (unless it shares the y axis of the panel to its left);
    every axis label names its unit in brackets, is a fraction (the CDF's y axis) or names
    categories (the variants compared)."""
    for i, ax in enumerate(fig.axes):
        shared = i > 0 and ax.get_shared_y_axes().joined(ax, fig.axes[i - 1])
        assert ax.get_ylabel() or shared
        assert ax.get_xlabel() in ("", "variant") or UNIT.search(ax.get_xlabel())
        label = ax.get_ylabel()
        assert not label or UNIT.search(label) or label.startswith("fraction of"), label


def titles(fig: Figure) -> str:
    """The figure's title and its panels' titles, one text."""
    return "\n".join([fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)])


# n as each kind states it: replications per cell; runs per regime (2 intervals pooled);
# runs in all; runs pooled with their attestation count
N_TEXT = {
    "latency-percentiles": "n={reps}",
    "lapse": "n={reps}",
    "exposure": "n={reps}",
    "topology-comparison": "n={reps}",
    "regimes": "n={per_variant} runs per regime",
    "capacity": "({runs} runs in all)",
    "latency-cdf": "successful attestations of {runs} runs",
}


@pytest.mark.parametrize("kind", SWEEP_KINDS)
def test_every_sweep_figure_kind_is_readable(kind: str, sweep: Path) -> None:
    """Legend = series drawn, outside the panels; nothing below 0; units on the axes; the
    title names the sweep and n."""
    reps = reps_of(sweep)
    fig = figure(kind, sweep)
    assert_legends_match_series(fig, kind, reps)
    assert_nothing_below_zero(fig, kind)
    assert_units(fig)
    text = titles(fig)
    assert f"sweep {NAME}" in text
    n = N_TEXT[kind].format(reps=reps, per_variant=2 * reps, runs=CELLS * reps)
    assert n in text, text


@pytest.mark.parametrize("kind", RUN_KINDS)
def test_every_run_figure_kind_is_readable(kind: str, sweep: Path) -> None:
    """A run of the sweep: the same properties, the title naming the run's scenario."""
    fig = figure(kind, first_run(sweep))
    assert_legends_match_series(fig, kind, 1)
    assert_nothing_below_zero(fig, kind)
    assert_units(fig)
    assert "props-estate" in titles(fig)


def test_log_axes_are_labelled_with_plain_numbers(sweep: Path) -> None:
    """Log axes (the regimes' time panels, the CCDF) show numbers, never mathtext source."""
    for fig in (
        figure("regimes", sweep),
        plots.latency_cdf(sweep, scale="ccdf"),
    ):
        FigureCanvasAgg(fig).draw()
        logs = [a for ax in fig.axes for a in (ax.xaxis, ax.yaxis) if a.get_scale() == "log"]
        assert logs
        for axis in logs:
            ticks = [t.get_text() for t in axis.get_ticklabels(which="both") if t.get_text()]
            assert ticks and not any("$" in t or "\\" in t for t in ticks), ticks


def figure_blocks(page: str) -> list[tuple[str, str]]:
    """Each figure of the page's Figures section: (its heading, what follows it)."""
    part = page.split("<h2>Figures</h2>", 1)[1].split("<h2>", 1)[0]
    return re.findall(r"<h3>(.*?)</h3>(.*?)(?=<h3>|$)", part, flags=re.S)


def assert_figures_accounted(page: str, expected: int) -> None:
    """``expected`` figures, each an embedded PNG or "not drawn: " with a reason."""
    blocks = figure_blocks(page)
    assert len(blocks) == expected, [b[0] for b in blocks]
    for heading, body in blocks:
        drawn = body.startswith('<img alt="') and 'src="data:image/png;base64,' in body
        reason = re.match(r"<p>not drawn: (.+?)</p>", body)
        assert drawn or (reason and reason.group(1).strip()), heading


def test_sweep_report_sections_and_figures(sweep: Path) -> None:
    """Answer, figures, differing settings, cell means; 4 figures (latency and lapse vs
    the interval, variants compared, the pooled CDF), all drawn: every one has values."""
    page = render(sweep)
    assert re.findall(r"<h2>(.*?)</h2>", page) == [
        "Answer",
        "Figures",
        "Settings that differ between cells",
        "Cell means",
    ]
    assert "<strong>Best on " in page
    assert_figures_accounted(page, 4)
    assert "not drawn" not in page
    assert page.count('src="data:image/png;base64,') == 4


def test_run_report_sections_and_figures(sweep: Path) -> None:
    """Headline figures, figures (CDF, service load, topology), settings, in order."""
    page = render(first_run(sweep))
    assert re.findall(r"<h2>(.*?)</h2>", page) == [
        "Headline figures",
        "Figures",
        "Scenario settings",
    ]
    assert_figures_accounted(page, 3)


def test_report_lists_a_figure_it_cannot_draw_with_the_reason(sweep: Path, tmp_path: Path) -> None:
    """A copy of the sweep without its run folders: the pooled CDF is listed as not drawn
    (its reason names the missing run), the 3 figures from cells.csv are still drawn."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("index.csv", "cells.csv", "sweep.resolved.yaml"):
        (copy / name).write_bytes((sweep / name).read_bytes())
    page = render(copy)
    assert_figures_accounted(page, 4)
    assert page.count('src="data:image/png;base64,') == 3
    assert "<h3>Attestation latency (CDF, pooled runs)</h3><p>not drawn: " in page
