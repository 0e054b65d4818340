"""Simulation results: labelled arrays, a tidy table, exposure and node summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .nca import ExposureSummary, summarize

Array = np.ndarray


@dataclass
class Result:
    """Time courses of every reported variable, for every subject: `values[var]` is (n_times, n_subjects)."""

    times: Array
    values: dict[str, Array]
    units: dict[str, str]
    compounds: list[str]
    nodes: list[str]
    dose_times: list[float]
    at: dict[str, float] = field(default_factory=dict)  # label -> hours
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return next(iter(self.values.values())).shape[1] if self.values else 0

    def __getitem__(self, var: str) -> Array:
        return self.values[var]

    def series(self, var: str, subject: int = 0) -> Array:
        return self.values[var][:, subject]

    def table(self, subject: int = 0) -> pd.DataFrame:
        """Tidy table: one row per (time, variable) with value and unit."""
        frames = []
        for var, arr in self.values.items():
            frames.append(
                pd.DataFrame(
                    {
                        "time_h": self.times,
                        "variable": var,
                        "value": arr[:, subject],
                        "unit": self.units.get(var, ""),
                    }
                )
            )
        return (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=["time_h", "variable", "value", "unit"])
        )

    def exposure(self, compound: str, subject: int = 0) -> ExposureSummary:
        auc_key = f"auc_{compound}"
        last = max(self.dose_times) if self.dose_times else 0.0
        return summarize(
            self.times, self.values[compound][:, subject], self.values[auc_key][:, subject], last
        )

    def value_at(self, var: str, hours: float, subject: int = 0) -> float:
        return float(np.interp(hours, self.times, self.values[var][:, subject]))

    def node_summary(self, node: str, subject: int = 0) -> dict[str, float]:
        """Baseline (value before the first dose), peak and trough with their times after the first dose."""
        t = self.times
        y = self.values[node][:, subject]
        t0 = min(self.dose_times) if self.dose_times else 0.0
        before = t <= t0 + 1e-12
        baseline = float(y[before][-1]) if np.any(before) else float(y[0])
        after = t >= t0
        ta, ya = t[after], y[after]
        i_max, i_min = int(np.argmax(ya)), int(np.argmin(ya))
        return {
            "baseline": baseline,
            "peak": float(ya[i_max]),
            "t_peak_h": float(ta[i_max] - t0),
            "min": float(ya[i_min]),
            "t_min_h": float(ta[i_min] - t0),
        }
