"""Reading YAML that may be careless or hostile: bounded, strict, and every problem a
:class:`~sim.errors.ScenarioError` naming the file and, where there is one, the key path.

``yaml.safe_load`` refuses to build arbitrary objects but nothing else: an alias bomb (a
few lines whose anchors expand to billions of nodes) takes minutes and gigabytes in
whatever walks the result, deep nesting raises ``RecursionError``, ``/dev/zero`` is read
until memory runs out, a duplicated key silently keeps its last value, and YAML 1.1
turns ``yes`` into ``True``, ``6:00`` into 360 and ``017`` into 15. This loader:

- reads at most :data:`MAX_BYTES` (larger input is refused without reading the rest);
- refuses nesting deeper than :data:`MAX_DEPTH` while parsing, before Python's recursion
  limit can be reached;
- refuses a document that would expand (aliases counted every time they are used) to more
  than :data:`MAX_NODES` nodes, and any alias that refers to itself;
- refuses a key given twice in one mapping, naming its path and both lines;
- resolves plain scalars by the YAML 1.2 core schema: ``true``/``false`` are the only
  booleans, integers are decimal (``1_000`` allowed), a float needs a dot or an exponent
  (``1.5``, ``1e9``, ``.inf``); everything else (``yes``, ``6:00``, ``017``, dates) stays
  text, so the scenario model reports it instead of silently reading something else.

Merge keys (``<<: *defaults``) work as in YAML 1.1: explicit keys override merged ones.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from sim.errors import Problem, ScenarioError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "load_yaml_file",
    "load_yaml_text",
    "open_regular",
    "read_regular",
]

MAX_BYTES = 1 << 20
"""Largest YAML file read (1 MiB: a scenario with thousands of scheduled events fits)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences (a scenario needs about 6)."""
MAX_NODES = 1_000_000
"""Most nodes a document may expand to, every use of an alias counted."""

MAX_DIGITS = 1000
"""Most digits of an integer (Python refuses to read more than 4,300, naming no field)."""

_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"


class _LimitExceeded(yaml.YAMLError):
    """Input that breaks one of the loader's bounds (reported like malformed YAML)."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _Composer(Composer):
    """The Python composer with a depth bound (it recurses once per nesting level)."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise _LimitExceeded(f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


if yaml.__with_libyaml__:
    from yaml._yaml import CParser as _Parser  # libyaml's scanner and parser, in C
else:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, _PyParser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _PyParser.__init__(self)


class _Loader(_Parser, _Composer, SafeConstructor, Resolver):
    """Events from the (C) parser, composed here under the depth bound, resolved by the
    YAML 1.2 core schema below and constructed by PyYAML's safe constructor."""

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012
    get_single_node = _Composer.get_single_node
    compose_document = _Composer.compose_document

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


def _resolver(tag: str, pattern: str, first: list[str]) -> None:
    _Loader.add_implicit_resolver(_TAG + tag, re.compile(pattern, re.X), first)


_DIGITS = list("0123456789")
_resolver("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF"))
_resolver("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""])
_resolver("int", r"^[-+]?(?:0|[1-9][0-9_]*)$", ["-", "+", *_DIGITS])
_resolver(
    "float",
    r"""^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    ["-", "+", ".", *_DIGITS],
)
_resolver("merge", r"^(?:<<)$", ["<"])


def _line(node: Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _refuse(path: str, message: str) -> ScenarioError:
    return ScenarioError([Problem(path, message)])


class _Expansion:
    """Walks a composed document as it would be expanded, visiting each distinct node
    once: counts nodes (an alias counts its whole target at every use), measures depth,
    and refuses duplicate or complex keys and aliases that refer to themselves."""

    def __init__(self) -> None:
        self.done: dict[int, tuple[int, int]] = {}  # id -> (nodes, height)
        self.open: set[int] = set()

    def visit(self, node: Node, path: str, depth: int) -> tuple[int, int]:
        if isinstance(node, ScalarNode) and node.tag == _TAG + "int":
            digits = sum(c.isdigit() for c in node.value)
            if digits > MAX_DIGITS:
                raise _refuse(
                    path,
                    f"expected a number of at most {MAX_DIGITS:,} digits, found one of "
                    f"{digits:,} ({_line(node)})",
                )
        known = self.done.get(id(node))
        if known is None:
            if id(node) in self.open:
                raise _refuse(path, f"an alias refers to itself ({_line(node)})")
            if depth > MAX_DEPTH:
                raise _refuse(path, f"nested deeper than {MAX_DEPTH} levels ({_line(node)})")
            self.open.add(id(node))
            known = self._children(node, path, depth)
            self.open.discard(id(node))
            self.done[id(node)] = known
        nodes, height = known
        if depth + height > MAX_DEPTH:
            raise _refuse(
                path, f"nested deeper than {MAX_DEPTH} levels once aliases expand ({_line(node)})"
            )
        if nodes > MAX_NODES:
            raise _refuse(
                path,
                f"expands to more than {MAX_NODES:,} nodes (an alias counts at every use; "
                f"{_line(node)}): refusing an alias bomb",
            )
        return known

    def _children(self, node: Node, path: str, depth: int) -> tuple[int, int]:
        items: list[tuple[Node, str]] = []
        if isinstance(node, SequenceNode):
            items = [(item, _child(path, str(i))) for i, item in enumerate(node.value)]
        elif isinstance(node, MappingNode):
            items = self._mapping_items(node, path)
        nodes, height = 1, 0
        for child, where in items:
            n, h = self.visit(child, where, depth + 1)
            nodes, height = nodes + n, max(height, h + 1)
        return nodes, height

    @staticmethod
    def _mapping_items(node: MappingNode, path: str) -> list[tuple[Node, str]]:
        seen: dict[tuple[str, str], Node] = {}
        items: list[tuple[Node, str]] = []
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                raise _refuse(path, f"a mapping key must be a plain value ({_line(key)})")
            if key.tag == _MERGE:
                items.append((value, path))
                continue
            first = seen.get((key.tag, key.value))
            if first is not None:
                raise _refuse(
                    _child(path, key.value),
                    f"duplicate key (at {_line(first)} and {_line(key)}); a key may appear once",
                )
            seen[(key.tag, key.value)] = key
            items.append((value, _child(path, key.value)))
        return items


def load_yaml_text(text: str, source: str) -> Any:
    """Parse one YAML document under the bounds above; ``source`` names it in messages."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _Expansion().visit(root, "", 0)
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        if "maximum nesting depth" in problem:  # libyaml's own, coarser bound (1000)
            problem = f"nested deeper than {MAX_DEPTH} levels"
        raise ScenarioError([Problem("", f"{source}: malformed YAML{where}: {problem}")]) from None
    except RecursionError:  # a bound above should come first; never let it escape
        raise ScenarioError(
            [Problem("", f"{source}: nested too deeply (at most {MAX_DEPTH} levels)")]
        ) from None
    finally:
        loader.dispose()


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _unreadable(message: str) -> ScenarioError:
    return ScenarioError([Problem("", message)])


def open_regular(path: Path | str, limit: int, *, follow_links: bool = True) -> BinaryIO:
    """``path`` opened for reading in binary, after checking it is a regular file of at
    most ``limit`` bytes.

    The file is opened without blocking (a FIFO cannot stall the open) and checked on the
    open descriptor, before anything is read: a directory, FIFO, device or socket is
    refused (``/dev/zero`` behind a link costs nothing), and so is a file over ``limit``.
    With ``follow_links`` off a symbolic link is refused too (a run folder holds plain
    files only). Every refusal is a :class:`ScenarioError` whose one problem names the
    path."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            why = "a symbolic link (not followed here)" if not follow_links else "a link loop"
            raise _unreadable(f"cannot read {path}: it is {why}") from None
        raise _unreadable(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _unreadable(f"{path}: is {_kind(info.st_mode)}, not a file; not read")
        if info.st_size > limit:
            raise _unreadable(f"{path}: larger than the limit of {_limit(limit)}; not read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path | str, limit: int, *, follow_links: bool = True) -> bytes:
    """The bytes of the regular file ``path`` (checked as :func:`open_regular` says); at
    most ``limit + 1`` bytes are ever read, so a file that grows meanwhile is refused too."""
    with open_regular(path, limit, follow_links=follow_links) as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise _unreadable(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _unreadable(f"{path}: larger than the limit of {_limit(limit)}; not read")
    return data


def _limit(n: int) -> str:
    for step, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= step and n % step == 0:
            return f"{n // step} {unit}"
    return f"{n:,} bytes"


def read_text_bounded(path: Path, limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (see :func:`read_regular`), at most
    ``limit`` bytes of it."""
    data = read_regular(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            [
                Problem(
                    "",
                    f"{path}: expected UTF-8 text, found byte {data[exc.start]:#04x} "
                    f"at offset {exc.start}",
                )
            ]
        ) from None


def load_yaml_file(path: Path) -> Any:
    """Read and parse a YAML file under the bounds above."""
    return load_yaml_text(read_text_bounded(path), str(path))
