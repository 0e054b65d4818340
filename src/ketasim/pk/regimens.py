"""Dosing regimens: names and repeat expressions -> exact dose times (h) and amounts.

Times are computed as k * interval from integers, never by accumulating floats, so a non-integer interval
can neither drift nor double a dose (FACTS.md section 9).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import data
from ..errors import UnknownNameError
from ..units import parse_duration

DAY = 24.0
WEEK = 168.0


@dataclass(frozen=True)
class RegimenDose:
    """One administration: time from the first dose (h) and which dose applies ('first' or 'maintenance')."""

    time: float
    which: str = "maintenance"


_REPEAT = re.compile(r"^\s*every\s+(?P<interval>.+?)\s*x\s*(?P<count>\d+)\s*$", re.IGNORECASE)

REGIMEN_NAMES = ("single", "spravato", "spravato-weekly", "twice-weekly", "weekly")


def _twice_weekly(start: float, end: float) -> list[float]:
    """Twice a week on a Monday/Thursday pattern: days 0 and 3 of every week."""
    offsets = [float(d) for d in data.load("regimens.yaml")["twice_weekly_days"]["value"]]
    times = []
    week = 0
    while True:
        base = start + week * WEEK
        for off in offsets:
            t = base + off * DAY
            if t < end - 1e-9:
                times.append(t)
        if base >= end:
            return times
        week += 1


def _every(start: float, end: float, interval: float) -> list[float]:
    times = []
    k = 0
    while start + k * interval < end - 1e-9:
        times.append(start + k * interval)
        k += 1
    return times


def parse_regimen(name: str, duration_h: float) -> list[RegimenDose]:
    """Dose times for a regimen within [0, duration_h). The first dose is at 0 and marked 'first'."""
    text = (name or "single").strip().lower()
    m = _REPEAT.match(text)
    if m:
        interval = parse_duration(m.group("interval"), allow_zero=False, what="dosing interval")
        count = int(m.group("count"))
        if count < 1:
            raise UnknownNameError(f"regimen {name!r} must repeat at least once, e.g. 'every 3.5 d x 8'")
        times = [k * interval for k in range(count)]
    elif text == "single":
        times = [0.0]
    elif text == "weekly":
        times = _every(0.0, max(duration_h, 1e-6), WEEK)
    elif text == "twice-weekly":
        times = _twice_weekly(0.0, max(duration_h, 1e-6))
    elif text in ("spravato", "spravato-weekly"):
        spec = data.load("regimens.yaml")["spravato"]
        induction_end = float(spec["induction_weeks"]["value"]) * WEEK
        opt_end = float(spec["optimization_weeks"]["value"]) * WEEK
        late_interval = (
            WEEK if text == "spravato-weekly" else float(spec["maintenance_interval_weeks"]["value"]) * WEEK
        )
        times = _twice_weekly(0.0, min(duration_h, induction_end))
        times += _every(induction_end, min(duration_h, opt_end), WEEK)
        times += _every(opt_end, duration_h, late_interval)
    else:
        raise UnknownNameError(
            f"unknown regimen {name!r}; choose one of {', '.join(REGIMEN_NAMES)} or a repeat like 'every 3.5 d x 8'"
        )
    return [RegimenDose(t, "first" if i == 0 else "maintenance") for i, t in enumerate(times)]


def default_duration(name: str) -> float | None:
    """The natural span of a named regimen (h), or None for single doses."""
    text = (name or "single").strip().lower()
    if text.startswith("spravato"):
        return float(data.load("regimens.yaml")["spravato"]["default_weeks"]["value"]) * WEEK
    if text in ("twice-weekly", "weekly"):
        return 4 * WEEK
    m = _REPEAT.match(text)
    if m:
        interval = parse_duration(m.group("interval"), allow_zero=False, what="dosing interval")
        return (int(m.group("count")) - 1) * interval + WEEK
    return None
