"""Mass balance of every packaged PK set: what was given = what is in the body + what was eliminated.

Amounts are compared in mmol (mg / molar mass of each state's compound), because metabolites are formed with
the molar-mass ratio of product to parent. Brain effect states are concentrations without mass and are
excluded; the `icv` route (a dose placed in the brain effect compartment) is exempt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ketasim.model.build import prepare
from ketasim.pk import catalog
from ketasim.scenario import make_scenario
from ketasim.solver import SolverOptions, integrate

REL = 1e-6
#: default body weights of the issue (kg), used to turn mg/kg into mg independently of ketasim
WEIGHT = {"human": 70.0, "rat": 0.3, "mouse": 0.025}
#: which compounds a dose of each drug contains, and in which share (racemic ketamine is half S, half R)
COMPONENTS = {
    "esketamine": {"esketamine": 1.0},
    "arketamine": {"arketamine": 1.0},
    "ketamine": {"esketamine": 0.5, "arketamine": 0.5},
    "hnk_2r6r": {"hnk_2r6r": 1.0},
    "lanicemine": {"lanicemine": 1.0},
    "naltrexone": {"naltrexone": 1.0},
    "rapamycin": {"rapamycin": 1.0},
    "nbqx": {"nbqx": 1.0},
}

CASES: list[dict[str, Any]] = [
    {"drug": "esketamine", "route": "intranasal", "dose": "84 mg"},
    {
        "drug": "esketamine",
        "route": "intranasal",
        "events": [{"time": "0 h", "dose": "56 mg"}, {"time": "3 d", "dose": "84 mg"}],
        "duration": "6 d",
    },
    {"drug": "esketamine", "route": "iv", "dose": "28 mg", "over": "40 min"},
    {"drug": "esketamine", "route": "iv", "dose": "0.2 mg/kg"},
    {"drug": "esketamine", "route": "oral", "dose": "56 mg"},
    {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "over": "40 min"},
    {"drug": "ketamine", "route": "im", "dose": "0.5 mg/kg"},
    {"drug": "ketamine", "route": "oral", "dose": "1 mg/kg"},
    {"drug": "arketamine", "route": "iv", "dose": "0.5 mg/kg", "over": "40 min"},
    {"drug": "ketamine", "route": "ip", "dose": "10 mg/kg", "species": "rat"},
    {"drug": "ketamine", "route": "iv", "dose": "10 mg/kg", "species": "rat"},
    {"drug": "ketamine", "route": "ip", "dose": "10 mg/kg", "species": "mouse"},
    {"drug": "ketamine", "route": "iv", "dose": "10 mg/kg", "species": "mouse", "over": "10 min"},
    {"drug": "esketamine", "route": "ip", "dose": "15 mg/kg", "species": "mouse"},
    {"drug": "hnk_2r6r", "route": "ip", "dose": "10 mg/kg", "species": "mouse"},
    {"drug": "hnk_2r6r", "route": "ip", "dose": "20 mg/kg", "species": "rat"},
    {"drug": "lanicemine", "route": "iv", "dose": "100 mg", "over": "1 h"},
    {"drug": "naltrexone", "route": "oral", "dose": "50 mg"},
    {"drug": "rapamycin", "route": "oral", "dose": "6 mg", "duration": "20 d"},
    {"drug": "rapamycin", "route": "ip", "dose": "5 mg/kg", "species": "rat"},
    {"drug": "nbqx", "route": "ip", "dose": "10 mg/kg", "species": "mouse"},
    {"drug": "nbqx", "route": "iv", "dose": "10 mg/kg", "species": "rat"},
    {"drug": "ketamine", "route": "oral", "dose": "30 mg/kg", "species": "rat"},
    {"drug": "ketamine", "route": "im", "dose": "7.5 mg/kg", "species": "rat"},
    {"drug": "hnk_2r6r", "route": "iv", "dose": "20 mg/kg", "species": "rat"},
    {"drug": "hnk_2r6r", "route": "oral", "dose": "10 mg/kg", "species": "mouse"},
    {"drug": "rapamycin", "route": "oral", "dose": "6 mg/kg", "species": "mouse"},
]


def _ids(case: dict[str, Any]) -> str:
    return "-".join(str(case.get(k, "")) for k in ("species", "drug", "route", "dose", "over")).strip("-")


def _given_mmol(case: dict[str, Any]) -> float:
    """Total dose in mmol from the case's own numbers: mg (or mg/kg x default weight) / molar mass."""
    species = case.get("species", "human")
    texts = [e["dose"] for e in case["events"]] if "events" in case else [case["dose"]]
    total = 0.0
    for text in texts:
        value, unit = text.split()
        mg = float(value) * (WEIGHT[species] if unit == "mg/kg" else 1.0)
        for cid, share in COMPONENTS[case["drug"]].items():
            total += mg * share / catalog.compound(cid).molar_mass
    return total


def _mass_states(prep: Any) -> list[tuple[int, float]]:
    """(index, 1 / molar mass) of every state that holds drug mass: amounts and elimination sinks."""
    out = []
    for i, sid in enumerate(prep.compiled.state_ids):
        st = prep.system.states[sid]
        if st.kind in ("amount", "sink"):
            assert st.compound is not None, sid
            out.append((i, 1.0 / catalog.compound(st.compound).molar_mass))
    return out


def _delivered_mmol(prep: Any, t: np.ndarray) -> np.ndarray:
    """mmol that dose events have put into mass states by each time (boluses plus infusion rate x time)."""
    total = np.zeros((len(t), prep.n))
    for ev in prep.events:
        st = prep.system.states[ev.state]
        assert st.kind in ("amount", "sink"), f"dose into {ev.state} ({st.kind}) has no mass"
        inv_mw = 1.0 / catalog.compound(st.compound).molar_mass
        on = (t >= ev.time - 1e-9)[:, None]
        total += on * np.asarray(ev.amount) * inv_mw
        total += on * np.asarray(ev.rate) * np.clip(t - ev.time, 0, None)[:, None] * inv_mw
    return total


def _check(prep: Any, given: np.ndarray) -> None:
    t = np.unique(
        np.concatenate(
            [np.linspace(prep.t_start, prep.t_start + 3, 181), np.linspace(prep.t_start, prep.t_end, 200)]
        )
    )
    y = integrate(prep.compiled, prep.params, prep.events, t, prep.t_start, SolverOptions())
    in_body = sum(y[:, i, :] * inv_mw for i, inv_mw in _mass_states(prep))
    delivered = _delivered_mmol(prep, t)
    # the dose events deliver exactly the dose: boluses plus infusions (each rate stopped again: sum 0)
    net_rate, total = np.zeros(prep.n), np.zeros(prep.n)
    for ev in prep.events:
        inv_mw = 1.0 / catalog.compound(prep.system.states[ev.state].compound).molar_mass
        net_rate = net_rate + np.asarray(ev.rate) * inv_mw
        total = total + (np.asarray(ev.amount) - np.asarray(ev.rate) * ev.time) * inv_mw
    np.testing.assert_allclose(net_rate, 0.0, atol=1e-12)
    np.testing.assert_allclose(total, given, rtol=1e-12)
    # at every output time the body plus the sinks hold exactly what has been delivered so far
    np.testing.assert_allclose(in_body, delivered, rtol=REL, atol=REL * float(np.max(given)))
    # once all dosing is over, that is the whole dose
    after = t >= max(e.time for e in prep.events) + 2.0
    assert after.sum() > 10
    np.testing.assert_allclose(in_body[after], np.broadcast_to(given, in_body[after].shape), rtol=REL)
    # and something actually happened: a good part of the dose has left the dosing states by the end
    assert np.all(in_body[-1] > 0)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_mass_balance(case: dict[str, Any]) -> None:
    prep = prepare(make_scenario(case), with_mechanism=False)
    given = np.full(prep.n, _given_mmol(case))
    _check(prep, given)


def test_mass_balance_population_with_pretreatment() -> None:
    """Three subjects of different weights, a weight-based dose, and oral naltrexone 45 min before (t < 0)."""
    case = {
        "drug": "ketamine",
        "route": "iv",
        "dose": "0.5 mg/kg",
        "over": "40 min",
        "duration": "3 d",
        "pretreatments": [{"drug": "naltrexone", "dose": "50 mg", "route": "oral", "offset": "45 min"}],
    }
    weights = np.array([50.0, 70.0, 120.0])
    prep = prepare(make_scenario(case), n=3, covariates={"weight": weights}, with_mechanism=False)
    assert prep.t_start == pytest.approx(-0.75)
    given = (
        0.5 * weights / catalog.compound("esketamine").molar_mass
        + 50.0 / catalog.compound("naltrexone").molar_mass
    )
    _check(prep, given)


def test_every_packaged_route_is_covered() -> None:
    """Each (drug, species, route) the data offer is in CASES, except icv (no mass: a brain concentration)."""
    from ketasim.pk.pkset import load_pkset

    covered = {(c["drug"], c.get("species", "human"), c["route"]) for c in CASES}
    missing = []
    for drug_id, drug in catalog.drugs().items():
        for species, set_id in drug.pk.items():
            for route in load_pkset(set_id).routes:
                if route != "icv" and (drug_id, species, route) not in covered:
                    missing.append((drug_id, species, route))
    # the same PK set serves several drugs and species; one case per set and route is enough
    by_set = {(catalog.drug(d).pk[s], r) for d, s, r in covered}
    really_missing = [m for m in missing if (catalog.drug(m[0]).pk[m[1]], m[2]) not in by_set]
    assert not really_missing, f"add mass-balance cases for {really_missing}"
