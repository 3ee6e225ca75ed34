"""A workload vCenter's view of its hosts' attestation status, and how it learns it.

``host_report`` (default; VMware: "The vCenter Server of the Trusted Cluster communicates
with the Trusted Host to get an internal attestation report", and the status is a property
of the host object): after every attestation the host reports ``{status, attestedAt,
attestedUntil}`` to its vCenter, which receives it ``status_propagation`` later (drawn from
the host's own stream). A passing attestation makes the view ``attested`` until its
``attestedUntil``; if no newer success arrives by then, the view turns ``notAttested``. A
failed verdict reports ``notAttested``; an attestation that reached no Attestation Service
reports ``unknown``; a host that goes down is ``unknown`` (not responding) until it reports
again. Reports that arrive out of order are ignored.

The vSphere Client shows only Passed or Failed: ``attested`` is Passed, ``notAttested`` and
``unknown`` are Failed (VMware: a host "not able to attest with any Attestation Service" is
Failed). Each ``status_views`` row carries both (``status`` and ``client_status``).

``trust_authority_poll`` (the earlier model, kept as an option): the vCenter polls the trust
authority's status endpoint every ``status_poll_interval``; between polls the view may be
stale by up to one interval.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from functools import partial
from typing import Any, NamedTuple

from sim.processes.alarms import STATUS_LAPSES, Alarm
from sim.processes.attestation_status import ATTESTED, NOT_ATTESTED, UNKNOWN, client_status
from sim.processes.context import Context, call_later
from sim.processes.network import Unreachable
from sim.processes.services import ServiceDown
from sim.processes.trust_authority import TrustAuthority, TrustNode
from sim.scenario.model import VCenter


class StatusReport(NamedTuple):
    """What a host tells its vCenter after an attestation (``seq`` orders them; an immutable
    named tuple, one per attestation)."""

    host: str
    seq: int
    status: str
    attested_until: float | None = None
    jti: str | None = None


def propagation_stream(host: str) -> str:
    """The stream of the delays with which ``host``'s status reports reach a vCenter."""
    return f"host.{host}.status-propagation"


class StatusView:
    """One vCenter's view of its hosts' status."""

    def __init__(self, ctx: Context, spec: VCenter, hosts: list[str], ta: TrustAuthority) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.spec = spec
        self.name = spec.name
        self.node = f"vcenter:{spec.name}"
        self.hosts = hosts
        self.ta = ta
        self.view: dict[str, str] = dict.fromkeys(hosts, UNKNOWN)
        self._seq: dict[str, int] = dict.fromkeys(hosts, -1)
        self._until: dict[str, float] = {}
        # when the view turns ``notAttested`` unless a newer report comes first (an alarm,
        # cancelled by the newer report: no event for the lapses that never happen)
        self._lapse: dict[str, Alarm] = {}
        self._lapses = ctx.env.alarms.lane(STATUS_LAPSES)
        # each reporting host's network node and propagation-delay sampler (its stream's
        # draws are the same whether looked up once or at every report)
        self._senders: dict[str, tuple[str, Callable[[], float]]] = {}
        self._watchers: list[Callable[[str, bool], None]] = []

    def watch(self, attested_changed: Callable[[str, bool], None]) -> None:
        """Call ``attested_changed(host, attested)`` whenever the view of a host turns
        ``attested`` or stops being it (the placement arrays follow the view so)."""
        self._watchers.append(attested_changed)

    def start(self, initial: dict[str, StatusReport] | None) -> None:
        """Start learning status; ``initial`` gives each host's status at the start of a
        running estate (None: every host unknown, as after a cold boot)."""
        for report in (initial or {}).values():
            self._apply(report)
        if self.spec.status_source == "trust_authority_poll":
            self.env.process(self._poll_loop())

    @property
    def reports_from_hosts(self) -> bool:
        """Whether hosts report their status to this vCenter."""
        return self.spec.status_source == "host_report"

    # --- host reports ---------------------------------------------------------------------

    def report(self, report: StatusReport) -> None:
        """A host sends ``report``; it arrives after the propagation delay (and is lost when
        the network cannot carry it)."""
        sender = self._senders.get(report.host)
        if sender is None:
            stream = propagation_stream(report.host)
            sender = (f"host:{report.host}", self.ctx.sampler(stream, self.spec.status_propagation))
            self._senders[report.host] = sender
        if self.reports_from_hosts and self.ctx.paths.reachable(sender[0], self.node):
            call_later(self.env, sender[1](), partial(self._arrive, report))

    def network_changed(self) -> None:
        """Links were cut or restored: hosts the vCenter cannot reach are ``unknown`` (it
        loses its connection to them) until they report again."""
        for host in self.hosts:
            if not self.ctx.paths.reachable(self.node, f"host:{host}"):
                self._set(host, UNKNOWN)

    def _arrive(self, report: StatusReport) -> None:
        if self.ctx.paths.reachable(self._senders[report.host][0], self.node):  # else lost
            self._apply(report)

    def notified(self, host: str) -> None:
        """A failure notifier says ``host`` failed attestation: the view turns
        ``notAttested`` (a later report of a revoked report cannot turn it back)."""
        if host in self.view:
            self._set(host, NOT_ATTESTED)

    def _apply(self, report: StatusReport) -> None:
        if report.seq <= self._seq[report.host]:
            return  # an older report overtaken by a newer one
        self._seq[report.host] = report.seq
        lapse = self._lapse.pop(report.host, None)
        if lapse is not None:  # a newer report: the older one's lapse can change nothing
            lapse.cancel()
        if report.jti is not None and report.jti in self.ta.revoked:
            self._set(report.host, NOT_ATTESTED)  # it vouches for a revoked report
            return
        self._set(report.host, report.status)
        if report.status == ATTESTED and report.attested_until is not None:
            self._until[report.host] = report.attested_until
            now = self.env.now
            at = now + max(0.0, report.attested_until - now)
            self._lapse[report.host] = self._lapses.at(at, partial(self._expire, report.host))

    def _expire(self, host: str) -> None:
        """The latest report's ``attestedUntil`` came (a newer report would have cancelled
        this lapse)."""
        if self.view[host] == ATTESTED:
            self._set(host, NOT_ATTESTED)

    # --- polling the trust authority ------------------------------------------------------

    def _poll_loop(self) -> Generator[Any, Any, None]:
        """Poll the trust authority for the status of every managed host, forever; a poll
        that finds its node down is lost and the view stays as it was."""
        while True:
            node = self.ta.pick_node()
            if node is not None:
                with contextlib.suppress(ServiceDown, Unreachable):
                    yield from self._poll(node)
            yield self.env.timeout(self.spec.status_poll_interval)

    def _poll(self, node: TrustNode) -> Generator[Any, Any, None]:
        paths = self.ctx.paths
        yield self.env.timeout(paths.delay(self.node, node.name))
        statuses = yield from self.ta.poll_status(node, self.hosts, self.name)
        yield self.env.timeout(paths.delay(node.name, self.node))
        for h in self.hosts:
            self._set(h, statuses[h])

    def _set(self, host: str, status: str) -> None:
        was = self.view[host]
        if status != was:
            self.view[host] = status
            attested = status == ATTESTED
            if attested != (was == ATTESTED):
                for attested_changed in self._watchers:
                    attested_changed(host, attested)
            self.ctx.recorder.capacity.view(self.env.now, host, attested)
            self.ctx.recorder.add(
                "status_views", time=self.env.now, vcenter=self.name, host=host, status=status,
                client_status=client_status(status),
            )  # fmt: skip
