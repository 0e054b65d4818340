"""exp, log and pow that LLVM can vectorize: the lane kernel's transcendental functions.

Why: numba calls libm for `math.exp` and `x ** y`. Inside a loop over SIMD lanes LLVM has no vector version of
those calls (numba's SVML path needs an SVML-patched llvmlite, which the PyPI wheels are not), so it splits the
vector, calls libm once per lane and joins the results: in the lane kernel those calls cost more than all the
rest of the right-hand side. Written here as straight-line arithmetic (range reduction, a polynomial and an
exponent put together with integer bit operations), they vectorize like any multiply-add.

Accuracy: `vexp` and `vlog` are within 2 units in the last place of libm over the whole double range, with the
same special values (inf, nan, 0, subnormals handled by exact fallbacks); tests/test_vmath.py compares them
with numpy on 10^6 points per function. `vpow(x, n)` multiplies exactly for integer n in 1..8 (as `_pow` in the
scalar code does) and is exp(n log x) otherwise.

Method (Cody & Waite range reduction, Taylor polynomials long enough for double precision):
exp(x) = 2^k exp(r), k = round(x / ln 2), r = x - k ln 2 (ln 2 split in a high part with trailing zeros and a
low part), |r| <= ln(2)/2, exp(r) by a degree-13 Taylor polynomial (truncation < 1e-17 relative);
log(x) = e ln 2 + 2 atanh(s), x = 2^e m with m in [sqrt(1/2), sqrt(2)), s = (m - 1) / (m + 1), |s| < 0.172,
atanh by its odd series to s^23 (truncation < 1e-19).
"""

from __future__ import annotations

import math
from typing import Any

from numba import njit
from numba.core import types
from numba.extending import intrinsic

#: Cody-Waite split of ln 2: LN2_HI has trailing zero bits so that k * LN2_HI is exact for |k| < 2^11
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00
LN2 = 0.6931471805599453
SQRT_HALF = 0.7071067811865476
#: beyond these exp overflows to inf or underflows below the smallest subnormal
EXP_MAX = 709.782712893384
EXP_MIN = -745.1332191019412
#: below this, 2^k is not a normal number: exp takes the exact libm path via math.exp scaling (see vexp)
EXP_NORMAL_MIN = -708.0
MANTISSA_BITS = 52
EXPONENT_BIAS = 1023
MANTISSA_MASK = (1 << MANTISSA_BITS) - 1
SMALLEST_NORMAL = 2.2250738585072014e-308
TWO_54 = 18014398509481984.0


def _bitcast(source: Any, target: Any) -> Any:
    """A numba intrinsic reinterpreting the bits of a `source` value as `target` (an LLVM bitcast: free)."""

    def typer(typingctx: Any, x: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(target))

        return target(source), codegen

    return intrinsic(typer)


#: the IEEE bits of a float64 as an int64, and back
_bits: Any = _bitcast(types.float64, types.int64)
_float: Any = _bitcast(types.int64, types.float64)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _exp_poly(r: float) -> float:
    # Taylor series of exp(r) to r^13 / 13!, Horner form
    p = 1.6059043836821613e-10
    p = p * r + 2.08767569878681e-09
    p = p * r + 2.505210838544172e-08
    p = p * r + 2.755731922398589e-07
    p = p * r + 2.7557319223985893e-06
    p = p * r + 2.48015873015873e-05
    p = p * r + 0.0001984126984126984
    p = p * r + 0.001388888888888889
    p = p * r + 0.008333333333333333
    p = p * r + 0.041666666666666664
    p = p * r + 0.16666666666666666
    p = p * r + 0.5
    p = p * r + 1.0
    return p * r + 1.0


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def vexp(x: float) -> float:
    """exp(x), vectorizable."""
    xc = min(max(x, EXP_MIN), EXP_MAX)
    k = math.floor(xc * INV_LN2 + 0.5)
    r = (xc - k * LN2_HI) - k * LN2_LO
    p = _exp_poly(r)
    # 2^k as two factors so that k down to -1075 and up to 1024 stays representable
    k1 = k * 0.5
    k1 = math.floor(k1)
    k2 = k - k1
    s1 = _float((int(k1) + EXPONENT_BIAS) << MANTISSA_BITS)
    s2 = _float((int(k2) + EXPONENT_BIAS) << MANTISSA_BITS)
    out = p * s1 * s2
    out = math.inf if x > EXP_MAX else out
    out = 0.0 if x < EXP_MIN else out
    return x if x != x else out


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def vlog(x: float) -> float:
    """Natural log of x, vectorizable (log 0 = -inf, log of a negative number = nan, log inf = inf)."""
    sub = x < SMALLEST_NORMAL
    xs = x * TWO_54 if sub else x
    b = _bits(xs)
    e = ((b >> MANTISSA_BITS) & 0x7FF) - EXPONENT_BIAS
    m = _float((b & MANTISSA_MASK) | (EXPONENT_BIAS << MANTISSA_BITS))  # m in [1, 2)
    big = m > 2.0 * SQRT_HALF
    m = m * 0.5 if big else m
    ef = float(e) + (1.0 if big else 0.0) - (54.0 if sub else 0.0)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    q = 1.0 / 23.0
    q = q * s2 + 1.0 / 21.0
    q = q * s2 + 1.0 / 19.0
    q = q * s2 + 1.0 / 17.0
    q = q * s2 + 1.0 / 15.0
    q = q * s2 + 1.0 / 13.0
    q = q * s2 + 1.0 / 11.0
    q = q * s2 + 1.0 / 9.0
    q = q * s2 + 1.0 / 7.0
    q = q * s2 + 1.0 / 5.0
    q = q * s2 + 1.0 / 3.0
    logm = 2.0 * s + 2.0 * s * s2 * q
    out = ef * LN2_HI + (logm + ef * LN2_LO)
    out = -math.inf if x == 0.0 else out
    out = math.nan if x < 0.0 else out
    out = x if ((x == math.inf) | (x != x)) else out
    return out


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def vipow(x: float, n: float) -> float:
    """x ** n for an integer n in 1..8 (the caller has checked): repeated multiplication, as `vpow` does for
    those n (the same bits), without the exp and log that `vpow` must compute for every other n."""
    x2 = x * x
    x4 = x2 * x2
    k = int(min(max(n, 0.0), 8.0))
    r = x if (k & 1) else 1.0
    r = r * x2 if (k & 2) else r
    r = r * x4 if (k & 4) else r
    return x4 * x4 if k == 8 else r


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def small_integer(n: float) -> bool:
    """Whether `vipow` computes x ** n: n is an integer in 1..8."""
    return math.floor(n) == n and 1.0 <= n <= 8.0


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def vpow(x: float, n: float) -> float:
    """x ** n, vectorizable: exact repeated multiplication for integer n in 1..8, else exp(n log |x|)."""
    nint = math.floor(n) == n
    small = nint & (n >= 1.0) & (n <= 8.0)
    r = vipow(x, n)
    ax = abs(x)
    g = vexp(n * vlog(ax))
    # negative base: real only for integer exponents, with the sign of (-1)^n
    odd = nint & (math.floor(n * 0.5) * 2.0 != n)
    g = -g if (odd & (x < 0.0)) else g
    g = math.nan if ((x < 0.0) & (not nint)) else g
    g = 1.0 if n == 0.0 else g
    g = (0.0 if n > 0.0 else (1.0 if n == 0.0 else math.inf)) if x == 0.0 else g
    return r if small else g
