"""Population runs give the same bytes in one process and on Dask, whatever the chunk size and worker count."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pytest

from ketasim.parallel import executor, solver_pool
from ketasim.population_run import run_population

distributed = pytest.importorskip("distributed")

#: a short scenario with the full esketamine model (the same compiled model as the other population tests)
SCENARIO = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "regimen": "spravato", "duration": "8d"}
N = 12
SEED = 5


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, bytes]:
    out = tmp_path_factory.mktemp("ref") / "ref.parquet"
    frame = run_population(SCENARIO, N, seed=SEED, chunk_size=N, out=out)
    return frame, out.read_bytes()


def test_local_cluster_with_two_workers_is_bit_identical(reference, tmp_path: Path) -> None:
    frame, data = reference
    out = tmp_path / "dask.parquet"
    got = run_population(SCENARIO, N, seed=SEED, chunk_size=5, out=out, workers=2)
    pd.testing.assert_frame_equal(got, frame, check_exact=True)
    assert out.read_bytes() == data


def test_existing_scheduler_and_other_chunking_is_bit_identical(reference, tmp_path: Path) -> None:
    frame, data = reference
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        out = tmp_path / "sched.parquet"
        got = run_population(SCENARIO, N, seed=SEED, chunk_size=3, out=out, scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(got, frame, check_exact=True)
    assert out.read_bytes() == data


def test_in_memory_run_matches_and_another_seed_differs(reference) -> None:
    frame, _ = reference
    pd.testing.assert_frame_equal(run_population(SCENARIO, N, seed=SEED, chunk_size=7), frame, check_exact=True)
    other = run_population(SCENARIO, 4, seed=SEED + 1, chunk_size=4)
    assert not other["weight"].equals(frame["weight"].iloc[:4])


def test_executor_keeps_order() -> None:
    with executor(workers=2) as ex:
        assert ex is not None
        assert list(ex.map(pow, [2, 3, 4], [2, 2, 2])) == [4, 9, 16]
    with executor(workers=1) as ex:
        assert ex is None


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="thread affinity is Linux-only")
def test_solver_pool_keeps_each_thread_on_one_core_of_the_process() -> None:
    """The solver threads are pinned round-robin to the process's cores; the calling thread is left alone."""
    allowed = os.sched_getaffinity(0)
    workers = 2 * len(allowed)
    barrier = threading.Barrier(workers)

    def where(_: int) -> frozenset[int]:
        barrier.wait(timeout=30)  # every thread of the pool takes one task
        return frozenset(os.sched_getaffinity(0))

    with solver_pool(workers) as pool:
        seen = list(pool.map(where, range(workers)))
    assert all(len(s) == 1 and s <= allowed for s in seen)
    assert set().union(*seen) == allowed
    assert os.sched_getaffinity(0) == allowed
