"""`ketasim report [OUT_DIR]` (the whole HTML report) and `ketasim plot WHAT -o FILE` (one figure).

The report is built in a temporary folder and moved into place (see ketasim.report.build); a rich progress bar
shows which section is running, and a short table summarises each section at the end. `ketasim plot` draws
one figure, from the canonical scenarios or from the scenario given with the usual options.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import ScenarioError
from ..pk.catalog import unknown
from .app import app

if TYPE_CHECKING:  # matplotlib loads only when a figure is drawn
    from matplotlib.figure import Figure
from .scenario_options import (
    DoseOpt,
    DrugOpt,
    DurationOpt,
    HypothesisOpt,
    OverOpt,
    PretreatOpt,
    RegimenOpt,
    RouteOpt,
    SpeciesOpt,
    scenario_fields,
)

#: figures `ketasim plot` can draw, and whether each takes a scenario (--drug ...)
PLOTS = {"pk": True, "cascade": True, "dose-response": True, "pretreatments": True, "trials": False,
         "scorecard": False, "diagram": False}
#: output formats by file ending
FORMATS = {".png": "png", ".svg": "svg"}


@app.command("report")
def report_cmd(
    out_dir: Annotated[Path, typer.Argument(help="folder to write index.html into (created or replaced)")] = Path(
        "report"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display; print only the path")] = False,
    n_per_arm: Annotated[int | None, typer.Option(help="virtual patients per trial arm (default: report.yaml)")
                         ] = None,
) -> None:
    """Build the HTML report: PK, cascade, dose response, pretreatments, trials, scorecard, causal diagram."""
    from ..report import build_report

    if n_per_arm is not None and n_per_arm < 2:
        raise ScenarioError(f"--n-per-arm {n_per_arm} must be at least 2 (confidence bands need two patients)")
    console = Console(stderr=False)
    if quiet:
        summary = build_report(out_dir, trials_n=n_per_arm)
        typer.echo(str(summary.index))
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("starting", total=1)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        summary = build_report(out_dir, progress, trials_n=n_per_arm)
    table = Table(title=f"ketasim report: {len(summary.sections)} sections in {summary.seconds:.0f} s")
    table.add_column("section")
    table.add_column("status")
    table.add_column("headline", overflow="fold")
    for sid, status, headline in summary.sections:
        table.add_row(sid, status if status == "ok" else f"[yellow]{status}[/yellow]", headline)
    console.print(table)
    console.print(f"report: [bold]{summary.index}[/bold]")


def _save_figure(fig: Figure, out: Path) -> None:
    from ..report.figures import to_bytes

    suffix = out.suffix.lower()
    payload = to_bytes(fig, FORMATS[suffix])
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent if str(out.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_plot(what: str, fields: dict[str, Any]) -> Figure:
    """The figure `ketasim plot WHAT` draws; `fields` are the scenario options that were given."""
    from ..mechanism import parse_hypothesis
    from ..report import figures as F
    from ..report import scenarios as S
    from ..report.config import Style, settings
    from ..scenario import make_scenario

    if what not in PLOTS:
        raise unknown("figure", what, list(PLOTS))
    given = {k: v for k, v in fields.items() if v is not None}
    hypothesis = given.get("hypothesis")
    if hypothesis is not None:
        parse_hypothesis(str(hypothesis))
    scenario_given = {k: v for k, v in given.items() if k != "hypothesis"}
    if scenario_given and not PLOTS[what]:
        raise ScenarioError(f"`ketasim plot {what}` takes no scenario options (only --hypothesis); "
                            f"got {', '.join('--' + k for k in sorted(scenario_given))}")
    if scenario_given and "drug" not in scenario_given:
        raise ScenarioError("scenario options need --drug (e.g. --drug ketamine), or give none for the canonical "
                            "scenarios")
    if scenario_given:
        make_scenario(dict(given))  # reject bad input before anything is computed
    style = Style()
    draw: dict[str, Callable[[], Figure]] = {
        "pk": lambda: F.pk_figure(S.pk_data([given] if scenario_given else None), style),
        "cascade": lambda: F.cascade_figure(S.cascade_data(given if scenario_given else None), style),
        "dose-response": lambda: F.dose_response_figure(
            S.dose_response_data(given if scenario_given else None), style),
        "pretreatments": lambda: F.pretreatment_figure(S.pretreatment_data(
            [S.user_pretreatment_experiment(given)] if scenario_given else None,
            [str(hypothesis)] if hypothesis else None), style),
        "trials": lambda: _trials_figure(hypothesis, style),
        "scorecard": lambda: F.scorecard_figure(S.scorecard_data(hypothesis), style),
        "diagram": lambda: F.diagram_figure(S.diagram_data(hypothesis), style),
    }
    if what == "cascade" and scenario_given:
        given.setdefault("duration", settings()["cascade"]["scenario"]["duration"])
    return draw[what]()


def _trials_figure(hypothesis: str | None, style: Any) -> Figure:
    from ..report import figures as F
    from ..report import scenarios as S
    from ..report.config import settings

    cfg = settings()["trials"]
    paths = [p for p in (S.find_trial_file(str(f)) for f in cfg["files"]) if p is not None]
    if not paths:
        raise ScenarioError("no example trial files found; run from the repository root (examples/trials/)")
    return F.trials_figure([S.trial_data(p, int(cfg["n_per_arm"]), int(cfg["workers"]), hypothesis)
                            for p in paths], style)


@app.command("plot")
def plot_cmd(
    what: Annotated[str, typer.Argument(help=f"which figure: {', '.join(PLOTS)}")],
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write: FILE.png or FILE.svg")],
    drug: DrugOpt = None,
    route: RouteOpt = None,
    dose: DoseOpt = None,
    over: OverOpt = None,
    regimen: RegimenOpt = None,
    species: SpeciesOpt = None,
    duration: DurationOpt = None,
    hypothesis: HypothesisOpt = None,
    pretreat: PretreatOpt = None,
) -> None:
    """Draw one report figure, from the canonical scenarios or from the scenario given by the options."""
    if what not in PLOTS:
        raise unknown("figure", what, list(PLOTS))
    if out.suffix.lower() not in FORMATS:
        raise ScenarioError(f"-o {str(out)!r} must end in {' or '.join(FORMATS)}")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise ScenarioError(f"folder {str(folder)!r} for the figure does not exist; create it first")
    fields = scenario_fields(
        drug=drug, route=route, dose=dose, over=over, regimen=regimen, first_dose=None, species=species,
        weight=None, age=None, duration=duration, hypothesis=hypothesis, pretreat=pretreat,
    )
    fig = make_plot(what, fields)
    _save_figure(fig, out)
    typer.echo(str(out))
