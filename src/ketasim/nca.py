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
