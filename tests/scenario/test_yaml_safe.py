"""The bounded, strict YAML loader: size, depth and alias-expansion limits, duplicate keys,
YAML 1.2 core scalars, and one-line problems naming the key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim.errors import Problem, ScenarioError
from sim.scenario.yaml_safe import MAX_BYTES, MAX_DEPTH, load_yaml_file, load_yaml_text


def alias_bomb(levels: int = 9, width: int = 10) -> str:
    """The 'billion laughs' document: each anchor lists the previous one ``width`` times."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _problem(text: str) -> Problem:
    with pytest.raises(ScenarioError) as info:
        load_yaml_text(text, "in.yaml")
    (problem,) = info.value.problems
    assert "\n" not in str(problem)
    return problem


def test_plain_documents_load_as_safe_load_would() -> None:
    """An ordinary scenario-like document loads to the same data as yaml.safe_load."""
    text = "name: x\nvcenters:\n  - {name: vc, clusters: [{name: c, hosts: 2}]}\nseed: 3\n"
    assert load_yaml_text(text, "x") == {
        "name": "x",
        "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 2}]}],
        "seed": 3,
    }
    assert load_yaml_text("", "x") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("False", False),
        ("yes", "yes"),
        ("on", "on"),
        ("6:00", "6:00"),
        ("017", "017"),
        ("0x1f", "0x1f"),
        ("2021-01-01", "2021-01-01"),
        ("1_000", 1000),
        ("-3", -3),
        ("1e9", 1e9),
        ("1.10", 1.1),
        (".5", 0.5),
        ("~", None),
        ("null", None),
        ('"8"', "8"),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_rules(text: str, value: Any) -> None:
    """Only true/false are booleans; sexagesimal, octal, hex and dates stay text; 1e9 is
    a number."""
    loaded = load_yaml_text(f"v: {text}\n", "x")["v"]
    assert loaded == value and type(loaded) is type(value)


def test_alias_bomb_is_refused_at_once() -> None:
    """A billion-node alias bomb is refused naming the key whose value explodes."""
    problem = _problem(alias_bomb())
    assert problem.path.startswith("a")
    assert "expands to more than 1,000,000 nodes" in problem.message


def test_moderate_aliases_are_fine() -> None:
    """Anchors, aliases and merge keys below the bound work as YAML defines them."""
    data = load_yaml_text(
        "base: &b {x: 1, y: 2}\nc: {<<: *b, y: 3}\nd: [*b, *b]\n" + alias_bomb(levels=4), "x"
    )
    assert data["c"] == {"x": 1, "y": 3}
    assert data["d"] == [{"x": 1, "y": 2}] * 2


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    """50,000 nested lists give a one-line problem, not a RecursionError."""
    problem = _problem("[" * 50_000 + "]" * 50_000)
    assert f"nested deeper than {MAX_DEPTH} levels" in problem.message


def test_nesting_built_from_aliases_is_bounded_too() -> None:
    """Aliases that stack shallow documents into a deep one are refused as well."""
    inner = "[" * 40 + "1" + "]" * 40
    problem = _problem(f"a: &a {inner}\nb: &b {'[' * 30}*a{']' * 30}\n")
    assert problem.path.startswith("b.0.0")
    assert "once aliases expand" in problem.message


def test_self_referring_alias_is_refused() -> None:
    """An anchor that contains its own alias is refused (it would expand for ever)."""
    assert "refers to itself" in _problem("a: &a [1, *a]\n").message


@pytest.mark.parametrize(
    ("text", "path", "lines"),
    [
        ("duration: 1h\nseed: 1\nduration: 2h\n", "duration", "line 1 and line 3"),
        ("kms:\n  servers: 2\n  servers: 3\n", "kms.servers", "line 2 and line 3"),
        ("v: [{a: 1}, {b: 1, b: 2}]\n", "v.1.b", "line 1 and line 1"),
    ],
)
def test_duplicate_keys_name_their_path(text: str, path: str, lines: str) -> None:
    """A key given twice is an error at its dotted path, naming both lines."""
    problem = _problem(text)
    assert problem.path == path
    assert f"duplicate key (at {lines})" in problem.message


def test_complex_keys_and_python_tags_are_refused() -> None:
    """A sequence as a key, and tags that build objects, are refused."""
    assert "plain value" in _problem("? [a, b]\n: 1\n").message
    assert (
        "could not determine a constructor" in _problem("a: !!python/object:os.system x\n").message
    )


def test_malformed_yaml_names_line_and_column() -> None:
    """Syntax errors keep their position; control characters give one line too."""
    assert "malformed YAML at line 2, column 1" in _problem("a: [1, 2\n").message
    assert "malformed YAML" in _problem("a: \x00\n").message


def test_large_files_are_refused_without_reading_them_whole(tmp_path: Path) -> None:
    """A file over MAX_BYTES is refused by size, /dev/zero as a device, both unread."""
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_BYTES + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_yaml_file(big)
    assert "larger than the limit of 1 MiB" in info.value.problems[0].message
    if Path("/dev/zero").exists():
        with pytest.raises(ScenarioError, match="is a character device"):
            load_yaml_file(Path("/dev/zero"))


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    """A missing file and a Latin-1 file each give one problem naming the file."""
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match="expected UTF-8 text, found byte 0xe9"):
        load_yaml_file(latin)
    with pytest.raises(ScenarioError, match=r"cannot read .*missing\.yaml"):
        load_yaml_file(tmp_path / "missing.yaml")
