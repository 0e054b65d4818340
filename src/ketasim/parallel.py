"""Dask for population runs, trials and sweeps: a local cluster (`workers`) or an existing one (`scheduler`).

Why Dask: the same code runs on a laptop's cores and on a multi-machine cluster (`dask scheduler` on one
machine, `dask worker tcp://HOST:8786` on each of the others; docs/performance.md). Work is split into chunks of
subjects whose results depend only on their inputs, and results are reassembled in chunk order, so any number of
workers gives the same bytes as one process.

Each worker runs the batched solver single-threaded (`threads=1`): the cluster provides the parallelism, and
solver thread pools inside several worker processes on one machine would only compete for the same cores.

For other callers (the trial runner, the scorecard): `executor(workers=..., scheduler=...)` yields a
`concurrent.futures.Executor` (or None for a plain in-process loop) whose `map` keeps input order.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from .errors import KetasimError

#: threads per local Dask worker: one, because each task is a compiled loop that keeps a core busy
THREADS_PER_WORKER = 1


@contextmanager
def dask_client(workers: int = 1, scheduler: str | None = None) -> Iterator[tuple[Any, int]]:
    """A distributed Client and the solver threads each task should use.

    `scheduler` (e.g. tcp://10.0.0.5:8786) connects to a running cluster; otherwise a LocalCluster with
    `workers` worker processes is started for the duration of the block.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise KetasimError("Dask is not installed; pip install 'dask[distributed]'") from exc
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise KetasimError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from exc
        try:
            yield client, 1
        finally:
            client.close()
        return
    if workers < 1:
        raise KetasimError(f"workers {workers} must be at least 1")
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=THREADS_PER_WORKER, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    try:
        yield client, 1
    finally:
        client.close()
        cluster.close()


@contextmanager
def executor(workers: int = 1, scheduler: str | None = None) -> Iterator[Executor | None]:
    """An Executor over Dask workers (`map` keeps order), or None for an in-process run (workers == 1)."""
    if scheduler is None and workers <= 1:
        yield None
        return
    with dask_client(workers=workers, scheduler=scheduler) as (client, _):
        yield client.get_executor(pure=False)


def available_cores() -> int:
    """Cores this process may use (the affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def solver_pool(workers: int) -> ThreadPoolExecutor:
    """Threads for compiled code that releases the GIL, each kept on one core of this process's set where the
    platform allows it: left to migrate, the solver threads of a population run shared the two cores' caches with
    each other and with the Python threads, ~5% slower (docs/performance.md). Which core runs a group never
    changes its result."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = []
    order = itertools.count()

    def pin() -> None:
        if cores:
            with contextlib.suppress(OSError):  # a sandbox that forbids it: the thread stays unpinned
                os.sched_setaffinity(0, {cores[next(order) % len(cores)]})

    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ketasim-solver", initializer=pin)
