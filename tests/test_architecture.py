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


def test_no_import_cycles() -> None:
    """No two sim modules import each other, directly or through others (module-level,
    function-level and TYPE_CHECKING imports alike): each module can be read, tested and
    moved knowing only what is below it."""
    assert _import_cycles(SIM) == []


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


# --------------------------------------------------------------------------- who writes what

RECORDS = {
    "draft": "work in progress the writer opened (sim.processes.drafts, DriftDraft)",
    "open_drift": "a drift draft the injector opened",
    "attempt": "an attestation attempt's draft, closed by the trust authority it was sent to",
    "rec": "the status book's own record of one host",
    "stream": "the shared links' own record of one stream",
    "s": "the shared links' own record of one stream",
    "g": "the network graph while it is built",
}
"""Names of the non-component objects code under sim/processes may write: records owned by
the writer (drafts it opened and hands to the recorder, its own bookkeeping rows)."""

OWNED_ROWS = {"vm": "inventory.py"}
"""Rows a single module owns: a VM's row is written by the pool only."""


def _chain(target: ast.expr) -> list[ast.expr]:
    """``a.b[c].d`` -> [a, a.b, a.b[c], a.b[c].d]: the target and every prefix."""
    out = [target]
    while isinstance(target, (ast.Attribute, ast.Subscript)):
        target = target.value
        out.append(target)
    return out[::-1]


def _owned_attributes(cls: ast.ClassDef) -> set[str]:
    """Attributes the class creates itself (``self.x = Call(...)``, a literal or a
    comprehension), as opposed to peers it is handed (``self.ta = ta``)."""
    made = (ast.Call, ast.Dict, ast.List, ast.Set, ast.Tuple, ast.Constant, ast.ListComp,
            ast.DictComp, ast.SetComp, ast.BinOp, ast.IfExp, ast.Lambda)  # fmt: skip
    owned = set()
    for node in ast.walk(cls):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, made):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if (
                    isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name)
                    and t.value.id == "self"
                ):
                    owned.add(t.attr)
    return owned


MUTATORS = frozenset(
    ("append", "extend", "insert", "add", "update", "discard", "remove", "pop", "clear",
     "setdefault", "popitem")
)  # fmt: skip
"""Methods that change a container in place: ``x.attr.append(...)`` writes ``x.attr``."""


def _write_targets(node: ast.AST) -> list[ast.expr]:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in MUTATORS
        and isinstance(node.func.value, (ast.Attribute, ast.Subscript))
    ):
        return [node.func.value]
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = list(node.targets)
    else:
        return []
    flat: list[ast.expr] = []
    for t in targets:
        flat.extend(t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t])
    return flat


KERNEL_WRITES = {("event_queue.py", "callbacks")}
"""The one module that writes other objects' state by design: the environment's event loop
marks each event it processes (its ``callbacks`` taken and set to None), as SimPy's own
``Environment.step`` does."""


def foreign_writes(path: Path) -> list[str]:
    """Writes in ``path`` to another component's state: ``x.attr = ...`` (or ``+=``,
    ``x.attr[k] = ...``, ``del``, ``x.attr.append(...)`` and the other :data:`MUTATORS`)
    where ``x`` is neither ``self`` nor a record the writer owns (:data:`RECORDS`,
    :data:`OWNED_ROWS`), and ``self.peer.attr = ...`` where ``peer`` is a component the
    class was handed rather than one it created."""
    tree = ast.parse(path.read_text())
    out: list[tuple[int, str]] = []
    scopes: list[tuple[ast.AST, set[str]]] = [(tree, set())]
    scopes += [(c, _owned_attributes(c)) for c in ast.walk(tree) if isinstance(c, ast.ClassDef)]
    seen: set[int] = set()
    for scope, owned in scopes[::-1]:  # classes first, then module-level code
        for node in ast.walk(scope):
            if id(node) in seen:
                continue
            seen.add(id(node))
            for target in _write_targets(node):
                chain = _chain(target)
                attrs = [c for c in chain if isinstance(c, ast.Attribute)]
                root = chain[0]
                if not attrs or not isinstance(root, ast.Name) or attrs[-1].attr == "recorder":
                    continue  # the recorder's add/write are its methods, not a container
                if root.id in ("self", "cls"):
                    foreign = len(attrs) > 1 and attrs[0].attr not in owned
                elif root.id in OWNED_ROWS:
                    foreign = OWNED_ROWS[root.id] != path.name
                else:
                    foreign = root.id not in RECORDS
                if foreign and (path.name, attrs[-1].attr) not in KERNEL_WRITES:
                    out.append((node.lineno, f"{path.name}:{node.lineno} {ast.unparse(target)}"))
    return [text for _, text in sorted(out)]


def test_no_component_writes_another_components_state() -> None:
    """Every component is the only writer of its own state: others ask it through methods
    (a host's image, memory or maintenance mode; the trust authority's set-up; a VM's row
    through its pool). The builder too changes components only through their methods."""
    files = [*_python_files("processes"), SIM / "build.py"]
    writes = [w for f in files for w in foreign_writes(f)]
    assert writes == []


def test_the_foreign_write_check_can_fail(tmp_path: Path) -> None:
    """The check flags each way one component used to write another's state."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "class Notifier:\n"
        "    def __init__(self, ta):\n"
        "        self.ta = ta\n"
        "        self.book = {}\n"
        "    def start(self, host, vm):\n"
        "        self.ta.deferred_revocation = True\n"
        "        host.used_memory += 4\n"
        "        host.vms[vm.name] = vm\n"
        "        vm.host = None\n"
        "        self.book['x'] = 1\n"
        "        host.staged.append(1)\n"
        "        draft = object()\n"
        "        draft.outcome = 'ok'\n"
    )
    assert foreign_writes(bad) == [
        "bad.py:6 self.ta.deferred_revocation",
        "bad.py:7 host.used_memory",
        "bad.py:8 host.vms[vm.name]",
        "bad.py:9 vm.host",
        "bad.py:11 host.staged",
    ]


# --------------------------------------------------------------------------- connections


def test_ports_are_connected_in_the_builder_only() -> None:
    """Every connection between components is made in sim/build.py (through its Wiring);
    no component sets a callback on another (the check above) or connects a port itself."""
    places = []
    for path in [*_python_files("processes"), *(SIM / p for p in ("build.py", "runner.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "connect" and path.name != "build.py":
                    places.append(f"{path.name}:{node.lineno} connect")
                if node.func.attr == "attach" and path.name != "wiring.py":
                    places.append(f"{path.name}:{node.lineno} attach")
    assert places == []


def test_every_port_of_every_shipped_estate_is_connected() -> None:
    """Building each shipped scenario connects every required port once (the builder's
    check before the run), and the wiring lists each host's four connections to its
    vCenter, the trust authority's and each KMS cluster's."""
    from sim.build import build
    from sim.processes.wiring import ports_of
    from sim.scenario import load_scenario

    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        if path.stem in ("large", "xlarge"):
            continue  # the same wiring, only more of it
        estate = build(load_scenario(path))
        ports = [p for c in estate.components() for p in ports_of(c)]
        assert all(p.targets for p in ports if p.required), path.stem
        assert all(len(p.targets) <= 1 for p in ports if not p.many), path.stem
        lines = estate.wiring.describe()
        assert len(lines) == 4 * len(estate.hosts) + 2 + len(estate.kms) + (
            estate.scenario.admin.ek_registration_delay is not None
        ), path.stem


def test_the_wiring_check_refuses_a_missing_or_doubled_connection() -> None:
    from sim.processes.wiring import Port, Wiring, WiringError

    single: Port[int] = Port("host esx-01", "status_to")
    many: Port[int] = Port("trust_authority", "verdicts", many=True)
    wiring = Wiring()
    with pytest.raises(WiringError, match=r"unconnected ports: host esx-01\.status_to"):
        wiring.check([single, many])
    with pytest.raises(WiringError, match="not connected"):
        _ = single.target
    wiring.connect(single, 1, "one")
    with pytest.raises(WiringError, match="connected twice"):
        wiring.connect(single, 2, "two")
    stray: Port[int] = Port("x", "y")
    stray.attach(3)
    with pytest.raises(WiringError, match="outside the estate's wiring"):
        wiring.check([single, many, stray])
    wiring.connect(many, 4, "a")
    wiring.connect(many, 5, "b")
    wiring.check([single, many])
    assert many.targets == (4, 5) and single.target == 1
    assert wiring.describe() == ["host esx-01.status_to -> one", "trust_authority.verdicts -> a",
                                 "trust_authority.verdicts -> b"]  # fmt: skip


# --------------------------------------------------------------------------- cycles
