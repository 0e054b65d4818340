"""`ketasim simulate`: one subject (or `--n` virtual subjects) from dose to mood, as JSON, a table or a file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .. import provenance
from ..errors import ScenarioError
from ..results import Result
from ..simulate import simulate
from ..solver import SolverOptions
from ..units import parse_times
from . import scenario_options as so
from .app import app
from .output import write_table_atomic


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return None if not math.isfinite(x) else x
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def result_json(result: Result, at_labels: list[str]) -> dict[str, Any]:
    """The simulate JSON contract: compounds (exposure), nodes (baseline/peak/min), at (values at times), and
    intervals (per dosing interval: Cmax, Tmax after that dose, Cmin, Ctrough, AUCtau, accumulation ratios, with
    their CDISC PP test codes under `cdisc`)."""
    out: dict[str, Any] = {
        "compounds": {c: result.exposure(c).as_dict() for c in result.compounds},
        "nodes": {n: result.node_summary(n) for n in result.nodes},
        "at": {},
    }
    for label in at_labels:
        hours = result.at[label]
        row = {v: result.value_at(v, hours) for v in [*result.nodes, *result.compounds]}
        out["at"][label] = row
    out["intervals"] = {c: [iv.as_dict() for iv in result.exposure_by_interval(c)] for c in result.dosed_compounds()}
    out["units"] = {"concentration": "ng/mL", "time": "h", "auc": "ng*h/mL"}
    if provenance.KEY in result.meta:
        out[provenance.KEY] = result.meta[provenance.KEY]
    return _clean(out)


@app.command("simulate")
def simulate_cmd(
    scenario_file: so.ScenarioFileArg = None,
    drug: so.DrugOpt = None,
    route: so.RouteOpt = None,
    dose: so.DoseOpt = None,
    over: so.OverOpt = None,
    regimen: so.RegimenOpt = None,
    first_dose: so.FirstDoseOpt = None,
    species: so.SpeciesOpt = None,
    weight: so.WeightOpt = None,
    age: so.AgeOpt = None,
    duration: so.DurationOpt = None,
    hypothesis: so.HypothesisOpt = None,
    pretreat: so.PretreatOpt = None,
    at: Annotated[str | None, typer.Option(help="report values at these times, e.g. '4h,24h,7d'")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    out: Annotated[Path | None, typer.Option(help="write the tidy time course to FILE.csv or FILE.parquet")] = None,
    # --- population runs (population_run.py): --n virtual subjects, one row of summaries each -------------
    n: Annotated[int | None, typer.Option("--n", help="simulate N virtual subjects; needs --out FILE.parquet")] = None,
    seed: Annotated[int, typer.Option(help="random seed of the virtual subjects (with --n)")] = 0,
    chunk_size: Annotated[int | None, typer.Option(help="subjects per chunk (with --n; default 5000)")] = None,
    workers: Annotated[int, typer.Option(help="Dask worker processes on this machine (with --n)")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="address of a running Dask scheduler, e.g. tcp://host:8786 (with --n)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar (with --n)")] = False,
    rtol: Annotated[
        float | None, typer.Option(help="relative tolerance of the solver (with --n; default 1.5e-5)")
    ] = None,
    atol: Annotated[
        float | None, typer.Option(help="absolute tolerance, in each state's unit (with --n; default 1.5e-8)")
    ] = None,
    # --- end of population-run options ------------------------------------------------------------------
) -> None:
    """Simulate one subject: plasma and brain exposure, every mechanism node, and MADRS."""
    fields = so.scenario_fields(
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
    at_labels = [label for label, _ in parse_times(at)] if at else []
    if at_labels:
        fields["at"] = at_labels
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise ScenarioError(f"--out {str(out)!r} must end in .csv or .parquet")
    if out is not None and not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise ScenarioError(f"folder {str(out.parent)!r} for --out does not exist; create it first")
    scenario = so.build_scenario(scenario_file, fields)
    population = (n, scheduler, chunk_size, rtol, atol)
    if any(v is not None for v in population) or workers != 1:  # population run
        from ..population_run import cli_run

        cli_run(
            scenario,
            n,
            out,
            seed=seed,
            chunk_size=chunk_size,
            workers=workers,
            scheduler=scheduler,
            quiet=quiet,
            as_json=as_json,
            rtol=rtol,
            atol=atol,
            source=scenario_file,
        )
        return
    opts = SolverOptions()
    result = simulate(scenario, options=opts)
    result.meta[provenance.KEY] = provenance.record(
        inputs=scenario.model_dump(mode="json"), source=scenario_file, solver=provenance.solver_label(opts.method),
        rtol=opts.rtol, atol=opts.atol,
    )
    at_labels = list(scenario.at)
    if out is not None:
        write_table_atomic(result.table(), out, provenance=result.meta[provenance.KEY])
    if as_json:
        typer.echo(json.dumps(result_json(result, at_labels), indent=2))
        return
    _print_tables(result, at_labels)


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}"


def _print_tables(result: Result, at_labels: list[str]) -> None:
    console = Console()
    t = Table(title="Plasma exposure (ng/mL, h)")
    for col in ("compound", "Cmax", "Tmax h", "AUC0-24", "AUC0-inf", "t1/2 h"):
        t.add_column(col, justify="right" if col != "compound" else "left")
    for c in result.compounds:
        e = result.exposure(c).as_dict()
        t.add_row(
            c,
            *[
                _fmt(e[k])
                for k in (
                    "cmax_ng_per_ml",
                    "tmax_h",
                    "auc_0_24_ng_h_per_ml",
                    "auc_inf_ng_h_per_ml",
                    "half_life_h",
                )
            ],
        )
    console.print(t)
    if result.nodes:
        nt = Table(title="Mechanism nodes (1 = untreated baseline; MADRS and CADSS in points)")
        for col in ("node", "baseline", "peak", "t peak h", "min", "t min h"):
            nt.add_column(col, justify="right" if col != "node" else "left")
        for n in result.nodes:
            s = result.node_summary(n)
            nt.add_row(n, *[_fmt(s[k]) for k in ("baseline", "peak", "t_peak_h", "min", "t_min_h")])
        console.print(nt)
    for label in at_labels:
        hours = result.at[label]
        console.print(
            f"at {label}: "
            + ", ".join(f"{v}={_fmt(result.value_at(v, hours))}" for v in [*result.nodes, *result.compounds])
        )
