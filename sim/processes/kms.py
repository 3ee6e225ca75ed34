"""The KMS: a KMIP cluster of N active-active servers sharing one key store.

Only the Key Provider Service talks to it, authenticated by its client certificate. Each
server is a queueing station; requests go round-robin to the servers that are up and pay the
network delay both ways. Key objects and their KMIP states are real
(:class:`sim.domain.kmip.KeyStore`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.domain.kmip import KeyStore, Response
from sim.processes.context import Context
from sim.processes.services import Service, ServiceDown
from sim.scenario.model import Kms


class KmsCluster:
    """N KMIP servers in front of one replicated key store."""

    def __init__(self, ctx: Context, spec: Kms, store: KeyStore) -> None:
        self.env = ctx.env
        self.servers = [
            Service(ctx, f"kms.{i}", spec.workers, spec.service_time, f"kms.{i}.service")
            for i in range(spec.servers)
        ]
        self.store = store
        self.paths = ctx.paths
        self._next = 0

    def _pick(self) -> tuple[int, Service] | None:
        for _ in range(len(self.servers)):
            i = self._next % len(self.servers)
            self._next += 1
            if self.servers[i].up:
                return i, self.servers[i]
        return None

    def get(
        self, origin: str, client_cert: bytes, uid: str, requester: str
    ) -> Generator[Any, Any, Response | None]:
        """KMIP Get of ``uid`` for the client at network node ``origin``, on behalf of host
        ``requester`` (whose stream draws the service time); None when no server answers."""
        picked = self._pick()
        if picked is None:
            return None
        i, server = picked
        there = f"kms:{i}"
        yield self.env.timeout(self.paths.delay(origin, there))
        try:
            served = yield from server.serve(
                lambda: self.store.get(client_cert, uid, self.env.now), requester=requester
            )
        except ServiceDown:
            return None
        yield self.env.timeout(self.paths.delay(there, origin))
        out: Response = served.result
        return out
