"""Regenerate the generated parts of docs/mechanism.md from the mechanism data files.

Run: .venv/bin/python scripts/gen_mechanism_doc.py   (tests/test_docs.py fails when the page is stale)
"""

from __future__ import annotations

import sys
from pathlib import Path

from ketasim import data
from ketasim.mechanism.ligands import interneuron_selectivity

DOC = Path(__file__).resolve().parents[1] / "docs" / "mechanism.md"
BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _lig_row(target: str, ligand: str, key: str, r: dict[str, object]) -> str:
    return f"| {target} | {ligand} | {key} | {r['value']} | {r['unit']} | {r['source']} | {_cell(r.get('note', ''))} |"


def _lig_row(target: str, ligand: str, key: str, r: dict[str, object]) -> str:
    note = _cell(r.get("note", ""))
    return f"| {target} | {ligand} | {key} | {r['value']} | {r['unit']} | {r['source']} | {note} |"


def generated() -> str:
    nodes = data.load("mechanism/nodes.yaml")
    params = data.load("mechanism/parameters.yaml")
    lig = data.load("mechanism/ligands.yaml")
    hyp = data.load("mechanism/hypotheses.yaml")
    out = ["## Equations (from data/mechanism/nodes.yaml)", ""]
    out.append("States integrate `d(node)/dt = rate`; assignments are algebraic. Baseline of every normalised")
    out.append("node is 1 (the untreated depressed state).")
    out.append("")
    out.append("| node | kind | unit | law | meaning |")
    out.append("|---|---|---|---|---|")
    for nid, rec in nodes.items():
        law = rec.get("rate") if rec["kind"] == "state" else rec.get("expr")
        out.append(
            f"| `{nid}` | {rec['kind']} | {rec['unit']} | `{_cell(law)}` | {_cell(rec.get('description', ''))} |"
        )
    out += ["", "## Parameters (from data/mechanism/parameters.yaml)", ""]
    out.append("| id | value | unit | source | note |")
    out.append("|---|---|---|---|---|")
    for pid, rec in params.items():
        out.append(f"| `{pid}` | {rec['value']} | {rec['unit']} | {rec['source']} | {_cell(rec.get('note', ''))} |")
    out += ["", "## Receptor pharmacology (from data/mechanism/ligands.yaml)", ""]
    out.append("| target | ligand | constant | value | unit | source | note |")
    out.append("|---|---|---|---|---|---|---|")
    for target in ("nmda", "mu_opioid", "ampa", "mtor", "rapamycin_peripheral"):
        for cid, rec in lig[target].items():
            for key, r in rec.items():
                out.append(_lig_row(target, cid, key, r))
    for key, r in lig["in_vivo_potency"].items():
        out.append(_lig_row("nmda", f"(in-vivo factor, {key})", "factor", r))
    for key, r in lig["interneuron_selectivity"].items():
        out.append(_lig_row("nmda", "(interneuron selectivity)", key, r))
    out += [
        "",
        "Derived interneuron selectivity per NMDA ligand: "
        + ", ".join(
            f"{cid} {interneuron_selectivity(float(rec['trapping']['value'])):.2f}" for cid, rec in lig["nmda"].items()
        ),
        "",
    ]
    out += ["## Edges and hypotheses (from data/mechanism/hypotheses.yaml)", ""]
    names = list(hyp["hypotheses"])
    out.append("| edge | from | to | claim | " + " | ".join(names) + " |")
    out.append("|---|---|---|---|" + "---|" * len(names))
    for eid, rec in hyp["edges"].items():
        marks = ["on" if (eid in hyp["common"] or eid in hyp["hypotheses"][h]["edges"]) else "off" for h in names]
        out.append(f"| `{eid}` | {rec['from']} | {rec['to']} | {rec['claim']} | " + " | ".join(marks) + " |")
    return "\n".join(out) + "\n"


def render(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{generated()}{END}{tail}"


def main() -> int:
    text = DOC.read_text(encoding="utf-8")
    new = render(text)
    if "--check" in sys.argv:
        return 0 if new == text else 1
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
