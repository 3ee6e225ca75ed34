"""Half-open time intervals ``[start, end)`` as sorted, disjoint lists: union, intersection,
difference, total length, and whether a moment lies inside. Used to derive coverage, gaps
and drift windows from the recorded tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Span = tuple[float, float]


def union(spans: Iterable[Span]) -> list[Span]:
    """The union of ``spans`` as sorted, disjoint, non-empty intervals (touching ones merge)."""
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def intersect(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """The intersection of two sorted, disjoint lists."""
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """``a`` without ``b`` (both sorted and disjoint)."""
    out: list[Span] = []
    j = 0
    for start, end in a:
        cur = start
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < end:
            out.append((cur, end))
    return out


def total(spans: Iterable[Span]) -> float:
    """The summed length of disjoint ``spans``."""
    return sum(end - start for start, end in spans)


def contains(spans: Sequence[Span], t: float) -> bool:
    """Whether ``t`` lies in one of the sorted, disjoint ``spans``."""
    return any(start <= t < end for start, end in spans)


def first_outside(spans: Sequence[Span], t: float) -> float:
    """The first moment at or after ``t`` that lies in none of the sorted, disjoint
    ``spans`` (``t`` itself when it lies in none)."""
    for start, end in spans:
        if start <= t < end:
            return end
    return t
