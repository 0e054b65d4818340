"""Parse quantities at the edges ("84 mg", "0.5 mg/kg", "40 min", "12w") into internal units.

Internal units (DESIGN.md): time in hours, amounts in mg, volumes in L, concentrations in ng/mL (= ug/L).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import UnitError

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<unit>[A-Za-zµμ/%]*(?:\s*/\s*[A-Za-z]+)?)\s*$")

#: hours per unit of time
TIME_UNITS: dict[str, float] = {
    "s": 1 / 3600,
    "sec": 1 / 3600,
    "secs": 1 / 3600,
    "second": 1 / 3600,
    "seconds": 1 / 3600,
    "min": 1 / 60,
    "mins": 1 / 60,
    "minute": 1 / 60,
    "minutes": 1 / 60,
    "m": 1 / 60,
    "h": 1.0,
    "hr": 1.0,
    "hrs": 1.0,
    "hour": 1.0,
    "hours": 1.0,
    "d": 24.0,
    "day": 24.0,
    "days": 24.0,
    "w": 168.0,
    "wk": 168.0,
    "wks": 168.0,
    "week": 168.0,
    "weeks": 168.0,
}

#: mg per unit of amount
AMOUNT_UNITS: dict[str, float] = {"mg": 1.0, "g": 1000.0, "ug": 1e-3, "µg": 1e-3, "μg": 1e-3, "mcg": 1e-3}

#: kg per unit of body weight
WEIGHT_UNITS: dict[str, float] = {"kg": 1.0, "g": 1e-3}


@dataclass(frozen=True)
class Dose:
    """A dose as the user gave it: an absolute amount (mg) or an amount per body weight (mg/kg)."""

    value: float
    per_kg: bool
    text: str

    def mg(self, weight_kg: float | None) -> float:
        """Absolute amount in mg; a weight-based dose needs the subject's weight."""
        if not self.per_kg:
            return self.value
        if weight_kg is None or not math.isfinite(weight_kg) or weight_kg <= 0:
            raise UnitError(
                f"dose {self.text!r} is per kg of body weight but no weight applies; give --weight KG "
                "or an absolute dose such as '35 mg'"
            )
        return self.value * weight_kg


def _split(text: str, what: str, example: str) -> tuple[float, str]:
    if not isinstance(text, str):
        text = str(text)
    match = _QUANTITY.match(text)
    if not match:
        raise UnitError(f"cannot read {what} {text!r}; write a number and a unit, e.g. {example!r}")
    value = float(match.group("num"))
    if not math.isfinite(value):
        raise UnitError(f"{what} {text!r} is not a finite number; e.g. {example!r}")
    return value, re.sub(r"\s+", "", match.group("unit")).lower().replace("μ", "µ")


def parse_duration(text: str | float | int, *, allow_zero: bool = True, what: str = "duration") -> float:
    """A duration in hours. Bare numbers are hours; units s, min, h, d, w (and their long names)."""
    if isinstance(text, bool):
        raise UnitError(f"{what} must be a duration such as '40 min', got {text!r}")
    if isinstance(text, int | float):
        value, unit = float(text), "h"
    else:
        value, unit = _split(text, what, "40 min")
    unit = unit or "h"
    if unit not in TIME_UNITS:
        raise UnitError(
            f"unknown time unit {unit!r} in {what} {text!r}; use s, min, h, d or w (e.g. '40 min', '12w')"
        )
    hours = value * TIME_UNITS[unit]
    if not math.isfinite(hours):
        raise UnitError(f"{what} {text!r} is not a finite duration; e.g. '40 min'")
    if hours < 0 or (hours == 0 and not allow_zero):
        raise UnitError(f"{what} {text!r} must be {'positive' if not allow_zero else 'zero or more'}")
    return hours


def parse_dose(text: str | float | int) -> Dose:
    """A dose: '84 mg', '0.5 mg/kg', '500 ug'. Bare numbers are rejected: the unit matters too much."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        raise UnitError(f"dose {text!r} has no unit; write e.g. '{text} mg' or '{text} mg/kg'")
    value, unit = _split(str(text), "dose", "84 mg")
    per_kg = unit.endswith("/kg")
    base = unit[:-3] if per_kg else unit
    if base not in AMOUNT_UNITS:
        raise UnitError(f"unknown dose unit {unit!r} in {text!r}; use mg, g, ug, or mg/kg (e.g. '0.5 mg/kg')")
    if value <= 0:
        raise UnitError(f"dose {text!r} must be positive; give an amount such as '56 mg'")
    mg = value * AMOUNT_UNITS[base]
    if not math.isfinite(mg):
        raise UnitError(f"dose {text!r} is not a finite amount; give an amount such as '56 mg'")
    return Dose(value=mg, per_kg=per_kg, text=str(text).strip())


def parse_weight(text: str | float | int) -> float:
    """Body weight in kg: a bare number means kg; '300 g' and '70 kg' are understood."""
    if isinstance(text, bool):
        raise UnitError(f"weight must be a number of kg, got {text!r}")
    if isinstance(text, int | float):
        value, unit = float(text), "kg"
    else:
        value, unit = _split(text, "weight", "70 kg")
    unit = unit or "kg"
    if unit not in WEIGHT_UNITS:
        raise UnitError(f"unknown weight unit {unit!r} in {text!r}; use kg (e.g. '70 kg')")
    kg = value * WEIGHT_UNITS[unit]
    if not (kg > 0 and math.isfinite(kg)):
        raise UnitError(f"weight {text!r} must be a positive number of kg")
    if kg > 500:
        raise UnitError(f"weight {text!r} is beyond any subject (over 500 kg); give the weight in kg")
    return kg


def parse_times(text: str) -> list[tuple[str, float]]:
    """A comma-separated list of times ('4h,24h,7d') as (text as given, hours) pairs."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if part:
            out.append((part, parse_duration(part, what="time")))
    if not out:
        raise UnitError(f"no times in {text!r}; give e.g. '4h,24h,7d'")
    return out


# Concentration conversions used by receptor pharmacology (Ki in uM, concentrations in ng/mL).
def ng_per_ml_to_um(conc_ng_per_ml: float, molar_mass_g_per_mol: float) -> float:
    """ng/mL -> uM: (ng/mL = ug/L) / (g/mol) = umol/L."""
    return conc_ng_per_ml / molar_mass_g_per_mol
