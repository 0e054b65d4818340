"""Packaged model content (YAML): compounds, PK parameter sets, mechanism, evidence.

Code reads these files; numbers live here with their unit and source, never in code.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from ..errors import DataError


@cache
def load(relative_path: str) -> Any:
    """Load a packaged YAML file by its path relative to this folder (cached; treat as read-only)."""
    ref = resources.files(__package__).joinpath(relative_path)
    try:
        text = ref.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"packaged data file {relative_path!r} is missing; reinstall ketasim") from exc
    return yaml.safe_load(text)


def listdir(relative_dir: str) -> list[str]:
    """Names of the YAML files in a packaged data folder, sorted."""
    ref = resources.files(__package__).joinpath(relative_dir)
    return sorted(p.name for p in ref.iterdir() if p.name.endswith(".yaml"))
