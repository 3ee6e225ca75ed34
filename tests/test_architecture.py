"""The architecture holds: import layers (import-linter contracts in pyproject.toml), every
module inside a layer, small constructors, no reaching into another component's private
members, and short subsystem builders."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

SIM = ROOT / "sim"


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_import_contracts_are_kept() -> None:
    """import-linter finds every contract of pyproject.toml kept (layers, no SimPy below
    processes, plotting never runs a simulation)."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


def test_every_top_level_module_is_in_a_layer() -> None:
    """A new package or module under sim/ cannot escape the layer contract."""
    layers = next(c for c in _contracts() if c["type"] == "layers")["layers"]
    assert isinstance(layers, list)
    named = {part.strip() for entry in layers for part in str(entry).split("|")}
    children = {
        f"sim.{p.stem}" if p.is_file() else f"sim.{p.name}"
        for p in SIM.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert children - named == set(), f"modules outside every layer: {children - named}"


def _python_files(*parts: str) -> list[Path]:
    return sorted(p for part in parts for p in (SIM / part).rglob("*.py")) if parts else []


def _classes(path: Path) -> list[ast.ClassDef]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)]


@pytest.mark.parametrize("path", _python_files("processes"), ids=lambda p: p.name)
def test_component_constructors_take_few_parameters(path: Path) -> None:
    """No SimPy component's constructor takes more than 7 parameters (besides self)."""
    for cls in _classes(path):
        for item in cls.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                count = len(item.args.args) - 1 + len(item.args.kwonlyargs)
                assert count <= 7, f"{cls.name}.__init__ takes {count} parameters"


def _private_reaches(path: Path) -> list[str]:
    """Attribute accesses ``x._name`` where ``x`` is not ``self`` or ``cls``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            out.append(f"{path.name}:{node.lineno} .{node.attr}")
    return out


def test_components_do_not_reach_into_private_members() -> None:
    """Components and the builder use each other's public interface only."""
    files = [*_python_files("processes"), SIM / "build.py", SIM / "runner.py"]
    reaches = [r for f in files for r in _private_reaches(f)]
    assert reaches == []


def test_the_private_member_check_can_fail(tmp_path: Path) -> None:
    """The check above does flag a reach into another object's private member."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(vc):\n    return vc._lifetime(1)\n")
    assert _private_reaches(bad) == ["bad.py:2 ._lifetime"]


def test_subsystem_builders_are_short() -> None:
    """Every builder in sim/build.py is under 60 lines."""
    tree = ast.parse((SIM / "build.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.end_lineno is not None:
            length = node.end_lineno - node.lineno + 1
            assert length < 60, f"{node.name} has {length} lines"


_RECORDER_CALLS = ("add", "write", "opened", "closed")


def _is_recorder_call(node: ast.AST) -> bool:
    """``<...recorder>.add(...)`` (or write, opened, closed)."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _RECORDER_CALLS
        and "recorder" in ast.unparse(node.func.value)
    )


def _row_patches(path: Path) -> list[str]:
    """Places in ``path`` that could change a recorded row after it was written: touching a
    table (``.tables``), keeping what a recorder call returns, or assigning into / updating a
    name bound to it or called ``row``."""
    out: list[str] = []
    tree = ast.parse(path.read_text())
    held: set[str] = {"row"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "tables":
            out.append(f"{path.name}:{node.lineno} touches .tables")
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _is_recorder_call(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            held.update(t.id for t in targets if isinstance(t, ast.Name))
            out.append(f"{path.name}:{node.lineno} keeps a recorded row")
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Subscript) and ast.unparse(t.value).split(".")[-1] in held:
                out.append(f"{path.name}:{node.lineno} assigns into a recorded row")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("update", "setdefault", "patch")
            and ast.unparse(node.func.value).split(".")[-1] in held
        ):
            out.append(f"{path.name}:{node.lineno} updates a recorded row")
    return sorted(set(out))


def test_processes_never_patch_a_recorded_row() -> None:
    """Code under sim/processes writes each record once: it never touches a table, keeps a
    row, assigns into a row or calls a table's or a row's update."""
    patches = [p for f in _python_files("processes") for p in _row_patches(f)]
    assert patches == []


def test_the_row_patch_check_can_fail(tmp_path: Path) -> None:
    """The check above flags each way of patching a row that the recorder used to allow."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(self, jti):\n"
        '    row = self.recorder.add("migrations", start=0.0)\n'
        '    row["outcome"] = "completed"\n'
        "    row.update(end=1.0)\n"
        '    self.ctx.recorder.tables["reports"].update(3, revoked_at=1.0)\n'
    )
    assert _row_patches(bad) == [
        "bad.py:2 keeps a recorded row",
        "bad.py:3 assigns into a recorded row",
        "bad.py:4 updates a recorded row",
        "bad.py:5 touches .tables",
    ]


def _imported(module: str, node: ast.AST, modules: dict[str, Path]) -> list[str]:
    """The sim modules ``node`` imports, as grimp counts them: ``from a.b import c`` names
    ``a.b.c`` when that is a module, else ``a.b``; ``importlib.import_module("a.b")`` with a
    literal name counts too."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if modules[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        names = [node.args[0].value]
    return [n for n in names if n in modules and n != module]


def _import_cycles(root: Path) -> list[list[str]]:
    """Every group of modules under ``root`` (a package directory) that import each other
    in a cycle, each as its sorted module names. Every import counts: at module level,
    inside a function (a lazy import still couples the two modules) and under
    ``TYPE_CHECKING`` (the type's module is still needed to read the code)."""
    import networkx as nx

    prefix = root.name
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = [prefix, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    graph: nx.DiGraph[str] = nx.DiGraph()
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            graph.add_edges_from((module, target) for target in _imported(module, node, modules))
    groups = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    return sorted(groups)


_CYCLES_BEING_REMOVED = [["sim.processes.key_provider", "sim.processes.trust_authority"]]
"""Cycles whose removal is under way elsewhere (the key provider and the trust authority
wired to each other by callbacks): listed here so that any other cycle fails at once; an
entry that no longer exists fails too, so the list only shrinks."""


def test_no_import_cycles() -> None:
    """No two sim modules import each other, directly or through others (module-level,
    function-level and TYPE_CHECKING imports alike): each module can be read, tested and
    moved knowing only what is below it."""
    cycles = _import_cycles(SIM)
    assert [c for c in cycles if c not in _CYCLES_BEING_REMOVED] == []
    assert [c for c in _CYCLES_BEING_REMOVED if c not in cycles] == []


def test_the_cycle_check_can_fail(tmp_path: Path) -> None:
    """The check finds a cycle through a lazy import and one through a TYPE_CHECKING import,
    and leaves an acyclic import alone."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.a import x\n")
    (pkg / "sub" / "c.py").write_text("from . import d\nimport pkg.a\n")
    (pkg / "sub" / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n"
    )
    assert _import_cycles(pkg) == [["pkg.a", "pkg.b"], ["pkg.sub.c", "pkg.sub.d"]]


def _cached_functions(path: Path) -> list[str]:
    """Functions in ``path`` decorated with a functools cache (``lru_cache``, ``cache``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                name = target.attr if isinstance(target, ast.Attribute) else ast.unparse(target)
                if name in ("lru_cache", "cache"):
                    found.append(node.name)
    return found


def test_every_cache_is_listed_with_what_it_buys() -> None:
    """Every memoised function in sim/ is named in the performance notes of the package
    docstring (with what it buys), so a cache is never a hidden trick."""
    notes = (SIM / "__init__.py").read_text().split("Performance tricks", 1)[1]
    notes = notes.split("Notebook use", 1)[0]
    cached = {f"{p.stem}.{name}" for p in SIM.rglob("*.py") for name in _cached_functions(p)}
    assert len(cached) >= 15
    assert sorted(c for c in cached if c.split(".")[1] not in notes) == []
