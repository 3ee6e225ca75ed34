"""Careless and hostile input through the ``vtasim`` command (issue cases 2 to 4): each
ends in exit code 2 with one line naming the field path, no traceback, within a memory
bound, and before any simulation starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.clitools import TINY, assert_clean_refusal, vtasim
from tests.scenario.test_yaml_safe import alias_bomb

# --------------------------------------------------------------------------- case 2


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ("vmotion: {packet_size: 0B}", "vmotion.packet_size", ("at least 1KiB", "'0B'")),
        ("vmotion: {cipher_rate: 0}", "vmotion.cipher_rate", ("at least 1Mbps",)),
        ("network: {vmotion_nic: 0Gbps}", "network.vmotion_nic", ("at least 1Mbps",)),
        ("metrics: {sample_interval: 1ms}", "metrics.sample_interval", ("at least 1s",)),
        (
            "attestation: {tpm_sign_time: {dist: lognormal, mu: 800, sigma: 1}}",
            "attestation.tpm_sign_time.mu",
            ("at most 20", "800"),
        ),
    ],
    ids=["packet-0B", "cipher-0", "nic-0Gbps", "sample-1ms", "lognormal-mu-800"],
)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_values_that_hang_or_crash_a_run_are_refused(
    tmp_path: Path, command: str, extra: str, path: str, words: tuple[str, ...]
) -> None:
    """Case 2: values that looped for ever, ended the run with a message naming no field,
    exhausted memory or overflowed are refused at their path, by validate and by run
    (which then writes nothing)."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(TINY + extra + "\n", encoding="utf-8")
    args = [command, str(scenario)]
    if command == "run":
        args += ["--out", str(tmp_path / "out"), "--quiet"]
    assert_clean_refusal(vtasim(args), str(scenario), path, *words)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- case 3


def _refused(tmp_path: Path, text: str, path: str, *words: str) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text, encoding="utf-8")
    assert_clean_refusal(vtasim(["validate", str(scenario)]), str(scenario), path, *words)


def test_alias_bomb_is_refused_within_the_memory_bound(tmp_path: Path) -> None:
    """Case 3: a billion-node alias bomb (before: 100 s, 6 GB, MemoryError) is refused."""
    _refused(tmp_path, TINY + alias_bomb(), "a", "expands to more than 1,000,000 nodes")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    """Case 3: 50,000-deep nesting (before: RecursionError traceback) is refused."""
    _refused(tmp_path, "x: " + "[" * 50_000 + "]" * 50_000 + "\n", "", "nested deeper than 64")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_is_refused_unread() -> None:
    """Case 3: `validate /dev/zero` (before: exhausted memory) is refused as a device."""
    result = vtasim(["validate", "/dev/zero"])
    assert_clean_refusal(result, "/dev/zero", "/dev/zero: is a character device")


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        (TINY + "duration: 2h\n", "duration", ("duplicate key (at line 3 and line 10)",)),
        (
            TINY.replace("hosts: 2", 'hosts: "8"'),
            "vcenters.0.clusters.0.hosts",
            ("expected an integer", "'8'"),
        ),
        (TINY + "kms: {servers: true}\n", "kms.servers", ("expected an integer", "True")),
        (TINY + "kms: {kmip_version: 1.10}\n", "kms.kmip_version", ('in quotes, such as "1.2"',)),
        (
            TINY + "attestation: {require_secure_boot: yes}\n",
            "attestation.require_secure_boot",
            ("expected true or false", "'yes'"),
        ),
        (
            TINY + "drift: {scheduled: [{at: 6:00, host: esx-01, kind: tpm_swap}]}\n",
            "drift.scheduled.0.at",
            ("expected a duration", "'6:00'"),
        ),
    ],
    ids=["duplicate-key", "string-8", "true-servers", "kmip-1.10", "yes-bool", "sexagesimal"],
)
def test_coercions_and_duplicates_are_refused(
    tmp_path: Path, text: str, path: str, words: tuple[str, ...]
) -> None:
    """Case 3: duplicate keys (before: last one won), "8" (before: 8), true servers (before:
    1), kmip_version 1.10 (before: "1.1"), yes and 6:00 (YAML 1.1 readings) are refused."""
    _refused(tmp_path, text, path, *words)


# --------------------------------------------------------------------------- case 4


@pytest.mark.slow
def test_a_billion_hosts_are_refused_by_validate(tmp_path: Path) -> None:
    """Case 4: 10**9 hosts (before: validate ran out of memory) are refused at vcenters."""
    clusters = "".join(f"      - {{name: c{i}, hosts: 100000}}\n" for i in range(10_000))
    text = "name: big\nvcenters:\n  - name: vc-a\n    clusters:\n" + clusters
    _refused(tmp_path, text, "vcenters", "at most 100,000 trusted hosts, found 1,000,000,000")


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ("duration: 1e300d", "duration", ("at most 3650d",)),
        ("attestation: {interval: 1us}", "attestation.interval", ("at least 1s",)),
    ],
)
def test_absurd_times_are_refused(
    tmp_path: Path, extra: str, path: str, words: tuple[str, ...]
) -> None:
    """Case 4: `duration: 1e300d` and `interval: 1us` (before: validated, then ran for
    minutes without output) are refused at their fields."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(TINY.replace("duration: 30m\n", "") + extra + "\n", encoding="utf-8")
    result = vtasim(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"])
    assert_clean_refusal(result, str(scenario), path, *words)


@pytest.mark.slow
def test_ten_million_vms_are_refused_unless_forced(tmp_path: Path) -> None:
    """Case 4: 10 million VMs (before: ran for minutes, then out of memory) are over the
    documented VM limit: validate shows the estimate and exits 2, run refuses before
    building anything; both name vms.count and --force."""
    scenario = tmp_path / "s.yaml"
    text = TINY.replace("count: 4", "count: 10000000").replace("hosts: 2", "hosts: 2000")
    scenario.write_text(text, encoding="utf-8")
    checked = vtasim(["validate", str(scenario)])
    assert "  estimate: 30m simulated, 2,000 hosts, 10,000,000 VMs: about " in checked.out
    line = assert_clean_refusal(checked, str(scenario), "vms.count", "over the limit", problems=2)
    assert "--force" in line
    ran = vtasim(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"])
    assert_clean_refusal(
        ran, str(scenario), "vms.count", "10M VMs, over the limit of 1M", problems=2
    )
    assert "GiB of memory, over the limit of 8 GiB" in ran.err_lines[1]
    assert ran.out.startswith("estimate: ") and "vtasim tiny" not in ran.out
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_billion_replications_are_refused(tmp_path: Path) -> None:
    """Case 4: `replications: 1e9` in a sweep (before: accepted) is refused, and so is an
    integer above the limit of 10,000."""
    (tmp_path / "base.yaml").write_text(TINY, encoding="utf-8")
    for value in ("1e9", "1000000000", "true", "'3'"):
        sweep = tmp_path / "sweep.yaml"
        sweep.write_text(f"name: s\nbase: base.yaml\nreplications: {value}\n", encoding="utf-8")
        result = vtasim(["sweep", str(sweep), "--out", str(tmp_path / "out"), "--quiet"])
        assert_clean_refusal(
            result, str(sweep), "replications", "a whole number of replications", "at most 10000"
        )
    assert not (tmp_path / "out").exists()
