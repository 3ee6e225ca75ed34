"""Named random streams spawned from one root seed.

Every source of randomness in vtasim (service times, drift moments, key material, nonces)
draws from its own named stream. A stream's state depends only on the root seed and its
name, never on the order in which streams are created, so adding a new stream does not
shift the numbers any other stream produces. Streams are numpy ``Generator`` objects
(PCG64) seeded by ``numpy.random.SeedSequence(root_seed, spawn_key=hash(name))``.

An estate has hundreds of thousands of small per-entity streams (one per VM and purpose);
those are *parked* (:class:`ParkedStream`): kept as their bare PCG64 state and drawn through
one shared scratch generator, seeded by the same SeedSequence arithmetic done in integers.
They give exactly the numbers their own generator would. Bytes for nonces and keys come in
buffered chunks (:class:`ByteSource`), again exactly as ``Generator.bytes`` would give them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import TypeVar

import numpy as np

_T = TypeVar("_T")

_WORDS = struct.Struct(">4I")

# --------------------------------------------------------------------------------------
# Performance trick: numpy's seeding re-implemented in integers (parked streams only).
#
# numpy's SeedSequence (hash mixing of 32-bit words) and PCG64 seeding, done in integers
# with the constants of numpy/random/bit_generator.pyx and pcg64.h, so that a parked stream
# is born as a bare (state, inc) pair. What it buys (process time and tracemalloc, 2000
# streams): ~340 B per parked stream against ~910 B for a numpy Generator, and ~20 us to
# seed one against ~29 us, over the hundreds of thousands of per-VM streams of a large
# estate; seed bytes (TPM and signing keys, two per host) ~18 us against ~53 us through a
# SeedSequence. tests/test_rng.py checks that parked streams draw what their own numpy
# generators draw and seed bytes are the SeedSequence's state; a numpy that changed its
# seeding would fail them.
# --------------------------------------------------------------------------------------
_M32 = 0xFFFFFFFF
_M128 = (1 << 128) - 1
_POOL = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645


def _uint32_words(n: int) -> list[int]:
    """An integer as SeedSequence reads it: 32-bit words, least significant first."""
    if n == 0:
        return [0]
    out = []
    while n > 0:
        out.append(n & _M32)
        n >>= 32
    return out


def _mixed_seed(seed: int) -> tuple[tuple[int, ...], int]:
    """SeedSequence's entropy pool after mixing in the root seed's words (padded to the
    pool size, as numpy does when a spawn key follows), and the running hash constant:
    the part of every stream's seeding that its name does not change."""
    run = _uint32_words(seed)
    run += [0] * (_POOL - len(run))
    h = _INIT_A

    def hashmix(value: int) -> int:
        nonlocal h
        value ^= h
        h = (h * _MULT_A) & _M32
        value = (value * h) & _M32
        return value ^ (value >> 16)

    pool = [hashmix(run[i]) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = _mix(pool[dst], hashmix(pool[src]))
    for word in run[_POOL:]:
        for dst in range(_POOL):
            pool[dst] = _mix(pool[dst], hashmix(word))
    return tuple(pool), h


def _mix(x: int, y: int) -> int:
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> 16)


def _state_words(mixed: tuple[tuple[int, ...], int], key: tuple[int, ...], n: int) -> list[int]:
    """``SeedSequence(seed, spawn_key=key).generate_state(n, uint32)`` as integers, from the
    seed's :func:`_mixed_seed`. (The mixing is written out in the loops: a run parks tens
    of thousands of streams, and a call per mixed word cost half of this function's time.)"""
    pool_t, h = mixed
    pool = list(pool_t)
    for k in key:
        for word in _uint32_words(k):
            for dst in range(_POOL):
                value = word ^ h
                h = (h * _MULT_A) & _M32
                value = (value * h) & _M32
                r = (_MIX_L * pool[dst] - _MIX_R * (value ^ (value >> 16))) & _M32
                pool[dst] = r ^ (r >> 16)
    out = []
    hb = _INIT_B
    for i in range(n):
        value = pool[i % _POOL] ^ hb
        hb = (hb * _MULT_B) & _M32
        value = (value * hb) & _M32
        out.append(value ^ (value >> 16))
    return out


def _pcg64_state(mixed: tuple[tuple[int, ...], int], key: tuple[int, ...]) -> tuple[int, int]:
    """(state, inc) of ``PCG64(SeedSequence(seed, spawn_key=key))``, from the seed's
    :func:`_mixed_seed`; a test checks it against numpy for many seeds and keys."""
    return _pcg64_from_words(_state_words(mixed, key, 8))


def _pcg64_from_words(out: list[int]) -> tuple[int, int]:
    """PCG64's (state, inc) from the 8 SeedSequence words it is seeded with."""
    seed128 = (out[0] | out[1] << 32) << 64 | (out[2] | out[3] << 32)
    seq128 = (out[4] | out[5] << 32) << 64 | (out[6] | out[7] << 32)
    inc = ((seq128 << 1) | 1) & _M128
    state = ((inc + seed128) * _PCG_MULT + inc) & _M128
    return state, inc


class _Seeding:
    """:func:`_state_words` for one root seed and names' four-word keys, with what does not
    depend on the name worked out once: the pool after the seed, and the hash constants of
    the sixteen key-mixing steps and of the output words (the same sequence for every name).
    ``many`` does the same for a batch of keys at once in 64-bit numpy arrays (products and
    differences wrap modulo 2**64, whose low 32 bits are the 32-bit arithmetic's). Buys: ~12
    us per stream seeded one by one instead of ~17 us, ~2 us in a batch; a test checks both
    against :func:`_state_words` and numpy."""

    def __init__(self, seed: int) -> None:
        pool, h = _mixed_seed(seed)
        self.pool = pool
        steps = []
        for _ in range(4 * _POOL):  # a name's key is four 32-bit words
            before, h = h, (h * _MULT_A) & _M32
            steps.append((before, h))
        self.steps = tuple(steps)
        self._outputs: list[tuple[int, int]] = []

    def _output_constants(self, n: int) -> list[tuple[int, int]]:
        out = self._outputs
        hb = out[-1][1] if out else _INIT_B
        while len(out) < n:
            before, hb = hb, (hb * _MULT_B) & _M32
            out.append((before, hb))
        return out

    def words(self, key: tuple[int, ...], n: int) -> list[int]:
        """``generate_state(n, uint32)`` of the stream whose name's key is ``key``."""
        pool = list(self.pool)
        steps = self.steps
        k = 0
        for word in key:
            for dst in (0, 1, 2, 3):
                before, after = steps[k]
                k += 1
                v = ((word ^ before) * after) & _M32
                r = (_MIX_L * pool[dst] - _MIX_R * (v ^ (v >> 16))) & _M32
                pool[dst] = r ^ (r >> 16)
        out = []
        for i, (before, after) in enumerate(self._output_constants(n)[:n]):
            v = ((pool[i & 3] ^ before) * after) & _M32
            out.append(v ^ (v >> 16))
        return out

    def many(self, keys: list[tuple[int, ...]], n: int) -> list[list[int]]:
        """:meth:`words` of each of ``keys``, computed together."""
        m32 = np.uint64(_M32)
        s16 = np.uint64(16)
        mix_l, mix_r = np.uint64(_MIX_L), np.uint64(_MIX_R)
        words = np.array(keys, dtype=np.uint64).reshape(len(keys), 4)
        pool = np.tile(np.array(self.pool, dtype=np.uint64), (len(keys), 1))
        k = 0
        for w in range(4):
            word = words[:, w]
            for dst in range(4):
                before, after = self.steps[k]
                k += 1
                v = ((word ^ np.uint64(before)) * np.uint64(after)) & m32
                r = (mix_l * pool[:, dst] - mix_r * (v ^ (v >> s16))) & m32
                pool[:, dst] = r ^ (r >> s16)
        out = np.empty((len(keys), n), dtype=np.uint64)
        for i, (before, after) in enumerate(self._output_constants(n)[:n]):
            v = ((pool[:, i & 3] ^ np.uint64(before)) * np.uint64(after)) & m32
            out[:, i] = v ^ (v >> s16)
        rows: list[list[int]] = out.tolist()
        return rows


def _name_key(name: str) -> tuple[int, ...]:
    """A stable spawn key for a stream name: four 32-bit words of SHA-256(name)."""
    return _WORDS.unpack_from(hashlib.sha256(name.encode("utf-8")).digest())


class Streams:
    """A family of independent, reproducible random streams under one root seed."""

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self.seed = int(seed)
        self._streams: dict[str, np.random.Generator] = {}
        self._parked: set[str] = set()
        self._scratch: np.random.Generator | None = None
        self._seeding = _Seeding(self.seed)
        self._prepared: dict[str, tuple[int, int]] = {}
        self._unseeded: list[ParkedStream] | None = None  # parked during a deferral

    def sequence(self, name: str) -> np.random.SeedSequence:
        """The SeedSequence of stream ``name`` (for spawning child seeds)."""
        return np.random.SeedSequence(self.seed, spawn_key=_name_key(name))

    def stream(self, name: str) -> np.random.Generator:
        """The generator of stream ``name``; the same object on every call."""
        gen = self._streams.get(name)
        if gen is None:
            if name in self._parked:
                raise ValueError(f"stream {name!r} is parked for a sampler (see park())")
            gen = np.random.Generator(np.random.PCG64(self.sequence(name)))
            self._streams[name] = gen
        return gen

    def park(self, name: str) -> ParkedStream:
        """Stream ``name`` as a :class:`ParkedStream`: the same numbers :meth:`stream`
        would give, for a fraction of the memory. Each name is parked once, and a parked
        name can no longer be had as a generator (their draws would diverge)."""
        if name in self._streams or name in self._parked:
            raise ValueError(f"stream {name!r} is already in use")
        self._parked.add(name)
        if self._scratch is None:
            self._scratch = np.random.Generator(np.random.PCG64(0))
        prepared = self._prepared.pop(name, None)
        if prepared is not None:
            return ParkedStream(*prepared, self._scratch)
        if self._unseeded is not None:  # seeded with the others at settle()
            parked = ParkedStream(None, 0, self._scratch, (self._seeding, _name_key(name)))
            self._unseeded.append(parked)
            return parked
        return ParkedStream(
            *_pcg64_from_words(self._seeding.words(_name_key(name), 8)), self._scratch
        )

    def defer_seeding(self) -> None:
        """From now until :meth:`settle`, streams parked are seeded together at settle (or
        at their first draw before it): an estate's build parks thousands of entity
        streams, ~2 us each seeded in a batch against ~12 us one by one."""
        if self._unseeded is None:
            self._unseeded = []

    def settle(self) -> None:
        """Seed the streams parked since :meth:`defer_seeding` that have not drawn yet, in
        one batch, and park the next ones seeded at once again. Changes no number drawn."""
        pending = [p for p in self._unseeded or () if not p.seeded]
        self._unseeded = None
        if pending:
            rows = self._seeding.many([p.key for p in pending], 8)
            for parked, row in zip(pending, rows, strict=True):
                parked.seed(*_pcg64_from_words(row))

    def prepare(self, names: list[str]) -> None:
        """Work out the seeding of the streams ``names`` together, for :meth:`park` to find
        (many entity streams known at build time, such as every VM's lifetime stream, cost
        ~2 us each this way instead of ~12 us one by one). Changes no number drawn; names
        in use already are left out."""
        todo = [n for n in names if not self.has(n) and n not in self._prepared]
        if not todo:
            return
        rows = self._seeding.many([_name_key(n) for n in todo], 8)
        for name, row in zip(todo, rows, strict=True):
            self._prepared[name] = _pcg64_from_words(row)

    def has(self, name: str) -> bool:
        """True once ``name`` is in use, as a generator or parked."""
        return name in self._streams or name in self._parked

    def take_bytes(self, name: str, n: int) -> bytes:
        """``n`` bytes from stream ``name`` (key material, nonces, serial numbers)."""
        return self.stream(name).bytes(n)

    def seed_bytes(self, name: str, n: int = 32) -> bytes:
        """``n`` bytes that depend only on the root seed and ``name``; they do not advance
        any stream. Use them to derive long-lived identities (TPM keys, CA keys)."""
        words = self._seeding.words(_name_key(name), (n + 3) // 4)
        return b"".join(w.to_bytes(4, "big") for w in words)[:n]


class ParkedStream:
    """A named stream kept as its bare PCG64 state between uses.

    An estate has hundreds of thousands of entity streams (one per VM and purpose), each
    drawn a few numbers at a time. A numpy ``Generator`` with its ``PCG64`` costs over a
    kilobyte; the parked state is a tuple of four integers. :meth:`draw` loads the state
    into one scratch generator shared by all parked streams of a :class:`Streams`, draws,
    and parks the advanced state again, so the numbers are exactly those the stream's own
    generator would have given (a test checks this)."""

    __slots__ = ("_key", "_scratch", "_seeding", "_state")

    def __init__(
        self,
        state: int | None,
        inc: int,
        scratch: np.random.Generator,
        deferred: tuple[_Seeding, tuple[int, ...]] | None = None,
    ) -> None:
        # state None: seeded on first use, or with others by Streams.settle (``deferred``
        # holds the seeding and the name's key until then)
        self._state: tuple[int, int, int, int] | None = (
            None if state is None else (state, inc, 0, 0)  # a fresh PCG64 holds no half-word
        )
        self._scratch = scratch
        self._seeding: _Seeding | None = None
        self._key: tuple[int, ...] = ()
        if deferred is not None:
            self._seeding, self._key = deferred

    def seed(self, state: int, inc: int) -> None:
        """Give a stream parked unseeded its PCG64 state (its first draws are those)."""
        if self._state is None:
            self._state = (state, inc, 0, 0)
            self._seeding = None
            self._key = ()

    @property
    def seeded(self) -> bool:
        """Whether the stream's state has been worked out."""
        return self._state is not None

    @property
    def key(self) -> tuple[int, ...]:
        """The name's key of a stream parked unseeded (empty once seeded)."""
        return self._key

    def draw(self, fn: Callable[[np.random.Generator], _T]) -> _T:
        """``fn(generator)`` on this stream's generator, advancing the stream."""
        if self._state is None:
            assert self._seeding is not None
            self.seed(*_pcg64_from_words(self._seeding.words(self._key, 8)))
            assert self._state is not None
        bit_generator = self._scratch.bit_generator
        state, inc, has_uint32, uinteger = self._state
        bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": state, "inc": inc},
            "has_uint32": has_uint32,
            "uinteger": uinteger,
        }
        out = fn(self._scratch)
        after = bit_generator.state
        inner = after["state"]
        self._state = (inner["state"], inner["inc"], after["has_uint32"], after["uinteger"])
        return out


class ByteSource:
    """Random bytes from one generator, drawn ``chunk`` bytes at a time.

    ``take(n)`` returns exactly what ``generator.bytes(n)`` would at that point of the
    stream: numpy draws whole 32-bit words (``ceil(n / 4)`` of them) and drops the unused
    tail of the last one, and consecutive calls continue the same word sequence, so a
    buffer of words gives the same bytes as many small calls (a test checks this) for far
    less overhead per nonce or secret. The generator must serve nothing but bytes."""

    __slots__ = ("_buffer", "_chunk", "_generator", "_pos")

    def __init__(self, generator: np.random.Generator, chunk: int = 4096) -> None:
        if chunk < 4 or chunk % 4:
            raise ValueError("chunk must be a positive multiple of 4 bytes")
        self._generator = generator
        self._chunk = chunk
        self._buffer = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        """The next ``n`` random bytes (``n`` >= 1)."""
        if n < 1:
            raise ValueError("at least one byte")
        need = (n + 3) // 4 * 4
        pos = self._pos
        if pos + need > len(self._buffer):
            rest = self._buffer[pos:]
            self._buffer = rest + self._generator.bytes(max(self._chunk, need - len(rest)))
            pos = 0
        self._pos = pos + need
        return self._buffer[pos : pos + n]
