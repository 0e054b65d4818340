"""`make demo`: the canonical scenarios in the terminal (the HTML report replaces this when it lands)."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from .simulate import simulate

CANONICAL: list[dict[str, Any]] = [
    {"drug": "esketamine", "route": "intranasal", "dose": "84 mg"},
    {"drug": "esketamine", "route": "intranasal", "dose": "56 mg"},
    {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "over": "40 min"},
]


def main(argv: list[str] | None = None) -> int:
    console = Console()
    table = Table(title="ketasim demo: canonical doses (plasma, ng/mL)")
    for col in ("scenario", "compound", "Cmax", "Tmax h", "AUC0-24", "t1/2 h"):
        table.add_column(col)
    for sc in CANONICAL:
        label = f"{sc['drug']} {sc['dose']} {sc['route']}" + (f" over {sc['over']}" if "over" in sc else "")
        with console.status(f"simulating {label}"):
            result = simulate(**sc)
        for c in result.compounds:
            e = result.exposure(c)
            table.add_row(
                label,
                c,
                f"{e.cmax_ng_per_ml:.1f}",
                f"{e.tmax_h:.2f}",
                f"{e.auc_0_24_ng_h_per_ml:.0f}",
                f"{e.half_life_h:.1f}",
            )
            label = ""
    console.print(table)
    console.print("Research and teaching tool, not clinical advice.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
