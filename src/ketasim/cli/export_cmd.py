"""`ketasim export-sbml`: one scenario's model, with its doses and pretreatments, as an SBML L3V2 file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ScenarioError
from ..model.build import prepare
from .app import app
from .scenario_options import (
    AgeOpt,
    DoseOpt,
    DrugOpt,
    DurationOpt,
    FirstDoseOpt,
    HypothesisOpt,
    OverOpt,
    PretreatOpt,
    RegimenOpt,
    RouteOpt,
    ScenarioFileArg,
    SpeciesOpt,
    WeightOpt,
    build_scenario,
    scenario_fields,
)

#: file endings accepted for the SBML output
SBML_SUFFIXES = (".xml", ".sbml")


def write_text_atomic(text: str, path: Path) -> None:
    """Write text to a temporary file in the target folder, then rename it into place (never half a file)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ScenarioError(f"folder {str(folder)!r} for the output file does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command("export-sbml")
def export_sbml_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="SBML file to write, e.g. model.xml")],
    scenario_file: ScenarioFileArg = None,
    drug: DrugOpt = None,
    route: RouteOpt = None,
    dose: DoseOpt = None,
    over: OverOpt = None,
    regimen: RegimenOpt = None,
    first_dose: FirstDoseOpt = None,
    species: SpeciesOpt = None,
    weight: WeightOpt = None,
    age: AgeOpt = None,
    duration: DurationOpt = None,
    hypothesis: HypothesisOpt = None,
    pretreat: PretreatOpt = None,
) -> None:
    """Write the whole model (PK, brain exposure, mechanism) and its dose events as SBML Level 3 Version 2."""
    if out.suffix.lower() not in SBML_SUFFIXES:
        raise ScenarioError(f"--out {str(out)!r} must end in {' or '.join(SBML_SUFFIXES)}")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise ScenarioError(f"folder {str(out.parent)!r} for the output file does not exist; create it first")
    fields = scenario_fields(
        drug=drug,
        route=route,
        dose=dose,
        over=over,
        regimen=regimen,
        first_dose=first_dose,
        species=species,
        weight=weight,
        age=age,
        duration=duration,
        hypothesis=hypothesis,
        pretreat=pretreat,
    )
    scenario = build_scenario(scenario_file, fields)
    from ..io.sbml import to_sbml, validate_sbml  # libsbml loads only when exporting

    text = to_sbml(prepare(scenario))
    validate_sbml(text)
    write_text_atomic(text, out)
    typer.echo(str(out))
