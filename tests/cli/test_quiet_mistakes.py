"""Quiet mistakes made loud (issue case 7): what a shortened run leaves out is warned
about by name, and the printed table, the summary keys and the JSON agree on units."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.clitools import TINY, vtasim


@pytest.mark.slow
def test_until_warns_about_each_dropped_entry(tmp_path: Path) -> None:
    """`run --until 2h` with a drift at 6h (before: silently dropped) warns naming it, and
    the run goes on without it."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        TINY.replace("duration: 30m", "duration: 1d")
        + "drift:\n  scheduled:\n"
        + "    - {at: 1h, host: esx-01, kind: unapproved_vib}\n"
        + "    - {at: 6h, host: esx-02, kind: unapproved_vib}\n"
        + "reboots: {scheduled: [{at: 3h, host: esx-01}]}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = vtasim(["run", str(scenario), "--until", "2h", "--out", str(out), "--quiet"])
    assert result.code == 0, result.err
    assert result.err_lines == [
        f"{scenario}: warning: drift.scheduled.1: at 6h on esx-02 never happens: "
        "the run ends at 2h (--until)",
        f"{scenario}: warning: reboots.scheduled.0: at 3h on esx-01 never happens: "
        "the run ends at 2h (--until)",
        # the reboot that would have measured the boot-measured VIB at 1h is dropped too
        f"{scenario}: warning: drift.scheduled.0: the 'unapproved_vib' drift on 'esx-01' at "
        "60m is measured at boot and nothing reboots 'esx-01' before the end (2h): it will "
        "never be measured (censored, no detection or lapse); give it reboot_after, "
        "schedule a reboot, or set drift.measured_at.unapproved_vib: runtime",
    ]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["drift"]["events"] == 1


@pytest.mark.slow
def test_a_sampling_period_longer_than_the_run_is_warned_about(tmp_path: Path) -> None:
    """A `metrics.sample_interval` not shorter than the run (before: an empty levels table
    without a word) is a warning from validate and from run; the table then holds one row
    per series, the mean over the whole run."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(TINY + "metrics: {sample_interval: 1h}\n", encoding="utf-8")
    warning = (
        f"{scenario}: warning: metrics.sample_interval: 60m is not shorter than the run "
        "(30m): the levels table will have a single row per series, the whole run"
    )
    checked = vtasim(["validate", str(scenario)])
    assert checked.code == 0 and checked.err_lines == [warning]
    out = tmp_path / "out"
    ran = vtasim(["run", str(scenario), "--out", str(out), "--quiet"])
    assert ran.code == 0 and ran.err_lines == [warning]
    rows = (out / "levels.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert rows and {row.split(",")[0] for row in rows} == {"1800.0"}


def _table(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and "." in parts[0]:
            rows[parts[0]] = parts[1].strip()
    return rows


@pytest.mark.slow
def test_printed_table_and_json_agree_on_units(tmp_path: Path) -> None:
    """`_s` figures print in seconds (longer units only in brackets), fractions print as
    percent with a % sign, and both equal the JSON summary's numbers (before: the table
    showed minutes for `_s` keys and the cache hit ratio as a bare fraction)."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(TINY.replace("duration: 30m", "duration: 6h"), encoding="utf-8")
    text = vtasim(["run", str(scenario), "--out", str(tmp_path / "a"), "--quiet", "--full"])
    js = vtasim(["run", str(scenario), "--out", str(tmp_path / "b"), "--quiet", "--json"])
    assert text.code == js.code == 0, text.err + js.err
    rows, summary = _table(text.out), json.loads(js.out)
    assert js.err.startswith("estimate: ")  # stdout holds nothing but the JSON

    def value(dotted: str) -> float | None:
        node = summary
        for part in dotted.split("."):
            node = node[part]
        assert node is None or isinstance(node, int | float)
        return None if node is None else float(node)

    seconds = [k for k in rows if re.search(r"_s\.(mean|p50|p95|max)$", k) and value(k)]
    assert seconds
    for key in seconds:
        shown = re.fullmatch(r"([0-9.,e+-]+) s( \([0-9.]+ (min|h|d)\))?", rows[key])
        assert shown, (key, rows[key])
        assert _close(float(shown.group(1).replace(",", "")), value(key)), key
    for key in ("services.kms.utilisation", "key_requests.cache_hit_ratio"):
        fraction = value(key)
        assert fraction is not None and 0 <= fraction <= 1
        shown = re.fullmatch(r"([0-9.]+) %", rows[key])
        assert shown, (key, rows[key])
        assert _close(float(shown.group(1)), 100 * fraction), key


def _close(shown: float, actual: float | None) -> bool:
    """Whether ``shown`` is ``actual`` rounded to about three significant digits."""
    assert actual is not None
    return abs(shown - actual) <= max(abs(actual) * 0.01, 0.06)
