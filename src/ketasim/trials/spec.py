"""Trial files: the YAML schema, validated before anything runs; every error names the field and the fix.

Keys and endpoint ids are a public contract (issue 4): add new ones, never rename.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import KetasimError, ScenarioError
from ..pk import catalog
from ..pk.regimens import parse_regimen
from ..units import parse_dose, parse_duration

DESIGNS = ("parallel", "crossover", "randomized-withdrawal")

_TIMED = re.compile(
    r"^(?P<kind>madrs_change|response|remission)_(?:day(?P<day>\d+(?:\.\d+)?)|(?P<hour>\d+(?:\.\d+)?)h)$"
)
#: endpoints without a time
SIMPLE_ENDPOINTS = ("relapse", "dissociation", "madrs_timecourse")
ENDPOINT_HELP = (
    "use madrs_change_dayD, response_dayD, remission_dayD (or _Hh for hours, e.g. madrs_change_2h), "
    "relapse, dissociation or madrs_timecourse"
)

#: the fix to suggest for a type error, by field name
_HINTS = {
    "name": "give the trial a name, e.g. name: esketamine-vs-placebo",
    "seed": "give a whole number, e.g. seed: 7",
    "design": "use parallel, crossover or randomized-withdrawal",
    "duration": "give a duration with its unit, e.g. '28 d' or '12 w'",
    "washout": "give a duration with its unit, e.g. '1 w'",
    "periods": "give the number of periods (one per arm), e.g. periods: 2",
    "n_per_arm": "give a whole number of subjects, e.g. n_per_arm: 100",
    "age": "give [youngest, oldest] in years, e.g. age: [18, 64]",
    "female_fraction": "give a fraction from 0 to 1, e.g. 0.6",
    "asian_fraction": "give a fraction from 0 to 1",
    "japanese_fraction": "give a fraction from 0 to 1 (not above asian_fraction)",
    "baseline_madrs": "give {mean: 37, sd: 5.5, min: 28}",
    "mean": "give a number of MADRS points",
    "sd": "give a positive number of MADRS points",
    "min": "give a number of MADRS points",
    "max": "give a number of MADRS points",
    "oral_antidepressant": "use new (started at day 0 in every arm), continued or none",
    "arms": "give at least two arms, e.g. arms: {esketamine: {...}, placebo: {...}}",
    "drug": "name a drug, e.g. esketamine, ketamine, lanicemine, placebo",
    "route": "name a route, e.g. iv, intranasal, oral",
    "regimen": "give {schedule: twice-weekly, dose: '84 mg', first_dose: '56 mg'}",
    "schedule": "use single, weekly, twice-weekly, spravato, spravato-weekly or 'every 3.5 d x 8'",
    "dose": "write the amount with its unit, e.g. '84 mg' or '0.5 mg/kg'",
    "first_dose": "write the amount with its unit, e.g. '56 mg'",
    "over": "give an infusion duration, e.g. '40 min'",
    "offset": "give how long before the first dose, e.g. '45 min'",
    "pretreatment": "give {drug: naltrexone, dose: '50 mg', route: oral, offset: '45 min'}",
    "endpoints": ENDPOINT_HELP,
    "control": "name one of the arms",
    "remission_madrs": "give a MADRS score, e.g. 12 (or 10)",
    "visits": "give a list of times after the first dose, e.g. ['2 h', '1 d', '7 d']",
    "open_label": "give {duration: '16 w', drug: ..., route: ..., regimen: {...}}",
    "stability": "give {madrs_max: 12, weeks: 4, required: 3}",
    "madrs_max": "give a MADRS score, e.g. 12",
    "weeks": "give a whole number of weeks, e.g. 4",
    "required": "give a whole number of visits, e.g. 3",
}


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint id: kind and, for timed endpoints, the time after the first dose (h)."""

    id: str
    kind: str
    time_h: float | None = None


def parse_endpoint(text: str) -> Endpoint:
    """'response_day28' -> Endpoint('response_day28', 'response', 672.0)."""
    t = str(text).strip()
    if t in SIMPLE_ENDPOINTS:
        return Endpoint(t, t)
    m = _TIMED.match(t)
    if not m:
        raise ValueError(f"unknown endpoint {t!r}; {ENDPOINT_HELP}")
    hours = float(m.group("day")) * 24.0 if m.group("day") is not None else float(m.group("hour"))
    if hours <= 0:
        raise ValueError(f"endpoint {t!r} must be after the first dose (day or hour above 0)")
    return Endpoint(t, m.group("kind"), hours)


def _check(fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except KetasimError as exc:
        raise ValueError(str(exc)) from exc


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RegimenSpec(_Model):
    """Same choices as `simulate`: a schedule name or repeat, the dose, the first dose, an infusion duration."""

    schedule: str = "single"
    dose: str | None = None
    first_dose: str | None = None
    over: str | None = None

    @field_validator("dose", "first_dose")
    @classmethod
    def _dose(cls, v: str | None) -> str | None:
        if v is not None:
            _check(parse_dose, v)
        return v

    @field_validator("over")
    @classmethod
    def _over(cls, v: str | None) -> str | None:
        if v is not None:
            _check(lambda x: parse_duration(x, allow_zero=False, what="infusion duration"), v)
        return v


class _Treatment(_Model):
    """A drug by a route: the drug must exist; routes are compared in lower case."""

    drug: str
    route: str = "iv"

    @field_validator("drug")
    @classmethod
    def _drug(cls, v: str) -> str:
        return _check(lambda x: catalog.drug(x).id, v.strip().lower())

    @field_validator("route")
    @classmethod
    def _route(cls, v: str) -> str:
        return v.strip().lower()


class PretreatmentSpec(_Treatment):
    """A drug given once, `offset` before the arm's first dose."""

    dose: str
    route: str = "oral"
    offset: str

    @field_validator("dose")
    @classmethod
    def _dose(cls, v: str) -> str:
        _check(parse_dose, v)
        return v

    @field_validator("offset")
    @classmethod
    def _offset(cls, v: str) -> str:
        _check(lambda x: parse_duration(x, what="pretreatment offset"), v)
        return v


class ArmSpec(_Treatment):
    """One treatment: a drug by a route on a regimen, optionally a pretreatment and its own hypothesis."""

    regimen: RegimenSpec = Field(default_factory=RegimenSpec)
    pretreatment: PretreatmentSpec | None = None
    hypothesis: str | None = None

    @field_validator("hypothesis")
    @classmethod
    def _hyp(cls, v: str | None) -> str | None:
        if v is not None:
            _check_hypothesis(v)
        return v

    @model_validator(mode="after")
    def _placebo(self) -> ArmSpec:
        if self.drug == "placebo" and (self.regimen.dose or self.regimen.first_dose):
            raise ValueError("placebo takes no dose; remove regimen.dose (keep regimen.schedule for its sessions)")
        if self.drug != "placebo" and self.regimen.dose is None:
            raise ValueError(f"{self.drug} needs regimen.dose, e.g. dose: '56 mg' or '0.5 mg/kg'")
        if self.regimen.over is not None and self.route != "iv":
            raise ValueError(f"regimen.over makes an IV infusion; route {self.route!r} cannot take it (use route: iv)")
        return self

    def has_compounds(self) -> bool:
        """Whether anything with a PK model is given (else the mechanistic MADRS stays at baseline)."""
        drugs = [self.drug] + ([self.pretreatment.drug] if self.pretreatment else [])
        return any(catalog.drug(d).components for d in drugs)


class BaselineSpec(_Model):
    mean: float | None = None
    sd: float | None = Field(default=None, gt=0)
    min: float | None = None
    max: float | None = None


class PopulationSpec(_Model):
    """Who is enrolled; unset fields take data/population.yaml's defaults."""

    n_per_arm: int = Field(default=100, ge=1)
    age: tuple[float, float] | None = None
    female_fraction: float | None = Field(default=None, ge=0, le=1)
    asian_fraction: float | None = Field(default=None, ge=0, le=1)
    japanese_fraction: float | None = Field(default=None, ge=0, le=1)
    baseline_madrs: BaselineSpec = Field(default_factory=BaselineSpec)

    @field_validator("age")
    @classmethod
    def _age(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not (0 <= v[0] < v[1] <= 120):
            raise ValueError(f"age range {list(v)} must be [youngest, oldest] with 0 <= youngest < oldest <= 120")
        return v

    @model_validator(mode="after")
    def _fractions(self) -> PopulationSpec:
        a = self.asian_fraction or 0.0
        if (self.japanese_fraction or 0.0) > a + 1e-12:
            raise ValueError("japanese_fraction cannot exceed asian_fraction (Japanese subjects count as Asian)")
        b = self.baseline_madrs
        lo = b.min if b.min is not None else 0.0
        hi = b.max if b.max is not None else 60.0
        if not (0 <= lo < hi <= 60):
            raise ValueError("baseline_madrs min and max must satisfy 0 <= min < max <= 60")
        return self


class BackgroundSpec(_Model):
    oral_antidepressant: Literal["none", "continued", "new"] = "none"


class OpenLabelSpec(_Treatment):
    """Randomized-withdrawal: the open-label treatment every subject gets before randomization."""

    duration: str
    regimen: RegimenSpec = Field(default_factory=RegimenSpec)

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str) -> str:
        _check(lambda x: parse_duration(x, allow_zero=False), v)
        return v


class StabilitySpec(_Model):
    """Who is randomized: MADRS <= madrs_max at `required` of the weekly visits in the last `weeks` weeks."""

    madrs_max: float | None = None
    weeks: int | None = Field(default=None, ge=1)
    required: int | None = Field(default=None, ge=1)


def _check_hypothesis(v: str) -> None:
    from ..mechanism import parse_hypothesis

    _check(parse_hypothesis, v)


class TrialSpec(_Model):
    """A whole trial file."""

    name: str
    description: str | None = None
    seed: int = Field(default=0, ge=0)
    design: Literal["parallel", "crossover", "randomized-withdrawal"] = "parallel"
    duration: str
    population: PopulationSpec = Field(default_factory=PopulationSpec)
    background: BackgroundSpec = Field(default_factory=BackgroundSpec)
    hypothesis: str = "glutamate_mtor"
    arms: dict[str, ArmSpec]
    control: str
    endpoints: list[str] = Field(min_length=1)
    remission_madrs: float | None = Field(default=None, ge=0, le=60)
    visits: list[str] | None = None
    periods: int | None = Field(default=None, ge=2)
    washout: str | None = None
    open_label: OpenLabelSpec | None = None
    stability: StabilitySpec | None = None
    #: published results to set beside the simulated ones (docs/trials.md); not used by the simulator
    published: list[dict[str, Any]] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name is empty; give the trial a name")
        return v.strip()

    @field_validator("duration", "washout")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            _check(lambda x: parse_duration(x, allow_zero=False), v)
        return v

    @field_validator("hypothesis")
    @classmethod
    def _hyp(cls, v: str) -> str:
        _check_hypothesis(v)
        return v

    @field_validator("visits")
    @classmethod
    def _visits(cls, v: list[str] | None) -> list[str] | None:
        for item in v or []:
            _check(lambda x: parse_duration(x, what="visit time"), item)
        return v

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, v: list[str]) -> list[str]:
        seen = []
        for e in v:
            ep = parse_endpoint(e)
            if ep.id in seen:
                raise ValueError(f"endpoint {ep.id!r} is listed twice; list it once")
            seen.append(ep.id)
        return seen

    @model_validator(mode="after")
    def _consistent(self) -> TrialSpec:
        if len(self.arms) < 2:
            raise ValueError("field 'arms': a trial needs at least two arms (a treatment and a control)")
        if self.control not in self.arms:
            raise ValueError(f"field 'control': {self.control!r} is not an arm; use one of {', '.join(self.arms)}")
        duration_h = parse_duration(self.duration)
        for name, arm in self.arms.items():
            where = f"arms.{name}.regimen.schedule"
            _regimen_ok(arm.regimen.schedule, duration_h, where)
        if self.design == "crossover":
            if self.washout is None:
                raise ValueError("field 'washout': a crossover needs a washout between periods, e.g. washout: '1 w'")
            periods = self.periods if self.periods is not None else len(self.arms)
            if periods != len(self.arms):
                raise ValueError(
                    f"field 'periods': {periods} periods for {len(self.arms)} arms; every subject gets each arm once, "
                    f"so give periods: {len(self.arms)}"
                )
        else:
            for key in ("periods", "washout"):
                if getattr(self, key) is not None:
                    raise ValueError(f"field {key!r} belongs to crossover trials; remove it or set design: crossover")
        if self.design == "randomized-withdrawal":
            if self.open_label is None:
                raise ValueError(
                    "field 'open_label': a randomized-withdrawal trial needs its open-label phase, "
                    "e.g. open_label: {duration: '16 w', drug: esketamine, route: intranasal, regimen: {...}}"
                )
            ol = self.open_label
            if ol.drug == "placebo":
                raise ValueError("field 'open_label.drug': the open-label phase must give an active drug")
            if ol.regimen.dose is None:
                raise ValueError("field 'open_label.regimen.dose': give the open-label dose, e.g. '84 mg'")
            _regimen_ok(ol.regimen.schedule, parse_duration(ol.duration), "open_label.regimen.schedule")
            for name, arm in self.arms.items():
                if arm.drug not in ("placebo", ol.drug):
                    raise ValueError(
                        f"field 'arms.{name}.drug': randomized arms continue the open-label drug ({ol.drug}) or "
                        "switch to placebo"
                    )
                if arm.drug != "placebo" and (arm.route != ol.route or arm.regimen.over != ol.regimen.over):
                    raise ValueError(
                        f"field 'arms.{name}': a continuing arm keeps the open-label route and infusion duration"
                    )
                if arm.pretreatment is not None:
                    raise ValueError(f"field 'arms.{name}.pretreatment': not supported in randomized-withdrawal trials")
        else:
            for key in ("open_label", "stability"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"field {key!r} belongs to randomized-withdrawal trials; remove it or set "
                        "design: randomized-withdrawal"
                    )
        for e in self.endpoints:
            ep = parse_endpoint(e)
            if ep.time_h is not None and ep.time_h > duration_h + 1e-9:
                raise ValueError(
                    f"field 'endpoints': {ep.id} is after the end of the trial ({self.duration}); "
                    "lengthen duration or choose an earlier day"
                )
            if ep.kind == "relapse" and self.design != "randomized-withdrawal":
                raise ValueError(
                    "field 'endpoints': relapse is measured after randomized withdrawal; "
                    "set design: randomized-withdrawal (with open_label and stability)"
                )
        return self

    # ------------------------------------------------------------------ derived values
    def endpoint_list(self) -> list[Endpoint]:
        return [parse_endpoint(e) for e in self.endpoints]

    def duration_h(self) -> float:
        return parse_duration(self.duration)

    def arm_hypothesis(self, arm: str) -> str:
        return self.arms[arm].hypothesis or self.hypothesis


def _regimen_ok(schedule: str, duration_h: float, where: str) -> None:
    try:
        parse_regimen(schedule, duration_h)
    except KetasimError as exc:
        raise ValueError(f"field {where!r}: {exc}") from exc


def _describe(err: dict[str, Any]) -> str:
    loc = [str(x) for x in err["loc"]]
    where = ".".join(loc)
    msg = str(err.get("msg", ""))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "extra_forbidden":
        parent = ".".join(loc[:-1]) or "the file"
        return f"unknown field {where!r} in {parent}; remove it or check its spelling"
    if err["type"] == "missing":
        hint = _HINTS.get(loc[-1], "")
        return f"missing required field {where!r}" + (f"; {hint}" if hint else "")
    if not loc:
        return msg
    fields = [x for x in loc if not x.isdigit()]
    hint = next((_HINTS[k] for k in reversed(fields) if k in _HINTS), "")
    if msg.startswith("field "):
        return msg
    text = f"field {where!r}: {msg}"
    if hint and err["type"] not in ("value_error",):
        text += f"; {hint}"
    return text


def make_trial(fields: dict[str, Any], source: str = "trial") -> TrialSpec:
    """Validate a mapping into a TrialSpec; the first problem becomes a one-line ScenarioError."""
    try:
        return TrialSpec(**fields)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {_describe(dict(exc.errors()[0]))}") from exc
    except TypeError as exc:  # e.g. a non-string key
        raise ScenarioError(f"{source}: {exc}") from exc


def load_trial(path: str | Path, overrides: dict[str, Any] | None = None) -> TrialSpec:
    """Read and validate a trial YAML file. `overrides` (seed, hypothesis ...) replace its top-level fields."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"trial file {str(p)!r} does not exist; give the path to a YAML file")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" at line {line + 1}" if line is not None else ""
        raise ScenarioError(f"trial file {str(p)!r} is not valid YAML{at}; fix the syntax") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"trial file {str(p)!r} is not UTF-8 text") from exc
    if not isinstance(raw, dict):
        raise ScenarioError(f"trial file {str(p)!r} must be a mapping of fields (name:, design:, arms: ...)")
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return make_trial(raw, source=f"trial file {str(p)!r}")
