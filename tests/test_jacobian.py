"""The exact Jacobian that scipy's implicit methods get on the reference path (solver/jacobian.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate._ivp.bdf as scipy_bdf
import scipy.integrate._ivp.radau as scipy_radau

from ketasim.model.build import prepare
from ketasim.scenario import make_scenario
from ketasim.solver import SolverOptions, integrate
from ketasim.solver.jacobian import numpy_jacobian, structural_jacobian
from reference_scenarios import SCENARIOS


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def prepared(request: pytest.FixtureRequest):
    return prepare(make_scenario(SCENARIOS[request.param]), n=3)


def _random_state(prep, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.abs(rng.normal(1.0, 0.4, (len(prep.compiled.state_ids), prep.n))) + 0.05


def test_entries_match_central_differences_and_pattern_holds_every_dependency(prepared) -> None:
    compiled = prepared.compiled
    jac = numpy_jacobian(compiled)
    pattern = structural_jacobian(compiled)
    p = prepared.params
    for seed in (0, 1):
        y = _random_state(prepared, seed)
        entries = jac.entries(3.0, y, p)
        full = np.zeros((len(compiled.state_ids),) * 2 + (prepared.n,))
        full[jac.rows, jac.cols] = entries
        f0 = compiled.rhs(3.0, y, p)
        for col in range(len(compiled.state_ids)):
            h = 1e-6 * np.maximum(1.0, np.abs(y[col]))
            yp, ym = y.copy(), y.copy()
            yp[col] += h
            ym[col] -= h
            fd = (compiled.rhs(3.0, yp, p) - compiled.rhs(3.0, ym, p)) / (2 * h)
            # relative agreement, with an absolute floor at the round-off level of the central difference
            allowed = 1e-5 * np.abs(fd) + 1e-7 * np.maximum(1.0, np.abs(f0))
            assert np.all(np.abs(full[:, col] - fd) <= allowed), compiled.state_ids[col]
            # a dependency outside the structural pattern would be a wrong sparsity for the solvers
            outside = ~pattern[:, col]
            assert np.all(np.abs(fd[outside]) <= 1e-9 * np.maximum(1.0, np.abs(f0[outside])))


def test_sparse_and_dense_forms_are_the_same_matrix(prepared) -> None:
    compiled = prepared.compiled
    jac = numpy_jacobian(compiled)
    n_states, n = len(compiled.state_ids), prepared.n
    flat = _random_state(prepared, 2).ravel()
    sparse = jac.for_batch(n_states, n, prepared.params, sparse=True)(1.0, flat)
    dense = jac.for_batch(n_states, n, prepared.params, sparse=False)(1.0, flat)
    np.testing.assert_array_equal(sparse.toarray(), dense)  # type: ignore[attr-defined]
    # subject k's block sits at rows/columns state * n + k and no entry couples two subjects
    y = flat.reshape(n_states, n)
    for k in range(n):
        block = dense[k::n, k::n]
        one = np.zeros((n_states, n_states))
        one[jac.rows, jac.cols] = jac.entries(1.0, y[:, k:k + 1], prepared.params[:, k:k + 1])[:, 0]
        np.testing.assert_array_equal(block, one)
    coupling = dense.copy()
    for k in range(n):
        coupling[k::n, k::n] = 0.0
    assert not np.any(coupling)


@pytest.mark.parametrize("method", ["BDF", "Radau", "LSODA"])
def test_implicit_methods_never_fall_back_to_finite_differences(monkeypatch, method: str) -> None:
    """BDF/Radau's finite-difference Jacobian overflowed on long segments (factor x10 per refresh for states that
    nothing reads); with the exact Jacobian it is never called. LSODA has no Python fallback to patch: its
    result must agree with BDF's."""

    def forbidden(*args, **kwargs):
        raise AssertionError("finite-difference Jacobian used")

    monkeypatch.setattr(scipy_bdf, "num_jac", forbidden)
    monkeypatch.setattr(scipy_radau, "num_jac", forbidden)
    scenario = make_scenario({"drug": "esketamine", "route": "intranasal", "dose": "56 mg", "duration": "8w"})
    prep = prepare(scenario, n=2)
    times = np.array([0.0, 1.0, 24.0, 24.0 * 7 * 8])
    y = integrate(prep.compiled, prep.params, prep.events, times, options=SolverOptions(method=method))
    ref = integrate(prep.compiled, prep.params, prep.events, times,
                    options=SolverOptions(rtol=1e-10, atol=1e-12, method="LSODA"))
    # relative to each value, or to 0.1% of the variable's peak for values below it
    scale = np.maximum(np.abs(ref), 1e-3 * np.max(np.abs(ref), axis=0, keepdims=True))
    assert np.max(np.abs(y - ref) / np.where(scale > 0, scale, 1.0)) < 1e-5
