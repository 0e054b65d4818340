"""Integrate between dose events, never across them: the exact-event guarantee of DESIGN.md.

Events are applied at their exact times (`time >= t` semantics: an event at an output time is reflected in the
value reported at that time). Each event-free segment is integrated with an implicit/adaptive method from scipy
over the whole batch of subjects at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ..errors import KetasimError
from .codegen import CompiledSystem
from .events import TIME_EPS, DoseEvent, check_times, segment_boundaries
from .jacobian import numpy_jacobian


@dataclass(frozen=True)
class SolverOptions:
    """Tolerances and method. Defaults: relative 1e-8, absolute 1e-10 (in each state's own unit)."""

    rtol: float = 1e-8
    atol: float = 1e-10
    method: str = "auto"  # auto | batched | LSODA | BDF | Radau | RK45 | DOP853


#: "auto" uses LSODA (dense linear algebra) up to this many equations (states x subjects), BDF with a sparse
#: Jacobian above. Measured with exact Jacobians on 12 weeks of Spravato (35 states): 4 subjects LSODA 5.3 s,
#: BDF 5.8 s; 10 subjects 12.1 s against 7.9 s (docs/pk.md)
LSODA_MAX_EQUATIONS = 200

#: batches up to this many subjects evaluate the rate laws subject by subject on Python floats. Measured on 12
#: weeks of Spravato (35 states): 1 subject 3.60 s with numpy -> 0.53 s; 4: 5.4 -> 1.6 s; 16: 8.7 -> 7.6 s;
#: 24: 11.3 s either way
SCALAR_MAX_SUBJECTS = 16

#: scipy's BDF fills only the first two rows of its difference array (`np.empty`), and its first step subtracts an
#: uninitialised row (`D[order + 2] = d - D[order + 1]`, overwritten before it is read): when that memory holds a
#: signalling NaN, numpy warns "invalid value encountered in subtract" - the intermittent RuntimeWarning of
#: `make demo`, seen in worker processes only. Results do not change (tests/test_scipy_path.py fills the rows
#: with signalling NaNs and compares bits), so that one warning from that one module is silenced.
BDF_UNINITIALISED_ROW_WARNING = {
    "message": "invalid value encountered in subtract", "category": RuntimeWarning,
    "module": r"scipy\.integrate\._ivp\.bdf",
}

#: scipy methods that take a Jacobian
IMPLICIT_METHODS = ("BDF", "Radau", "LSODA")

#: "auto" uses the batched JIT solver (solver/batched) from this many subjects on: below it, compiling the
#: model once (~20 s the first time on a machine, then cached on disk) costs more than scipy's integration
BATCHED_AUTO_MIN_SUBJECTS = 200


def _segment_rhs(compiled: CompiledSystem, p: np.ndarray) -> Callable[[float, np.ndarray], np.ndarray]:
    """The flattened right-hand side of a batch with the parameters of one segment.

    Small batches evaluate each subject on Python floats (`rhs_one`), which costs a tenth of numpy's per-call
    overhead on a batch of one; a domain or overflow error there, or a non-finite result, is recomputed by the
    numpy version, so that the solver sees exactly what numpy gives in those cases (nan or inf, and a rejected
    step) rather than an exception.
    """
    n_states, n = len(compiled.state_ids), p.shape[1]
    rhs = compiled.rhs
    if n > SCALAR_MAX_SUBJECTS:
        return lambda t, flat: rhs(t, flat.reshape(n_states, n), p).ravel()
    rhs_one = compiled.rhs_one
    columns = [p[:, k].tolist() for k in range(n)]

    def fun(t: float, flat: np.ndarray) -> np.ndarray:
        y = flat.reshape(n_states, n)
        try:
            out = np.array([rhs_one(t, y[:, k].tolist(), columns[k]) for k in range(n)]).T.ravel()
        except (ArithmeticError, ValueError):
            out = None
        if out is None or not np.all(np.isfinite(out)):
            out = rhs(t, y, p).ravel()
        return out

    return fun


def integrate(
    compiled: CompiledSystem,
    params: np.ndarray,
    events: Sequence[DoseEvent],
    t_out: np.ndarray,
    t_start: float = 0.0,
    options: SolverOptions | None = None,
    y0: np.ndarray | None = None,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """States at `t_out` for every subject: array (n_times, n_states, n_subjects).

    `params` is (n_params, n_subjects); it is copied, because infusion events change input parameters.
    Events before `t_start` are an error; events at `t_start` are applied before integrating.
    """
    options = options or SolverOptions()
    if options.method == "batched" or (options.method == "auto" and params.shape[1] >= BATCHED_AUTO_MIN_SUBJECTS):
        from .batched import integrate_batched

        return integrate_batched(compiled, params, events, t_out, t_start, rtol=options.rtol, atol=options.atol,
                                 y0=y0, progress=progress)
    t_out = check_times(t_out, t_start)
    n_states, n = len(compiled.state_ids), params.shape[1]
    p = np.array(params, dtype=float, copy=True)
    y = compiled.initial(p) if y0 is None else np.array(y0, dtype=float, copy=True)

    t_end = float(t_out[-1])
    merged, pending = segment_boundaries(events, t_start, t_end)

    method = options.method
    if method == "auto":
        method = "LSODA" if n_states * n <= LSODA_MAX_EQUATIONS else "BDF"
    # the implicit methods get the exact Jacobian: sparse for BDF and Radau, dense for LSODA (small batches)
    jacobian = numpy_jacobian(compiled) if method in IMPLICIT_METHODS else None

    out = np.empty((len(t_out), n_states, n))
    k_event = 0
    for i_seg, a in enumerate(merged):
        while k_event < len(pending) and pending[k_event].time <= a + TIME_EPS:
            ev = pending[k_event]
            si = compiled.state_index(ev.state)
            if np.any(np.asarray(ev.amount) != 0):
                y[si] = y[si] + ev.amount
            if np.any(np.asarray(ev.rate) != 0):
                pid = compiled.system.inputs.get(ev.state)
                if pid is None:
                    raise KetasimError(f"state {ev.state!r} does not accept infusions")
                pi = compiled.param_index(pid)
                p[pi] = p[pi] + ev.rate
                p[pi][np.abs(p[pi]) < 1e-12 * (1 + np.abs(np.asarray(ev.rate)))] = 0.0
            k_event += 1
        last = i_seg == len(merged) - 1
        b = t_end if last else merged[i_seg + 1]
        mask = (t_out >= a - TIME_EPS) & ((t_out < b - TIME_EPS) | (last & (t_out <= b + TIME_EPS)))
        idx = np.nonzero(mask)[0]
        if b - a <= TIME_EPS:
            for j in idx:
                out[j] = y
            continue
        p_seg = p
        fun = _segment_rhs(compiled, p_seg)
        t_eval = np.clip(t_out[idx], a, b)
        extra = {}
        if jacobian is not None:
            extra["jac"] = jacobian.for_batch(n_states, n, p_seg, sparse=method != "LSODA")
        with warnings.catch_warnings():  # the scipy path runs in one thread per process
            warnings.filterwarnings("ignore", **BDF_UNINITIALISED_ROW_WARNING)  # type: ignore[arg-type]
            sol = solve_ivp(
                fun,
                (a, b),
                y.ravel(),
                method=method,
                t_eval=np.append(t_eval, b) if len(idx) else [b],
                rtol=options.rtol,
                atol=options.atol,
                **extra,
            )
        if not sol.success:
            raise KetasimError(f"the solver failed between {a:g} h and {b:g} h: {sol.message}")
        for k, j in enumerate(idx):
            out[j] = sol.y[:, k].reshape(n_states, n)
        y = sol.y[:, -1].reshape(n_states, n).copy()
        if progress is not None:
            progress(b)
    return out
