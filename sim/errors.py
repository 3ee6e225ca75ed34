"""The exception tree of vtasim.

Verdicts of trust checks are data (lists of reasons), never exceptions; exceptions are for
bad input and for misuse of a primitive that must never happen silently::

    VtasimError
    ├── ScenarioError        a scenario (or CLI argument) is invalid; carries every problem
    ├── CryptoMisuseError    a primitive was used in a way that would break its guarantees
    │   └── NonceReuseError  a (key, nonce) pair or IV would be used twice
    ├── StreamRejected       an encrypted vMotion stream failed authentication or ordering
    ├── RunError             a simulation run failed; the run folder records it
    └── ExternalToolError    an outside tool (swtpm, tpm2-tools, PyKMIP) is missing or failed
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_SHOWN_AS_IS = frozenset("\t")


def printable(text: object) -> str:
    """``text`` safe to print on a terminal or into a log line: every control, format,
    separator, private-use or unassigned character (an escape sequence, a newline, a
    right-to-left override) is written as its Python escape (``\\x1b``, ``\\n``,
    ``\\u202e``), the way ``repr`` shows it; everything else is left as it is. A name, key
    or value read from a file can therefore neither drive the terminal nor forge a line."""
    out = []
    for ch in str(text):
        if ch not in _SHOWN_AS_IS and unicodedata.category(ch)[0] in "CZ" and ch != " ":
            out.append(repr(ch)[1:-1] if ch != "'" else ch)
        else:
            out.append(ch)
    return "".join(out)


def printable_lines(text: str) -> str:
    """A multi-line text (a table) with each line escaped by :func:`printable`: its own
    line breaks kept, any other control character shown escaped."""
    return "\n".join(printable(line) for line in text.split("\n"))


class VtasimError(Exception):
    """Base class of every error vtasim raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem in a scenario: the dotted field path and what was wrong there."""

    path: str
    message: str

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return printable(text)


class ScenarioError(VtasimError):
    """A scenario or argument is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CryptoMisuseError(VtasimError):
    """A cryptographic primitive was asked to do something that breaks its guarantees."""


class NonceReuseError(CryptoMisuseError):
    """A (key, nonce) pair or a (key, IV) pair would be used a second time."""


class StreamRejected(VtasimError):
    """An encrypted stream was rejected; ``reason`` is a dotted id such as
    ``vmotion.stream.auth_failed``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


class RunError(VtasimError):
    """A simulation run failed."""


class ExternalToolError(VtasimError):
    """An outside program or package the interop code drives is missing or failed."""


class UnknownMetricError(VtasimError, KeyError):
    """A metric key that a result does not hold (``Run.metric``, ``Sweep.metric``).

    ``key`` is the key asked for and ``suggestions`` the nearest keys that exist (closest
    first), so a misspelt key is answered with what was probably meant. It is a
    ``KeyError`` too, so code that treats a missing key as a ``KeyError`` keeps working."""

    def __init__(self, key: str, where: str, suggestions: Iterable[str] = ()) -> None:
        self.key = key
        self.suggestions: tuple[str, ...] = tuple(suggestions)
        named = ", ".join("'" + printable(s) + "'" for s in self.suggestions)
        hint = f"; did you mean {named}?" if named else ""
        self.message = (
            f"no metric '{printable(key)}' in {printable(where)}{hint} "
            "(`vtasim metrics` lists every key with its unit and meaning)"
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message
