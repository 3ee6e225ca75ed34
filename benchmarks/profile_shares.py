"""Where the CPU goes, by subsystem, and what the cryptography costs in place.

One profiled run (cProfile, timed with ``time.process_time`` so other processes on a busy
machine do not count) gives each function's own time. Functions are grouped by the module
they live in: ``processes`` (``sim/processes``), ``domain`` (``sim/domain``), ``analysis``
(``sim/analysis``), ``sim other`` (the rest of ``sim``: scenario, build, runner, streams),
``simpy``, ``crypto`` (the ``cryptography`` package and the OpenSSL-backed calls: ECDSA,
ECDH, AES, X.509, SHA-256 through ``hashlib``), ``benchmark`` (the reference model's own
code) and ``other`` (NumPy, the standard library, the interpreter). A built-in call that
is not cryptography (``list.append``, ``heapq.heappush``...) is charged to its callers'
groups in proportion to the time it took when called from each.

The profiler slows the Python around the calls (twice or more) but not the time inside a
C call, so the profile's crypto seconds are what the cryptography costs in place, with the
caches as the model leaves them: an ECDSA signature costs here about 1.3 to 2 times what a
tight loop of signatures costs (the micro-benchmarks). That in-place crypto time, taken
from the unprofiled CPU time of the same run, is the non-cryptographic CPU per attestation.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sim.runner import simulate
from sim.scenario import Scenario

GROUPS = ("processes", "domain", "analysis", "sim other", "simpy", "crypto", "benchmark", "other")

_CRYPTO_MARKS = ("cryptography", "_hashlib", "openssl")


def _builtin_is_crypto(name: str) -> bool:
    return any(mark in name for mark in _CRYPTO_MARKS)


def group_of(filename: str, name: str) -> str | None:
    """The group of one profiled function; None for a built-in that is not cryptography
    (charged to its callers)."""
    if filename == "~":
        return "crypto" if _builtin_is_crypto(name) else None
    path = filename.replace("\\", "/")
    for part, group in (
        ("/sim/processes/", "processes"),
        ("/sim/domain/", "domain"),
        ("/sim/analysis/", "analysis"),
        ("/cryptography/", "crypto"),
        ("/simpy/", "simpy"),
        ("/benchmarks/", "benchmark"),
        ("/sim/", "sim other"),
    ):
        if part in path:
            return group
    return "other"


@dataclass(frozen=True)
class Profile:
    """Own CPU seconds by group, and the in-place cost of the calls into ``cryptography``."""

    seconds: dict[str, float]
    crypto_calls: dict[str, tuple[int, float]]
    """Each cryptography built-in's calls and own seconds (``sign``, ``verify``...)."""

    @property
    def total_s(self) -> float:
        """All profiled seconds."""
        return sum(self.seconds.values())

    @property
    def shares(self) -> dict[str, float]:
        """Each group's share of the profiled seconds."""
        total = self.total_s or 1.0
        return {group: s / total for group, s in self.seconds.items()}

    @property
    def crypto_s(self) -> float:
        """Seconds in cryptography, in place."""
        return self.seconds["crypto"]

    def per_call_us(self, method: str) -> float | None:
        """Mean in-place microseconds of one call of the cryptography method ``method``
        (``"sign"``, ``"verify"``), over every key type; None if never called."""
        calls = seconds = 0.0
        for name, (n, s) in self.crypto_calls.items():
            if f"'{method}'" in name:
                calls += n
                seconds += s
        return None if not calls else seconds / calls * 1e6

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "seconds": self.seconds,
            "shares": self.shares,
            "sign_us": self.per_call_us("sign"),
            "verify_us": self.per_call_us("verify"),
        }


def grouped(stats: Mapping[Any, Any]) -> Profile:
    """Group ``pstats.Stats.stats`` by subsystem (see the module docstring)."""
    seconds = dict.fromkeys(GROUPS, 0.0)
    crypto_calls: dict[str, tuple[int, float]] = {}
    for (filename, _line, name), (_cc, calls, own, _cum, callers) in stats.items():
        group = group_of(filename, name)
        if group is not None:
            seconds[group] += own
            if group == "crypto" and filename == "~":
                crypto_calls[name] = (calls, own)
            continue
        charged = sum(c[2] for c in callers.values())
        if not charged:
            seconds["other"] += own
            continue
        for (cfile, _cl, cname), caller in callers.items():
            seconds[group_of(cfile, cname) or "other"] += own * caller[2] / charged
    return Profile(seconds, crypto_calls)


def profile_call(call: Callable[[], Any]) -> tuple[Any, Profile]:
    """Run ``call`` under cProfile timed in CPU seconds; its result and grouped profile."""
    profiler = cProfile.Profile(time.process_time)
    result = profiler.runcall(call)
    return result, grouped(pstats.Stats(profiler).stats)  # type: ignore[attr-defined]


def top_functions(scenario: Scenario, until: float, seed: int | None, top: int) -> str:
    """cProfile of one more run of ``scenario``: the ``top`` functions by own time."""
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(simulate, scenario, seed, until)
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(top)
    return buffer.getvalue()
