"""`ketasim trial TRIAL.yaml`: simulate an in-silico clinical trial; JSON, tables, and per-subject files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ScenarioError
from ..trials.defaults import DEFAULT_CHUNK
from .app import app
from .output import write_table_atomic

if TYPE_CHECKING:
    from ..trials import TrialResult


def _write_text_atomic(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_outputs(result: TrialResult, folder: Path) -> list[Path]:
    """subjects.parquet, visits.parquet and summary.json in `folder`, each written atomically."""
    if folder.exists() and not folder.is_dir():
        raise ScenarioError(f"--out {str(folder)!r} is a file; give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(f"cannot create output folder {str(folder)!r}: {exc.strerror}") from exc
    paths = [folder / "subjects.parquet", folder / "visits.parquet", folder / "summary.json"]
    rec = result.summary.get("ketasim_provenance")  # also in summary.json
    write_table_atomic(result.subjects_frame(), paths[0], provenance=rec)
    write_table_atomic(result.visits_frame(), paths[1], provenance=rec)
    _write_text_atomic(json.dumps(result.summary, indent=2), paths[2])
    return paths


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, list):
        return "[" + ", ".join(_fmt(v, digits) for v in x) + "]"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _print_tables(result: TrialResult) -> None:
    console = Console()
    if not console.is_terminal:  # files and pipes: wide enough that ids are not cut
        console = Console(width=140)
    s = result.summary
    console.print(f"[bold]{s['trial']}[/bold]: {s['design']}, seed {s['seed']}, {s['n_per_arm']} per arm")
    if "open_label" in s:
        ol = s["open_label"]
        console.print(f"open label: {ol['n']} subjects, {ol['stable']} stable ({_fmt(ol['stable_fraction'])})")
    t = Table(title="Arms (rates are fractions)")
    for col in ("arm", "n", "endpoint", "value", "95% CI / SD"):
        t.add_column(col)
    for arm, v in s["arms"].items():
        for key, val in v.items():
            if key in ("n", "madrs_timecourse") or not isinstance(val, dict):
                continue
            if "rate" in val:
                t.add_row(arm, str(v["n"]), key, _fmt(val["rate"]), _fmt(val["ci95"]))
            elif "mean" in val:
                t.add_row(arm, str(v["n"]), key, _fmt(val["mean"]), f"SD {_fmt(val['sd'])}")
            elif "relapse_rate" in val:
                t.add_row(
                    arm,
                    str(v["n"]),
                    key,
                    f"{_fmt(val['relapse_rate'])} (median {_fmt(val['median_days'])} d)",
                    _fmt(val["ci95"]),
                )
    console.print(t)
    c = Table(title=f"Comparisons against {result.spec.control}")
    for col in ("endpoint", "treatment", "difference", "95% CI", "p", "OR / HR"):
        c.add_column(col)
    for row in s["comparisons"]:
        extra = ""
        if row.get("odds_ratio") is not None:
            extra = f"OR {_fmt(row['odds_ratio'])} {_fmt(row['odds_ratio_ci95'])}"
        if row.get("hazard_ratio") is not None:
            extra = f"HR {_fmt(row['hazard_ratio'])} {_fmt(row['hazard_ratio_ci95'])}"
        c.add_row(row["endpoint"], row["treatment"], _fmt(row["difference"]), _fmt(row["ci95"]), _fmt(row["p"]), extra)
    console.print(c)


@app.command("trial")
def trial_cmd(
    trial_file: Annotated[Path, typer.Argument(help="trial YAML file (see examples/trials/)")],
    n_per_arm: Annotated[int | None, typer.Option("--n-per-arm", help="subjects per arm (overrides the file)")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (overrides the file)")] = None,
    hypothesis: Annotated[str | None, typer.Option(help="one hypothesis for every arm, e.g. opioid")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="subjects per simulate() call")] = DEFAULT_CHUNK,
    workers: Annotated[int, typer.Option(help="worker processes (results do not depend on it)")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    out: Annotated[Path | None, typer.Option(help="folder for subjects.parquet, visits.parquet, summary.json")] = None,
) -> None:
    """Simulate a clinical trial: virtual subjects, arms, clinical layer, endpoints and statistics."""
    from ..trials import load_trial, run_trial  # statsmodels and lifelines load only for trials

    spec = load_trial(trial_file)
    result = run_trial(
        spec,
        n_per_arm=n_per_arm,
        seed=seed,
        hypothesis=hypothesis,
        chunk_size=chunk_size,
        workers=workers,
        progress=not quiet,
    )
    from .. import provenance

    provenance.add_source(result.summary.get(provenance.KEY), trial_file)
    if out is not None:
        write_outputs(result, out)
    if as_json:
        typer.echo(json.dumps(result.summary, indent=2))
        return
    _print_tables(result)
