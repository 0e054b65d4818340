"""The batched JIT solver agrees with the scipy reference path, keeps exact events, and never mixes subjects.

Agreement: every state and every assignment at every output time within REL of the reference (scipy LSODA,
rtol 1e-10, atol 1e-12), for values above FLOOR_FRACTION of that variable's peak; below it, within
REL * FLOOR_FRACTION * peak. The batched solver runs at its documented defaults (BATCHED_RTOL, BATCHED_ATOL).
"""

from __future__ import annotations

import ast
import math

import numpy as np
import pytest

from ketasim.model import expressions
from ketasim.model.build import prepare
from ketasim.model.system import Parameter, State, System
from ketasim.scenario import make_scenario
from ketasim.solver import DoseEvent, SolverOptions, compile_system, integrate, symbolic
from ketasim.solver.batched import BATCHED_ATOL, BATCHED_RTOL, integrate_batched, model_for, run_batch
from ketasim.timegrid import output_grid
from reference_scenarios import SCENARIOS

#: agreement asked of the batched solver at its default tolerances (docs/performance.md)
REL = 1e-4
#: values below this fraction of a variable's peak are compared in absolute terms (REL * fraction * peak)
FLOOR_FRACTION = 1e-2
REFERENCE = SolverOptions(rtol=1e-10, atol=1e-12, method="LSODA")



def _all_variables(prep, states: np.ndarray, times: np.ndarray) -> dict[str, np.ndarray]:
    compiled = prep.compiled
    out = {sid: states[:, i, :] for i, sid in enumerate(compiled.state_ids)}
    obs = [compiled.observe(float(t), states[k], prep.params) for k, t in enumerate(times)]
    for aid in compiled.assignment_ids:
        out[aid] = np.stack([np.asarray(o[aid], dtype=float) for o in obs])
    return out


def worst_disagreement(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> tuple[float, str]:
    """Largest |ours - ref| / max(|ref|, FLOOR_FRACTION * peak) over every variable, time and subject."""
    worst, where = 0.0, ""
    for var, b in ref.items():
        a = ours[var]
        peak = np.max(np.abs(b), axis=0, keepdims=True)
        scale = np.maximum(np.abs(b), FLOOR_FRACTION * peak)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(scale > 0, np.abs(a - b) / scale, np.abs(a - b))
        m = float(np.max(rel))
        if m > worst:
            worst, where = m, var
    return worst, where


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def prepared(request: pytest.FixtureRequest):
    return prepare(make_scenario(SCENARIOS[request.param]), n=1)


def test_agrees_with_reference_on_every_variable(prepared) -> None:
    prep = prepared
    times = output_grid(prep.t_start, prep.t_end, prep.dose_times)
    ref = integrate(prep.compiled, prep.params, prep.events, times, prep.t_start, REFERENCE)
    reference = _all_variables(prep, ref, times)
    # population runs: default tolerances with peak-relative error scaling
    model = model_for(prep.compiled)
    pop = run_batch(model, prep.params, prep.events, times, prep.t_start, rtol=BATCHED_RTOL, atol=BATCHED_ATOL,
                    peak_relative=True).store
    assert pop is not None
    worst, var = worst_disagreement(_all_variables(prep, pop, times), reference)
    assert worst <= REL, f"{var} differs from the reference by {worst:.2e} (relative, population mode)"
    # drop-in mode: plain relative error control, as scipy reads rtol/atol
    ours = integrate(prep.compiled, prep.params, prep.events, times, prep.t_start,
                     SolverOptions(method="batched", rtol=BATCHED_RTOL, atol=BATCHED_ATOL))
    worst, var = worst_disagreement(_all_variables(prep, ours, times), reference)
    assert worst <= REL, f"{var} differs from the reference by {worst:.2e} (relative, drop-in mode)"


def test_population_agrees_and_subjects_are_independent() -> None:
    """Different parameters per subject; each subject's result is the same alone or in any batch."""
    scenario = make_scenario(SCENARIOS["spravato_2w"])
    n = 4
    rng = np.random.default_rng(3)
    base = prepare(scenario, n=n)
    ids = base.compiled.param_ids
    overrides = {pid: base.params[ids.index(pid)] * np.exp(0.3 * rng.standard_normal(n))
                 for pid in ("esk_ka_nasal", "esk_Vc", "esk_kel", "g_fast_mood", "k_spine_elimination")}
    prep = prepare(scenario, n=n, param_overrides=overrides)
    times = np.linspace(prep.t_start, prep.t_end, 241)
    ref = integrate(prep.compiled, prep.params, prep.events, times, prep.t_start, REFERENCE)
    ours = integrate_batched(prep.compiled, prep.params, prep.events, times, prep.t_start)
    worst, _ = worst_disagreement({"y": ours}, {"y": ref})
    assert worst <= REL, f"states differ from the reference by {worst:.2e}"
    model = model_for(prep.compiled)
    together = run_batch(model, prep.params, prep.events, times, prep.t_start).store
    serial = run_batch(model, prep.params, prep.events, times, prep.t_start, threads=1).store
    assert together is not None and serial is not None
    np.testing.assert_array_equal(together, ours)
    np.testing.assert_array_equal(serial, ours)
    for j in range(n):
        alone = prepare(scenario, n=1, param_overrides={k: v[j : j + 1] for k, v in overrides.items()})
        one = integrate_batched(alone.compiled, alone.params, alone.events, times, alone.t_start)
        np.testing.assert_array_equal(one[:, :, 0], ours[:, :, j])


def test_events_of_other_subjects_do_not_change_a_subject() -> None:
    """A boundary that holds only another subject's dose (a different lag) leaves this subject untouched."""
    system = System()
    system.add_parameter(Parameter("k", 0.7, "1/h", "assumed"))
    system.add_parameter(Parameter("kb", 3.0, "1/h", "assumed"))
    system.add_state(State("A", "-k * A", 0.0, "mg"))
    system.add_state(State("B", "k * A - kb * B * B", 0.0, "mg"))
    compiled = compile_system(system)
    params = compiled.default_params(2)
    times = np.linspace(0.0, 10.0, 101)
    shared = [DoseEvent(1.0, "A", amount=np.array([5.0, 5.0]))]
    split = [DoseEvent(1.0, "A", amount=np.array([5.0, 0.0])), DoseEvent(2.345, "A", amount=np.array([0.0, 5.0]))]
    a = integrate_batched(compiled, params, shared, times, 0.0)
    b = integrate_batched(compiled, params, split, times, 0.0)
    np.testing.assert_array_equal(a[:, :, 0], b[:, :, 0])


def test_dose_at_an_output_time_is_seen_there_and_matches_closed_form() -> None:
    system = System()
    system.add_parameter(Parameter("k", 0.3, "1/h", "assumed"))
    system.add_state(State("A", "-k * A", 0.0, "mg"))
    compiled = compile_system(system)
    times = np.array([0.0, 1.0, 2.0, 5.0, 8.0])
    y = integrate(compiled, compiled.default_params(1), [DoseEvent(2.0, "A", amount=10.0)], times, 0.0,
                  SolverOptions(method="batched", rtol=1e-9, atol=1e-12))
    expected = np.where(times >= 2.0, 10.0 * np.exp(-0.3 * (times - 2.0)), 0.0)
    np.testing.assert_allclose(y[:, 0, 0], expected, rtol=1e-7, atol=1e-12)
    assert y[2, 0, 0] == 10.0  # the dose at exactly t = 2 h is in the value reported at 2 h


def test_infusion_matches_closed_form() -> None:
    system = System()
    system.add_parameter(Parameter("k", 0.5, "1/h", "assumed"))
    system.add_state(State("A", "-k * A", 0.0, "mg"))
    pid = system.add_input("A")
    compiled = compile_system(system)
    rate, t_inf = 6.0, 1.5
    events = [DoseEvent(0.0, "A", rate=rate), DoseEvent(t_inf, "A", rate=-rate)]
    times = np.linspace(0.0, 6.0, 61)
    y = integrate_batched(compiled, compiled.default_params(1), events, times, 0.0, rtol=1e-9, atol=1e-12)
    k = 0.5
    during = rate / k * (1 - np.exp(-k * times))
    end = rate / k * (1 - math.exp(-k * t_inf))
    expected = np.where(times <= t_inf, during, end * np.exp(-k * (times - t_inf)))
    np.testing.assert_allclose(y[:, 0, 0], expected, rtol=1e-7, atol=1e-10)
    assert pid == "rate_in_A"


def test_time_dependent_laws_match_closed_forms() -> None:
    """Laws that read `time` (the lane code then carries the time-derivative terms of the method)."""
    system = System()
    system.add_parameter(Parameter("k", 0.8, "1/h", "assumed"))
    system.add_parameter(Parameter("a", 2.0, "mg/h^2", "assumed"))
    system.add_state(State("ramp", "a * time", 0.0, "mg"))
    system.add_state(State("lag", "-k * lag + exp(-time)", 0.0, "mg"))
    compiled = compile_system(system)
    times = np.linspace(0.0, 5.0, 51)
    y = integrate_batched(compiled, compiled.default_params(3), [], times, 0.0, rtol=1e-9, atol=1e-12)
    k, a = 0.8, 2.0
    ramp = a * times**2 / 2
    # lag' = -k lag + e^-t, lag(0) = 0: (e^-t - e^-kt) / (k - 1)
    lag = (np.exp(-times) - np.exp(-k * times)) / (k - 1.0)
    for j in range(3):
        np.testing.assert_allclose(y[:, compiled.state_index("ramp"), j], ramp, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(y[:, compiled.state_index("lag"), j], lag, rtol=1e-7, atol=1e-11)


def test_generated_jacobian_matches_finite_differences() -> None:
    prep = prepare(make_scenario(SCENARIOS["spravato_2w"]), n=1)
    model = model_for(prep.compiled)
    module, s = model.module, model.structure
    rng = np.random.default_rng(0)
    y = np.abs(rng.normal(1.0, 0.3, len(s.order)))
    p = np.ascontiguousarray(prep.params[:, 0])
    d = np.empty(module.N_DERIVED)
    module._derived(p, d)
    jv = np.empty(len(s.col))
    module._jac(0.0, y, p, d, jv)
    f0 = np.empty_like(y)
    module._rhs(0.0, y, p, d, f0)
    for m in range(len(s.col)):
        row = int(np.searchsorted(s.row_ptr, m, side="right") - 1)
        col = int(s.col[m])
        h = 1e-7 * max(1.0, abs(y[col]))
        yp = y.copy()
        yp[col] += h
        ym = y.copy()
        ym[col] -= h
        fp, fm = np.empty_like(y), np.empty_like(y)
        module._rhs(0.0, yp, p, d, fp)
        module._rhs(0.0, ym, p, d, fm)
        fd = (fp[row] - fm[row]) / (2 * h)
        assert jv[m] == pytest.approx(fd, rel=1e-5, abs=1e-7 * max(1.0, abs(f0[row])))


@pytest.mark.parametrize(
    ("expr", "point"),
    [
        ("x ** 3 + 2 * x * y", {"x": 1.3, "y": -0.4}),
        ("exp(-x) / (1 + y * y)", {"x": 0.2, "y": 1.5}),
        ("log(x) + sqrt(y)", {"x": 2.0, "y": 3.0}),
        ("max(x - 1, 0) + min(y, 2)", {"x": 1.5, "y": 0.5}),
        ("where(x > y, x * y, x / y)", {"x": 0.5, "y": 2.0}),
        ("x ** y", {"x": 1.7, "y": 2.5}),
    ],
)
def test_symbolic_derivatives(expr: str, point: dict[str, float]) -> None:
    rename = {"x": "x", "y": "y"}
    env = {"math": math, "_pow": lambda a, b: a**b}
    f = eval(f"lambda x, y: {symbolic.scalar_code(expr, rename)}", env)
    tree = expressions.parse(expr)
    for var in ("x", "y"):
        d = symbolic.derivative(tree, var, {})
        code = "0.0" if d is None else symbolic.to_scalar(d, rename)
        g = eval(f"lambda x, y: {code}", env)
        h = 1e-6
        args_p = {**point, var: point[var] + h}
        args_m = {**point, var: point[var] - h}
        fd = (f(**args_p) - f(**args_m)) / (2 * h)
        assert g(**point) == pytest.approx(fd, rel=1e-6, abs=1e-9)
    assert isinstance(tree, ast.expr)
