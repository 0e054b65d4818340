"""The typer application object every command module registers on."""

import typer

app = typer.Typer(
    name="ketasim",
    help="Ketamine/esketamine mechanism simulator: dose -> PK -> NMDA block -> cascade -> mood. "
    "A research and teaching tool, not clinical advice.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
