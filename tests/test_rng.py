"""Named random streams: reproducible, independent of creation order, distinct by name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.rng import ByteSource, Streams


def test_same_seed_and_name_same_numbers() -> None:
    """Two families with one seed give the same draws per stream name."""
    a, b = Streams(7), Streams(7)
    assert a.stream("x").random(5).tolist() == b.stream("x").random(5).tolist()
    assert a.take_bytes("k", 32) == b.take_bytes("k", 32)


def test_creation_order_does_not_matter() -> None:
    """Creating another stream first does not shift a stream's numbers."""
    a, b = Streams(7), Streams(7)
    b.stream("other").random(100)
    assert a.stream("x").random(3).tolist() == b.stream("x").random(3).tolist()


def test_names_and_seeds_give_different_streams() -> None:
    """Different names or different seeds give different numbers."""
    s = Streams(1)
    assert s.stream("a").random(3).tolist() != s.stream("b").random(3).tolist()
    assert Streams(1).seed_bytes("n") != Streams(2).seed_bytes("n")


def test_seed_bytes_do_not_advance_streams() -> None:
    """seed_bytes depends only on (seed, name) and leaves the stream untouched."""
    a, b = Streams(3), Streams(3)
    assert a.seed_bytes("tpm.esx-01") == b.seed_bytes("tpm.esx-01")
    a.seed_bytes("x")
    assert a.stream("x").random() == b.stream("x").random()


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=60),
    chunk=st.sampled_from([4, 8, 64, 4096]),
)
def test_byte_source_gives_what_generator_bytes_gives(sizes: list[int], chunk: int) -> None:
    """ByteSource.take(n) returns, call after call, exactly the bytes of successive
    generator.bytes(n) calls (numpy draws whole 32-bit words and drops the tail)."""
    plain = np.random.Generator(np.random.PCG64(11))
    buffered = ByteSource(np.random.Generator(np.random.PCG64(11)), chunk)
    for n in sizes:
        assert buffered.take(n) == plain.bytes(n)


def test_byte_source_refuses_nonsense() -> None:
    """No bytes for n < 1; the chunk must be whole words."""
    with pytest.raises(ValueError):
        ByteSource(np.random.default_rng(0)).take(0)
    with pytest.raises(ValueError):
        ByteSource(np.random.default_rng(0), chunk=6)


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    kinds=st.lists(st.sampled_from(["random", "lognormal", "integers", "bytes"]), min_size=1),
    seed=st.integers(0, 2**32),
)
def test_parked_stream_gives_what_its_generator_gives(
    batches: list[int], kinds: list[str], seed: int
) -> None:
    """Interleaved parked streams draw exactly the numbers their own generators would,
    whatever the draws (32-bit integer draws leave a buffered half-word in the state)."""

    def draw(g: np.random.Generator, kind: str, n: int) -> list[object]:
        if kind == "random":
            return list(g.random(n))
        if kind == "lognormal":
            return list(g.lognormal(0.5, 1.2, n))
        if kind == "integers":
            return list(g.integers(0, 2**31, n, dtype=np.int32))
        return [g.bytes(n)]

    parked_family, plain_family = Streams(seed), Streams(seed)
    a, b = parked_family.park("vm.a.lifetime"), parked_family.park("vm.b.lifetime")
    ga, gb = plain_family.stream("vm.a.lifetime"), plain_family.stream("vm.b.lifetime")
    for i, n in enumerate(batches):
        kind = kinds[i % len(kinds)]
        assert a.draw(lambda g, k=kind, m=n: draw(g, k, m)) == draw(ga, kind, n)
        assert b.draw(lambda g, k=kind, m=n + 1: draw(g, k, m)) == draw(gb, kind, n + 1)


def test_a_parked_name_is_not_also_a_generator() -> None:
    """Parking a name in use, or asking a parked name for a generator, is refused: the two
    would draw the same numbers twice."""
    s = Streams(1)
    s.park("x")
    assert s.has("x") and not s.has("y")
    with pytest.raises(ValueError, match="parked"):
        s.stream("x")
    with pytest.raises(ValueError, match="in use"):
        s.park("x")
    s.stream("y")
    with pytest.raises(ValueError, match="in use"):
        s.park("y")


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**140), name=st.text(max_size=40))
def test_parked_seeding_equals_numpys_seed_sequence(seed: int, name: str) -> None:
    """The integer SeedSequence + PCG64 seeding that parks a stream gives exactly the state
    numpy computes, for one-word, multi-word and zero seeds alike."""
    from sim.rng import _mixed_seed, _name_key, _pcg64_state

    expected = np.random.PCG64(Streams(seed).sequence(name)).state["state"]
    state, inc = _pcg64_state(_mixed_seed(seed), _name_key(name))
    assert (state, inc) == (expected["state"], expected["inc"])


@pytest.mark.parametrize("seed", [0, 1, 5, 2**32 + 7, 2**70 + 3])
@pytest.mark.parametrize("n", [1, 4, 16, 32, 33, 48])
def test_seed_bytes_are_the_seed_sequence_state(seed: int, n: int) -> None:
    """seed_bytes is SeedSequence(seed, spawn_key=name key).generate_state as big-endian
    32-bit words, computed in integers: the same bytes numpy gives."""
    for name in ("tpm.esx-01", "vta.0.report-key", ""):
        words = Streams(seed).sequence(name).generate_state((n + 3) // 4, dtype=np.uint32)
        expected = b"".join(int(w).to_bytes(4, "big") for w in words)[:n]
        assert Streams(seed).seed_bytes(name, n) == expected


@settings(max_examples=50, deadline=None)
@given(
    st.integers(0, 2**80),
    st.lists(st.text(max_size=20), min_size=1, max_size=20),
    st.integers(1, 40),
)
def test_seeding_with_constants_and_in_batches_is_the_reference(
    seed: int, names: list[str], n: int
) -> None:
    """The seeding worked out with the name-independent constants precomputed, one by one
    or for many names together in numpy, gives the reference arithmetic's words."""
    from sim.rng import _mixed_seed, _name_key, _Seeding, _state_words

    seeding, mixed = _Seeding(seed), _mixed_seed(seed)
    keys = [_name_key(name) for name in names]
    expected = [_state_words(mixed, key, n) for key in keys]
    assert [seeding.words(key, n) for key in keys] == expected
    assert seeding.many(keys, n) == expected


def test_prepared_streams_draw_what_unprepared_ones_draw() -> None:
    """Preparing streams in a batch changes no number: a prepared parked stream draws what
    the same stream parked alone, and its own generator, draw."""
    names = [f"vm.vm-{k:05d}.lifetime" for k in range(50)]
    prepared, alone, plain = Streams(11), Streams(11), Streams(11)
    prepared.prepare(names + names[:5])
    for name in names:
        a = prepared.park(name).draw(lambda g: g.random(3).tolist())
        b = alone.park(name).draw(lambda g: g.random(3).tolist())
        assert a == b == plain.stream(name).random(3).tolist()
    prepared.prepare(names)  # in use already: nothing to prepare


def test_streams_parked_while_seeding_is_deferred_draw_the_same_numbers() -> None:
    """Streams parked between defer_seeding and settle are seeded together at settle, or
    at their first draw before it; either way they draw what their own generators draw,
    and streams parked after settle are seeded at once again."""
    names = [f"host.esx-{k:03d}.jitter" for k in range(30)]
    deferred, plain = Streams(4), Streams(4)
    deferred.defer_seeding()
    parked = [deferred.park(name) for name in names]
    assert not any(p.seeded for p in parked)
    early = parked[0].draw(lambda g: g.random(2).tolist())  # drawn before settle
    deferred.settle()
    assert all(p.seeded for p in parked)
    assert deferred.park("late").seeded
    assert (
        early + parked[0].draw(lambda g: g.random(2).tolist())
        == plain.stream(names[0]).random(4).tolist()
    )
    for name, p in zip(names[1:], parked[1:], strict=True):
        assert p.draw(lambda g: g.random(3).tolist()) == plain.stream(name).random(3).tolist()
