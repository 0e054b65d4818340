"""Virtual subjects: covariates, baseline MADRS, parameter variability and clinical random effects.

Every subject draws from its own generators, seeded by (seed, group, subject index, stream[, period]) (`streams.py`),
so a subject's values never depend on how many others are simulated with it, on chunk size or on worker count.
Streams keep purposes apart: adding a visit does not change anyone's covariates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from scipy.special import expit, logit
from scipy.stats import truncnorm

from . import data
from .errors import DataError
from .streams import draw

Array = np.ndarray

#: random streams of one subject
STREAM_COVARIATES = 0
STREAM_PARAMETERS = 1
STREAM_CLINICAL = 2
STREAM_VISITS = 3

#: per-subject standard-normal clinical random effects, in draw order (trials/clinical.py uses them)
CLINICAL_EFFECTS = ("acute", "expectation", "oral_ad", "cadss", "durability")


@dataclass(frozen=True)
class Variability:
    """Between-subject variability of one model parameter."""

    id: str
    kind: str  # lognormal | logit
    sd: float  # omega (log scale) or logit-scale SD
    eta_from: str | None
    source: str


def _value(rec: Any, key: str) -> Any:
    if not isinstance(rec, dict) or "value" not in rec:
        raise DataError(f"population.yaml: {key!r} needs a value, unit and source")
    return rec["value"]


@cache
def settings_defaults() -> dict[str, Any]:
    """Covariate defaults from population.yaml, as plain values."""
    cov = data.load("population.yaml")["covariates"]
    return {k: _value(v, k) for k, v in cov.items()}


@cache
def variability_table() -> tuple[Variability, ...]:
    """The BSV entries of population.yaml, validated for shape (ids are checked by `check_variability_ids`)."""
    rows = data.load("population.yaml").get("variability") or []
    out: list[Variability] = []
    seen: set[str] = set()
    for rec in rows:
        pid = rec.get("id")
        if not pid or pid in seen:
            raise DataError(f"population.yaml: variability entry {rec!r} needs a unique id")
        if "source" not in rec:
            raise DataError(f"population.yaml: variability of {pid!r} needs a source (or 'assumed')")
        if "logit_sd" in rec:
            kind, sd = "logit", float(rec["logit_sd"])
        elif "cv" in rec:
            kind, sd = "lognormal", float(np.sqrt(np.log1p(float(rec["cv"]) ** 2)))
        elif "omega" in rec:
            kind, sd = "lognormal", float(rec["omega"])
        else:
            raise DataError(f"population.yaml: variability of {pid!r} needs cv, omega or logit_sd")
        if not (sd >= 0):
            raise DataError(f"population.yaml: variability of {pid!r} must be non-negative")
        out.append(Variability(pid, kind, sd, rec.get("eta_from"), str(rec["source"])))
        seen.add(pid)
    for v in out:
        if v.eta_from is not None and v.eta_from not in seen:
            raise DataError(f"population.yaml: {v.id!r} takes its draw from {v.eta_from!r}, which has no entry")
    return tuple(out)


@cache
def known_parameter_ids() -> frozenset[str]:
    """Every parameter id of the human model of some drug (PK and mechanism)."""
    from .model.build import prepare
    from .pk import catalog
    from .pk.pkset import load_pkset
    from .scenario import make_scenario

    ids: set[str] = set()
    for did, drug in catalog.drugs().items():
        set_id = drug.pk.get("human")
        if not set_id:
            continue
        routes = load_pkset(set_id).routes
        scenario = make_scenario({"drug": did, "route": routes[0], "dose": "1 mg"})
        ids |= set(prepare(scenario, n=1).compiled.param_ids)
    return frozenset(ids)


def check_variability_ids() -> None:
    """Raise DataError for a BSV entry naming a parameter no model has (a typo or a renamed parameter)."""
    known = known_parameter_ids()
    for v in variability_table():
        if v.id not in known:
            raise DataError(
                f"population.yaml: variability entry {v.id!r} is not a parameter of any model; "
                "fix the id (see `ketasim params`)"
            )


@dataclass
class PopulationSettings:
    """What a trial asks of its population; unset fields take population.yaml's defaults."""

    age_range: tuple[float, float] | None = None
    female_fraction: float | None = None
    asian_fraction: float | None = None
    japanese_fraction: float | None = None
    baseline_mean: float | None = None
    baseline_sd: float | None = None
    baseline_min: float | None = None
    baseline_max: float | None = None

    def resolved(self) -> dict[str, Any]:
        d = settings_defaults()
        lo, hi = self.age_range if self.age_range is not None else d["age_range"]
        out = {
            "age_range": (float(lo), float(hi)),
            "female_fraction": d["female_fraction"] if self.female_fraction is None else self.female_fraction,
            "asian_fraction": d["asian_fraction"] if self.asian_fraction is None else self.asian_fraction,
            "japanese_fraction": d["japanese_fraction"] if self.japanese_fraction is None else self.japanese_fraction,
            "baseline_mean": d["baseline_madrs_mean"] if self.baseline_mean is None else self.baseline_mean,
            "baseline_sd": d["baseline_madrs_sd"] if self.baseline_sd is None else self.baseline_sd,
            "baseline_min": d["baseline_madrs_min"] if self.baseline_min is None else self.baseline_min,
            "baseline_max": d["baseline_madrs_max"] if self.baseline_max is None else self.baseline_max,
        }
        return out


def _truncnorm(u: Array, mean: float | Array, sd: float | Array, lo: float, hi: float) -> Array:
    a = (lo - np.asarray(mean)) / sd
    b = (hi - np.asarray(mean)) / sd
    return np.asarray(truncnorm.ppf(u, a, b, loc=mean, scale=sd), dtype=float)


@dataclass
class Subjects:
    """A set of virtual subjects: identity, covariates, baseline MADRS and random effects (one column each)."""

    seed: int
    group: int
    index: Array
    covariates: dict[str, Array]
    baseline: Array
    etas: dict[str, Array] = field(default_factory=dict)
    effects: dict[str, Array] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.index)

    def take(self, idx: Array) -> Subjects:
        """The subset at positions `idx` (a chunk, or the subjects randomized to one arm)."""
        idx = np.asarray(idx, dtype=int)
        return Subjects(
            self.seed,
            self.group,
            self.index[idx],
            {k: v[idx] for k, v in self.covariates.items()},
            self.baseline[idx],
            {k: v[idx] for k, v in self.etas.items()},
            {k: v[idx] for k, v in self.effects.items()},
        )


def sample_subjects(settings: PopulationSettings, seed: int, group: int, indices: Array | range) -> Subjects:
    """Draw covariates, baseline MADRS, parameter etas and clinical effects for subjects `indices`."""
    idx = np.asarray(list(indices) if isinstance(indices, range) else indices, dtype=np.int64)
    s = settings.resolved()
    d = settings_defaults()
    u = draw(seed, group, idx, STREAM_COVARIATES, 6, kind="uniform")
    female = (u[0] < s["female_fraction"]).astype(float)
    lo, hi = s["age_range"]
    age = _truncnorm(u[1], d["age_mean"], d["age_sd"], lo, hi)
    w_mean = np.where(female > 0.5, d["weight_female_mean"], d["weight_male_mean"])
    w_sd = np.where(female > 0.5, d["weight_female_sd"], d["weight_male_sd"])
    wlo, whi = d["weight_range"]
    weight = _truncnorm(u[2], w_mean, w_sd, wlo, whi)
    asian_f, jap_f = float(s["asian_fraction"]), float(s["japanese_fraction"])
    asian = (u[3] < asian_f).astype(float)
    japanese = (asian > 0.5) & (u[4] < (jap_f / asian_f if asian_f > 0 else 0.0))
    baseline = _truncnorm(u[5], s["baseline_mean"], s["baseline_sd"], s["baseline_min"], s["baseline_max"])
    table = variability_table()
    z = draw(seed, group, idx, STREAM_PARAMETERS, len(table)) if table else np.zeros((0, len(idx)))
    etas = {v.id: z[k] for k, v in enumerate(table)}
    for v in table:
        if v.eta_from is not None:
            etas[v.id] = etas[v.eta_from]
    c = draw(seed, group, idx, STREAM_CLINICAL, len(CLINICAL_EFFECTS))
    effects = {name: c[k] for k, name in enumerate(CLINICAL_EFFECTS)}
    covariates = {"weight": weight, "age": age, "female": female, "asian": asian, "japanese": japanese.astype(float)}
    return Subjects(int(seed), int(group), idx, covariates, baseline, etas, effects)


def individual_parameters(param_ids: list[str], typical: Array, etas: dict[str, Array]) -> dict[str, Array]:
    """Per-subject values of the varying parameters present in a model, around their typical values.

    `typical` is the (n_params, n) matrix a model was prepared with (covariates already applied). Entries of
    population.yaml for parameters this model lacks are skipped.
    """
    index = {pid: i for i, pid in enumerate(param_ids)}
    out: dict[str, Array] = {}
    for v in variability_table():
        if v.id not in index:
            continue
        t = typical[index[v.id]]
        eta = etas[v.id]
        if v.kind == "logit":
            out[v.id] = expit(logit(np.clip(t, 1e-9, 1 - 1e-9)) + v.sd * eta)
        else:
            out[v.id] = t * np.exp(v.sd * eta)
    return out
