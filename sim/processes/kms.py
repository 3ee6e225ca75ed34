"""A KMS: a KMIP cluster of N active-active servers sharing one key store.

Only the Key Provider Service talks to it, authenticated by its client certificate. Each
server is a queueing station; requests go round-robin over the servers and pay the network
delay both ways. A server that is down does not answer: the caller waits
``connection_timeout`` and tries the next server, so a call fails (``kms.unavailable``)
only when every server timed out. The cluster keeps no memory of failed servers: the next
call may pick a down server again (VMware's key provider retries its KMIP servers in turn).
Key objects and their KMIP states are real (:class:`sim.domain.kmip.KeyStore`).

The cluster's health, as vCenter shows a key provider's: ``OK`` while every server is
reachable, ``WARNING`` while some are, ``ERROR`` while none is.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from sim.domain.kmip import KeyStore, Response
from sim.processes.context import Context
from sim.processes.services import Service, ServiceDown
from sim.processes.wiring import Port
from sim.scenario.model import Kms

OK, WARNING, ERROR = "OK", "WARNING", "ERROR"


@dataclass(frozen=True)
class KmsCall:
    """One KMIP call as the client saw it: the answer (None: no server answered) and how
    many servers it found down first."""

    response: Response | None
    timeouts: int


class KmsCluster:
    """N KMIP servers in front of one replicated key store."""

    def __init__(self, ctx: Context, spec: Kms, store: KeyStore, first: bool) -> None:
        self.env = ctx.env
        self.spec = spec
        self.name = spec.name
        prefix = "" if first else f"{spec.name}-"
        self.nodes = [f"kms:{prefix}{i}" for i in range(spec.servers)]
        self.servers = [
            Service(ctx, f"kms.{prefix}{i}", spec.workers, spec.service_time, f"kms.{prefix}{i}")
            for i in range(spec.servers)
        ]
        self.store = store
        self.paths = ctx.paths
        # who follows the cluster's health (the key providers on it)
        self.health_changed: Port[Callable[[KmsCluster], None]] = Port(
            f"kms {spec.name}", "health_changed", many=True
        )
        self._next = 0

    @property
    def health(self) -> str:
        """OK (every server up), WARNING (some) or ERROR (none)."""
        up = sum(1 for s in self.servers if s.up)
        return OK if up == len(self.servers) else WARNING if up else ERROR

    @property
    def servers_up(self) -> int:
        """How many servers answer."""
        return sum(1 for s in self.servers if s.up)

    def set_server_up(self, index: int, up: bool) -> None:
        """Bring server ``index`` down or back up (an outage)."""
        self.servers[index].up = up
        for listener in self.health_changed.targets:
            listener(self)

    def get(
        self, origin: str, client_cert: bytes, uid: str, requester: str
    ) -> Generator[Any, Any, KmsCall]:
        """KMIP Get of ``uid`` for the client at network node ``origin``, on behalf of
        ``requester`` (whose stream draws the service time): each server in turn from the
        next one round-robin, a down server costing the connection timeout."""
        timeouts = 0
        start = self._next
        self._next += 1
        for k in range(len(self.servers)):
            i = (start + k) % len(self.servers)
            server, there = self.servers[i], self.nodes[i]
            if not server.up or not self.paths.reachable(origin, there):  # no answer
                timeouts += 1
                yield self.env.timeout(self.spec.connection_timeout)
                continue
            yield self.env.timeout(self.paths.delay(origin, there))
            try:
                served = yield from server.serve(
                    lambda: self.store.get(client_cert, uid, self.env.now), requester=requester
                )
            except ServiceDown:  # went down while serving: the connection breaks
                timeouts += 1
                continue
            yield self.env.timeout(self.paths.delay(there, origin))
            return KmsCall(served.result, timeouts)
        return KmsCall(None, timeouts)
