"""The report's settings (data/report.yaml) and the one colour map every figure shares.

Why a single `Style` object: the issue asks that each arm and each hypothesis keep one colour throughout the
report. Colours are assigned once, from the data file, and unnamed arms take the next palette colour in order
of first appearance, so the PK figure, the trial figure and the scorecard agree without coordinating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .. import data
from ..errors import DataError


@cache
def settings() -> dict[str, Any]:
    """The parsed data/report.yaml (cached; treat as read-only)."""
    raw = data.load("report.yaml")
    for key in ("bands", "colors", "figure", "solver", "grid", "pk", "cascade", "dose_response",
                "pretreatments", "trials", "scorecard", "diagram"):
        if key not in raw:
            raise DataError(f"data/report.yaml has no {key!r} section; reinstall ketasim")
    return dict(raw)


@dataclass(frozen=True)
class Band:
    """A plasma concentration range at which an effect is seen, with its source."""

    id: str
    label: str
    low: float
    high: float
    unit: str
    source: str
    color: str
    show: bool


def bands(shown_only: bool = True) -> list[Band]:
    """The concentration bands of data/report.yaml (only those meant to be shaded, by default)."""
    out = []
    for rec in settings()["bands"]:
        try:
            band = Band(str(rec["id"]), str(rec["label"]), float(rec["low"]), float(rec["high"]), str(rec["unit"]),
                        str(rec["source"]), str(rec["color"]), bool(rec.get("show", True)))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"data/report.yaml: band {rec!r} is malformed ({exc})") from exc
        if band.show or not shown_only:
            out.append(band)
    return out


@dataclass
class Style:
    """Colours by arm/scenario id and by hypothesis, stable for the whole report."""

    colors: dict[str, Any] = field(default_factory=lambda: dict(settings()["colors"]))
    _assigned: dict[str, str] = field(default_factory=dict)

    def _next(self) -> str:
        used = set(self._assigned.values()) | set(self.colors["arms"].values()) | set(
            self.colors["hypotheses"].values()
        )
        palette = list(self.colors["palette"])
        for c in palette:
            if c not in used:
                return c
        return palette[len(self._assigned) % len(palette)]

    def _lookup(self, table: str, key: str) -> str:
        known: dict[str, str] = self.colors[table]
        if key in known:
            return known[key]
        tag = f"{table}:{key}"
        if tag not in self._assigned:
            self._assigned[tag] = self._next()
        return self._assigned[tag]

    def arm(self, name: str) -> str:
        """Colour of a trial arm or PK scenario id."""
        return self._lookup("arms", name)

    def hypothesis(self, name: str) -> str:
        """Colour of a hypothesis (or combination) name."""
        return self._lookup("hypotheses", name)

    def node(self, name: str) -> str:
        """Colour of a mechanism node in the dose-response figure."""
        return self._lookup("nodes", name)

    def get(self, key: str) -> Any:
        """Any other entry of the colour table (control, rise, fall, strength_cmap, ...)."""
        return self.colors[key]


def figure_setting(key: str) -> Any:
    """One entry of the `figure` section (dpi, widths, axis thresholds)."""
    return settings()["figure"][key]
