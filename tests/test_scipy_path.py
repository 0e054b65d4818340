"""Quirks of scipy's integrators on the reference path (solver/piecewise.py)."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.integrate._ivp.bdf as scipy_bdf

from ketasim.model.build import prepare
from ketasim.scenario import make_scenario
from ketasim.solver import SolverOptions, integrate

#: a signalling NaN: subtracting it raises the floating-point "invalid" flag, as uninitialised memory can
SIGNALLING_NAN = 0x7FF0000000000001


class _SignallingEmpty:
    """numpy for scipy's bdf module, except that `np.empty` returns signalling NaNs instead of old memory."""

    def __getattr__(self, name: str):
        return getattr(np, name)

    @staticmethod
    def empty(shape, dtype=float):
        out = np.empty(shape, dtype=dtype)
        out.view(np.uint64)[...] = SIGNALLING_NAN
        return out


def test_bdf_uninitialised_difference_rows_neither_warn_nor_change_results(monkeypatch) -> None:
    """BDF subtracts a row of its difference array before writing it; it must not reach the user as a warning
    (the intermittent RuntimeWarning of `make demo`) and must not change any result."""
    scenario = make_scenario({"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "regimen": "spravato",
                              "duration": "10d"})
    prep = prepare(scenario, n=20)
    times = np.linspace(0.0, 240.0, 41)
    options = SolverOptions(method="BDF")
    clean = integrate(prep.compiled, prep.params, prep.events, times, options=options)
    monkeypatch.setattr(scipy_bdf, "np", _SignallingEmpty())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dirty = integrate(prep.compiled, prep.params, prep.events, times, options=options)
    np.testing.assert_array_equal(dirty, clean)
    # the garbage does reach the subtraction: scipy itself warns, so the test above can fail
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scipy_bdf.BDF(lambda t, y: -y, 0.0, np.ones(3), 1.0).step()
    assert any("invalid value encountered in subtract" in str(w.message) for w in caught)
