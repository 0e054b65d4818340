"""Scenarios the solver tests share: a 10-day Spravato course and a racemic ketamine infusion with naltrexone
pretreatment under the opioid hypothesis (intranasal and IV routes, two enantiomers, a pretreatment, a hypothesis)."""

from __future__ import annotations

from typing import Any

from ketasim.scenario import parse_pretreat

SCENARIOS: dict[str, dict[str, Any]] = {
    "spravato_2w": {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "regimen": "spravato",
                    "duration": "10d"},
    "ketamine_naltrexone": {
        "drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "over": "40 min", "hypothesis": "opioid",
        "duration": "2d", "pretreatments": [parse_pretreat("naltrexone:50 mg:oral:45 min").model_dump()],
    },
}
