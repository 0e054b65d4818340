"""Executable experiments: each recorded finding as simulations, a published value and a rule stated in data.

Why this module exists: a model is only as credible as its record against the findings it claims to explain.
`data/evidence/experiments.yaml` turns every finding of FACTS.md sections 5-6 and of the seed document into
an experiment: named scenarios (the `simulate` fields of the study's arms), the quantities measured on them
(a node at a time, a window mean, a peak, a MADRS improvement, a ratio to a control arm ...), the published
value with its uncertainty, and a comparison rule (direction with a threshold, within an interval derived from
the published numbers, abolished / attenuated / preserved against a control ...). Every number the rules use
lives in that file with a sentence saying why; this module only evaluates them, so nothing passes by
construction: the verdict is a comparison of simulated numbers with published ones.

What is judged is a `Config`: a hypothesis (`glutamate_mtor`, `opioid`, `hnk_ampa` or a combination) and
optionally edges switched off and gains scaled, which is how the tests show that breaking a mechanism flips
the verdicts that depend on it.

Speed. Hypotheses, switched-off edges and scaled gains are all *parameters* of one compiled model (the edge
weights `w_<edge>` and the mechanism's `g_`/`k_` values). So every variant that one scenario needs, for every
configuration being judged, is simulated in a single batched call, one virtual subject per variant: each
distinct scenario is integrated once, however many hypotheses and perturbations are compared. Distinct
scenarios can run in a process pool; each is deterministic, so the worker count never changes a result.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from scipy.stats import norm

from .. import data
from ..errors import DataError, KetasimError, ScenarioError
from ..mechanism import edge_weights, parse_hypothesis
from ..mechanism.hypotheses import check_gains
from ..model.build import prepare
from ..scenario import make_scenario
from ..simulate import run_prepared
from ..solver import SolverOptions
from ..units import parse_duration
from .records import EvidenceBase, Scope, Study, evidence_base
from .strength import strength_rule, study_weight

Array = np.ndarray
Number = float | str  # a number, or the name of an entry of `thresholds` or `conversions` ('-name' negates)

_STRICT = ConfigDict(extra="forbid", frozen=True)

Stat = Literal[
    "value_at",
    "change_at",
    "window_mean_change",
    "window_integral",
    "peak",
    "peak_change",
    "t_peak",
    "returned_fraction",
    "improvement",
    "madrs_change",
    "difference",
    "ratio",
    "sum",
    "trial_mean",
    "trial_rate",
]
#: statistics computed from one simulated scenario, and what each needs
_SCENARIO_STATS: dict[str, tuple[str, ...]] = {
    "value_at": ("node", "at_h"),
    "change_at": ("node", "at_h"),
    "window_mean_change": ("node", "window_h"),
    "window_integral": ("node", "window_h"),
    "peak": ("node",),
    "peak_change": ("node",),
    "t_peak": ("node",),
    "returned_fraction": ("node", "at_h"),
    "improvement": ("at_h",),
    "madrs_change": ("at_h",),
}
_DERIVED_STATS = ("difference", "ratio", "sum")
_TRIAL_STATS = ("trial_mean", "trial_rate")
#: the node the MADRS statistics read
MADRS = "madrs"

RuleKind = Literal[
    "at_least",
    "at_most",
    "within",
    "overlaps",
    "abolished",
    "attenuated",
    "preserved",
    "greater_than",
    "less_than",
    "increasing",
    "all",
]
Basis = Literal["mechanistic", "clinical_layer", "not_expressible"]


# ------------------------------------------------------------------------------------------------ schema
class Variant(BaseModel):
    """An experiment's own change to the judged configuration (e.g. BDNF signalling removed)."""

    model_config = _STRICT

    edges_off: tuple[str, ...] = ()
    gains: dict[str, float] = {}


class Quantity(BaseModel):
    """One measured number: a statistic of a node in a scenario, of a trial arm, or of other quantities."""

    model_config = _STRICT

    stat: Stat
    scenario: str | None = None
    variant: Variant = Variant()
    node: str | None = None
    at_h: float | None = None
    window_h: tuple[float, float] | None = None
    of: str | tuple[str, ...] | None = None
    minus: str | None = None
    per: str | None = None
    trial: str | None = None
    arm: str | None = None
    endpoint: str | None = None
    field: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Quantity:
        if self.stat in _SCENARIO_STATS:
            missing = [f for f in ("scenario", *_SCENARIO_STATS[self.stat]) if getattr(self, f) is None]
        elif self.stat == "difference":
            missing = [f for f in ("of", "minus") if getattr(self, f) is None]
        elif self.stat == "ratio":
            missing = [f for f in ("of", "per") if getattr(self, f) is None]
        elif self.stat == "sum":
            missing = [] if self.of else ["of"]
        else:
            missing = [f for f in ("trial", "arm", "endpoint") if getattr(self, f) is None]
        if missing:
            raise ValueError(f"statistic {self.stat!r} needs {', '.join(missing)}")
        return self

    def inputs(self) -> tuple[str, ...]:
        """Names of the other quantities a derived quantity is computed from."""
        names: list[str] = []
        for ref in (self.of, self.minus, self.per):
            if isinstance(ref, str):
                names.append(ref)
            elif ref:
                names.extend(ref)
        return tuple(names)


class Rule(BaseModel):
    """A comparison rule. Numbers may be given inline or by name (`thresholds`, `conversions`)."""

    model_config = _STRICT

    kind: RuleKind
    quantity: str | None = None
    quantities: tuple[str, ...] | None = None
    treated: str | None = None
    control: str | None = None
    than: str | None = None
    min: Number | None = None
    max: Number | None = None
    interval: Literal["published"] | tuple[Number, Number] | None = None
    widen: Number | None = None
    ratio_max: Number | None = None
    control_min: Number | None = None
    tolerance: Number | None = None
    margin: Number | None = None
    rules: tuple[Rule, ...] | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Rule:
        need: dict[str, tuple[str, ...]] = {
            "at_least": ("quantity", "min"),
            "at_most": ("quantity", "max"),
            "within": ("quantity", "interval"),
            "overlaps": ("quantity", "interval"),
            "abolished": ("treated", "control", "ratio_max", "control_min"),
            "attenuated": ("treated", "control", "tolerance", "control_min"),
            "preserved": ("treated", "control", "tolerance", "control_min"),
            "greater_than": ("quantity", "than"),
            "less_than": ("quantity", "than"),
            "increasing": ("quantities",),
            "all": ("rules",),
        }
        missing = [f for f in need[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"rule {self.kind!r} needs {', '.join(missing)}")
        return self

    def quantity_names(self) -> set[str]:
        """Every quantity the rule (and its sub-rules) reads."""
        names = {n for n in (self.quantity, self.treated, self.control, self.than) if n}
        names |= set(self.quantities or ())
        for sub in self.rules or ():
            names |= sub.quantity_names()
        return names


Rule.model_rebuild()


class Published(BaseModel):
    """What the study reported, and how an interval to compare with is derived from it (if one is)."""

    model_config = _STRICT

    text: str
    value: float | None = None
    unit: str | None = None
    interval: tuple[float, float] | None = None
    derive: dict[str, Any] | None = None


class Experiment(BaseModel):
    """One finding made executable."""

    model_config = _STRICT

    id: str
    finding: str
    study: str
    basis: Basis
    scope: Scope | None = None
    quantities: dict[str, Quantity] = {}
    primary: str | None = None
    published: Published
    rule: Rule | None = None
    assumptions: str | None = None
    not_expressible: str | None = None
    explain: dict[str, str] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        if self.basis == "not_expressible":
            if not self.not_expressible:
                raise ValueError("a not_expressible experiment must say why in `not_expressible`")
            if self.rule is not None or self.quantities:
                raise ValueError("a not_expressible experiment has no quantities and no rule")
            return self
        if self.rule is None or not self.quantities:
            raise ValueError("an executable experiment needs quantities and a rule")
        names = list(self.quantities)
        for i, (name, q) in enumerate(self.quantities.items()):
            for ref in q.inputs():
                if ref not in names[:i]:
                    raise ValueError(f"quantity {name!r} uses {ref!r}, which is not defined before it")
        unknown = self.rule.quantity_names() - set(names)
        if unknown:
            raise ValueError(f"rule reads unknown quantities {sorted(unknown)}")
        if self.primary is not None and self.primary not in self.quantities:
            raise ValueError(f"primary {self.primary!r} is not a quantity")
        return self

    @property
    def primary_quantity(self) -> str | None:
        """The quantity reported as `simulated` (the first one unless `primary` says otherwise)."""
        if self.primary is not None:
            return self.primary
        return next(iter(self.quantities), None)


class TrialRef(BaseModel):
    """An in-silico trial (ketasim.trials) run for clinical-layer findings, e.g. a placebo arm's change."""

    model_config = _STRICT

    spec: dict[str, Any]
    n_per_arm: int
    seed: int
    note: str | None = None


@dataclass(frozen=True)
class Constant:
    """A threshold or conversion factor from experiments.yaml, with its reason."""

    name: str
    value: float
    unit: str
    why: str
    source: str | None = None


@dataclass(frozen=True)
class ExperimentSet:
    """The loaded experiments file."""

    thresholds: Mapping[str, Constant]
    conversions: Mapping[str, Constant]
    solver: SolverOptions
    scenarios: Mapping[str, Mapping[str, Any]]
    trials: Mapping[str, TrialRef]
    experiments: tuple[Experiment, ...]
    not_experiments: Mapping[str, str]
    coverage: Mapping[str, tuple[str, ...]]
    comparison: Mapping[str, Any]
    explanations: Mapping[str, str]
    perturbations: tuple[Mapping[str, Any], ...] = ()

    def constant(self, ref: Number) -> float:
        """A rule parameter: a number, or the value of a named threshold or conversion."""
        if isinstance(ref, int | float):
            return float(ref)
        sign, name = (-1.0, ref[1:]) if ref.startswith("-") else (1.0, ref)
        for table in (self.thresholds, self.conversions):
            if name in table:
                return sign * table[name].value
        raise DataError(f"experiments.yaml: {ref!r} is neither a number nor a threshold or conversion name")

    def perturbation_configs(self) -> list[Config]:
        """The broken versions of a hypothesis listed under `perturbations` (validated Configs)."""
        return [
            make_config(p["hypothesis"], p.get("edges_off", ()), p.get("gains"), label=p["label"])
            for p in self.perturbations
        ]

    def by_id(self) -> dict[str, Experiment]:
        """Experiments by id."""
        return {e.id: e for e in self.experiments}

    def explanation(self, exp: Experiment, names: Sequence[str]) -> str | None:
        """Why `exp` fails, for the first of `names` (configuration, hypothesis, 'default') that has a text.

        '@name' refers to a shared text in `explanations`; a not-expressible experiment falls back to its
        reason.
        """
        for key in names:
            if key in exp.explain:
                text = exp.explain[key]
                return self.explanations[text[1:]] if text.startswith("@") else text
        if exp.basis == "not_expressible":
            return f"Not expressible in the model: {exp.not_expressible}"
        return None


def _constants(raw: Mapping[str, Any], where: str) -> dict[str, Constant]:
    out: dict[str, Constant] = {}
    for name, entry in (raw or {}).items():
        try:
            out[name] = Constant(name, float(entry["value"]), str(entry.get("unit", "1")), str(entry["why"]),
                                 entry.get("source"))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"experiments.yaml: {where}.{name} needs value and why ({exc})") from exc
    return out


_SCENARIO_FORBIDDEN = ("hypothesis", "edges_off", "gains")


def _check_scenario(name: str, fields: Mapping[str, Any]) -> None:
    bad = [k for k in _SCENARIO_FORBIDDEN if k in fields]
    if bad:
        raise DataError(
            f"experiments.yaml: scenario {name!r} sets {bad}; variants and configurations carry these"
        )
    try:
        make_scenario({k: v for k, v in fields.items() if k != "note"}, source=f"scenario {name!r}")
    except KetasimError as exc:
        raise DataError(f"experiments.yaml: {exc}") from exc


def parse_experiment_set(raw: Mapping[str, Any], base: EvidenceBase | None = None) -> ExperimentSet:
    """Validate the experiments file and cross-check it against the evidence base; errors are DataError."""
    base = base or evidence_base()
    try:
        experiments = tuple(Experiment.model_validate(item) for item in raw.get("experiments") or [])
        trials = {k: TrialRef.model_validate(v) for k, v in (raw.get("trials") or {}).items()}
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise DataError(f"experiments.yaml: {loc}: {first['msg']}") from exc
    scenarios = dict(raw.get("scenarios") or {})
    for name, fields in scenarios.items():
        _check_scenario(name, fields)
    solver_raw = raw.get("solver") or {}
    try:
        solver = SolverOptions(rtol=float(solver_raw["rtol"]), atol=float(solver_raw["atol"]),
                               method=str(solver_raw["method"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"experiments.yaml: solver needs method, rtol and atol ({exc})") from exc
    ex_set = ExperimentSet(
        thresholds=_constants(raw.get("thresholds") or {}, "thresholds"),
        conversions=_constants(raw.get("conversions") or {}, "conversions"),
        solver=solver,
        scenarios=scenarios,
        trials=trials,
        experiments=experiments,
        not_experiments=dict(raw.get("not_experiments") or {}),
        coverage={k: tuple(v) for k, v in (raw.get("coverage") or {}).items()},
        comparison=dict(raw.get("comparison") or {}),
        explanations={k: str(v) for k, v in (raw.get("explanations") or {}).items()},
        perturbations=tuple(raw.get("perturbations") or ()),
    )
    _cross_check(ex_set, base)
    return ex_set


def _cross_check(ex_set: ExperimentSet, base: EvidenceBase) -> None:
    problems: list[str] = []
    seen: set[str] = set()
    for exp in ex_set.experiments:
        if exp.id in seen:
            problems.append(f"experiment id {exp.id!r} is not unique")
        seen.add(exp.id)
        try:
            study, _ = base.outcome(exp.finding)
        except KetasimError as exc:
            problems.append(f"experiment {exp.id!r}: {exc}")
            continue
        if study.key != exp.study:
            problems.append(
                f"experiment {exp.id!r}: finding {exp.finding!r} belongs to {study.key!r}, not {exp.study!r}"
            )
        for name, q in exp.quantities.items():
            if q.scenario is not None and q.scenario not in ex_set.scenarios:
                problems.append(f"experiment {exp.id!r}: quantity {name!r}: unknown scenario {q.scenario!r}")
            if q.trial is not None and q.trial not in ex_set.trials:
                problems.append(f"experiment {exp.id!r}: quantity {name!r} names unknown trial {q.trial!r}")
        for key, text in exp.explain.items():
            if text.startswith("@") and text[1:] not in ex_set.explanations:
                problems.append(f"experiment {exp.id!r}: explain.{key}: unknown explanation {text!r}")
        if exp.rule is not None:
            for ref in _rule_numbers(exp.rule):
                const = ref.removeprefix("-") if isinstance(ref, str) else None
                if const is not None and const not in ex_set.thresholds and const not in ex_set.conversions:
                    problems.append(f"experiment {exp.id!r}: rule uses unknown constant {ref!r}")
    findings = {e.finding for e in ex_set.experiments}
    for outcome_id in ex_set.not_experiments:
        try:
            base.outcome(outcome_id)
        except KetasimError as exc:
            problems.append(f"not_experiments: {exc}")
        if outcome_id in findings:
            problems.append(f"not_experiments: {outcome_id!r} also has an experiment")
    for row, ids in ex_set.coverage.items():
        for outcome_id in ids:
            if outcome_id not in findings:
                problems.append(f"coverage {row!r}: finding {outcome_id!r} has no experiment")
    if problems:
        raise DataError("experiments.yaml is inconsistent:\n  " + "\n  ".join(problems))


def _rule_numbers(rule: Rule) -> Iterable[Number]:
    refs = (rule.min, rule.max, rule.widen, rule.ratio_max, rule.control_min, rule.tolerance, rule.margin)
    for ref in refs:
        if ref is not None:
            yield ref
    if isinstance(rule.interval, tuple):
        yield from rule.interval
    for sub in rule.rules or ():
        yield from _rule_numbers(sub)


@cache
def experiment_set() -> ExperimentSet:
    """The packaged experiments, loaded and cross-checked once per process."""
    return parse_experiment_set(data.load("evidence/experiments.yaml"))


# ------------------------------------------------------------------------------------------------ configs
GainItems = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Config:
    """What is judged: a hypothesis, optionally with edges switched off and gains scaled."""

    hypothesis: str
    edges_off: tuple[str, ...] = ()
    gains: GainItems = ()
    label: str | None = None

    @property
    def name(self) -> str:
        """The label shown in tables and JSON (the hypothesis unless perturbed or labelled)."""
        if self.label:
            return self.label
        parts = [self.hypothesis]
        parts += [f"-{e}" for e in self.edges_off]
        parts += [f"{p}x{f:g}" for p, f in self.gains]
        return " ".join(parts)

    @property
    def perturbed(self) -> bool:
        """Whether edges or gains are changed from the plain hypothesis."""
        return bool(self.edges_off or self.gains)


def make_config(
    hypothesis: str,
    edges_off: Iterable[str] = (),
    gains: Mapping[str, float] | None = None,
    label: str | None = None,
) -> Config:
    """A validated Config: unknown hypotheses, edges or gain parameters raise UnknownNameError."""
    parse_hypothesis(hypothesis)
    edges = tuple(sorted(set(edges_off)))
    edge_weights(hypothesis, list(edges))
    gain_items = tuple(sorted((gains or {}).items()))
    check_gains(dict(gain_items), set(_mechanism_parameters()))
    return Config(hypothesis, edges, gain_items, label)


@dataclass(frozen=True)
class VariantKey:
    """One simulated variant: the hypothesis with the union of switched-off edges and the product of gains."""

    hypothesis: str
    edges_off: tuple[str, ...]
    gains: GainItems


def variant_key(config: Config, variant: Variant) -> VariantKey:
    """Combine a configuration with an experiment's own variant."""
    edges = tuple(sorted(set(config.edges_off) | set(variant.edges_off)))
    gains = dict(config.gains)
    for pid, factor in variant.gains.items():
        gains[pid] = gains.get(pid, 1.0) * float(factor)
    return VariantKey(config.hypothesis, edges, tuple(sorted(gains.items())))


@cache
def _mechanism_parameters() -> dict[str, float]:
    return {pid: float(rec["value"]) for pid, rec in data.load("mechanism/parameters.yaml").items()}


def variant_parameters(variants: Sequence[VariantKey]) -> dict[str, Array]:
    """Per-subject parameter arrays that realise each variant in one batched model.

    Edge weights come from the hypothesis machinery itself (`edge_weights`), gains multiply the packaged
    value, exactly as `simulate(hypothesis=..., edges_off=..., gains=...)` builds them for one subject.
    """
    base = _mechanism_parameters()
    weights = [edge_weights(v.hypothesis, list(v.edges_off)) for v in variants]
    out: dict[str, Array] = {f"w_{e}": np.array([w[e] for w in weights]) for e in weights[0]}
    gain_ids = sorted({pid for v in variants for pid, _ in v.gains})
    for pid in gain_ids:
        out[pid] = np.array([base[pid] * dict(v.gains).get(pid, 1.0) for v in variants])
    return out


# ------------------------------------------------------------------------------------------------ simulation
@dataclass(frozen=True)
class Series:
    """Time courses of the variables one experiment reads, for one variant of one scenario."""

    times: Array
    values: Mapping[str, Array]

    def _get(self, var: str) -> Array:
        try:
            return self.values[var]
        except KeyError:
            raise DataError(f"the simulation reports no variable {var!r}") from None

    def start(self, var: str) -> float:
        """The value at the start of the simulation: the untreated state (before any pretreatment)."""
        return float(self._get(var)[0])

    def at(self, var: str, hours: float) -> float:
        return float(np.interp(hours, self.times, self._get(var)))

    def window(self, var: str, a: float, b: float) -> tuple[Array, Array]:
        """Times and values over [a, b], with both ends interpolated exactly."""
        inner = self.times[(self.times > a) & (self.times < b)]
        t = np.concatenate([[a], inner, [b]])
        return t, np.interp(t, self.times, self._get(var))

    def after_first_dose(self, var: str) -> tuple[Array, Array]:
        keep = self.times >= 0.0
        return self.times[keep], self._get(var)[keep]


@dataclass(frozen=True)
class _Job:
    scenario: str
    fields: Mapping[str, Any]
    variants: tuple[VariantKey, ...]
    variables: tuple[str, ...]
    solver: SolverOptions


def _simulate_job(job: _Job) -> dict[VariantKey, Series]:
    """Integrate one scenario for all its variants at once (one virtual subject per variant)."""
    fields = {k: v for k, v in job.fields.items() if k != "note"}
    fields["hypothesis"] = job.variants[0].hypothesis
    scenario = make_scenario(fields, source=f"scenario {job.scenario!r}")
    prep = prepare(scenario, n=len(job.variants), param_overrides=variant_parameters(job.variants))
    result = run_prepared(prep, options=job.solver)
    missing = [v for v in job.variables if v not in result.values]
    if missing:
        raise DataError(f"scenario {job.scenario!r}: the model reports no {missing}")
    out: dict[VariantKey, Series] = {}
    for k, key in enumerate(job.variants):
        out[key] = Series(result.times, {v: np.array(result.values[v][:, k]) for v in job.variables})
    return out


def _cost(fields: Mapping[str, Any]) -> float:
    """A rough cost (hours simulated) to start the longest simulations first in a pool."""
    hours = parse_duration(str(fields.get("duration", "1 d")))
    return hours + sum(parse_duration(str(p.get("offset", "0 h"))) for p in fields.get("pretreatments") or [])


class SimulationStore:
    """Simulated series by (scenario, variant), filled in batches; each pair is simulated at most once.

    `simulations_run` counts integrations, so tests can check the caching.
    """

    def __init__(self) -> None:
        self._series: dict[tuple[str, VariantKey], Series] = {}
        self._trials: dict[tuple[str, str], dict[str, Any]] = {}
        self.simulations_run = 0

    def ensure(
        self, needs: Mapping[str, set[VariantKey]], variables: Mapping[str, set[str]], ex_set: ExperimentSet,
        workers: int = 1,
    ) -> None:
        """Simulate every (scenario, variant) pair not yet stored."""
        jobs: list[_Job] = []
        for scenario in sorted(needs):
            todo = sorted((v for v in needs[scenario] if (scenario, v) not in self._series), key=repr)
            if not todo:
                continue
            fields = ex_set.scenarios[scenario]
            read = tuple(sorted(variables[scenario]))
            jobs.append(_Job(scenario, fields, tuple(todo), read, ex_set.solver))
        if not jobs:
            return
        jobs.sort(key=lambda j: -_cost(j.fields))
        workers = max(1, min(workers, len(jobs)))
        if workers == 1:
            results = [_simulate_job(j) for j in jobs]
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(_simulate_job, jobs))
        for job, res in zip(jobs, results, strict=True):
            self.simulations_run += 1
            for key, series in res.items():
                self._series[(job.scenario, key)] = series

    def series(self, scenario: str, key: VariantKey) -> Series:
        return self._series[(scenario, key)]

    def trial_summary(self, name: str, ref: TrialRef, hypothesis: str) -> dict[str, Any]:
        """Run (once) an in-silico trial with the hypothesis for every arm; its summary dictionary."""
        cache_key = (name, hypothesis)
        if cache_key not in self._trials:
            from ..trials import make_trial, run_trial

            spec = make_trial(dict(ref.spec), source=f"experiments.yaml trial {name!r}")
            result = run_trial(spec, n_per_arm=ref.n_per_arm, seed=ref.seed, hypothesis=hypothesis)
            self._trials[cache_key] = result.summary
        return self._trials[cache_key]


#: the process-wide store: repeated scorecards in one process reuse earlier simulations
DEFAULT_STORE = SimulationStore()


def default_workers() -> int:
    """Worker processes by default: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------------------------------------ evaluation
@dataclass
class Evaluation:
    """One experiment judged under one configuration."""

    experiment: Experiment
    config: Config
    values: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    published_interval: tuple[float, float] | None = None
    passed: bool = False
    detail: str = ""
    error: str | None = None

    @property
    def verdict(self) -> Literal["pass", "fail"]:
        return "pass" if self.passed else "fail"

    @property
    def simulated(self) -> float | None:
        name = self.experiment.primary_quantity
        return None if name is None else self.values.get(name)


def _planned(ex_set: ExperimentSet, experiments: Sequence[Experiment], configs: Sequence[Config]) -> tuple[
    dict[str, set[VariantKey]], dict[str, set[str]]
]:
    needs: dict[str, set[VariantKey]] = {}
    variables: dict[str, set[str]] = {}
    for exp in experiments:
        for q in exp.quantities.values():
            if q.scenario is None:
                continue
            for config in configs:
                needs.setdefault(q.scenario, set()).add(variant_key(config, q.variant))
            var = MADRS if q.stat in ("improvement", "madrs_change") else q.node
            assert var is not None
            variables.setdefault(q.scenario, set()).add(var)
    return needs, variables


def run_experiments(
    configs: Sequence[Config],
    experiments: Sequence[Experiment] | None = None,
    *,
    workers: int | None = None,
    store: SimulationStore | None = None,
    ex_set: ExperimentSet | None = None,
) -> dict[str, list[Evaluation]]:
    """Judge every experiment under every configuration: {config name: evaluations in file order}."""
    ex_set = ex_set or experiment_set()
    experiments = list(experiments if experiments is not None else ex_set.experiments)
    store = store or DEFAULT_STORE
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ScenarioError(f"configurations must have distinct names, got {names}")
    needs, variables = _planned(ex_set, experiments, configs)
    store.ensure(needs, variables, ex_set, workers if workers is not None else default_workers())
    return {c.name: [evaluate(exp, c, store, ex_set) for exp in experiments] for c in configs}


def evaluate(exp: Experiment, config: Config, store: SimulationStore, ex_set: ExperimentSet) -> Evaluation:
    """Compute an experiment's quantities for one configuration and apply its rule."""
    ev = Evaluation(exp, config)
    if exp.basis == "not_expressible":
        ev.detail = f"not expressible in the model: {exp.not_expressible}"
        return ev
    try:
        ev.published_interval = published_interval(exp.published, ex_set)
        for name, q in exp.quantities.items():
            value, interval = _quantity(q, ev.values, config, store, ex_set)
            ev.values[name] = value
            if interval is not None:
                ev.intervals[name] = interval
        assert exp.rule is not None
        ev.passed, ev.detail = apply_rule(exp.rule, ev, ex_set)
    except (KetasimError, ImportError) as exc:
        ev.passed, ev.error = False, str(exc)
        ev.detail = f"could not be evaluated: {exc}"
    return ev


def _quantity(
    q: Quantity, known: Mapping[str, float], config: Config, store: SimulationStore, ex_set: ExperimentSet
) -> tuple[float, tuple[float, float] | None]:
    if q.stat in _DERIVED_STATS:
        if q.stat == "difference":
            assert isinstance(q.of, str) and q.minus is not None
            return known[q.of] - known[q.minus], None
        if q.stat == "ratio":
            assert isinstance(q.of, str) and q.per is not None
            return _safe_ratio(known[q.of], known[q.per]), None
        parts = (q.of,) if isinstance(q.of, str) else tuple(q.of or ())
        return float(sum(known[p] for p in parts)), None
    if q.stat in _TRIAL_STATS:
        assert q.trial is not None and q.arm is not None and q.endpoint is not None
        summary = store.trial_summary(q.trial, ex_set.trials[q.trial], config.hypothesis)
        try:
            entry = summary["arms"][q.arm][q.endpoint]
        except KeyError:
            raise ScenarioError(f"trial {q.trial!r} reports no {q.endpoint!r} for arm {q.arm!r}") from None
        if q.stat == "trial_rate":
            lo, hi = entry["ci95"]
            return float(entry["rate"]), (float(lo), float(hi))
        return float(entry[q.field or "mean"]), None
    assert q.scenario is not None
    series = store.series(q.scenario, variant_key(config, q.variant))
    return scenario_statistic(q, series), None


def _safe_ratio(a: float, b: float) -> float:
    if b == 0.0:
        return math.inf if a > 0 else (-math.inf if a < 0 else math.nan)
    return a / b


def scenario_statistic(q: Quantity, s: Series) -> float:
    """One statistic of one simulated series (times in hours after the first main dose)."""
    stat = q.stat
    if stat in ("improvement", "madrs_change"):
        assert q.at_h is not None
        base, now = s.start(MADRS), s.at(MADRS, q.at_h)
        return (base - now) / base if stat == "improvement" else now - base
    node = q.node
    assert node is not None
    base = s.start(node)
    if stat == "value_at":
        assert q.at_h is not None
        return s.at(node, q.at_h)
    if stat == "change_at":
        assert q.at_h is not None
        return s.at(node, q.at_h) - base
    if stat in ("window_mean_change", "window_integral"):
        assert q.window_h is not None
        t, y = s.window(node, *q.window_h)
        integral = float(np.trapezoid(y, t))
        return integral if stat == "window_integral" else integral / float(t[-1] - t[0]) - base
    t, y = s.after_first_dose(node)
    i_max = int(np.argmax(y))
    if stat == "peak":
        return float(y[i_max])
    if stat == "peak_change":
        return float(y[i_max]) - base
    if stat == "t_peak":
        return float(t[i_max])
    assert stat == "returned_fraction" and q.at_h is not None
    return _safe_ratio(s.at(node, q.at_h) - base, float(y[i_max]) - base)


# ------------------------------------------------------------------------------------------------ published
def wilson(rate: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (well-behaved at 0 and 1, unlike the normal approximation)."""
    denom = 1.0 + z * z / n
    centre = (rate + z * z / (2 * n)) / denom
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _probit(p: float) -> float:
    return float(norm.ppf(p)) if 0.0 < p < 1.0 else (math.inf if p >= 1.0 else -math.inf)


def _rate(params: Mapping[str, Any], key: str = "rate") -> float:
    if key == "rate" and "responders" in params:
        return float(params["responders"]) / float(params["n"])
    return float(params[key])


def published_interval(pub: Published, ex_set: ExperimentSet) -> tuple[float, float] | None:
    """The interval a `within` rule compares with: given, or derived from the published numbers.

    Methods (constants from `conversions`):
      mean_ci                mean +/- z sd / sqrt(n), times `scale`
      mean_difference_ci     mean +/- z sd sqrt(2 / n_per_arm), times `scale`
      rate_ci                Wilson interval of rate (or responders / n)
      rate_to_improvement    typical (median) fractional improvement implied by a response rate when patients'
                             improvements spread normally with SD `between_patient_sd_fraction` around it:
                             criterion + sd * probit(rate), at both Wilson bounds
      rate_difference_to_improvement   the shift of that typical improvement between two arms (drug minus
                             control): sd * (probit(rate) - probit(control_rate)), CI by the delta method
                             (var probit(r) = r (1 - r) / n / phi(probit(r))^2, arms independent)
      remission_to_madrs     the typical MADRS implied by a remission rate:
                             threshold - sd_points * probit(rate)
      remission_difference_to_madrs    the shift of that typical MADRS between two arms (negative = better):
                             -sd_points * (probit(rate) - probit(control_rate)), CI as above
    """
    if pub.interval is not None:
        return (float(pub.interval[0]), float(pub.interval[1]))
    if pub.derive is None:
        return None
    p = dict(pub.derive)
    method = p.pop("method", None)
    c = ex_set.constant
    z = c("z95")
    scale = c(p.get("scale", 1.0))
    if method == "mean_ci":
        half = z * c(p["sd"]) / math.sqrt(float(p["n"]))
        return _scaled(float(p["mean"]) - half, float(p["mean"]) + half, scale)
    if method == "mean_difference_ci":
        half = z * c(p["sd"]) * math.sqrt(2.0 / float(p["n_per_arm"]))
        return _scaled(float(p["mean"]) - half, float(p["mean"]) + half, scale)
    if method == "rate_ci":
        return wilson(_rate(p), float(p["n"]), z)
    sd = c("between_patient_sd_fraction")
    criterion = c("response_criterion")
    if method == "rate_to_improvement":
        lo, hi = wilson(_rate(p), float(p["n"]), z)
        return criterion + sd * _probit(lo), criterion + sd * _probit(hi)
    if method == "rate_difference_to_improvement":
        shift, half = _probit_difference(p, z)
        return sd * (shift - half), sd * (shift + half)
    sd_points = c("between_patient_sd_points")
    if method == "remission_to_madrs":
        lo, hi = wilson(_rate(p), float(p["n"]), z)
        threshold = c(p["threshold"])
        return threshold - sd_points * _probit(hi), threshold - sd_points * _probit(lo)
    if method == "remission_difference_to_madrs":
        shift, half = _probit_difference(p, z)
        return -sd_points * (shift + half), -sd_points * (shift - half)
    raise DataError(f"experiments.yaml: unknown published.derive method {method!r}")


def _probit_difference(params: Mapping[str, Any], z: float) -> tuple[float, float]:
    """probit(rate) - probit(control_rate) and the half-width of its CI (delta method, independent arms)."""
    n = float(params["n_per_arm"])
    shift, variance = 0.0, 0.0
    for sign, key in ((1.0, "rate"), (-1.0, "control_rate")):
        r = _rate(params, key)
        q = _probit(r)
        shift += sign * q
        variance += r * (1.0 - r) / n / float(norm.pdf(q)) ** 2
    return shift, z * math.sqrt(variance)


def _scaled(lo: float, hi: float, scale: float) -> tuple[float, float]:
    a, b = lo * scale, hi * scale
    return (min(a, b), max(a, b))


# ------------------------------------------------------------------------------------------------ rules
#: magnitudes below this are solver noise (tolerances 1e-8 relative); shown as 0 so verdict texts and the
#: generated docs are the same on every machine
SOLVER_NOISE = 1e-6


def _fmt(x: float) -> str:
    if abs(x) < SOLVER_NOISE:
        return "0"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if math.isnan(x):
        return "nan"
    return f"{x:.3g}"


def apply_rule(rule: Rule, ev: Evaluation, ex_set: ExperimentSet) -> tuple[bool, str]:
    """Apply a rule to an evaluation's quantities; the verdict and a one-line account of the comparison."""
    v = ev.values
    c = ex_set.constant
    kind = rule.kind
    if kind == "all":
        parts = [apply_rule(sub, ev, ex_set) for sub in rule.rules or ()]
        ok = all(p for p, _ in parts)
        return ok, "; ".join(("" if p else "FAILED ") + text for p, text in parts)
    if kind in ("at_least", "at_most"):
        assert rule.quantity is not None
        x = v[rule.quantity]
        bound = c(rule.min if kind == "at_least" else rule.max)  # type: ignore[arg-type]
        ok = x >= bound if kind == "at_least" else x <= bound
        op = ">=" if kind == "at_least" else "<="
        return ok, f"{_label(rule)}{rule.quantity} = {_fmt(x)} {op} {_fmt(bound)}"
    if kind in ("within", "overlaps"):
        assert rule.quantity is not None
        lo, hi = _rule_interval(rule, ev, ex_set)
        x = v[rule.quantity]
        if kind == "within":
            ok = lo <= x <= hi
            return ok, f"{_label(rule)}{rule.quantity} = {_fmt(x)} in [{_fmt(lo)}, {_fmt(hi)}]"
        s_lo, s_hi = ev.intervals.get(rule.quantity, (x, x))
        ok = s_lo <= hi and s_hi >= lo
        return ok, (f"{_label(rule)}{rule.quantity} = {_fmt(x)} (simulation CI [{_fmt(s_lo)}, {_fmt(s_hi)}]) "
                    f"overlaps [{_fmt(lo)}, {_fmt(hi)}]")
    if kind in ("abolished", "attenuated", "preserved"):
        assert rule.treated is not None and rule.control is not None
        t, ctl = v[rule.treated], v[rule.control]
        floor = c(rule.control_min)  # type: ignore[arg-type]
        ratio = _safe_ratio(t, ctl)
        present = ctl >= floor
        if kind == "abolished":
            limit = c(rule.ratio_max)  # type: ignore[arg-type]
            ok = present and ratio <= limit
            test = f"ratio {_fmt(ratio)} <= {_fmt(limit)}"
        else:
            tol = c(rule.tolerance)  # type: ignore[arg-type]
            if kind == "attenuated":
                ok = present and ratio <= 1.0 - tol
                test = f"ratio {_fmt(ratio)} <= {_fmt(1.0 - tol)}"
            else:
                ok = present and abs(ratio - 1.0) <= tol
                test = f"ratio {_fmt(ratio)} within 1 +/- {_fmt(tol)}"
        need = f"control {rule.control} = {_fmt(ctl)} {'>=' if present else 'below'} {_fmt(floor)}"
        return ok, f"{_label(rule)}{kind}: {rule.treated} = {_fmt(t)}, {test}; {need}"
    if kind in ("greater_than", "less_than"):
        assert rule.quantity is not None and rule.than is not None
        x, y = v[rule.quantity], v[rule.than]
        margin = c(rule.margin) if rule.margin is not None else 0.0
        ok = x > y + margin if kind == "greater_than" else x < y - margin
        op = ">" if kind == "greater_than" else "<"
        by = f" by more than {_fmt(margin)}" if margin else ""
        return ok, f"{_label(rule)}{rule.quantity} = {_fmt(x)} {op} {rule.than} = {_fmt(y)}{by}"
    assert kind == "increasing" and rule.quantities is not None
    xs = [v[name] for name in rule.quantities]
    ok = all(b > a for a, b in itertools.pairwise(xs))
    shown = " < ".join(f"{n} = {_fmt(x)}" for n, x in zip(rule.quantities, xs, strict=True))
    return ok, f"{_label(rule)}increasing: {shown}"


def _label(rule: Rule) -> str:
    return f"{rule.label}: " if rule.label else ""


def _rule_interval(rule: Rule, ev: Evaluation, ex_set: ExperimentSet) -> tuple[float, float]:
    if rule.interval == "published":
        if ev.published_interval is None:
            raise DataError(f"experiment {ev.experiment.id!r}: rule needs a published interval")
        lo, hi = ev.published_interval
    else:
        assert isinstance(rule.interval, tuple)
        lo, hi = ex_set.constant(rule.interval[0]), ex_set.constant(rule.interval[1])
    if rule.widen is not None:
        factor = ex_set.constant(rule.widen)
        mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
        if math.isfinite(half):
            lo, hi = mid - factor * half, mid + factor * half
    return lo, hi


# ------------------------------------------------------------------------------------------------ weights
def experiment_scope(exp: Experiment, study: Study) -> Scope:
    """The scope a finding is weighed for: given, else clinical for human studies, mechanistic otherwise."""
    if exp.scope is not None:
        return exp.scope
    return "clinical" if study.species == "human" else "mechanistic"


def experiment_weight(exp: Experiment, base: EvidenceBase | None = None) -> float:
    """A finding's weight: its study's weight for the finding's scope times the finding's verification factor.

    The same arithmetic as one citation in a claim's strength (ketasim.evidence.strength), so the scorecard
    and the evidence listing weigh a study alike.
    """
    base = base or evidence_base()
    study, outcome = base.outcome(exp.finding)
    rule = strength_rule()
    tag = outcome.verified if outcome.verified is not None else study.verified
    weight = study_weight(study, experiment_scope(exp, study), rule, verification=False)
    return weight * rule.verification[tag]
