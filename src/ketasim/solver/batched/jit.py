"""Generate, cache and load the numba module that integrates one System for a batch of subjects.

The module holds the model's scalar rate laws (`_rhs`), exact Jacobian (`_jac`, from `symbolic.py`; its
parameter-only part `_jac_const`), the lane (SIMD) versions of the rate laws, Jacobian, time derivative and observed
assignments, and the integrator (`lanes.py`), all in the block-triangular state order of `structure.py`.

Why a file and not `exec`: numba can only cache compiled code for functions defined in a real file. The file name
is a hash of its source (which embeds the solver's own source and numba's version), so a changed model or a
changed solver never reuses a stale cache, and the same model compiles once per machine, not once per process
(Dask workers and repeated CLI runs load it from disk).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ...errors import KetasimError
from ...model import expressions
from ...model.reporting import summary_variables
from ...model.system import System
from .. import symbolic
from ..codegen import CompiledSystem
from ..events import TIME_EPS
from ..jacobian import structural_jacobian
from . import lanes, rodas4, vmath
from . import structure as structure_mod
from .structure import PIVOT_FLOOR, BlockStructure, block_structure, diagonal_index, factor_solve_source

#: environment variable naming the folder for generated modules and numba's cache
CACHE_ENV = "KETASIM_CACHE_DIR"
#: a rate event leaves an input parameter below this fraction of its size: it is exactly zero (round-off)
RATE_CLEAN = 1e-12
#: "before the reference time" tolerance of the summaries (same as nca.summarize / Result.node_summary)
REF_EPS = 1e-12

#: what the first compile of a model takes (25 s of CPU on the 2-core development machine, 25-45 s of wall time
#: when the machine is shared): said on stderr before it starts, so that a first run is not a silent wait
COMPILE_NOTICE = "ketasim: compiling the model for this machine, once: about 25 s"


def _print_notice(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


#: where the notice goes: a callable taking the line (None: say nothing; `ketasim warmup` shows its own progress)
compile_notice: Callable[[str], None] | None = _print_notice

_LOCK = threading.Lock()
_LOADED: dict[str, ModuleType] = {}
#: what `build` derived for a System's equations (structure, generated module, time dependence), by
#: `equations_key`: every chunk of a population run prepares its own System, and generating the source again
#: would cost ~0.2 s of serial Python per chunk (4 s of a 10^5 run)
_BUILT: dict[str, tuple[BlockStructure, ModuleType, bool, str]] = {}
#: held while a System's equations are built, so that two chunks asking at once generate them once
_BUILD_LOCK = threading.Lock()


@dataclass
class JitModel:
    """A compiled batched integrator for one System, and what is needed to call it."""

    compiled: CompiledSystem
    structure: BlockStructure
    position: np.ndarray  # original state index -> permuted position
    diag: np.ndarray  # permuted position -> index of its diagonal entry in the nonzeros
    module: ModuleType
    time_dependent: bool
    key: str


def cache_dir() -> Path:
    """Folder for generated modules: $KETASIM_CACHE_DIR, else ~/.cache/ketasim/jit, else a temp folder."""
    env = os.environ.get(CACHE_ENV)
    candidates = [Path(env)] if env else []
    xdg = os.environ.get("XDG_CACHE_HOME")
    candidates.append((Path(xdg) if xdg else Path.home() / ".cache") / "ketasim" / "jit")
    candidates.append(Path(tempfile.gettempdir()) / "ketasim-jit")
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
            return folder
        except OSError:
            continue
    raise KetasimError("no writable folder for the compiled solver; set KETASIM_CACHE_DIR to one")


class _Hoister:
    """Moves parameter-only subexpressions out of the per-step functions into per-segment constants.

    Rate laws are full of ratios of parameters (Q/V, CL/V, w*g): recomputing them at every stage of every step
    costs divisions that dominate a small model's right-hand side. Every maximal subexpression that reads only
    parameters (or assignments of parameters alone) becomes a slot `_cK` of a vector computed once per subject
    and event-free segment by `_derived`. Identical subexpressions share a slot.
    """

    def __init__(self, constant: set[str], assignment_ids: set[str]) -> None:
        self.constant = constant
        self.assignment_ids = assignment_ids
        self.slots: dict[str, int] = {}
        self.defs: list[ast.expr] = []

    def _is_constant(self, node: ast.expr) -> bool:
        return all(not isinstance(n, ast.Name) or n.id in self.constant for n in ast.walk(node)
                   if not (isinstance(n, ast.Name) and _is_function_name(node, n)))

    def _slot(self, node: ast.expr) -> ast.Name:
        key = ast.dump(node)
        if key not in self.slots:
            self.slots[key] = len(self.defs)
            self.defs.append(node)
        return ast.Name(id=f"_c{self.slots[key]}", ctx=ast.Load())

    def slot_name(self, symbol: str) -> str:
        """The slot holding a constant symbol's value (created if needed)."""
        return self._slot(ast.Name(id=symbol, ctx=ast.Load())).id

    def apply(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Constant):
            return node
        if self._is_constant(node):
            return node if isinstance(node, ast.Name) and node.id not in self.assignment_ids else self._slot(node)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Div) and self._is_constant(node.right):
                # x / c -> x * (1 / c): a multiplication per call instead of a division
                inverse = ast.BinOp(ast.Constant(value=1.0), ast.Div(), node.right)
                return ast.BinOp(self.apply(node.left), ast.Mult(), self._slot(inverse))
            return ast.BinOp(self.apply(node.left), node.op, self.apply(node.right))
        if isinstance(node, ast.UnaryOp):
            return ast.UnaryOp(node.op, self.apply(node.operand))
        if isinstance(node, ast.Call):
            return ast.Call(func=node.func, args=[self.apply(a) for a in node.args], keywords=[])
        if isinstance(node, ast.Compare):
            return ast.Compare(left=self.apply(node.left), ops=node.ops,
                               comparators=[self.apply(c) for c in node.comparators])
        return node


def _segment_constant(code: str) -> bool:
    """Whether a generated expression reads only parameters and hoisted constants (no state, assignment, time)."""
    for token in re.findall(r"(?<![\w.])[A-Za-z_]\w*", code):
        if token == "t" or token.startswith(("s_", "a_", "_d")):
            return False
    return True


def _is_function_name(root: ast.expr, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(root))


#: calls worth computing once per body: the chain rule repeats exp(...) of an assignment in every Jacobian
#: entry it reaches, and in the lane code each one becomes a few dozen vector instructions
CSE_FUNCTIONS = ("math.exp(", "math.log(", f"{symbolic.POW_FUNCTION}(")


def _call_end(text: str, open_paren: int) -> int:
    """Index just past the parenthesis that closes the one at `open_paren`."""
    depth = 0
    for k in range(open_paren, len(text)):
        depth += {"(": 1, ")": -1}.get(text[k], 0)
        if depth == 0:
            return k + 1
    raise KetasimError(f"unbalanced parentheses in generated code: {text!r}")


def common_calls(lines: list[str]) -> list[str]:
    """Straight-line body lines with every repeated CSE_FUNCTIONS call computed once, in a local `_kN`.

    Valid because generated bodies assign every name once: the same call text always has the same value. Calls
    are taken innermost first (so exp(log(x)) twice becomes two reads of one exp of one log), and each local is
    defined just before the first line that uses it.
    """
    pattern = re.compile("|".join(r"(?<![\w.])" + re.escape(f) for f in CSE_FUNCTIONS))
    out = list(lines)
    made = 0
    while True:
        counts: dict[str, int] = {}
        for ln in out:
            for m in pattern.finditer(ln):
                c = ln[m.start():_call_end(ln, m.end() - 1)]
                counts[c] = counts.get(c, 0) + 1
        repeated = [c for c, k in counts.items() if k > 1]
        inner = [c for c in repeated if not any(o != c and o in c for o in repeated)]
        if not inner:
            return out
        for c in inner:
            name = f"_k{made}"
            made += 1
            first = next(i for i, ln in enumerate(out) if c in ln)
            indent = out[first][: len(out[first]) - len(out[first].lstrip())]
            out = [ln.replace(c, name) for ln in out]
            out.insert(first, f"{indent}{name} = {c}")


def _power_calls(line: str) -> list[tuple[int, str]]:
    """(position, exponent code) of every `_pow(base, exponent)` call in a line, rightmost first."""
    calls = []
    for m in re.finditer(rf"(?<![\w.]){symbolic.POW_FUNCTION}\(", line):
        end = _call_end(line, m.end() - 1)
        depth = 0
        for k in range(m.end(), end - 1):
            depth += {"(": 1, ")": -1}.get(line[k], 0)
            if line[k] == "," and depth == 0:
                calls.append((m.start(), line[k + 1:end - 1].strip()))
                break
    return calls[::-1]


def _fixed_exponent(code: str) -> bool:
    """Whether an exponent reads only parameters and hoisted constants: the same over a whole segment."""
    return all(t.startswith("p_") or re.fullmatch(r"_c\d+", t) for t in re.findall(r"(?<![\w.])[A-Za-z_]\w*", code))


def integer_powers(body: list[str]) -> tuple[list[str], list[str]]:
    """The fixed exponents of a body's powers, and the body with those powers as lanes.INT_POW_FUNCTION calls.

    Why: in the lane code a power with an arbitrary exponent costs an exp and a log (vmath.vpow, ~11% of a
    step of the full model), while the model's exponents are Hill coefficients, integers for every subject.
    The lane code runs the integer version when every lane's exponents are integers in 1..8 (`_ipow_*`
    flags), which gives the same bits as vpow.
    """
    exponents: list[str] = []
    out = []
    for line in body:
        for pos, exponent in _power_calls(line):
            if _fixed_exponent(exponent):
                exponents.append(exponent)
                line = line[:pos] + lanes.INT_POW_FUNCTION + line[pos + len(symbolic.POW_FUNCTION):]
        out.append(line)
    return exponents, out


def observed_closure(system: System, variables: Sequence[str]) -> tuple[set[str], set[str]]:
    """What observing `variables` takes: the assignments to evaluate (the requested ones and those they read)
    and the states to interpolate (the requested ones and those those assignments read)."""
    requested = [v for v in variables if v in system.assignments]
    closure = set(requested) | set(symbolic.needed_assignments(system, [system.assignments[a].expr
                                                                        for a in requested]))
    states = {v for v in variables if v in system.states}
    for a in closure:
        states |= expressions.names(system.assignments[a].expr) & system.states.keys()
    return closure, states


def generate_source(compiled: CompiledSystem, structure: BlockStructure) -> tuple[str, bool]:
    """Numba source of the model functions and the Rodas4 kernel; also whether any law reads `time`."""
    system = compiled.system
    position = {sid: int(k) for k, sid in enumerate(compiled.state_ids[i] for i in structure.order)}
    rename = {s: f"s_{s}" for s in compiled.state_ids}
    rename.update({p: f"p_{p}" for p in compiled.param_ids})
    rename.update({a: f"a_{a}" for a in system.assignments})
    rename["time"] = "t"
    pindex = {p: i for i, p in enumerate(compiled.param_ids)}
    rates = [system.states[s].rate for s in compiled.state_ids]
    rhs_assign = symbolic.needed_assignments(system, rates)
    all_exprs = rates + [system.assignments[a].expr for a in rhs_assign]
    time_dependent = any("time" in expressions.names(e) for e in all_exprs)
    deps = symbolic.assignment_state_deps(system)
    ordered = [a.id for a in system.ordered_assignments()]
    # assignments that read no state and no time (directly or not) are constants of a segment
    timed: set[str] = set()
    for a in ordered:
        names = expressions.names(system.assignments[a].expr)
        if "time" in names or names & timed:
            timed.add(a)
    const_assign = {a for a in ordered if not deps[a] and a not in timed}
    hoist = _Hoister(set(compiled.param_ids) | const_assign, const_assign)

    def code(node: ast.expr | None) -> str:
        return "0.0" if node is None else symbolic.to_scalar(hoist.apply(node), rename)

    def expr_code(expr: str) -> str:
        return code(expressions.parse(expr))

    def assign_lines(ids: list[str]) -> list[str]:
        return [f"    a_{a} = {expr_code(system.assignments[a].expr)}" for a in ids if a not in const_assign]

    def loads(body: list[str]) -> list[str]:
        """Loads of the states, parameters and constant slots a body reads (known after hoisting)."""
        text = "\n".join(body)
        used = set(re.findall(r"\b(?:s|p|_c)_?\w+", text))
        out = [f"    p_{p} = p[{pindex[p]}]" for p in compiled.param_ids if f"p_{p}" in used]
        out += [f"    _c{k} = d[{k}]" for k in range(len(hoist.defs)) if f"_c{k}" in used]
        out += [f"    s_{s} = y[{position[s]}]" for s in compiled.state_ids if f"s_{s}" in used]
        return out

    # right-hand side
    rhs_body = assign_lines(rhs_assign)
    for s in compiled.state_ids:
        rhs_body.append(f"    out[{position[s]}] = {expr_code(system.states[s].rate)}")
    rhs_body = common_calls(rhs_body)

    # Jacobian: chain rule through assignments, one state at a time (symbolic.jacobian_columns)
    jac_body = assign_lines(rhs_assign)
    jac_const: list[str] = []
    jac_var: list[str] = []
    for column in symbolic.jacobian_columns(system, compiled.state_ids, structure.nonzeros, rhs_assign):
        for name, tree in column.intermediates:
            jac_body.append(f"    {name} = {code(tree)}")
            jac_var.append(jac_body[-1])
        for m, entry_tree in column.entries:
            entry = code(entry_tree)
            jac_body.append(f"    jv[{m}] = {entry}")
            if _segment_constant(entry):
                jac_const.append(f"    jv[{m}] = {entry}")
            else:
                jac_var.append(f"    jv[{m}] = {entry}")

    # time derivative of the right-hand side (only used when a law reads `time`)
    if time_dependent:
        dt_body = assign_lines(rhs_assign)
        dnames: dict[str, str] = {}
        for a in rhs_assign:
            d = symbolic.derivative(expressions.parse(system.assignments[a].expr), "time", dnames)
            if d is not None:
                name = f"_dt{len(dnames)}"
                dt_body.append(f"    {name} = {code(d)}")
                dnames[a] = name
        for s in compiled.state_ids:
            d = symbolic.derivative(expressions.parse(system.states[s].rate), "time", dnames)
            dt_body.append(f"    out[{position[s]}] = {code(d)}")
    else:
        dt_body = []

    # the assignments an output needs, one block each (`need[k]` for compiled.assignment_ids[k], closed under
    # dependencies by the caller), in dependency order: a block reads the states, parameters, constants and
    # earlier assignments it uses and writes out[k]
    assign_pos = {a: k for k, a in enumerate(compiled.assignment_ids)}
    obs_blocks: list[tuple[int, list[str]]] = []
    for a in ordered:
        k = assign_pos[a]
        if a in const_assign:
            body = [f"    out[{k}] = {hoist.slot_name(a)}"]
            obs_blocks.append((k, [*loads(body), *body]))
            continue
        value = expr_code(system.assignments[a].expr)
        reads = [b for b in ordered if b != a and re.search(rf"\ba_{re.escape(b)}\b", value)]
        body = [f"    a_{a} = {value}", f"    out[{k}] = a_{a}"]
        obs_blocks.append((k, [*loads(body), *[f"    a_{b} = out[{assign_pos[b]}]" for b in reads],
                               *common_calls(body)]))

    # constants of a segment: constant assignments, then every hoisted slot
    der_body = [f"    p_{p} = p[{pindex[p]}]" for p in compiled.param_ids]
    der_body += [f"    a_{a} = {symbolic.scalar_code(system.assignments[a].expr, rename)}"
                 for a in ordered if a in const_assign]
    der_body += [f"    d[{k}] = {symbolic.to_scalar(node, rename)}" for k, node in enumerate(hoist.defs)]

    lines = ["import math", "import numpy as np", "from numba import njit", "",
             "from ketasim.solver.batched.vmath import small_integer, vexp, vipow, vlog, vpow", "",
             symbolic.POW_HELPER, ""]
    consts = {**rodas4.CONTROL, "GAMMA": rodas4.METHOD.gamma}
    lines += [f"{k} = {float(v)!r}" for k, v in consts.items()]
    lines += [f"ORDER = {rodas4.ORDER}",
              f"STATUS_OK = {rodas4.STATUS_OK}", f"STATUS_MAX_STEPS = {rodas4.STATUS_MAX_STEPS}",
              f"STATUS_STEP_UNDERFLOW = {rodas4.STATUS_STEP_UNDERFLOW}",
              f"STATUS_GENERAL_POWERS = {rodas4.STATUS_GENERAL_POWERS}",
              f"TIME_EPS = {TIME_EPS!r}", f"RATE_CLEAN = {RATE_CLEAN!r}", f"REF_EPS = {REF_EPS!r}",
              f"TIME_DEPENDENT = {time_dependent!r}", f"N_DERIVED = {max(len(hoist.defs), 1)}", ""]
    njit = "@njit(cache=True, nogil=True)"
    lines += [njit, "def _derived(p, d):", *der_body, "    return", ""]
    lines += [njit, "def _rhs(t, y, p, d, out):", *loads(rhs_body), *rhs_body, "    return", ""]
    lines += [njit, "def _jac(t, y, p, d, jv):", *loads(jac_body), *jac_body, "    return", ""]
    # the integrator writes the entries that depend only on parameters once per segment (`_jac_const`), the
    # others every step (their lane version, from `var_body`)
    var_body = common_calls(assign_lines(rhs_assign) + jac_var)
    lines += [njit, "def _jac_const(p, d, jv):", *loads(jac_const), *jac_const, "    return", ""]
    fac, sol, lu_size = factor_solve_source(structure, diagonal_index(structure))
    lines += [f"PIVOT_FLOOR = {PIVOT_FLOOR!r}", f"LU_SIZE = {lu_size}", ""]
    lines.append(rodas4.HELPERS)
    # the step's arithmetic for LANES subjects at once, and the integrator (lanes.py)
    layout = lanes.Layout.step(len(compiled.state_ids), len(compiled.param_ids), max(len(hoist.defs), 1),
                               len(structure.col), lu_size, rodas4.METHOD)
    output = lanes.Layout.output(len(compiled.state_ids), len(compiled.assignment_ids))
    bodies = {"rhs": loads(rhs_body) + rhs_body, "jac_var": loads(var_body) + var_body,
              "dfdt": loads(dt_body) + dt_body, "factor": fac[1:], "solve": sol[1:-1]}
    # integer-exponent versions of the lane bodies, and per subject whether its exponents allow them
    flags: dict[str, list[str]] = {"step": [], "observe": []}
    for name in ("rhs", "jac_var", "dfdt"):
        exps, bodies[name + lanes.INT_SUFFIX] = integer_powers(bodies[name])
        flags["step"] += exps
    obs_int = []
    for k, body in obs_blocks:
        exps, int_body = integer_powers(body)
        flags["observe"] += exps
        obs_int.append((k, body, int_body))
    for kind, exps in flags.items():
        exps = list(dict.fromkeys(exps))
        test = " and ".join(f"small_integer({e})" for e in exps) or "False"
        lines += [njit, f"def _ipow_{kind}(p, d):", *loads([f"    _e = {e}" for e in exps]),
                  f"    return 1.0 if ({test}) else 0.0", ""]
    # per parameter, whether the per-segment work (constant slots, constant Jacobian entries, the integer-power
    # test) reads it: an infusion switch that changes only other parameters (rates) skips that work
    seg_text = "\n".join(der_body[len(compiled.param_ids):] + jac_const + flags["step"])
    seg_names = set(re.findall(r"\bp_\w+", seg_text))
    feeds = [f"p_{p}" in seg_names for p in compiled.param_ids]
    lines += [f"PARAM_FEEDS = np.array({feeds!r}, dtype=np.bool_)", ""]
    lines += [f"N_STATES = {len(compiled.state_ids)}", *lanes.constants(layout, output), ""]
    lines += lanes.model_source(bodies, obs_int, layout, output, rodas4.METHOD, time_dependent)
    # the output interpolation written out for the states a summary reads (what population runs observe)
    summary_dense = sorted(position[s] for s in observed_closure(system, summary_variables(system))[1])
    lines += [f"FIXED_DENSE = np.array({summary_dense!r}, dtype=np.int64)", ""]
    lines.append(lanes.kernel_source(rodas4.METHOD, lanes.has_integer_powers(bodies), summary_dense))
    return "\n".join(lines) + "\n", time_dependent


def _solver_fingerprint() -> str:
    """Hash of the solver sources and numba version: part of every cache key."""
    import numba

    h = hashlib.sha256(numba.__version__.encode())
    for mod in (lanes, rodas4, structure_mod, symbolic, vmath, sys.modules[__name__]):
        h.update(Path(mod.__file__ or "").read_bytes())
    h.update(np.__version__.encode())
    return h.hexdigest()[:16]


def cached_on_disk(key: str) -> bool:
    """Whether numba's disk cache holds compiled code of the generated module `key` (False: a cold cache, the
    first call compiles). numba caches next to the module (__pycache__), or under $NUMBA_CACHE_DIR."""
    pattern = f"ketasim_jit_{key}.*.nbi"
    roots = [cache_dir() / "__pycache__"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        roots.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    return any(next(root.rglob(pattern), None) is not None for root in roots if root.is_dir())


def _load_module(source: str) -> tuple[ModuleType, str]:
    key = hashlib.sha256((_solver_fingerprint() + source).encode()).hexdigest()[:24]
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key], key
        if compile_notice is not None and not cached_on_disk(key):
            compile_notice(COMPILE_NOTICE)
        folder = cache_dir()
        path = folder / f"ketasim_jit_{key}.py"
        if not path.exists() or path.read_text() != source:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "w") as fh:
                fh.write(source)
            os.replace(tmp, path)
        name = f"ketasim_jit_{key}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise KetasimError(f"cannot load the compiled solver from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _LOADED[key] = module
        return module, key


def equations_key(compiled: CompiledSystem) -> str:
    """Hash of everything `generate_source` reads: the ids and the rate and assignment expressions (not the
    parameter values, which the kernel takes as input)."""
    system = compiled.system
    payload = [
        compiled.state_ids, [system.states[s].rate for s in compiled.state_ids], compiled.param_ids,
        compiled.assignment_ids, [(a.id, a.expr) for a in system.ordered_assignments()],
    ]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def build(compiled: CompiledSystem) -> JitModel:
    """Structure, source and loaded module for a compiled System (cached per set of equations in this process)."""
    ekey = equations_key(compiled)
    with _BUILD_LOCK:
        built = _BUILT.get(ekey)
        if built is None:
            structure = block_structure(structural_jacobian(compiled))
            source, time_dependent = generate_source(compiled, structure)
            module, key = _load_module(source)
            built = _BUILT[ekey] = (structure, module, time_dependent, key)
    structure, module, time_dependent, key = built
    position = np.empty(len(structure.order), dtype=np.int64)
    position[structure.order] = np.arange(len(structure.order))
    diag = diagonal_index(structure)
    return JitModel(compiled, structure, position, diag, module, time_dependent, key)
