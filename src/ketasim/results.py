"""Simulation results: labelled arrays, a tidy table, exposure and node summaries, frames, xarray and plots.

`values` holds every state and assignment of the model; what a reader usually wants (the compounds' plasma
concentrations and the mechanism nodes) is the default of `to_frame`, `to_xarray` and `plot`, internal states
(depots, peripheral compartments, AUC states, intermediate drives) only when asked for by name or with "all".
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import UnknownNameError
from .nca import ExposureSummary, IntervalExposure, by_interval, summarize

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

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

    # ------------------------------------------------------------------------------------------ display
    def _describe(self) -> str:
        sc = self.meta.get("scenario") or {}
        if not sc:
            return "scenario not recorded"
        what = f"{sc.get('drug')} {sc.get('route')} {sc.get('dose') or ''}".replace("  ", " ").strip()
        if sc.get("over"):
            what += f" over {sc['over']}"
        if sc.get("regimen") and sc["regimen"] != "single":
            what += f", regimen {sc['regimen']}"
        what += f" ({sc.get('species')}, {sc.get('hypothesis')}"
        pre = [p.get("drug") for p in sc.get("pretreatments") or []]
        return what + (f", after {', '.join(str(d) for d in pre)})" if pre else ")")

    def _span(self) -> str:
        if len(self.times) == 0:
            return "no output times"
        t0, t1 = float(self.times[0]) + 0.0, float(self.times[-1]) + 0.0
        return f"{t0:g} to {t1:g} h ({t1 / 24:.3g} d), {len(self.times)} output times, {len(self.dose_times)} doses"

    def __repr__(self) -> str:
        """A few lines: scenario, subjects, time span and the variables (never the arrays themselves)."""
        internal = len(self.values) - len(self.default_variables())
        return "\n".join([
            f"<ketasim.Result: {self._describe()}>",
            f"  subjects:  {self.n}",
            f"  time:      {self._span()}",
            f"  compounds: {', '.join(self.compounds) or '-'}",
            f"  nodes:     {', '.join(self.nodes) or '-'}",
            f"  + {internal} internal states and assignments (to_frame(variables='all'))",
        ])

    def _repr_html_(self) -> str:
        rows = [
            ("scenario", self._describe()), ("subjects", str(self.n)), ("time", self._span()),
            ("compounds", ", ".join(self.compounds) or "-"), ("nodes", ", ".join(self.nodes) or "-"),
            ("internal", f"{len(self.values) - len(self.default_variables())} states and assignments"),
        ]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(v)}</td></tr>" for k, v in rows)
        return f"<div><strong>ketasim.Result</strong><table>{body}</table></div>"

    # ------------------------------------------------------------------------------------------ tables
    def default_variables(self) -> list[str]:
        """The compounds' plasma concentrations and the mechanism nodes: what frames and plots show by default."""
        return list(dict.fromkeys([*self.compounds, *self.nodes]))

    def _select(self, variables: str | Sequence[str] | None) -> list[str]:
        if variables is None:
            return self.default_variables()
        if isinstance(variables, str):
            if variables == "all":
                return list(self.values)
            variables = [variables]
        unknown = [v for v in variables if v not in self.values]
        if unknown:
            raise UnknownNameError(
                f"variable {unknown[0]!r} is not in this result; choose from {', '.join(self.default_variables())} "
                "(or 'all' for every state and assignment)"
            )
        return list(variables)

    def to_frame(self, variables: str | Sequence[str] | None = None, wide: bool = False) -> pd.DataFrame:
        """Every subject's time courses as a DataFrame.

        Long (default): one row per (time, subject, variable) with columns time_h, subject, variable, value, unit.
        Wide: one row per (time, subject), one column per variable. `variables`: names, or "all" for every
        state and assignment; by default the compounds and the mechanism nodes.
        """
        names = self._select(variables)
        n_t, n = len(self.times), self.n
        time = np.repeat(np.asarray(self.times, float) + 0.0, n)  # + 0.0: no -0.0
        subject = np.tile(np.arange(n), n_t)
        if wide:
            return pd.DataFrame({"time_h": time, "subject": subject, **{v: self.values[v].ravel() for v in names}})
        frames = [
            pd.DataFrame({"time_h": time, "subject": subject, "variable": v, "value": self.values[v].ravel(),
                          "unit": self.units.get(v, "")})
            for v in names
        ]
        if not frames:
            return pd.DataFrame(columns=["time_h", "subject", "variable", "value", "unit"])
        return pd.concat(frames, ignore_index=True)

    def to_xarray(self, variables: str | Sequence[str] | None = None) -> xr.Dataset:
        """An xarray Dataset on dims (time, subject), one data variable per model variable with its unit in
        `attrs["units"]`; `.to_dataarray("variable")` gives the time x subject x variable cube."""
        import xarray as xr

        names = self._select(variables)
        ds = xr.Dataset(
            {v: (("time", "subject"), np.asarray(self.values[v]), {"units": self.units.get(v, "")}) for v in names},
            coords={"time": ("time", np.asarray(self.times) + 0.0, {"units": "h"}), "subject": np.arange(self.n)},
        )
        ds.attrs.update({"dose_times_h": list(map(float, self.dose_times)), "description": self._describe()})
        return ds

    def plot(self, variables: str | Sequence[str] | None = None, subject: int | None = None,
             days: bool | None = None) -> Figure:
        """One panel per variable (default: the compounds, then the nodes), every subject or one; the Figure."""
        import matplotlib.pyplot as plt

        names = self._select(variables)
        span = float(self.times[-1] - self.times[0]) if len(self.times) else 0.0
        in_days = span > 72.0 if days is None else days
        x = self.times / 24.0 if in_days else self.times
        cols = 1 if len(names) < 4 else 3
        rows = -(-len(names) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.4 * rows), squeeze=False, sharex=True)
        subjects = range(self.n) if subject is None else [subject]
        for ax, v in zip(axes.ravel(), names, strict=False):
            for s in subjects:
                ax.plot(x, self.values[v][:, s], lw=1.0 if self.n == 1 else 0.6, alpha=1.0 if self.n == 1 else 0.5)
            ax.set_title(v, fontsize=9)
            ax.set_ylabel(self.units.get(v, ""), fontsize=8)
        for ax in axes.ravel()[len(names):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("days" if in_days else "hours")
        fig.tight_layout()
        return fig

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

    def dosed_compounds(self) -> list[str]:
        """The compounds whose dosing intervals are the scenario drug's doses: all but those that only a
        pretreatment brings (their intervals would be measured against the main drug's doses)."""
        from .pk import catalog
        from .pk.pkset import load_pkset

        sc = self.meta.get("scenario") or {}
        species, drugs = sc.get("species", "human"), catalog.drugs()
        pretreatment_only: set[str] = set()
        for p in sc.get("pretreatments") or []:
            d = drugs.get(str(p.get("drug")))
            if d is not None and species in d.pk:
                pretreatment_only |= set(load_pkset(d.pk[species]).compounds)
        main = drugs.get(str(sc.get("drug")))
        if main is not None and species in main.pk:
            pretreatment_only -= set(load_pkset(main.pk[species]).compounds)
        return [c for c in self.compounds if c not in pretreatment_only]

    def exposure_by_interval(self, compound: str, subject: int = 0) -> list[IntervalExposure]:
        """Per dosing interval: Cmax, Tmax after that dose, Cmin, Ctrough, AUCtau, accumulation ratios."""
        return by_interval(
            self.times, self.values[compound][:, subject], self.values[f"auc_{compound}"][:, subject],
            self.dose_times,
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
