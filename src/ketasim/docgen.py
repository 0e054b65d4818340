"""Generated blocks in Markdown pages: one way to replace `<!-- BEGIN GENERATED: name -->` sections.

The docs scripts (scripts/gen_*.py) regenerate tables from data and simulations; tests run them with --check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")


def replace_blocks(text: str, generators: Mapping[str, Callable[[T], str]], source: T) -> str:
    """Replace every named generated block in `text` with `generators[name](source)`."""
    for name, make in generators.items():
        begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
        pattern = re.compile(rf"{re.escape(begin)}.*?{re.escape(end)}", re.DOTALL)
        found = pattern.search(text)
        if found is None:
            raise SystemExit(f"marker for generated block {name!r} not found")
        start, stop = found.span()
        text = f"{text[:start]}{begin}\n{make(source)}\n{end}{text[stop:]}"
    return text
