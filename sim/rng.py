"""Named random streams spawned from one root seed.

Every source of randomness in vtasim (service times, drift moments, key material, nonces)
draws from its own named stream. A stream's state depends only on the root seed and its
name, never on the order in which streams are created, so adding a new stream does not
shift the numbers any other stream produces. Streams are numpy ``Generator`` objects
(PCG64) seeded by ``numpy.random.SeedSequence(root_seed, spawn_key=hash(name))``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

_T = TypeVar("_T")

_WORDS = struct.Struct(">4I")


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
        return ParkedStream(np.random.PCG64(self.sequence(name)).state, self._scratch)

    def has(self, name: str) -> bool:
        """True once ``name`` is in use, as a generator or parked."""
        return name in self._streams or name in self._parked

    def take_bytes(self, name: str, n: int) -> bytes:
        """``n`` bytes from stream ``name`` (key material, nonces, serial numbers)."""
        return self.stream(name).bytes(n)

    def seed_bytes(self, name: str, n: int = 32) -> bytes:
        """``n`` bytes that depend only on the root seed and ``name``; they do not advance
        any stream. Use them to derive long-lived identities (TPM keys, CA keys)."""
        words = self.sequence(name).generate_state((n + 3) // 4, dtype=np.uint32)
        return b"".join(int(w).to_bytes(4, "big") for w in words)[:n]


class ParkedStream:
    """A named stream kept as its bare PCG64 state between uses.

    An estate has hundreds of thousands of entity streams (one per VM and purpose), each
    drawn a few numbers at a time. A numpy ``Generator`` with its ``PCG64`` costs over a
    kilobyte; the parked state is a tuple of four integers. :meth:`draw` loads the state
    into one scratch generator shared by all parked streams of a :class:`Streams`, draws,
    and parks the advanced state again, so the numbers are exactly those the stream's own
    generator would have given (a test checks this)."""

    __slots__ = ("_scratch", "_state")

    def __init__(self, state: Mapping[str, Any], scratch: np.random.Generator) -> None:
        inner = state["state"]
        self._state = (inner["state"], inner["inc"], state["has_uint32"], state["uinteger"])
        self._scratch = scratch

    def draw(self, fn: Callable[[np.random.Generator], _T]) -> _T:
        """``fn(generator)`` on this stream's generator, advancing the stream."""
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
