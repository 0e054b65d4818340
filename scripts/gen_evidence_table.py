"""Regenerate the tables in docs/evidence.md from the evidence data, so the document never drifts.

Usage: python scripts/gen_evidence_table.py [--check] [PATH]

Each table sits between `<!-- BEGIN GENERATED: name -->` and `<!-- END GENERATED: name -->`; everything
outside the markers is hand-written and left alone. `--check` exits 1 when the file is out of date.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ketasim import data
from ketasim.docgen import replace_blocks
from ketasim.evidence import EvidenceBase, all_claim_strengths, evidence_base, study_weight

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "docs" / "evidence.md"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def claims_table(base: EvidenceBase) -> str:
    """Every claim with its computed strength, label, and supporting/contradicting units."""
    strengths = all_claim_strengths(base)
    rows: list[list[object]] = []
    for claim in base.claims.values():
        s = strengths[claim.id]
        pro = ", ".join(f"{u} {w:.2f}" for u, w in sorted(s.supporting_units.items(), key=lambda x: -x[1]))
        con = ", ".join(f"{u} {w:.2f}" for u, w in sorted(s.contradicting_units.items(), key=lambda x: -x[1]))
        rows.append(
            [
                f"`{claim.id}`",
                claim.kind,
                ", ".join(claim.hypotheses) or "-",
                f"{s.strength:.2f}",
                f"**{s.label}**",
                f"{s.support:.2f}",
                f"{s.contradiction:.2f}",
                pro or "-",
                con or "-",
            ]
        )
    header = ["claim", "kind", "asserted by", "strength", "label", "S", "C", "supporting", "contradicting"]
    return _table(header, rows)


def studies_table(base: EvidenceBase) -> str:
    """Every study with design, size and its weights."""
    rows: list[list[object]] = []
    for study in base.studies.values():
        ref = base.references[study.key]
        flags = "".join(
            mark
            for mark, on in (
                ("R", study.randomized),
                ("B", study.blinded),
                ("P", study.placebo_controlled),
                ("I", study.interim),
                ("x", study.replicated),
            )
            if on
        )
        rows.append(
            [
                f"`{study.key}`",
                ref.seed_ref or "",
                study.species,
                study.design,
                study.n if study.n is not None else "?",
                flags,
                study.verified,
                f"{study_weight(study, 'clinical'):.2f}",
                f"{study_weight(study, 'mechanistic'):.2f}",
            ]
        )
    header = ["study", "seed ref", "species", "design", "n", "flags", "tag", "w clinical", "w mechanistic"]
    return _table(header, rows)


def findings_table(base: EvidenceBase) -> str:
    """Every outcome: the candidates for executable experiments, quantitative ones first."""
    rows: list[list[object]] = []
    pairs = sorted(base.outcomes(), key=lambda so: not so[1].quantitative)
    for study, o in pairs:
        value = "" if o.value is None else f"{o.value:g}"
        unc = "" if not o.uncertainty else ", ".join(f"{k} {v}" for k, v in o.uncertainty.items())
        comp = ""
        if o.comparator is not None and o.comparator.value is not None:
            comp = f"{o.comparator.value:g} ({o.comparator.arm})"
        when = o.timepoint or ""
        rows.append(
            [
                f"`{o.id}`",
                o.node or "",
                o.direction,
                value,
                o.unit or "",
                unc,
                comp,
                when,
                o.verified or study.verified,
            ]
        )
    header = ["finding", "node", "direction", "value", "unit", "uncertainty", "comparator", "when", "tag"]
    return _table(header, rows)


def rule_table(_: EvidenceBase) -> str:
    """The strength rule's numbers with their rationale, straight from strength_rule.yaml."""
    raw: dict[str, Any] = data.load("evidence/strength_rule.yaml")
    rows: list[list[object]] = []

    def add(group: str, name: str, entry: dict[str, Any]) -> None:
        rows.append([group, name, f"{float(entry['value']):g}", entry["why"]])

    for name, entry in raw["design_base"].items():
        add("design", name, entry)
    for name, entry in raw["size"].items():
        if name == "unknown_n":
            for design, sub in entry.items():
                add("unknown n", design, sub)
        else:
            add("size", name, entry)
    for flag, table in raw["flags"].items():
        for when, entry in table.items():
            add("flag", f"{flag} {when.removeprefix('when_')}", entry)
    for name in ("interim", "secondary_analysis", "unverified_field"):
        add("penalty", name, raw[name])
    for scope, table in raw["species"].items():
        for species, entry in table.items():
            add(f"species ({scope})", species, entry)
    for tag, entry in raw["verification"].items():
        add("verification", tag, entry)
    for name, entry in raw["qualifiers"].items():
        add("qualifier", name, entry)
    for name, entry in raw["labels"].items():
        add("label", name, entry)
    return _table(["group", "entry", "value", "why"], rows)


def to_verify_table(base: EvidenceBase) -> str:
    """What is recollection and needs checking: references and outcomes marked U or citation not checked."""
    rows: list[list[object]] = []
    for ref in base.references.values():
        if ref.verified != "V" or not ref.citation_checked:
            what = "facts U" if ref.verified != "V" else "citation details"
            rows.append([f"`{ref.key}`", "reference", what])
    for study in base.studies.values():
        if study.unverified:
            rows.append([f"`{study.key}`", "study fields", ", ".join(study.unverified)])
        for o in study.outcomes:
            if o.verified == "U":
                rows.append([f"`{o.id}`", "finding", o.description])
    return _table(["item", "what", "to check"], rows)


GENERATORS: dict[str, Callable[[EvidenceBase], str]] = {
    "rule": rule_table,
    "claims": claims_table,
    "studies": studies_table,
    "findings": findings_table,
    "to-verify": to_verify_table,
}


def render(text: str, base: EvidenceBase) -> str:
    """Replace every generated block in `text` with freshly generated content."""
    return replace_blocks(text, GENERATORS, base)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, verify) the generated blocks of docs/evidence.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    text = args.path.read_text(encoding="utf-8")
    fresh = render(text, evidence_base())
    if args.check:
        if fresh != text:
            print(f"{args.path} is out of date; run python scripts/gen_evidence_table.py", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
