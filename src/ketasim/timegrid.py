"""Output time grids: dense right after each dose (where Cmax and the fast cascade live), sparse later."""

from __future__ import annotations

import numpy as np

from . import data

Array = np.ndarray


def output_grid(
    t_start: float, t_end: float, dose_times: list[float], extra: list[float] | None = None
) -> Array:
    """Sorted unique times in [t_start, t_end] covering each dose with the steps in data/timegrid.yaml."""
    spec = data.load("timegrid.yaml")["after_dose"]
    pieces = [np.arange(t_start, t_end, float(data.load("timegrid.yaml")["background_step_h"]["value"]))]
    for td in dose_times:
        lo = td
        for band in spec:
            hi = td + float(band["until_h"])
            pieces.append(np.arange(lo, min(hi, t_end), float(band["step_h"])))
            lo = hi
    pieces.append(np.array([t_start, t_end, *(extra or [])]))
    grid = np.unique(np.round(np.concatenate(pieces), 9))
    return grid[(grid >= t_start - 1e-12) & (grid <= t_end + 1e-12)]
