"""The scorecard: every experiment judged under each hypothesis, totals, an evidence-weighted score, and the
comparison between hypotheses that the seed document argues about.

Why weighted: a finding from one interim crossover of 12 people should not count as much as a replicated
rodent pretreatment experiment or a phase 2 RCT. Each finding weighs what its study weighs under the evidence
base's own strength rule (`experiment_weight`: study weight for the finding's scope x the finding's
verification factor), so the scorecard and `ketasim evidence` can never weigh a study differently.

The strength rule counts each independent evidence unit (a study with any study on the same participants)
once. The scorecard does the same: a unit's findings share its weight equally, so a trial recorded as six
outcomes (three doses, a dose-response, two placebo-arm changes) does not count six times, and a study's say
does not depend on how finely its record was split.

    weight(finding) = experiment_weight(finding) / number of findings of its unit
    score           = sum(weight of passed findings) / sum(weight of all findings)
    score_per_finding: the same with the unshared experiment_weight (reported beside it, for transparency)

Failures are never dropped: a finding the model cannot express counts as failed, and every failure carries
the explanation written for it in experiments.yaml (docs/evidence.md lists them all).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import DataError
from .experiments import (
    Config,
    Evaluation,
    Experiment,
    ExperimentSet,
    SimulationStore,
    experiment_scope,
    experiment_set,
    experiment_weight,
    run_experiments,
)
from .records import EvidenceBase, Study, evidence_base
from .strength import all_claim_strengths, strength_rule, study_weight

_DIGITS = 4
#: magnitudes below this are integration noise (tolerances 1e-6 relative), shown as 0
_NOISE = 1e-9


def _round(x: float | None) -> float | None:
    """Rounded for output; non-finite numbers become None (JSON has no infinity)."""
    if x is None or not math.isfinite(x):
        return None
    if abs(x) < _NOISE:
        return 0.0
    return float(f"{x:.{_DIGITS}g}")


@dataclass
class FindingResult:
    """One finding under one configuration: the published and simulated values and the verdict."""

    id: str
    finding: str
    study: str
    description: str
    basis: str
    published: str
    published_interval: tuple[float, float] | None
    simulated: float | None
    quantities: dict[str, float]
    verdict: str
    rule: str
    weight: float
    finding_weight: float
    unit: str
    explanation: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The finding as it appears in `ketasim scorecard --json`."""
        interval = None
        if self.published_interval is not None:
            interval = [_round(self.published_interval[0]), _round(self.published_interval[1])]
        return {
            "id": self.id,
            "study": self.study,
            "published": self.published,
            "simulated": _round(self.simulated),
            "verdict": self.verdict,
            "finding": self.finding,
            "basis": self.basis,
            "published_interval": interval,
            "quantities": {k: _round(v) for k, v in self.quantities.items()},
            "rule": self.rule,
            "weight": _round(self.weight),
            "finding_weight": _round(self.finding_weight),
            "unit": self.unit,
            "explanation": self.explanation,
        }


@dataclass
class HypothesisCard:
    """All findings under one configuration, with totals."""

    name: str
    config: Config
    findings: list[FindingResult]

    @property
    def passed(self) -> int:
        return sum(f.verdict == "pass" for f in self.findings)

    @property
    def total(self) -> int:
        return len(self.findings)

    @property
    def weighted_passed(self) -> float:
        return sum(f.weight for f in self.findings if f.verdict == "pass")

    @property
    def weighted_total(self) -> float:
        return sum(f.weight for f in self.findings)

    @property
    def score(self) -> float:
        """Evidence-weighted share of findings reproduced (0..1); units share their weight."""
        total = self.weighted_total
        return self.weighted_passed / total if total > 0 else 0.0

    @property
    def score_per_finding(self) -> float:
        """The same share with every finding at its study's full weight (units not shared)."""
        total = sum(f.finding_weight for f in self.findings)
        passed = sum(f.finding_weight for f in self.findings if f.verdict == "pass")
        return passed / total if total > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "total": self.total,
            "score": _round(self.score),
            "score_per_finding": _round(self.score_per_finding),
            "weighted_passed": _round(self.weighted_passed),
            "weighted_total": _round(self.weighted_total),
            "hypothesis": self.config.hypothesis,
            "edges_off": list(self.config.edges_off),
            "gains": dict(self.config.gains),
            "findings": [f.as_json() for f in self.findings],
        }


@dataclass
class Scorecard:
    """Cards by configuration name, and the comparison when more than one configuration was judged."""

    cards: dict[str, HypothesisCard]
    comparison: dict[str, Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The `ketasim scorecard --json` object."""
        out: dict[str, Any] = {"hypotheses": {name: card.as_json() for name, card in self.cards.items()}}
        if self.comparison is not None:
            out["comparison"] = self.comparison
        return out

    def verdicts(self, name: str) -> dict[str, str]:
        """{experiment id: verdict} for one configuration."""
        return {f.id: f.verdict for f in self.cards[name].findings}


def explanation_for(exp: Experiment, config: Config, ex_set: ExperimentSet | None = None) -> str | None:
    """The failure explanation for this configuration (its name, then its hypothesis, then `default`)."""
    ex_set = ex_set or experiment_set()
    return ex_set.explanation(exp, (config.name, config.hypothesis, "default"))


def _finding(
    ev: Evaluation, weights: Mapping[str, tuple[float, float, str]], base: EvidenceBase, ex_set: ExperimentSet
) -> FindingResult:
    exp = ev.experiment
    _, outcome = base.outcome(exp.finding)
    weight, finding_weight, unit = weights[exp.id]
    return FindingResult(
        id=exp.id,
        finding=exp.finding,
        study=exp.study,
        description=outcome.description,
        basis=exp.basis,
        published=exp.published.text,
        published_interval=ev.published_interval,
        simulated=ev.simulated,
        quantities=dict(ev.values),
        verdict=ev.verdict,
        rule=ev.detail,
        weight=weight,
        finding_weight=finding_weight,
        unit=unit,
        explanation=None if ev.passed else explanation_for(exp, ev.config, ex_set),
    )


def run_scorecard(
    configs: Sequence[Config],
    *,
    workers: int | None = None,
    store: SimulationStore | None = None,
    ex_set: ExperimentSet | None = None,
    base: EvidenceBase | None = None,
) -> Scorecard:
    """Judge every experiment under each configuration; add the comparison when there are several."""
    ex_set = ex_set or experiment_set()
    base = base or evidence_base()
    weights = finding_weights(ex_set, base)
    evaluations = run_experiments(configs, workers=workers, store=store, ex_set=ex_set)
    cards = {
        c.name: HypothesisCard(c.name, c, [_finding(ev, weights, base, ex_set) for ev in evaluations[c.name]])
        for c in configs
    }
    sc = Scorecard(cards)
    if len(cards) > 1:
        sc.comparison = compare(sc, ex_set, base)
    return sc


def finding_weights(ex_set: ExperimentSet, base: EvidenceBase) -> dict[str, tuple[float, float, str]]:
    """{experiment id: (shared weight, own weight, evidence unit)}: each unit's findings share its weight."""
    units: dict[str, str] = {}
    own: dict[str, float] = {}
    for exp in ex_set.experiments:
        study, _ = base.outcome(exp.finding)
        units[exp.id] = study.unit_key
        own[exp.id] = experiment_weight(exp, base)
    counts: dict[str, int] = {}
    for unit in units.values():
        counts[unit] = counts.get(unit, 0) + 1
    return {eid: (own[eid] / counts[units[eid]], own[eid], units[eid]) for eid in units}


# ------------------------------------------------------------------------------------------------ comparison
def _hypothetical_study(spec: Mapping[str, Any]) -> Study:
    fields: dict[str, Any] = {"key": "hypothetical", "verified": "V", "interim": False, **spec}
    try:
        return Study.model_validate(fields)
    except Exception as exc:  # pydantic's ValidationError: the data file is wrong
        raise DataError(f"experiments.yaml: comparison counterfactual study is malformed: {exc}") from exc


def compare(
    sc: Scorecard, ex_set: ExperimentSet | None = None, base: EvidenceBase | None = None
) -> dict[str, Any]:
    """Which findings each configuration explains, weighted; the seed's opioid-versus-glutamate comparison.

    Returns a JSON-ready dictionary:
      ranking          configurations by evidence-weighted score
      findings         per finding: weight, and which configurations pass it
      exclusive        per configuration: findings only it passes, with their total weight
      head_to_head     the focus pair from experiments.yaml (default incumbent glutamate_mtor vs challenger
                       opioid): what each explains that the other does not, with the studies' designs
      claims           strength of the claims only one hypothesis asserts (from `ketasim evidence`)
      counterfactuals  the studies that would change the verdict, weighed by the same rule, and how many
                       of each it would take to reverse the ranking of the focus pair
    """
    ex_set = ex_set or experiment_set()
    base = base or evidence_base()
    names = list(sc.cards)
    by_id: dict[str, dict[str, FindingResult]] = {}
    for name, card in sc.cards.items():
        for f in card.findings:
            by_id.setdefault(f.id, {})[name] = f
    findings: list[dict[str, Any]] = []
    for fid, per in by_id.items():
        first = next(iter(per.values()))
        findings.append({
            "id": fid,
            "study": first.study,
            "weight": _round(first.weight),
            "passed_by": [n for n in names if per[n].verdict == "pass"],
        })
    exclusive: dict[str, dict[str, Any]] = {}
    for name in names:
        only = [f for f in findings if f["passed_by"] == [name]]
        weight = sum(float(f["weight"] or 0.0) for f in only)
        exclusive[name] = {"findings": [f["id"] for f in only], "weight": _round(weight)}
    ranking = sorted(names, key=lambda n: -sc.cards[n].score)
    out: dict[str, Any] = {
        "ranking": [{"name": n, "score": _round(sc.cards[n].score), "passed": sc.cards[n].passed,
                     "total": sc.cards[n].total, "score_per_finding": _round(sc.cards[n].score_per_finding)}
                    for n in ranking],
        "findings": findings,
        "exclusive": exclusive,
        "claims": _distinctive_claims(base, {sc.cards[n].config.hypothesis for n in names}),
    }
    spec = ex_set.comparison
    focus = spec.get("focus") or {}
    incumbent, challenger = focus.get("incumbent"), focus.get("challenger")
    if incumbent in sc.cards and challenger in sc.cards:
        out["head_to_head"] = _head_to_head(sc, incumbent, challenger, base)
        out["counterfactuals"] = [
            _counterfactual(cf, sc, incumbent, challenger) for cf in spec.get("counterfactuals") or []
        ]
        out["reading"] = spec.get("reading")
    return out


def _study_line(study: Study) -> dict[str, Any]:
    return {
        "study": study.key, "design": study.design, "n": study.n, "interim": study.interim,
        "replicated": study.replicated, "species": study.species, "same_sample_as": study.same_sample_as,
    }


def _head_to_head(sc: Scorecard, incumbent: str, challenger: str, base: EvidenceBase) -> dict[str, Any]:
    inc = {f.id: f for f in sc.cards[incumbent].findings}
    cha = {f.id: f for f in sc.cards[challenger].findings}

    def side(winner: dict[str, FindingResult], loser: dict[str, FindingResult]) -> dict[str, Any]:
        rows = []
        for fid, f in winner.items():
            if f.verdict == "pass" and loser[fid].verdict == "fail":
                rows.append({"id": fid, "weight": _round(f.weight), **_study_line(base.studies[f.study])})
        units = sorted({r["study"] for r in rows})
        return {"findings": rows, "weight": _round(sum(r["weight"] or 0 for r in rows)), "studies": units}

    return {
        "incumbent": incumbent,
        "challenger": challenger,
        f"{challenger}_only": side(cha, inc),
        f"{incumbent}_only": side(inc, cha),
        "score_gap": _round(sc.cards[incumbent].score - sc.cards[challenger].score),
    }


def _counterfactual(cf: Mapping[str, Any], sc: Scorecard, incumbent: str, challenger: str) -> dict[str, Any]:
    """Weigh a hypothetical study with the strength rule and say how many of it would flip the ranking."""
    study = _hypothetical_study(cf["study"])
    scope = cf.get("scope", "clinical")
    weight = study_weight(study, scope, strength_rule())
    passes = set(cf.get("passes", ()))
    inc, cha = sc.cards[incumbent], sc.cards[challenger]

    def scores(k: int) -> tuple[float, float]:
        total = inc.weighted_total + k * weight
        a = (inc.weighted_passed + (k * weight if incumbent in passes else 0.0)) / total
        b = (cha.weighted_passed + (k * weight if challenger in passes else 0.0)) / total
        return a, b

    limit = int(cf.get("search_limit", 50))
    needed = None
    for k in range(1, limit + 1):
        a, b = scores(k)
        if (b > a) != (cha.score > inc.score):
            needed = k
            break
    one_a, one_b = scores(1)
    return {
        "id": cf["id"],
        "text": cf["text"],
        "weight": _round(weight),
        "passes": sorted(passes),
        "scores_with_one": {incumbent: _round(one_a), challenger: _round(one_b)},
        "needed_to_reverse_ranking": needed,
    }


def _distinctive_claims(base: EvidenceBase, hypotheses: set[str]) -> dict[str, list[dict[str, Any]]]:
    """For each hypothesis, the claims that it asserts and not every compared hypothesis does."""
    strengths = all_claim_strengths(base)
    out: dict[str, list[dict[str, Any]]] = {}
    for hyp in sorted(hypotheses):
        rows = []
        for claim in base.claims.values():
            asserted = set(claim.hypotheses) & hypotheses
            if hyp in asserted and asserted != hypotheses:
                s = strengths[claim.id]
                studies = dict.fromkeys(base.resolve(ref.ref)[0].key for ref in claim.supports)
                rows.append({"claim": claim.id, "strength": _round(s.strength), "label": s.label,
                             "supporting_units": len(s.supporting_units),
                             "supported_by": [_study_line(base.studies[k]) for k in studies]})
        out[hyp] = rows
    return out


def finding_scope(exp: Experiment, base: EvidenceBase | None = None) -> str:
    """The scope a finding is weighed for (re-exported for reports)."""
    base = base or evidence_base()
    study, _ = base.outcome(exp.finding)
    return experiment_scope(exp, study)
