"""Shared bandwidth: concurrent streams share the links they cross, max-min fairly.

A stream (one vMotion) crosses the directed links of its path (a host's vMotion NIC to its
site switch, WAN links, the switch to the destination's NIC); links are full duplex, so a
host's outgoing and incoming migrations do not compete. Whenever a stream starts or ends,
the rates of the streams connected to it through shared links (its component) are
recomputed by progressive filling: every stream's rate grows at the same pace until a link
it crosses is full (within 1e-9 of its capacity) or the stream reaches its own cap (the
cipher's throughput for an encrypted stream); the rest keep growing. Streams in other
components cannot gain or lose by it: max-min fairness decomposes over components. A
stream alone on its path gets its bottleneck bandwidth; n equal streams through one NIC get
1/n of it each (processor sharing). Progress is tracked as a fluid: bytes left fall at the
current rate.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from sim.processes.network import Paths

Link = tuple[str, str]

RATE_CHANGED = "stream rate changed"
"""The cause of the interrupt that tells a sending process its stream's rate changed."""


@dataclass(eq=False, slots=True)
class Stream:
    """One stream: its links, its own rate cap, its current rate and the bytes it has left
    to send in its current transfer (as of the last time the streams were brought up to
    date, :meth:`SharedLinks._advance`)."""

    links: tuple[Link, ...]
    cap: float
    rate: float = 0.0
    left: float = 0.0
    sender: simpy.Process | None = field(default=None, repr=False)  # while it sends
    woken: bool = field(default=False, repr=False)  # told of a new rate, not yet resumed
    seq: int = field(default=0, repr=False)  # the order it opened in


def max_min_rates(streams: Sequence[Stream], capacity: Mapping[Link, float]) -> dict[int, float]:
    """Max-min fair rates by progressive filling: index in ``streams`` -> bytes/s
    (``capacity`` holds at least every link the streams cross)."""
    rates = {i: 0.0 for i in range(len(streams))}
    room = {link: capacity[link] for s in streams for link in s.links}
    growing = set(rates)
    while growing:
        users: dict[Link, int] = {}
        for i in growing:
            for link in streams[i].links:
                users[link] = users.get(link, 0) + 1
        step = max(
            0.0,
            min(
                min((room[link] / n for link, n in users.items()), default=math.inf),
                min(streams[i].cap - rates[i] for i in growing),
            ),
        )
        for i in growing:
            rates[i] += step
        for link, n in users.items():
            room[link] -= step * n
        full = {link for link, n in users.items() if room[link] <= 1e-9 * capacity[link]}
        growing = {
            i
            for i in growing
            if rates[i] < streams[i].cap * (1 - 1e-9)
            and not any(link in full for link in streams[i].links)
        }
    return rates


class SharedLinks:
    """The streams in flight and their max-min fair share of the links.

    Max-min fairness decomposes over the connected components of streams that share links
    (streams that share no link, directly or through others, cannot take bandwidth from
    each other), so a stream that starts or ends changes the rates of its own component
    only, and only that component is filled again: one or two streams, where 10,000 hosts
    have some fifty in flight. The allocation is the one progressive filling over
    all streams gives; its floating-point sums are the component's own (on the shipped
    scenarios identical to the last bit, see ``tests/processes/test_bandwidth.py``)."""

    def __init__(self, env: simpy.Environment, paths: Paths) -> None:
        self.env = env
        self.paths = paths
        self.streams: list[Stream] = []  # in the order they opened
        self._capacity: dict[Link, float] = {}  # every link opened on; bandwidths never change
        self._on_link: dict[Link, list[Stream]] = {}  # the streams in flight on each link
        self._opened = 0
        self._since = 0.0  # when every stream in flight was last brought up to date
        self._finite = True  # every link opened on has a finite bandwidth (so every rate)

    def open(self, src: str, dst: str, cap: float = math.inf) -> Stream:
        """Start a stream from network node ``src`` to ``dst`` (its rate is set at once)."""
        path = self.paths.path(src, dst)
        stream = Stream(tuple(path), min(cap, self.paths.bottleneck(src, dst)))
        self._opened += 1
        stream.seq = self._opened
        known, edges = self._capacity, self.paths.graph.edges
        for link in stream.links:
            if link not in known:
                known[link] = float(edges[link]["bandwidth"])
                self._finite = self._finite and math.isfinite(known[link])
        self._advance()
        self.streams.append(stream)
        on_link = self._on_link
        for link in stream.links:
            on_link.setdefault(link, []).append(stream)
        self._reallocate([self._component(stream)])
        return stream

    def close(self, stream: Stream) -> None:
        """End ``stream``; the others share what it held."""
        self._advance()
        self.streams.remove(stream)
        on_link = self._on_link
        for link in stream.links:
            sharing = on_link[link]
            sharing.remove(stream)
            if not sharing:
                del on_link[link]
        components: list[list[Stream]] = []
        seen: set[int] = set()
        for link in stream.links:  # the components it held together, now apart or not
            for other in on_link.get(link, ()):
                if other.seq not in seen:
                    component = self._component(other)
                    seen.update(s.seq for s in component)
                    components.append(component)
        self._reallocate(components)

    def send(self, stream: Stream, nbytes: float) -> Generator[Any, Any, None]:
        """Send ``nbytes`` on ``stream`` at its (changing) share; returns when all are sent.

        The sending process waits for the time the bytes left take at the current rate,
        one ``Timeout``. A new rate (rare: another stream on a shared link opened or closed)
        interrupts the wait (:data:`RATE_CHANGED`); the process then works out the bytes
        left and waits again. Racing the timeout with a rate-change event instead would
        cost a ``Condition`` event per wait as well; the only difference is at an exact
        tie, which both forms settle the same way: a change at the very instant the bytes
        run out finds the transfer done."""
        self._advance()
        stream.left = float(nbytes)
        stream.sender = self.env.active_process
        try:
            while stream.left > 0:
                stream.woken = False
                delay = stream.left / stream.rate
                end = self.env.now + delay
                try:
                    yield self.env.timeout(delay)
                    done = True
                except simpy.Interrupt as wake:
                    if wake.cause is not RATE_CHANGED:
                        raise
                    done = self.env.now >= end
                self._advance()
                if done:  # the transfer ran out at this rate
                    stream.left = 0.0
        finally:
            stream.sender = None

    def _advance(self) -> None:
        """Bring every stream in flight up to date: the bytes it has left fall by its rate
        times the time since the last call. Every stream was last brought up to date at that
        same time (one opens just after a call), so the elapsed time is one number. A second
        call at the same instant changes nothing when every rate is finite (``left - rate *
        0.0`` is ``left``), so it returns at once: a transfer starts where its stream opened,
        or where the previous pass ended."""
        now = self.env.now
        elapsed = now - self._since
        if elapsed == 0.0 and self._finite:
            return
        self._since = now
        for s in self.streams:
            left = s.left - s.rate * elapsed
            s.left = left if left > 0.0 else 0.0  # max(0.0, left), NaN included

    def _component(self, stream: Stream) -> list[Stream]:
        """The streams connected to ``stream`` through shared links, in the order opened."""
        on_link = self._on_link
        found = {stream.seq: stream}
        todo = [stream]
        while todo:
            for link in todo.pop().links:
                for other in on_link[link]:
                    if other.seq not in found:
                        found[other.seq] = other
                        todo.append(other)
        return [found[seq] for seq in sorted(found)]

    def _reallocate(self, components: list[list[Stream]]) -> None:
        """Fill each of ``components`` again; the streams whose rate changed are woken in
        the order they opened, whatever their component (the order of their events)."""
        changed: list[tuple[int, Stream, float]] = []
        for component in components:
            for i, rate in max_min_rates(component, self._capacity).items():
                s = component[i]
                if rate != s.rate:
                    changed.append((s.seq, s, rate))
        changed.sort(key=lambda item: item[0])
        for _, s, rate in changed:
            s.rate = rate
            if s.sender is not None and not s.woken:
                s.woken = True
                s.sender.interrupt(RATE_CHANGED)
