"""The scorecard (issue 5, items 4-6): coverage of the findings, the JSON contract, what each hypothesis
explains, and perturbations that must flip the verdicts depending on the mechanism they break.

One module-scoped run judges every hypothesis and every perturbation of experiments.yaml in a single batch
(each distinct scenario is simulated once); the other tests, the CLI ones included, reuse its simulations.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from ketasim.cli.app import app
from ketasim.errors import DataError, UnknownNameError
from ketasim.evidence import evidence_base
from ketasim.evidence.experiments import (
    DEFAULT_STORE,
    Evaluation,
    Experiment,
    Rule,
    SimulationStore,
    apply_rule,
    experiment_set,
    make_config,
    parse_experiment_set,
    published_interval,
    run_experiments,
    wilson,
)
from ketasim.evidence.scorecard import Scorecard, run_scorecard
from ketasim.mechanism import hypotheses
from ketasim.simulate import simulate

ROOT = Path(__file__).resolve().parent.parent
HYPOTHESES = list(hypotheses())
PERTURBED = {
    "no_ampa": "glutamate_mtor -AMPA",
    "no_ampa_bdnf": "glutamate_mtor g_ampa_bdnf=0",
    "no_inflammation": "glutamate_mtor g_inflammation_elimination=0",
    "no_feedback": "glutamate_mtor g_mtorc1_feedback=0",
}
#: FACTS.md sections 5 and 6: the studies whose findings must all be judged (seed's own claims: miller2020)
FACTS_STUDIES = [
    "moghaddam1997", "li2010", "autry2011", "deyama2019", "modasava2019", "maeng2008", "zanos2016",
    "shirayama2018", "pryazhnikov2018", "berman2000", "miller2020", "abdallah2020", "williams2018",
    "yoon2019", "marton2019", "daly2018", "fedgchin2019", "rush2006", "valenstein2006", "sanacora2014",
    "abdallah2018_chronicstress", "abdallah2017", "jonkman2018",
]


@pytest.fixture(scope="module")
def scorecard() -> Scorecard:
    ex_set = experiment_set()
    configs = [make_config(h) for h in HYPOTHESES] + ex_set.perturbation_configs()
    before = DEFAULT_STORE.simulations_run
    sc = run_scorecard(configs)
    sc.notes["simulations"] = DEFAULT_STORE.simulations_run - before
    return sc


def verdict(sc: Scorecard, config: str, experiment: str) -> str:
    return sc.verdicts(config)[experiment]


def finding(sc: Scorecard, config: str, experiment: str) -> Any:
    return next(f for f in sc.cards[config].findings if f.id == experiment)


# ---------------------------------------------------------------------------------------------- coverage
def test_every_facts_finding_is_an_experiment():
    ex_set = experiment_set()
    judged = {e.finding for e in ex_set.experiments}
    base = evidence_base()
    for key in FACTS_STUDIES:
        study = base.studies[key]
        for outcome in study.outcomes:
            assert outcome.id in judged or outcome.id in ex_set.not_experiments, outcome.id
        assert any(o.id in judged for o in study.outcomes), key
    covered = {i for ids in ex_set.coverage.values() for i in ids}
    assert covered <= judged
    for key in FACTS_STUDIES:
        assert any(i.startswith(key) for i in covered), f"no coverage row maps a finding of {key}"


def test_every_recorded_outcome_is_judged_or_excused():
    ex_set = experiment_set()
    judged = {e.finding for e in ex_set.experiments}
    for _, outcome in evidence_base().outcomes():
        assert outcome.id in judged or outcome.id in ex_set.not_experiments, outcome.id
    # an excuse is never just a label
    assert all(len(reason) > 10 for reason in ex_set.not_experiments.values())


def test_experiments_file_is_cross_checked():
    raw = {
        "solver": {"method": "BDF", "rtol": 1e-6, "atol": 1e-8},
        "experiments": [{
            "id": "x", "finding": "no_such_finding", "study": "li2010", "basis": "not_expressible",
            "published": {"text": "?"}, "not_expressible": "because",
        }],
    }
    with pytest.raises(DataError, match="no_such_finding"):
        parse_experiment_set(raw)
    raw["experiments"][0].update({"finding": "li2010_synaptogenesis", "basis": "mechanistic"})
    with pytest.raises(DataError):
        parse_experiment_set(raw)


# ---------------------------------------------------------------------------------------------- rules
def _evaluation(values: dict[str, float]) -> Evaluation:
    exp = experiment_set().by_id()["li2010_synaptogenesis"]
    ev = Evaluation(exp, make_config("glutamate_mtor"))
    ev.values = values
    return ev


def test_rules_compare_numbers_not_labels():
    ex_set = experiment_set()
    rule = Rule(kind="at_least", quantity="x", min="detectable_change")
    assert apply_rule(rule, _evaluation({"x": 0.2}), ex_set)[0]
    assert not apply_rule(rule, _evaluation({"x": 0.05}), ex_set)[0]
    abolished = Rule(kind="abolished", treated="t", control="c", ratio_max="abolished_ratio",
                     control_min="effect_present")
    assert apply_rule(abolished, _evaluation({"t": 0.01, "c": 0.4}), ex_set)[0]
    assert not apply_rule(abolished, _evaluation({"t": 0.2, "c": 0.4}), ex_set)[0]
    # nothing to abolish: no pass
    assert not apply_rule(abolished, _evaluation({"t": 0.0, "c": 0.0}), ex_set)[0]
    preserved = Rule(kind="preserved", treated="t", control="c", tolerance="attenuation",
                     control_min="effect_present")
    assert apply_rule(preserved, _evaluation({"t": 0.38, "c": 0.4}), ex_set)[0]
    assert not apply_rule(preserved, _evaluation({"t": 0.2, "c": 0.4}), ex_set)[0]
    margin = Rule(kind="greater_than", quantity="a", than="b", margin=0.1)
    assert not apply_rule(margin, _evaluation({"a": 1.05, "b": 1.0}), ex_set)[0]


def test_published_intervals_follow_the_stated_formulas():
    ex_set = experiment_set()
    berman = ex_set.by_id()["berman2000_hdrs_72h"]
    lo, hi = published_interval(berman.published, ex_set)
    half = 1.96 * 10 / math.sqrt(7)
    assert lo == pytest.approx((-14 - half) * 1.3) and hi == pytest.approx((-14 + half) * 1.3)
    lo, hi = wilson(7 / 12, 12, 1.96)
    assert lo == pytest.approx(0.3195, abs=1e-3) and hi == pytest.approx(0.8067, abs=1e-3)
    # a higher response rate implies a larger typical improvement
    williams = ex_set.by_id()["williams2018_response_placebo_day1"].published
    zarate = ex_set.by_id()["zarate2006_response_24h"].published
    assert published_interval(zarate, ex_set)[0] > published_interval(williams, ex_set)[0]
    # the rapamycin trial's p = .04 difference excludes zero
    rapamycin = ex_set.by_id()["abdallah2020_response_2wk"].published
    assert published_interval(rapamycin, ex_set)[0] > 0


# ---------------------------------------------------------------------------------------------- contract
def test_json_contract_default_is_glutamate_mtor(scorecard):
    result = CliRunner().invoke(app, ["scorecard", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert list(out["hypotheses"]) == ["glutamate_mtor"]
    card = out["hypotheses"]["glutamate_mtor"]
    assert {"passed", "total", "score", "findings"} <= set(card)
    assert card["total"] == len(card["findings"]) == len(experiment_set().experiments)
    assert card["passed"] == sum(f["verdict"] == "pass" for f in card["findings"])
    assert 0.0 <= card["score"] <= 1.0
    for f in card["findings"]:
        assert {"id", "study", "published", "simulated", "verdict"} <= set(f)
        assert f["verdict"] in ("pass", "fail")
        assert isinstance(f["published"], str) and f["published"]
        assert f["simulated"] is None or isinstance(f["simulated"], float)
    assert card["passed"] == scorecard.cards["glutamate_mtor"].passed


def test_json_all_hypotheses_with_comparison(scorecard):
    result = CliRunner().invoke(app, ["scorecard", "--all-hypotheses", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert list(out["hypotheses"]) == HYPOTHESES
    comp = out["comparison"]
    assert {"ranking", "findings", "exclusive", "head_to_head", "counterfactuals", "claims"} <= set(comp)
    for name in HYPOTHESES:
        assert out["hypotheses"][name]["passed"] == scorecard.cards[name].passed


def test_readable_output_has_totals_and_comparison(scorecard):
    result = CliRunner().invoke(app, ["scorecard", "--all-hypotheses", "--explain"])
    assert result.exit_code == 0, result.output
    for text in ("Totals", "glutamate_mtor", "opioid", "hnk_ampa", "What would change it", "why:"):
        assert text in result.output


@pytest.mark.parametrize("args, message", [
    (["--hypothesis", "serotonin"], "unknown hypothesis"),
    (["--all-hypotheses", "--hypothesis", "opioid"], "either"),
    (["--gain", "g_nothing=0"], "unknown gain parameter"),
    (["--edge-off", "no_edge"], "unknown edge"),
    (["--gain", "g_ampa_bdnf"], "PARAMETER=FACTOR"),
])
def test_cli_errors_are_one_line_exit_2(args, message):
    proc = subprocess.run([sys.executable, "-c", "from ketasim.cli import main; main()", "scorecard", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_make_config_rejects_unknown_names():
    with pytest.raises(UnknownNameError):
        make_config("glutamate_mtor", gains={"g_nope": 1.0})
    with pytest.raises(UnknownNameError):
        make_config("nope")


# ---------------------------------------------------------------------------------------------- explained
def test_glutamate_mtor_outscores_opioid_and_hnk(scorecard):
    gm, op, hnk = (scorecard.cards[h] for h in ("glutamate_mtor", "opioid", "hnk_ampa"))
    assert gm.score > op.score
    assert gm.score > hnk.score
    assert gm.passed > op.passed > hnk.passed


def test_opioid_reproduces_williams_day1_attenuation_and_glutamate_mtor_does_not(scorecard):
    op = finding(scorecard, "opioid", "williams2018_naltrexone_attenuates").quantities
    gm = finding(scorecard, "glutamate_mtor", "williams2018_naltrexone_attenuates").quantities
    assert op["day1_naltrexone"] < 0.8 * op["day1_placebo"]
    assert gm["day1_naltrexone"] == pytest.approx(gm["day1_placebo"], rel=0.02)
    assert verdict(scorecard, "glutamate_mtor", "williams2018_naltrexone_attenuates") == "fail"


@pytest.mark.parametrize("experiment", [
    "yoon2019_response_dose1", "marton2019_no_block", "abdallah2020_response_2wk",
    "li2010_nbqx_blocks", "li2010_rapamycin_blocks", "jonkman2018_counters_oird",
])
def test_opioid_fails_what_glutamate_mtor_explains(scorecard, experiment):
    assert verdict(scorecard, "opioid", experiment) == "fail"
    assert verdict(scorecard, "glutamate_mtor", experiment) == "pass"


def test_hnk_findings_need_the_hnk_edge(scorecard):
    for exp in ("zanos2016_hnk_antidepressant", "zanos2016_hnk_duration"):
        assert verdict(scorecard, "hnk_ampa", exp) == "pass"
        assert verdict(scorecard, "glutamate_mtor", exp) == "fail"
    # HNK never blocks NMDA receptors meaningfully, whatever the hypothesis
    for h in HYPOTHESES:
        assert verdict(scorecard, h, "zanos2016_hnk_no_nmda") == "pass"


def test_comparison_shows_the_opioid_claim_rests_on_one_small_interim_study(scorecard):
    comp = scorecard.comparison
    assert comp is not None
    opioid_claims = {c["claim"]: c for c in comp["claims"]["opioid"]}
    assert opioid_claims["opioid_necessary"]["label"] == "weak"
    # its primary data: one interim crossover of 12 (the rest re-analyse the same people, or bring no data)
    support = opioid_claims["opioid_necessary"]["supported_by"]
    primary = [s for s in support if s["design"] not in ("commentary", "review") and not s["same_sample_as"]]
    assert [s["study"] for s in primary] == ["williams2018"]
    assert primary[0]["n"] == 12 and primary[0]["interim"] and primary[0]["replicated"] is False
    cf = {c["id"]: c for c in comp["counterfactuals"]}
    rct = cf["replicated_naltrexone_rct"]
    # a replicated, adequately powered trial weighs far more than the interim analysis it would replace
    williams = finding(scorecard, "opioid", "williams2018_naltrexone_attenuates")
    assert rct["weight"] > 2 * williams.finding_weight
    assert rct["scores_with_one"]["opioid"] > comp["ranking"][-1]["score"]
    assert rct["needed_to_reverse_ranking"] is not None
    assert cf["null_naltrexone_rct"]["needed_to_reverse_ranking"] is None


def test_every_failure_is_explained(scorecard):
    for name in HYPOTHESES:
        for f in scorecard.cards[name].findings:
            if f.verdict == "fail":
                assert f.explanation, f"{f.id} fails under {name} without an explanation"


# ---------------------------------------------------------------------------------------------- perturbations
def _flips(sc: Scorecard, perturbed: str) -> tuple[set[str], set[str]]:
    base, broken = sc.verdicts("glutamate_mtor"), sc.verdicts(PERTURBED[perturbed])
    lost = {k for k in base if base[k] == "pass" and broken[k] == "fail"}
    gained = {k for k in base if base[k] == "fail" and broken[k] == "pass"}
    return lost, gained


def test_cutting_glutamate_to_ampa_flips_the_ampa_dependent_and_mood_findings(scorecard):
    lost, _ = _flips(scorecard, "no_ampa")
    assert {
        "li2010_nbqx_blocks", "moghaddam1997_cnqx_dopamine", "li2010_synaptogenesis",
        "autry2011_bdnf_required", "berman2000_hdrs_72h", "williams2018_response_placebo_day1",
        "miller2020_onset_4h",
    } <= lost
    # upstream of the cut nothing changes
    for exp in ("moghaddam1997_glutamate_subanesthetic", "moghaddam1997_glutamate_anesthetic",
                "abdallah2018_chronicstress_ketamine_gbc"):
        assert verdict(scorecard, PERTURBED["no_ampa"], exp) == "pass"


def test_no_ampa_driven_bdnf_flips_synaptogenesis_and_mood(scorecard):
    lost, _ = _flips(scorecard, "no_ampa_bdnf")
    needed = {"li2010_synaptogenesis", "berman2000_hdrs_72h", "williams2018_response_placebo_day1",
              "autry2011_bdnf_required"}
    assert needed <= lost
    assert "li2010_mtor_activation" not in lost  # VEGF still drives mTORC1


def test_no_inflammation_flips_the_rapamycin_two_week_finding_and_nothing_upstream(scorecard):
    lost, _ = _flips(scorecard, "no_inflammation")
    assert "abdallah2020_response_2wk" in lost
    # inflammation acts on the loss of new spines: nothing before the spines, and nothing on day 1, may change
    assert not {i for i in lost if i.startswith(("moghaddam1997", "li2010_mtor", "autry2011", "deyama2019"))}
    day1 = ("abdallah2020_no_difference_24h", "berman2000_hdrs_72h", "williams2018_response_placebo_day1")
    for exp in day1:
        assert verdict(scorecard, PERTURBED["no_inflammation"], exp) == "pass"


def test_no_mtorc1_feedback_flips_the_transient_mtorc1_finding(scorecard):
    lost, _ = _flips(scorecard, "no_feedback")
    assert "li2010_mtor_timecourse" in lost
    assert verdict(scorecard, PERTURBED["no_feedback"], "moghaddam1997_glutamate_subanesthetic") == "pass"


# ---------------------------------------------------------------------------------------------- machinery
def test_each_distinct_scenario_is_simulated_once(scorecard):
    used = {q.scenario for e in experiment_set().experiments for q in e.quantities.values() if q.scenario}
    if scorecard.notes["simulations"]:  # zero when another test filled the store first
        assert scorecard.notes["simulations"] == len(used)
    before = DEFAULT_STORE.simulations_run
    run_scorecard([make_config(h) for h in HYPOTHESES])
    assert DEFAULT_STORE.simulations_run == before


def test_batched_variant_equals_a_plain_simulate_call():
    ex_set = experiment_set()
    store = SimulationStore()
    exp = ex_set.by_id()["moghaddam1997_glutamate_anesthetic"]
    config = make_config("opioid", edges_off=["disinhibition"], gains={"g_disinhibition": 0.5})
    run_experiments([config, make_config("glutamate_mtor")], [exp], store=store, workers=1)
    from ketasim.evidence.experiments import variant_key

    series = store.series("rat_ketamine_200", variant_key(config, exp.quantities["glutamate_200"].variant))
    fields = {k: v for k, v in ex_set.scenarios["rat_ketamine_200"].items() if k != "note"}
    plain = simulate(**fields, hypothesis="opioid", edges_off=["disinhibition"],
                     gains={"g_disinhibition": 0.5})
    for var in ("glutamate",):
        ref = np.interp(series.times, plain.times, plain[var][:, 0])
        assert np.allclose(series.values[var], ref, rtol=1e-4, atol=1e-6)


def test_worker_count_never_changes_a_result():
    ex_set = experiment_set()
    ids = ("moghaddam1997_glutamate_subanesthetic", "moghaddam1997_glutamate_50")
    subset = [ex_set.by_id()[i] for i in ids]
    configs = [make_config("glutamate_mtor"), make_config("hnk_ampa")]
    one = run_experiments(configs, subset, store=SimulationStore(), workers=1)
    two = run_experiments(configs, subset, store=SimulationStore(), workers=2)
    for name in one:
        for a, b in zip(one[name], two[name], strict=True):
            assert a.values == b.values and a.verdict == b.verdict


def test_not_expressible_findings_fail_for_everyone_with_their_reason(scorecard):
    blind: list[Experiment] = [e for e in experiment_set().experiments if e.basis == "not_expressible"]
    assert blind
    for exp in blind:
        for name in HYPOTHESES:
            f = finding(scorecard, name, exp.id)
            assert f.verdict == "fail" and f.simulated is None
            assert "Not expressible" in (f.explanation or "")


def test_docs_scorecard_sections_are_up_to_date(scorecard):
    script = ROOT / "scripts" / "gen_scorecard_table.py"
    spec = importlib.util.spec_from_file_location("gen_scorecard_table", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = ROOT / "docs" / "evidence.md"
    text = path.read_text(encoding="utf-8")
    assert module.render(text, scorecard) == text, "run python scripts/gen_scorecard_table.py"
