"""Endpoint statistics, from well-kept libraries: statsmodels (OLS/ANCOVA, Wilson, Newcombe, 2x2, McNemar),
scipy (Fisher's exact test) and lifelines (Kaplan-Meier, Cox).

Every function takes plain arrays and returns a JSON-ready dict (floats, None for undefined values), so the
tests can check each against a hand computation. Rates are fractions 0-1; times are reported in days.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.contingency_tables import Table2x2, mcnemar
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

Array = np.ndarray
Z95 = 1.959963984540054  # standard normal 97.5% quantile
_EMPTY_RATES: dict[str, Any] = {
    "difference": None,
    "ci95": [None, None],
    "p": None,
    "odds_ratio": None,
    "odds_ratio_ci95": [None, None],
}


def finite(x: Any) -> float | None:
    """A finite float, or None (JSON has no NaN or infinity)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def wilson(k: int, n: int) -> list[float | None]:
    """Wilson score 95% interval of a proportion k/n."""
    if n <= 0:
        return [None, None]
    lo, hi = proportion_confint(int(k), int(n), alpha=0.05, method="wilson")
    return [finite(lo), finite(hi)]


def rate_summary(flags: Array) -> dict[str, Any]:
    """A rate with its Wilson 95% CI."""
    x = np.asarray(flags, bool)
    n, k = int(x.size), int(x.sum())
    return {"rate": finite(k / n) if n else None, "ci95": wilson(k, n), "events": k, "n": n}


def change_summary(change: Array, baseline: Array, value: Array) -> dict[str, Any]:
    """Mean and SD of the change from baseline, with the baseline and the value reached."""
    c = np.asarray(change, float)
    n = c.size
    return {
        "mean": finite(c.mean()) if n else None,
        "sd": finite(c.std(ddof=1)) if n > 1 else None,
        "n": int(n),
        "baseline_mean": finite(np.mean(baseline)) if n else None,
        "value_mean": finite(np.mean(value)) if n else None,
    }


def _ols(y: Array, columns: list[Array]) -> Any:
    x = np.column_stack([np.ones_like(y), *columns])
    return OLS(y, x).fit()


def ancova(change: Array, baseline: Array, treated: Array) -> dict[str, Any]:
    """Difference in change (treated - control) adjusted for baseline: OLS change ~ 1 + treated + baseline."""
    y = np.asarray(change, float)
    tr = np.asarray(treated, float)
    base = np.asarray(baseline, float)
    cols = [tr]
    if base.size and np.ptp(base) > 0:
        cols.append(base)
    unadjusted = finite(y[tr > 0.5].mean() - y[tr < 0.5].mean()) if (tr > 0.5).any() and (tr < 0.5).any() else None
    if y.size <= len(cols) + 1:
        return {
            "difference": unadjusted,
            "ci95": [None, None],
            "p": None,
            "method": "ANCOVA on baseline (OLS)",
            "difference_unadjusted": unadjusted,
        }
    fit = _ols(y, cols)
    lo, hi = fit.conf_int(alpha=0.05)[1]
    return {
        "difference": finite(fit.params[1]),
        "ci95": [finite(lo), finite(hi)],
        "p": finite(fit.pvalues[1]),
        "se": finite(fit.bse[1]),
        "method": "ANCOVA on baseline (OLS)",
        "difference_unadjusted": unadjusted,
    }


def crossover_difference(
    change_t: Array,
    change_c: Array,
    base_t: Array,
    base_c: Array,
    period_t: Array,
    period_c: Array,
) -> dict[str, Any]:
    """Within-subject difference (treatment - control): OLS d ~ 1 + (period_t - period_c) + (base_t - base_c).

    The intercept is the treatment effect at equal periods and equal baselines (the fixed-subject ANCOVA of a
    crossover); covariates that do not vary are left out.
    """
    d = np.asarray(change_t, float) - np.asarray(change_c, float)
    cols: list[Array] = []
    for col in (
        np.asarray(period_t, float) - np.asarray(period_c, float),
        np.asarray(base_t, float) - np.asarray(base_c, float),
    ):
        trial = np.column_stack([np.ones_like(d), *cols, col])
        if col.size and np.ptp(col) > 0 and np.linalg.matrix_rank(trial) == trial.shape[1]:
            cols.append(col)
    if d.size <= len(cols) + 1:
        return {
            "difference": finite(d.mean()) if d.size else None,
            "ci95": [None, None],
            "p": None,
            "method": "within-subject OLS (crossover)",
        }
    fit = _ols(d, cols)
    lo, hi = fit.conf_int(alpha=0.05)[0]
    return {
        "difference": finite(fit.params[0]),
        "ci95": [finite(lo), finite(hi)],
        "p": finite(fit.pvalues[0]),
        "se": finite(fit.bse[0]),
        "method": "within-subject OLS (crossover)",
        "difference_unadjusted": finite(d.mean()),
    }


def compare_rates(k1: int, n1: int, k0: int, n0: int) -> dict[str, Any]:
    """Two independent rates: difference with Newcombe's 95% CI, odds ratio (2x2, Woolf CI), Fisher's exact p."""
    if n1 <= 0 or n0 <= 0:
        return dict(_EMPTY_RATES)
    diff = k1 / n1 - k0 / n0
    lo, hi = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff")
    table = np.array([[k1, n1 - k1], [k0, n0 - k0]], dtype=float)
    t2 = Table2x2(table, shift_zeros=True)
    orr = t2.oddsratio
    olo, ohi = t2.oddsratio_confint(alpha=0.05)
    _, p = fisher_exact(table.astype(int))
    return {
        "difference": finite(diff),
        "ci95": [finite(lo), finite(hi)],
        "p": finite(p),
        "odds_ratio": finite(orr),
        "odds_ratio_ci95": [finite(olo), finite(ohi)],
        "method": "rate difference (Newcombe CI), odds ratio (2x2, Woolf CI; 0.5 added to zero cells), Fisher exact p",
    }


def compare_rates_paired(x_t: Array, x_c: Array) -> dict[str, Any]:
    """Paired rates (crossover): difference with a Wald CI, McNemar's exact p, conditional odds ratio b/c."""
    t = np.asarray(x_t, bool)
    c = np.asarray(x_c, bool)
    n = t.size
    b = int((t & ~c).sum())  # responded on treatment only
    cc = int((~t & c).sum())  # on control only
    if n == 0:
        return dict(_EMPTY_RATES)
    diff = (b - cc) / n
    var = ((b + cc) - (b - cc) ** 2 / n) / n**2
    se = math.sqrt(max(var, 0.0))
    table = np.array([[int((t & c).sum()), b], [cc, int((~t & ~c).sum())]])
    p = mcnemar(table, exact=True).pvalue if (b + cc) > 0 else 1.0
    bb, ccc = (b, cc) if b > 0 and cc > 0 else (b + 0.5, cc + 0.5)
    orr = bb / ccc
    half = Z95 * math.sqrt(1 / bb + 1 / ccc)
    return {
        "difference": finite(diff),
        "ci95": [finite(max(-1.0, diff - Z95 * se)), finite(min(1.0, diff + Z95 * se))],
        "p": finite(p),
        "odds_ratio": finite(orr),
        "odds_ratio_ci95": [finite(orr * math.exp(-half)), finite(orr * math.exp(half))],
        "discordant": [b, cc],
        "method": "paired rate difference (Wald CI, clipped to [-1, 1]), McNemar exact p, conditional odds ratio b/c "
        "(0.5 added to zero cells)",
    }


def _km(durations_d: Array, events: Array) -> Any:
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter().fit(np.asarray(durations_d, float), np.asarray(events, float))


def km_at(durations_d: Array, events: Array, horizon_d: float) -> tuple[float, float]:
    """Kaplan-Meier survival at `horizon_d` and its Greenwood variance."""
    kmf = _km(durations_d, events)
    table = kmf.event_table
    table = table[(table.index > 0) & (table.index <= horizon_d + 1e-9)]
    d = table["observed"].to_numpy(float)
    r = table["at_risk"].to_numpy(float)
    ok = r > 0
    s = float(np.prod(1.0 - d[ok] / r[ok]))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(r[ok] > d[ok], d[ok] / (r[ok] * (r[ok] - d[ok])), np.inf)
    var = s * s * float(np.sum(terms)) if s > 0 else 0.0
    return s, var


def km_summary(durations_h: Array, events: Array, horizon_h: float) -> dict[str, Any]:
    """Kaplan-Meier per arm: events, median time to relapse (days; None if not reached), curve, risk at horizon."""
    dur = np.asarray(durations_h, float) / 24.0
    ev = np.asarray(events, float)
    if dur.size == 0:
        return {"n": 0, "events": 0, "median_days": None, "relapse_rate": None, "ci95": [None, None], "km": {}}
    kmf = _km(dur, ev)
    s, var = km_at(dur, ev, horizon_h / 24.0)
    se = math.sqrt(var) if math.isfinite(var) else float("nan")
    sf = kmf.survival_function_
    return {
        "n": int(dur.size),
        "events": int(ev.sum()),
        "median_days": finite(kmf.median_survival_time_),
        "relapse_rate": finite(1.0 - s),
        "ci95": [finite(max(0.0, 1 - s - Z95 * se)), finite(min(1.0, 1 - s + Z95 * se))],
        "horizon_days": finite(horizon_h / 24.0),
        "km": {"day": [float(x) for x in sf.index], "survival": [float(x) for x in sf.iloc[:, 0]]},
    }


def compare_relapse(
    dur_t_h: Array,
    ev_t: Array,
    dur_c_h: Array,
    ev_c: Array,
    horizon_h: float,
) -> dict[str, Any]:
    """Cox hazard ratio (treatment vs control) with 95% CI and p; difference in KM relapse risk at the horizon."""
    from lifelines import CoxPHFitter

    dt, dc = np.asarray(dur_t_h, float) / 24.0, np.asarray(dur_c_h, float) / 24.0
    et, ec = np.asarray(ev_t, float), np.asarray(ev_c, float)
    out: dict[str, Any] = {
        "difference": None,
        "ci95": [None, None],
        "p": None,
        "hazard_ratio": None,
        "hazard_ratio_ci95": [None, None],
        "method": "Cox proportional hazards (lifelines); difference = KM relapse risk at the horizon (Greenwood CI)",
    }
    if dt.size == 0 or dc.size == 0:
        return out
    h = horizon_h / 24.0
    st, vt = km_at(dt, et, h)
    sc, vc = km_at(dc, ec, h)
    diff = (1 - st) - (1 - sc)
    se = math.sqrt(vt + vc) if math.isfinite(vt + vc) else float("nan")
    out["difference"] = finite(diff)
    out["ci95"] = [finite(diff - Z95 * se), finite(diff + Z95 * se)]
    if et.sum() + ec.sum() == 0:
        return out
    frame = pd.DataFrame(
        {
            "time": np.concatenate([dt, dc]),
            "event": np.concatenate([et, ec]),
            "treated": np.concatenate([np.ones_like(dt), np.zeros_like(dc)]),
        }
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph = CoxPHFitter().fit(frame, duration_col="time", event_col="event")
    except Exception:  # lifelines raises its own convergence errors (e.g. no events in one arm)
        return out
    summ = cph.summary.loc["treated"]
    out["hazard_ratio"] = finite(summ["exp(coef)"])
    out["hazard_ratio_ci95"] = [finite(summ["exp(coef) lower 95%"]), finite(summ["exp(coef) upper 95%"])]
    out["p"] = finite(summ["p"])
    return out


def timecourse(times_h: Array, observed: Array) -> dict[str, Any]:
    """Mean (and SD) observed MADRS at each visit."""
    y = np.asarray(observed, float)
    mean = y.mean(axis=1) if y.shape[1] > 0 else np.full(y.shape[0], np.nan)
    sd = y.std(axis=1, ddof=1) if y.shape[1] > 1 else np.full(y.shape[0], np.nan)
    return {
        "day": [float(round(t / 24.0, 6)) for t in np.asarray(times_h, float)],
        "mean": [finite(v) for v in mean],
        "sd": [finite(v) for v in sd],
    }
