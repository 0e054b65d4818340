"""One population size in a fresh process: `python benchmarks/population_bench.py N` (run by run.py).

A fresh process per size makes the peak memory that size's own. The model is loaded (compiled on the first run
on a machine, then from numba's disk cache) by a 2-subject warm-up that is reported separately, not timed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SCENARIO, SEED, peak_rss_mb, report

from ketasim.population_run import DEFAULT_CHUNK_SIZE, run_population
from ketasim.solver.batched import POPULATION_ATOL, POPULATION_RTOL


def main() -> None:
    n = int(sys.argv[1])
    chunk = int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_CHUNK_SIZE
    t = time.perf_counter()
    run_population(SCENARIO, 2, seed=SEED + 1, chunk_size=2)
    warmup = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "population.parquet"
        wall0, cpu0 = time.perf_counter(), time.process_time()
        frame = run_population(SCENARIO, n, seed=SEED, chunk_size=min(chunk, n), out=out)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        size = out.stat().st_size
    report({
        "engine": "ketasim-batched", "n": n, "chunk_size": min(chunk, n), "wall_s": wall, "cpu_s": cpu,
        "subjects_per_s": n / wall, "cpu_ms_per_subject": 1e3 * cpu / n, "peak_rss_mb": peak_rss_mb(),
        "warmup_s": warmup, "mean_solver_steps": float(frame["solver_steps"].mean()), "rtol": POPULATION_RTOL,
        "atol": POPULATION_ATOL, "output_bytes": size, "columns": len(frame.columns),
    })


if __name__ == "__main__":
    main()
