"""Trusted key providers as the Key Provider Services serve them.

Each key provider is a KMS cluster and a primary key on it (created and activated over KMIP
when the estate is set up). The Key Provider Service on every trust-authority node keeps a
copy of each primary key for ``primary_key_cache_ttl`` and asks the provider's KMS (a KMIP
Get) only when its copy has expired. Misses at one node while that node's Get is in flight
wait for it and share its answer (single flight, a modelling choice: VMware does not say
how concurrent misses behave), so a burst of N misses makes one Get, not N. A TTL of 0
keeps no copy and no Get is shared: every unwrap makes its own.

KMS load is therefore bounded by the nodes and the TTL, not the number of VMs or requests:
a node's successful Gets are more than a TTL apart, so at most ``nodes x ceil(duration /
ttl)`` Gets return the key. The bound is reached under dense load; with Poisson requests at
rate ``lam`` per node, each cycle is the TTL plus a mean ``1 / lam`` wait for the next
request (renewal), so Gets ~ ``nodes x duration / (ttl + 1 / lam)``.

A key release unwraps the VM's KEK (AES key wrap) with the primary key; a primary key that
is Deactivated, Compromised or Destroyed on the KMS makes the Get, and so the release, fail
with its KMIP reason once the cached copy expires.

The providers' health follows their KMS clusters (``OK`` / ``WARNING`` / ``ERROR``): every
change is a ``provider_health`` row; primary-key events and KMS outages are ``kms_events``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import simpy

from sim.domain.key_hierarchy import unwrap_kek
from sim.domain.kmip import RevocationReason
from sim.domain.reasons import Reason, reason
from sim.processes.context import Context
from sim.processes.kms import KmsCluster
from sim.scenario.model import KeyProvider, PrimaryKeyEvent


class PrimaryKeyCache:
    """One Key Provider Service's copies of the primary keys, by provider: the key material
    and when it came back from the KMS. Each trust-authority node owns one; only
    :class:`KeyProviders` fills it (a key that came back from a Get, TTL > 0)."""

    def __init__(self) -> None:
        self._copies: dict[str, tuple[bytes, float]] = {}

    def get(self, provider: str) -> tuple[bytes, float] | None:
        """The copy of ``provider``'s primary key and when it was fetched, if any."""
        return self._copies.get(provider)

    def keep(self, provider: str, material: bytes, at: float) -> None:
        """Keep ``material`` as ``provider``'s primary key, fetched at ``at``."""
        self._copies[provider] = (material, at)


class KmipNode(Protocol):
    """What the key providers need of a trust-authority node (a protocol, so this module
    does not import the trust authority that uses it): its network name, its current KMIP
    client certificate and its primary-key cache."""

    @property
    def name(self) -> str:
        """The node's network name."""

    @property
    def kmip_client(self) -> bytes:
        """The node's current KMIP client certificate (DER)."""

    @property
    def primary_cache(self) -> PrimaryKeyCache:
        """The node's copies of the primary keys."""


@dataclass(frozen=True)
class Unwrapped:
    """The outcome of an unwrap at one node: the KEK (None on failure), the failure's
    dotted reason, whether the primary key came from the node's cache, whether this unwrap
    sent the node's KMIP Get (False for a cache hit and for a miss that waited for the Get
    already in flight), and how many KMS servers timed out on the way."""

    kek: bytes | None
    reason: str | None
    cache_hit: bool
    kms_timeouts: int = 0
    kms_get: bool = False


@dataclass(frozen=True)
class _Fetched:
    """A node's Get of a primary key as its waiters share it: the key material (None on
    failure) and the failure's dotted reason."""

    material: bytes | None
    reason: str | None


class KeyProviders:
    """Every trusted key provider of the trust authority, with their primary keys."""

    def __init__(
        self,
        ctx: Context,
        specs: Sequence[KeyProvider],
        clusters: dict[str, KmsCluster],
        admin_client: bytes,
    ) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.specs = {p.name: p for p in specs}
        self.clusters = clusters
        self.admin_client = admin_client
        self.primary_uid: dict[str, str] = {}
        for p in specs:
            store = clusters[p.kms].store
            resp = store.create(admin_client, p.primary_key_id, 0.0, activate=True)
            assert resp.unique_identifier is not None
            self.primary_uid[p.name] = resp.unique_identifier
        self._health: dict[str, str] = {}
        self._in_flight: dict[tuple[str, str], simpy.Event] = {}

    @property
    def default(self) -> str:
        """The first key provider (encrypted VMs use it unless weighted otherwise)."""
        return next(iter(self.specs))

    def primary_key(self, provider: str) -> bytes:
        """The provider's primary key as the set-up sees it (to wrap KEKs at encryption)."""
        store = self.clusters[self.specs[provider].kms].store
        resp = store.get(self.admin_client, self.primary_uid[provider], 0.0)
        assert resp.key_material is not None
        return resp.key_material

    # --- serving ---------------------------------------------------------------------------

    def unwrap(
        self, node: KmipNode, provider: str, wrapped: bytes, host: str
    ) -> Generator[Any, Any, Unwrapped]:
        """Unwrap ``wrapped`` for ``host`` at ``node``: the primary key from the node's cache,
        or, when the cached copy expired, from the node's Get in flight or a new one."""
        spec = self.specs[provider]
        cached = node.primary_cache.get(provider)
        if cached is not None and self.env.now - cached[1] < spec.primary_key_cache_ttl:
            return self._unwrapped(cached[0], wrapped, hit=True)
        shared = spec.primary_key_cache_ttl > 0
        pending = self._in_flight.get((node.name, provider)) if shared else None
        if pending is not None:  # single flight: wait for the Get already on its way
            fetched: _Fetched = yield pending
            if fetched.material is None:
                return Unwrapped(None, fetched.reason, False)
            return self._unwrapped(fetched.material, wrapped, hit=False)
        key, done = (node.name, provider), self.env.event()
        if shared:
            self._in_flight[key] = done
        try:
            fetched, timeouts = yield from self._get(node, provider, host)
        except Exception:  # waiters learn the outcome even if this unwrap broke off
            self._settle(key, done, _Fetched(None, Reason.KMS_UNAVAILABLE.text))
            raise
        self._settle(key, done, fetched)
        if fetched.material is None:
            return Unwrapped(None, fetched.reason, False, timeouts, kms_get=True)
        return replace(
            self._unwrapped(fetched.material, wrapped, hit=False),
            kms_timeouts=timeouts,
            kms_get=True,
        )

    def _settle(self, key: tuple[str, str], done: simpy.Event, fetched: _Fetched) -> None:
        """The Get of ``key`` (node, provider) is over: hand its outcome to its waiters."""
        if self._in_flight.get(key) is done:
            del self._in_flight[key]
        done.succeed(fetched)

    def _get(
        self, node: KmipNode, provider: str, host: str
    ) -> Generator[Any, Any, tuple[_Fetched, int]]:
        """The node's KMIP Get of ``provider``'s primary key; a key that came back is kept
        in the node's cache (TTL > 0). Returns the outcome and the servers that timed out."""
        spec = self.specs[provider]
        call = yield from self.clusters[spec.kms].get(
            node.name, node.kmip_client, self.primary_uid[provider], host
        )
        resp = call.response
        if resp is None:
            return _Fetched(None, Reason.KMS_UNAVAILABLE.text), call.timeouts
        if not resp.ok or resp.key_material is None:
            why = resp.reason.name.lower() if resp.reason else "no_key_material"
            return _Fetched(None, reason(f"kms.{why}").text), call.timeouts
        if spec.primary_key_cache_ttl > 0:
            node.primary_cache.keep(provider, resp.key_material, self.env.now)
        return _Fetched(resp.key_material, None), call.timeouts

    @staticmethod
    def _unwrapped(material: bytes, wrapped: bytes, hit: bool) -> Unwrapped:
        kek = unwrap_kek(material, wrapped)
        if kek is None:
            return Unwrapped(None, Reason.KPS_UNWRAP_FAILED.text, hit)
        return Unwrapped(kek, None, hit)

    # --- events and health -----------------------------------------------------------------

    def start(self) -> None:
        """Record each provider's initial health and schedule the primary-key events of
        the scenario (the builder connects :meth:`health_changed` to every KMS cluster)."""
        for cluster in self.clusters.values():
            self.health_changed(cluster)
        for name, spec in self.specs.items():
            for event in spec.primary_key_events:
                self.env.process(self._primary_key_event(name, event))

    def health_changed(self, cluster: KmsCluster) -> None:
        """``cluster``'s health may have changed: a ``provider_health`` row for each
        provider on it whose health did."""
        for name, spec in self.specs.items():
            if spec.kms != cluster.name or self._health.get(name) == cluster.health:
                continue
            self._health[name] = cluster.health
            self.ctx.recorder.add(
                "provider_health",
                time=float(self.env.now),
                provider=name,
                state=cluster.health,
                servers_up=cluster.servers_up,
            )

    def _primary_key_event(
        self, provider: str, event: PrimaryKeyEvent
    ) -> Generator[Any, Any, None]:
        yield self.env.timeout(event.at)
        spec = self.specs[provider]
        store, uid, now = self.clusters[spec.kms].store, self.primary_uid[provider], self.env.now
        if event.action == "compromise":
            resp = store.revoke(self.admin_client, uid, RevocationReason.KEY_COMPROMISE, now)
        else:
            reason = RevocationReason.CESSATION_OF_OPERATION
            resp = store.revoke(self.admin_client, uid, reason, now)
            if event.action == "destroy":
                resp = store.destroy(self.admin_client, uid, now)
        state = store.state(uid)
        self.ctx.recorder.add(
            "kms_events",
            time=now,
            cluster=spec.kms,
            provider=provider,
            event=f"primary_key_{event.action}",
            detail=state.value if resp.ok and state is not None else (resp.message or ""),
        )
