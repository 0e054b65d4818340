"""Generated numpy code: the one-subject float version of the rate laws and its fallback (solver/codegen.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ketasim.model.build import prepare
from ketasim.model.system import Parameter, State, System
from ketasim.scenario import make_scenario, parse_pretreat
from ketasim.solver import compile_system
from ketasim.solver.piecewise import SCALAR_MAX_SUBJECTS, _segment_rhs

SCENARIOS = [
    {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "regimen": "spravato", "duration": "10d"},
    {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "over": "40 min", "hypothesis": "opioid+hnk_ampa",
     "duration": "2d", "pretreatments": [parse_pretreat("naltrexone:50 mg:oral:45 min").model_dump()]},
]


@pytest.mark.parametrize("fields", SCENARIOS, ids=["esketamine", "ketamine_naltrexone"])
def test_float_version_equals_numpy_version_for_every_subject(fields) -> None:
    prep = prepare(make_scenario(fields), n=3)
    compiled = prep.compiled
    rng = np.random.default_rng(4)
    y = np.abs(rng.normal(1.0, 0.5, (len(compiled.state_ids), prep.n)))
    batch = compiled.rhs(2.5, y, prep.params)
    for k in range(prep.n):
        one = compiled.rhs_one(2.5, y[:, k].tolist(), prep.params[:, k].tolist())
        np.testing.assert_allclose(one, batch[:, k], rtol=1e-13, atol=1e-300)
    # the segment function stacks subjects state-major, as solve_ivp's flattened batch is laid out
    fun = _segment_rhs(compiled, prep.params)
    np.testing.assert_allclose(fun(2.5, y.ravel()), batch.ravel(), rtol=1e-13, atol=1e-300)


def _log_system() -> System:
    system = System()
    system.add_parameter(Parameter("k", 2.0, "1/h", "assumed"))
    system.add_state(State("x", "-k * x", 1.0, "mg"))
    system.add_state(State("z", "log(x)", 0.0, "mg"))
    return system


def test_domain_errors_give_what_numpy_gives_instead_of_raising() -> None:
    compiled = compile_system(_log_system())
    p = compiled.default_params(2)
    y = np.array([[-1.0, 2.0], [0.0, 0.0]])  # log of a negative amount: numpy gives nan, math.log raises
    with pytest.raises(ValueError):
        compiled.rhs_one(0.0, y[:, 0].tolist(), p[:, 0].tolist())
    with np.errstate(invalid="ignore"):
        out = _segment_rhs(compiled, p)(0.0, y.ravel()).reshape(2, 2)
        expected = compiled.rhs(0.0, y, p)
    assert np.isnan(out[1, 0]) and np.isnan(expected[1, 0])
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_allclose(out[~np.isnan(out)], expected[~np.isnan(expected)])


def test_large_batches_use_numpy_only(monkeypatch) -> None:
    compiled = compile_system(_log_system())
    n = SCALAR_MAX_SUBJECTS + 1
    p = compiled.default_params(n)

    def forbidden(*args):
        raise AssertionError("the float version is for small batches")

    monkeypatch.setattr(compiled, "rhs_one", forbidden)
    y = np.ones((2, n))
    np.testing.assert_allclose(_segment_rhs(compiled, p)(0.0, y.ravel()), compiled.rhs(0.0, y, p).ravel())
