"""The public Python API: `ketasim.simulate`, `run_population`, `run_trial`, `load_trial`, `scorecard`.

Thin, typed front doors over the modules that do the work (simulate.py, population_run.py, trials/, evidence/),
re-exported by `ketasim/__init__.py`. Every scenario field is an explicit keyword argument so that an IDE and
`help()` show them; the heavy modules are imported inside the functions so that `import ketasim` stays fast.
Values are given as the CLI takes them ("84 mg", "0.5 mg/kg", "40 min", "7d") or, for weight and age, numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .population import PopulationSettings
    from .population_run import Progress
    from .results import Result
    from .scenario import Administration, Scenario
    from .solver import SolverOptions
    from .trials import TrialResult, TrialSpec

#: scenario fields that default to the Scenario model's own defaults when left as None
_FIELDS = (
    "drug", "route", "dose", "over", "regimen", "first_dose", "events", "species", "weight", "age", "sex", "asian",
    "japanese", "duration", "hypothesis", "pretreatments", "edges_off", "gains", "at",
)


def _pretreatment(p: str | Mapping[str, Any] | Administration) -> dict[str, Any]:
    from .scenario import Administration, parse_pretreat

    if isinstance(p, str):
        return parse_pretreat(p).model_dump()
    if isinstance(p, Administration):
        return p.model_dump()
    return dict(p)


def _at_labels(at: str | Sequence[str]) -> list[str]:
    from .units import parse_times

    text = at if isinstance(at, str) else ",".join(at)
    return [label for label, _ in parse_times(text)]


def build_scenario(scenario: Scenario | Mapping[str, Any] | str | Path | None, fields: Mapping[str, Any]) -> tuple[
    Scenario, Path | None
]:
    """A Scenario from an object, a mapping or a YAML file, with the keyword fields given (not None) on top;
    and the file it came from, if any (for provenance)."""
    from .errors import ScenarioError
    from .scenario import Scenario, load_scenario, make_scenario

    given = {k: v for k, v in fields.items() if v is not None}
    if "pretreatments" in given:
        given["pretreatments"] = [_pretreatment(p) for p in given["pretreatments"]]
    if "at" in given:
        given["at"] = _at_labels(given["at"])
    if isinstance(given.get("edges_off"), str):
        given["edges_off"] = [given["edges_off"]]
    if isinstance(scenario, str | Path):
        path = Path(scenario)
        return load_scenario(path, given), path
    if isinstance(scenario, Scenario):
        return (make_scenario({**scenario.model_dump(), **given}) if given else scenario), None
    base = dict(scenario or {})
    merged = {**base, **given}
    if "drug" not in merged:
        raise ScenarioError("no drug given; pass drug='esketamine' (or a scenario)")
    return make_scenario(merged, source="arguments"), None


def simulate(
    scenario: Scenario | Mapping[str, Any] | str | Path | None = None,
    *,
    drug: str | None = None,
    route: str | None = None,
    dose: str | None = None,
    over: str | None = None,
    regimen: str | None = None,
    first_dose: str | None = None,
    events: list[dict[str, Any]] | None = None,
    species: str | None = None,
    weight: float | str | None = None,
    age: float | None = None,
    sex: str | None = None,
    asian: bool | None = None,
    japanese: bool | None = None,
    duration: str | None = None,
    hypothesis: str | None = None,
    pretreatments: Sequence[str | Mapping[str, Any] | Administration] | None = None,
    edges_off: Sequence[str] | None = None,
    gains: Mapping[str, float] | None = None,
    at: str | Sequence[str] | None = None,
    n: int = 1,
    covariates: Mapping[str, np.ndarray] | None = None,
    params: Mapping[str, np.ndarray] | None = None,
    times: np.ndarray | None = None,
    options: SolverOptions | None = None,
) -> Result:
    """Simulate one scenario from dose to mood: time courses of every compound, node and state, as a Result.

    `simulate(drug="ketamine", route="iv", dose="0.5 mg/kg", over="40 min")`; or a Scenario, a mapping of its
    fields, or a YAML scenario file, with keyword fields overriding it. `pretreatments` take the CLI's
    "DRUG:DOSE:ROUTE:OFFSET" strings (e.g. "naltrexone:50 mg:oral:45 min") or mappings; `at` labels times
    ("24h,7d") for `Result.at`. `n` subjects with per-subject `covariates` / `params` arrays make a batch.
    """
    from . import provenance
    from .simulate import simulate as _simulate
    from .solver import SolverOptions

    fields = {k: v for k, v in locals().items() if k in _FIELDS}
    scen, path = build_scenario(scenario, fields)
    opts = options or SolverOptions()
    result = _simulate(
        scen, n=n, covariates=dict(covariates) if covariates else None, params=dict(params) if params else None,
        times=times, options=opts,
    )
    result.meta[provenance.KEY] = provenance.record(
        inputs=scen.model_dump(mode="json"), source=path, solver=provenance.solver_label(opts.method),
        rtol=opts.rtol, atol=opts.atol,
    )
    return result


def run_population(
    scenario: Scenario | Mapping[str, Any] | str | Path | None = None,
    *,
    n: int,
    seed: int = 0,
    out: str | Path | None = None,
    drug: str | None = None,
    route: str | None = None,
    dose: str | None = None,
    over: str | None = None,
    regimen: str | None = None,
    first_dose: str | None = None,
    species: str | None = None,
    weight: float | str | None = None,
    age: float | None = None,
    duration: str | None = None,
    hypothesis: str | None = None,
    pretreatments: Sequence[str | Mapping[str, Any] | Administration] | None = None,
    chunk_size: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    settings: PopulationSettings | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    progress: bool | Progress = False,
) -> pd.DataFrame:
    """Simulate `n` virtual subjects of one scenario; one row of summaries per subject (a DataFrame).

    Subjects are drawn from the population model with `seed`; with `out` (FILE.parquet) the run is resumable and
    the file carries the run's provenance in its metadata. Results never depend on chunk size or workers.
    """
    from . import population_run as pr
    from .solver.batched import POPULATION_ATOL, POPULATION_RTOL

    fields = {k: v for k, v in locals().items() if k in _FIELDS}
    scen, path = build_scenario(scenario, fields)
    bar = progress if isinstance(progress, pr.Progress) else (pr.RichProgress() if progress else None)
    return pr.run_population(
        scen, n, seed=seed, chunk_size=chunk_size or pr.DEFAULT_CHUNK_SIZE, out=out, workers=workers,
        scheduler=scheduler, settings=settings, rtol=POPULATION_RTOL if rtol is None else rtol,
        atol=POPULATION_ATOL if atol is None else atol, progress=bar, source=path,
    )


def load_trial(path: str | Path, *, seed: int | None = None, hypothesis: str | None = None) -> TrialSpec:
    """Read and validate a trial YAML file (examples/trials/); `seed` and `hypothesis` override its fields."""
    from .trials import load_trial as _load

    return _load(path, {"seed": seed, "hypothesis": hypothesis})


def run_trial(
    trial: TrialSpec | str | Path,
    *,
    n_per_arm: int | None = None,
    seed: int | None = None,
    hypothesis: str | None = None,
    chunk_size: int | None = None,
    workers: int = 1,
    progress: bool = False,
) -> TrialResult:
    """Simulate an in-silico clinical trial (a TrialSpec or a trial YAML file): arms, endpoints, statistics.

    The result's `summary` is what `ketasim trial --json` prints, with its provenance; `subjects_frame()` and
    `visits_frame()` are the per-subject tables.
    """
    from . import provenance
    from .trials import load_trial as _load
    from .trials import run_trial as _run
    from .trials.defaults import DEFAULT_CHUNK

    path = Path(trial) if isinstance(trial, str | Path) else None
    spec = _load(path) if path is not None else trial
    result = _run(spec, n_per_arm=n_per_arm, seed=seed, hypothesis=hypothesis,
                  chunk_size=chunk_size or DEFAULT_CHUNK, workers=workers, progress=progress)
    if path is not None:
        provenance.add_source(result.summary.get(provenance.KEY), path)
    return result


def scorecard(
    hypotheses: str | Sequence[str] | None = None,
    *,
    edges_off: Sequence[str] = (),
    gains: Mapping[str, float] | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Judge every recorded finding under one or more hypotheses: one row per (hypothesis, finding).

    Columns: hypothesis, id, study, finding, published, simulated, verdict, rule, weight, unit, explanation.
    `hypotheses`: a name ("glutamate_mtor", the default; "A+B" combines), several, or "all". Totals per
    hypothesis (passed, total, score ...) are in `frame.attrs["scores"]`, the comparison between hypotheses
    (when several) in `frame.attrs["comparison"]`.
    """
    import pandas as pd

    from .evidence.experiments import make_config
    from .evidence.scorecard import run_scorecard
    from .mechanism import hypotheses as known

    if hypotheses is None:
        names = ["glutamate_mtor"]
    elif hypotheses == "all":
        names = list(known())
    else:
        names = [hypotheses] if isinstance(hypotheses, str) else list(hypotheses)
    configs = [make_config(name, list(edges_off), dict(gains or {})) for name in names]
    sc = run_scorecard(configs, workers=workers)
    rows = [
        {"hypothesis": name, **{k: v for k, v in f.as_json().items() if k != "quantities"}}
        for name, card in sc.cards.items() for f in card.findings
    ]
    frame = pd.DataFrame(rows)
    frame.attrs["scores"] = {
        name: {k: v for k, v in card.as_json().items() if k != "findings"} for name, card in sc.cards.items()
    }
    if sc.comparison is not None:
        frame.attrs["comparison"] = sc.comparison
    return frame


for _f in (simulate, run_population, load_trial, run_trial, scorecard):
    _f.__module__ = "ketasim"
del _f
