"""Non-compartmental summaries of simulated profiles: Cmax, Tmax, AUC0-24, AUC0-inf, terminal half-life.

AUCs come from AUC states integrated with the model (exact to solver tolerance), not from the trapezoid rule.
The terminal rate constant is a log-linear fit over the second half of the time after the last dose, the usual
NCA choice of terminal phase; AUC0-inf adds C_last / lambda_z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class ExposureSummary:
    cmax_ng_per_ml: float
    tmax_h: float
    auc_0_24_ng_h_per_ml: float
    auc_inf_ng_h_per_ml: float
    half_life_h: float

    def as_dict(self) -> dict[str, float]:
        return {k: (None if not np.isfinite(v) else float(v)) for k, v in self.__dict__.items()}  # type: ignore[misc]


def terminal_rate(t: Array, c: Array, t_from: float) -> float:
    """lambda_z (1/h) from a log-linear least-squares fit of positive concentrations after `t_from`."""
    mask = (t >= t_from) & (c > 0) & np.isfinite(c)
    if mask.sum() < 3:
        return float("nan")
    slope = np.polyfit(t[mask], np.log(c[mask]), 1)[0]
    return float(-slope) if slope < 0 else float("nan")


def summarize(t: Array, conc: Array, auc: Array, last_dose: float, t0: float = 0.0) -> ExposureSummary:
    """Summary of one subject's profile; `auc` is the cumulative AUC state on the same grid."""
    after = t >= t0 - 1e-12
    tt, cc, aa = t[after], conc[after], auc[after]
    if len(tt) == 0 or not np.any(cc > 0):
        return ExposureSummary(0.0, float("nan"), 0.0, 0.0, float("nan"))
    i = int(np.argmax(cc))
    auc0 = float(np.interp(t0, t, auc))
    auc24 = float(np.interp(t0 + 24.0, t, auc)) - auc0 if tt[-1] >= t0 + 24.0 - 1e-9 else float("nan")
    window_start = last_dose + 0.5 * (tt[-1] - last_dose)
    floor = 1e-6 * cc[i]
    lam = terminal_rate(tt, np.where(cc > floor, cc, 0.0), window_start)
    auc_last = float(aa[-1]) - auc0
    auc_inf = auc_last + float(cc[-1]) / lam if np.isfinite(lam) and lam > 0 else float("nan")
    half = float(np.log(2) / lam) if np.isfinite(lam) and lam > 0 else float("nan")
    return ExposureSummary(float(cc[i]), float(tt[i] - t0), auc24, auc_inf, half)


# ---------------------------------------------------------------------------------------------- dosing intervals
#: CDISC SDTM PP test codes (PPTESTCD) of the per-interval metrics: `IntervalExposure.as_dict` adds them as aliases
CDISC_CODES = {
    "cmax_ng_per_ml": "CMAX",
    "tmax_h": "TMAX",
    "cmin_ng_per_ml": "CMIN",
    "ctrough_ng_per_ml": "CTROUGH",
    "auc_tau_ng_h_per_ml": "AUCTAU",
    "accumulation_cmax": "ARCMAX",
    "accumulation_auc": "ARAUC",
}
#: a profile that differs at the next dose from its value extrapolated from the left by more than this fraction of
#: the interval's Cmax jumped there (an IV bolus into the measured compartment): the trough is the left limit
JUMP_FRACTION = 1e-3


@dataclass(frozen=True)
class IntervalExposure:
    """Exposure over one dosing interval [dose time, dose time + tau).

    `tau_h` is the time to the next dose; for the last dose it is the interval before it, when the simulation runs
    that long (else None, and the interval runs to the end of the simulation with no AUCtau or trough). Tmax is
    hours after this interval's dose. Accumulation ratios are this interval's Cmax and AUCtau over the first's.
    """

    dose: int  # 1-based dose number
    time_h: float
    tau_h: float | None
    cmax_ng_per_ml: float
    tmax_h: float
    cmin_ng_per_ml: float
    ctrough_ng_per_ml: float | None
    auc_tau_ng_h_per_ml: float | None
    accumulation_cmax: float | None
    accumulation_auc: float | None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for k, v in self.__dict__.items():
            out[k] = None if isinstance(v, float) and not np.isfinite(v) else v
        out["cdisc"] = {code: out[k] for k, code in CDISC_CODES.items()}
        return out


def _left_limit(t: Array, c: Array, at: float) -> float:
    """The concentration just before `at`: the grid value there unless the profile jumps at `at` (a bolus), then
    the log-linear (else linear) extrapolation of the two grid points before it."""
    k = int(np.searchsorted(t, at - 1e-9))
    exact = float(np.interp(at, t, c))
    if k < 2:
        return exact
    (t1, t2), (c1, c2) = t[k - 2 : k], c[k - 2 : k]
    if c1 > 0 and c2 > 0:
        extrap = float(c2 * np.exp(np.log(c2 / c1) * (at - t2) / (t2 - t1)))
    else:
        extrap = float(c2 + (c2 - c1) * (at - t2) / (t2 - t1))
    scale = float(np.max(np.abs(c[: k + 1]))) or 1.0
    return extrap if abs(exact - extrap) > JUMP_FRACTION * scale else exact


def by_interval(t: Array, conc: Array, auc: Array, dose_times: list[float]) -> list[IntervalExposure]:
    """Per-dose-interval Cmax, Tmax, Cmin, Ctrough, AUCtau and accumulation ratios of one subject's profile."""
    doses = sorted(set(float(d) for d in dose_times))
    end = float(t[-1])
    out: list[IntervalExposure] = []
    first_cmax: float | None = None
    first_auc: float | None = None
    for k, td in enumerate(doses):
        if k + 1 < len(doses):
            tau: float | None = doses[k + 1] - td
        elif k > 0 and td + (doses[k] - doses[k - 1]) <= end + 1e-9:
            tau = doses[k] - doses[k - 1]
        else:
            tau = None
        hi = td + tau if tau is not None else end
        inside = (t >= td - 1e-12) & (t < hi - 1e-9) if tau is not None else (t >= td - 1e-12)
        tt, cc = t[inside], conc[inside]
        if len(tt) == 0:
            continue
        i = int(np.argmax(cc))
        cmax = float(cc[i])
        trough = _left_limit(t, conc, hi) if tau is not None else None
        cmin = min(float(np.min(cc)), trough) if trough is not None else float(np.min(cc))
        auc_tau = float(np.interp(hi, t, auc) - np.interp(td, t, auc)) if tau is not None else None
        if k == 0:
            first_cmax, first_auc = cmax, auc_tau
        ar_c = cmax / first_cmax if first_cmax else None
        ar_auc = auc_tau / first_auc if auc_tau is not None and first_auc else None
        out.append(IntervalExposure(k + 1, td, tau, cmax, float(tt[i] - td), cmin, trough, auc_tau, ar_c, ar_auc))
    return out
