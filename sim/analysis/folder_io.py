"""Files of run and sweep folders read back, and files written beside them: a folder
received from elsewhere is untrusted input, and a folder being written may hold links
someone planted.

Reading: every file is opened without blocking and checked on the open descriptor before
anything is read (a regular file, not a link, within a size limit), so a FIFO, a device or a
link to ``/dev/zero`` costs nothing; JSON is strict (no NaN or infinities, no integer over
Python's digit limit, no nesting deeper than :data:`MAX_JSON_DEPTH`), and every read is
bounded in bytes and in time (:data:`MAX_READ_SECONDS`). Every refusal is a
``RunError`` naming the file. :func:`damage` tells whether a run folder's files are whole,
for a sweep that resumes.

Writing: every durable write of vtasim goes through this module. :func:`write_file_atomic`
creates its temporary file exclusively in the target's folder (:func:`write_temporary`) and
renames it into place; :func:`write_new_file` creates a file that must not exist yet (inside
a folder being built, later renamed into place whole); :func:`sync_handle` and
:func:`sync_folder` make what was written, and the names in a folder, durable.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sim.errors import RunError, ScenarioError


def write_file_atomic(target: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically: into a temporary file created exclusively
    (a new random name, ``O_EXCL``, so a planted link is never followed) in the target's own
    folder, fsynced, then renamed over ``target`` (the rename replaces a link at ``target``
    itself, never the file it points to). Returns ``target``."""
    path = Path(target)
    tmp = write_temporary(path.parent, path.name, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_temporary(folder: Path, name: str, data: bytes) -> str:
    """Write ``data`` to a new temporary file for ``name`` in ``folder``, created exclusively
    (``mkstemp``: a random name, ``O_EXCL``, never a planted link) and synced; return its
    path. The caller renames it into place or removes it."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            sync_handle(handle)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def write_new_file(path: Path, data: bytes) -> None:
    """Create ``path``, which must not exist (``FileExistsError`` otherwise: nothing is
    overwritten, no link followed), write ``data`` and sync it. For files of a folder being
    built under a fresh name and renamed into place whole."""
    with open(path, "xb") as handle:
        handle.write(data)
        sync_handle(handle)


def sync_handle(handle: BinaryIO) -> None:
    """Flush ``handle`` and sync its file to the disk (the data survives a crash once a
    rename makes it visible)."""
    handle.flush()
    os.fsync(handle.fileno())


def sync_folder(path: Path) -> None:
    """Sync the folder ``path`` itself, so that names created or renamed in it survive a
    crash; a file system that cannot sync a folder is let be (its files are synced)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


MAX_JSON_BYTES = 64 << 20
"""Largest ``summary.json`` or ``manifest.json`` read back (a large run's is ~100 KiB)."""
MAX_SCENARIO_BYTES = 16 << 20
"""Largest ``scenario.resolved.yaml`` read back."""
MAX_TABLE_BYTES = 4 << 30
"""Largest table file (CSV or Parquet) read back from a run or sweep folder."""


def open_folder_file(path: Path, limit: int) -> Any:
    """A file of a run or sweep folder opened for binary reading: a regular file, not a
    link, of at most ``limit`` bytes (a FIFO, a device or a link to ``/dev/zero`` in a
    received folder is refused unread); ``RunError`` naming it otherwise."""
    from sim.scenario.yaml_safe import open_regular

    try:
        return open_regular(path, limit, follow_links=False)
    except ScenarioError as err:
        raise RunError(str(err)) from None


MAX_READ_SECONDS = 300.0
"""Longest time reading one folder file may take (a CSV table: reading and parsing it). A
file on a stalled share or one that trickles in is refused rather than waited for forever;
the clock is checked after each block or batch of lines, so a single read that blocks in the
operating system is not interrupted."""
READ_BLOCK = 1 << 20
"""Bytes read at a time."""
_LINES_PER_CHECK = 1024
_now = time.monotonic


def _check_time(path: Path, start: float) -> None:
    """Refuse ``path`` when reading it has taken longer than :data:`MAX_READ_SECONDS`."""
    if _now() - start > MAX_READ_SECONDS:
        raise RunError(
            f"{path}: reading it took longer than the limit of {MAX_READ_SECONDS:g} s; not read"
        )


def _too_large(path: Path, limit: int) -> RunError:
    return RunError(f"{path}: larger than the limit of {limit:,} bytes; not read")


def read_blocks(handle: BinaryIO, path: Path, limit: int) -> Iterator[bytes]:
    """The bytes of an open folder file, block by block, refused (``RunError`` naming
    ``path``) past ``limit`` bytes (a file growing meanwhile) or :data:`MAX_READ_SECONDS`."""
    start, total = _now(), 0
    while True:
        try:
            block = handle.read(READ_BLOCK)
        except OSError as exc:
            raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
        if not block:
            return
        total += len(block)
        if total > limit:
            raise _too_large(path, limit)
        _check_time(path, start)
        yield block


def read_lines(handle: BinaryIO, path: Path, limit: int) -> Iterator[bytes]:
    """The lines of an open folder file (each ending in ``\\n`` but perhaps the last), with
    the bounds of :func:`read_blocks`; the time counts what the caller does with them."""
    start, total = _now(), 0
    try:
        for n, line in enumerate(handle):
            total += len(line)
            if total > limit:
                raise _too_large(path, limit)
            if n % _LINES_PER_CHECK == 0:
                _check_time(path, start)
            yield line
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_text(path: Path, limit: int = MAX_TABLE_BYTES) -> str:
    """The UTF-8 text of a folder file (see :func:`open_folder_file`), read in blocks
    within ``limit`` bytes and :data:`MAX_READ_SECONDS`."""
    data = bytearray()
    with open_folder_file(path, limit) as handle:
        for block in read_blocks(handle, path, limit):
            data += block
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunError(f"cannot read {path}: {exc}") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


def read_json(path: Path) -> dict[str, Any]:
    """A folder's JSON object file, bounded and strict; ``RunError`` otherwise."""
    try:
        value = json.loads(
            read_text(path, MAX_JSON_BYTES), parse_constant=_reject_constant, parse_float=_finite
        )
    except RecursionError:
        raise RunError(f"{path} is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, a 5,000-digit integer
        raise RunError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RunError(f"{path} does not hold a JSON object")
    if _depth(value) > MAX_JSON_DEPTH:
        raise RunError(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels; not read")
    return value


MAX_JSON_DEPTH = 32
"""Deepest nesting of a ``summary.json`` or ``manifest.json`` read back (ours: about 5)."""


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (iteratively: no recursion limit)."""
    deepest = 0
    todo = [(value, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                items = node.values() if isinstance(node, dict) else node
                todo.extend((item, level + 1) for item in items)
    return deepest


def load_json(path: Path) -> dict[str, Any]:
    """A run folder's JSON object file, bounded and strict (see :func:`open_folder_file`;
    NaN, infinities and nesting deeper than MAX_JSON_DEPTH refused): ``RunError``
    otherwise."""
    return read_json(path)


def read_scenario_text(folder: Path, name: str = "scenario.resolved.yaml") -> str:
    """A run folder's ``scenario.resolved.yaml`` (or a sweep folder's
    ``sweep.resolved.yaml``), bounded: see :func:`open_folder_file`."""
    return read_text(folder / name, MAX_SCENARIO_BYTES)


def damage(path: Path | str) -> str | None:
    """What is wrong with a complete run folder's files, or None when they are whole: its
    JSON files parse (bounded), every table has both its files, each Parquet footer reads
    and its CSV holds at least as many lines as the Parquet rows plus the header and ends
    with a line break (a truncated copy fails one of these). Cheap: the CSV is counted,
    not parsed; the Parquet file's footer only is read."""
    import pyarrow.parquet as pq

    folder = Path(path)
    try:
        read_json(folder / "manifest.json")
        read_json(folder / "summary.json")
        read_scenario_text(folder)
        csvs = {p.stem for p in folder.glob("*.csv")}
        parquets = {p.stem for p in folder.glob("*.parquet")}
        if csvs != parquets:
            return f"tables without both files: {sorted(csvs ^ parquets)}"
        for name in sorted(csvs):
            with open_folder_file(folder / f"{name}.parquet", MAX_TABLE_BYTES) as handle:
                rows = pq.read_metadata(handle).num_rows
            lines, last = _count_lines(folder / f"{name}.csv")
            if last not in (b"\n", b"") or lines < rows + 1:
                return f"{name}.csv has {lines} lines for {rows} rows (truncated?)"
    except (RunError, OSError, ValueError) as exc:
        return str(exc)
    return None


def _count_lines(path: Path) -> tuple[int, bytes]:
    """Line breaks in ``path`` and its last byte (b"" when empty), read in blocks."""
    lines, last = 0, b""
    with open_folder_file(path, MAX_TABLE_BYTES) as handle:
        for block in read_blocks(handle, path, MAX_TABLE_BYTES):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines, last
