"""Assemble one System (PK of every drug given + brain exposure + mechanism) and its dose events.

This is the single place where a Scenario becomes numbers: the solver and the SBML exporter both start from
the `Prepared` object returned by `prepare`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import data
from ..errors import DoseError, ScenarioError
from ..pk import catalog
from ..pk.pkset import PKSet, eval_expr, load_pkset
from ..pk.regimens import default_duration, parse_regimen
from ..scenario import Administration, Scenario
from ..solver.codegen import CompiledSystem, compile_system
from ..solver.events import DoseEvent, infusion
from ..units import parse_dose, parse_duration
from .system import Assignment, Parameter, State, System

Array = np.ndarray

#: totals reported for racemic mixtures (DESIGN.md identifiers)
TOTALS = {"ketamine": ("esketamine", "arketamine"), "norketamine": ("noresketamine", "norarketamine")}


@dataclass
class Prepared:
    """Everything needed to integrate: compiled system, per-subject parameters, events, time span."""

    scenario: Scenario
    system: System
    compiled: CompiledSystem
    params: Array  # (n_params, n)
    events: list[DoseEvent]
    t_start: float
    t_end: float
    dose_times: list[float]
    compounds: list[str]
    doses_mg: dict[str, Array] = field(default_factory=dict)  # total mg given per dosed compound
    covariates: dict[str, Array] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.params.shape[1])


def _pkset_for(drug_id: str, species: str) -> PKSet | None:
    d = catalog.drug(drug_id)
    if not d.components:
        return None
    if species not in d.pk:
        have = ", ".join(sorted(d.pk)) or "none"
        raise ScenarioError(f"{drug_id} has no {species} pharmacokinetics in ketasim; species available: {have}")
    return load_pkset(d.pk[species])


def add_exposure(system: System, compounds: list[str], weight_ref: float = 70.0) -> None:
    """Brain (effect-site) unbound concentration and plasma AUC for every compound present."""
    for cid in compounds:
        c = catalog.compound(cid)
        rec = c.record
        for key, attr in (("ke0", "ke0"), ("fu_plasma", "fu"), ("kp_uu_brain", "kpuu"), ("molar_mass", "mw")):
            r = rec[key]
            system.add_parameter(
                Parameter(f"{attr}_{cid}", float(r["value"]), r["unit"], r["source"], r.get("note", ""))
            )
        system.add_state(
            State(
                f"{cid}_brain",
                f"ke0_{cid} * (fu_{cid} * kpuu_{cid} * {cid} - {cid}_brain)",
                0.0,
                "ng/mL",
                f"{cid} unbound brain (effect-site) concentration",
                None,
                "node",
            )
        )
        system.add_assignment(
            Assignment(f"{cid}_brain_um", f"{cid}_brain / mw_{cid}", "uM", f"{cid} unbound brain, uM")
        )
        system.add_state(State(f"auc_{cid}", cid, 0.0, "ng*h/mL", f"{cid} plasma AUC from time 0", None, "auc"))
        system.add_input(f"{cid}_brain")
    for total, (a, b) in TOTALS.items():
        if a in compounds and b in compounds:
            system.add_assignment(
                Assignment(total, f"{a} + {b}", "ng/mL", f"{total} plasma concentration, total of both enantiomers")
            )
            system.add_state(State(f"auc_{total}", total, 0.0, "ng*h/mL", f"{total} plasma AUC", None, "auc"))


def _dose_mg(adm: Administration, text: str | None, weight: Array, species: str) -> Array:
    if text is None:
        raise DoseError(f"no dose given for {adm.drug}; add e.g. --dose '56 mg' or --dose '0.5 mg/kg'")
    dose = parse_dose(text)
    mg = dose.value * weight if dose.per_kg else np.full_like(weight, dose.value)
    limit = catalog.drug(adm.drug).max_studied_dose.get(species)
    if limit:
        cap = parse_dose(f"{limit['value']} {limit['unit']}")
        cap_mg = cap.value * weight if cap.per_kg else np.full_like(weight, cap.value)
        factor = float(data.load("limits.yaml")["absurd_dose_factor"]["value"])
        if np.any(mg > factor * cap_mg):
            raise DoseError(
                f"dose {text!r} of {adm.drug} is over {factor:g}x the highest labelled or studied {species} dose "
                f"({limit['value']} {limit['unit']}); check the amount and unit"
            )
    return mg


def administration_events(
    adm: Administration,
    pkset: PKSet,
    values: dict[str, Array],
    weight: Array,
    species: str,
    age: Array,
    t0: float,
    duration_h: float,
    track_elimination: bool,
) -> tuple[list[DoseEvent], list[float], dict[str, Array]]:
    """Dose events for one administration starting at t0; returns events, dose times, mg per compound."""
    d = catalog.drug(adm.drug)
    if adm.over is not None and adm.route != "iv":
        raise ScenarioError(f"--over makes an IV infusion; route {adm.route!r} cannot take it (use --route iv)")
    over = parse_duration(adm.over, allow_zero=False, what="infusion duration") if adm.over else 0.0
    schedule: list[tuple[float, Array]] = []
    if adm.events:
        for i, ev in enumerate(adm.events):
            if not isinstance(ev, dict) or "time" not in ev or "dose" not in ev:
                raise ScenarioError(
                    f"dose event {i + 1} must have 'time' and 'dose', e.g. {{time: '0 h', dose: '56 mg'}}"
                )
            schedule.append(
                (t0 + parse_duration(ev["time"], what="dose time"), _dose_mg(adm, str(ev["dose"]), weight, species))
            )
    else:
        regimen = parse_regimen(adm.regimen, duration_h - t0 if duration_h > t0 else duration_h)
        maintenance = _dose_mg(adm, adm.dose, weight, species)
        if adm.first_dose is not None:
            first = _dose_mg(adm, adm.first_dose, weight, species)
        elif adm.regimen.strip().lower().startswith("spravato"):
            spec = data.load("regimens.yaml")["spravato"]
            first = np.where(
                age >= float(spec["elderly_age"]["value"]),
                float(spec["first_dose_elderly"]["value"]),
                float(spec["first_dose"]["value"]),
            )
            first = np.minimum(first, maintenance) if adm.dose else first
        else:
            first = maintenance
        for rd in regimen:
            schedule.append((t0 + rd.time, first if rd.which == "first" else maintenance))

    events: list[DoseEvent] = []
    given: dict[str, Array] = {}
    devices = pkset.devices(adm.route)
    lag_name = ((pkset.record.get("routes") or {}).get(adm.route) or {}).get("lag")
    for t_dose, mg in schedule:
        for comp, share in d.components.items():
            amount = mg * share
            given[comp] = given.get(comp, 0.0) + amount
            if devices:
                size = float(devices["size_mg"])
                gap = parse_duration(devices["interval"])
                n_dev = math.ceil(float(np.max(mg)) / size - 1e-9)
                pieces = [(k, np.clip(mg - k * size, 0.0, size) * share) for k in range(n_dev)]
            else:
                gap, pieces = 0.0, [(0, amount)]
            for k, piece in pieces:
                t = t_dose + k * gap
                env = {**values, "device": float(k + 1)}
                lag = values[lag_name] if lag_name else 0.0
                absorbed = np.zeros_like(piece)
                for part in pkset.route_parts(adm.route, comp):
                    frac = np.broadcast_to(eval_expr(part.fraction, env), piece.shape).astype(float)
                    absorbed = absorbed + frac
                    tgt_c = _target_compound(pkset, part.target, comp)
                    ratio = catalog.compound(tgt_c).molar_mass / catalog.compound(comp).molar_mass
                    amt = piece * frac * ratio
                    if part.brain_volume:
                        vol = values[part.brain_volume]
                        for (lg,), mask in _timing_groups(piece.shape, lag):
                            events.append(
                                DoseEvent(t + lg, part.target, amount=1000.0 * amt / vol * mask, label=adm.drug)
                            )
                        continue
                    dur: Any = over
                    if part.over:
                        dur = values[part.over] if part.over in values else parse_duration(part.over)
                    for (lg, du), mask in _timing_groups(piece.shape, lag, dur):
                        events.extend(infusion(t + lg, du, part.target, amt * mask, label=adm.drug))
                lost = piece * (1.0 - absorbed)
                if track_elimination and np.any(np.abs(lost) > 0):
                    # the lost part leaves when absorption starts, so nothing of a dose shows before its lag
                    for (lg,), mask in _timing_groups(piece.shape, lag):
                        events.append(
                            DoseEvent(t + lg, f"{comp}_eliminated", amount=lost * mask, label=f"{adm.drug} presystemic")
                        )
    return events, [s[0] for s in schedule], given


def _timing_groups(shape: tuple[int, ...], *timings: Any) -> list[tuple[tuple[float, ...], Any]]:
    """Subjects grouped by equal dose timing (lag, infusion duration): each group's values and a 0/1 mask.

    Event times are shared by the whole batch, so subjects whose lag time or infusion duration differ get
    events of their own, each carrying only their part of the dose (zero for the other subjects).
    """
    cols = [np.broadcast_to(np.asarray(x, dtype=float), shape).reshape(-1) for x in timings]
    if all(len(c) == 0 or bool(np.all(c == c[0])) for c in cols):  # shared timing: skip the slow row-unique
        return [(tuple(float(c[0]) if len(c) else 0.0 for c in cols), 1.0)]
    uniq, inverse = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
    if len(uniq) == 1:
        return [(tuple(float(v) for v in uniq[0]), 1.0)]
    inverse = np.asarray(inverse).reshape(shape)
    return [(tuple(float(v) for v in row), (inverse == g).astype(float)) for g, row in enumerate(uniq)]


def _target_compound(pkset: PKSet, target: str, default: str) -> str:
    if target.endswith("_brain"):
        return target[: -len("_brain")]
    comp = pkset.compartments.get(target)
    return comp["compound"] if comp else default


def covariate_arrays(scenario: Scenario, n: int, overrides: dict[str, Array] | None = None) -> dict[str, Array]:
    """Per-subject covariates: the scenario's values, replaced by a population's where given."""
    cov = {
        "weight": np.full(n, scenario.weight_kg()),
        "age": np.full(n, scenario.age_years()),
        "asian": np.full(n, 1.0 if (scenario.asian or scenario.japanese) else 0.0),
        "japanese": np.full(n, 1.0 if scenario.japanese else 0.0),
        "female": np.full(n, 1.0 if scenario.sex.lower().startswith("f") else 0.0),
    }
    for k, v in (overrides or {}).items():
        cov[k] = np.asarray(v, dtype=float)
    return cov


def prepare(
    scenario: Scenario,
    n: int = 1,
    covariates: dict[str, Array] | None = None,
    param_overrides: dict[str, Array] | None = None,
    with_mechanism: bool = True,
    track_elimination: bool = True,
    individualize: Callable[[list[str], Array], dict[str, Array]] | None = None,
) -> Prepared:
    """Build the System for a scenario and the per-subject inputs to integrate it.

    `individualize(param_ids, typical)` returns overrides computed from the typical parameters (covariates
    applied, no variability yet): a virtual population's individual values, in one build of the model."""
    species = scenario.species
    cov = covariate_arrays(scenario, n, covariates)
    main = scenario.main()
    pre = list(scenario.pretreatments)
    sets: dict[str, PKSet] = {}
    for adm in [main, *pre]:
        s = _pkset_for(adm.drug, species)
        if s is not None:
            sets.setdefault(s.id, s)
    present: list[str] = []
    for s in sets.values():
        clash = set(s.compounds) & set(present)
        if clash:
            raise ScenarioError(
                f"cannot combine drugs whose models both describe {sorted(clash)} in one scenario; "
                "simulate them separately"
            )
        present.extend(s.compounds)

    system = System()
    for s in sets.values():
        s.add_to(system, track_elimination=track_elimination)
    add_exposure(system, present)
    if with_mechanism:
        from ..mechanism import add_mechanism

        add_mechanism(system, present, scenario)

    compiled = compile_system(system)
    params = compiled.default_params(n)
    index = {pid: i for i, pid in enumerate(compiled.param_ids)}
    values: dict[str, Array] = {}
    for s in sets.values():
        values.update(s.individual_parameters(cov))
    ref_w = 70.0
    for cid in present:
        values[f"ke0_{cid}"] = catalog.compound(cid).ke0 * (cov["weight"] / ref_w) ** -0.25
    for pid, v in values.items():
        if pid in index:
            params[index[pid]] = v
    if individualize is not None:
        param_overrides = {**individualize(compiled.param_ids, params.copy()), **(param_overrides or {})}
    for pid, v in (param_overrides or {}).items():
        if pid not in index:
            raise ScenarioError(f"unknown parameter {pid!r}; see `ketasim params` for the list")
        params[index[pid]] = v
    all_values = {pid: params[i] for pid, i in index.items()}

    # time line: pretreatments happen `offset` before the main dose at t = 0
    offsets = [parse_duration(a.offset or "0 h", what="pretreatment offset") for a in pre]
    t_start = -max(offsets, default=0.0)
    natural = default_duration(main.regimen)
    duration = scenario.duration_h(None if natural is None else natural)
    if natural is None and scenario.duration is None:
        duration = catalog.species_default(species, "default_duration")
    events: list[DoseEvent] = []
    doses: dict[str, Array] = {}
    dose_times: list[float] = []
    main_set = _pkset_for(main.drug, species)
    if main_set is not None:
        ev, times, given = administration_events(
            main,
            main_set,
            all_values,
            cov["weight"],
            species,
            cov["age"],
            0.0,
            duration,
            track_elimination,
        )
        events += ev
        dose_times += times
        for k, v in given.items():
            doses[k] = doses.get(k, 0.0) + v
    elif main.dose is not None:
        raise ScenarioError("placebo takes no dose; leave --dose out")
    for adm, off in zip(pre, offsets, strict=True):
        s = _pkset_for(adm.drug, species)
        if s is None:
            continue
        ev, _, given = administration_events(
            adm, s, all_values, cov["weight"], species, cov["age"], -off, -off + 1e-9, track_elimination
        )
        events += ev
        for k, v in given.items():
            doses[k] = doses.get(k, 0.0) + v
    return Prepared(
        scenario=scenario,
        system=system,
        compiled=compiled,
        params=params,
        events=events,
        t_start=t_start,
        t_end=duration,
        dose_times=dose_times or [0.0],
        compounds=present,
        doses_mg=doses,
        covariates=cov,
    )
