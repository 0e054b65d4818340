"""The evidence-strength rule: a study's weight and a claim's strength, deterministic and documented.

Why a rule at all: the seed's argument is about evidence quality (one interim crossover of 12 against a
replicated preclinical chain). Writing the judgement down as arithmetic makes it inspectable and arguable;
every number it uses lives in `data/evidence/strength_rule.yaml` with a one-line rationale.

Study weight (0..1), for a claim of a given scope (clinical, mechanistic, pharmacological):

    w = design_base[design]
        * size(n)                   n_eff / (n_eff + half_n); n_eff = 2n for crossovers; unknown n by design
        * randomized * blinded * placebo_controlled * replicated    (flag factors: true / false / unknown;
                                    flags meaningless for a design, e.g. blinding of an assay, count 1)
        * interim                   if an interim look at part of the sample
        * secondary_analysis        if a re-analysis of a trial
        * unverified_field ** k     k = design fields taken from recollection
        * species[scope][species]   e.g. rodents count 0.4 for clinical claims, 1.0 for mechanistic ones

Reviews and commentaries bring no new data: their weight is just `design_base`.

A claim cites studies or outcomes. Each citation weighs the study weight times the verification factor of
what is cited (the outcome's tag, else the study's: U counts half) times its qualifier (indirect, not
significant: half). Citations are grouped into independent units (a study and any study with
`same_sample_as` pointing to it are one unit; all reviews and commentaries together are one unit) and each
unit counts once, at its strongest citation. Units combine like independent pieces of evidence:

    S = 1 - prod(1 - w_unit) over supporting units        C = the same over contradicting units
    strength = S * (1 - C)

Label: `contested` when C >= contested_ratio * S and C >= contested_min; otherwise `strong` when strength
>= strong, `moderate` when >= moderate, else `weak`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from .. import data
from ..errors import DataError
from .records import Claim, ClaimRef, EvidenceBase, Scope, Study

Label = Literal["strong", "moderate", "weak", "contested"]
SECONDARY_UNIT = "reviews and commentary"


@dataclass(frozen=True)
class StrengthRule:
    """The rule's numbers, read from strength_rule.yaml (values only; rationales stay in the file)."""

    design_base: Mapping[str, float]
    secondary_designs: frozenset[str]
    half_n: float
    crossover_multiplier: float
    unknown_n: Mapping[str, float]
    flags: Mapping[str, Mapping[str, float]]
    flags_not_applicable: Mapping[str, frozenset[str]]
    interim: float
    secondary_analysis: float
    unverified_field: float
    species: Mapping[str, Mapping[str, float]]
    verification: Mapping[str, float]
    qualifiers: Mapping[str, float]
    strong: float
    moderate: float
    contested_ratio: float
    contested_min: float

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> StrengthRule:
        """Build the rule from the YAML structure, failing loudly on a missing entry."""
        try:
            size = raw["size"]
            labels = raw["labels"]
            return cls(
                design_base=_values(raw["design_base"]),
                secondary_designs=frozenset(raw["secondary_designs"]),
                half_n=float(size["half_n"]["value"]),
                crossover_multiplier=float(size["crossover_multiplier"]["value"]),
                unknown_n=_values(size["unknown_n"]),
                flags={name: _values(table) for name, table in raw["flags"].items()},
                flags_not_applicable={
                    design: frozenset(names) for design, names in raw.get("flags_not_applicable", {}).items()
                },
                interim=float(raw["interim"]["value"]),
                secondary_analysis=float(raw["secondary_analysis"]["value"]),
                unverified_field=float(raw["unverified_field"]["value"]),
                species={scope: _values(table) for scope, table in raw["species"].items()},
                verification=_values(raw["verification"]),
                qualifiers=_values(raw["qualifiers"]),
                strong=float(labels["strong"]["value"]),
                moderate=float(labels["moderate"]["value"]),
                contested_ratio=float(labels["contested_ratio"]["value"]),
                contested_min=float(labels["contested_min"]["value"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"evidence/strength_rule.yaml is malformed: missing or bad entry {exc}") from exc


def _values(table: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(entry["value"]) for name, entry in table.items()}


@cache
def strength_rule() -> StrengthRule:
    """The packaged rule (cached)."""
    return StrengthRule.from_mapping(data.load("evidence/strength_rule.yaml"))


def _flag(rule: StrengthRule, study: Study, name: str) -> float:
    if name in rule.flags_not_applicable.get(study.design, frozenset()):
        return 1.0
    table = rule.flags[name]
    value: bool | None = getattr(study, name)
    if value is None:
        return table["when_unknown"]
    return table["when_true"] if value else table["when_false"]


def size_factor(study: Study, rule: StrengthRule | None = None) -> float:
    """Credit for sample size: n_eff / (n_eff + half_n), crossovers counting each subject twice."""
    rule = rule or strength_rule()
    if study.n is None:
        return rule.unknown_n.get(study.design, rule.unknown_n["default"])
    n_eff = study.n * (rule.crossover_multiplier if study.design == "randomized_crossover" else 1.0)
    return n_eff / (n_eff + rule.half_n)


def study_weight(
    study: Study, scope: Scope = "clinical", rule: StrengthRule | None = None, *, verification: bool = True
) -> float:
    """A study's weight (0..1) for claims of `scope`; see the module docstring for the formula.

    `verification=False` leaves out the study's own verification factor, for callers that apply the factor
    of the cited outcome instead.
    """
    rule = rule or strength_rule()
    weight = rule.design_base[study.design]
    if study.design not in rule.secondary_designs:
        weight *= size_factor(study, rule)
        for flag in ("randomized", "blinded", "placebo_controlled", "replicated"):
            weight *= _flag(rule, study, flag)
        if study.interim:
            weight *= rule.interim
        if study.secondary_analysis:
            weight *= rule.secondary_analysis
        weight *= rule.unverified_field ** len(study.unverified)
        weight *= rule.species[scope][study.species]
    if verification:
        weight *= rule.verification[study.verified]
    return min(1.0, max(0.0, weight))


@dataclass(frozen=True)
class CitationWeight:
    """One citation of a claim with the weight it contributes and the unit it belongs to."""

    ref: str
    study: str
    unit: str
    weight: float
    qualifier: str | None = None


@dataclass(frozen=True)
class ClaimStrength:
    """A claim's computed support S, contradiction C, strength S*(1-C) and label, with the working."""

    claim: str
    support: float
    contradiction: float
    strength: float
    label: Label
    supporting_units: Mapping[str, float] = field(default_factory=dict)
    contradicting_units: Mapping[str, float] = field(default_factory=dict)
    citations: tuple[CitationWeight, ...] = ()

    @property
    def n_supporting_units(self) -> int:
        """How many independent units support the claim."""
        return len(self.supporting_units)


def citation_weight(
    base: EvidenceBase, ref: ClaimRef, scope: Scope, rule: StrengthRule | None = None
) -> CitationWeight:
    """The weight one claim reference carries: study weight x verification x qualifier."""
    rule = rule or strength_rule()
    study, outcome = base.resolve(ref.ref)
    tag = outcome.verified if outcome is not None and outcome.verified is not None else study.verified
    weight = study_weight(study, scope, rule, verification=False) * rule.verification[tag]
    if ref.qualifier is not None:
        weight *= rule.qualifiers[ref.qualifier]
    unit = SECONDARY_UNIT if study.design in rule.secondary_designs else study.unit_key
    return CitationWeight(ref=ref.ref, study=study.key, unit=unit, weight=weight, qualifier=ref.qualifier)


def _units(citations: list[CitationWeight]) -> dict[str, float]:
    units: dict[str, float] = {}
    for cite in citations:
        units[cite.unit] = max(units.get(cite.unit, 0.0), cite.weight)
    return units


def combine(weights: Mapping[str, float] | list[float]) -> float:
    """Independent units combined as 1 - prod(1 - w): order-free, monotone, never above 1."""
    values = weights.values() if isinstance(weights, Mapping) else weights
    remaining = 1.0
    for w in values:
        remaining *= 1.0 - w
    return 1.0 - remaining


def label_for(support: float, contradiction: float, rule: StrengthRule | None = None) -> Label:
    """The label for a support/contradiction pair (see the module docstring)."""
    rule = rule or strength_rule()
    if contradiction >= rule.contested_min and contradiction >= rule.contested_ratio * support:
        return "contested"
    strength = support * (1.0 - contradiction)
    if strength >= rule.strong:
        return "strong"
    if strength >= rule.moderate:
        return "moderate"
    return "weak"


def claim_strength(claim: Claim, base: EvidenceBase, rule: StrengthRule | None = None) -> ClaimStrength:
    """Compute a claim's strength from its supporting and contradicting citations."""
    rule = rule or strength_rule()
    pro = [citation_weight(base, ref, claim.scope, rule) for ref in claim.supports]
    con = [citation_weight(base, ref, claim.scope, rule) for ref in claim.contradicts]
    pro_units, con_units = _units(pro), _units(con)
    support, contradiction = combine(pro_units), combine(con_units)
    return ClaimStrength(
        claim=claim.id,
        support=support,
        contradiction=contradiction,
        strength=support * (1.0 - contradiction),
        label=label_for(support, contradiction, rule),
        supporting_units=pro_units,
        contradicting_units=con_units,
        citations=(*pro, *con),
    )


def all_claim_strengths(base: EvidenceBase, rule: StrengthRule | None = None) -> dict[str, ClaimStrength]:
    """Strength of every claim, in file order."""
    return {cid: claim_strength(claim, base, rule) for cid, claim in base.claims.items()}
