"""Integrate between dose events, never across them: the exact-event guarantee of DESIGN.md.

Events are applied at their exact times (`time >= t` semantics: an event at an output time is reflected in the
value reported at that time). Each event-free segment is integrated with an implicit/adaptive method from scipy
over the whole batch of subjects at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.sparse import csr_matrix, identity, kron

from ..errors import KetasimError
from ..model import expressions
from .codegen import CompiledSystem
from .events import TIME_EPS, DoseEvent, check_times, segment_boundaries


@dataclass(frozen=True)
class SolverOptions:
    """Tolerances and method. Defaults: relative 1e-8, absolute 1e-10 (in each state's own unit)."""

    rtol: float = 1e-8
    atol: float = 1e-10
    method: str = "auto"  # auto | batched | LSODA | BDF | Radau | RK45 | DOP853


#: "auto" uses the batched JIT solver (solver/batched) from this many subjects on: below it, compiling the
#: model once (~20 s the first time on a machine, then cached on disk) costs more than scipy's integration
BATCHED_AUTO_MIN_SUBJECTS = 200


def structural_jacobian(compiled: CompiledSystem) -> np.ndarray:
    """Boolean (n_states, n_states) pattern: which states each state's rate can depend on."""
    system = compiled.system
    state_pos = {s: i for i, s in enumerate(compiled.state_ids)}
    cache: dict[str, set[str]] = {}

    def state_deps(symbol: str) -> set[str]:
        if symbol in cache:
            return cache[symbol]
        if symbol in state_pos:
            result = {symbol}
        elif symbol in system.assignments:
            result = set()
            for name in expressions.names(system.assignments[symbol].expr):
                result |= state_deps(name)
        else:
            result = set()
        cache[symbol] = result
        return result

    pattern = np.zeros((len(state_pos), len(state_pos)), dtype=bool)
    for s, i in state_pos.items():
        for name in expressions.names(system.states[s].rate):
            for dep in state_deps(name):
                pattern[i, state_pos[dep]] = True
        pattern[i, i] = True
    return pattern


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

    sparsity = None
    method = options.method
    if method == "auto":
        method = "LSODA" if n_states * n <= 600 else "BDF"
    if method in ("BDF", "Radau"):
        sparsity = kron(csr_matrix(structural_jacobian(compiled)), identity(n, format="csr"), format="csr")

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

        def fun(t: float, flat: np.ndarray, p_seg: np.ndarray = p_seg) -> np.ndarray:
            return compiled.rhs(t, flat.reshape(n_states, n), p_seg).ravel()

        t_eval = np.clip(t_out[idx], a, b)
        extra = {"jac_sparsity": sparsity} if sparsity is not None else {}
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
