"""The clinical layer: from the mechanism's MADRS to what a rater records at a visit.

    R(t) = (1 - I_drug) (1 - I_acute) (1 - I_expect) (1 - I_natural) (1 - I_oral_ad) exp(Z(t))
    observed(t) = clip(round(B R(t) + e), 0, madrs_max)       (visits after t = 0; the baseline visit is B)

Non-specific effects act multiplicatively on the symptoms that remain, so that drug and placebo never add up
past 100% improvement. Every number comes from data/clinical.yaml; docs/trials.md gives the equations and
sources. Functions here are pure numpy on (n_times, n_subjects) arrays, testable without the mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from scipy.special import expit, logit
from scipy.stats import norm

from .. import data
from ..errors import DataError
from ..units import parse_duration

Array = np.ndarray


def _hours(rec: dict[str, Any], key: str) -> float:
    unit = str(rec[key]["unit"])
    value = rec[key]["value"]
    if unit in ("1", "points", "visits"):
        return float(value)
    return parse_duration(f"{value} {unit}")


@dataclass(frozen=True)
class ClinicalParams:
    """data/clinical.yaml in internal units (hours, fractions, points)."""

    response_fraction: float
    remission_madrs: float
    madrs_max: float
    relapse_madrs: float
    relapse_confirm_min_h: float
    relapse_confirm_max_h: float
    stable_madrs: float
    stable_weeks: int
    stable_required: int
    cadss_threshold: float
    natural_max: float
    natural_tau_h: float
    acute_median: float
    acute_logit_sd: float
    acute_tau_h: float
    expect_median: float
    expect_logit_sd: float
    expect_tau_h: float
    persistence_h: float
    oad_median: float
    oad_logit_sd: float
    oad_tau_h: float
    durability_median_h: float
    durability_shape: float
    durability_fade_h: float
    fluct_sd: float
    fluct_tau_h: float
    meas_sd: float
    cadss_median: float
    cadss_between_sd: float
    cadss_within_sd: float
    cadss_window_h: float
    cadss_step_h: float
    visits_early_h: tuple[float, ...]
    visits_days: tuple[float, ...]
    visits_every_h: float

    def replace(self, **changes: Any) -> ClinicalParams:
        """A copy with some values changed (calibration scripts and tests)."""
        from dataclasses import replace

        return replace(self, **changes)


@cache
def load_params() -> ClinicalParams:
    """Read and check data/clinical.yaml."""
    raw = data.load("clinical.yaml")
    try:
        d, nat, ex, oad = raw["definitions"], raw["natural_course"], raw["expectation"], raw["oral_antidepressant"]
        fl, me, cad, vis = raw["fluctuation"], raw["measurement"], raw["cadss"], raw["visits"]
        dur = raw["durability"]
        for section in (d, nat, ex, oad, dur, fl, me, cad, vis):
            for key, rec in section.items():
                if not isinstance(rec, dict) or not {"value", "unit", "source"} <= set(rec):
                    raise DataError(f"clinical.yaml: {key!r} needs value, unit and source")
        return ClinicalParams(
            response_fraction=float(d["response_fraction"]["value"]),
            remission_madrs=float(d["remission_madrs"]["value"]),
            madrs_max=float(d["madrs_max"]["value"]),
            relapse_madrs=float(d["relapse_madrs"]["value"]),
            relapse_confirm_min_h=_hours(d, "relapse_confirm_min"),
            relapse_confirm_max_h=_hours(d, "relapse_confirm_max"),
            stable_madrs=float(d["stable_madrs"]["value"]),
            stable_weeks=int(d["stable_weeks"]["value"]),
            stable_required=int(d["stable_required"]["value"]),
            cadss_threshold=float(d["cadss_threshold"]["value"]),
            natural_max=float(nat["max_improvement"]["value"]),
            natural_tau_h=_hours(nat, "tau"),
            acute_median=float(ex["acute_median"]["value"]),
            acute_logit_sd=float(ex["acute_logit_sd"]["value"]),
            acute_tau_h=_hours(ex, "acute_tau"),
            expect_median=float(ex["sustained_median"]["value"]),
            expect_logit_sd=float(ex["sustained_logit_sd"]["value"]),
            expect_tau_h=_hours(ex, "sustained_tau"),
            persistence_h=_hours(ex, "persistence"),
            oad_median=float(oad["median"]["value"]),
            oad_logit_sd=float(oad["logit_sd"]["value"]),
            oad_tau_h=_hours(oad, "tau"),
            durability_median_h=_hours(dur, "median"),
            durability_shape=float(dur["shape"]["value"]),
            durability_fade_h=_hours(dur, "fade"),
            fluct_sd=float(fl["sd"]["value"]),
            fluct_tau_h=_hours(fl, "tau"),
            meas_sd=float(me["sd"]["value"]),
            cadss_median=float(cad["nonspecific_median"]["value"]),
            cadss_between_sd=float(cad["between_sd"]["value"]),
            cadss_within_sd=float(cad["within_sd"]["value"]),
            cadss_window_h=_hours(cad, "window"),
            cadss_step_h=_hours(cad, "step"),
            visits_early_h=tuple(float(x) for x in vis["early"]["value"]),
            visits_days=tuple(float(x) for x in vis["days"]["value"]),
            visits_every_h=_hours(vis, "every"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"clinical.yaml is malformed ({exc!r}); reinstall ketasim") from exc


@dataclass
class Timeline:
    """What the non-specific effects of one arm (and period) depend on; times in hours from the first dose.

    `course` lists the intervals during which a treatment course keeps expectation up. `oad_start` is when a
    new oral antidepressant started (None: no new one); it may differ per subject (crossover periods).
    """

    visits: Array
    sessions: Array
    course: list[tuple[float, float]] = field(default_factory=list)
    oad_start: float | Array | None = None


def default_visits(duration_h: float, params: ClinicalParams, extra_h: list[float] | None = None) -> Array:
    """Baseline (0), the early post-dose ratings, days 1-3 and weekly, then weekly to the end, plus `extra_h`."""
    times = [0.0, *params.visits_early_h, *[d * 24.0 for d in params.visits_days]]
    last = max(params.visits_days) * 24.0 if params.visits_days else 0.0
    k = 1
    while last + k * params.visits_every_h <= duration_h + 1e-9:
        times.append(last + k * params.visits_every_h)
        k += 1
    times += list(extra_h or [])
    times.append(duration_h)
    grid = np.unique(np.round(np.asarray(times, float), 9))
    return grid[(grid >= 0) & (grid <= duration_h + 1e-9)]


def course_intervals(
    sessions: Array,
    params: ClinicalParams,
    oad_start: float | None,
    end_h: float,
) -> list[tuple[float, float]]:
    """When expectation is driven: a course of sessions (first to last + persistence), a new oral AD onward."""
    out: list[tuple[float, float]] = []
    if len(sessions):
        out.append((float(np.min(sessions)), float(np.max(sessions)) + params.persistence_h))
    if oad_start is not None:
        out.append((float(oad_start), max(end_h, float(oad_start)) + 1e9))
    return out


def course_fraction(times: Array, intervals: list[tuple[float, float]], tau_h: float) -> Array:
    """g(t) with dg/dt = (u - g)/tau, g = 0 before any interval, u = 1 inside the union of `intervals`."""
    times = np.asarray(times, float)
    if not intervals:
        return np.zeros_like(times)
    edges = sorted({e for iv in intervals for e in iv})
    out = np.empty_like(times)
    for k, t in enumerate(times):
        g, prev = 0.0, edges[0]
        for a in [*edges, np.inf]:
            b = min(a, t)
            if b > prev:
                mid = 0.5 * (prev + b)
                on = any(lo <= mid < hi for lo, hi in intervals)
                decay = np.exp(-(b - prev) / tau_h)
                g = 1.0 - (1.0 - g) * decay if on else g * decay
                prev = b
            if a >= t:
                break
        out[k] = g
    return out


def latent_maximum(median: float, logit_sd: float, z: Array) -> Array:
    """Per-subject maximal effect, logit-normal around `median`."""
    if median <= 0:
        return np.zeros_like(np.asarray(z, float))
    return np.asarray(expit(logit(median) + logit_sd * np.asarray(z, float)), dtype=float)


def durability(times: Array, z: Array, median_h: float, fade_h: float, shape: float = 1.0) -> Array:
    """Share of the non-specific response kept at `times` (rows) by each subject (columns).

    The response is lost at T ~ Weibull(median, shape) (from the standard-normal effect `z` by its quantile),
    then fades: 1 before T, exp(-(t - T)/fade) after.
    """
    u = np.clip(norm.cdf(np.asarray(z, float)), 0.0, 1.0 - 1e-16)
    lost_at = median_h * (-np.log1p(-u) / np.log(2.0)) ** (1.0 / shape)
    after = np.clip(np.asarray(times, float)[:, None] - lost_at[None, :], 0.0, None)
    return np.exp(-after / fade_h)


def acute_fraction(times: Array, sessions: Array, tau_h: float) -> Array:
    """exp(-(t - t_s)/tau) after the latest session strictly before t (0 before the first)."""
    times = np.asarray(times, float)
    s = np.sort(np.asarray(sessions, float))
    out = np.zeros_like(times)
    if len(s) == 0:
        return out
    pos = np.searchsorted(s, times, side="left") - 1  # latest session < t
    has = pos >= 0
    out[has] = np.exp(-(times[has] - s[pos[has]]) / tau_h)
    return out


def fluctuation(times: Array, draws: Array, sd: float, tau_h: float) -> Array:
    """Ornstein-Uhlenbeck Z at sorted `times` >= 0 from standard-normal `draws` (n_times, n); Z(0) = 0."""
    times = np.asarray(times, float)
    z = np.zeros_like(draws, dtype=float)
    prev_t, prev = 0.0, np.zeros(draws.shape[1])
    for k, t in enumerate(times):
        dt = max(t - prev_t, 0.0)
        if dt > 0:
            a = np.exp(-dt / tau_h)
            prev = prev * a + sd * np.sqrt(1.0 - a * a) * draws[k]
        z[k] = prev
        prev_t = max(t, prev_t)
    return z


@dataclass
class ClinicalOutput:
    """Per visit and subject: observed MADRS (integers), the noise-free value, and each improvement term."""

    observed: Array
    true: Array
    components: dict[str, Array]


def observed_madrs(
    mech_madrs: Array,
    baseline: Array,
    timeline: Timeline,
    effects: dict[str, Array],
    fluct_draws: Array,
    meas_draws: Array,
    params: ClinicalParams,
) -> ClinicalOutput:
    """The observed MADRS at `timeline.visits` (rows) for each subject (columns).

    `mech_madrs` is the mechanistic MADRS at those visits (baseline * (1 - drug improvement));
    `effects` holds the standard-normal subject effects 'acute', 'expectation', 'oral_ad', 'durability'.
    """
    t = np.asarray(timeline.visits, float)
    b = np.asarray(baseline, float)[None, :]
    mech = np.asarray(mech_madrs, float)
    i_drug = np.clip(1.0 - mech / b, 0.0, 1.0)
    a_max = latent_maximum(params.acute_median, params.acute_logit_sd, effects["acute"])
    s_max = latent_maximum(params.expect_median, params.expect_logit_sd, effects["expectation"])
    i_acute = acute_fraction(t, timeline.sessions, params.acute_tau_h)[:, None] * a_max[None, :]
    keep = durability(
        t, effects["durability"], params.durability_median_h, params.durability_fade_h, params.durability_shape
    )
    i_expect = course_fraction(t, timeline.course, params.expect_tau_h)[:, None] * s_max[None, :] * keep
    i_nat = (params.natural_max * (1.0 - np.exp(-np.clip(t, 0, None) / params.natural_tau_h)))[:, None]
    i_nat = np.broadcast_to(i_nat, i_drug.shape)
    if timeline.oad_start is None:
        i_oad = np.zeros_like(i_drug)
    else:
        o_max = latent_maximum(params.oad_median, params.oad_logit_sd, effects["oral_ad"])
        start = np.broadcast_to(np.asarray(timeline.oad_start, float), b.shape[1:])[None, :]
        since = np.clip(t[:, None] - start, 0.0, None)
        i_oad = (1.0 - np.exp(-since / params.oad_tau_h)) * o_max[None, :] * keep
    z = fluctuation(t, fluct_draws, params.fluct_sd, params.fluct_tau_h)
    remaining = (1 - i_drug) * (1 - i_acute) * (1 - i_expect) * (1 - i_nat) * (1 - i_oad) * np.exp(z)
    true = b * remaining
    noisy = true + params.meas_sd * meas_draws
    observed = np.clip(np.round(noisy), 0.0, params.madrs_max)
    at_baseline = t <= 0.0
    observed[at_baseline] = np.broadcast_to(np.round(b), observed[at_baseline].shape)
    true[at_baseline] = np.broadcast_to(b, true[at_baseline].shape)
    return ClinicalOutput(
        observed=observed,
        true=true,
        components={
            "drug": i_drug,
            "acute": i_acute,
            "expectation": i_expect,
            "natural": np.array(i_nat),
            "oral_ad": i_oad,
            "fluctuation": z,
        },
    )


def session_cadss(
    peaks: Array,
    effect: Array,
    within_draws: Array,
    params: ClinicalParams,
) -> Array:
    """Observed CADSS after each session (rows): the mechanism's peak plus a non-specific score, rounded.

    The CADSS total is an integer sum of item scores; rounding also keeps ratings independent of the
    solver's batch (chunk) at its tolerance.
    """
    peaks = np.asarray(peaks, float)
    nonspecific = np.exp(
        np.log(params.cadss_median)
        + params.cadss_between_sd * np.asarray(effect, float)[None, :]
        + params.cadss_within_sd * np.asarray(within_draws, float)
    )
    return np.round(peaks + nonspecific)


def relapse_times(
    times: Array,
    observed: Array,
    params: ClinicalParams,
    start_h: float = 0.0,
) -> tuple[Array, Array]:
    """First relapse per subject among visits after `start_h`: (time from start_h in h, event 0/1).

    Relapse: MADRS >= relapse_madrs at a visit and again at a later visit 5-15 days after it (clinical.yaml);
    the event is dated at the first of the two. Subjects without one are censored at their last visit.
    """
    times = np.asarray(times, float)
    keep = times > start_h + 1e-9
    t = times[keep]
    y = np.asarray(observed, float)[keep]
    n = y.shape[1]
    high = y >= params.relapse_madrs
    event = np.zeros(n)
    when = np.full(n, (t[-1] - start_h) if len(t) else 0.0)
    found = np.zeros(n, dtype=bool)
    for k in range(len(t)):
        gap = t - t[k]
        partners = (gap >= params.relapse_confirm_min_h - 1e-9) & (gap <= params.relapse_confirm_max_h + 1e-9)
        if not partners.any():
            continue
        confirmed = high[k] & high[partners].any(axis=0) & ~found
        when[confirmed] = t[k] - start_h
        event[confirmed] = 1.0
        found |= confirmed
    return when, event


def stable_at_end(
    times: Array,
    observed: Array,
    end_h: float,
    params: ClinicalParams,
    madrs_max: float | None = None,
    weeks: int | None = None,
    required: int | None = None,
) -> Array:
    """Stable remission at `end_h`: MADRS <= madrs_max at >= `required` weekly visits of the last `weeks` weeks."""
    lim = params.stable_madrs if madrs_max is None else madrs_max
    w = params.stable_weeks if weeks is None else weeks
    need = params.stable_required if required is None else required
    times = np.asarray(times, float)
    targets = [end_h - k * 168.0 for k in range(w)]
    rows = []
    for tt in targets:
        k = int(np.argmin(np.abs(times - tt)))
        if abs(times[k] - tt) > 1e-6:
            raise DataError(f"no visit at {tt / 24:g} d to judge stability; the visit schedule must be weekly there")
        rows.append(k)
    ok = np.asarray(observed, float)[rows] <= lim
    return ok.sum(axis=0) >= need
