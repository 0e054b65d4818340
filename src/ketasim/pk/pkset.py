"""A PK parameter set from data: compartments, first-order flows, routes, covariates and weight scaling.

A set describes its model declaratively (see data/pk/*.yaml); `add_to` writes it into a System and
`individual_parameters` turns covariates into per-subject parameter values. Sets may `derive_from` another
(the rodent ketamine set is the human enantiomer model scaled allometrically, plus an IP route).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from types import CodeType
from typing import Any

import numpy as np

from .. import data
from ..errors import DataError, UnknownNameError
from ..model import expressions
from ..model.system import Parameter, State, System
from .catalog import compound

Array = np.ndarray


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if key in ("parameters", "compartments", "covariates", "routes", "weight_exponents"):
            out[key] = {**(base.get(key) or {}), **(value or {})}
        elif key == "flows":
            out[key] = [*(base.get(key) or []), *(value or [])]
        elif key != "derive_from":
            out[key] = value
    return out


@cache
def _raw(set_id: str) -> dict[str, Any]:
    names = [n[:-5] for n in data.listdir("pk")]
    if set_id not in names:
        raise DataError(f"PK set {set_id!r} is not among the packaged sets {names}")
    rec = data.load(f"pk/{set_id}.yaml")
    if rec.get("derive_from"):
        return _merge(_raw(rec["derive_from"]), rec)
    return dict(rec)


@dataclass(frozen=True)
class RoutePart:
    """One destination of a dose: `fraction` of it into `target`, as a bolus or over `over` hours."""

    compound: str
    target: str
    fraction: str
    over: str | None
    brain_volume: str | None


@dataclass
class PKSet:
    id: str
    record: dict[str, Any]

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return self.record.get("parameters") or {}

    @property
    def compartments(self) -> dict[str, dict[str, Any]]:
        return self.record["compartments"]

    @property
    def compounds(self) -> list[str]:
        seen: list[str] = []
        for comp in self.compartments.values():
            if comp["compound"] not in seen:
                seen.append(comp["compound"])
        return seen

    @property
    def routes(self) -> list[str]:
        return sorted(self.record.get("routes") or {})

    def plasma_compartment(self, cid: str) -> str:
        for name, comp in self.compartments.items():
            if comp["compound"] == cid and comp.get("plasma"):
                return name
        raise DataError(f"PK set {self.id} has no plasma compartment for {cid}")

    def add_to(self, system: System, track_elimination: bool = True) -> None:
        """Write parameters, amount states, flows and plasma concentrations into `system`."""
        for pid, rec in self.parameters.items():
            system.add_parameter(
                Parameter(pid, float(rec["value"]), rec["unit"], rec["source"], rec.get("note", ""))
            )
        for name, comp in self.compartments.items():
            system.add_state(
                State(name, "0", 0.0, "mg", f"{comp['compound']} amount in {name}", comp["compound"])
            )
        if track_elimination:
            for cid in self.compounds:
                system.add_state(
                    State(f"{cid}_eliminated", "0", 0.0, "mg", f"{cid} eliminated (cumulative)", cid, "sink")
                )
        for flow in self.record.get("flows") or []:
            self._add_flow(system, flow, track_elimination)
        for cid in self.compounds:
            plasma = self.plasma_compartment(cid)
            volume = self.compartments[plasma]["volume"]
            from ..model.system import Assignment

            system.add_assignment(
                Assignment(cid, f"1000 * {plasma} / {volume}", "ng/mL", f"{cid} plasma concentration")
            )
        for name in self.compartments:
            system.add_input(name)

    def _add_flow(self, system: System, flow: dict[str, Any], track_elimination: bool) -> None:
        pairs: list[tuple[str, str | None]]
        if "between" in flow:
            a, b = flow["between"]
            pairs = [(a, b), (b, a)]
        else:
            pairs = [(flow["from"], flow.get("to"))]
        for source, target in pairs:
            if "k" in flow:
                rate = f"{flow['k']} * {source}"
            else:
                volume = self.compartments[source].get("volume")
                if volume is None:
                    raise DataError(f"{self.id}: clearance flow out of {source}, which has no volume")
                rate = f"{flow['cl']} / {volume} * {source}"
            if "fraction" in flow:
                rate = f"({flow['fraction']}) * {rate}"
            src_c = self.compartments[source]["compound"]
            if target is None:
                system.add_flux(source, f"{src_c}_eliminated" if track_elimination else None, rate)
            else:
                tgt_c = self.compartments[target]["compound"]
                ratio = compound(tgt_c).molar_mass / compound(src_c).molar_mass
                system.add_flux(source, target, rate, yield_=1.0 if tgt_c == src_c else ratio)

    def route_parts(self, route: str, component: str) -> list[RoutePart]:
        routes = self.record.get("routes") or {}
        if route not in routes:
            raise UnknownNameError(
                f"route {route!r} is not available for this drug and species; available: {', '.join(sorted(routes))}"
            )
        parts = (routes[route].get("parts") or {}).get(component)
        if not parts:
            raise UnknownNameError(f"route {route!r} has no entry for {component}")
        return [
            RoutePart(component, p["target"], str(p.get("fraction", 1)), p.get("over"), p.get("brain_volume"))
            for p in parts
        ]

    def devices(self, route: str) -> dict[str, Any] | None:
        return ((self.record.get("routes") or {}).get(route) or {}).get("devices")

    def individual_parameters(self, covariates: dict[str, Array]) -> dict[str, Array]:
        """Per-subject parameter values: weight scaling by parameter kind, then covariate expressions."""
        weight = np.asarray(covariates["weight"], dtype=float)
        ref = float(self.record.get("reference_weight", {}).get("value", 70.0))
        exps = {k: float(v["value"]) for k, v in (self.record.get("weight_exponents") or {}).items()}
        values: dict[str, Array] = {}
        for pid, rec in self.parameters.items():
            scale = rec.get("scale")
            factor = (weight / ref) ** exps.get(scale, 0.0) if scale else np.ones_like(weight)
            values[pid] = float(rec["value"]) * factor
        env: dict[str, Any] = {"np": np, **covariates, **values}
        for pid, expr in (self.record.get("covariates") or {}).items():
            values[pid] = np.broadcast_to(eval_expr(expr, env), weight.shape).astype(float)
            env[pid] = values[pid]
        return values


def eval_expr(expr: str, env: dict[str, Any]) -> Any:
    """Evaluate a validated expression with numpy over the names in `env`."""
    return eval(_compiled(str(expr)), {"np": np, "__builtins__": {}}, env)


@lru_cache(maxsize=4096)
def _compiled(expr: str) -> CodeType:
    """An expression's numpy code, compiled once (a population run evaluates the same few hundred per chunk)."""
    return compile(expressions.to_numpy(expr), "<ketasim expression>", "eval")


def load_pkset(set_id: str) -> PKSet:
    return PKSet(set_id, _raw(set_id))
