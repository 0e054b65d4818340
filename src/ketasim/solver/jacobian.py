"""The exact Jacobian of a System for scipy's implicit methods (the reference path), as generated numpy code.

Without it, scipy's BDF, Radau and LSODA estimate the Jacobian by finite differences: one extra right-hand side
per group of columns every time they refresh it, and, for states that nothing reads (eliminated amounts, AUCs:
their columns hold only a structural zero), BDF's step factor grows tenfold at every refresh until it overflows
(`RuntimeWarning: overflow encountered in multiply` on long event-free segments). The entries come from the same
expression trees as the batched solver's (`symbolic.jacobian_columns`), so both paths differentiate the rate laws
identically.

The batch is flattened state-major (index = state * n + subject), as `piecewise.integrate` flattens it, so the
Jacobian of the batch is the structural pattern Kronecker the identity of the subjects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_matrix

from ..model import expressions
from . import symbolic
from .codegen import CompiledSystem

Array = np.ndarray


def structural_jacobian(compiled: CompiledSystem) -> Array:
    """Boolean (n_states, n_states) pattern: which states each state's rate can depend on (and the diagonal)."""
    system = compiled.system
    state_pos = {s: i for i, s in enumerate(compiled.state_ids)}
    deps = symbolic.assignment_state_deps(system)
    pattern = np.zeros((len(state_pos), len(state_pos)), dtype=bool)
    for s, i in state_pos.items():
        for name in expressions.names(system.states[s].rate):
            read = {name} if name in state_pos else deps.get(name, set())
            for dep in read:
                pattern[i, state_pos[dep]] = True
        pattern[i, i] = True
    return pattern


@dataclass(frozen=True)
class NumpyJacobian:
    """Exact Jacobian entries of a System for a batch of subjects, in the order of its structural nonzeros."""

    rows: Array  # (nnz,) state positions
    cols: Array
    entries: Callable[[float, Array, Array], Array]  # (time, y (n_states, n), p (n_params, n)) -> (nnz, n)
    source: str

    def for_batch(self, n_states: int, n: int, p: Array, sparse: bool) -> Callable[[float, Array], object]:
        """`jac(t, flat_y)` for solve_ivp with the parameters of one segment: CSC for BDF/Radau, dense for LSODA."""
        subjects = np.arange(n)
        flat_rows = (self.rows[:, None] * n + subjects).ravel()
        flat_cols = (self.cols[:, None] * n + subjects).ravel()
        size = n_states * n
        # the CSC layout of the batch matrix once; each call only gathers the entries into it
        order = np.lexsort((flat_rows, flat_cols))
        indptr = np.searchsorted(flat_cols[order], np.arange(size + 1))
        indices = flat_rows[order]
        entries = self.entries

        def jac(t: float, flat: Array) -> object:
            values = entries(t, flat.reshape(n_states, n), p).ravel()
            if sparse:
                return csc_matrix((values[order], indices, indptr), shape=(size, size))
            dense = np.zeros((size, size))
            dense[flat_rows, flat_cols] = values
            return dense

        return jac


def numpy_jacobian(compiled: CompiledSystem) -> NumpyJacobian:
    """Generate and exec the numpy code of the exact Jacobian entries of `compiled`."""
    system = compiled.system
    pattern = structural_jacobian(compiled)
    rows, cols = np.nonzero(pattern)
    nonzeros = list(zip(rows.tolist(), cols.tolist(), strict=True))
    rhs_assign = symbolic.needed_assignments(system, [system.states[s].rate for s in compiled.state_ids])
    rename = {s: f"s_{s}" for s in compiled.state_ids}
    rename.update({p: f"p_{p}" for p in compiled.param_ids})
    rename.update({a: f"a_{a}" for a in system.assignments})
    rename["time"] = "time"

    lines = ["def entries(time, y, p):"]
    lines += [f"    p_{p} = p[{i}]" for i, p in enumerate(compiled.param_ids)]
    lines += [f"    s_{s} = y[{i}]" for i, s in enumerate(compiled.state_ids)]
    lines += [f"    a_{a} = {expressions.to_numpy(system.assignments[a].expr, rename)}" for a in rhs_assign]
    lines.append(f"    out = np.zeros(({len(nonzeros)}, y.shape[1]))")
    for column in symbolic.jacobian_columns(system, compiled.state_ids, nonzeros, rhs_assign):
        lines += [f"    {name} = {expressions.to_numpy(d, rename)}" for name, d in column.intermediates]
        lines += [f"    out[{m}] = {expressions.to_numpy(d, rename)}" for m, d in column.entries if d is not None]
    lines.append("    return out")
    source = "\n".join(lines) + "\n"
    namespace: dict[str, object] = {"np": np}
    exec(compile(source, "<ketasim-generated-jacobian>", "exec"), namespace)
    return NumpyJacobian(rows, cols, namespace["entries"], source)  # type: ignore[arg-type]
