"""SBML Level 3 Version 2 export of one prepared subject: the System the solver integrates, written out as is.

Users take the model into their own tools (libRoadRunner, COPASI, tellurium), so the file keeps ketasim's ids
(`madrs` is `madrs`), units and provenance. Every quantity is an SBML parameter:

- System parameters: constant, with this subject's value; infusion inputs `rate_in_<state>` are not constant
  because dose events change them;
- states: a rateRule each (initialAssignment where the initial value is an expression);
- assignments: an assignmentRule each;
- dose events: one SBML event per distinct time, triggered with `time >= t` (never `==`).

SBML time starts at 0 while ketasim may start before the first dose (pretreatments): SBML time 0 is ketasim's
`t_start`, the constant `time_offset_h` holds `t_start`, and every use of `time` in a law becomes
`(time + time_offset_h)`; `ketasim_time_h` reports ketasim's clock.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import libsbml
import numpy as np

from .. import __version__, provenance
from ..errors import DataError, ScenarioError
from ..model import expressions
from ..model.build import Prepared
from ..solver.piecewise import TIME_EPS

SBML_LEVEL = 3
SBML_VERSION = 2
#: constant parameter holding ketasim's start time (h): ketasim time = SBML time + time_offset_h
TIME_OFFSET_ID = "time_offset_h"
#: assignment reporting ketasim's clock, so users can line SBML output up with ketasim output
KETASIM_TIME_ID = "ketasim_time_h"
#: the SBML unit definition used for model time
TIME_UNIT_ID = "hour"
#: namespace of the machine-readable provenance annotation on each element
ANNOTATION_NS = "urn:ketasim:sbml:1"
XHTML_NS = "http://www.w3.org/1999/xhtml"

_TIME = re.compile(r"\btime\b")
_UNIT_SPLIT = re.compile(r"\s*([*/])\s*")
_UNIT_TOKEN = re.compile(r"^(?P<name>[^\^\s]+)(?:\^(?P<exp>[+-]?\d+(?:\.\d+)?))?$")

#: (SBML unit kind, exponent, scale, multiplier) — one factor of an SBML unit definition
Factor = tuple[int, float, int, float]

_G, _L = libsbml.UNIT_KIND_GRAM, libsbml.UNIT_KIND_LITRE
_S, _MOL = libsbml.UNIT_KIND_SECOND, libsbml.UNIT_KIND_MOLE
_MINUTE_S, _HOUR_S, _DAY_S, _WEEK_S = 60.0, 3600.0, 86400.0, 604800.0
#: Julian year (365.25 d), as used for ages and age slopes
_YEAR_S = 31557600.0
#: one millimetre of mercury in pascal (kg m^-1 s^-2)
_MMHG_PA = 133.322387415

#: unit words ketasim's data uses -> (name used in SBML unit ids, SBML factors). Add new words here: an
#: unknown word is a DataError, never silently dimensionless.
UNIT_WORDS: dict[str, tuple[str, list[Factor]]] = {
    "g": ("g", [(_G, 1, 0, 1.0)]),
    "kg": ("kg", [(_G, 1, 3, 1.0)]),
    "mg": ("mg", [(_G, 1, -3, 1.0)]),
    "ug": ("ug", [(_G, 1, -6, 1.0)]),
    "µg": ("ug", [(_G, 1, -6, 1.0)]),
    "mcg": ("ug", [(_G, 1, -6, 1.0)]),
    "ng": ("ng", [(_G, 1, -9, 1.0)]),
    "pg": ("pg", [(_G, 1, -12, 1.0)]),
    "L": ("L", [(_L, 1, 0, 1.0)]),
    "dL": ("dL", [(_L, 1, -1, 1.0)]),
    "mL": ("mL", [(_L, 1, -3, 1.0)]),
    "uL": ("uL", [(_L, 1, -6, 1.0)]),
    "µL": ("uL", [(_L, 1, -6, 1.0)]),
    "s": ("s", [(_S, 1, 0, 1.0)]),
    "min": ("minute", [(_S, 1, 0, _MINUTE_S)]),
    "h": (TIME_UNIT_ID, [(_S, 1, 0, _HOUR_S)]),
    "d": ("day", [(_S, 1, 0, _DAY_S)]),
    "day": ("day", [(_S, 1, 0, _DAY_S)]),
    "days": ("day", [(_S, 1, 0, _DAY_S)]),
    "week": ("week", [(_S, 1, 0, _WEEK_S)]),
    "weeks": ("week", [(_S, 1, 0, _WEEK_S)]),
    "year": ("year", [(_S, 1, 0, _YEAR_S)]),
    "years": ("year", [(_S, 1, 0, _YEAR_S)]),
    "mol": ("mol", [(_MOL, 1, 0, 1.0)]),
    "mmol": ("mmol", [(_MOL, 1, -3, 1.0)]),
    "umol": ("umol", [(_MOL, 1, -6, 1.0)]),
    "µmol": ("umol", [(_MOL, 1, -6, 1.0)]),
    "nmol": ("nmol", [(_MOL, 1, -9, 1.0)]),
    "M": ("M", [(_MOL, 1, 0, 1.0), (_L, -1, 0, 1.0)]),
    "mM": ("mM", [(_MOL, 1, -3, 1.0), (_L, -1, 0, 1.0)]),
    "uM": ("uM", [(_MOL, 1, -6, 1.0), (_L, -1, 0, 1.0)]),
    "µM": ("uM", [(_MOL, 1, -6, 1.0), (_L, -1, 0, 1.0)]),
    "nM": ("nM", [(_MOL, 1, -9, 1.0), (_L, -1, 0, 1.0)]),
    "pM": ("pM", [(_MOL, 1, -12, 1.0), (_L, -1, 0, 1.0)]),
    "mmHg": (
        "mmHg",
        [
            (libsbml.UNIT_KIND_KILOGRAM, 1, 0, _MMHG_PA),
            (libsbml.UNIT_KIND_METRE, -1, 0, 1.0),
            (_S, -2, 0, 1.0),
        ],
    ),
    "%": ("percent", [(libsbml.UNIT_KIND_DIMENSIONLESS, 1, 0, 0.01)]),
    "percent": ("percent", [(libsbml.UNIT_KIND_DIMENSIONLESS, 1, 0, 0.01)]),
}
#: unit strings that are plain numbers: fractions, normalised levels, rating-scale points (MADRS, CADSS)
DIMENSIONLESS_WORDS = frozenset({"1", "dimensionless", "fraction", "points", "score"})

#: SBML base unit names cannot be redefined, so generated ids must avoid them
_RESERVED_UNIT_IDS = frozenset(libsbml.UnitKind_toString(k) for k in range(libsbml.UNIT_KIND_INVALID)) | {
    "substance",
    "volume",
    "area",
    "length",
    "time",
    "celsius",
}


@dataclass(frozen=True)
class UnitSpec:
    """An SBML unit: its id and factors; no factors means the built-in `dimensionless`."""

    id: str
    factors: tuple[Factor, ...]


def _fmt_exp(exp: float) -> str:
    text = f"{exp:g}"
    return text.replace("-", "m").replace(".", "p")


def _scale_or_multiplier(value: float) -> tuple[int, float]:
    """A positive factor as a power of ten (scale) where it is one, else as a multiplier."""
    power = math.log10(value)
    if abs(power - round(power)) < 1e-12:
        return round(power), 1.0
    return 0, value


def _merge_factors(factors: list[Factor]) -> tuple[Factor, ...]:
    """One factor per kind (repeats such as h and year in 'L/h/year' are combined exactly)."""
    by_kind: dict[int, list[Factor]] = {}
    for f in factors:
        by_kind.setdefault(f[0], []).append(f)
    merged: list[Factor] = []
    leftover = 1.0
    for kind, group in by_kind.items():
        if len(group) == 1:
            merged.append(group[0])
            continue
        exponent = sum(f[1] for f in group)
        size = math.prod((f[3] * 10.0 ** f[2]) ** f[1] for f in group)  # (combined unit scaling)^exponent
        if exponent == 0:
            leftover *= size
            continue
        scale, mult = _scale_or_multiplier(size ** (1.0 / exponent))
        merged.append((kind, exponent, scale, mult))
    if leftover != 1.0:
        scale, mult = _scale_or_multiplier(leftover)
        merged.append((libsbml.UNIT_KIND_DIMENSIONLESS, 1, scale, mult))
    return tuple(merged)


def parse_unit(text: str) -> UnitSpec:
    """ketasim unit string ('mg/h', 'ng*h/mL', 'L/h/year', '1') -> SBML unit; DataError on unknown words."""
    raw = str(text).strip()
    if raw in DIMENSIONLESS_WORDS:
        return UnitSpec("dimensionless", ())
    parts = _UNIT_SPLIT.split(raw)
    tokens = [("*", parts[0]), *zip(parts[1::2], parts[2::2], strict=True)]
    numer: list[str] = []
    denom: list[str] = []
    factors: list[Factor] = []
    for i, (op, token) in enumerate(tokens):
        m = _UNIT_TOKEN.match(token)
        if m is None:
            raise DataError(f"cannot read unit {text!r} for SBML export; write units like 'mg/h', 'ng*h/mL'")
        word, exp = m.group("name"), float(m.group("exp") or 1)
        sign = -1.0 if op == "/" else 1.0
        if word in DIMENSIONLESS_WORDS and i == 0:
            continue
        if word not in UNIT_WORDS:
            raise DataError(
                f"unit {text!r} uses {word!r}, which the SBML exporter does not know; "
                "add it to ketasim.io.sbml.UNIT_WORDS (or DIMENSIONLESS_WORDS if it is a plain number)"
            )
        name, base = UNIT_WORDS[word]
        (numer if sign > 0 else denom).append(name if exp == 1 else f"{name}{_fmt_exp(exp)}")
        factors += [(kind, e * exp * sign, scale, mult) for kind, e, scale, mult in base]
    uid = "_".join([*numer, *(f"per_{d}" for d in denom)]) or "dimensionless"
    if not factors:
        return UnitSpec("dimensionless", ())
    if uid in _RESERVED_UNIT_IDS:
        uid = f"{uid}_unit"
    return UnitSpec(uid, _merge_factors(factors))


def _notes(lines: Iterable[str]) -> str:
    body = "".join(f"<p>{escape(line)}</p>" for line in lines if line)
    return f'<body xmlns="{XHTML_NS}">{body}</body>'


def _annotation(tag: str, **attrs: str | None) -> str:
    text = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items() if v)
    return f'<ketasim:{tag} xmlns:ketasim="{ANNOTATION_NS}" {text}/>'


def _check(status: int, what: str) -> None:
    if status != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise DataError(f"libsbml refused {what}: {libsbml.OperationReturnValue_toString(status)}")


def _pick(value: float | np.ndarray, subject: int) -> float:
    arr = np.asarray(value, dtype=float)
    return float(arr) if arr.ndim == 0 else float(arr.reshape(-1)[subject])


class _Writer:
    """Builds one SBML document; keeps the unit definitions it has declared."""

    def __init__(self, model_id: str, name: str) -> None:
        self.doc = libsbml.SBMLDocument(SBML_LEVEL, SBML_VERSION)
        self.model = self.doc.createModel()
        _check(self.model.setId(model_id), f"model id {model_id!r}")
        self.model.setName(name)
        self.units: dict[str, UnitSpec] = {}
        _check(self.model.setTimeUnits(self.unit("h")), "the model time unit")

    def unit(self, text: str) -> str:
        """Declare (once) the unit definition for a ketasim unit string; return its id."""
        spec = parse_unit(text)
        if not spec.factors:
            return spec.id
        known = self.units.get(spec.id)
        if known is None:
            ud = self.model.createUnitDefinition()
            _check(ud.setId(spec.id), f"unit id {spec.id!r}")
            ud.setName(str(text))
            for kind, exp, scale, mult in spec.factors:
                u = ud.createUnit()
                u.setKind(kind)
                u.setExponent(float(exp))
                u.setScale(int(scale))
                u.setMultiplier(float(mult))
            self.units[spec.id] = spec
        elif known.factors != spec.factors:
            raise DataError(f"unit {text!r} and another unit map to SBML id {spec.id!r} with different sizes")
        return spec.id

    def parameter(
        self,
        pid: str,
        value: float | None,
        unit: str,
        constant: bool,
        notes: list[str],
        annotation: str,
    ) -> None:
        p = self.model.createParameter()
        _check(p.setId(pid), f"id {pid!r}")
        if value is not None:
            p.setValue(float(value))
        p.setConstant(constant)
        _check(p.setUnits(self.unit(unit)), f"units of {pid!r}")
        _check(p.setNotes(_notes(notes)), f"notes of {pid!r}")
        _check(p.setAnnotation(annotation), f"annotation of {pid!r}")

    def math(self, expr: str, where: str) -> libsbml.ASTNode:
        """An expression as SBML math, with ketasim's clock written as SBML time plus the offset."""
        formula = _TIME.sub(f"(time + {TIME_OFFSET_ID})", expressions.to_sbml(str(expr)))
        ast = libsbml.parseL3FormulaWithModel(formula, self.model)
        if ast is None:
            raise DataError(f"cannot write {where} {expr!r} as SBML: {libsbml.getLastParseL3Error()}")
        return ast


def _event_groups(prep: Prepared, subject: int) -> list[tuple[float, dict[str, float], list[str]]]:
    """Dose events merged per instant (as the solver does): time, variable -> increment, labels."""
    system = prep.system
    groups: list[tuple[float, dict[str, float], list[str]]] = []
    for ev in sorted(prep.events, key=lambda e: e.time):
        if ev.state not in system.states:
            raise DataError(f"a dose event targets {ev.state!r}, which is not a state of the model")
        if not groups or ev.time - groups[-1][0] > TIME_EPS:
            groups.append((float(ev.time), {}, []))
        _, incs, labels = groups[-1]
        amount, rate = _pick(ev.amount, subject), _pick(ev.rate, subject)
        if amount != 0:
            incs[ev.state] = incs.get(ev.state, 0.0) + amount
        if rate != 0:
            pid = system.inputs.get(ev.state)
            if pid is None:
                raise DataError(f"state {ev.state!r} receives an infusion but has no infusion input")
            incs[pid] = incs.get(pid, 0.0) + rate
        if ev.label and ev.label not in labels:
            labels.append(ev.label)
    return [(t, {k: v for k, v in incs.items() if v != 0}, labels) for t, incs, labels in groups]


def _model_id(prep: Prepared) -> str:
    drug = re.sub(r"\W", "_", prep.scenario.drug)
    return f"ketasim_{drug}_{prep.scenario.species}"


def to_sbml(prepared: Prepared, subject: int = 0) -> str:
    """SBML L3V2 text of the prepared model and its dose events for one subject (column of `params`)."""
    return libsbml.writeSBMLToString(build_document(prepared, subject))


def build_document(prep: Prepared, subject: int = 0) -> libsbml.SBMLDocument:
    """The SBML document behind `to_sbml` (for callers that want to inspect or validate it)."""
    if not 0 <= subject < prep.n:
        raise ScenarioError(f"subject {subject} does not exist; the prepared batch has {prep.n} subject(s)")
    system, compiled = prep.system, prep.compiled
    taken = set(system.symbols()) - {"time"}
    for extra in (TIME_OFFSET_ID, KETASIM_TIME_ID):
        if extra in taken:
            raise DataError(f"model id {extra!r} is reserved by the SBML exporter; rename it in the data")
    t_start = float(prep.t_start) + 0.0  # + 0.0 turns -0.0 into 0.0
    scenario = prep.scenario
    title = f"ketasim {scenario.drug} {scenario.route} ({scenario.species}, {scenario.hypothesis})"
    w = _Writer(_model_id(prep), title)
    model_notes = [
        f"Exported by ketasim {__version__} for subject {subject} of the prepared scenario below. "
        "A research and teaching model, not clinical advice.",
        "Model time is in hours and shifted: SBML time 0 is ketasim time t_start = "
        f"{t_start:g} h (pretreatments are given before the first main dose at ketasim time 0). "
        f"The constant {TIME_OFFSET_ID} holds t_start, every use of time in a law is written "
        f"(time + {TIME_OFFSET_ID}), and {KETASIM_TIME_ID} reports ketasim's clock.",
        "Units: time h, drug amounts mg, volumes L, plasma and brain concentrations ng/mL; mechanism "
        "nodes are normalised to the untreated baseline (1); occupancies are fractions; MADRS and CADSS "
        "are points.",
        "Dose events: one event per dose instant, trigger time >= t (persistent, initialValue false, "
        "values from trigger time); boluses add to a state, infusions add to or subtract from rate_in_<state>.",
        "Every parameter carries its source (bibliography key, assumed or calibrated) and note in its notes "
        f"and in a ketasim annotation ({ANNOTATION_NS}).",
        "Scenario: " + json.dumps(scenario.model_dump(), sort_keys=True, default=str),
        "Provenance: " + provenance.to_json(provenance.record(inputs=scenario.model_dump(mode="json"))),
    ]
    _check(w.model.setNotes(_notes(model_notes)), "model notes")

    values = prep.params[:, subject]
    inputs = set(system.inputs.values())
    input_state = {pid: sid for sid, pid in system.inputs.items()}
    for i, pid in enumerate(compiled.param_ids):
        p = system.parameters[pid]
        unit = p.unit
        if pid in inputs:
            # the input adds to d(state)/dt, so its unit is the state's per hour (mg/h for amounts)
            unit = f"{system.states[input_state[pid]].unit}/h"
        w.parameter(
            pid,
            float(values[i]),
            unit,
            pid not in inputs,
            [f"source: {p.source}", p.note, f"ketasim unit: {p.unit}"],
            _annotation("parameter", source=p.source, unit=p.unit, note=p.note),
        )
    w.parameter(
        TIME_OFFSET_ID,
        t_start,
        "h",
        True,
        ["ketasim time of SBML time 0 (h): ketasim time = SBML time + time_offset_h"],
        _annotation("parameter", source="dosing", unit="h"),
    )

    y0 = compiled.initial(prep.params[:, subject : subject + 1])[:, 0]
    for i, sid in enumerate(compiled.state_ids):
        s = system.states[sid]
        w.parameter(
            sid,
            float(y0[i]),
            s.unit,
            False,
            [
                s.description,
                f"kind: {s.kind}",
                f"compound: {s.compound}" if s.compound else "",
                f"ketasim unit: {s.unit}",
            ],
            _annotation("state", kind=s.kind, compound=s.compound, unit=s.unit, description=s.description),
        )
    for a in system.assignments.values():
        w.parameter(
            a.id,
            None,
            a.unit,
            False,
            [a.description, f"ketasim unit: {a.unit}"],
            _annotation("assignment", unit=a.unit, description=a.description),
        )
    w.parameter(
        KETASIM_TIME_ID,
        None,
        "h",
        False,
        ["ketasim's clock (h): SBML time + time_offset_h"],
        _annotation("assignment", unit="h"),
    )

    for sid in compiled.state_ids:
        s = system.states[sid]
        if isinstance(s.initial, str) and expressions.names(s.initial):
            ia = w.model.createInitialAssignment()
            _check(ia.setSymbol(sid), f"initial assignment of {sid!r}")
            _check(ia.setMath(w.math(s.initial, f"initial value of {sid}")), f"initial value of {sid!r}")
        rule = w.model.createRateRule()
        _check(rule.setVariable(sid), f"rate rule of {sid!r}")
        _check(rule.setMath(w.math(s.rate, f"rate law of {sid}")), f"rate law of {sid!r}")
    for a in system.assignments.values():
        rule = w.model.createAssignmentRule()
        _check(rule.setVariable(a.id), f"assignment rule of {a.id!r}")
        _check(rule.setMath(w.math(a.expr, f"assignment {a.id}")), f"assignment {a.id!r}")
    rule = w.model.createAssignmentRule()
    rule.setVariable(KETASIM_TIME_ID)
    rule.setMath(libsbml.parseL3FormulaWithModel(f"time + {TIME_OFFSET_ID}", w.model))

    for k, (t, incs, labels) in enumerate(_event_groups(prep, subject)):
        if not incs:
            continue
        if t < t_start - TIME_EPS:
            raise DataError(f"a dose event at {t:g} h comes before the model's start {t_start:g} h")
        t_rel = max(t - t_start, 0.0)
        ev = w.model.createEvent()
        _check(ev.setId(f"dose_{k}"), "event id")
        ev.setName(f"ketasim t = {t:g} h: {', '.join(labels) or 'dose'}")
        ev.setUseValuesFromTriggerTime(True)
        trig = ev.createTrigger()
        trig.setInitialValue(False)
        trig.setPersistent(True)
        _check(trig.setMath(libsbml.parseL3FormulaWithModel(f"time >= {t_rel!r}", w.model)), "event trigger")
        for var, inc in incs.items():
            ea = ev.createEventAssignment()
            _check(ea.setVariable(var), f"event assignment to {var!r}")
            increment = libsbml.parseL3FormulaWithModel(f"{var} + {inc!r}", w.model)
            _check(ea.setMath(increment), f"event assignment to {var!r}")
    return w.doc


def validate_sbml(sbml: str | libsbml.SBMLDocument) -> list[str]:
    """Run libsbml's consistency checks; raise DataError on any error, return the warnings as lines."""
    doc = libsbml.readSBMLFromString(sbml) if isinstance(sbml, str) else sbml
    doc.checkConsistency()
    errors, warnings = [], []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        line = f"{err.getSeverityAsString()} {err.getErrorId()} ({err.getCategoryAsString()}): {err.getShortMessage()}"
        if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            errors.append(f"{line}: {err.getMessage().strip()}")
        else:
            warnings.append(line)
    if errors:
        raise DataError(f"the exported SBML is invalid ({len(errors)} error(s)); first: {errors[0]}")
    return warnings
