"""Named random streams spawned from one root seed.

Every source of randomness in vtasim (service times, drift moments, key material, nonces)
draws from its own named stream. A stream's state depends only on the root seed and its
name, never on the order in which streams are created, so adding a new stream does not
shift the numbers any other stream produces. Streams are numpy ``Generator`` objects
(PCG64) seeded by ``numpy.random.SeedSequence(root_seed, spawn_key=hash(name))``.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _name_key(name: str) -> tuple[int, ...]:
    """A stable spawn key for a stream name: four 32-bit words of SHA-256(name)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "big") for i in range(0, 16, 4))


class Streams:
    """A family of independent, reproducible random streams under one root seed."""

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self.seed = int(seed)
        self._streams: dict[str, np.random.Generator] = {}

    def sequence(self, name: str) -> np.random.SeedSequence:
        """The SeedSequence of stream ``name`` (for spawning child seeds)."""
        return np.random.SeedSequence(self.seed, spawn_key=_name_key(name))

    def stream(self, name: str) -> np.random.Generator:
        """The generator of stream ``name``; the same object on every call."""
        gen = self._streams.get(name)
        if gen is None:
            gen = np.random.Generator(np.random.PCG64(self.sequence(name)))
            self._streams[name] = gen
        return gen

    def take_bytes(self, name: str, n: int) -> bytes:
        """``n`` bytes from stream ``name`` (key material, nonces, serial numbers)."""
        return self.stream(name).bytes(n)

    def seed_bytes(self, name: str, n: int = 32) -> bytes:
        """``n`` bytes that depend only on the root seed and ``name``; they do not advance
        any stream. Use them to derive long-lived identities (TPM keys, CA keys)."""
        words = self.sequence(name).generate_state((n + 3) // 4, dtype=np.uint32)
        return b"".join(int(w).to_bytes(4, "big") for w in words)[:n]
