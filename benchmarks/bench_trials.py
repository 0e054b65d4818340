"""Benchmark: a two-arm trial (esketamine vs placebo, new oral antidepressant) of 10,000 subjects per arm over
12 weeks, timed; prints subjects per second.

    .venv/bin/python benchmarks/bench_trials.py [--n 10000] [--workers N] [--chunk-size 200]

The placebo arm needs no ODE solving (its mechanistic MADRS stays at baseline), so the time is dominated by
the esketamine arm's simulate() calls; both rates are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULT_MARK  # the line marker benchmarks/run.py reads

from ketasim.trials import make_trial, run_trial
from ketasim.trials.run import DEFAULT_CHUNK

TRIAL: dict[str, Any] = {
    "name": "bench-12w",
    "seed": 1,
    "design": "parallel",
    "duration": "12 w",
    "population": {"n_per_arm": 10000},
    "background": {"oral_antidepressant": "new"},
    "arms": {
        "esketamine": {
            "drug": "esketamine",
            "route": "intranasal",
            "regimen": {"schedule": "spravato-weekly", "dose": "84 mg", "first_dose": "56 mg"},
        },
        "placebo": {"drug": "placebo", "route": "intranasal", "regimen": {"schedule": "spravato-weekly"}},
    },
    "control": "placebo",
    "endpoints": ["madrs_change_day28", "madrs_change_day84", "response_day84", "remission_day84", "dissociation"],
}


def run(n: int = 10000, workers: int | None = None, chunk_size: int = DEFAULT_CHUNK) -> dict[str, Any]:
    """Time one run; return the measurements."""
    workers = workers or os.cpu_count() or 1
    spec = make_trial(TRIAL)
    t0 = time.perf_counter()
    result = run_trial(spec, n_per_arm=n, workers=workers, chunk_size=chunk_size)
    wall = time.perf_counter() - t0
    arms = result.summary["arms"]
    return {
        "benchmark": "trial two arms x 12 weeks",
        "n_per_arm": n,
        "workers": workers,
        "chunk_size": chunk_size,
        "wall_s": round(wall, 2),
        "subjects_per_s": round(2 * n / wall, 2),
        "simulated_subjects_per_s": round(n / wall, 2),
        "response_day84": {a: arms[a]["response_day84"]["rate"] for a in arms},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000, help="subjects per arm")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs)")
    ap.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK)
    args = ap.parse_args()
    out = run(args.n, args.workers, args.chunk_size)
    print(RESULT_MARK + json.dumps(out), flush=True)
    print(
        f"{out['subjects_per_s']} subjects/s ({out['n_per_arm']} per arm, {out['wall_s']} s, {out['workers']} workers)"
    )


if __name__ == "__main__":
    main()
