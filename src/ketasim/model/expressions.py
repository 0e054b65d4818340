"""Rate-law expressions: one small infix language read by both the numpy solver and the SBML exporter.

Expressions are Python-syntax strings restricted to numbers, names, + - * / **, unary minus, comparisons and
the functions below. Parsing them once with `ast` lets us emit numpy code and SBML L3 formulas from the same
tree, so the fast solver and the exported model can never disagree about a rate law.
"""

from __future__ import annotations

import ast
from functools import cache

from ..errors import DataError

#: function name -> (numpy spelling, SBML L3 spelling, number of arguments)
FUNCTIONS: dict[str, tuple[str, str, int]] = {
    "exp": ("np.exp", "exp", 1),
    "log": ("np.log", "ln", 1),
    "sqrt": ("np.sqrt", "sqrt", 1),
    "where": ("np.where", "piecewise", 3),  # where(cond, a, b) -> piecewise(a, cond, b)
    # continuous kinks (rectifiers such as max(x - 1, 0)): SBML L3V2 max/min need no root-finding, whereas
    # a piecewise whose condition sits at a baseline makes event-locating solvers (libRoadRunner) chatter
    "max": ("np.maximum", "max", 2),
    "min": ("np.minimum", "min", 2),
}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CMPOPS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}


@cache
def parse(expr: str) -> ast.expr:
    """Parse and validate an expression; raise DataError naming what is not allowed."""
    try:
        tree = ast.parse(str(expr), mode="eval").body
    except SyntaxError as exc:
        raise DataError(f"cannot parse rate expression {expr!r}: {exc.msg}") from exc
    for node in ast.walk(tree):
        ok = isinstance(
            node,
            ast.BinOp | ast.UnaryOp | ast.Constant | ast.Name | ast.Call | ast.Compare | ast.Load
            | ast.operator | ast.unaryop | ast.cmpop,
        )
        if not ok:
            raise DataError(f"expression {expr!r} uses {type(node).__name__}, which rate laws may not use")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise DataError(f"expression {expr!r} calls an unknown function; allowed: {sorted(FUNCTIONS)}")
            if len(node.args) != FUNCTIONS[node.func.id][2] or node.keywords:
                raise DataError(f"expression {expr!r}: wrong number of arguments to {node.func.id}")
        if isinstance(node, ast.BinOp) and type(node.op) not in _BINOPS:
            raise DataError(f"expression {expr!r} uses an operator rate laws may not use")
        if isinstance(node, ast.Compare) and (len(node.ops) != 1 or type(node.ops[0]) not in _CMPOPS):
            raise DataError(f"expression {expr!r}: only single comparisons > >= < <= are allowed")
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise DataError(f"expression {expr!r} contains a non-numeric constant")
    return tree


@cache
def names(expr: str) -> frozenset[str]:
    """Every symbol an expression refers to (not function names). Cached: building a model asks ~400 times (every
    chunk of a population run builds its own), and walking the trees was a third of preparing a chunk."""
    tree = parse(expr)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called)


def to_numpy(expr: str | ast.expr, rename: dict[str, str] | None = None) -> str:
    """Python/numpy source for an expression (or a tree of one, such as a derivative); `rename` maps symbols to the
    code that reads them."""
    rename = rename or {}

    def emit(node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            return repr(float(node.value))  # type: ignore[arg-type]
        if isinstance(node, ast.Name):
            return rename.get(node.id, node.id)
        if isinstance(node, ast.UnaryOp):
            return f"(-{emit(node.operand)})" if isinstance(node.op, ast.USub) else emit(node.operand)
        if isinstance(node, ast.BinOp):
            return f"({emit(node.left)} {_BINOPS[type(node.op)]} {emit(node.right)})"
        if isinstance(node, ast.Compare):
            return f"({emit(node.left)} {_CMPOPS[type(node.ops[0])]} {emit(node.comparators[0])})"
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            args = ", ".join(emit(a) for a in node.args)
            return f"{FUNCTIONS[node.func.id][0]}({args})"
        raise DataError(f"cannot translate {ast.dump(node)}")

    return emit(parse(expr) if isinstance(expr, str) else expr)


def to_sbml(expr: str) -> str:
    """SBML Level 3 infix formula (libsbml.parseL3Formula syntax) for an expression."""

    def emit(node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            return repr(float(node.value))  # type: ignore[arg-type]
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.UnaryOp):
            return f"(-{emit(node.operand)})" if isinstance(node.op, ast.USub) else emit(node.operand)
        if isinstance(node, ast.BinOp):
            op = "^" if isinstance(node.op, ast.Pow) else _BINOPS[type(node.op)]
            return f"({emit(node.left)} {op} {emit(node.right)})"
        if isinstance(node, ast.Compare):
            return f"({emit(node.left)} {_CMPOPS[type(node.ops[0])]} {emit(node.comparators[0])})"
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            args = [emit(a) for a in node.args]
            if node.func.id == "where":
                return f"piecewise({args[1]}, {args[0]}, {args[2]})"
            return f"{FUNCTIONS[node.func.id][1]}({', '.join(args)})"
        raise DataError(f"cannot translate {ast.dump(node)}")

    return emit(parse(expr))
