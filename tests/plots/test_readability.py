"""Readability of the sweep figures from 2 to 20 replications and 1 to 12 variants: every
figure kind drawn from synthetic sweep folders (in the format sim/experiments writes) and
its matplotlib objects inspected: legend entries, bounds, units, titles, legend placement,
empty panels, `$` in names and the output formats."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from sim import plots
from sim.analysis import results
from sim.analysis.stats import nonneg_estimate
from sim.errors import RunError, ScenarioError
from sim.plots.sweeps import CAP, RIBBON_MIN_N

INTERVALS = (60.0, 120.0, 300.0, 600.0)  # seconds, as cells.csv writes attestation.interval
METRICS: dict[str, tuple[float, float]] = {  # metric: (typical value, spread) per run
    "attestation.latency_s.p50": (0.2, 0.05),
    "attestation.latency_s.p95": (0.5, 0.2),
    "attestation.latency_s.p99": (0.9, 0.5),
    "drift.time_to_lapse_s.mean": (400.0, 380.0),  # spread near the mean: t would go < 0
    "drift.time_to_lapse_s.p95": (700.0, 500.0),
    "drift.time_to_refusal_s.mean": (900.0, 800.0),
    "drift.time_to_refusal_s.p95": (1200.0, 900.0),
    "drift.exposure.keys_released": (3.0, 3.0),
    "drift.exposure.power_ons": (1.0, 1.0),
    "drift.exposure.migrations_in": (5.0, 4.0),
    "attestation.latency_s.mean": (0.25, 0.05),
    "services.attestation_service.utilisation": (0.02, 0.02),
}
NO_REFUSAL = "b$1$"  # a variant whose drifts were never refused: its refusal series are empty


def fake_sweep(folder: Path, reps: int, variants: int, name: str = "fig$sweep$") -> Path:
    """A sweep folder as sim/experiments writes it (index.csv, cells.csv, the resolved
    sweep file) with ``variants`` variants x the 4 intervals x ``reps`` replications; the
    per-run values are drawn from a seeded generator (values may be 0, never negative)
    and the cells' intervals come from :func:`nonneg_estimate`, as the sweep computes them.
    The second variant (named with `$` signs) has no refusal times; with 3 or more variants
    the last one has no drift figures at all (an empty panel)."""
    gen = np.random.default_rng(reps * 100 + variants)
    names = ["a", NO_REFUSAL, *[f"v{i}" for i in range(2, variants)]][:variants]
    cells, index = [], []
    for vi, variant in enumerate(names):
        for interval in INTERVALS:
            cell = f"{variant}__interval={interval:g}"
            index += [
                {"path": f"runs/{cell}/rep-{r}", "status": "ok", "cell_id": cell,
                 "variant": variant, "attestation.interval": interval}
                for r in range(reps)
            ]  # fmt: skip
            for metric, (typical, spread) in METRICS.items():
                empty = (variant == NO_REFUSAL and "refusal" in metric) or (
                    variants >= 3 and vi == variants - 1 and metric.startswith("drift.")
                )
                values = [] if empty else list(
                    np.maximum(gen.normal(typical * interval / 300, spread, reps), 0.0)
                )  # fmt: skip
                est = nonneg_estimate(values)
                cells.append(
                    {"cell_id": cell, "variant": variant, "attestation.interval": interval,
                     "runs": reps, "metric": metric, **est.as_row()}
                )  # fmt: skip
    folder.mkdir(parents=True)
    results.write_table(folder / "cells.csv", cells)
    results.write_table(folder / "index.csv", index)
    doc = {"sweep": {"name": name, "factors": {"attestation.interval": ["1m", "2m", "5m", "10m"]}}}
    (folder / "sweep.resolved.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return folder


SWEEP_KINDS = ("latency-percentiles", "lapse", "exposure", "topology-comparison")


def draw(kind: str, sweep: Path) -> Figure:
    """Figure ``kind`` of ``sweep`` (x: the interval), drawn for inspection."""
    if kind == "topology-comparison":
        fig = plots.topology_comparison(sweep)
    else:
        fig = plots.KINDS[kind](sweep, "attestation.interval")
    FigureCanvasAgg(fig).draw()  # lay out, so that legend and axes boxes are final
    return fig


def drawn_labels(fig: Figure) -> set[str]:
    """Labels of the series that show data: lines with a finite point, bar containers
    with a finite bar."""
    labels = set()
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_") and np.isfinite(line.get_ydata()).any():
                labels.add(line.get_label())
        for bars in ax.containers:
            heights = [p.get_height() for p in bars.patches] if hasattr(bars, "patches") else []
            if bars.get_label() and not bars.get_label().startswith("_") and heights:
                labels.add(bars.get_label())
    return labels


def interval_ys(fig: Figure) -> np.ndarray:
    """Every y of every interval drawn (ribbons, error bars) in plotted units."""
    ys = [
        p.vertices[:, 1]
        for ax in fig.axes
        for c in ax.collections
        if isinstance(c, PolyCollection | LineCollection)
        for p in c.get_paths()
    ]
    both = np.concatenate(ys) if ys else np.array([])
    return both[np.isfinite(both)]  # a missing cell leaves a NaN bar, which is not drawn


@pytest.fixture(scope="module", params=[(2, 2), (20, 3), (3, 12), (2, 1)])
def sweep(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic sweeps: (replications, variants) of 2x2, 20x3, 3x12 and 2x1."""
    reps, variants = request.param
    return fake_sweep(tmp_path_factory.mktemp(f"fig-{reps}x{variants}") / "sweep", reps, variants)


@pytest.mark.slow
@pytest.mark.parametrize("kind", SWEEP_KINDS)
def test_sweep_figures_stay_readable(kind: str, sweep: Path) -> None:
    """Legend entries are exactly the series drawn with data, outside every panel; no
    interval below 0; y labels carry a unit; the title names the sweep, n and the 95% CI."""
    fig = draw(kind, sweep)
    cells = results.read_table(sweep / "cells.csv")
    reps = int(cells["runs"].iloc[0])
    entries = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert len(entries) == len(set(entries))
    n_variants = cells["variant"].nunique()
    if kind == "topology-comparison":  # one group of bars per interval, named in the legend
        assert (
            set(entries)
            == drawn_labels(fig)
            == {f"attestation interval={i}" for i in ("1m", "2m", "5m", "10m")}
        )
    else:
        assert set(entries) == drawn_labels(fig)
    assert all("." not in e.split("(")[0].replace("$", "") for e in entries), entries
    ys = interval_ys(fig)
    assert ys.size and ys.min() >= 0.0
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for leg in fig.legends:
        box = leg.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer))
    for ax in fig.axes:
        label = ax.get_ylabel()
        assert not label or re.search(r"\((ms|s|min|h|d|%|count)\)$", label), label
    title = fig.get_suptitle()
    assert "fig$sweep$" in title and f"n={reps}" in title and "95% CI" in title
    assert fig.axes[0].get_ylabel()
    panels = [ax.get_title() for ax in fig.axes]
    if kind in ("lapse", "exposure") and n_variants >= 3:  # the last variant has no drift
        assert f"variant v{n_variants - 1}" not in panels
        assert fig._supxlabel is not None and "not drawn" in fig._supxlabel.get_text()


def test_ribbons_from_ten_replications_error_bars_below(tmp_path: Path) -> None:
    """2 replications: points with error bars (line collections); 20: ribbons (polygons)."""
    few = draw("latency-percentiles", fake_sweep(tmp_path / "few", 2, 1))
    many = draw("latency-percentiles", fake_sweep(tmp_path / "many", 20, 1))
    assert RIBBON_MIN_N <= 20
    assert all(isinstance(c, LineCollection) for c in few.axes[0].collections)
    assert all(isinstance(c, PolyCollection) for c in many.axes[0].collections)
    assert "bars: 95% CI" in few.get_suptitle() and "bands: 95% CI" in many.get_suptitle()


def test_empty_series_have_no_legend_entry(tmp_path: Path) -> None:
    """Variant b$1$ has no refusal times: its panel shows only the 2 lapse lines, and the
    legend lists 4 entries (lapse and refusal, mean and p95) only because variant a has
    all 4; with b$1$ alone, 2 entries."""
    sweep = fake_sweep(tmp_path / "s", 2, 2)
    fig = draw("lapse", sweep)
    b = next(ax for ax in fig.axes if "b" in ax.get_title())
    assert len(b.get_lines()) == 2
    assert len(fig.legends[0].get_texts()) == 4
    cells = results.read_table(sweep / "cells.csv")
    results.write_table(
        sweep / "cells.csv", cells[cells["variant"] == NO_REFUSAL].to_dict("records")
    )
    alone = draw("lapse", sweep)
    assert [t.get_text() for t in alone.legends[0].get_texts()] == [
        "time to lapse (mean) (n=2)",
        "time to lapse (p95) (n=2)",
    ]
    assert "no values of drift.time_to_refusal_s.mean" in alone._supxlabel.get_text()  # type: ignore[union-attr]


def test_dollar_signs_are_text_not_mathtext(tmp_path: Path) -> None:
    """A `$` in the sweep or a variant name prints as a dollar sign: mathtext is off, and
    the text is not escaped (an escape would print its backslash)."""
    fig = draw("lapse", fake_sweep(tmp_path / "s", 2, 2))
    assert any(ax.get_title() == "variant b$1$" for ax in fig.axes)
    assert "sweep fig$sweep$" in fig.get_suptitle()
    assert not any(t.get_parse_math() for t in (fig._suptitle, *(a.title for a in fig.axes)))


def test_a_sweep_without_any_value_is_refused(tmp_path: Path) -> None:
    """No variant recorded a refusal time: a clear error, not an empty figure."""
    sweep = fake_sweep(tmp_path / "s", 2, 2)
    cells = results.read_table(sweep / "cells.csv")
    results.write_table(
        sweep / "cells.csv", cells[cells["variant"] == NO_REFUSAL].to_dict("records")
    )
    with pytest.raises(RunError, match=r"no values of drift\.time_to_refusal_s\.mean"):
        plots.metric_vs(sweep, "attestation.interval", ["drift.time_to_refusal_s.mean"])


@pytest.mark.slow
@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_plot_writes_png_svg_and_pdf(fmt: str, magic: bytes, tmp_path: Path) -> None:
    """By the suffix or by ``fmt`` (its suffix added); a clash is refused."""
    sweep = fake_sweep(tmp_path / "s", 2, 2)
    by_suffix = plots.plot(sweep, "lapse", tmp_path / f"a.{fmt}")
    by_format = plots.plot(sweep, "lapse", tmp_path / "b", fmt=fmt)
    assert by_format == tmp_path / f"b.{fmt}"
    for path in (by_suffix, by_format):
        assert path.read_bytes().startswith(magic)
    other = "svg" if fmt != "svg" else "png"
    with pytest.raises(ScenarioError) as err:
        plots.plot(sweep, "lapse", tmp_path / f"c.{other}", fmt=fmt)
    assert err.value.problems[0].path == "--format"


def test_pdf_is_byte_identical_for_the_same_data(tmp_path: Path) -> None:
    """No creation date in the PDF: the same figure twice gives the same bytes."""
    sweep = fake_sweep(tmp_path / "s", 2, 2)
    a = plots.plot(sweep, "exposure", tmp_path / "a.pdf").read_bytes()
    b = plots.plot(sweep, "exposure", tmp_path / "b.pdf").read_bytes()
    assert a == b


def test_intervals_far_above_the_means_are_cut_with_a_note(tmp_path: Path) -> None:
    """2 replications: a log-t upper bound many times the mean would squeeze the means
    against 0; the axis stops at CAP x the highest mean (cells.csv, in the axis unit) and
    says so."""
    sweep = fake_sweep(tmp_path / "s", 2, 1)
    cells = results.read_table(sweep / "cells.csv")
    mine = cells[cells["metric"].str.startswith("attestation.latency_s.p")]
    top, high = mine["mean"].max(), mine["ci_high"].max()  # seconds
    assert high > CAP * top  # the case this test is about
    fig = draw("latency-percentiles", sweep)
    unit = re.search(r"\((ms|s|min|h|d)\)$", fig.axes[0].get_ylabel())
    assert unit
    per = plots.TIME_UNITS[unit.group(1)]  # seconds per axis unit
    assert fig.axes[0].get_ylim() == pytest.approx((0.0, CAP * top / per * 1.02))
    assert "cut at the top" in fig._supxlabel.get_text()  # type: ignore[union-attr]
    # 20 replications: narrower intervals, nothing cut, the axis holds every bound
    many = draw("latency-percentiles", fake_sweep(tmp_path / "m", 20, 1))
    assert many._supxlabel is None or "cut" not in many._supxlabel.get_text()
    assert many.axes[0].get_ylim()[1] >= interval_ys(many).max()
