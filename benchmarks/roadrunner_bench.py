"""libRoadRunner on the exported SBML, one subject after another: `python benchmarks/roadrunner_bench.py S`.

The subjects are the first S of the same population (same seed, same individual parameters and dose events), each
exported with `ketasim.io.sbml.to_sbml(prepared, subject=i)`. CVODE runs at the batched solver's tolerances and
reports the same summary grid. Loading (SBML parse + LLVM compile, once per subject here because each subject's
doses are baked into its events) is timed apart from `simulate`; the throughput quoted is simulate-only, which is
the most favourable reading for libRoadRunner.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SCENARIO, SEED, peak_rss_mb, report

from ketasim.population_run import PopulationSpec, _prepare_chunk, simulate_chunk, summary_grid
from ketasim.scenario import make_scenario
from ketasim.solver.batched import POPULATION_ATOL, POPULATION_RTOL

#: CVODE's step budget between outputs over weeks of dosing
RR_MAX_STEPS = 100_000
#: variables compared between the two engines (relative difference of their summaries)
COMPARED = ("esketamine", "madrs")


def main() -> None:
    import roadrunner

    from ketasim.io.sbml import to_sbml

    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
    roadrunner.Logger.disableLogging()
    s = int(sys.argv[1])
    scenario = make_scenario(SCENARIO).model_dump(mode="json")
    spec = PopulationSpec(scenario=scenario, n=s, seed=SEED, chunk_size=s)
    prep, _ = _prepare_chunk(spec, 0, s)
    grid = summary_grid(prep)
    ours = simulate_chunk(spec, 0, s)
    load_s = sim_s = cpu = 0.0
    worst = {v: 0.0 for v in COMPARED}
    for i in range(s):
        t = time.perf_counter()
        rr = roadrunner.RoadRunner(to_sbml(prep, subject=i))
        rr.integrator.relative_tolerance = POPULATION_RTOL
        rr.integrator.absolute_tolerance = POPULATION_ATOL
        rr.integrator.maximum_num_steps = RR_MAX_STEPS
        rr.timeCourseSelections = ["time", *COMPARED]
        load_s += time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        out = np.asarray(rr.simulate(times=list(grid - prep.t_start)))
        sim_s += time.perf_counter() - t
        cpu += time.process_time() - c
        cmax = float(np.max(out[:, 1]))
        worst["esketamine"] = max(worst["esketamine"], abs(cmax / ours["esketamine_cmax_ng_per_ml"][i] - 1))
        mmin = float(np.min(out[:, 2]))
        worst["madrs"] = max(worst["madrs"], abs(mmin / ours["madrs_min"][i] - 1))
    report({
        "engine": "libroadrunner", "version": roadrunner.__version__, "n": s, "simulate_s": sim_s, "load_s": load_s,
        "simulate_cpu_s": cpu, "subjects_per_s": s / sim_s, "ms_per_subject": 1e3 * sim_s / s,
        "cpu_ms_per_subject": 1e3 * cpu / s,
        "load_ms_per_subject": 1e3 * load_s / s, "peak_rss_mb": peak_rss_mb(), "rtol": POPULATION_RTOL,
        "atol": POPULATION_ATOL, "output_points": len(grid),
        "max_relative_difference": {"esketamine_cmax": worst["esketamine"], "madrs_min": worst["madrs"]},
    })


if __name__ == "__main__":
    main()
