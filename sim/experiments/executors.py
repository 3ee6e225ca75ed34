"""Executors: where the runs of a sweep execute, a local process pool or a Dask cluster.

A :class:`RunTask` is plain data (it pickles anywhere); :func:`execute` runs one and writes
its run folder, never raising. An :data:`Executor` takes tasks and yields each with its
result as it finishes, in any order.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.analysis.summary import metric_value
from sim.errors import RunError


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs for one run (plain data, so it pickles anywhere)."""

    cell_id: str
    replication: int
    seed: int
    scenario: dict[str, Any]
    until: float | None
    out_dir: str
    metrics: tuple[str, ...]


def execute(task: RunTask) -> dict[str, Any]:
    """Run one task and write its run folder; never raises (failures are returned). The
    result's ``cpu_s`` is the CPU time the worker spent on it (parse, run, write)."""
    from sim.runner import simulate, write
    from sim.scenario import parse_scenario

    started = time.process_time()
    try:
        scenario = parse_scenario(task.scenario)
        spill = Path(task.out_dir).absolute().parent
        out = simulate(scenario, seed=task.seed, until=task.until, spill_dir=spill)
        write(out, task.out_dir)
        exc = out.manifest["exception"]
        return {
            "status": "ok" if exc is None else "failed",
            "error": None if exc is None else f"{exc['type']}: {exc['message']}",
            "wall_time_s": out.manifest["wall_time_s"],
            "cpu_s": time.process_time() - started,
            "metrics": {m: metric_value(out.summary, m) for m in task.metrics},
        }
    except Exception as exc:  # recorded in the index; the sweep goes on
        return {
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "wall_time_s": None,
            "metrics": {},
        }


Executor = Callable[[Sequence[RunTask]], Iterator[tuple[RunTask, dict[str, Any]]]]


def _lost(task: RunTask, exc: BaseException) -> dict[str, Any]:
    """The result of a run whose worker died or whose future could not be collected."""
    return {
        "status": "failed",
        "error": f"{type(exc).__name__}: {exc}",
        "wall_time_s": None,
        "metrics": {},
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        pass
    return True


def exit_with_parent(parent: int, every: float = 0.5) -> None:
    """Pool initializer: a daemon thread that ends this worker process as soon as the
    process that started the pool (``parent``) is gone, or this process was handed to
    another parent. Without it, a sweep whose parent is killed (``kill -9``, a lost SSH
    session) leaves its workers running, and waiting on their task queue, for good."""
    first = os.getppid()

    def watch() -> None:
        while os.getppid() == first and _alive(parent):
            time.sleep(every)
        os._exit(1)  # no clean-up: the parent that would collect our result is gone

    threading.Thread(target=watch, name="vtasim-parent-watch", daemon=True).start()


def local_executor(workers: int | None = None) -> Executor:
    """Runs tasks in a local process pool (``workers`` processes, default: the cores);
    with one worker, in this process. At most ``workers`` tasks are in flight, so an
    interrupt (Ctrl-C) stops the sweep after the runs in progress; a worker that dies
    (killed, out of memory) fails its run and the sweep goes on in a fresh pool; a worker
    whose parent dies exits (see :func:`exit_with_parent`)."""
    n = workers or os.cpu_count() or 1

    def run(tasks: Sequence[RunTask]) -> Iterator[tuple[RunTask, dict[str, Any]]]:
        if n == 1 or len(tasks) <= 1:
            for t in tasks:
                yield t, execute(t)
            return
        todo = list(reversed(tasks))
        while todo:
            pool = ProcessPoolExecutor(
                max_workers=min(n, len(todo)),
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )
            broken = False
            try:
                running: dict[Future[dict[str, Any]], RunTask] = {}
                while (todo or running) and not broken:
                    while todo and len(running) < n:
                        t = todo.pop()
                        running[pool.submit(execute, t)] = t
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        t = running.pop(fut)
                        try:
                            yield t, fut.result()
                        except BrokenProcessPool as exc:
                            broken = True
                            yield t, _lost(t, exc)
                # the pool broke: the runs still in it are lost; the rest go to a new pool
                for t in running.values():
                    yield t, _lost(t, BrokenProcessPool("worker process died"))
            finally:
                pool.shutdown(wait=not broken, cancel_futures=True)

    return run


CONNECT_TIMEOUT = 5.0
"""Seconds a first TCP connection to a Dask scheduler may take before it counts as
unreachable (distributed's own client retries for its whole timeout: 36 s to report a
closed port)."""


def _reachable(address: str, timeout: float) -> None:
    """RunError at once unless a TCP connection to ``address`` (``tcp://host:port`` or
    ``host:port``) opens within ``timeout``; other address forms are left to the client."""
    scheme, _, rest = address.rpartition("://")
    host, sep, port = rest.rpartition(":")
    if scheme not in ("", "tcp", "tls") or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout).close()
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise RunError(f"cannot reach the Dask scheduler {address}: {why}") from None


def dask_executor(
    address: str | None = None,
    scheduler_file: str | None = None,
    client: Any = None,
    timeout: float = 30.0,
) -> Executor:
    """Runs tasks on an existing Dask distributed cluster, reached by scheduler address,
    scheduler file (as dask-jobqueue or ``dask scheduler --scheduler-file`` write it) or an
    already connected ``distributed.Client``. Connects at once, so a wrong address or file
    is reported before any run starts; a run whose worker is lost is recorded as failed."""
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise RunError("running on Dask needs the dask extra: pip install 'vtasim[dask]'") from None
    c: Any = client
    own = client is None
    if c is None:
        if scheduler_file is not None and not Path(scheduler_file).is_file():
            raise RunError(f"no Dask scheduler file at {scheduler_file}")
        if address is not None:
            _reachable(address, min(timeout, CONNECT_TIMEOUT))
        try:
            if scheduler_file:
                c = Client(scheduler_file=scheduler_file, timeout=timeout)  # type: ignore[no-untyped-call]
            else:
                c = Client(address, timeout=timeout)  # type: ignore[no-untyped-call]
        except Exception as exc:
            where = scheduler_file or address
            raise RunError(
                f"cannot reach the Dask scheduler {where}: {type(exc).__name__} {exc}".rstrip()
            ) from None

    def run(tasks: Sequence[RunTask]) -> Iterator[tuple[RunTask, dict[str, Any]]]:
        try:
            futures = {}
            for t in tasks:
                fut = c.submit(execute, t, pure=False)
                futures[fut.key] = (fut, t)
            done = dask_completed([f for f, _ in futures.values()])  # type: ignore[no-untyped-call]
            for fut in done:
                t = futures[fut.key][1]
                try:
                    result = fut.result()
                except Exception as exc:  # a lost worker, a cancelled task
                    result = _lost(t, exc)
                yield t, result
        finally:
            if own:
                c.close()

    return run
