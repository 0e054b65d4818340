"""Compounds, drugs and species defaults read from the packaged data files."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from typing import Any

from .. import data
from ..errors import UnknownNameError

SPECIES = ("human", "rat", "mouse")


def unknown(kind: str, name: str, choices: list[str]) -> UnknownNameError:
    """A one-line 'unknown X' error that lists the valid names and suggests the nearest."""
    near = difflib.get_close_matches(name, choices, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return UnknownNameError(f"unknown {kind} {name!r}{hint}; choose one of: {', '.join(choices)}")


@dataclass(frozen=True)
class Compound:
    """A molecule that has concentrations: molar mass and brain distribution parameters."""

    id: str
    name: str
    molar_mass: float
    fu_plasma: float
    kp_uu_brain: float
    ke0: float
    record: dict[str, Any]


@dataclass(frozen=True)
class Drug:
    """What a user doses: its compound mix, PK set per species, and highest studied dose per species."""

    id: str
    components: dict[str, float]
    pk: dict[str, str]
    max_studied_dose: dict[str, dict[str, Any]]


@cache
def compounds() -> dict[str, Compound]:
    out = {}
    for cid, rec in data.load("compounds.yaml").items():
        out[cid] = Compound(
            id=cid,
            name=rec["name"],
            molar_mass=float(rec["molar_mass"]["value"]),
            fu_plasma=float(rec["fu_plasma"]["value"]),
            kp_uu_brain=float(rec["kp_uu_brain"]["value"]),
            ke0=float(rec["ke0"]["value"]),
            record=rec,
        )
    return out


def compound(cid: str) -> Compound:
    table = compounds()
    if cid not in table:
        raise unknown("compound", cid, sorted(table))
    return table[cid]


@cache
def drugs() -> dict[str, Drug]:
    return {
        did: Drug(did, dict(rec["components"]), dict(rec["pk"]), dict(rec.get("max_studied_dose") or {}))
        for did, rec in data.load("drugs.yaml").items()
    }


def drug(did: str) -> Drug:
    table = drugs()
    if did not in table:
        raise unknown("drug", did, sorted(table))
    return table[did]


def species_default(species: str, key: str) -> float:
    table = data.load("species.yaml")
    if species not in table:
        raise unknown("species", species, list(SPECIES))
    return float(table[species][key]["value"])
