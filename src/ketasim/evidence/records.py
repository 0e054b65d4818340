"""Typed records of the evidence base (references, studies, outcomes, claims) and their loader.

The records live in `ketasim/data/evidence/*.yaml`; this module only gives them a schema and checks that they
hang together: every study is in the bibliography, every outcome id is unique, and every reference a claim
makes resolves. A broken link is a bug in ketasim's data, so it raises `DataError`, never a silent skip.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .. import data
from ..errors import DataError, UnknownNameError

Verified = Literal["V", "U", "EST"]
Species = Literal["human", "rat", "mouse", "in_vitro", "mixed"]
Design = Literal[
    "randomized_parallel",
    "randomized_crossover",
    "meta_analysis",
    "open_label_trial",
    "open_label_case_series",
    "case_series",
    "experimental_human",
    "imaging",
    "pk_study",
    "preclinical_experiment",
    "in_vitro_experiment",
    "review",
    "commentary",
]
Direction = Literal["increase", "decrease", "no_change", "abolished", "attenuated", "none"]
ClaimKind = Literal["causal_step", "rival", "clinical"]
Scope = Literal["clinical", "mechanistic", "pharmacological"]
Qualifier = Literal["indirect", "not_significant"]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class Reference(BaseModel):
    """One bibliography entry. Identifiers appear only where they were seen or are known with confidence."""

    model_config = _STRICT

    key: str
    authors: str
    year: int | None
    title: str
    journal: str
    volume: str | None = None
    pages: str | None = None
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    kind: Literal["article", "preprint", "review", "commentary", "label", "web"]
    seed_ref: int | None = Field(default=None, ge=1, le=22)
    verified: Verified
    citation_checked: bool
    notes: str | None = None

    def citation(self) -> str:
        """A one-line citation: authors. title. journal year;volume:pages."""
        where = self.journal
        if self.year is not None:
            where += f" {self.year}"
        if self.volume:
            where += f";{self.volume}"
        if self.pages:
            where += f":{self.pages}"
        return f"{self.authors} {self.title}. {where}."


class Pretreatment(BaseModel):
    """A drug given before the main one (offset negative = before, as text with a unit)."""

    model_config = _STRICT

    drug: str
    dose: str | None = None
    route: str | None = None
    offset: str | None = None


class Arm(BaseModel):
    """One arm or condition of a study."""

    model_config = _STRICT

    name: str
    drug: str
    dose: str | None = None
    route: str | None = None
    duration: str | None = None
    schedule: str | None = None
    pretreatment: Pretreatment | None = None


class Comparator(BaseModel):
    """What an outcome is compared with: another arm, optionally with its own value."""

    model_config = _STRICT

    arm: str | None = None
    value: float | None = None
    uncertainty: dict[str, Any] | None = None


class Outcome(BaseModel):
    """One reported finding. `value` is None for purely directional findings."""

    model_config = _STRICT

    id: str
    description: str
    measure: str
    node: str | None = None
    arm: str | None = None
    dose: str | None = None
    value: float | None = None
    unit: str | None = None
    uncertainty: dict[str, Any] | None = None
    comparator: Comparator | None = None
    direction: Direction
    timepoint: str | None = None
    timepoint_h: float | None = None
    window_h: tuple[float, float] | None = None
    verified: Verified | None = None
    notes: str | None = None

    @property
    def quantitative(self) -> bool:
        """True when the finding carries a number (a value or a published range) to compare with."""
        return self.value is not None or bool(self.uncertainty and "range" in self.uncertainty)


class Study(BaseModel):
    """A study that reports findings; `key` is its bibliography key."""

    model_config = _STRICT

    key: str
    species: Species
    population: str | None = None
    design: Design
    randomized: bool | None
    blinded: bool | None
    placebo_controlled: bool | None
    interim: bool
    secondary_analysis: bool = False
    n: int | None = Field(default=None, ge=1)
    replicated: bool | None
    same_sample_as: str | None = None
    verified: Verified
    unverified: tuple[str, ...] = ()
    arms: tuple[Arm, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    quality_notes: str = ""

    @field_validator("unverified")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        allowed = {"n", "design", "species", "randomized", "blinded", "placebo_controlled", "replicated"}
        unknown = set(value) - allowed
        if unknown:
            raise ValueError(f"unverified lists unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        return value

    @model_validator(mode="after")
    def _arms_resolve(self) -> Study:
        names = {arm.name for arm in self.arms}
        if len(names) != len(self.arms):
            raise ValueError(f"study {self.key!r} has duplicate arm names")
        for outcome in self.outcomes:
            refs = [outcome.arm, outcome.comparator.arm if outcome.comparator else None]
            for ref in refs:
                if ref is not None and ref not in names:
                    raise ValueError(f"outcome {outcome.id!r} names arm {ref!r}, not an arm of {self.key!r}")
        return self

    @property
    def unit_key(self) -> str:
        """The independent evidence unit: studies on the same participants share one."""
        return self.same_sample_as or self.key


class ClaimRef(BaseModel):
    """A claim's link to a study key or an outcome id, optionally qualified (indirect, not significant)."""

    model_config = _STRICT

    ref: str
    qualifier: Qualifier | None = None
    note: str | None = None


class Edge(BaseModel):
    """The mechanism-graph edge a claim is about (DESIGN.md node or compound ids)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: str = Field(alias="from")
    target: str = Field(alias="to")


class Claim(BaseModel):
    """A step of the causal chain, a rival reading, or a clinical observation, with its evidence links."""

    model_config = _STRICT

    id: str
    statement: str
    kind: ClaimKind
    scope: Scope
    edge: Edge | None = None
    hypotheses: tuple[str, ...] = ()
    supports: tuple[ClaimRef, ...] = ()
    contradicts: tuple[ClaimRef, ...] = ()
    opposes: tuple[str, ...] = ()
    see_also: tuple[str, ...] = ()
    notes: str | None = None

    @field_validator("supports", "contradicts", mode="before")
    @classmethod
    def _plain_refs(cls, value: Any) -> Any:
        """Accept a bare string as an unqualified reference."""
        if isinstance(value, list):
            return [{"ref": item} if isinstance(item, str) else item for item in value]
        return value


class EvidenceBase:
    """The loaded, cross-checked evidence base: references, studies, outcomes and claims by key."""

    def __init__(
        self,
        references: Iterable[Reference],
        studies: Iterable[Study],
        claims: Iterable[Claim],
        nodes: Iterable[str] = (),
        compounds: Iterable[str] = (),
        hypotheses: Iterable[str] = (),
    ) -> None:
        self.references: dict[str, Reference] = _unique(references, "bibliography key", lambda r: r.key)
        self.studies: dict[str, Study] = _unique(studies, "study key", lambda s: s.key)
        self.claims: dict[str, Claim] = _unique(claims, "claim id", lambda c: c.id)
        self.nodes = frozenset(nodes)
        self.compounds = frozenset(compounds)
        self.hypotheses = tuple(hypotheses)
        self._outcomes: dict[str, tuple[Study, Outcome]] = {}
        for study in self.studies.values():
            for outcome in study.outcomes:
                if outcome.id in self._outcomes or outcome.id in self.studies:
                    raise DataError(f"evidence: outcome id {outcome.id!r} is not unique")
                self._outcomes[outcome.id] = (study, outcome)
        self._check()

    # ---------------------------------------------------------------- lookups
    def outcome(self, outcome_id: str) -> tuple[Study, Outcome]:
        """The study and outcome for an outcome id (UnknownNameError with near matches if absent)."""
        try:
            return self._outcomes[outcome_id]
        except KeyError:
            raise UnknownNameError(_unknown("outcome", outcome_id, self._outcomes)) from None

    def outcomes(self) -> Iterator[tuple[Study, Outcome]]:
        """Every (study, outcome) pair, in file order."""
        yield from self._outcomes.values()

    def quantitative_outcomes(self) -> list[tuple[Study, Outcome]]:
        """Outcomes with a published number or range: the candidates for quantitative experiments."""
        return [(s, o) for s, o in self._outcomes.values() if o.quantitative]

    def resolve(self, ref: str) -> tuple[Study, Outcome | None]:
        """A claim reference (study key or outcome id) as its study and, for an outcome id, the outcome."""
        if ref in self.studies:
            return self.studies[ref], None
        if ref in self._outcomes:
            return self._outcomes[ref]
        raise UnknownNameError(_unknown("study or outcome", ref, [*self.studies, *self._outcomes]))

    def lookup(self, key: str) -> Study | Claim | Reference:
        """A study, claim or bibliography entry by key, for `ketasim evidence show`."""
        for table in (self.studies, self.claims, self.references):
            if key in table:
                return table[key]
        names = [*self.studies, *self.claims, *self.references, *self._outcomes]
        if key in self._outcomes:
            return self._outcomes[key][0]
        raise UnknownNameError(_unknown("study, claim or reference", key, names))

    def claims_citing(self, study_key: str) -> list[tuple[Claim, str]]:
        """Claims citing a study (directly or through an outcome), with 'supports' or 'contradicts'."""
        found: list[tuple[Claim, str]] = []
        for claim in self.claims.values():
            for side, refs in (("supports", claim.supports), ("contradicts", claim.contradicts)):
                if any(self.resolve(r.ref)[0].key == study_key for r in refs):
                    found.append((claim, side))
        return found

    # ---------------------------------------------------------------- validation
    def _check(self) -> None:
        problems: list[str] = []
        for study in self.studies.values():
            if study.key not in self.references:
                problems.append(f"study {study.key!r} has no bibliography entry")
            if study.same_sample_as is not None and study.same_sample_as not in self.studies:
                problems.append(
                    f"study {study.key!r}: same_sample_as {study.same_sample_as!r} is not a study"
                )
            if self.nodes:
                for outcome in study.outcomes:
                    if outcome.node is not None and outcome.node not in self.nodes:
                        problems.append(f"outcome {outcome.id!r}: node {outcome.node!r} is not a model node")
        endpoints = self.nodes | self.compounds
        for claim in self.claims.values():
            for ref in (*claim.supports, *claim.contradicts):
                if ref.ref not in self.studies and ref.ref not in self._outcomes:
                    hint = _unknown("study or outcome", ref.ref, [*self.studies, *self._outcomes])
                    problems.append(f"claim {claim.id!r}: {hint}")
            for key in claim.see_also:
                if key not in self.references:
                    problems.append(f"claim {claim.id!r}: see_also {key!r} is not in the bibliography")
            for other in claim.opposes:
                if other not in self.claims:
                    problems.append(f"claim {claim.id!r}: opposes {other!r}, which is not a claim")
            for hyp in claim.hypotheses:
                if self.hypotheses and hyp not in self.hypotheses:
                    problems.append(f"claim {claim.id!r}: hypothesis {hyp!r} is not one of {self.hypotheses}")
            if claim.edge is not None and endpoints:
                for end in (claim.edge.source, claim.edge.target):
                    if end not in endpoints:
                        problems.append(f"claim {claim.id!r}: edge end {end!r} is not a node or compound id")
        if problems:
            raise DataError("evidence data is inconsistent:\n  " + "\n  ".join(problems))


def _unique(items: Iterable[Any], what: str, key: Any) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for item in items:
        name = key(item)
        if name in table:
            raise DataError(f"evidence: duplicate {what} {name!r}")
        table[name] = item
    return table


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    """An error message naming the unknown key and up to five near matches."""
    matches = difflib.get_close_matches(name, list(dict.fromkeys(known)), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(matches)}?" if matches else ""
    return f"unknown {what} {name!r}{hint}"


def _parse(model: type[BaseModel], items: Any, where: str) -> list[Any]:
    if not isinstance(items, list):
        raise DataError(f"evidence/{where}: expected a list")
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append(model.model_validate(item))
        except ValidationError as exc:
            label = item.get("key") or item.get("id") if isinstance(item, dict) else index
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise DataError(f"evidence/{where}: entry {label!r}: {loc}: {first['msg']}") from exc
    return parsed


def load_references() -> list[Reference]:
    """The bibliography, in file order."""
    raw = data.load("evidence/bibliography.yaml")
    return _parse(Reference, raw.get("references"), "bibliography.yaml")


def load_studies() -> list[Study]:
    """The study records, in file order."""
    raw = data.load("evidence/studies.yaml")
    return _parse(Study, raw.get("studies"), "studies.yaml")


def load_claims() -> list[Claim]:
    """The claims, in file order."""
    raw = data.load("evidence/claims.yaml")
    return _parse(Claim, raw.get("claims"), "claims.yaml")


@cache
def evidence_base() -> EvidenceBase:
    """The packaged evidence base, loaded and cross-checked once per process."""
    raw_claims = data.load("evidence/claims.yaml")
    return EvidenceBase(
        load_references(),
        load_studies(),
        load_claims(),
        nodes=raw_claims.get("nodes", ()),
        compounds=raw_claims.get("compounds", ()),
        hypotheses=raw_claims.get("hypotheses", ()),
    )
