"""Connections between components: declared by the components, made where the estate is
built, checked before the run starts.

A component that needs something of a peer it is not given at construction (a callback
into its vCenter, the handler of a failing verdict...) declares a :class:`Port` for it. Only
the builder (:mod:`sim.build`) connects ports, through one :class:`Wiring`, so reading the
builder shows every connection of the estate; :meth:`Wiring.check` then refuses to run an
estate where a required port is unconnected, or a single port connected twice (the
connect-then-elaborate order of desmod). A connection costs nothing at run time: the
component calls ``port.target`` (or iterates ``port.targets``) directly, no SimPy event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class WiringError(RuntimeError):
    """The estate's connections are incomplete or ambiguous."""


class Port(Generic[T]):
    """A connection a component needs: one target (``many=False``) or any number of
    subscribers in the order they were connected (``many=True``). ``owner`` and ``name``
    say which component and what for, in errors and in :meth:`Wiring.describe`."""

    __slots__ = ("_targets", "many", "name", "owner", "required")

    def __init__(self, owner: str, name: str, *, many: bool = False, required: bool = True):
        self.owner = owner
        self.name = name
        self.many = many
        self.required = required and not many
        self._targets: list[T] = []

    @property
    def label(self) -> str:
        """``owner.name``, as errors and the estate description show it."""
        return f"{self.owner}.{self.name}"

    @property
    def target(self) -> T:
        """The one target of a single port (connected before the run starts)."""
        try:
            return self._targets[0]
        except IndexError:
            raise WiringError(f"port {self.label} is not connected") from None

    @property
    def targets(self) -> tuple[T, ...]:
        """Every target connected, in connection order."""
        return tuple(self._targets)

    def attach(self, target: T) -> None:
        """Add ``target`` (:meth:`Wiring.connect` calls this; the check refuses a port
        connected any other way)."""
        if self._targets and not self.many:
            raise WiringError(f"port {self.label} is connected twice")
        self._targets.append(target)


class Wiring:
    """The connections of one estate, made in one place and checked together."""

    def __init__(self) -> None:
        self._made: list[tuple[Port[object], str]] = []

    def connect(self, port: Port[T], target: T, what: str) -> None:
        """Connect ``port`` to ``target``; ``what`` names the target for the description."""
        port.attach(target)
        self._made.append((port, what))  # type: ignore[arg-type]

    def check(self, ports: Iterable[Port[object]]) -> None:
        """Every port of ``ports`` (all the ports the components declare) that is required
        is connected, and only ports made through this wiring are connected."""
        declared = list(ports)
        known = {id(p) for p, _ in self._made}
        missing = [p.label for p in declared if p.required and not p.targets]
        foreign = [p.label for p in declared if p.targets and id(p) not in known]
        if missing:
            raise WiringError(f"unconnected ports: {', '.join(missing)}")
        if foreign:
            raise WiringError(f"ports connected outside the estate's wiring: {foreign}")

    def describe(self) -> list[str]:
        """One line per connection made, ``owner.port -> target``, in connection order."""
        return [f"{port.label} -> {what}" for port, what in self._made]


def ports_of(component: object) -> list[Port[object]]:
    """The ports ``component`` declares (its attributes that are ports)."""
    return [v for v in getattr(component, "__dict__", {}).values() if isinstance(v, Port)]
