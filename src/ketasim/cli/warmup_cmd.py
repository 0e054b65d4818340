"""`ketasim warmup`: compile the batched solver for every shipped model now, with a progress display, so that
no later population run or trial starts with a silent wait."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from .app import app

if TYPE_CHECKING:
    from ..warmup import ShippedModel


@app.command("warmup")
def warmup_cmd(
    workers: Annotated[int, typer.Option(min=1, help="Processes compiling at once (each compile uses one core).")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Compile every shipped model (each drug/species System) for this machine, once; later runs start at once."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..warmup import distinct, shipped_models, warmup

    console = Console(stderr=True, quiet=quiet)
    groups = distinct(shipped_models())
    start = time.perf_counter()
    counts = {"compiled": 0, "cached": 0}
    with Progress(
        TextColumn("compiling models"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:
        task = bar.add_task("models", total=len(groups))

        def done(group: list[ShippedModel], compiled_now: bool) -> None:
            state = "compiled" if compiled_now else "cached"
            counts[state] += 1
            console.print(f"  {state:8s} {', '.join(m.label for m in group)}")
            bar.advance(task)

        warmup(groups, workers=workers, on_done=done)
    console.print(
        f"{len(groups)} models ready in {time.perf_counter() - start:.0f} s "
        f"({counts['compiled']} compiled now, {counts['cached']} already cached)"
    )
