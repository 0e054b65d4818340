"""The lane (SIMD) functions compute what the scalar model functions compute, lane by lane, and a subject's result
never depends on the lane, group or batch it lands in."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest

from ketasim.model.build import prepare
from ketasim.model.reporting import summary_variables
from ketasim.scenario import make_scenario
from ketasim.solver.batched import model_for, run_batch
from ketasim.solver.batched.jit import JitModel, observed_closure
from ketasim.solver.batched.lanes import GROUP_SUBJECTS, INT_SUFFIX, LANES

SCENARIO = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "regimen": "spravato", "duration": "5d"}
#: lane code differs from scalar code only by rounding (fused multiply-adds, vmath's exp/log/pow within 2 ulp)
LANE_REL = 1e-11


@pytest.fixture(scope="module")
def lane_setup():
    """The model, LANES subjects with different parameters, and random positive states, packed into a lane W."""
    rng = np.random.default_rng(11)
    base = prepare(make_scenario(SCENARIO), n=LANES)
    ids = base.compiled.param_ids
    overrides = {pid: base.params[ids.index(pid)] * np.exp(0.3 * rng.standard_normal(LANES))
                 for pid in ("esk_ka_nasal", "esk_kel", "k_bdnf", "k_mtorc1", "g_fast_mood")}
    prep = prepare(make_scenario(SCENARIO), n=LANES, param_overrides=overrides)
    model = model_for(prep.compiled)
    m = model.module
    n = len(prep.compiled.state_ids)
    y = np.abs(rng.normal(1.0, 0.5, (LANES, n)))
    p = np.ascontiguousarray(prep.params.T)
    d = np.zeros((LANES, m.N_DERIVED))
    w = np.zeros(m.W_SIZE)
    for lane in range(LANES):
        m._derived(p[lane], d[lane])
        w[m.O_Y + np.arange(n) * LANES + lane] = y[lane]
        w[m.O_P + np.arange(p.shape[1]) * LANES + lane] = p[lane]
        w[m.O_D + np.arange(d.shape[1]) * LANES + lane] = d[lane]
    return model, y, p, d, w


def _lane(w: np.ndarray, offset: int, rows: int, lane: int) -> np.ndarray:
    return w[offset + np.arange(rows) * LANES + lane]


@pytest.mark.parametrize("suffix", ["", INT_SUFFIX])
def test_lane_rhs_and_jacobian_match_the_scalar_functions(lane_setup, suffix: str) -> None:
    """Both versions of the lane functions: general powers, and integer powers (the model's Hill coefficients)."""
    model, y, p, d, w = lane_setup
    m, n, nnz = model.module, y.shape[1], len(model.structure.col)
    w = w.copy()
    getattr(m, "_v_point" + suffix)(w)
    for lane in range(LANES):
        f = np.empty(n)
        m._rhs(0.0, y[lane], p[lane], d[lane], f)
        np.testing.assert_allclose(_lane(w, m.O_F0, n, lane), f, rtol=LANE_REL, atol=1e-14)
        jv_full = np.empty(nnz)
        m._jac(0.0, y[lane], p[lane], d[lane], jv_full)
        jv_const = np.full(nnz, np.nan)
        m._jac_const(p[lane], d[lane], jv_const)
        # the lane Jacobian writes exactly the entries the per-segment constant part leaves out
        var = np.isnan(jv_const)
        np.testing.assert_allclose(_lane(w, m.O_JV, nnz, lane)[var], jv_full[var], rtol=LANE_REL, atol=1e-14)
        np.testing.assert_allclose(jv_const[~var], jv_full[~var], rtol=0, atol=0)


def test_lane_factor_and_solves_invert_the_newton_matrix(lane_setup) -> None:
    """(c I - J) x = b solved per lane by the generated block LU agrees with a dense numpy solve."""
    model, y, p, d, w = lane_setup
    m, s, n, nnz = model.module, model.structure, y.shape[1], len(model.structure.col)
    w = w.copy()
    rng = np.random.default_rng(12)
    c = np.array([1e-3, 0.1, 1.0, 7.0, 40.0, 300.0, 5e3, 1e6])[:LANES]
    b = rng.normal(size=(LANES, n))
    jvs = []
    for lane in range(LANES):
        jv = np.empty(nnz)
        m._jac(0.0, y[lane], p[lane], d[lane], jv)
        jvs.append(jv)
        w[m.O_JV + np.arange(nnz) * LANES + lane] = jv
        w[m.O_CF + lane] = c[lane]
        w[m.O_K1 + np.arange(n) * LANES + lane] = b[lane]
    m._v_factor_solve(w)
    for lane in range(LANES):
        dense = np.zeros((n, n))
        for row in range(n):
            for k in range(int(s.row_ptr[row]), int(s.row_ptr[row + 1])):
                dense[row, int(s.col[k])] = jvs[lane][k]
        x = np.linalg.solve(c[lane] * np.eye(n) - dense, b[lane])
        assert w[m.O_OK + lane] == 1.0
        np.testing.assert_allclose(_lane(w, m.O_K1, n, lane), x, rtol=1e-9, atol=1e-12 * np.max(np.abs(x)))


def test_a_subject_gives_the_same_bits_in_any_lane_group_or_batch() -> None:
    """Copies of one subject scattered over lanes and groups among other subjects: identical results."""
    n = GROUP_SUBJECTS + 2 * LANES + 3
    rng = np.random.default_rng(13)
    base = prepare(make_scenario(SCENARIO), n=n)
    ids = base.compiled.param_ids
    overrides = {pid: base.params[ids.index(pid)] * np.exp(0.3 * rng.standard_normal(n))
                 for pid in ("esk_ka_nasal", "esk_Vc", "k_spine_elimination")}
    copies = [0, 3, LANES + 5, GROUP_SUBJECTS - 1, GROUP_SUBJECTS + 6, n - 1]
    for pid in overrides:
        overrides[pid][copies] = overrides[pid][0]
    prep = prepare(make_scenario(SCENARIO), n=n, param_overrides=overrides)
    model = model_for(prep.compiled)
    times = np.linspace(prep.t_start, prep.t_end, 97)
    out = run_batch(model, prep.params, prep.events, times, prep.t_start, variables=["esketamine", "madrs"])
    assert out.store is not None
    for j in copies[1:]:
        np.testing.assert_array_equal(out.store[:, :, j], out.store[:, :, 0])
        assert out.steps[j] == out.steps[0]
    one = prepare(make_scenario(SCENARIO), n=1, param_overrides={k: v[:1] for k, v in overrides.items()})
    alone = run_batch(model_for(one.compiled), one.params, one.events, times, one.t_start,
                      variables=["esketamine", "madrs"])
    assert alone.store is not None
    np.testing.assert_array_equal(alone.store[:, :, 0], out.store[:, :, 0])
    # and the other subjects really differ (the copies are not equal by accident)
    assert not np.array_equal(out.store[:, :, 1], out.store[:, :, 0])


def _without_integer_kernel(model: JitModel) -> JitModel:
    """The same model whose module offers only the general kernel."""
    names = {k: getattr(model.module, k) for k in dir(model.module) if k != "run_group" + INT_SUFFIX}
    return dataclasses.replace(model, module=types.SimpleNamespace(**names))


def test_integer_power_kernel_gives_the_general_kernels_bits() -> None:
    """The model's Hill coefficients are integers, so run_batch takes the integer-power kernel; the general one
    (exp(n log x) for other exponents) gives identical results. A subject with a fractional coefficient sends
    the batch to the general kernel, and nobody else's result changes."""
    n = LANES + 3
    base = prepare(make_scenario(SCENARIO), n=n)
    times = np.linspace(base.t_start, base.t_end, 61)
    variables = ["glutamate", "dissociation", "madrs"]
    model = model_for(base.compiled)
    assert hasattr(model.module, "run_group" + INT_SUFFIX)
    fast = run_batch(model, base.params, base.events, times, base.t_start, variables=variables)
    general = run_batch(_without_integer_kernel(model), base.params, base.events, times, base.t_start,
                        variables=variables)
    assert fast.store is not None and general.store is not None
    np.testing.assert_array_equal(fast.store, general.store)
    np.testing.assert_array_equal(fast.steps, general.steps)
    ids = base.compiled.param_ids
    for pid in ("n_pyramidal_block", "n_cadss"):  # a step exponent, an output-only exponent
        hill = base.params[ids.index(pid)].copy()
        hill[4] = hill[4] - 0.5
        mixed = prepare(make_scenario(SCENARIO), n=n, param_overrides={pid: hill})
        out = run_batch(model_for(mixed.compiled), mixed.params, mixed.events, times, mixed.t_start,
                        variables=variables)
        assert out.store is not None
        others = np.arange(n) != 4
        np.testing.assert_array_equal(out.store[:, :, others], fast.store[:, :, others])
        assert np.all(np.isfinite(out.store[:, :, 4]))
        assert not np.array_equal(out.store[:, :, 4], fast.store[:, :, 4])


def test_segment_constants_are_marked_by_the_parameters_they_read() -> None:
    """An infusion switch changes a rate parameter, which no segment constant reads: the kernel then updates only
    that rate (PARAM_FEEDS false). Parameters the constants read (volumes, Hill exponents) are marked, so that a
    change of one would recompute them; the summary's interpolated states are the ones its variables read."""
    prep = prepare(make_scenario(SCENARIO), n=2)
    model = model_for(prep.compiled)
    feeds = dict(zip(prep.compiled.param_ids, model.module.PARAM_FEEDS, strict=True))
    rates = [p for p in feeds if p.startswith("rate_in_")]
    assert rates and not any(feeds[p] for p in rates)
    assert feeds["esk_Vc"] and feeds["n_pyramidal_block"]
    assert sum(feeds.values()) > len(feeds) // 2
    # the states a population summary interpolates: every one a summary variable reads, no other
    states = observed_closure(prep.compiled.system, summary_variables(prep.compiled.system))[1]
    assert sorted(model.module.FIXED_DENSE) == sorted(int(model.position[prep.compiled.state_ids.index(s)])
                                                     for s in states)
