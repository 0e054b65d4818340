"""Run a trial: sample subjects, simulate each arm in chunks, apply the clinical layer, compute endpoints.

One `simulate(..., n=chunk)` call per chunk of subjects; every random number comes from the subject's own
streams (population.py), so chunk size and worker count never change a result. Arms of one design share
their visit and dose times.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import data, provenance
from ..errors import DataError, ScenarioError
from ..model.build import prepare
from ..pk.regimens import parse_regimen
from ..population import (
    STREAM_VISITS,
    PopulationSettings,
    Subjects,
    check_variability_ids,
    draw,
    individual_parameters,
    sample_subjects,
)
from ..scenario import make_scenario
from ..simulate import simulate
from ..solver import SolverOptions
from ..solver.batched import BATCHED_ATOL, BATCHED_RTOL
from ..units import parse_duration
from . import endpoints as ep
from .clinical import (
    ClinicalParams,
    Timeline,
    course_intervals,
    default_visits,
    load_params,
    observed_madrs,
    relapse_times,
    session_cadss,
    stable_at_end,
)
from .defaults import DEFAULT_CHUNK
from .spec import ArmSpec, Endpoint, RegimenSpec, TrialSpec

Array = np.ndarray


#: the solver for trial chunks: BDF (LSODA, what `auto` picks for small batches, was 8x slower at 10 subjects
#: with finite-difference Jacobians) at the batched solver's tolerances, so that a trial's accuracy does not
#: depend on which engine its size selects (rtol 1e-6: 2.5x faster than the reference default 1e-8; MADRS within
#: 1e-4 of rtol 1e-10 over 12 weeks of Spravato)
TRIAL_SOLVER = SolverOptions(method="BDF", rtol=BATCHED_RTOL, atol=BATCHED_ATOL)
#: trials with at least this many subjects in all arms together use the batched JIT solver (its one-off compile,
#: ~25 s per model, pays off from here); chosen from the trial's size alone, so chunking never changes results
BATCHED_TRIAL_MIN_SUBJECTS = 1000
BATCHED_TRIAL_SOLVER = SolverOptions(method="batched", rtol=BATCHED_RTOL, atol=BATCHED_ATOL)
WEEK_H = 168.0


def group_key(name: str) -> int:
    """A stable integer for a subject group (an arm's name, or 'pool' for designs sharing subjects)."""
    return zlib.crc32(name.encode("utf-8"))


# ---------------------------------------------------------------------------------------------- simulation
@dataclass
class _Job:
    fields: dict[str, Any]
    covariates: dict[str, Array]
    etas: dict[str, Array]
    baseline: Array
    times: Array
    options: SolverOptions = TRIAL_SOLVER


def _simulate_chunk(job: _Job) -> tuple[Array, Array]:
    """Mechanistic MADRS and dissociation (n_times, n) for one chunk of subjects."""
    scenario = make_scenario(job.fields, source="trial arm")
    n = len(job.baseline)
    typical = prepare(scenario, n=n, covariates=job.covariates)
    ids = typical.compiled.param_ids
    if "madrs_baseline" not in ids:
        raise DataError("the model has no 'madrs_baseline' parameter: the mechanism is not installed")
    overrides = individual_parameters(ids, typical.params, job.etas)
    overrides["madrs_baseline"] = job.baseline
    res = simulate(scenario, n=n, covariates=job.covariates, params=overrides, times=job.times, options=job.options)
    if "madrs" not in res.values:
        raise DataError("the model reports no 'madrs' node: the mechanism is not installed")
    diss = res.values.get("dissociation")
    return res.values["madrs"], (diss if diss is not None else np.zeros_like(res.values["madrs"]))


class Reporter:
    """Progress of the simulate() calls; the default does nothing."""

    def add(self, total: int, label: str) -> None:
        """Announce `total` more chunks, described by `label`."""

    def advance(self) -> None:
        """One chunk done."""


class RichReporter(Reporter):
    """A rich progress bar on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task("trial", total=0)
        self.total = 0

    def add(self, total: int, label: str) -> None:
        self.total += total
        self.progress.update(self.task, total=self.total, description=label)

    def advance(self) -> None:
        self.progress.advance(self.task)


@dataclass
class _Context:
    chunk_size: int
    executor: Executor | None
    reporter: Reporter
    options: SolverOptions = TRIAL_SOLVER


def _simulate_subjects(
    ctx: _Context,
    fields: dict[str, Any],
    subjects: Subjects,
    times: Array,
    label: str,
) -> tuple[Array, Array]:
    n = subjects.n
    if n == 0:
        return np.zeros((len(times), 0)), np.zeros((len(times), 0))
    starts = list(range(0, n, ctx.chunk_size))
    jobs = []
    for a in starts:
        sub = subjects.take(np.arange(a, min(a + ctx.chunk_size, n)))
        jobs.append(_Job(fields, sub.covariates, sub.etas, sub.baseline, times, ctx.options))
    ctx.reporter.add(len(jobs), label)
    results: list[tuple[Array, Array]] = []
    mapped: Iterator[tuple[Array, Array]] = (
        ctx.executor.map(_simulate_chunk, jobs) if ctx.executor is not None else map(_simulate_chunk, jobs)
    )
    for r in mapped:
        results.append(r)
        ctx.reporter.advance()
    return np.concatenate([r[0] for r in results], axis=1), np.concatenate([r[1] for r in results], axis=1)


def _arm_fields(arm: ArmSpec, duration_h: float, hypothesis: str) -> dict[str, Any]:
    f: dict[str, Any] = {
        "drug": arm.drug,
        "route": arm.route,
        "regimen": arm.regimen.schedule,
        "dose": arm.regimen.dose,
        "first_dose": arm.regimen.first_dose,
        "over": arm.regimen.over,
        "duration": f"{float(duration_h)!r} h",
        "hypothesis": hypothesis,
    }
    if arm.pretreatment is not None:
        p = arm.pretreatment
        f["pretreatments"] = [{"drug": p.drug, "dose": p.dose, "route": p.route, "offset": p.offset}]
    return f


def session_times(schedule: str, duration_h: float, start_h: float = 0.0) -> Array:
    """Dose (or placebo session) times of a schedule, as `simulate` places them."""
    return np.asarray([start_h + rd.time for rd in parse_regimen(schedule, duration_h)], float)


def _cadss_grid(sessions: Array, params: ClinicalParams) -> Array:
    steps = np.arange(0.0, params.cadss_window_h + 1e-9, params.cadss_step_h)
    return (np.asarray(sessions, float)[:, None] + steps[None, :]).ravel()


def _peaks(times: Array, diss: Array, sessions: Array, window_h: float) -> Array:
    out = np.zeros((len(sessions), diss.shape[1]))
    for k, s in enumerate(sessions):
        mask = (times >= s - 1e-9) & (times <= s + window_h + 1e-9)
        if mask.any():
            out[k] = diss[mask].max(axis=0)
    return out


# ---------------------------------------------------------------------------------------------- results
@dataclass
class ArmData:
    """One arm's subjects and what was observed; times in hours from the first dose (of their period)."""

    name: str
    subjects: Subjects
    period: Array
    sequence: list[str]
    visits: Array
    observed: Array
    mechanistic: Array
    true: Array
    sessions: Array
    cadss: Array
    ref_h: float = 0.0
    ref_values: Array = field(default_factory=lambda: np.zeros(0))
    relapse_h: Array | None = None
    relapse_event: Array | None = None
    horizon_h: float = 0.0

    @property
    def n(self) -> int:
        return self.subjects.n

    def at(self, hours_after_ref: float) -> Array:
        t = self.ref_h + hours_after_ref
        k = int(np.argmin(np.abs(self.visits - t)))
        if abs(self.visits[k] - t) > 1e-6:
            raise ScenarioError(f"no visit at {hours_after_ref / 24:g} d; add it to `visits`")
        return self.observed[k]


@dataclass
class TrialResult:
    """The simulated trial: per-arm data, the JSON summary, and per-subject tables."""

    spec: TrialSpec
    seed: int
    n_per_arm: int
    arms: dict[str, ArmData]
    summary: dict[str, Any]

    def subjects_frame(self) -> pd.DataFrame:
        """One row per subject and arm (and period): covariates, baseline, endpoint values."""
        frames = []
        params = load_params()
        for name, a in self.arms.items():
            s = a.subjects
            df = pd.DataFrame(
                {
                    "trial": self.spec.name,
                    "arm": name,
                    "subject": s.index,
                    "group": s.group,
                    "period": a.period,
                    "sequence": a.sequence,
                    **{k: v for k, v in s.covariates.items()},
                    "baseline_madrs": s.baseline,
                    "baseline_observed": np.round(s.baseline),
                }
            )
            for e in self.spec.endpoint_list():
                if e.kind == "madrs_change":
                    df[e.id] = a.at(e.time_h or 0.0) - a.ref_values
                elif e.kind in ("response", "remission"):
                    df[e.id] = _flags(a, e, self.spec, params)
            if a.cadss.size:
                df["cadss_max"] = a.cadss.max(axis=0)
            if a.relapse_h is not None and a.relapse_event is not None:
                df["relapse_days"] = a.relapse_h / 24.0
                df["relapse_event"] = a.relapse_event.astype(int)
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def visits_frame(self) -> pd.DataFrame:
        """One row per subject and visit: observed, noise-free and mechanistic MADRS."""
        frames = []
        for name, a in self.arms.items():
            t, n = len(a.visits), a.n
            frames.append(
                pd.DataFrame(
                    {
                        "arm": name,
                        "subject": np.tile(a.subjects.index, t),
                        "period": np.tile(a.period, t),
                        "time_h": np.repeat(a.visits, n),
                        "day": np.repeat(a.visits / 24.0, n),
                        "madrs_observed": a.observed.ravel(),
                        "madrs_true": a.true.ravel(),
                        "madrs_mechanistic": a.mechanistic.ravel(),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)


def _remission(spec: TrialSpec, params: ClinicalParams) -> float:
    return float(spec.remission_madrs if spec.remission_madrs is not None else params.remission_madrs)


def _settings(spec: TrialSpec) -> PopulationSettings:
    p = spec.population
    b = p.baseline_madrs
    return PopulationSettings(
        age_range=p.age,
        female_fraction=p.female_fraction,
        asian_fraction=p.asian_fraction,
        japanese_fraction=p.japanese_fraction,
        baseline_mean=b.mean,
        baseline_sd=b.sd,
        baseline_min=b.min,
        baseline_max=b.max,
    )


def _visit_grid(spec: TrialSpec, duration_h: float, params: ClinicalParams, endpoints: list[Endpoint]) -> Array:
    extra = [e.time_h for e in endpoints if e.time_h is not None]
    if spec.visits:
        times = [0.0, *[parse_duration(v, what="visit time") for v in spec.visits], *extra, duration_h]
        grid = np.unique(np.round(np.asarray(times, float), 9))
        return grid[grid <= duration_h + 1e-9]
    return default_visits(duration_h, params, [float(x) for x in extra])


def _clinical(
    subjects: Subjects,
    mech: Array,
    timeline: Timeline,
    params: ClinicalParams,
    period: int,
    n_sessions: int,
) -> tuple[Any, Array]:
    """Observed MADRS and the CADSS within-session draws of these subjects in one period."""
    t = len(timeline.visits)
    z = draw(subjects.seed, subjects.group, subjects.index, STREAM_VISITS, 2 * t + n_sessions, period=period)
    out = observed_madrs(mech, subjects.baseline, timeline, subjects.effects, z[:t], z[t : 2 * t], params)
    return out, z[2 * t :]


def _needs_cadss(endpoints: list[Endpoint]) -> bool:
    return any(e.kind == "dissociation" for e in endpoints)


# ---------------------------------------------------------------------------------------------- designs
def _run_parallel(spec: TrialSpec, n: int, seed: int, hyp: dict[str, str], ctx: _Context) -> dict[str, ArmData]:
    params = load_params()
    dur = spec.duration_h()
    eps = spec.endpoint_list()
    visits = _visit_grid(spec, dur, params, eps)
    oad = 0.0 if spec.background.oral_antidepressant == "new" else None
    out: dict[str, ArmData] = {}
    for name, arm in spec.arms.items():
        subjects = sample_subjects(_settings(spec), seed, group_key(name), range(n))
        sessions = session_times(arm.regimen.schedule, dur)
        grid = np.unique(np.concatenate([visits, _cadss_grid(sessions, params)])) if _needs_cadss(eps) else visits
        if arm.has_compounds():
            mech_all, diss = _simulate_subjects(ctx, _arm_fields(arm, dur, hyp[name]), subjects, grid, f"arm {name}")
        else:
            mech_all = np.broadcast_to(subjects.baseline, (len(grid), n)).copy()
            diss = np.zeros_like(mech_all)
        rows = np.searchsorted(grid, visits)
        mech = mech_all[rows]
        timeline = Timeline(visits, sessions, course_intervals(sessions, params, oad, dur), oad)
        clin, within = _clinical(subjects, mech, timeline, params, 0, len(sessions))
        peaks = _peaks(grid, diss, sessions, params.cadss_window_h)
        cadss = (
            session_cadss(peaks, subjects.effects["cadss"], within, params) if _needs_cadss(eps) else np.zeros((0, n))
        )
        out[name] = ArmData(
            name,
            subjects,
            np.zeros(n, int),
            ["-"] * n,
            visits,
            clin.observed,
            mech,
            clin.true,
            sessions,
            cadss,
            ref_values=clin.observed[0].copy(),
        )
    return out


def _run_crossover(spec: TrialSpec, n: int, seed: int, hyp: dict[str, str], ctx: _Context) -> dict[str, ArmData]:
    params = load_params()
    dur = spec.duration_h()
    washout = parse_duration(spec.washout or "0 h")
    eps = spec.endpoint_list()
    visits = _visit_grid(spec, dur, params, eps)
    names = list(spec.arms)
    perms = list(itertools.permutations(range(len(names))))
    pool = sample_subjects(_settings(spec), seed, group_key("pool"), range(n))
    seqs = [perms[int(i) % len(perms)] for i in pool.index]
    seq_labels = ["-".join(names[a] for a in s) for s in seqs]
    new_oad = spec.background.oral_antidepressant == "new"
    out: dict[str, ArmData] = {}
    for a_idx, name in enumerate(names):
        arm = spec.arms[name]
        period = np.asarray([s.index(a_idx) for s in seqs], int)
        sessions = session_times(arm.regimen.schedule, dur)
        grid = np.unique(np.concatenate([visits, _cadss_grid(sessions, params)])) if _needs_cadss(eps) else visits
        if arm.has_compounds():
            mech_all, diss = _simulate_subjects(ctx, _arm_fields(arm, dur, hyp[name]), pool, grid, f"arm {name}")
        else:
            mech_all = np.broadcast_to(pool.baseline, (len(grid), n)).copy()
            diss = np.zeros_like(mech_all)
        mech = mech_all[np.searchsorted(grid, visits)]
        peaks = _peaks(grid, diss, sessions, params.cadss_window_h)
        observed = np.empty_like(mech)
        true = np.empty_like(mech)
        cadss = np.zeros((len(sessions), n)) if _needs_cadss(eps) else np.zeros((0, n))
        for p in range(len(names)):
            cols = np.nonzero(period == p)[0]
            if cols.size == 0:
                continue
            sub = pool.take(cols)
            oad = -p * (dur + washout) if new_oad else None
            timeline = Timeline(visits, sessions, course_intervals(sessions, params, oad, dur), oad)
            clin, within = _clinical(sub, mech[:, cols], timeline, params, p, len(sessions))
            observed[:, cols] = clin.observed
            true[:, cols] = clin.true
            if _needs_cadss(eps):
                cadss[:, cols] = session_cadss(peaks[:, cols], sub.effects["cadss"], within, params)
        out[name] = ArmData(
            name,
            pool,
            period,
            seq_labels,
            visits,
            observed,
            mech,
            true,
            sessions,
            cadss,
            ref_values=observed[0].copy(),
        )
    return out


def _events(reg: RegimenSpec, duration_h: float, start_h: float) -> list[dict[str, str]]:
    if reg.dose is None:
        return []
    first = reg.first_dose
    if first is None and reg.schedule.strip().lower().startswith("spravato"):
        first = f"{data.load('regimens.yaml')['spravato']['first_dose']['value']} mg"
    out = []
    for rd in parse_regimen(reg.schedule, duration_h):
        dose = first if (rd.which == "first" and first is not None) else reg.dose
        out.append({"time": f"{float(start_h + rd.time)!r} h", "dose": str(dose)})
    return out


def _run_withdrawal(
    spec: TrialSpec,
    n: int,
    seed: int,
    hyp: dict[str, str],
    ctx: _Context,
) -> tuple[dict[str, ArmData], dict[str, Any]]:
    params = load_params()
    ol = spec.open_label
    assert ol is not None  # validated
    st = spec.stability
    d_ol = parse_duration(ol.duration)
    d_m = spec.duration_h()
    eps = spec.endpoint_list()
    names = list(spec.arms)
    weeks = st.weeks if st and st.weeks else params.stable_weeks
    ol_visits = np.unique(
        np.concatenate(
            [
                default_visits(d_ol, params),
                [d_ol - k * WEEK_H for k in range(weeks) if d_ol - k * WEEK_H >= 0],
            ]
        )
    )
    m_rel = [k * WEEK_H for k in range(1, int(d_m // WEEK_H) + 1)]
    m_rel += [e.time_h for e in eps if e.time_h is not None]
    m_rel += [parse_duration(v, what="visit time") for v in (spec.visits or [])] + [d_m]
    m_visits = np.unique(np.round(np.asarray(m_rel, float), 9))
    m_visits = m_visits[(m_visits > 0) & (m_visits <= d_m + 1e-9)]
    visits = np.unique(np.concatenate([ol_visits, d_ol + m_visits]))
    n_ol = len(ol_visits)
    oad = 0.0 if spec.background.oral_antidepressant == "new" else None
    total = n * len(names)
    pool = sample_subjects(_settings(spec), seed, group_key("pool"), range(total))

    # stage 1: everyone, open label
    ol_arm = ArmSpec(drug=ol.drug, route=ol.route, regimen=ol.regimen)
    ol_sessions = session_times(ol.regimen.schedule, d_ol)
    mech_ol, _ = _simulate_subjects(ctx, _arm_fields(ol_arm, d_ol, spec.hypothesis), pool, ol_visits, "open label")
    tl_ol = Timeline(ol_visits, ol_sessions, course_intervals(ol_sessions, params, oad, d_ol), oad)
    clin_ol, _ = _clinical(pool, mech_ol, tl_ol, params, 0, 0)
    stable = stable_at_end(
        ol_visits, clin_ol.observed, d_ol, params, st.madrs_max if st else None, weeks, st.required if st else None
    )
    stable_pos = np.nonzero(stable)[0]  # pool order is subject order: assignment is by rank, chunk-free
    open_label = {
        "n": int(total),
        "stable": int(stable.sum()),
        "stable_fraction": float(stable.mean()) if total else None,
        "duration_days": d_ol / 24.0,
        "madrs_timecourse": ep.timecourse(ol_visits, clin_ol.observed),
    }

    out: dict[str, ArmData] = {}
    for a_idx, name in enumerate(names):
        arm = spec.arms[name]
        pos = stable_pos[a_idx :: len(names)]
        subjects = pool.take(pos)
        m_sessions = session_times(arm.regimen.schedule, d_m, start_h=d_ol)
        sessions = np.concatenate([ol_sessions, m_sessions])
        events = _events(ol.regimen, d_ol, 0.0)
        if arm.drug != "placebo":
            events += _events(arm.regimen, d_m, d_ol)
        fields = {
            "drug": ol.drug,
            "route": ol.route,
            "over": ol.regimen.over,
            "events": events,
            "duration": f"{float(d_ol + d_m)!r} h",
            "hypothesis": hyp[name],
        }
        grid = np.unique(np.concatenate([visits, _cadss_grid(m_sessions, params)])) if _needs_cadss(eps) else visits
        mech_all, diss = _simulate_subjects(ctx, fields, subjects, grid, f"arm {name}")
        mech = mech_all[np.searchsorted(grid, visits)]
        mech[:n_ol] = mech_ol[:, pos]
        timeline = Timeline(visits, sessions, course_intervals(sessions, params, oad, d_ol + d_m), oad)
        clin, within = _clinical(subjects, mech, timeline, params, 0, len(m_sessions))
        observed = clin.observed
        observed[:n_ol] = clin_ol.observed[:, pos]
        peaks = _peaks(grid, diss, m_sessions, params.cadss_window_h)
        cadss = (
            session_cadss(peaks, subjects.effects["cadss"], within, params)
            if _needs_cadss(eps)
            else np.zeros((0, len(pos)))
        )
        when, event = relapse_times(visits, observed, params, start_h=d_ol)
        k_ref = int(np.argmin(np.abs(visits - d_ol)))
        out[name] = ArmData(
            name,
            subjects,
            np.zeros(len(pos), int),
            ["-"] * len(pos),
            visits,
            observed,
            mech,
            clin.true,
            m_sessions,
            cadss,
            ref_h=d_ol,
            ref_values=observed[k_ref].copy(),
            relapse_h=when,
            relapse_event=event,
            horizon_h=d_m,
        )
    return out, open_label


# ---------------------------------------------------------------------------------------------- endpoints
def _flags(a: ArmData, e: Endpoint, spec: TrialSpec, params: ClinicalParams) -> Array:
    """Per-subject yes/no of a rate endpoint (response, remission, dissociation)."""
    if e.kind == "dissociation":
        above = (a.cadss > params.cadss_threshold).any(axis=0) if a.cadss.size else np.zeros(a.n, bool)
        return np.asarray(above, bool)
    y = a.at(e.time_h or 0.0)
    if e.kind == "response":
        return np.asarray(y <= (1 - params.response_fraction) * np.round(a.subjects.baseline), bool)
    return np.asarray(y <= _remission(spec, params), bool)


def _arm_summary(a: ArmData, spec: TrialSpec, params: ClinicalParams) -> dict[str, Any]:
    out: dict[str, Any] = {"n": a.n}
    for e in spec.endpoint_list():
        if e.kind == "madrs_change":
            y = a.at(e.time_h or 0.0)
            out[e.id] = ep.change_summary(y - a.ref_values, a.ref_values, y)
        elif e.kind in ("response", "remission"):
            out[e.id] = ep.rate_summary(_flags(a, e, spec, params))
        elif e.kind == "dissociation":
            peak = ep.finite(a.cadss.max(axis=0).mean()) if a.cadss.size else None
            out[e.id] = {**ep.rate_summary(_flags(a, e, spec, params)), "mean_peak_cadss": peak}
        elif e.kind == "relapse":
            assert a.relapse_h is not None and a.relapse_event is not None
            out[e.id] = ep.km_summary(a.relapse_h, a.relapse_event, a.horizon_h)
    out["madrs_timecourse"] = ep.timecourse(a.visits - a.ref_h, a.observed)
    return out


def _comparisons(arms: dict[str, ArmData], spec: TrialSpec, params: ClinicalParams) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ctrl = arms[spec.control]
    paired = spec.design == "crossover"
    for name, a in arms.items():
        if name == spec.control:
            continue
        for e in spec.endpoint_list():
            head = {"endpoint": e.id, "treatment": name, "control": spec.control}
            if e.kind == "madrs_timecourse":
                continue
            if e.kind == "madrs_change":
                assert e.time_h is not None
                ct, cc = a.at(e.time_h) - a.ref_values, ctrl.at(e.time_h) - ctrl.ref_values
                if paired:
                    res = ep.crossover_difference(ct, cc, a.ref_values, ctrl.ref_values, a.period, ctrl.period)
                else:
                    res = ep.ancova(
                        np.concatenate([ct, cc]),
                        np.concatenate([a.ref_values, ctrl.ref_values]),
                        np.concatenate([np.ones(a.n), np.zeros(ctrl.n)]),
                    )
            elif e.kind == "relapse":
                assert a.relapse_h is not None and a.relapse_event is not None
                assert ctrl.relapse_h is not None and ctrl.relapse_event is not None
                res = ep.compare_relapse(
                    a.relapse_h, a.relapse_event, ctrl.relapse_h, ctrl.relapse_event, min(a.horizon_h, ctrl.horizon_h)
                )
            else:
                ft, fc = _flags(a, e, spec, params), _flags(ctrl, e, spec, params)
                if paired:
                    res = ep.compare_rates_paired(ft, fc)
                else:
                    res = ep.compare_rates(int(ft.sum()), int(ft.size), int(fc.sum()), int(fc.size))
            out.append({**head, **res})
    return out


# ---------------------------------------------------------------------------------------------- entry point
@contextmanager
def _executor(workers: int) -> Iterator[Executor | None]:
    """Worker processes whose `map` keeps chunk order, or None to run chunks in this process."""
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=workers) as ex:
        yield ex


def run_trial(
    spec: TrialSpec,
    *,
    n_per_arm: int | None = None,
    seed: int | None = None,
    hypothesis: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    workers: int = 1,
    progress: bool | Reporter = False,
) -> TrialResult:
    """Simulate a validated trial. Overrides: subjects per arm, seed, one hypothesis for every arm.

    Chunks run in this process or in `workers` processes; neither changes a result.
    """
    if n_per_arm is not None and n_per_arm < 1:
        raise ScenarioError(f"--n-per-arm {n_per_arm} must be at least 1")
    if chunk_size < 1:
        raise ScenarioError(f"chunk size {chunk_size} must be at least 1")
    if workers < 1:
        raise ScenarioError(f"workers {workers} must be at least 1")
    if hypothesis is not None:
        from ..mechanism import parse_hypothesis

        parse_hypothesis(hypothesis)
    check_variability_ids()
    n = int(n_per_arm if n_per_arm is not None else spec.population.n_per_arm)
    s = int(seed if seed is not None else spec.seed)
    hyp = {name: (hypothesis or spec.arm_hypothesis(name)) for name in spec.arms}
    params = load_params()
    reporter = progress if isinstance(progress, Reporter) else (RichReporter() if progress else Reporter())
    open_label: dict[str, Any] | None = None
    with _executor(workers) as ex, _progress(reporter):
        total = n * len(spec.arms)
        options = BATCHED_TRIAL_SOLVER if total >= BATCHED_TRIAL_MIN_SUBJECTS else TRIAL_SOLVER
        ctx = _Context(chunk_size, ex, reporter, options)
        if spec.design == "parallel":
            arms = _run_parallel(spec, n, s, hyp, ctx)
        elif spec.design == "crossover":
            arms = _run_crossover(spec, n, s, hyp, ctx)
        else:
            arms, open_label = _run_withdrawal(spec, n, s, hyp, ctx)
    summary: dict[str, Any] = {
        "trial": spec.name,
        "design": spec.design,
        "seed": s,
        "n_per_arm": n,
        "hypothesis": hyp,
        "duration_days": spec.duration_h() / 24.0,
        "arms": {name: _arm_summary(a, spec, params) for name, a in arms.items()},
        "comparisons": _comparisons(arms, spec, params),
        "definitions": {
            "day": "days after the first dose of the period (day 0); randomized-withdrawal: after randomization",
            "response": f"MADRS at most {1 - params.response_fraction:g} x baseline",
            "remission_madrs": _remission(spec, params),
            "rates": "fractions 0-1",
        },
    }
    if open_label is not None:
        summary["open_label"] = open_label
    summary[provenance.KEY] = provenance.record(
        inputs=spec.model_dump(mode="json"), seed=s, solver=provenance.solver_label(options.method),
        rtol=options.rtol, atol=options.atol, extra={"n_per_arm": n},
    )
    return TrialResult(spec, s, n, arms, summary)


@contextmanager
def _progress(reporter: Reporter) -> Iterator[None]:
    if isinstance(reporter, RichReporter):
        with reporter.progress:
            yield
    else:
        yield
