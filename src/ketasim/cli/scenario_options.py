"""The scenario options shared by commands that build one scenario (simulate, export-sbml, ...).

One definition of each option and one function that turns them into a Scenario, so that every command reads
`--drug ... --pretreat ...` (or a scenario file) the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ScenarioError
from ..scenario import Scenario, load_scenario, make_scenario, parse_pretreat

ScenarioFileArg = Annotated[Path | None, typer.Argument(help="YAML scenario file (options below override it)")]
DrugOpt = Annotated[str | None, typer.Option(help="esketamine, ketamine, arketamine, hnk_2r6r, lanicemine, ...")]
RouteOpt = Annotated[str | None, typer.Option(help="iv, intranasal, oral, im, ip, icv")]
DoseOpt = Annotated[str | None, typer.Option(help="e.g. '84 mg' or '0.5 mg/kg'")]
OverOpt = Annotated[str | None, typer.Option(help="IV infusion duration, e.g. '40 min'")]
RegimenOpt = Annotated[
    str | None,
    typer.Option(help="single, spravato, spravato-weekly, twice-weekly, weekly, 'every 3.5 d x 8'"),
]
FirstDoseOpt = Annotated[
    str | None, typer.Option(help="first dose if different (spravato default: 56 mg, 28 mg if 65+)")
]
SpeciesOpt = Annotated[str | None, typer.Option(help="human, rat or mouse")]
WeightOpt = Annotated[str | None, typer.Option(help="body weight in kg (default: human 70, rat 0.3, mouse 0.025)")]
AgeOpt = Annotated[float | None, typer.Option(help="age in years")]
DurationOpt = Annotated[str | None, typer.Option(help="how long to simulate, e.g. '7d', '12w'")]
HypothesisOpt = Annotated[str | None, typer.Option(help="glutamate_mtor (default), opioid, hnk_ampa, or A+B")]
PretreatOpt = Annotated[
    list[str] | None,
    typer.Option(help="DRUG:DOSE:ROUTE:OFFSET, e.g. 'naltrexone:50 mg:oral:45 min' (repeatable)"),
]


def scenario_fields(
    *,
    drug: str | None,
    route: str | None,
    dose: str | None,
    over: str | None,
    regimen: str | None,
    first_dose: str | None,
    species: str | None,
    weight: str | None,
    age: float | None,
    duration: str | None,
    hypothesis: str | None,
    pretreat: list[str] | None,
) -> dict[str, Any]:
    """Scenario fields from the shared options (None where an option was not given)."""
    fields: dict[str, Any] = {
        "drug": drug,
        "route": route,
        "dose": dose,
        "over": over,
        "regimen": regimen,
        "first_dose": first_dose,
        "species": species,
        "weight": weight,
        "age": age,
        "duration": duration,
        "hypothesis": hypothesis,
    }
    if pretreat:
        fields["pretreatments"] = [parse_pretreat(p).model_dump() for p in pretreat]
    return fields


def build_scenario(scenario_file: Path | None, fields: dict[str, Any]) -> Scenario:
    """A scenario file with explicit options overriding it, or the options alone (then --drug is required)."""
    if scenario_file is not None:
        return load_scenario(scenario_file, fields)
    if fields.get("drug") is None:
        raise ScenarioError("no drug given; add --drug esketamine (or give a scenario file)")
    return make_scenario({k: v for k, v in fields.items() if v is not None})
