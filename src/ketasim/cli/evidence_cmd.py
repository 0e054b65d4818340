"""`ketasim evidence`: the studies and claims behind the model, with the strength the rule gives each.

`ketasim evidence [--json]` lists; `ketasim evidence show KEY [--json]` shows one study, claim, outcome or
bibliography entry in full. The JSON builders are plain functions so that reports and tests can reuse them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..evidence.records import Claim, EvidenceBase, Reference, Study, evidence_base
from ..evidence.strength import ClaimStrength, all_claim_strengths, claim_strength, study_weight
from .app import app

evidence_app = typer.Typer(
    help="Studies and claims behind the model, with their computed evidence strength.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(evidence_app, name="evidence")

_DIGITS = 4
_CONSOLE_WIDTH = 200


def _r(x: float) -> float:
    return round(x, _DIGITS)


def reference_json(ref: Reference) -> dict[str, Any]:
    """A bibliography entry as JSON (all fields, absent identifiers left out)."""
    return ref.model_dump(exclude_none=True)


def study_summary(study: Study, base: EvidenceBase) -> dict[str, Any]:
    """One row of the study listing: citation fields, design, size and weights."""
    ref = base.references[study.key]
    return {
        "key": study.key,
        "authors": ref.authors,
        "year": ref.year,
        "title": ref.title,
        "journal": ref.journal,
        "seed_ref": ref.seed_ref,
        "species": study.species,
        "design": study.design,
        "n": study.n,
        "randomized": study.randomized,
        "blinded": study.blinded,
        "placebo_controlled": study.placebo_controlled,
        "interim": study.interim,
        "replicated": study.replicated,
        "same_sample_as": study.same_sample_as,
        "verified": study.verified,
        "weight": _r(study_weight(study, "clinical")),
        "weight_mechanistic": _r(study_weight(study, "mechanistic")),
        "n_outcomes": len(study.outcomes),
    }


def claim_summary(claim: Claim, result: ClaimStrength) -> dict[str, Any]:
    """One row of the claim listing: statement, links and the computed strength."""
    return {
        "id": claim.id,
        "statement": claim.statement,
        "kind": claim.kind,
        "scope": claim.scope,
        "edge": claim.edge.model_dump(by_alias=True) if claim.edge else None,
        "hypotheses": list(claim.hypotheses),
        "strength": _r(result.strength),
        "label": result.label,
        "support": _r(result.support),
        "contradiction": _r(result.contradiction),
        "supports": [ref.ref for ref in claim.supports],
        "contradicts": [ref.ref for ref in claim.contradicts],
        "supporting_units": {k: _r(v) for k, v in result.supporting_units.items()},
        "contradicting_units": {k: _r(v) for k, v in result.contradicting_units.items()},
    }


def evidence_listing(base: EvidenceBase | None = None) -> dict[str, Any]:
    """The `ketasim evidence --json` object: studies, claims and the bibliography."""
    base = base or evidence_base()
    strengths = all_claim_strengths(base)
    return {
        "studies": [study_summary(s, base) for s in base.studies.values()],
        "claims": [claim_summary(c, strengths[c.id]) for c in base.claims.values()],
        "references": [reference_json(r) for r in base.references.values()],
    }


def describe(key: str, base: EvidenceBase | None = None) -> dict[str, Any]:
    """The `ketasim evidence show KEY --json` object for a study, claim, outcome id or bibliography key."""
    base = base or evidence_base()
    item = base.lookup(key)
    if isinstance(item, Claim):
        result = claim_strength(item, base)
        out = {"type": "claim", **item.model_dump(by_alias=True, exclude_none=True)}
        out.update(claim_summary(item, result))
        out["citations"] = [
            {"ref": c.ref, "study": c.study, "unit": c.unit, "weight": _r(c.weight), "qualifier": c.qualifier}
            for c in result.citations
        ]
        return out
    if isinstance(item, Study):
        out = {"type": "study", **study_summary(item, base)}
        out["reference"] = reference_json(base.references[item.key])
        out["record"] = item.model_dump(exclude_none=True)
        out["weights_by_scope"] = {
            scope: _r(study_weight(item, scope)) for scope in ("clinical", "mechanistic", "pharmacological")
        }
        out["cited_by"] = [{"claim": c.id, "as": side} for c, side in base.claims_citing(item.key)]
        if key != item.key:
            out["outcome"] = base.outcome(key)[1].model_dump(exclude_none=True)
        return out
    return {"type": "reference", **reference_json(item)}


@evidence_app.callback()
def evidence_cmd(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object: studies, claims, references")
    ] = False,
) -> None:
    """List studies and claims with their computed evidence strength (see docs/evidence.md)."""
    if ctx.invoked_subcommand is not None:
        return
    listing = evidence_listing()
    if as_json:
        typer.echo(json.dumps(listing, indent=2))
        return
    console = Console(width=_CONSOLE_WIDTH)
    studies = Table(title="Studies (weight: for clinical claims / for mechanistic claims)")
    for col in ("key", "year", "species", "design", "n", "flags", "weight", "mech"):
        studies.add_column(col, overflow="fold")
    for s in listing["studies"]:
        flags = "".join(
            mark
            for mark, on in (
                ("R", s["randomized"]),
                ("B", s["blinded"]),
                ("P", s["placebo_controlled"]),
                ("I", s["interim"]),
                ("x", s["replicated"]),
            )
            if on
        )
        studies.add_row(
            s["key"],
            str(s["year"] or ""),
            s["species"],
            s["design"],
            str(s["n"] or "?"),
            flags,
            f"{s['weight']:.2f}",
            f"{s['weight_mechanistic']:.2f}",
        )
    console.print(studies)
    console.print("flags: R randomized, B blinded, P placebo/vehicle control, I interim, x replicated")
    claims = Table(title="Claims (strength = S * (1 - C))")
    for col in ("id", "kind", "hypotheses", "strength", "label", "S", "C", "units +/-"):
        claims.add_column(col, overflow="fold")
    for c in listing["claims"]:
        claims.add_row(
            c["id"],
            c["kind"],
            ",".join(c["hypotheses"]) or "-",
            f"{c['strength']:.2f}",
            c["label"],
            f"{c['support']:.2f}",
            f"{c['contradiction']:.2f}",
            f"{len(c['supporting_units'])}/{len(c['contradicting_units'])}",
        )
    console.print(claims)


@evidence_app.command("show")
def show_cmd(
    key: Annotated[str, typer.Argument(help="a study key, claim id, outcome id or bibliography key")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show one study, claim, outcome or bibliography entry in full."""
    info = describe(key)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    table = Table(title=f"{info['type']}: {key}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in info.items():
        if name == "type":
            continue
        text = value if isinstance(value, str) else json.dumps(value, indent=1)
        table.add_row(name, text)
    Console(width=_CONSOLE_WIDTH).print(table)
