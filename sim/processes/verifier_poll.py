"""Who initiates attestation when the verifier does, and how failures reach subscribers.

:class:`VerifierPoller` (``attestation.initiator: verifier``, Keylime's pull model): the
verifier drives the schedule. For every agent it runs its own loop: poll (send a nonce,
the agent quotes, the verifier verifies; a request that gets no answer within ``timeout``
is retried after ``backoff``, ``backoff * multiplier``, ...), then wait ``interval`` (plus
jitter) from the end of that poll before the next one, as Keylime's verifier does
(``call_later(quote_interval, invoke_get_quote)`` once a quote was processed). Agents
schedule nothing themselves, so the arrivals at the verifier are one per agent per
``interval + poll cycle``: ``hosts / (interval + cycle)`` per second, which is
``hosts / interval`` when the cycle is short. When its retries are exhausted the verifier
records the poll as unavailable and polls again an interval later; Keylime would mark the
agent failed and stop polling it until it is added again (a modelling choice, so a host
that comes back from a reboot is polled again without an operator).

:class:`FailureNotifier` (``attestation.notification_delay`` set, Keylime's revocation
notifier): each failed verdict reaches the subscribers that long after it. With
``revocation: push`` the host's reports that were live at the verdict are then revoked
(so the Key Provider Services refuse them), and the host's vCenter view turns
``notAttested``. The delay is drawn from the host's own stream
(``host.<name>.notification``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any

from sim.processes.context import Context
from sim.processes.host import TrustedHost
from sim.processes.trust_authority import TrustAuthority
from sim.scenario.model import Attestation


class VerifierPoller:
    """The verifier's polling schedule: one loop per agent."""

    def __init__(self, ctx: Context, cfg: Attestation, hosts: dict[str, TrustedHost]) -> None:
        self.env = ctx.env
        self.enabled = cfg.initiator == "verifier"
        self.hosts = hosts
        self.polls = 0

    def start(self) -> None:
        """Start one polling loop per agent (nothing unless the verifier initiates); call
        after the hosts have started, as each host's first poll comes from its start."""
        if not self.enabled:
            return
        for host in self.hosts.values():
            self.env.process(self._loop(host))

    def _loop(self, host: TrustedHost) -> Generator[Any, Any, None]:
        yield self.env.timeout(host.first_poll)
        while True:
            self.polls += 1
            yield from host.answer_poll()
            yield self.env.timeout(host.period())


class FailureNotifier:
    """Delivers each failed verdict to the Key Provider Services (revoking, with
    ``revocation: push``) and to the host's vCenter view, after the notification delay."""

    def __init__(
        self,
        ctx: Context,
        cfg: Attestation,
        ta: TrustAuthority,
        views: Mapping[str, Callable[[str], None]],
    ) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.delay = cfg.notification_delay
        self.ta = ta
        self.views = views  # host -> the notify callback of its vCenter's view
        self.sent = 0

    def on_failure(self, host: str, live: list[str]) -> None:
        """A failing verdict was judged on ``host`` (``live``: its reports live at the
        verdict, to revoke with ``revocation: push``): notify it after the delay. The
        builder connects this to the trust authority's ``failed`` port when the scenario
        has a notification delay."""
        self.env.process(self._deliver(host, live))

    def _deliver(self, host: str, live: list[str]) -> Generator[Any, Any, None]:
        assert self.delay is not None
        yield self.env.timeout(self.ctx.sampler(f"host.{host}.notification", self.delay)())
        self.sent += 1
        self.ta.revoke(live)
        notify = self.views.get(host)
        if notify is not None:
            notify(host)
