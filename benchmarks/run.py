"""`make bench`: ketasim's batched population solver against libRoadRunner on the same subjects.

For each population size (10^3, 10^4, 10^5 by default) a fresh process simulates the full model over the 12-week
Spravato regimen and writes per-subject summaries to Parquet; another process runs libRoadRunner on the exported
SBML of a sample of the same subjects at the same tolerances. Prints subjects per second, CPU time per subject,
the ratios against libRoadRunner, peak memory and the issue's targets, and writes benchmarks/results.json.

Before and after the population runs, `machine_probe.py` times the same subjects on one and on two solver threads,
so that a slow run can be told from a slow machine (results.json: machine.probe_start, machine.probe_end).

Options: --sizes 1000,10000 (population sizes), --rr-sample 100, --chunk-size 5000, --out FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    RESULT_MARK,
    RR_SAMPLE,
    SCENARIO,
    SEED,
    SIZES,
    TARGET_PEAK_MB_AT_100K,
    TARGET_RATIO,
    TARGET_SECONDS_AT_100K,
)

#: the size whose numbers are compared with the targets
TARGET_SIZE = 100_000


#: issue 4's exploration benchmark: a two-arm trial of this many subjects per arm over 12 weeks
TRIAL_N_PER_ARM = 10000
#: trial chunk size for the batched solver (large chunks amortise per-call set-up)
TRIAL_CHUNK = 2000


def _child(script: str, *args: str) -> dict[str, Any]:
    """Run a benchmark script in a fresh interpreter and return its result line."""
    proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return dict(json.loads(line[len(RESULT_MARK):]))
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    raise SystemExit(f"benchmark {script} {' '.join(args)} failed:\n" + "\n".join(tail))


def _machine() -> dict[str, Any]:
    import numba

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cores": cores, "cpu": model or platform.processor(), "python": platform.python_version(),
        "numba": numba.__version__, "load_average_at_start": load,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _probe(when: str) -> dict[str, Any]:
    """The machine's speed right now (machine_probe.py): one and two solver threads on the same subjects."""
    p = _child("machine_probe.py")
    print(f"  machine {when}: {p['one_thread_ms_per_subject']:.3f} ms/subject on one thread, "
          f"{p['two_threads_wall_ms_per_subject']:.3f} on two (two-thread efficiency "
          f"{p['two_thread_efficiency']:.2f}; ~0.95 when the host is quiet)", flush=True)
    return p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--rr-sample", type=int, default=RR_SAMPLE)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--out", default=str(HERE / "results.json"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    machine = _machine()
    print(f"ketasim population benchmark: {SCENARIO} on {machine['cores']} cores ({machine['cpu']})", flush=True)
    machine["probe_start"] = _probe("before")
    runs = []
    for n in sizes:
        extra = [str(args.chunk_size)] if args.chunk_size else []
        r = _child("population_bench.py", str(n), *extra)
        runs.append(r)
        print(f"  ketasim  n={n:>7,}: {r['wall_s']:8.2f} s  {r['subjects_per_s']:9,.0f} subjects/s  "
              f"{r['cpu_ms_per_subject']:6.2f} CPU ms/subject  peak {r['peak_rss_mb']:7.0f} MB", flush=True)
    machine["probe_end"] = _probe("after")
    rr = _child("roadrunner_bench.py", str(args.rr_sample))
    print(f"  libRoadRunner {rr['version']} n={rr['n']}: {rr['ms_per_subject']:.1f} ms/subject simulate "
          f"({rr['cpu_ms_per_subject']:.1f} CPU ms), {rr['load_ms_per_subject']:.0f} ms/subject load; "
          f"{rr['subjects_per_s']:.1f} subjects/s", flush=True)
    largest = runs[-1] if runs else None
    ratios: dict[str, Any] = {}
    if largest is not None:
        ratios = {
            "throughput_ratio": largest["subjects_per_s"] / rr["subjects_per_s"],
            "per_core_ratio": rr["cpu_ms_per_subject"] / largest["cpu_ms_per_subject"],
            "at_n": largest["n"],
        }
        print(f"  ratio at n={largest['n']:,}: {ratios['throughput_ratio']:.1f}x libRoadRunner's subjects/s "
              f"(wall, all cores vs its one-process loop); {ratios['per_core_ratio']:.1f}x per CPU second", flush=True)
    at_target = next((r for r in runs if r["n"] == TARGET_SIZE), None)
    targets = {
        "seconds_at_100k": {"target": TARGET_SECONDS_AT_100K, "measured": at_target["wall_s"] if at_target else None},
        "ratio": {"target": TARGET_RATIO, "measured": ratios.get("throughput_ratio")},
        "peak_mb_at_100k": {
            "target": TARGET_PEAK_MB_AT_100K, "measured": at_target["peak_rss_mb"] if at_target else None,
        },
    }
    for name, t in targets.items():
        m = t["measured"]
        if m is None:
            t["met"] = None
        else:
            t["met"] = bool(m >= t["target"]) if name == "ratio" else bool(m <= t["target"])
        shown = "not measured" if m is None else f"{m:,.1f} ({'met' if t['met'] else 'NOT met'})"
        print(f"  target {name}: {t['target']:,} -> {shown}", flush=True)
    trial = _child("bench_trials.py", "--n", str(TRIAL_N_PER_ARM), "--chunk-size", str(TRIAL_CHUNK))
    print(f"  trial: 2 arms x {trial['n_per_arm']:,} subjects over 12 weeks in {trial['wall_s']:.1f} s "
          f"({trial['subjects_per_s']:,.0f} subjects/s, {trial['workers']} workers)", flush=True)
    results = {
        "scenario": SCENARIO, "seed": SEED, "machine": machine, "ketasim": runs, "libroadrunner": rr,
        "ratios": ratios, "targets": targets, "trial": trial,
    }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"  wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
