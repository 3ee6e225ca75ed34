"""The HTML reports: a sweep's page opens with the answer and keeps its tables last; a run's
page shows the scenario's description and settings, with units that match the values."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from sim.plots.report import render
from tests.plots.test_plots import run_dir, sweep_dir  # noqa: F401  (fixtures)
from tests.plots.test_readability import fake_sweep


def sections(page: str) -> list[str]:
    """The page's h2 headings, in order."""
    return re.findall(r"<h2>(.*?)</h2>", page)


def rows_of(page: str, heading: str) -> list[list[str]]:
    """The cells of the first table after ``heading``, unescaped, row by row."""
    part = page.split(f"<h2>{heading}</h2>", 1)[1].split("</table>", 1)[0]
    return [
        [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", part)
        if "<td>" in row
    ]


def test_sweep_report_opens_with_the_answer_and_ends_with_the_tables(
    sweep_dir: Path,  # noqa: F811
) -> None:
    """Answer, figures, differing settings, cell means, in that order; the answer ranks the
    4 cells on the first recorded metric with the test named; levels read 2m and 10m."""
    page = render(sweep_dir)
    assert sections(page) == [
        "Answer",
        "Figures",
        "Settings that differ between cells",
        "Cell means",
    ]
    answer = page.split("<h2>Answer</h2>", 1)[1].split("<h2>Figures</h2>", 1)[0]
    # the first decision figure of `compare` the sweep records: the latency median
    assert "<strong>Best on attestation.latency_s.p50: cell " in answer and "test: " in answer
    ranked = rows_of(page, "Answer")
    assert [r[0] for r in ranked] == ["1", "2", "3", "4"]  # 2 variants x 2 intervals
    assert ranked[0][5] == "(reference)" and "[" in ranked[1][5]  # a difference with its CI
    differing = rows_of(page, "Settings that differ between cells")
    assert {(r[1], r[2], r[3]) for r in differing} == {
        ("one", "-", "2m"),
        ("one", "-", "10m"),
        ("two-kms", "kms.servers=2", "2m"),
        ("two-kms", "kms.servers=2", "10m"),
    }
    means = rows_of(page, "Cell means")
    assert {r[1] for r in means} == {"attestation.interval=2m", "attestation.interval=10m"}
    assert all("120.0" not in r[1] and "600.0" not in r[1] for r in means)
    assert page.index("data:image/png") < page.index("<h2>Cell means</h2>")


def test_run_report_shows_description_settings_and_matching_units(
    run_dir: Path,  # noqa: F811
) -> None:
    """The description (escaped) and the settings as written (5m, 1h); no value shown as a
    percentage or with its own unit is labelled again (no "fraction" beside a "%")."""
    page = render(run_dir)
    assert "<p>Three hosts &amp; one &lt;drift&gt; at 10m</p>" in page
    settings = dict(map(tuple, rows_of(page, "Scenario settings")))  # type: ignore[arg-type]
    assert settings["duration"] == "1h" and settings["attestation.interval"] == "5m"
    assert settings["estate"] == "1 vCenter(s), 1 cluster(s), 3 hosts"
    headline = rows_of(page, "Headline figures")
    assert headline
    for _, value, unit in headline:
        assert unit != "fraction"
        if value.endswith("%") or value.endswith(" s"):
            assert unit == ""
    counts = [u for k, v, u in headline if k == "attestation.requests"]
    assert counts == ["count"]
    assert sections(page)[-1] == "Scenario settings"


@pytest.mark.slow
@pytest.mark.parametrize("reps,variants", [(2, 2), (20, 3)])
def test_sweep_report_of_cells_without_run_folders(
    tmp_path: Path, reps: int, variants: int
) -> None:
    """A sweep folder holding only its tables (runs deleted or not copied) still gets its
    page: the answer says why nothing was ranked, the figures from the tables are drawn, the
    pooled CDF (which needs the runs) is listed as not drawn, and the tables come last."""
    page = render(fake_sweep(tmp_path / "s", reps, variants))
    assert sections(page) == [
        "Answer",
        "Figures",
        "Settings that differ between cells",
        "Cell means",
    ]
    assert "<h2>Answer</h2>\n<p>not ranked: " in page  # the reason, e.g. no cells or runs
    assert page.count('src="data:image/png;base64,') == 3  # percentiles, lapse, variants
    assert "<h3>Attestation latency (CDF, pooled runs)</h3><p>not drawn: " in page
    means = rows_of(page, "Cell means")
    assert len(means) == variants * 4 * 12  # 4 intervals, 12 metrics
    assert {r[6] for r in means if r[3]} == {str(reps)}  # n of every cell with a mean
    assert {r[1] for r in means} == {f"attestation.interval={i}" for i in ("1m", "2m", "5m", "10m")}
