"""Compile a declarative System into vectorised numpy functions (one column per subject).

The generated right-hand side has no per-subject loop: every state is a row of a (n_states, n_subjects)
array, so one subject is simply a population of one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..model import expressions
from ..model.system import System
from . import symbolic

Array = np.ndarray


@dataclass
class CompiledSystem:
    """Index maps and generated functions for one System."""

    system: System
    state_ids: list[str]
    param_ids: list[str]
    assignment_ids: list[str]
    rhs: Callable[[float, Array, Array], Array]
    #: the same rate laws for one subject on Python floats (lists in, list out): ~10x cheaper than `rhs` on a
    #: batch of one, where numpy's per-call overhead dominates; raises on a domain or overflow error, where the
    #: numpy version would return nan or inf (callers fall back to `rhs`)
    rhs_one: Callable[[float, list[float], list[float]], list[float]]
    observe: Callable[[float, Array, Array], dict[str, Array]]
    initial: Callable[[Array], Array]
    source: str

    def state_index(self, sid: str) -> int:
        return self.state_ids.index(sid)

    def param_index(self, pid: str) -> int:
        return self.param_ids.index(pid)

    def default_params(self, n: int) -> Array:
        """Parameter matrix (n_params, n) filled with the System's nominal values."""
        values = np.array([self.system.parameters[p].value for p in self.param_ids], dtype=float)
        return np.repeat(values[:, None], n, axis=1)


def _local(kind: str, name: str) -> str:
    return f"{kind}_{name}"


@lru_cache(maxsize=32)
def _functions(source: str) -> dict[str, object]:
    """The generated functions of one source (pure functions of their arguments, so Systems with the same
    equations share them: every chunk of a population run builds its own System)."""
    namespace: dict[str, object] = {"np": np, "math": math, symbolic.POW_FUNCTION: math.pow}
    exec(compile(source, "<ketasim-generated>", "exec"), namespace)
    return namespace


def compile_system(system: System) -> CompiledSystem:
    """Generate and exec the numpy source for rhs, observe and initial values."""
    system.validate()
    state_ids = list(system.states)
    param_ids = list(system.parameters)
    ordered = system.ordered_assignments()
    rename = {s: _local("s", s) for s in state_ids}
    rename.update({p: _local("p", p) for p in param_ids})
    rename.update({a.id: _local("a", a.id) for a in ordered})
    rename["time"] = "time"

    def header(with_states: bool) -> list[str]:
        lines = [f"    {_local('p', p)} = p[{i}]" for i, p in enumerate(param_ids)]
        if with_states:
            lines += [f"    {_local('s', s)} = y[{i}]" for i, s in enumerate(state_ids)]
        return lines

    body_assign = [f"    {_local('a', a.id)} = {expressions.to_numpy(a.expr, rename)}" for a in ordered]
    rhs_lines = ["def rhs(time, y, p):", *header(True), *body_assign, "    out = np.empty_like(y)"]
    for i, s in enumerate(state_ids):
        rhs_lines.append(f"    out[{i}] = {expressions.to_numpy(system.states[s].rate, rename)}")
    rhs_lines.append("    return out")

    obs_lines = ["def observe(time, y, p):", *header(True), *body_assign, "    shape = y[0].shape"]
    obs_lines.append("    return {")
    for a in ordered:
        obs_lines.append(f"        {a.id!r}: np.broadcast_to({_local('a', a.id)}, shape),")
    obs_lines.append("    }")

    init_lines = [
        "def initial(p):",
        *header(False),
        "    n = p.shape[1]",
        f"    y = np.empty(({len(state_ids)}, n))",
    ]
    for i, s in enumerate(state_ids):
        init_expr = system.states[s].initial
        code = expressions.to_numpy(str(init_expr), rename)
        init_lines.append(f"    y[{i}] = {code}")
    init_lines.append("    return y")

    # one subject on floats: only what the rates read, scalar spelling (math.*, conditional expressions)
    scalar = {s: _local("s", s) for s in state_ids}
    scalar.update({p: _local("p", p) for p in param_ids})
    scalar.update({a.id: _local("a", a.id) for a in ordered})
    scalar["time"] = "time"
    rates = [system.states[s].rate for s in state_ids]
    one_body = [f"    {_local('a', a)} = {symbolic.scalar_code(system.assignments[a].expr, scalar)}"
                for a in symbolic.needed_assignments(system, rates)]
    one_body.append("    return [" + ", ".join(symbolic.scalar_code(r, scalar) for r in rates) + "]")
    read = set(re.findall(r"\b[ps]_\w+", "\n".join(one_body)))
    one_lines = ["def rhs_one(time, y, p):"]
    one_lines += [f"    {_local('p', p)} = p[{i}]" for i, p in enumerate(param_ids) if _local("p", p) in read]
    one_lines += [f"    {_local('s', s)} = y[{i}]" for i, s in enumerate(state_ids) if _local("s", s) in read]
    one_lines += one_body

    source = "\n".join([*rhs_lines, "", *one_lines, "", *obs_lines, "", *init_lines]) + "\n"
    namespace = _functions(source)
    return CompiledSystem(
        system=system,
        state_ids=state_ids,
        param_ids=param_ids,
        assignment_ids=[a.id for a in ordered],
        rhs=namespace["rhs"],  # type: ignore[arg-type]
        rhs_one=namespace["rhs_one"],  # type: ignore[arg-type]
        observe=namespace["observe"],  # type: ignore[arg-type]
        initial=namespace["initial"],  # type: ignore[arg-type]
        source=source,
    )
