"""Symbolic derivatives of rate-law expressions and the exact Jacobian of a System, as expression trees.

The batched Rosenbrock solver needs the exact Jacobian at every step, and scipy's implicit methods on the reference
path take it instead of finite differences (which are slower, and whose step factors overflow for states that
nothing reads, such as eliminated amounts). Differentiating the same `ast` trees that the numpy solver and the SBML
exporter read keeps the Jacobian consistent with the rate laws by construction (no second source of truth). The
language is small (+ - * / **, exp, log, sqrt, where, max, min, comparisons), so the rules fit in one function.

Derivatives of piecewise functions follow the branch taken: d max(a, b) = da where a >= b else db. At a kink
this is a one-sided derivative, which is all a linearly implicit method needs.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from ..model import expressions
from ..model.system import System

#: name -> scalar spelling in generated numba code
SCALAR_FUNCTIONS = {"exp": "math.exp", "log": "math.log", "sqrt": "math.sqrt"}
#: integer exponents up to this size are written as repeated products (pow() is slow and blocks inlining)
MAX_UNROLLED_POWER = 4
#: name of the generated helper for powers with a parameter exponent (Hill coefficients are usually integers)
POW_FUNCTION = "_pow"
POW_HELPER = f"""
@njit(cache=True, nogil=True, inline="always")
def {POW_FUNCTION}(x, n):
    k = int(n)
    if k == n and 1 <= k <= 8:
        r = x
        for _ in range(k - 1):
            r = r * x
        return r
    return x ** n
"""


def _const(value: float) -> ast.Constant:
    return ast.Constant(value=float(value))


def _is_const(node: ast.expr | None, value: float | None = None) -> bool:
    if not isinstance(node, ast.Constant):
        return False
    return value is None or float(node.value) == value  # type: ignore[arg-type]


def add(a: ast.expr | None, b: ast.expr | None) -> ast.expr | None:
    """a + b with None meaning zero."""
    if a is None:
        return b
    if b is None:
        return a
    if _is_const(a) and _is_const(b):
        return _const(float(a.value) + float(b.value))  # type: ignore[attr-defined]
    return ast.BinOp(a, ast.Add(), b)


def neg(a: ast.expr | None) -> ast.expr | None:
    if a is None:
        return None
    if _is_const(a):
        return _const(-float(a.value))  # type: ignore[attr-defined]
    return ast.UnaryOp(ast.USub(), a)


def sub(a: ast.expr | None, b: ast.expr | None) -> ast.expr | None:
    return add(a, neg(b))


def mul(a: ast.expr | None, b: ast.expr | None) -> ast.expr | None:
    """a * b with None meaning zero and 1 folded away."""
    if a is None or b is None or _is_const(a, 0.0) or _is_const(b, 0.0):
        return None
    if _is_const(a, 1.0):
        return b
    if _is_const(b, 1.0):
        return a
    if _is_const(a) and _is_const(b):
        return _const(float(a.value) * float(b.value))  # type: ignore[attr-defined]
    return ast.BinOp(a, ast.Mult(), b)


def div(a: ast.expr | None, b: ast.expr) -> ast.expr | None:
    if a is None or _is_const(a, 0.0):
        return None
    if _is_const(b, 1.0):
        return a
    return ast.BinOp(a, ast.Div(), b)


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


def _where(cond: ast.expr, a: ast.expr | None, b: ast.expr | None) -> ast.expr | None:
    if a is None and b is None:
        return None
    return _call("where", cond, a if a is not None else _const(0.0), b if b is not None else _const(0.0))


def derivative(node: ast.expr, var: str, dnames: dict[str, str]) -> ast.expr | None:
    """d(node)/d(var), or None when it is identically zero.

    `dnames` maps an intermediate symbol (an assignment) to the name of a variable holding its own derivative
    with respect to `var`; symbols absent from it (and not `var`) are constants.
    """
    if isinstance(node, ast.Constant):
        return None
    if isinstance(node, ast.Name):
        if node.id == var:
            return _const(1.0)
        return ast.Name(id=dnames[node.id], ctx=ast.Load()) if node.id in dnames else None
    if isinstance(node, ast.UnaryOp):
        d = derivative(node.operand, var, dnames)
        return neg(d) if isinstance(node.op, ast.USub) else d
    if isinstance(node, ast.Compare):
        return None
    if isinstance(node, ast.BinOp):
        a, b = node.left, node.right
        da, db = derivative(a, var, dnames), derivative(b, var, dnames)
        if isinstance(node.op, ast.Add):
            return add(da, db)
        if isinstance(node.op, ast.Sub):
            return sub(da, db)
        if isinstance(node.op, ast.Mult):
            return add(mul(da, b), mul(a, db))
        if isinstance(node.op, ast.Div):
            # d(a/b) = da/b - a*db/b^2
            return sub(div(da, b), div(mul(a, db), ast.BinOp(b, ast.Mult(), b)))
        if isinstance(node.op, ast.Pow):
            if db is None:
                # d(a^n) = n a^(n-1) da
                if _is_const(b):
                    n = float(b.value)  # type: ignore[attr-defined]
                    lower: ast.expr | None = None if n == 1.0 else ast.BinOp(a, ast.Pow(), _const(n - 1.0))
                    return mul(mul(_const(n), lower if lower is not None else _const(1.0)), da)
                return mul(mul(b, ast.BinOp(a, ast.Pow(), ast.BinOp(b, ast.Sub(), _const(1.0)))), da)
            # general: a^b (db ln a + b da / a)
            inner = add(mul(db, _call("log", a)), div(mul(b, da), a))
            return mul(node, inner)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        fn, args = node.func.id, node.args
        if fn == "exp":
            return mul(node, derivative(args[0], var, dnames))
        if fn == "log":
            return div(derivative(args[0], var, dnames), args[0])
        if fn == "sqrt":
            return div(derivative(args[0], var, dnames), ast.BinOp(_const(2.0), ast.Mult(), node))
        if fn == "where":
            return _where(args[0], derivative(args[1], var, dnames), derivative(args[2], var, dnames))
        if fn in ("max", "min"):
            op: ast.cmpop = ast.GtE() if fn == "max" else ast.LtE()
            cond = ast.Compare(left=args[0], ops=[op], comparators=[args[1]])
            return _where(cond, derivative(args[0], var, dnames), derivative(args[1], var, dnames))
    raise ValueError(f"cannot differentiate {ast.dump(node)}")


def depends_on(expr: str, var: str, dnames: dict[str, str]) -> bool:
    """Whether an expression reads `var` directly or through a symbol listed in `dnames`."""
    used = expressions.names(expr)
    return var in used or bool(used & set(dnames))


def to_scalar(node: ast.expr, rename: dict[str, str]) -> str:
    """Scalar Python source for numba (math.* functions, conditional expressions, unrolled small powers)."""
    if isinstance(node, ast.Constant):
        return repr(float(node.value))  # type: ignore[arg-type]
    if isinstance(node, ast.Name):
        return rename.get(node.id, node.id)
    if isinstance(node, ast.UnaryOp):
        inner = to_scalar(node.operand, rename)
        return f"(-{inner})" if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left, right = to_scalar(node.left, rename), to_scalar(node.right, rename)
        if isinstance(node.op, ast.Pow):
            if _is_const(node.right):
                n = float(node.right.value)  # type: ignore[attr-defined]
                if n.is_integer() and 1 <= n <= MAX_UNROLLED_POWER:
                    return "(" + " * ".join([left] * int(n)) + ")"
                if n == 0.0:
                    return "1.0"
            return f"{POW_FUNCTION}({left}, {right})"
        symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}[type(node.op)]
        return f"({left} {symbol} {right})"
    if isinstance(node, ast.Compare):
        symbol = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}[type(node.ops[0])]
        return f"({to_scalar(node.left, rename)} {symbol} {to_scalar(node.comparators[0], rename)})"
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        fn = node.func.id
        args = [to_scalar(a, rename) for a in node.args]
        if fn == "where":
            return f"({args[1]} if {args[0]} else {args[2]})"
        if fn in ("max", "min"):
            return f"{fn}({args[0]}, {args[1]})"
        return f"{SCALAR_FUNCTIONS[fn]}({args[0]})"
    raise ValueError(f"cannot translate {ast.dump(node)}")


def scalar_code(expr: str, rename: dict[str, str]) -> str:
    """Scalar numba source for a rate-law expression string."""
    return to_scalar(expressions.parse(expr), rename)


def assignment_state_deps(system: System) -> dict[str, set[str]]:
    """For every assignment, the states it reads directly or through other assignments."""
    states = set(system.states)
    out: dict[str, set[str]] = {}
    for a in system.ordered_assignments():
        deps: set[str] = set()
        for name in expressions.names(a.expr):
            if name in states:
                deps.add(name)
            elif name in out:
                deps |= out[name]
        out[a.id] = deps
    return out


def needed_assignments(system: System, exprs: list[str]) -> list[str]:
    """Assignments (in dependency order) that the given expressions read, directly or indirectly."""
    need: set[str] = set()
    stack = [n for e in exprs for n in expressions.names(e) if n in system.assignments]
    while stack:
        a = stack.pop()
        if a in need:
            continue
        need.add(a)
        stack.extend(n for n in expressions.names(system.assignments[a].expr) if n in system.assignments)
    return [a.id for a in system.ordered_assignments() if a.id in need]


@dataclass(frozen=True)
class JacobianColumn:
    """The derivatives with respect to one state that a Jacobian needs, as expression trees.

    `intermediates`: (name, tree) for each assignment that reads the state, in dependency order; an entry's tree
    refers to these names. `entries`: (index into the nonzeros, tree of d rate / d state), None when the
    derivative is identically zero.
    """

    state: str
    intermediates: list[tuple[str, ast.expr]]
    entries: list[tuple[int, ast.expr | None]]


def jacobian_columns(
    system: System, state_ids: Sequence[str], nonzeros: Sequence[tuple[int, int]], assignments: Sequence[str]
) -> list[JacobianColumn]:
    """Exact Jacobian entries by the chain rule through `assignments` (those the rates read), one state at a time.

    `nonzeros` are (row, column) positions in `state_ids`. Both solvers emit their code from these trees (numba
    in batched/jit.py, numpy in jacobian.py), so they differentiate the rate laws in exactly the same way.
    """
    deps = assignment_state_deps(system)
    by_column: dict[str, list[int]] = {}
    for m, (_, jcol) in enumerate(nonzeros):
        by_column.setdefault(state_ids[jcol], []).append(m)
    counter = 0
    columns = []
    for sid in state_ids:
        entries = by_column.get(sid, [])
        if not entries:
            continue
        dnames: dict[str, str] = {}
        intermediates = []
        for a in assignments:
            if sid not in deps[a]:
                continue
            d = derivative(expressions.parse(system.assignments[a].expr), sid, dnames)
            if d is None:
                continue
            name = f"_d{counter}"
            counter += 1
            intermediates.append((name, d))
            dnames[a] = name
        rows = [(m, derivative(expressions.parse(system.states[state_ids[nonzeros[m][0]]].rate), sid, dnames))
                for m in entries]
        columns.append(JacobianColumn(sid, intermediates, rows))
    return columns
