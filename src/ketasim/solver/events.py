"""Dose events: boluses into a state and step changes of an infusion input, at exact times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
