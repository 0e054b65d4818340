"""How fast the machine is right now: `python benchmarks/machine_probe.py` (run by run.py before and after).

The same 1,000 subjects (a chunk of the benchmark's population) are simulated with one solver thread and with two;
the two-thread efficiency (one thread's time over twice the two threads' wall time) is ~0.95 on an idle 2-core
machine. The development machine's host has had slow phases in which the two-thread kernel ran 20-40% slower
while the one-thread kernel did not: a low efficiency next to a slow 10^5 run says which kind of run it was.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SCENARIO, SEED, report

from ketasim.population_run import PopulationSpec, simulate_chunk

#: subjects per timing (about 0.5 s with one thread)
PROBE_SUBJECTS = 1_000
#: timings per thread count; the fastest is kept (a probe measures the machine, not its hiccups)
PROBE_REPEATS = 2


def main() -> None:
    spec = PopulationSpec(scenario=SCENARIO, n=PROBE_SUBJECTS, seed=SEED, chunk_size=PROBE_SUBJECTS)
    simulate_chunk(spec, 0, 4, threads=1)  # load the compiled model
    best: dict[int, float] = {}
    for _ in range(PROBE_REPEATS):
        for threads in (1, 2):
            t = time.perf_counter()
            simulate_chunk(spec, 0, PROBE_SUBJECTS, threads=threads)
            wall = time.perf_counter() - t
            best[threads] = min(best.get(threads, wall), wall)
    one, two = (1e3 * best[k] / PROBE_SUBJECTS for k in (1, 2))
    report({"one_thread_ms_per_subject": one, "two_threads_wall_ms_per_subject": two,
            "two_thread_efficiency": one / (2.0 * two)})


if __name__ == "__main__":
    main()
