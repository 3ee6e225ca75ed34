"""Files from elsewhere, tried as a hostile colleague would: each test plants the file
itself (escape sequences, FIFOs, links, ``/dev/zero``, ``$`` and markup in names) and checks
exit code 2 with one line naming the file and field, no traceback, and that the child ends
(a hang fails through the hang guard of :func:`tests.cli.clitools.vtasim`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from sim.analysis import results
from sim.runner import simulate, write
from sim.scenario import parse_scenario
from tests.cli.clitools import MEMORY_LIMIT, TINY, assert_clean_refusal, vtasim

pytestmark = pytest.mark.slow  # CLI subprocesses that run, sweep and draw: most > 5 s each

BIG = 8 * MEMORY_LIMIT
"""Address space for a child that draws figures (pyarrow and matplotlib reserve much)."""

ESC = "\x1b]0;owned\x07\x1b[2J"
"""Sets the terminal's title and clears the screen when printed raw."""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _no_raw_controls(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, repr(text[-500:])


# --------------------------------------------------------------------------- injection


def test_escape_sequences_in_keys_are_printed_escaped(tmp_path: Path) -> None:
    """An unknown key holding an escape sequence and a newline is shown escaped on one
    line: the terminal is not driven and no extra "ok" line is forged."""
    key = f"evil{ESC}\nscenario.yaml: ok (forged)"
    scenario = _write(tmp_path / "s.yaml", TINY + json.dumps(key) + ": 1\n")
    result = vtasim(["validate", str(scenario)])
    line = assert_clean_refusal(result, str(scenario), "evil", "unknown key")
    _no_raw_controls(result.err)
    assert "\\x1b]0;owned\\x07" in line and "\\n" in line
    assert not any(x.startswith("scenario.yaml: ok") for x in result.err_lines)


def test_escape_sequences_in_set_paths_and_variant_names_are_escaped(tmp_path: Path) -> None:
    """A ``--set`` path and a sweep variant name with escapes are shown escaped, in the
    problem line and in ``--dry-run``'s listing."""
    scenario = _write(tmp_path / "s.yaml", TINY)
    result = vtasim(["validate", str(scenario), "--set", f"x{ESC}=1"])
    assert result.code == 2 and "Traceback" not in result.err
    _no_raw_controls(result.err)
    sweep = {"name": "sw", "base": "s.yaml", "replications": 1, "variants": {f"v{ESC}": {}}}
    path = _write(tmp_path / "sweep.yaml", json.dumps(sweep))
    listed = vtasim(["sweep", str(path), "--dry-run"])
    assert listed.code == 0, listed.err
    _no_raw_controls(listed.out)
    assert "[v\\x1b]0;owned\\x07" in listed.out


def test_log_lines_are_escaped(tmp_path: Path) -> None:
    """``-v`` logs the scenario path; a newline and escape in it cannot forge a log line."""
    scenario = _write(tmp_path / f"s{ESC}\nvtasim: INFO: forged.yaml", TINY)
    result = vtasim(["-v", "validate", str(scenario), "--set", "nope=1"])
    assert result.code == 2
    _no_raw_controls(result.err)
    assert not any(x.startswith("vtasim: INFO: forged") for x in result.err_lines)


# --------------------------------------------------------------------------- extends


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside/secret.yaml"])
def test_extends_outside_the_tree_is_refused_unread(tmp_path: Path, target: str) -> None:
    """``extends`` to an absolute path or out of the file's folder (and the current one)
    is refused naming the field; nothing of the other file is shown."""
    _write(tmp_path / "outside" / "secret.yaml", "password: hunter2\n")
    scenario = _write(tmp_path / "work" / "s.yaml", f"extends: {target}\n" + TINY)
    result = vtasim(["validate", str(scenario)], cwd=tmp_path / "work")
    assert_clean_refusal(result, str(scenario), "extends", "outside the folder", "--allow-outside")
    assert "root:x" not in result.err and "hunter2" not in result.err


def test_a_link_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    """A link inside the folder pointing out of it is resolved before the check."""
    _write(tmp_path / "outside" / "base.yaml", TINY)
    (tmp_path / "work").mkdir()
    os.symlink(tmp_path / "outside" / "base.yaml", tmp_path / "work" / "base.yaml")
    scenario = _write(tmp_path / "work" / "s.yaml", "extends: base.yaml\nname: child\n")
    result = vtasim(["validate", str(scenario)], cwd=tmp_path / "work")
    assert_clean_refusal(result, str(scenario), "extends", "outside the folder")
    allowed = vtasim(["validate", str(scenario), "--allow-outside"], cwd=tmp_path / "work")
    assert allowed.code == 0, allowed.err


def test_a_file_that_is_not_a_scenario_is_never_echoed(tmp_path: Path) -> None:
    """An extended YAML file with no scenario field is refused without showing its keys."""
    _write(tmp_path / "creds.yaml", "aws_secret_access_key: AKIAXXXX\nuser: alice\n")
    scenario = _write(tmp_path / "s.yaml", "extends: creds.yaml\n" + TINY)
    result = vtasim(["validate", str(scenario)], cwd=tmp_path)
    assert_clean_refusal(result, str(scenario), "extends", "not a scenario file")
    assert "AKIA" not in result.err and "aws_secret" not in result.err and "alice" not in result.err


@pytest.mark.parametrize("kind", ["fifo", "directory", "dev-zero", "loop"])
def test_extends_of_a_fifo_directory_device_or_link_loop_is_refused(
    tmp_path: Path, kind: str
) -> None:
    """A FIFO (which blocked for ever), a directory, a link to /dev/zero and a link loop
    named by ``extends`` are each refused in one line naming the field."""
    target = tmp_path / "p.yaml"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "dev-zero":
        os.symlink("/dev/zero", target)
    else:
        os.symlink(tmp_path / "q.yaml", target)
        os.symlink(target, tmp_path / "q.yaml")
    scenario = _write(tmp_path / "s.yaml", "extends: p.yaml\n" + TINY)
    words = {
        "fifo": "FIFO",
        "directory": "directory",
        "dev-zero": "character device",
        "loop": "cannot read",
    }[kind]
    # a link to /dev/zero leaves the folder: refused as outside, and as a device when allowed
    outside = ["--allow-outside"] if kind == "dev-zero" else []
    result = vtasim(["validate", str(scenario), *outside], cwd=tmp_path)
    assert_clean_refusal(result, str(scenario), "extends", words)


def test_a_fifo_as_the_scenario_sweep_base_or_variant_is_refused(tmp_path: Path) -> None:
    """A FIFO given as the scenario, a sweep's base or a variant's scenario is refused
    (before: each blocked for ever)."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert_clean_refusal(vtasim(["run", str(fifo)]), str(fifo), "", "FIFO")
    _write(tmp_path / "s.yaml", TINY)
    for sweep in (
        {"name": "a", "base": "pipe.yaml"},
        {"name": "b", "base": "s.yaml", "variants": {"v": {"scenario": "pipe.yaml"}}},
    ):
        path = _write(tmp_path / "sweep.yaml", json.dumps(sweep))
        field = "base" if "variants" not in sweep else "variants.v.scenario"
        result = vtasim(["sweep", str(path), "--dry-run"], cwd=tmp_path)
        assert_clean_refusal(result, str(path), field, "FIFO")


def test_extends_breadth_is_bounded(tmp_path: Path) -> None:
    """15 files each extending the next one 4 times (4**14 reads before) are refused by
    the limit on files read in all."""
    for i in range(15):
        parent = f"f{i + 1}.yaml"
        text = f"extends: [{', '.join([parent] * 4)}]\n" if i < 14 else TINY
        _write(tmp_path / f"f{i}.yaml", text)
    result = vtasim(["validate", str(tmp_path / "f0.yaml")], cwd=tmp_path)
    assert_clean_refusal(result, str(tmp_path / "f0.yaml"), "extends", "more than 64 files")


def test_a_sweep_file_given_to_run_says_so(tmp_path: Path) -> None:
    """A sweep file passed to ``run`` gets one line saying to use ``vtasim sweep``."""
    _write(tmp_path / "s.yaml", TINY)
    sweep = _write(tmp_path / "sw.yaml", "name: sw\nbase: s.yaml\nreplications: 2\n")
    result = vtasim(["run", str(sweep)], cwd=tmp_path)
    assert_clean_refusal(result, str(sweep), "", "this is a sweep file: use vtasim sweep")


def test_a_huge_sweep_grid_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    """2 factors of 300 levels (90,000 cells: 103 s and 766 MB before) are refused from
    the grid's size alone; the count is 300 * 300 * 1 replication."""
    _write(tmp_path / "s.yaml", TINY)
    levels = [f"{i + 1}s" for i in range(300)]
    sweep = {
        "name": "big",
        "base": "s.yaml",
        "replications": 1,
        "factors": {"attestation.interval": levels, "attestation.jitter": levels},
    }
    path = _write(tmp_path / "sw.yaml", json.dumps(sweep))
    for command in (["sweep", str(path)], ["validate", str(path)]):
        result = vtasim(command, cwd=tmp_path)
        assert_clean_refusal(result, str(path), "factors", "90,000 runs", "limit of 10,000")


# --------------------------------------------------------------------------- run folders

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>$\\x$"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run folder of the tiny scenario (copied by each test that spoils it)."""
    scenario = parse_scenario(yaml.safe_load(TINY))
    return Path(write(simulate(scenario), tmp_path_factory.mktemp("hostile") / "run"))


def _copy(run_folder: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(run_folder, folder)
    return folder


def test_a_run_folder_never_resolves_extends(run_folder: Path, tmp_path: Path) -> None:
    """A received run folder whose scenario.resolved.yaml names ``extends: /etc/passwd``
    is refused by ``plot --kind topology`` and ``report``; nothing of the file is shown."""
    folder = _copy(run_folder, tmp_path)
    path = folder / results.SCENARIO_FILE
    path.write_text("extends: /etc/passwd\n" + path.read_text(encoding="utf-8"), "utf-8")
    out = tmp_path / "t.png"
    result = vtasim(["plot", str(folder), "--kind", "topology", "--out", str(out)], memory=BIG)
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert "extends is not followed" in result.err and "root:" not in result.err
    page = vtasim(["report", str(folder), "--out", str(tmp_path / "r.html")], memory=BIG)
    assert page.code == 0, page.err
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "extends is not followed" in html and "root:" not in html


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_fifo_or_dev_zero_table_is_refused(run_folder: Path, tmp_path: Path, kind: str) -> None:
    """A table replaced by a FIFO (``report`` hung) or a link to /dev/zero (grew to 6 GB)
    is refused naming the file (the report needs more than 1 GiB of address space)."""
    folder = _copy(run_folder, tmp_path)
    (folder / "attestations.parquet").unlink()
    table = folder / "attestations.csv"
    table.unlink()
    if kind == "fifo":
        os.mkfifo(table)
    else:
        os.symlink("/dev/zero", table)
    result = vtasim(["report", str(folder), "--out", str(tmp_path / "r.html")], memory=BIG)
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert len(result.err_lines) == 1 and "attestations.csv" in result.err
    assert ("FIFO" if kind == "fifo" else "symbolic link") in result.err


def test_report_escapes_every_value_from_the_folder(run_folder: Path, tmp_path: Path) -> None:
    """Markup in every manifest field the page shows and in summary values stays text."""
    folder = _copy(run_folder, tmp_path)
    manifest = json.loads((folder / results.MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest.update(scenario=HOSTILE, seed=HOSTILE, sim_time_s=HOSTILE, events=HOSTILE)
    (folder / results.MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    summary = json.loads((folder / results.SUMMARY_FILE).read_text(encoding="utf-8"))
    summary["attestation"]["latency_s"]["p95"] = HOSTILE
    (folder / results.SUMMARY_FILE).write_text(json.dumps(summary), encoding="utf-8")
    out = tmp_path / "r.html"
    result = vtasim(["report", str(folder), "--out", str(out)], memory=BIG)
    assert result.code == 0, result.err
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # title, h1, intro x2


def _hostile_sweep(folder: Path) -> Path:
    """A synthetic sweep folder (:func:`tests.plots.test_readability.fake_sweep`) whose
    sweep name, variant names, cell ids and a second factor's name and level all hold
    markup, ``$`` and terminal escapes."""
    from tests.plots.test_readability import fake_sweep

    fake_sweep(folder, 2, 2)
    factor, level = f"mode{HOSTILE}{ESC}", f"lvl{HOSTILE}{ESC}"
    for name in ("cells.csv", "index.csv"):
        rows = results.read_table(folder / name).to_dict("records")
        for row in rows:
            row.update(variant=f"{row['variant']}{HOSTILE}{ESC}", cell_id=row["cell_id"] + ESC)
            row[factor] = level
        results.write_table(folder / name, rows)
    doc = yaml.safe_load((folder / "sweep.resolved.yaml").read_text(encoding="utf-8"))
    doc["sweep"]["name"] = f"sw{HOSTILE}{ESC}"
    doc["sweep"]["factors"][factor] = [level]
    (folder / "sweep.resolved.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return folder


def test_report_escapes_factor_names_levels_and_variants_of_a_sweep(tmp_path: Path) -> None:
    """Markup and escapes in a sweep's name, variant names, a factor's name and its level
    reach the page as text: no tag, no raw control, each name shown escaped."""
    folder = _hostile_sweep(tmp_path / "sweep")
    out = tmp_path / "r.html"
    result = vtasim(["report", str(folder), "--out", str(out)], memory=BIG)
    assert result.code == 0, result.err
    _no_raw_controls(result.out + result.err)
    page = out.read_text(encoding="utf-8")
    _no_raw_controls(page)
    assert "<script" not in page and "<img src=x" not in page
    shown = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
    escape = "\\x1b]0;owned\\x07\\x1b[2J"
    for name in ("sw", "mode", "lvl", "a", "interval=60"):
        assert f"{name}{shown}" in page or f"{name}{escape}" in page, name
    assert page.count(escape) >= 3  # sweep name, factor name, level (and more)


def test_report_dot_inside_a_run_folder(run_folder: Path, tmp_path: Path) -> None:
    """``report .`` inside a run folder writes ``<run>.report.html`` beside it."""
    folder = _copy(run_folder, tmp_path)
    result = vtasim(["report", "."], cwd=folder, memory=BIG)
    assert result.code == 0, result.err
    assert (tmp_path / "run.report.html").is_file()


@pytest.mark.parametrize("text", ["NaN", "1e999", "[" * 5000 + "]" * 5000, "9" * 5000])
def test_compare_refuses_nan_and_deep_summaries(
    run_folder: Path, tmp_path: Path, text: str
) -> None:
    """NaN, an infinite number, 5,000-deep nesting and a 5,000-digit integer in a
    summary.json read by ``compare`` are refused naming the file."""
    folder = _copy(run_folder, tmp_path)
    (folder / results.SUMMARY_FILE).write_text('{"a": ' + text + "}", encoding="utf-8")
    result = vtasim(["compare", str(folder), str(run_folder)], memory=BIG)
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert len(result.err_lines) == 1 and "summary.json" in result.err


# --------------------------------------------------------------------------- messages


def test_misspelt_keys_and_hosts_get_a_did_you_mean(tmp_path: Path) -> None:
    """``intervall`` suggests ``interval``, a sweep's ``overides`` ``overrides``, and
    ``--host esx-7`` ``esx-07``."""
    scenario = _write(tmp_path / "s.yaml", TINY + "attestation: {intervall: 2m}\n")
    assert_clean_refusal(
        vtasim(["validate", str(scenario)]),
        str(scenario),
        "attestation.intervall",
        "did you mean 'interval'?",
    )
    sweep = _write(tmp_path / "sw.yaml", "name: a\nbase: s.yaml\nvariants: {v: {overides: {}}}\n")
    assert_clean_refusal(
        vtasim(["validate", str(sweep)]), str(sweep), "variants.v.overides", "'overrides'?"
    )
    args = ["export-quote", "--seed", "1", "--host", "esx-7", "--nonce", "00", "--out", "q"]
    result = vtasim(args, cwd=tmp_path)
    assert_clean_refusal(result, "vtasim export-quote", "--host", "did you mean 'esx-07'?")


def test_unicode_digits_in_a_unit_string_are_refused(tmp_path: Path) -> None:
    """Arabic-Indic digits ("١٠٠m") are not read as 100 minutes."""
    scenario = _write(tmp_path / "s.yaml", TINY + "attestation: {interval: ١٠٠m}\n")
    assert_clean_refusal(
        vtasim(["validate", str(scenario)]), str(scenario), "attestation.interval", "expected"
    )


def test_a_mapping_for_replications_gets_no_integer_line(tmp_path: Path) -> None:
    """``replications: {min: 3, max: 2, ...}`` is one line on the section, without the
    number branch's "constrained-int: expected an integer"."""
    _write(tmp_path / "s.yaml", TINY)
    rule = "{min: 3, max: 2, metric: drift.time_to_lapse_s.mean, half_width: 30s}"
    sweep = _write(tmp_path / "sw.yaml", f"name: a\nbase: s.yaml\nreplications: {rule}\n")
    result = vtasim(["validate", str(sweep)], cwd=tmp_path)
    assert_clean_refusal(result, str(sweep), "replications", "max must be at least min")


@pytest.fixture(scope="module")
def dollar_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sweep whose variant names hold ``$`` and markup."""
    base = tmp_path_factory.mktemp("dollar")
    _write(base / "s.yaml", TINY)
    spec = {
        "name": "dollar",
        "base": "s.yaml",
        "seed": 1,
        "replications": 1,
        "variants": {"a$b": {}, "<i>c$": {"overrides": {"vms.count": 6}}},
    }
    _write(base / "sw.yaml", json.dumps(spec))
    result = vtasim(["sweep", "sw.yaml", "-q", "--out", "out"], cwd=base, memory=BIG)
    assert result.code == 0, result.err
    return base / "out"


def test_dollar_and_markup_in_variant_names_draw_and_report(
    dollar_sweep: Path, tmp_path: Path
) -> None:
    """A ``$`` in a variant name is text, not mathtext: the comparison figure and the
    report are drawn (before: the report was lost); markup stays escaped in the page."""
    out = tmp_path / "t.png"
    drawn = vtasim(
        ["plot", str(dollar_sweep), "--kind", "topology-comparison", "--out", str(out)],
        memory=BIG,
    )
    assert drawn.code == 0 and out.stat().st_size > 0, drawn.err
    page = tmp_path / "r.html"
    result = vtasim(["report", str(dollar_sweep), "--out", str(page)], memory=BIG)
    assert result.code == 0, result.err
    text = page.read_text(encoding="utf-8")
    assert "not drawn" not in text and "<i>c" not in text and "&lt;i&gt;c$" in text


def test_dask_to_a_closed_port_is_reported_at_once(tmp_path: Path) -> None:
    """``--dask`` naming a closed port is refused by a short first connection (before:
    distributed's client retried for 36 s), naming the address."""
    pytest.importorskip("distributed")
    import socket

    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    _write(tmp_path / "s.yaml", TINY)
    _write(tmp_path / "sw.yaml", json.dumps({"name": "d", "base": "s.yaml", "replications": 1}))
    address = f"tcp://127.0.0.1:{port}"
    result = vtasim(["sweep", "sw.yaml", "-q", "--dask", address], cwd=tmp_path)
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert result.err_lines[-1] == (
        f"vtasim: error: cannot reach the Dask scheduler {address}: Connection refused"
    )
