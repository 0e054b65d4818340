"""Dose events are exact: every edge case of FACTS.md section 9, devices, lag times and the Spravato label.

Each case is checked against an answer worked out here (closed forms, the label schedule, or a fine-grid
run), never against a stored output of the code under test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ketasim.errors import KetasimError
from ketasim.model.build import administration_events, prepare
from ketasim.model.system import Parameter, State, System
from ketasim.pk.pkset import PKSet
from ketasim.pk.regimens import default_duration, parse_regimen
from ketasim.scenario import Administration, make_scenario
from ketasim.simulate import simulate
from ketasim.solver import DoseEvent, SolverOptions, compile_system, integrate
from ketasim.solver.events import infusion

TIGHT = SolverOptions(rtol=1e-11, atol=1e-14)
K = 0.3  # 1/h, elimination rate constant of the test compartment
DEVICE_H = 5 / 60  # 5 min between intranasal devices (label)
FRN, FRN_LATER, FGUT, DSW, KA_NASAL, KA_SW = 0.54, 0.62, 0.64, 0.53, 2.93, 1.45  # Perez-Ruixo 2021


def val(x: Any) -> float:
    """A one-subject event amount or rate as a float."""
    return float(np.asarray(x, float).reshape(-1)[0])


def one_compartment() -> tuple[Any, np.ndarray]:
    s = System()
    s.add_parameter(Parameter("k", K, "1/h", "test"))
    s.add_state(State("A", "-k * A", 0.0, "mg", compound="x"))
    s.add_input("A")
    compiled = compile_system(s)
    return compiled, compiled.default_params(1)


def run(events: list[DoseEvent], t: np.ndarray, t_start: float = 0.0) -> np.ndarray:
    compiled, p = one_compartment()
    return integrate(compiled, p, events, np.asarray(t, float), t_start, TIGHT)[:, 0, 0]


def bolus_cf(t: np.ndarray, t0: float, dose: float) -> np.ndarray:
    return np.where(t >= t0, dose * np.exp(-K * np.clip(t - t0, 0, None)), 0.0)


def infusion_cf(t: np.ndarray, t0: float, dur: float, dose: float) -> np.ndarray:
    """One-compartment amount for a zero-order infusion of `dose` over `dur` starting at t0."""
    rate = dose / dur
    s = np.clip(t - t0, 0, None)
    during = rate / K * (1 - np.exp(-K * np.minimum(s, dur)))
    return np.where(s <= dur, during, rate / K * (1 - np.exp(-K * dur)) * np.exp(-K * (s - dur)))


# --- events at t = 0 and at a non-zero start --------------------------------------------------------------


def test_event_at_t0_and_at_a_negative_start_time() -> None:
    t = np.array([-2.0, -1.0, 0.0, 1.0, 5.0])
    a = run([DoseEvent(-2.0, "A", amount=10.0), DoseEvent(0.0, "A", amount=20.0)], t, t_start=-2.0)
    np.testing.assert_allclose(a, bolus_cf(t, -2.0, 10.0) + bolus_cf(t, 0.0, 20.0), rtol=1e-9)
    assert a[0] == pytest.approx(10.0, rel=1e-12)  # the event at the start time is in the first output


def test_event_before_the_start_is_refused() -> None:
    with pytest.raises(KetasimError, match="before the simulation start"):
        run([DoseEvent(-1.0, "A", amount=1.0)], np.array([0.0, 1.0]), t_start=0.0)


def test_pretreatment_offset_gives_a_negative_start() -> None:
    """Naltrexone 45 min before esketamine: t_start = -0.75 h; each dose appears at its own time."""
    res = simulate(
        drug="esketamine",
        route="intranasal",
        dose="28 mg",
        duration="1 d",
        with_mechanism=False,
        pretreatments=[{"drug": "naltrexone", "dose": "50 mg", "route": "oral", "offset": "45 min"}],
    )
    t = res.times
    assert t[0] == pytest.approx(-0.75)
    gut = res["naltrexone_gut"][:, 0]
    assert gut[0] == pytest.approx(50.0, rel=1e-12)  # post-dose value at the start time
    before = t < -1e-9
    assert np.all(res["esketamine_nasal"][before] == 0) and np.all(res["esketamine_central"][before] == 0)
    i0 = int(np.argmin(np.abs(t)))
    assert t[i0] == 0.0
    assert res["esketamine_nasal"][i0, 0] == pytest.approx(28 * FRN, rel=1e-12)
    # naltrexone absorbed first-order from the gut since -0.75 h: closed form at every output time
    ka = 1.5
    np.testing.assert_allclose(gut, 50.0 * np.exp(-ka * (t + 0.75)), rtol=1e-6, atol=1e-9)


# --- coarse output grids ----------------------------------------------------------------------------------


def test_doses_between_coarse_output_times_are_not_missed() -> None:
    doses = [(3.7, 10.0), (10.1, 5.0), (20.55, 7.5), (23.999, 1.0)]
    events = [DoseEvent(t0, "A", amount=d) for t0, d in doses]
    coarse_t = np.array([0.0, 24.0, 48.0])
    fine_t = np.linspace(0.0, 48.0, 193)
    coarse, fine = run(events, coarse_t), run(events, fine_t)
    np.testing.assert_allclose(coarse, fine[np.isin(fine_t, coarse_t)], rtol=1e-9)
    expected = sum(bolus_cf(coarse_t, t0, d) for t0, d in doses)
    np.testing.assert_allclose(coarse, expected, rtol=1e-8)
    assert coarse[1] > 1.0


def test_real_model_coarse_grid_matches_fine_grid() -> None:
    scn = make_scenario(
        {
            "drug": "esketamine",
            "route": "intranasal",
            "dose": "56 mg",
            "regimen": "every 3.5 d x 3",
            "duration": "9 d",
        }
    )
    prep = prepare(scn, with_mechanism=False)
    coarse_t = np.array([0.0, 50.0, 100.0, 150.0, 216.0])
    fine_t = np.unique(np.concatenate([np.linspace(0, 216, 145), coarse_t]))
    opts = SolverOptions(rtol=1e-10, atol=1e-12)
    coarse = integrate(prep.compiled, prep.params, prep.events, coarse_t, 0.0, opts)
    fine = integrate(prep.compiled, prep.params, prep.events, fine_t, 0.0, opts)
    np.testing.assert_allclose(coarse, fine[np.isin(fine_t, coarse_t)], rtol=1e-7, atol=1e-10)


# --- `time >= t`: an output at a dose time reports the post-dose value ------------------------------------


def test_output_at_dose_time_is_post_dose() -> None:
    t = np.array([0.0, 5.0, 5.0 + 1e-6, 10.0])
    a = run([DoseEvent(5.0, "A", amount=40.0)], t)
    assert a[0] == 0.0
    assert a[1] == pytest.approx(40.0, rel=1e-12)
    np.testing.assert_allclose(a, bolus_cf(t, 5.0, 40.0), rtol=1e-9)


def test_output_at_dose_time_with_floating_point_noise() -> None:
    """A dose at 0.1 + 0.2 h is 'at' an output time of 0.3 h; a time well before it is pre-dose."""
    t = np.array([0.3 - 1e-6, 0.3, 1.0])
    a = run([DoseEvent(0.1 + 0.2, "A", amount=8.0)], t)
    assert a[0] == 0.0
    assert a[1] == pytest.approx(8.0, rel=1e-9)


def test_simulate_reports_post_dose_values_at_dose_times() -> None:
    times = np.array([0.0, 1.0, 24.0 - 1e-7, 24.0, 25.0, 48.0 - 1e-7, 48.0, 72.0])
    res = simulate(
        drug="esketamine",
        route="iv",
        dose="28 mg",
        regimen="every 1 d x 3",
        duration="3 d",
        times=times,
        with_mechanism=False,
    )
    central = res["esketamine_central"][:, 0]
    assert central[0] == pytest.approx(28.0, rel=1e-12)
    assert central[3] - central[2] == pytest.approx(28.0, rel=1e-5)
    assert central[6] - central[5] == pytest.approx(28.0, rel=1e-5)


# --- non-integer intervals --------------------------------------------------------------------------------


def test_non_integer_interval_gives_exactly_n_doses() -> None:
    doses = parse_regimen("every 3.5 d x 8", 10_000.0)
    assert [d.time for d in doses] == [k * 84.0 for k in range(8)]
    assert default_duration("every 3.5 d x 8") == pytest.approx(7 * 84.0 + 168.0)
    for duration in ("30 d", "60 d"):  # the count does not depend on how long we look
        prep = prepare(
            make_scenario(
                {
                    "drug": "esketamine",
                    "route": "iv",
                    "dose": "28 mg",
                    "regimen": "every 3.5 d x 8",
                    "duration": duration,
                }
            ),
            with_mechanism=False,
        )
        assert sorted(e.time for e in prep.events) == [k * 84.0 for k in range(8)]
        assert prep.doses_mg["esketamine"] == pytest.approx(8 * 28.0)


def test_short_interval_never_doubles_a_dose() -> None:
    """Every 0.1 h x 30: 30 events at k * 0.1 (not accumulated), delivering exactly 30 doses."""
    doses = parse_regimen("every 0.1 h x 30", 100.0)
    times = [d.time for d in doses]
    assert times == [k * 0.1 for k in range(30)]
    assert len(set(np.round(times, 9))) == 30
    t = np.unique(np.concatenate([np.linspace(0, 4, 81), times]))
    a = run([DoseEvent(x, "A", amount=1.0) for x in times], t)
    expected = sum(bolus_cf(t, x, 1.0) for x in times)
    np.testing.assert_allclose(a, expected, rtol=1e-8)


# --- repeated and overlapping infusions -------------------------------------------------------------------


def test_overlapping_infusions_add_their_rates() -> None:
    specs = [(0.0, 2.0, 30.0), (1.0, 3.0, 12.0), (1.0, 3.0, 12.0), (2.0, 0.5, 4.0), (6.0, 1.0, 10.0)]
    events = [ev for t0, dur, d in specs for ev in infusion(t0, dur, "A", d)]
    t = np.unique(np.concatenate([np.linspace(0, 12, 97), [1.0, 2.0, 2.5, 4.0, 6.0, 7.0]]))
    a = run(events, t)
    expected = sum(infusion_cf(t, t0, dur, d) for t0, dur, d in specs)
    np.testing.assert_allclose(a, expected, rtol=1e-8, atol=1e-12)


def test_overlapping_infusions_in_the_real_model() -> None:
    """Ketamine 0.5 mg/kg over 40 min every 20 min x 3 = the sum of three shifted single infusions."""
    base = {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "over": "40 min", "duration": "12 h"}
    rep = prepare(make_scenario({**base, "regimen": "every 20 min x 3"}), with_mechanism=False)
    single = prepare(make_scenario(base), with_mechanism=False)
    starts = [ev for ev in rep.events if np.all(np.asarray(ev.rate) > 0)]
    assert len(starts) == 6  # 3 doses x 2 enantiomers, each an infusion
    t = np.unique(np.concatenate([np.linspace(0, 12, 121), [1 / 3, 2 / 3, 1.0, 4 / 3]]))
    y_rep = integrate(rep.compiled, rep.params, rep.events, t, 0.0, TIGHT)
    total = np.zeros_like(y_rep)
    for t0 in (0.0, 1 / 3, 2 / 3):
        shifted = [DoseEvent(e.time + t0, e.state, e.amount, e.rate) for e in single.events]
        total += integrate(single.compiled, single.params, shifted, t, 0.0, TIGHT)
    np.testing.assert_allclose(y_rep, total, rtol=1e-7, atol=1e-10)


def test_infusion_input_returns_to_zero() -> None:
    """After many overlapping infusions have ended, the amount decays exactly first-order."""
    events = [ev for k in range(20) for ev in infusion(k * 0.1, 0.7, "A", 1.0 / 3.0)]
    t = np.array([3.0, 4.0, 10.0])
    a = run(events, t)
    np.testing.assert_allclose(a[1:] / a[0], np.exp(-K * (t[1:] - t[0])), rtol=1e-9)


# --- bioavailability combined with an infusion duration; intranasal devices --------------------------------


def _intranasal_closed_form(t: np.ndarray, device_mg: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Nasal and swallowed depot amounts for devices given 5 min apart (Perez-Ruixo structure)."""
    nasal, swallowed = np.zeros_like(t), np.zeros_like(t)
    for k, mg in enumerate(device_mg):
        t0 = k * DEVICE_H
        frn = FRN * (FRN_LATER if k > 0 else 1.0)
        s = np.clip(t - t0, 0, None)
        nasal += np.where(t >= t0, mg * frn * np.exp(-KA_NASAL * s), 0.0)
        rate = mg * (1 - frn) * FGUT / DSW  # swallowed part x gut bioavailability, delivered over Dsw
        rise = rate / KA_SW * (1 - np.exp(-KA_SW * np.minimum(s, DSW)))
        fall = rate / KA_SW * (1 - np.exp(-KA_SW * DSW)) * np.exp(-KA_SW * (s - DSW))
        swallowed += np.where(s <= DSW, rise, fall)
    return nasal, swallowed


@pytest.mark.parametrize(
    ("dose", "devices"),
    [
        ("28 mg", [28.0]),
        ("56 mg", [28.0, 28.0]),
        ("84 mg", [28.0, 28.0, 28.0]),
        ("70 mg", [28.0, 28.0, 14.0]),
    ],
)
def test_intranasal_devices_bioavailability_and_swallowed_infusion(dose: str, devices: list[float]) -> None:
    prep = prepare(
        make_scenario({"drug": "esketamine", "route": "intranasal", "dose": dose, "duration": "6 h"}),
        with_mechanism=False,
    )
    # the event list itself: one nasal bolus, one swallowed infusion and one presystemic loss per device
    nasal_ev = sorted((e.time, val(e.amount)) for e in prep.events if e.state == "esketamine_nasal")
    expected_nasal = [(k * DEVICE_H, mg * FRN * (FRN_LATER if k else 1.0)) for k, mg in enumerate(devices)]
    assert [x[0] for x in nasal_ev] == pytest.approx([x[0] for x in expected_nasal], abs=1e-12)
    assert [x[1] for x in nasal_ev] == pytest.approx([x[1] for x in expected_nasal], rel=1e-12)
    lost = sum(val(e.amount) for e in prep.events if e.state == "esketamine_eliminated")
    frns = [FRN * (FRN_LATER if k else 1.0) for k in range(len(devices))]
    assert lost == pytest.approx(
        sum(mg * (1 - f) * (1 - FGUT) for mg, f in zip(devices, frns, strict=True)), rel=1e-12
    )
    # and the depots follow the closed forms (the swallowed depot only gains from its zero-order input)
    t = np.unique(np.concatenate([np.linspace(0, 6, 241), [DSW, DEVICE_H + DSW, 2 * DEVICE_H + DSW]]))
    y = integrate(prep.compiled, prep.params, prep.events, t, 0.0, TIGHT)
    nasal, swallowed = _intranasal_closed_form(t, devices)
    np.testing.assert_allclose(
        y[:, prep.compiled.state_index("esketamine_nasal"), 0], nasal, rtol=1e-8, atol=1e-12
    )
    np.testing.assert_allclose(
        y[:, prep.compiled.state_index("esketamine_swallowed"), 0], swallowed, rtol=1e-8, atol=1e-12
    )


def test_oral_bioavailability_over_zero_order_duration() -> None:
    """Esketamine oral solution: Fgut x dose into the oral depot over Dpo = 0.32 h."""
    prep = prepare(
        make_scenario({"drug": "esketamine", "route": "oral", "dose": "50 mg", "duration": "6 h"}),
        with_mechanism=False,
    )
    into = [e for e in prep.events if e.state == "esketamine_oral"]
    assert [e.time for e in into] == pytest.approx([0.0, 0.32])
    assert val(into[0].rate) == pytest.approx(50 * FGUT / 0.32, rel=1e-12)
    assert val(into[1].rate) == pytest.approx(-50 * FGUT / 0.32, rel=1e-12)


# --- a lag time combined with an infusion -----------------------------------------------------------------

LAG_RECORD: dict[str, Any] = {
    "reference_weight": {"value": 70, "unit": "kg", "source": "test"},
    "parameters": {
        "t_cl": {"value": 5.0, "unit": "L/h", "source": "test"},
        "t_v": {"value": 50.0, "unit": "L", "source": "test"},
        "t_lag": {"value": 0.5, "unit": "h", "source": "test"},
        "t_dur": {"value": 1.0, "unit": "h", "source": "test"},
        "t_f": {"value": 0.8, "unit": "1", "source": "test"},
    },
    "compartments": {"lanicemine_central": {"compound": "lanicemine", "volume": "t_v", "plasma": True}},
    "flows": [{"from": "lanicemine_central", "to": None, "cl": "t_cl"}],
    "routes": {
        "slow": {
            "lag": "t_lag",
            "parts": {"lanicemine": [{"target": "lanicemine_central", "fraction": "t_f", "over": "t_dur"}]},
        }
    },
}


def _lag_events(values: dict[str, np.ndarray], n: int) -> tuple[PKSet, list[DoseEvent]]:
    pkset = PKSet("test_lag", LAG_RECORD)
    adm = Administration(drug="lanicemine", route="slow", dose="100 mg")
    events, times, given = administration_events(
        adm, pkset, values, np.full(n, 70.0), "human", np.full(n, 40.0), 0.0, 24.0, True
    )
    assert times == [0.0] and float(np.max(given["lanicemine"])) == 100.0
    return pkset, events


def test_lag_time_with_infusion() -> None:
    pkset = PKSet("test_lag", LAG_RECORD)
    values = pkset.individual_parameters({"weight": np.array([70.0])})
    _, events = _lag_events(values, 1)
    system = System()
    pkset.add_to(system)
    compiled = compile_system(system)
    t = np.unique(np.concatenate([np.linspace(0, 12, 97), [0.25, 0.5, 1.5]]))
    y = integrate(compiled, compiled.default_params(1), events, t, 0.0, TIGHT)
    central = y[:, compiled.state_index("lanicemine_central"), 0]
    k = 5.0 / 50.0
    rate, s = 80.0, np.clip(t - 0.5, 0, None)
    expected = np.where(
        s <= 1.0, rate / k * (1 - np.exp(-k * s)), rate / k * (1 - np.exp(-k * 1.0)) * np.exp(-k * (s - 1.0))
    )
    np.testing.assert_allclose(central, expected, rtol=1e-8, atol=1e-12)
    assert np.all(np.abs(central[t <= 0.5]) < 1e-12)
    # nothing of the dose, absorbed or lost, appears before the lag has passed
    eliminated = y[:, compiled.state_index("lanicemine_eliminated"), 0]
    assert np.all(eliminated[t < 0.5] == 0)
    np.testing.assert_allclose(
        central + eliminated,
        np.clip(rate * s, 0, 80.0) + np.where(t >= 0.5, 20.0, 0.0),
        rtol=1e-8,
        atol=1e-10,
    )


def test_lag_time_and_duration_per_subject() -> None:
    """Two subjects with different lags and infusion durations each get their own timing."""
    pkset = PKSet("test_lag", LAG_RECORD)
    values = pkset.individual_parameters({"weight": np.array([70.0, 70.0])})
    values["t_lag"] = np.array([0.25, 1.0])
    values["t_dur"] = np.array([0.5, 2.0])
    _, events = _lag_events(values, 2)
    system = System()
    pkset.add_to(system)
    compiled = compile_system(system)
    p = compiled.default_params(2)
    t = np.linspace(0, 8, 65)
    y = integrate(compiled, p, events, t, 0.0, TIGHT)[:, compiled.state_index("lanicemine_central"), :]
    k = 0.1
    for j, (lag, dur) in enumerate([(0.25, 0.5), (1.0, 2.0)]):
        s = np.clip(t - lag, 0, None)
        rate = 80.0 / dur
        expected = np.where(
            s <= dur,
            rate / k * (1 - np.exp(-k * s)),
            rate / k * (1 - np.exp(-k * dur)) * np.exp(-k * (s - dur)),
        )
        np.testing.assert_allclose(y[:, j], expected, rtol=1e-8, atol=1e-12, err_msg=f"subject {j}")


# --- the Spravato label schedule --------------------------------------------------------------------------


def _label_days(weekly_from_week_9: bool, weeks: int = 12) -> list[float]:
    """Spravato label: weeks 1-4 twice weekly (days 0, 3 of each week); weeks 5-8 weekly; then every 2 weeks
    (or weekly)."""
    days = [7.0 * w + d for w in range(4) for d in (0, 3)]
    days += [7.0 * w for w in range(4, 8)]
    step = 1 if weekly_from_week_9 else 2
    days += [7.0 * w for w in range(8, weeks, step)]
    return days


@pytest.mark.parametrize("name", ["spravato", "spravato-weekly"])
def test_spravato_dose_times(name: str) -> None:
    doses = parse_regimen(name, 12 * 168.0)
    expected = [24.0 * d for d in _label_days(name == "spravato-weekly")]
    assert [d.time for d in doses] == pytest.approx(expected, abs=1e-9)
    assert [d.which for d in doses] == ["first"] + ["maintenance"] * (len(expected) - 1)
    longer = parse_regimen(name, 24 * 168.0)
    assert [d.time for d in longer] == pytest.approx(
        [24.0 * d for d in _label_days(name == "spravato-weekly", 24)]
    )


def _nasal_fraction_given(mg_devices: list[float]) -> float:
    return sum(mg * FRN * (FRN_LATER if k else 1.0) for k, mg in enumerate(mg_devices))


@pytest.mark.parametrize(("age", "first_mg"), [(45.0, 56.0), (64.9, 56.0), (65.0, 28.0), (80.0, 28.0)])
def test_spravato_dose_amounts(age: float, first_mg: float) -> None:
    prep = prepare(
        make_scenario(
            {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "regimen": "spravato", "age": age}
        ),
        with_mechanism=False,
    )
    days = _label_days(False)
    assert prep.dose_times == pytest.approx([24.0 * d for d in days])
    assert prep.t_end == pytest.approx(12 * 168.0)
    assert float(prep.doses_mg["esketamine"][0]) == pytest.approx(first_mg + 84.0 * (len(days) - 1))
    nasal = [(e.time, val(e.amount)) for e in prep.events if e.state == "esketamine_nasal"]
    assert len(nasal) == int(first_mg // 28) + 3 * (len(days) - 1)
    for i, t0 in enumerate(prep.dose_times):
        devices = [28.0] * int(first_mg // 28) if i == 0 else [28.0, 28.0, 28.0]
        got = sorted(x for x in nasal if t0 - 1e-9 <= x[0] < t0 + 1.0)
        assert [x[0] - t0 for x in got] == pytest.approx(
            [k * DEVICE_H for k in range(len(devices))], abs=1e-9
        )
        assert sum(x[1] for x in got) == pytest.approx(_nasal_fraction_given(devices), rel=1e-12)


def test_spravato_population_first_dose_by_age() -> None:
    """One batch: the subject aged 70 starts on 28 mg, the one aged 40 on 56 mg; both continue on 56 mg."""
    prep = prepare(
        make_scenario(
            {
                "drug": "esketamine",
                "route": "intranasal",
                "dose": "56 mg",
                "regimen": "spravato-weekly",
                "duration": "10 w",
            }
        ),
        n=2,
        covariates={"age": np.array([40.0, 70.0])},
        with_mechanism=False,
    )
    n_doses = len(_label_days(True, 10))
    np.testing.assert_allclose(prep.doses_mg["esketamine"], [56.0 * n_doses, 28.0 + 56.0 * (n_doses - 1)])
    first = [e for e in prep.events if e.state == "esketamine_nasal" and e.time < 1.0]
    per_subject = np.sum([np.asarray(e.amount) for e in first], axis=0)
    np.testing.assert_allclose(
        per_subject, [_nasal_fraction_given([28.0, 28.0]), _nasal_fraction_given([28.0])]
    )


def test_explicit_dose_event_list() -> None:
    prep = prepare(
        make_scenario(
            {
                "drug": "esketamine",
                "route": "iv",
                "duration": "3 d",
                "events": [
                    {"time": "0 h", "dose": "10 mg"},
                    {"time": "36 h", "dose": "20 mg"},
                    {"time": "1.5 d", "dose": "5 mg"},
                ],
            }
        ),
        with_mechanism=False,
    )
    got = sorted((e.time, val(e.amount)) for e in prep.events)
    assert got == [(0.0, 10.0), (36.0, 5.0), (36.0, 20.0)]
