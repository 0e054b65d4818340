"""Batched population solver: every subject integrated at once by a JIT-compiled implicit method.

`integrate_batched` is a drop-in for `piecewise.integrate` (same arguments, same (n_times, n_states, n_subjects)
result, same exact-event semantics); `SolverOptions(method="batched")` selects it. `run_batch` is the lower
level used by population runs: it can reduce outputs on the fly (peaks, troughs, values at chosen grid points)
instead of storing every time point, so memory stays proportional to the number of subjects.

How it works (details in docs/performance.md):

- the System's rate laws and their exact Jacobian are generated as scalar numba code (`jit.py`, `../symbolic.py`);
- states are reordered so that the Jacobian is block lower triangular (`structure.py`), which makes the linear
  solves of an implicit method a few tiny dense blocks, solved by generated straight-line code;
- each subject is integrated with RODAS4 (`rodas4.py`), its own adaptive step size and error control, between
  the dose events shared by the batch (`schedule.py`), never across one; 8 subjects share each SIMD vector
  (`lanes.py`, `vmath.py`) and groups of subjects run on a thread pool, with no Python in the loop;
- a subject's result depends only on its own parameters, never on the other subjects in the batch, so results
  are bit-identical whatever the chunking or the number of threads or workers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import KetasimError
from ...parallel import available_cores, solver_pool
from ..codegen import CompiledSystem
from ..events import DoseEvent, check_times
from . import rodas4
from .jit import JitModel, build, observed_closure
from .lanes import GROUP_SUBJECTS, INT_SUFFIX
from .schedule import Schedule, pack

Array = np.ndarray

#: default tolerances of the batched solver for time courses (relative, and absolute in each state's own unit).
#: Verified against the reference path (scipy LSODA, rtol 1e-10) to 1e-4 relative on every state and assignment
#: at every output time, above 1% of its peak: tests/test_batched_solver.py
BATCHED_RTOL = 1e-6
BATCHED_ATOL = 1e-9
#: default tolerances of population runs, which report per-subject summaries (peaks, troughs, exposure, MADRS on
#: standard days) with peak-relative error scaling. Against the same runs at rtol 1e-9, 14,000 subjects of the
#: 12-week Spravato course (values above 1% of their column's largest): 99% of summary values within 1.5e-5 and
#: 99.9% within 6.4e-5 relative; one subject in 14,000 beyond 2e-4 (2.4e-4, an mTORC1 trough). At 1e-5 (the
#: default until 2026-11-28): 1.1e-5, 4.6e-5, two subjects beyond 2e-4 (worst 2.8e-4, also an mTORC1 trough), and
#: 10% more steps, which the 30 s target for 10^5 subjects on two cores could not spare. tests/test_population_run.py
#: holds a sample to 2e-4; docs/performance.md has the table. CLI help repeats these values (cli/simulate_cmd.py)
POPULATION_RTOL = 1.5e-5
POPULATION_ATOL = 1.5e-8
#: accepted + rejected steps allowed per subject per event-free segment before the run is declared failed
MAX_STEPS_PER_SEGMENT = 100_000

__all__ = [
    "BATCHED_ATOL", "BATCHED_RTOL", "POPULATION_ATOL", "POPULATION_RTOL", "BatchResult", "JitModel", "Schedule",
    "build", "integrate_batched", "model_for", "run_batch",
]

#: compiled Systems whose JIT model is kept ready (each chunk of a population run prepares its own System)
MODEL_CACHE_SIZE = 8
_MODELS: OrderedDict[int, tuple[CompiledSystem, JitModel]] = OrderedDict()


def model_for(compiled: CompiledSystem) -> JitModel:
    """The JIT model of a compiled System; the generated module itself is shared by equal Systems."""
    hit = _MODELS.get(id(compiled))
    if hit is not None and hit[0] is compiled:
        _MODELS.move_to_end(id(compiled))
        return hit[1]
    model = build(compiled)
    _MODELS[id(compiled)] = (compiled, model)
    while len(_MODELS) > MODEL_CACHE_SIZE:
        _MODELS.popitem(last=False)
    return model


@dataclass
class BatchResult:
    """What one kernel call produced; arrays are indexed [..., subject]."""

    variables: list[str]
    store: Array | None  # (n_times, n_vars, n) when storing every output time
    peak: Array | None = None  # (n_vars, n): max over output times >= t_ref
    t_peak: Array | None = None  # hours after t_ref
    trough: Array | None = None
    t_trough: Array | None = None
    baseline: Array | None = None  # value at the last output time <= t_ref (else the first)
    samples: Array | None = None  # (n_samples, n): variable values at requested output indices
    steps: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # accepted steps per subject
    rejected: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class _Observed:
    """What the kernel evaluates at an output time: sources of the variables and only what they need."""

    src: Array  # per variable: permuted state position, or number of states + assignment index
    any_assign: bool
    need: Array  # (n_assignments,) bool: assignments to evaluate (requested ones and what they read)
    dense: Array  # permuted positions of the states to interpolate (requested ones and those read)


def _observed_sources(model: JitModel, variables: Sequence[str]) -> _Observed:
    compiled = model.compiled
    system = compiled.system
    state_pos = {sid: int(model.position[i]) for i, sid in enumerate(compiled.state_ids)}
    assign_pos = {aid: k for k, aid in enumerate(compiled.assignment_ids)}
    src = []
    for v in variables:
        if v in state_pos:
            src.append(state_pos[v])
        elif v in assign_pos:
            src.append(len(state_pos) + assign_pos[v])
        else:
            raise KetasimError(f"{v!r} is neither a state nor an assignment of the model")
    closure, states = observed_closure(system, variables)
    need = np.zeros(max(len(assign_pos), 1), dtype=np.bool_)
    for a in closure:
        need[assign_pos[a]] = True
    arr = np.asarray(src, dtype=np.int64)
    dense = np.asarray(sorted(state_pos[s] for s in states), dtype=np.int64)
    return _Observed(arr, bool(np.any(arr >= len(state_pos))), need, dense)


def _run_groups(run_group: Callable[..., None], args: tuple[Any, ...], n: int, threads: int | None,
                pool: Executor | None = None) -> None:
    """Every group of GROUP_SUBJECTS subjects, in this thread (threads=1), on `pool`, or over a new pool of
    threads.

    The compiled group function releases the GIL, so Python threads run groups truly in parallel; each group
    writes only its own subjects' columns of the outputs. (A numba `prange` kernel would do the same but costs
    another full compile of the integrator.) A pool shared by several batches queues one batch's groups behind
    the other's, so the cores never wait for a batch's last group or for the Python between batches.
    """
    groups = -(-n // GROUP_SUBJECTS)
    workers = min(groups, threads if threads is not None else available_cores())
    if workers <= 1 and pool is None:
        for g in range(groups):
            run_group(g, *args)
        return
    with nullcontext(pool) if pool is not None else solver_pool(workers) as runner:
        for _ in runner.map(lambda g: run_group(g, *args), range(groups)):
            pass


def run_batch(
    model: JitModel,
    params: Array,
    events: Sequence[DoseEvent],
    t_out: Array,
    t_start: float,
    *,
    variables: Sequence[str] | None = None,
    store: bool = True,
    t_ref: float | None = None,
    samples: Sequence[tuple[str, int]] = (),
    rtol: float = BATCHED_RTOL,
    atol: float | Array = BATCHED_ATOL,
    y0: Array | None = None,
    threads: int | None = None,
    peak_relative: bool = False,
    pool: Executor | None = None,
) -> BatchResult:
    """Integrate every subject of `params` (n_params, n) and observe `variables` at `t_out`.

    `store` keeps every output time; `t_ref` turns on running reductions (peak, trough, baseline relative to
    t_ref, as `Result.node_summary` defines them); `samples` are (variable, output index) pairs whose values
    are returned (for interpolation at chosen times). Variables may be states or assignments.
    `peak_relative` scales each state's error by the largest value it has had so far instead of its current
    value: a decaying drug is then resolved relative to its peak (what population summaries need, ~35% fewer
    steps); off, `rtol`/`atol` mean what they mean for scipy. `threads=1` runs the subjects one after the
    other in the calling thread (for Dask workers and thread pools, which bring their own parallelism);
    otherwise groups of subjects run on `pool` (shared by consecutive batches) or on a pool of one thread per
    available core.
    """
    compiled = model.compiled
    n_states = len(compiled.state_ids)
    params = np.asarray(params, dtype=float)
    if params.ndim != 2 or params.shape[0] != len(compiled.param_ids):
        raise KetasimError(f"parameters must be an array ({len(compiled.param_ids)}, n_subjects)")
    n = params.shape[1]
    t_out = check_times(t_out, t_start)
    variables = list(compiled.state_ids) if variables is None else list(variables)
    sample_vars = [v for v, _ in samples]
    for v in sample_vars:
        if v not in variables:
            variables.append(v)
    observed = _observed_sources(model, variables)
    init = compiled.initial(params) if y0 is None else np.asarray(y0, dtype=float)
    if init.shape != (n_states, n):
        raise KetasimError(f"initial states must be an array ({n_states}, n_subjects)")
    y_perm = np.ascontiguousarray(init[model.structure.order].T)
    p_rows = np.ascontiguousarray(params.T)
    sched = pack(compiled, model.position, events, t_out, t_start, n)
    atol_arr = np.broadcast_to(np.asarray(atol, dtype=float), (n_states,))[model.structure.order].copy()
    n_vars = len(variables)
    store_arr = np.empty((len(t_out), n_vars, n) if store else (0, 0, 0))
    reduce = t_ref is not None
    shape = (n_vars, n) if reduce else (0, 0)
    red_max = np.full(shape, -np.inf)
    red_min = np.full(shape, np.inf)
    red_tmax = np.full(shape, np.nan)
    red_tmin = np.full(shape, np.nan)
    red_base = np.full(shape, np.nan)
    var_index = {v: i for i, v in enumerate(variables)}
    order = sorted(range(len(samples)), key=lambda m: samples[m][1])
    samp_var = np.asarray([var_index[samples[m][0]] for m in order], dtype=np.int64)
    samp_k = np.asarray([samples[m][1] for m in order], dtype=np.int64)
    if len(samp_k) and (samp_k.min() < 0 or samp_k.max() >= len(t_out)):
        raise KetasimError("a sample index is outside the output times")
    samp_ptr = np.searchsorted(samp_k, np.arange(len(t_out) + 1), side="left").astype(np.int64)
    samp_out = np.full((len(samples), n), np.nan)
    stats = np.zeros((n, 3), dtype=np.int64)
    s = model.structure
    args = (
        p_rows, y_perm, sched.bounds, sched.ev_ptr, sched.ev_kind, sched.ev_target, sched.ev_value, t_out,
        sched.out_lo, sched.out_hi, float(rtol), atol_arr, MAX_STEPS_PER_SEGMENT,
        1.0 if peak_relative else 0.0, len(s.col), observed.src, observed.any_assign, observed.need, observed.dense,
        np.array_equal(observed.dense, model.module.FIXED_DENSE),
        store_arr, float(t_ref if t_ref is not None else 0.0), red_max, red_tmax, red_min, red_tmin, red_base,
        samp_ptr, samp_var, samp_out, stats,
    )
    fast = getattr(model.module, "run_group" + INT_SUFFIX, None)
    _run_groups(fast or model.module.run_group, args, n, threads, pool)
    if fast is not None and np.any(stats[:, 2] == rodas4.STATUS_GENERAL_POWERS):
        # a subject's exponents are not small integers: the general kernel, which gives the same bits for those
        # that are, integrates the whole batch again (a subject that finishes writes every output of its own)
        _run_groups(model.module.run_group, args, n, threads, pool)
    bad = np.nonzero(stats[:, 2] != rodas4.STATUS_OK)[0]
    if len(bad):
        why = {rodas4.STATUS_MAX_STEPS: "too many steps", rodas4.STATUS_STEP_UNDERFLOW: "step size underflow"}
        code = int(stats[bad[0], 2])
        raise KetasimError(
            f"the batched solver failed for {len(bad)} of {n} subjects (first: subject {int(bad[0])}, "
            f"{why.get(code, f'status {code}')}); try SolverOptions(method='BDF')"
        )
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    return BatchResult(
        variables=variables, store=store_arr if store else None,
        peak=red_max if reduce else None, t_peak=red_tmax if reduce else None,
        trough=red_min if reduce else None, t_trough=red_tmin if reduce else None,
        baseline=red_base if reduce else None, samples=samp_out[inverse] if len(samples) else None,
        steps=stats[:, 0].copy(), rejected=stats[:, 1].copy(),
    )


def integrate_batched(
    compiled: CompiledSystem,
    params: Array,
    events: Sequence[DoseEvent],
    t_out: Array,
    t_start: float = 0.0,
    rtol: float = BATCHED_RTOL,
    atol: float = BATCHED_ATOL,
    y0: Array | None = None,
    progress: Callable[[float], None] | None = None,
) -> Array:
    """States at `t_out` for every subject, (n_times, n_states, n_subjects), like `piecewise.integrate`."""
    model = model_for(compiled)
    res = run_batch(model, params, events, t_out, t_start, rtol=rtol, atol=atol, y0=y0, store=True)
    assert res.store is not None
    if progress is not None:
        progress(float(np.asarray(t_out)[-1]))
    return res.store
