"""The lane kernel's vectorizable exp, log and pow agree with libm (numpy) to a few units in the last place."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from ketasim.solver.batched.vmath import small_integer, vexp, vipow, vlog, vpow

#: documented accuracy of vexp and vlog (vmath.py docstring)
MAX_ULP = 2.0


@njit(error_model="numpy")
def _map_exp(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = vexp(x[i])


@njit(error_model="numpy")
def _map_log(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = vlog(x[i])


@njit(error_model="numpy")
def _map_pow(x: np.ndarray, n: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = vpow(x[i], n[i])


@njit(error_model="numpy")
def _map_ipow(x: np.ndarray, n: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = vipow(x[i], n[i])


@njit
def _small_integers(n: np.ndarray) -> np.ndarray:
    return np.array([small_integer(v) for v in n])


def _ulp_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """Largest |ours - ref| in units of ref's last place; equal values (inf, nan with nan) count 0."""
    same = (ours == ref) | (np.isnan(ours) & np.isnan(ref))
    with np.errstate(invalid="ignore"):
        ulp = np.spacing(np.abs(ref))
        err = np.where(same, 0.0, np.abs(ours - ref) / np.where(ulp > 0, ulp, 5e-324))
    return float(np.max(err))


def _apply(fn, *args: np.ndarray) -> np.ndarray:
    out = np.empty_like(args[0])
    fn(*args, out)
    return out


@pytest.mark.parametrize(
    "x",
    [
        np.random.default_rng(0).uniform(-745.0, 709.0, 1_000_000),
        np.random.default_rng(1).uniform(-3.0, 3.0, 1_000_000),
        np.random.default_rng(2).uniform(-1e-8, 1e-8, 100_000),
    ],
    ids=["whole range", "model range", "near zero"],
)
def test_vexp_within_two_ulp(x: np.ndarray) -> None:
    assert _ulp_error(_apply(_map_exp, x), np.exp(x)) <= MAX_ULP


def test_vexp_special_values() -> None:
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 709.78, 709.8, -745.13, -746.0, -708.4, 1e-300])
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    assert _ulp_error(_apply(_map_exp, x), ref) <= MAX_ULP


@pytest.mark.parametrize(
    "x",
    [
        np.exp(np.random.default_rng(3).uniform(-700.0, 700.0, 1_000_000)),
        1.0 + np.random.default_rng(4).uniform(-1e-3, 1e-3, 1_000_000),
        np.random.default_rng(5).uniform(0.0, 2.2e-308, 100_000),
    ],
    ids=["whole range", "near one", "subnormal"],
)
def test_vlog_within_two_ulp(x: np.ndarray) -> None:
    assert _ulp_error(_apply(_map_log, x), np.log(x)) <= MAX_ULP


def test_vlog_special_values() -> None:
    x = np.array([0.0, -1.0, np.inf, np.nan, 1.0, 5e-324, 2.0, 0.5])
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.log(x)
    assert _ulp_error(_apply(_map_log, x), ref) <= MAX_ULP


def test_vpow_integer_exponents_multiply_exactly_and_others_follow_exp_log() -> None:
    rng = np.random.default_rng(6)
    x = rng.uniform(-3.0, 3.0, 200_000)
    small = rng.integers(1, 9, x.size).astype(float)
    # integer exponents 1..8: repeated multiplication, as the scalar code's _pow does (at most 7 roundings of
    # half an ulp each; numpy's power is within one more)
    ours = _apply(_map_pow, x, small)
    assert _ulp_error(ours, np.power(x, small)) <= 8.0
    np.testing.assert_array_equal(_apply(_map_pow, x, np.full(x.size, 3.0)), x * (x * x))
    # other exponents: exp(n log|x|), relative error ~ |n log x| * 2^-52
    n = rng.choice([0.0, 0.5, 2.5, -1.0, -2.0, 9.0, 11.0], x.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.power(x, n)
        ours = _apply(_map_pow, x, n)
        bound = (np.abs(n * np.log(np.abs(x))) + 2.0) * 2.0**-52 * np.abs(ref)
    finite = np.isfinite(ref)
    assert np.all(np.abs(ours[finite] - ref[finite]) <= 2 * bound[finite] + 1e-300)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))


def test_vipow_gives_vpows_bits_where_small_integer_holds() -> None:
    """The lane code runs vipow when every exponent passes small_integer: it must be vpow there, bit for bit."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-3.0, 3.0, 100_000), [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-320]])
    n = rng.integers(1, 9, x.size).astype(float)
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(_apply(_map_ipow, x, n), _apply(_map_pow, x, n))
    candidates = np.array([1.0, 8.0, 3.0, 0.0, 9.0, 2.5, -1.0, np.nan, np.inf, 1.0 + 1e-15])
    np.testing.assert_array_equal(_small_integers(candidates), [True, True, True] + [False] * 7)


def test_vpow_special_bases() -> None:
    x = np.array([0.0, 0.0, 0.0, -2.0, -2.0, -2.0, 2.0])
    n = np.array([2.0, 0.0, -1.0, 3.0, 2.0, 0.5, 0.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.power(x, n)
    np.testing.assert_array_equal(_apply(_map_pow, x, n), ref)
