"""Evidence base: completeness against the seed, link integrity, the strength rule's orderings, the CLI."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ketasim.cli.evidence_cmd  # noqa: F401  (registers `evidence` on the app)
from ketasim.cli.app import app
from ketasim.errors import DataError, UnknownNameError
from ketasim.evidence import (
    Claim,
    EvidenceBase,
    Study,
    all_claim_strengths,
    claim_strength,
    evidence_base,
    load_references,
    strength_rule,
    study_weight,
)
from ketasim.evidence.strength import combine, label_for

# Every row of FACTS.md sections 5 and 6 (the seed-document row is `miller2020`).
FACTS_5_6 = [
    "moghaddam1997", "li2010", "autry2011", "deyama2019", "modasava2019", "maeng2008", "zanos2016",
    "shirayama2018", "pryazhnikov2018", "berman2000", "miller2020", "abdallah2020", "williams2018",
    "yoon2019", "marton2019", "daly2018", "fedgchin2019", "rush2006", "sanacora2014",
    "abdallah2018_chronicstress", "abdallah2017", "jonkman2018",
]  # fmt: skip


@pytest.fixture(scope="module")
def base() -> EvidenceBase:
    return evidence_base()


def _study(**overrides: object) -> Study:
    fields: dict[str, object] = {
        "key": "synthetic",
        "species": "human",
        "design": "randomized_parallel",
        "randomized": True,
        "blinded": True,
        "placebo_controlled": True,
        "interim": False,
        "n": 100,
        "replicated": True,
        "verified": "V",
    }
    fields.update(overrides)
    return Study.model_validate(fields)


# ---------------------------------------------------------------------------------------------- completeness
def test_all_22_seed_references_present_once() -> None:
    seed_refs = [r.seed_ref for r in load_references() if r.seed_ref is not None]
    assert sorted(seed_refs) == list(range(1, 23))


def test_seed_reference_keys_are_the_agreed_ones() -> None:
    by_number = {r.seed_ref: r.key for r in load_references() if r.seed_ref is not None}
    assert by_number[1] == "berman2000"
    assert by_number[15] == "williams2018"
    assert by_number[16] == "williams2019"
    assert by_number[13] == "abdallah2018_chronicstress"
    assert by_number[22] == "abdallah2018_biorxiv"


def test_facts_sections_5_and_6_each_have_a_study_record(base: EvidenceBase) -> None:
    missing = [key for key in FACTS_5_6 if key not in base.studies]
    assert not missing
    for key in FACTS_5_6:
        assert base.studies[key].outcomes, f"{key} records no finding"


def test_identifiers_are_well_formed() -> None:
    for ref in load_references():
        assert ref.key == ref.key.lower() and " " not in ref.key
        if ref.doi is not None:
            assert ref.doi.startswith("10."), ref.key
        if ref.pmid is not None:
            assert ref.pmid.isdigit(), ref.key


def test_outcome_ids_unique_and_prefixed_by_their_study(base: EvidenceBase) -> None:
    ids = [o.id for _, o in base.outcomes()]
    assert len(ids) == len(set(ids))
    for study, outcome in base.outcomes():
        assert outcome.id.startswith(study.key + "_"), outcome.id


def test_quantitative_outcomes_carry_units(base: EvidenceBase) -> None:
    quantitative = base.quantitative_outcomes()
    assert len(quantitative) > 30
    for _, outcome in quantitative:
        assert outcome.unit, outcome.id


# ---------------------------------------------------------------------------------------------- integrity
def test_every_claim_reference_resolves(base: EvidenceBase) -> None:
    for claim in base.claims.values():
        for ref in (*claim.supports, *claim.contradicts):
            study, _ = base.resolve(ref.ref)
            assert study.key in base.references
        for other in claim.opposes:
            assert other in base.claims


def test_every_study_is_in_the_bibliography(base: EvidenceBase) -> None:
    assert set(base.studies) <= set(base.references)


def test_broken_claim_reference_raises_data_error_with_near_matches(base: EvidenceBase) -> None:
    bad = Claim.model_validate(
        {"id": "bad", "statement": "x", "kind": "rival", "scope": "clinical", "supports": ["wiliams2018"]}
    )
    with pytest.raises(DataError, match="williams2018"):
        EvidenceBase(base.references.values(), base.studies.values(), [bad])


def test_study_without_bibliography_entry_raises(base: EvidenceBase) -> None:
    with pytest.raises(DataError, match="no bibliography entry"):
        EvidenceBase(base.references.values(), [*base.studies.values(), _study(key="nobody2099")], [])


def test_unknown_key_lists_near_matches(base: EvidenceBase) -> None:
    with pytest.raises(UnknownNameError, match="williams2018"):
        base.lookup("willams2018")


# ---------------------------------------------------------------------------------------------- the rule
def test_rct_of_100_outranks_case_series_of_5() -> None:
    rct = _study()
    series = _study(
        design="case_series", n=5, randomized=False, blinded=False, placebo_controlled=False, replicated=None
    )
    assert study_weight(rct) > 5 * study_weight(series)


def test_design_order_at_equal_size() -> None:
    rct = _study(n=20)
    open_label = _study(design="open_label_trial", n=20, randomized=False, blinded=False)
    series = _study(design="case_series", n=20, randomized=False, blinded=False, placebo_controlled=False)
    assert study_weight(rct) > study_weight(open_label) > study_weight(series)


def test_interim_and_replication_lower_weight() -> None:
    full = _study(design="randomized_crossover", n=12)
    interim = _study(design="randomized_crossover", n=12, interim=True, replicated=False)
    assert study_weight(interim) < 0.5 * study_weight(full)


def test_unreplicated_interim_of_12_alone_is_weak(base: EvidenceBase) -> None:
    claim = Claim.model_validate(
        {"id": "t", "statement": "t", "kind": "rival", "scope": "clinical", "supports": ["williams2018"]}
    )
    result = claim_strength(claim, base)
    assert result.label == "weak"
    assert result.strength < strength_rule().moderate


def test_animal_studies_count_less_for_clinical_claims(base: EvidenceBase) -> None:
    li = base.studies["li2010"]
    assert study_weight(li, "clinical") < study_weight(li, "mechanistic")
    assert study_weight(base.studies["berman2000"], "clinical") > study_weight(li, "clinical")


def test_size_is_monotone() -> None:
    weights = [study_weight(_study(n=n)) for n in (5, 10, 20, 50, 100, 1000)]
    assert weights == sorted(weights) and weights[-1] <= 1.0


def test_combine_is_order_free_and_bounded() -> None:
    assert combine([0.2, 0.5, 0.1]) == pytest.approx(combine([0.1, 0.2, 0.5]))
    assert combine([]) == 0.0
    assert 0.5 < combine([0.5, 0.5]) < 1.0


def test_contested_label_when_contradiction_is_comparable() -> None:
    assert label_for(0.6, 0.5) == "contested"
    assert label_for(0.8, 0.0) == "strong"
    assert label_for(0.4, 0.01) == "moderate"


def test_rule_numbers_come_from_data(base: EvidenceBase) -> None:
    rule = strength_rule()
    lenient = dataclasses.replace(rule, interim=1.0)
    williams = base.studies["williams2018"]
    assert study_weight(williams, "clinical", lenient) > study_weight(williams, "clinical", rule)


def test_strengths_are_deterministic(base: EvidenceBase) -> None:
    assert all_claim_strengths(base) == all_claim_strengths(base)


# ------------------------------------------------------------------------------------------ the seed's point
def test_opioid_necessity_rests_on_one_interim_crossover(base: EvidenceBase) -> None:
    result = claim_strength(base.claims["opioid_necessary"], base)
    primary = [u for u in result.supporting_units if u in base.studies]
    assert primary == ["williams2018"], "williams2019 re-analyses the same 12 people and must not add"
    assert base.studies["williams2018"].n == 12 and base.studies["williams2018"].interim
    assert {"yoon2019", "marton2019"} <= set(result.contradicting_units)
    assert result.label in ("weak", "contested")


def test_opioid_claim_weaker_than_glutamate_mtor_steps(base: EvidenceBase) -> None:
    strengths = all_claim_strengths(base)
    opioid = strengths["opioid_necessary"].strength
    for step in ("ampa_required", "mtorc1_activation", "synaptogenesis", "synaptic_protein_synthesis"):
        assert strengths[step].strength > opioid, step
        assert strengths[step].label in ("moderate", "strong"), step


def test_rapamycin_readings_are_both_weaker_than_the_measured_result(base: EvidenceBase) -> None:
    strengths = all_claim_strengths(base)
    measured = strengths["rapamycin_prolongs_response"].strength
    assert strengths["rapamycin_refutes_mtor"].strength < measured
    assert strengths["rapamycin_protects_synapses"].strength < measured


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_evidence_json_shape() -> None:
    result = CliRunner().invoke(app, ["evidence", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert {"studies", "claims"} <= set(listing)
    for study in listing["studies"]:
        expected = {"key", "authors", "year", "title", "journal", "species", "design", "n", "weight"}
        assert expected <= set(study)
    for claim in listing["claims"]:
        assert {"id", "statement", "strength", "label", "supports", "contradicts"} <= set(claim)
    by_id = {c["id"]: c for c in listing["claims"]}
    assert by_id["opioid_necessary"]["strength"] < by_id["ampa_required"]["strength"]


def test_cli_evidence_table_lists_claims() -> None:
    result = CliRunner().invoke(app, ["evidence"])
    assert result.exit_code == 0, result.output
    assert "opioid_necessary" in result.output and "williams2018" in result.output


@pytest.mark.parametrize(("key", "kind"), [("williams2018", "study"), ("opioid_necessary", "claim")])
def test_cli_show_json(key: str, kind: str) -> None:
    result = CliRunner().invoke(app, ["evidence", "show", key, "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["type"] == kind
    if kind == "study":
        assert info["record"]["interim"] is True
        assert any(c["claim"] == "opioid_necessary" for c in info["cited_by"])
    else:
        assert info["citations"]


def test_cli_unknown_key_one_line_exit_2() -> None:
    code = (
        "import sys, ketasim.cli.evidence_cmd; from ketasim.cli import main; "
        "sys.argv = ['ketasim', 'evidence', 'show', 'wiliams2018']; main()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"williams2018", lines[0])


def test_docs_tables_are_in_sync() -> None:
    root = Path(__file__).resolve().parents[1]
    script = root / "scripts" / "gen_evidence_table.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--check", str(root / "docs" / "evidence.md")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
