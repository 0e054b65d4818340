"""Virtual subjects: per-subject streams, covariate distributions, parameter variability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ketasim import population as pop
from ketasim.errors import DataError
from ketasim.population import PopulationSettings, individual_parameters, sample_subjects


def test_a_subject_does_not_depend_on_who_is_sampled_with_it() -> None:
    settings = PopulationSettings()
    many = sample_subjects(settings, 11, 5, range(12))
    few = sample_subjects(settings, 11, 5, [3, 7])
    for key in many.covariates:
        np.testing.assert_array_equal(many.covariates[key][[3, 7]], few.covariates[key])
    np.testing.assert_array_equal(many.baseline[[3, 7]], few.baseline)
    for key in many.etas:
        np.testing.assert_array_equal(many.etas[key][[3, 7]], few.etas[key])
    for key in many.effects:
        np.testing.assert_array_equal(many.effects[key][[3, 7]], few.effects[key])


def test_seed_and_group_change_the_sample() -> None:
    settings = PopulationSettings()
    a = sample_subjects(settings, 1, 0, range(20))
    b = sample_subjects(settings, 2, 0, range(20))
    c = sample_subjects(settings, 1, 1, range(20))
    assert not np.array_equal(a.baseline, b.baseline)
    assert not np.array_equal(a.baseline, c.baseline)
    again = sample_subjects(settings, 1, 0, range(20))
    np.testing.assert_array_equal(a.baseline, again.baseline)


def test_covariates_follow_the_settings() -> None:
    settings = PopulationSettings(
        age_range=(30, 50),
        female_fraction=0.3,
        asian_fraction=0.5,
        japanese_fraction=0.2,
        baseline_mean=30,
        baseline_sd=4,
        baseline_min=26,
        baseline_max=40,
    )
    s = sample_subjects(settings, 3, 0, range(4000))
    cov = s.covariates
    assert abs(cov["female"].mean() - 0.3) < 0.03
    assert abs(cov["asian"].mean() - 0.5) < 0.03
    assert abs(cov["japanese"].mean() - 0.2) < 0.03
    assert np.all(cov["japanese"] <= cov["asian"])  # Japanese subjects count as Asian
    assert cov["age"].min() >= 30 and cov["age"].max() <= 50
    assert s.baseline.min() >= 26 and s.baseline.max() <= 40
    d = pop.settings_defaults()
    assert cov["weight"].min() >= d["weight_range"][0] and cov["weight"].max() <= d["weight_range"][1]
    # women are lighter on average (population.yaml)
    assert cov["weight"][cov["female"] > 0.5].mean() < cov["weight"][cov["female"] < 0.5].mean()


def test_lognormal_and_logit_variability_by_hand() -> None:
    table = {v.id: v for v in pop.variability_table()}
    kel, frn = table["esk_kel"], table["esk_FRn"]
    assert kel.kind == "lognormal" and math.isclose(kel.sd, math.sqrt(math.log(1 + 1.20**2)))
    assert frn.kind == "logit" and math.isclose(frn.sd, 0.708)
    ids = ["esk_kel", "esk_FRn", "unrelated"]
    typical = np.array([[1.11, 0.4], [0.54, 0.54], [5.0, 5.0]])
    etas = {k: np.array([0.5, -1.0]) for k in table}
    out = individual_parameters(ids, typical, etas)
    assert "unrelated" not in out  # not in population.yaml: untouched
    np.testing.assert_allclose(out["esk_kel"], typical[0] * np.exp(kel.sd * etas["esk_kel"]))
    lg = np.log(0.54 / 0.46) + 0.708 * etas["esk_FRn"]
    np.testing.assert_allclose(out["esk_FRn"], 1 / (1 + np.exp(-lg)))


def test_eta_from_shares_the_draw() -> None:
    s = sample_subjects(PopulationSettings(), 4, 0, range(10))
    np.testing.assert_array_equal(s.etas["rk_CL"], s.etas["sk_CL"])
    assert not np.array_equal(s.etas["sk_V1"], s.etas["sk_CL"])


def test_variability_ids_exist_in_some_model() -> None:
    pop.check_variability_ids()


def test_unknown_variability_id_is_a_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = (*pop.variability_table(), pop.Variability("esk_Vc_typo", "lognormal", 0.3, None, "assumed"))
    monkeypatch.setattr(pop, "variability_table", lambda: bogus)
    with pytest.raises(DataError, match="esk_Vc_typo"):
        pop.check_variability_ids()
