"""Per-dosing-interval exposure (issue 15, item 5) against closed forms of a one-compartment model, and in the
simulate JSON contract with its CDISC PP aliases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ketasim.cli.app import app
from ketasim.nca import CDISC_CODES, by_interval

DOSE, V, K, TAU, N = 10.0, 50.0, 0.12, 12.0, 8  # mg, L, 1/h, h, doses
CL = K * V


def bolus_profile(step: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
    """Repeated IV bolus: C(t) = sum_i D/V exp(-k (t - t_i)), AUC(t) = sum_i D/CL (1 - exp(-k (t - t_i)))."""
    doses = [i * TAU for i in range(N)]
    t = np.round(np.arange(0.0, N * TAU + 1e-9, step), 10)
    c = np.zeros_like(t)
    auc = np.zeros_like(t)
    for td in doses:
        after = t >= td
        c[after] += DOSE / V * np.exp(-K * (t[after] - td))
        auc[after] += DOSE / CL * (1 - np.exp(-K * (t[after] - td)))
    return t, c * 1000.0, auc * 1000.0, doses  # mg/L -> ng/mL


def test_repeated_bolus_matches_closed_forms():
    t, c, auc, doses = bolus_profile()
    r = np.exp(-K * TAU)
    ivs = by_interval(t, c, auc, doses)
    assert [iv.dose for iv in ivs] == list(range(1, N + 1))
    c0 = DOSE / V * 1000.0
    for iv in ivs:
        n = iv.dose
        accumulated = (1 - r**n) / (1 - r)
        assert iv.time_h == pytest.approx((n - 1) * TAU)
        assert iv.tau_h == pytest.approx(TAU)
        assert iv.tmax_h == pytest.approx(0.0, abs=1e-9)
        assert iv.cmax_ng_per_ml == pytest.approx(c0 * accumulated, rel=1e-12)
        assert iv.accumulation_cmax == pytest.approx(accumulated, rel=1e-12)
        assert iv.ctrough_ng_per_ml == pytest.approx(c0 * r * accumulated, rel=1e-9)  # left limit at the next dose
        assert iv.cmin_ng_per_ml == pytest.approx(iv.ctrough_ng_per_ml, rel=1e-9)
        assert iv.auc_tau_ng_h_per_ml == pytest.approx(DOSE / CL * 1000.0 * (1 - r**n), rel=1e-12)
        assert iv.accumulation_auc == pytest.approx((1 - r**n) / (1 - r), rel=1e-12)
    # towards steady state: accumulation ratio 1/(1 - exp(-k tau)) and AUCtau = dose/CL
    assert ivs[-1].accumulation_cmax == pytest.approx(1 / (1 - r), rel=r**N * 1.01)
    assert ivs[-1].auc_tau_ng_h_per_ml == pytest.approx(DOSE / CL * 1000.0, rel=r**N * 1.01)


def test_repeated_infusion_tmax_is_the_infusion_end():
    """Constant-rate infusions of T_inf: the peak of each interval is at the end of its infusion."""
    t_inf, step = 2.0, 0.01
    doses = [i * TAU for i in range(4)]
    t = np.round(np.arange(0.0, 4 * TAU + 1e-9, step), 10)
    c = np.zeros_like(t)
    for td in doses:
        rate = DOSE / t_inf
        during = (t >= td) & (t <= td + t_inf)
        c[during] += rate / CL * (1 - np.exp(-K * (t[during] - td)))
        after = t > td + t_inf
        c[after] += rate / CL * (1 - np.exp(-K * t_inf)) * np.exp(-K * (t[after] - td - t_inf))
    auc = np.concatenate([[0.0], np.cumsum(np.diff(t) * (c[1:] + c[:-1]) / 2)])
    ivs = by_interval(t, c, auc, doses)
    r = np.exp(-K * TAU)
    for iv in ivs:
        assert iv.tmax_h == pytest.approx(t_inf, abs=step)
        # no jump at a dose: the trough is the value at the next dose
        expected_trough = DOSE / t_inf / CL * (1 - np.exp(-K * t_inf)) * np.exp(-K * (TAU - t_inf)) * (
            (1 - r**iv.dose) / (1 - r))
        assert iv.ctrough_ng_per_ml == pytest.approx(expected_trough, rel=1e-6)


def test_last_dose_without_a_full_interval_has_no_tau():
    t, c, auc, doses = bolus_profile()
    keep = t <= doses[-1] + 5.0  # stops 5 h after the last dose, before its interval ends
    ivs = by_interval(t[keep], c[keep], auc[keep], doses)
    assert ivs[-1].tau_h is None and ivs[-1].auc_tau_ng_h_per_ml is None and ivs[-1].ctrough_ng_per_ml is None
    assert ivs[-2].tau_h == pytest.approx(TAU)
    single = by_interval(t[t < TAU], c[t < TAU], auc[t < TAU], [0.0])
    assert len(single) == 1 and single[0].accumulation_cmax == pytest.approx(1.0)


def test_cdisc_aliases_mirror_the_values():
    t, c, auc, doses = bolus_profile()
    d = by_interval(t, c, auc, doses)[2].as_dict()
    assert set(d["cdisc"]) == set(CDISC_CODES.values())
    for key, code in CDISC_CODES.items():
        assert d["cdisc"][code] == d[key]
    assert {"CMAX", "CTROUGH", "CMIN", "AUCTAU", "TMAX", "ARCMAX"} <= set(d["cdisc"])


def test_simulate_json_has_intervals_and_keeps_the_contract():
    args = ["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "84 mg", "--regimen",
            "every 24 h x 4", "--duration", "5d", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {"compounds", "nodes", "at", "units", "intervals", "ketasim_provenance"} <= set(out)
    assert out["compounds"]["esketamine"]["cmax_ng_per_ml"] > 0
    ivs = out["intervals"]["esketamine"]
    assert [iv["dose"] for iv in ivs] == [1, 2, 3, 4]
    assert [iv["time_h"] for iv in ivs] == pytest.approx([0.0, 24.0, 48.0, 72.0])
    assert all(iv["tau_h"] == pytest.approx(24.0) for iv in ivs)
    # the overall Cmax is the largest interval Cmax
    assert max(iv["cmax_ng_per_ml"] for iv in ivs) == pytest.approx(out["compounds"]["esketamine"]["cmax_ng_per_ml"])
    assert ivs[0]["accumulation_cmax"] == pytest.approx(1.0)
    assert ivs[1]["cdisc"]["AUCTAU"] == ivs[1]["auc_tau_ng_h_per_ml"]


def test_pretreatment_compounds_have_no_intervals_of_the_main_drug():
    args = ["simulate", "--drug", "ketamine", "--route", "iv", "--dose", "0.5 mg/kg", "--over", "40 min",
            "--duration", "1d", "--pretreat", "naltrexone:50 mg:oral:45 min", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert "naltrexone" in out["compounds"] and "naltrexone" not in out["intervals"]
    assert "esketamine" in out["intervals"] and "ketamine" in out["intervals"]
