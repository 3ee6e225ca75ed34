"""The placement arrays answer as a walk over the cluster's hosts does, whatever happened to
the hosts before."""

from __future__ import annotations

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.capacity import CapacityTracker
from sim.processes.host_capacity import CapacityState
from sim.processes.placement_index import ClusterIndex


class _Host(CapacityState):
    def __init__(self, env: simpy.Environment, name: str, memory: int, tracker: CapacityTracker):
        self.env, self.name, self.memory = env, name, memory
        self.track_capacity(tracker)


_MEMORY = st.sampled_from([64, 96, 100, 128, 3 * 2**40, 2**52 + 1])
_STEP = st.tuples(
    st.sampled_from(["up", "down", "maintenance", "reserve", "release", "attested", "not"]),
    st.integers(0, 7),
    st.integers(1, 80),
)


@given(
    st.lists(st.tuples(_MEMORY, st.booleans(), st.booleans()), min_size=1, max_size=8),
    st.lists(_STEP, max_size=60),
    st.lists(st.tuples(st.integers(1, 130), st.integers(-1, 8)), min_size=1, max_size=6),
)
@settings(max_examples=400, deadline=None)
def test_the_arrays_answer_as_the_walk_over_the_hosts(
    start: list[tuple[int, bool, bool]],
    steps: list[tuple[str, int, int]],
    asks: list[tuple[int, int]],
) -> None:
    """Hosts start up or down and seen as attested or not, then go up and down, into
    maintenance mode, take and give back memory (overcommitted too) and change how they
    are seen; then for VMs of assorted sizes, with and without a host excluded, the hosts
    with room, the attested ones among them, the first and the first of the least loaded
    are what walking the hosts in order gives (``min`` over the loads as Python divides
    them)."""
    env, tracker = simpy.Environment(), CapacityTracker()
    hosts = [_Host(env, f"h{i}", m, tracker) for i, (m, _, _) in enumerate(start)]
    index = ClusterIndex(hosts)
    attested = {}
    for h, (_, up, seen) in zip(hosts, start, strict=True):
        h.join_index(index)
        h._set_up(up)
        attested[h.name] = seen
        index.view_changed(h.name, seen)
    for kind, k, amount in steps:
        h = hosts[k % len(hosts)]
        if kind in ("up", "down"):
            h._set_up(kind == "up")
        elif kind == "maintenance":
            h._set_maintenance(not h.maintenance)
        elif kind == "reserve":
            h.reserve(amount)
        elif kind == "release":
            h.release(amount)
        else:
            attested[h.name] = kind == "attested"
            index.view_changed(h.name, attested[h.name])
    for memory, excluded in asks:
        exclude = None if excluded < 0 else f"h{excluded}"
        walk = [
            h
            for h in hosts
            if h.up
            and not h.maintenance
            and h.used_memory + memory <= h.memory
            and h.name != exclude
        ]
        room = index.with_room(memory, exclude)
        assert index.hosts(room) == walk
        eligible = room & index.attested
        walk_attested = [h for h in walk if attested[h.name]]
        assert index.hosts(eligible) == walk_attested
        assert index.first(eligible) is (walk_attested[0] if walk_attested else None)
        least = min(walk_attested, key=lambda h: h.used_memory / h.memory, default=None)
        assert index.least_loaded(eligible) is least


def test_a_host_that_takes_no_vm_has_no_room_even_for_nothing() -> None:
    """A host down or in maintenance mode is never eligible; up and free, it is."""
    env, tracker = simpy.Environment(), CapacityTracker()
    host = _Host(env, "h0", 100, tracker)
    index = ClusterIndex([host])
    host.join_index(index)
    assert not index.with_room(0).any()  # down from the start
    host._set_up(True)
    assert index.hosts(index.with_room(100)) == [host]
    host._set_maintenance(True)
    assert not index.with_room(1).any()
