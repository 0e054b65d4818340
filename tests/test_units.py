"""The unit parser at the edges: durations, doses and weights, with property-based round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketasim.errors import KetasimError, UnitError
from ketasim.units import (
    Dose,
    ng_per_ml_to_um,
    parse_dose,
    parse_duration,
    parse_times,
    parse_weight,
)

#: hours per unit, written out here from the definitions of the units (not read from ketasim)
HOURS_PER = {
    "s": 1 / 3600,
    "sec": 1 / 3600,
    "seconds": 1 / 3600,
    "min": 1 / 60,
    "mins": 1 / 60,
    "minute": 1 / 60,
    "minutes": 1 / 60,
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
    "week": 168.0,
    "weeks": 168.0,
}
MG_PER = {"mg": 1.0, "g": 1000.0, "ug": 1e-3, "mcg": 1e-3, "µg": 1e-3, "μg": 1e-3}

# positive, finite values whose product with any unit factor stays finite and normal
positive = st.floats(min_value=1e-200, max_value=1e200, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(value=positive, unit=st.sampled_from(sorted(HOURS_PER)), spaced=st.booleans(), upper=st.booleans())
def test_duration_round_trip(value: float, unit: str, spaced: bool, upper: bool) -> None:
    text = f"{value!r}{' ' if spaced else ''}{unit.upper() if upper else unit}"
    assert parse_duration(text) == pytest.approx(value * HOURS_PER[unit], rel=1e-15)


@settings(max_examples=200, deadline=None)
@given(value=positive, unit=st.sampled_from(sorted(MG_PER)), per_kg=st.booleans(), spaced=st.booleans())
def test_dose_round_trip(value: float, unit: str, per_kg: bool, spaced: bool) -> None:
    text = f"{value!r}{' ' if spaced else ''}{unit}{'/kg' if per_kg else ''}"
    dose = parse_dose(text)
    assert dose.per_kg is per_kg
    assert dose.value == pytest.approx(value * MG_PER[unit], rel=1e-15)


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(min_value=1e-6, max_value=1e4, allow_nan=False),
    weight=st.floats(min_value=0.005, max_value=300, allow_nan=False),
)
def test_weight_based_dose_scales_with_weight(value: float, weight: float) -> None:
    dose = parse_dose(f"{value!r} mg/kg")
    assert dose.mg(weight) == pytest.approx(value * weight, rel=1e-15)
    assert parse_dose(f"{value!r} mg").mg(weight) == value  # an absolute dose ignores weight


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(["min", "h", "d", "w"]),
)
def test_negative_durations_rejected(value: float, unit: str) -> None:
    with pytest.raises(UnitError):
        parse_duration(f"{value!r} {unit}")


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(max_value=0.0, allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(sorted(MG_PER)),
)
def test_zero_and_negative_doses_rejected(value: float, unit: str) -> None:
    with pytest.raises(UnitError):
        parse_dose(f"{value!r} {unit}")


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=12))
def test_arbitrary_text_either_parses_or_raises_unit_error(text: str) -> None:
    """Whatever is typed, the parser answers with a finite number or a UnitError, never another exception."""
    for parse in (parse_duration, parse_weight):
        try:
            value = parse(text)
        except UnitError:
            continue
        assert math.isfinite(value) and value >= 0
    try:
        dose = parse_dose(text)
    except UnitError:
        return
    assert math.isfinite(dose.value) and dose.value > 0


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("40min", 40 / 60),
        ("40 min", 40 / 60),
        ("6h", 6.0),
        ("2 h", 2.0),
        ("21d", 504.0),
        ("3 d", 72.0),
        ("12w", 2016.0),
        ("12 weeks", 2016.0),
        ("90 s", 0.025),
        ("1.5 hours", 1.5),
        (".5h", 0.5),
        ("  3 D ", 72.0),
        ("1e1 min", 10 / 60),
        ("0 h", 0.0),
    ],
)
def test_duration_examples(text: str, hours: float) -> None:
    assert parse_duration(text) == pytest.approx(hours, rel=1e-15, abs=0)


def test_bare_numbers_are_hours() -> None:
    assert parse_duration(2.5) == 2.5
    assert parse_duration("2.5") == 2.5
    assert parse_duration(3) == 3.0


@pytest.mark.parametrize(
    ("text", "mg", "per_kg"),
    [
        ("84 mg", 84.0, False),
        ("0.5 mg/kg", 0.5, True),
        ("10 mg/kg", 10.0, True),
        ("500 ug", 0.5, False),
        ("500 µg", 0.5, False),
        ("500 mcg", 0.5, False),
        ("1 g", 1000.0, False),
        ("84mg", 84.0, False),
        ("0.5 mg / kg", 0.5, True),
        ("56 MG", 56.0, False),
    ],
)
def test_dose_examples(text: str, mg: float, per_kg: bool) -> None:
    dose = parse_dose(text)
    assert dose.value == pytest.approx(mg, rel=1e-15)
    assert dose.per_kg is per_kg


@pytest.mark.parametrize(
    "text",
    ["-2 h", "40 mins x", "40 fortnights", "h", "", "abc", "nan h", "inf h", "1..5 h", "2 h 30 min", "5 mg"],
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(UnitError):
        parse_duration(text)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, True])
def test_bad_numeric_durations(value: float) -> None:
    with pytest.raises(UnitError):
        parse_duration(value)


def test_zero_duration_only_where_allowed() -> None:
    assert parse_duration("0 min") == 0.0
    with pytest.raises(UnitError):
        parse_duration("0 min", allow_zero=False)


def test_huge_duration_that_overflows_is_rejected() -> None:
    with pytest.raises(UnitError):
        parse_duration("1e308 w")


@pytest.mark.parametrize(
    "text",
    [
        "0 mg",
        "-5 mg",
        "0 mg/kg",
        "-0.5 mg/kg",
        "84",
        "84 kg",
        "84 mg/l",
        "84 mL",
        "nan mg",
        "inf mg",
        "mg",
        "",
        "84 mg mg",
        "5 h",
        "1e308 g",
    ],
)
def test_bad_doses(text: str) -> None:
    with pytest.raises(UnitError):
        parse_dose(text)


@pytest.mark.parametrize("value", [84, 84.0, 0.5])
def test_unitless_numeric_doses_rejected(value: float) -> None:
    with pytest.raises(UnitError, match="no unit"):
        parse_dose(value)


@pytest.mark.parametrize("weight", [None, 0.0, -70.0, float("nan")])
def test_weight_based_dose_without_weight(weight: float | None) -> None:
    dose = parse_dose("0.5 mg/kg")
    with pytest.raises(UnitError, match="weight"):
        dose.mg(weight)
    assert Dose(84.0, False, "84 mg").mg(None) == 84.0  # no weight needed for an absolute dose


@pytest.mark.parametrize(
    ("text", "kg"), [(70, 70.0), ("70", 70.0), ("70 kg", 70.0), ("300 g", 0.3), ("25g", 0.025)]
)
def test_weights(text: str | int, kg: float) -> None:
    assert parse_weight(text) == pytest.approx(kg, rel=1e-15)


@pytest.mark.parametrize(
    "text", ["0", "-70 kg", "70 lb", "1000 kg", "nan", float("nan"), float("inf"), True, "kg"]
)
def test_bad_weights(text: str | float) -> None:
    with pytest.raises(UnitError):
        parse_weight(text)


def test_unit_errors_are_ketasim_errors_with_one_line() -> None:
    for bad in (lambda: parse_dose("0 mg"), lambda: parse_duration("40 mins x"), lambda: parse_weight("-1")):
        with pytest.raises(KetasimError) as info:
            bad()
        assert "\n" not in str(info.value) and str(info.value)


def test_parse_times() -> None:
    assert parse_times("4h, 24h,7d") == [("4h", 4.0), ("24h", 24.0), ("7d", 168.0)]
    with pytest.raises(UnitError):
        parse_times(" , ")
    with pytest.raises(UnitError):
        parse_times("4h,-1h")


def test_ng_per_ml_to_um() -> None:
    # 237.73 ng/mL of esketamine (237.73 g/mol) is 1 umol/L
    assert ng_per_ml_to_um(237.73, 237.73) == pytest.approx(1.0, rel=1e-15)
