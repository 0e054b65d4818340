"""`simulate`: one scenario, one subject or a batch, from dose to every node, as a Result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .mechanism import NODES
from .model.build import TOTALS, Prepared, prepare
from .results import Result
from .scenario import Scenario, make_scenario
from .solver import SolverOptions, integrate
from .solver.codegen import CompiledSystem
from .timegrid import output_grid
from .units import parse_duration

Array = np.ndarray


def observe_all(compiled: CompiledSystem, times: Array, states: Array, params: Array) -> dict[str, Array]:
    """Every assignment at every output time in one vectorised call: (n_times, n_subjects) arrays.

    States enter as (n_states, n_times, n_subjects) and parameters as (n_params, n_subjects), which numpy
    broadcasts over time: no copy of the parameters per time. Assignments never read infusion inputs, so the
    nominal parameter matrix serves for all times.
    """
    n_t, _, n = states.shape
    out = compiled.observe(times[:, None], states.transpose(1, 0, 2), params)  # type: ignore[arg-type]
    return {k: np.broadcast_to(np.asarray(v), (n_t, n)).copy() for k, v in out.items()}


def run_prepared(
    prep: Prepared,
    times: Array | None = None,
    at: list[str] | None = None,
    options: SolverOptions | None = None,
    progress: Callable[[float], None] | None = None,
) -> Result:
    """Integrate a prepared model and label its outputs."""
    at_hours = {label: parse_duration(label, what="time") for label in (at or [])}
    if times is None:
        times = output_grid(prep.t_start, prep.t_end, prep.dose_times, list(at_hours.values()))
    states = integrate(
        prep.compiled,
        prep.params,
        prep.events,
        np.asarray(times, float),
        prep.t_start,
        options,
        progress=progress,
    )
    compiled = prep.compiled
    values: dict[str, Array] = {}
    units: dict[str, str] = {}
    for i, sid in enumerate(compiled.state_ids):
        values[sid] = states[:, i, :]
        units[sid] = compiled.system.states[sid].unit
    obs = observe_all(compiled, np.asarray(times, float), states, prep.params)
    for aid in compiled.assignment_ids:
        values[aid] = obs[aid]
        units[aid] = compiled.system.assignments[aid].unit
    reported = list(prep.compounds) + [
        t for t, (a, b) in TOTALS.items() if a in prep.compounds and b in prep.compounds
    ]
    nodes = [n for n in NODES if n in values]
    return Result(
        times=np.asarray(times, float),
        values=values,
        units=units,
        compounds=reported,
        nodes=nodes,
        dose_times=prep.dose_times,
        at=at_hours,
        meta={"scenario": prep.scenario.model_dump()},
    )


def simulate(
    scenario: Scenario | dict[str, Any] | None = None,
    *,
    n: int = 1,
    covariates: dict[str, Array] | None = None,
    params: dict[str, Array] | None = None,
    times: Array | None = None,
    options: SolverOptions | None = None,
    with_mechanism: bool = True,
    **fields: Any,
) -> Result:
    """Simulate a scenario: `simulate(drug="esketamine", route="intranasal", dose="84 mg")`.

    `fields` are Scenario fields (drug, route, dose, over, regimen, species, weight, age, duration,
    hypothesis, pretreatments, at ...). `covariates`/`params` give per-subject arrays for a batch of `n`.
    """
    if scenario is None:
        scenario = make_scenario(fields)
    elif isinstance(scenario, dict):
        scenario = make_scenario({**scenario, **fields})
    prep = prepare(
        scenario, n=n, covariates=covariates, param_overrides=params, with_mechanism=with_mechanism
    )
    return run_prepared(prep, times=times, at=scenario.at, options=options)
