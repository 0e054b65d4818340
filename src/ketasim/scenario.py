"""What to simulate: drug, route, dose, regimen, subject, pretreatments, hypothesis, outputs.

A Scenario is what the CLI options and scenario files are parsed into; it is validated here, so every bad
input is rejected with one line before anything is computed or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ScenarioError, UnitError
from .pk import catalog
from .units import parse_dose, parse_duration, parse_weight


class Administration(BaseModel):
    """One drug given by one route: a dose on a regimen, or at explicit times."""

    model_config = ConfigDict(extra="forbid")

    drug: str
    route: str = "iv"
    dose: str | None = None
    over: str | None = None
    regimen: str = "single"
    first_dose: str | None = None
    #: explicit dose events: [{time: "0 h", dose: "56 mg"}, ...] (overrides `regimen`)
    events: list[dict[str, Any]] | None = None
    #: for pretreatments: how long before the first main dose (e.g. "45 min")
    offset: str | None = None

    @field_validator("route")
    @classmethod
    def _route(cls, v: str) -> str:
        return v.strip().lower()


class Scenario(BaseModel):
    """A full simulation request for one subject (or a population with the same design)."""

    model_config = ConfigDict(extra="forbid")

    drug: str
    route: str = "iv"
    dose: str | None = None
    over: str | None = None
    regimen: str = "single"
    first_dose: str | None = None
    events: list[dict[str, Any]] | None = None
    species: str = "human"
    weight: float | str | None = None
    age: float | None = None
    sex: str = "female"
    asian: bool = False
    japanese: bool = False
    duration: str | None = None
    hypothesis: str = "glutamate_mtor"
    pretreatments: list[Administration] = Field(default_factory=list)
    #: user-defined hypothesis variant: edges switched off and gains scaled
    edges_off: list[str] = Field(default_factory=list)
    gains: dict[str, float] = Field(default_factory=dict)
    at: list[str] = Field(default_factory=list)

    @field_validator("species")
    @classmethod
    def _species(cls, v: str) -> str:
        v = v.strip().lower()
        if v not in catalog.SPECIES:
            raise catalog.unknown("species", v, list(catalog.SPECIES))
        return v

    def main(self) -> Administration:
        return Administration(
            drug=self.drug,
            route=self.route,
            dose=self.dose,
            over=self.over,
            regimen=self.regimen,
            first_dose=self.first_dose,
            events=self.events,
        )

    def weight_kg(self) -> float:
        if self.weight is None:
            return catalog.species_default(self.species, "weight")
        return parse_weight(self.weight)

    def age_years(self) -> float:
        if self.age is None:
            return catalog.species_default(self.species, "age")
        if not (0 <= float(self.age) <= 120):
            raise UnitError(f"age {self.age} is not a plausible age in years; give 0-120")
        return float(self.age)

    def duration_h(self, natural: float | None) -> float:
        if self.duration is not None:
            hours = parse_duration(self.duration, allow_zero=False)
            if hours > 5 * 365 * 24:
                raise UnitError(f"duration {self.duration!r} is over 5 years; give e.g. '12w'")
            return hours
        return natural if natural is not None else catalog.species_default(self.species, "default_duration")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "file"
    if err["type"] == "extra_forbidden":
        return f"unknown field {where!r}"
    if err["type"] == "missing":
        return f"missing required field {where!r}"
    return f"field {where!r}: {err['msg']}"


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read a YAML scenario file; CLI options given explicitly override its fields."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"scenario file {str(p)!r} does not exist; give the path to a YAML file")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" at line {line + 1}" if line is not None else ""
        raise ScenarioError(f"scenario file {str(p)!r} is not valid YAML{at}; fix the syntax") from exc
    if not isinstance(raw, dict):
        raise ScenarioError(
            f"scenario file {str(p)!r} must be a mapping of fields (drug:, route:, dose: ...)"
        )
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return make_scenario(raw, source=str(p))


def make_scenario(fields: dict[str, Any], source: str = "options") -> Scenario:
    try:
        return Scenario(**fields)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {_first_error(exc)}") from exc


def parse_pretreat(text: str) -> Administration:
    """'naltrexone:50 mg:oral:45 min' -> an Administration given 45 min before the first dose."""
    parts = [p.strip() for p in str(text).split(":")]
    if len(parts) != 4 or not all(parts):
        raise ScenarioError(
            f"pretreatment {text!r} must be DRUG:DOSE:ROUTE:OFFSET, e.g. 'naltrexone:50 mg:oral:45 min'"
        )
    drug, dose, route, offset = parts
    parse_dose(dose)
    parse_duration(offset, what="pretreatment offset")
    return Administration(drug=drug, dose=dose, route=route, offset=offset)
