"""What runs and sweeps share: short reprs, metric keys with "did you mean", lazily
read tables."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from sim.analysis import catalogue
from sim.errors import (
    UnknownMetricError,
    printable,
)

MAX_REPR_LINES = 20
"""Most lines the ``repr`` of a :class:`Run` or :class:`Sweep` prints, whatever the result
holds (the tables, cells and figures are there to be asked for, not printed)."""
_WIDTH = 100
_NAME = 80  # characters of a name from a file shown in a repr
_REPR_FIGURES = 8  # headline figures a run's repr shows


def _short(text: object, most: int = _NAME) -> str:
    """A name from a file as a repr shows it: printable, cut to ``most`` characters."""
    shown = printable(text)
    return shown if len(shown) <= most else shown[: most - 1] + "…"


def _wrapped(label: str, words: Sequence[str], lines: int = 3) -> list[str]:
    """``words`` after ``label``, comma-separated and wrapped to :data:`_WIDTH`, at most
    ``lines`` lines (the rest counted at the end of the last)."""
    pad = " " * len(label)
    out: list[str] = []
    current = label
    for i, word in enumerate(words):
        piece = word + ("," if i < len(words) - 1 else "")
        last = len(out) == lines - 1
        reserve = len(f" … {len(words)} more") if last and i < len(words) - 1 else 0
        if len(current) + 1 + len(piece) + reserve > _WIDTH and current not in (label, pad):
            if last:
                current += f" … {len(words) - i} more"
                break
            out.append(current)
            current = pad
        current += " " + piece
    out.append(current)
    return out


# --------------------------------------------------------------------------- metric keys


def _dotted(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted key -> leaf, in its order."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _present(summary: Mapping[str, Any], key: str) -> bool:
    """Whether every part of the dotted ``key`` exists in ``summary`` (its value may be
    None: a figure the run could not define)."""
    node: Any = summary
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _catalogue_keys() -> list[str]:
    """The catalogue's keys, service kinds spelt out (the other placeholders kept)."""
    out: list[str] = []
    for m in catalogue.CATALOGUE:
        if "<kind>" in m.key:
            out += [m.key.replace("<kind>", k) for k in catalogue.SERVICE_KINDS]
        else:
            out.append(m.key)
    return out


def _unknown(key: object, where: str, existing: Sequence[str]) -> UnknownMetricError:
    """The error for a metric key that does not exist, naming the nearest keys among
    ``existing`` and the catalogue."""
    text = str(key)
    names = list(dict.fromkeys((*existing, *_catalogue_keys())))
    return UnknownMetricError(text, where, difflib.get_close_matches(text, names, n=3, cutoff=0.6))


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a metric key is a dotted string such as 'attestation.requests', "
                        f"found {type(key).__name__}")  # fmt: skip
    return key


# --------------------------------------------------------------------------- tables


class Tables(Mapping[str, pd.DataFrame]):
    """The tables of a run or sweep by name, each a pandas DataFrame read (or built) on
    first use and kept. Iterating gives the names; ``repr`` lists them without reading any.
    A name that does not exist raises ``KeyError`` listing the ones there are."""

    def __init__(self, names: Sequence[str], read: Callable[[str], pd.DataFrame], where: str):
        self._names = tuple(names)
        self._read = read
        self._where = where
        self._frames: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._names:
            close = difflib.get_close_matches(str(name), self._names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise KeyError(
                f"no table '{printable(name)}' in {printable(self._where)}{hint} "
                f"(tables: {', '.join(self._names) or 'none'})"
            )
        if name not in self._frames:
            self._frames[name] = self._read(name)
        return self._frames[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        names = ", ".join(_short(n, 40) for n in self._names[:30])
        more = f", … {len(self._names) - 30} more" if len(self._names) > 30 else ""
        return f"<{len(self._names)} tables, read on first use: {names}{more}>"


# --------------------------------------------------------------------------- one run
