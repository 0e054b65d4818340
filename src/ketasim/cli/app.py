"""The typer application object every command module registers on, with the app-wide `--version` option."""

from typing import Annotated

import typer

from .. import __version__

app = typer.Typer(
    name="ketasim",
    help="Ketamine/esketamine mechanism simulator: dose -> PK -> NMDA block -> cascade -> mood. "
    "A research and teaching tool, not clinical advice.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ketasim {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Ketamine/esketamine mechanism simulator: dose -> PK -> NMDA block -> cascade -> mood."""
