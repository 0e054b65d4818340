"""Command-line interface: one module per command, all registered on one typer app.

`main()` turns every KetasimError into one line on stderr and exit code 2 (typer already gives usage
errors exit code 2).
"""

from __future__ import annotations

import sys

from ..errors import KetasimError
from . import commands  # noqa: F401  (registers the commands)
from .app import app


def main() -> None:
    """Entry point of the `ketasim` console script."""
    try:
        app()
    except KetasimError as exc:
        print(f"ketasim: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("ketasim: interrupted", file=sys.stderr)
        sys.exit(130)
