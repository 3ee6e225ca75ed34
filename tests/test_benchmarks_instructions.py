"""Smoke tests of benchmarks/instructions.py's pure parts: instructions sorted by where
they ran, and the table. (Counting itself needs valgrind and minutes; no test runs it.)"""

from __future__ import annotations

from tests.scripts import load_script

instructions = load_script("benchmarks/instructions.py", "vtasim_bench_instructions")

ANNOTATED = """\
--------------------------------------------------------------------------------
13,680,737,695 (100.0%)  PROGRAM TOTALS
--------------------------------------------------------------------------------
3,149,796,672 (23.02%)  ???:_aesni_ghash [/v/cryptography/hazmat/bindings/_rust.abi3.so]
  791,955,949 ( 5.79%)  Python/ceval.c:_PyEval_EvalFrameDefault'2 [/p/lib/libpython3.11.so.1.0]
  652,852,708 ( 4.77%)  memset.S:__memset_avx2 [/usr/lib/libc.so.6]
       40,000 ( 0.00%)  ???:main [/work/.venv/bin/python]
       19,000 ( 0.00%)  ???:heappush [/p/lib-dynload/_heapq.cpython-311-x86_64-linux-gnu.so]
"""


def test_instructions_are_split_by_the_object_they_ran_in() -> None:
    """The cryptography library, the interpreter (its library and binary), the C library
    and the rest; the totals line is not counted."""
    parts = instructions._by_part(ANNOTATED)
    assert parts == {
        "cryptography": 3_149_796_672,
        "interpreter": 791_955_949 + 40_000,
        "C library": 652_852_708,
        "other": 19_000,
    }


def test_the_table_gives_each_tree_per_attestation_and_its_ratio_to_the_first() -> None:
    """Per attestation in millions, the ratio to the first tree, thousands per event."""
    parts = {"cryptography": 6_000_000, "interpreter": 3_000_000, "C library": 0, "other": 1}
    rows = [
        {"tree": "a", "attestations": 2, "events": 10, "instructions": 9_000_000, "parts": parts},
        {"tree": "b", "attestations": 2, "events": 9, "instructions": 8_100_000, "parts": parts},
    ]
    text = instructions.render(rows, 2000, 600.0, 600.0)
    assert "a | 2 | 10 | 4.500 (1.000) | 3.000 | 1.500" in text
    assert "b | 2 | 9 | 4.050 (0.900)" in text and text.splitlines()[-1].endswith("| 900")
