"""``vtasim compare``: paired or Welch by the seeds, decision headline, censoring shown,
the four formats, and a sweep's cells ranked on one metric (synthetic folders whose
figures are set by hand)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.analysis.compare import DECISION_KEYS, compare, load_side
from sim.analysis.compare_view import comparison_table
from sim.analysis.tabular import render
from sim.cli import main

SEEDS = (11, 22, 33)


def _summary(latency_p95: float, refusal: dict[str, Any], released: int) -> dict[str, Any]:
    return {
        "attestation": {"failed": 0, "latency_s": {"p50": 0.1, "p95": latency_p95}},
        "drift": {"time_to_refusal_s": refusal, "exposure": {"keys_released": released}},
        "safety": {"violations": 0},
    }


def _refused(mean: float | None, events: int, censored: int) -> dict[str, Any]:
    return {
        "count": events,
        "mean": mean,
        "p95": mean,
        "censored": censored,
        "km_median": mean,
        "km_restricted_mean": 600.0,
        "km_horizon": 900.0,
    }


def _run(folder: Path, seed: int, summary: dict[str, Any]) -> None:
    folder.mkdir(parents=True)
    (folder / "scenario.resolved.yaml").write_text("name: synthetic\n", encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"seed": seed}), encoding="utf-8")


def _cell(folder: Path, seeds: tuple[int, ...], p95: list[float], released: list[int]) -> Path:
    for r, seed in enumerate(seeds):
        _run(folder / f"rep-{r}", seed, _summary(p95[r], _refused(300.0, 2, 1), released[r]))
    return folder


def _sweep(root: Path, cells: dict[str, list[float]], common: bool = True) -> Path:
    """A sweep folder of cells (variant name -> each replication's p95 latency)."""
    listed = []
    for i, (name, p95) in enumerate(cells.items()):
        seeds = SEEDS if common else tuple(s + 100 * i for s in SEEDS)
        _cell(root / "runs" / f"{name}-abc", seeds, p95, [10, 20, 30])
        listed.append({"cell_id": f"{name}-abc", "variant": name, "levels": {}})
    listed.append({"cell_id": "not-run-yet", "variant": "later", "levels": {}})  # no runs
    doc = {"sweep": {"common_random_numbers": common}, "cells": listed}
    (root / "sweep.resolved.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return root


def test_shared_seeds_are_paired_and_the_test_is_named(tmp_path: Path) -> None:
    """Cells with the same seeds pair by seed: B - A = mean of (2, 3, 4) = 3 released keys
    with a paired-t interval; the output says 'paired t' and marks the CI excluding 0."""
    a = _cell(tmp_path / "a", SEEDS, [0.5, 0.6, 0.7], [10, 20, 30])
    b = _cell(tmp_path / "b", SEEDS, [0.5, 0.6, 0.7], [12, 23, 34])
    c = compare(load_side(a), load_side(b))
    assert c.paired
    row = next(r for r in c.rows if r.key == "drift.exposure.keys_released")
    assert row.diff is not None and row.diff.diff == pytest.approx(3.0)
    # differences 2, 3, 4: s = 1, half-width t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051
    assert row.diff.half_width == pytest.approx(4.302652729911275 / 3**0.5)
    assert row.change == pytest.approx(3.0 / 20.0)  # relative to A's mean 20
    text = render(comparison_table(c), "text")
    assert "test: paired t" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("drift.exposure.keys_released"))
    assert line.rstrip().endswith("+15.0%") and " * " in line


def test_unshared_seeds_use_welch(tmp_path: Path) -> None:
    """Cells with different seeds are compared by Welch's t, and the output says so."""
    a = _cell(tmp_path / "a", SEEDS, [0.5, 0.6, 0.7], [10, 20, 30])
    b = _cell(tmp_path / "b", (1, 2, 3), [0.5, 0.6, 0.7], [12, 23, 34])
    c = compare(load_side(a), load_side(b))
    assert not c.paired
    assert "test: Welch t" in render(comparison_table(c), "text")


def test_no_variation_is_said_not_shown_as_a_zero_width_interval(tmp_path: Path) -> None:
    """p95 identical in every paired run: difference 0 '(no variation)', no [x .. x]."""
    a = _cell(tmp_path / "a", SEEDS, [0.5, 0.6, 0.7], [10, 20, 30])
    b = _cell(tmp_path / "b", SEEDS, [0.5, 0.6, 0.7], [12, 23, 34])
    text = render(comparison_table(compare(load_side(a), load_side(b))), "text")
    line = next(ln for ln in text.splitlines() if ln.startswith("safety.violations"))
    assert "(no variation)" in line and "[" not in line


def test_fully_censored_reads_all_n_censored(tmp_path: Path) -> None:
    """No drift refused in any run (2 censored in each of 3): 'all 6 censored', not n/a."""
    a = _cell(tmp_path / "a", SEEDS, [0.5, 0.6, 0.7], [10, 20, 30])
    for r, seed in enumerate(SEEDS):
        _run(tmp_path / "b" / f"rep-{r}", seed, _summary(0.5, _refused(None, 0, 2), 1))
    c = compare(load_side(a), load_side(tmp_path / "b"))
    text = render(comparison_table(c), "text")
    line = next(ln for ln in text.splitlines() if ln.startswith("drift.time_to_refusal_s.mean"))
    assert "all 6 censored" in line
    km = next(ln for ln in text.splitlines() if ln.startswith("drift.time_to_refusal_s.km_med"))
    assert "all 6 censored" in km


def test_decision_headline_skips_keys_no_run_holds(tmp_path: Path) -> None:
    """capacity.usable_hosts.min is in the headline but absent here: skipped, no error."""
    assert "capacity.usable_hosts.min" in DECISION_KEYS
    a = _cell(tmp_path / "a", SEEDS, [0.5, 0.6, 0.7], [10, 20, 30])
    keys = [r.key for r in compare(load_side(a), load_side(a)).rows]
    assert "capacity.usable_hosts.min" not in keys
    assert "attestation.latency_s.p95" in keys and "drift.time_to_refusal_s.censored" in keys


def test_every_format_parses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format json loads, csv reads with a header, markdown is a pipe table."""
    a = _cell(tmp_path / "a", SEEDS, [0.5, 0.6, 0.7], [10, 20, 30])
    b = _cell(tmp_path / "b", SEEDS, [0.5, 0.6, 0.7], [12, 23, 34])
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["test"] == "paired t"
    row = next(r for r in doc["rows"] if r["key"] == "drift.exposure.keys_released")
    assert row["diff"] == pytest.approx(3.0) and row["excludes_zero"] is True
    assert main(["compare", str(a), str(b), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {"key", "a_mean", "b_mean", "diff", "diff_ci_low", "test"} <= set(rows[0])
    assert float(rows[0]["a_mean"]) == pytest.approx(0.1)  # attestation.latency_s.p50
    assert rows[0]["no_variation"] == "true" and rows[0]["excludes_zero"] == "false"
    assert main(["compare", str(a), str(b), "--format", "markdown"]) == 0
    md = capsys.readouterr().out.splitlines()
    assert "| figure | A | B | B - A [95% CI] | change |" in md
    assert main(["compare", str(a), str(b), "--format", "latex"]) == 0
    tex = capsys.readouterr().out.splitlines()
    assert tex[0] == r"\begin{table}[ht]" and tex[-1] == r"\end{table}"
    assert r"figure & A & B & B - A [95\% CI] & change \\" in tex
    body = tex[tex.index(r"\midrule") + 1 : tex.index(r"\bottomrule")]
    md_rows = [ln for ln in md if ln.startswith("| ")][1:]  # the header row left out
    assert len(body) == len(md_rows)  # one LaTeX row per Markdown row
    assert all(ln.endswith(r" \\") and ln.count(" & ") == 4 for ln in body)
    assert any(r"drift.exposure.keys\_released" in ln for ln in body)  # _ escaped


def test_sweep_cells_ranked_on_a_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Means 0.6 (fast), 0.8 (mid), 1.0 (slow): lowest latency first, paired differences
    against the best (+0.2, +0.4 with no variation: every seed moved the same)."""
    root = _sweep(
        tmp_path / "sw",
        {"slow": [0.9, 1.0, 1.1], "fast": [0.5, 0.6, 0.7], "mid": [0.7, 0.8, 0.9]},
    )
    argv = ["compare", str(root), "--metric", "attestation.latency_s.p95", "--format", "json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["variant"] for r in doc["rows"]] == ["fast", "mid", "slow"]
    assert doc["reference"] == "fast-abc" and doc["test"] == "paired t"
    assert [r["diff"] for r in doc["rows"][1:]] == pytest.approx([0.2, 0.4])
    assert main([*argv, "--best", "highest"]) == 0
    assert [r["variant"] for r in json.loads(capsys.readouterr().out)["rows"]] == [
        "slow",
        "mid",
        "fast",
    ]
    assert main([*argv[:-2], "--baseline", "mid"]) == 0
    text = capsys.readouterr().out
    assert "reference: mid-abc" in text and "(reference)" in text


def test_ranking_mistakes_exit_2_with_suggestions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown metric or baseline names the closest ones; no --metric is an error; a
    cell id that is not one folder name is refused."""
    root = _sweep(tmp_path / "sw", {"fast": [0.5, 0.6, 0.7], "slow": [0.9, 1.0, 1.1]})
    assert main(["compare", str(root), "--metric", "attestation.latency_s.p59"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'attestation.latency_s.p95'" in err
    assert main(["compare", str(root), "--metric", "safety.violations", "--baseline", "fsat"]) == 2
    assert "did you mean 'fast'" in capsys.readouterr().err
    assert main(["compare", str(root)]) == 2
    assert "--metric" in capsys.readouterr().err
    doc = yaml.safe_load((root / "sweep.resolved.yaml").read_text())
    doc["cells"][0]["cell_id"] = "../outside"
    (root / "sweep.resolved.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert main(["compare", str(root), "--metric", "safety.violations"]) == 2
    assert "'../outside' is not a cell id" in capsys.readouterr().err
