"""Dose events: boluses into a state and step changes of an infusion input, at exact times."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import KetasimError

#: two event times closer than this (hours, about 4 microseconds) are the same instant
TIME_EPS = 1e-9


@dataclass(frozen=True)
class DoseEvent:
    """At `time` (h): add `amount` mg to `state` (bolus), or add `rate` mg/h to its infusion input.

    Infusions are two events (start with +rate, stop with -rate), so overlapping infusions simply add.
    `amount`/`rate` may be arrays with one value per subject.
    """

    time: float
    state: str
    amount: float | np.ndarray = 0.0
    rate: float | np.ndarray = 0.0
    label: str = ""


def infusion(
    time: float, duration: float, state: str, amount: float | np.ndarray, label: str = ""
) -> list[DoseEvent]:
    """An amount given at constant rate over `duration` hours (a zero duration becomes a bolus)."""
    if duration <= 0:
        return [DoseEvent(time, state, amount=amount, label=label)]
    rate = np.asarray(amount, dtype=float) / duration
    rate_value: float | np.ndarray = float(rate) if rate.ndim == 0 else rate
    neg: float | np.ndarray = -rate_value if isinstance(rate_value, float) else -rate
    return [
        DoseEvent(time, state, rate=rate_value, label=label),
        DoseEvent(time + duration, state, rate=neg, label=label),
    ]


def check_times(t_out: np.ndarray, t_start: float) -> np.ndarray:
    """Validate output times (non-empty, increasing, not before the start); return them as a float array."""
    t_out = np.asarray(t_out, dtype=float)
    if t_out.ndim != 1 or len(t_out) == 0:
        raise KetasimError("output times must be a non-empty list of hours")
    if np.any(np.diff(t_out) < 0):
        raise KetasimError("output times must be in increasing order")
    if t_out[0] < t_start - TIME_EPS:
        raise KetasimError(f"output time {t_out[0]} h is before the simulation start {t_start} h")
    return t_out


def segment_boundaries(
    events: Sequence[DoseEvent], t_start: float, t_end: float
) -> tuple[list[float], list[DoseEvent]]:
    """Event-free segment boundaries (start, end and every event time up to the end, instants closer than
    TIME_EPS merged) and the events in time order. Shared by both solvers, so both cut time identically."""
    for ev in events:
        if ev.time < t_start - TIME_EPS:
            raise KetasimError(f"a dose event at {ev.time} h comes before the simulation start {t_start} h")
    boundaries = sorted({t_start, t_end, *[float(e.time) for e in events if e.time <= t_end + TIME_EPS]})
    merged: list[float] = []
    for b in boundaries:
        if not merged or b - merged[-1] > TIME_EPS:
            merged.append(b)
    return merged, sorted(events, key=lambda e: e.time)
