"""`ketasim params`: every model parameter with value, unit and source, straight from the data files."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..model.build import prepare
from ..scenario import make_scenario
from .app import app


def parameter_rows(drug: str, route: str, species: str, hypothesis: str) -> list[dict[str, object]]:
    """Nominal parameters of the full model for one drug/species, as rows."""
    dose = "0.5 mg/kg" if drug in ("ketamine", "arketamine") else None
    scenario = make_scenario(
        {"drug": drug, "route": route, "dose": dose or "1 mg", "species": species, "hypothesis": hypothesis}
    )
    prep = prepare(scenario)
    rows = []
    for p in prep.system.parameters.values():
        if p.source == "dosing":
            continue
        rows.append({"id": p.id, "value": p.value, "unit": p.unit, "source": p.source, "note": p.note})
    return rows


@app.command("params")
def params_cmd(
    drug: Annotated[str, typer.Option(help="drug whose PK set to list")] = "esketamine",
    route: Annotated[str, typer.Option(help="route (selects nothing but must exist)")] = "iv",
    species: Annotated[str, typer.Option(help="human, rat or mouse")] = "human",
    hypothesis: Annotated[str, typer.Option(help="hypothesis configuration")] = "glutamate_mtor",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON rows")] = False,
) -> None:
    """List every parameter of the model with its value, unit and source."""
    rows = parameter_rows(drug, route, species, hypothesis)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Parameters ({drug}, {species}, {hypothesis})")
    for col in ("id", "value", "unit", "source", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), f"{r['value']:.6g}", str(r["unit"]), str(r["source"]), str(r["note"]))
    Console(width=200).print(table)
