"""Regenerate the scorecard sections of docs/evidence.md from a fresh scorecard, so the page never drifts.

Usage: python scripts/gen_scorecard_table.py [--check] [--readme] [PATH]

Runs every experiment under every hypothesis and under the perturbations listed in experiments.yaml (about
half a minute), then rewrites the blocks between `<!-- BEGIN GENERATED: scorecard-... -->` and
`<!-- END GENERATED: scorecard-... -->`; everything else is left alone (scripts/gen_evidence_table.py owns the
other generated blocks). `--check` exits 1 when the page is out of date. `--readme` prints the summary table
for README.md. Every failing finding must have an explanation in experiments.yaml; a missing one is an error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ketasim.cli.scorecard_cmd import describe_study
from ketasim.docgen import replace_blocks
from ketasim.evidence.experiments import (
    SOLVER_NOISE,
    Config,
    Experiment,
    ExperimentSet,
    experiment_set,
    make_config,
)
from ketasim.evidence.scorecard import Scorecard, run_scorecard
from ketasim.mechanism import hypotheses

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "docs" / "evidence.md"


def configs(ex_set: ExperimentSet | None = None) -> list[Config]:
    """Every hypothesis, then the perturbations: the configurations the page reports."""
    ex_set = ex_set or experiment_set()
    return [make_config(h) for h in hypotheses()] + ex_set.perturbation_configs()


def generate() -> Scorecard:
    """The scorecard the page is written from."""
    return run_scorecard(configs())


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)




def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) < SOLVER_NOISE:  # noise: the same on every machine
        return "0"
    return f"{x:.3g}"


def _hypothesis_names(sc: Scorecard) -> list[str]:
    return [n for n, card in sc.cards.items() if not card.config.perturbed]


def summary_table(sc: Scorecard) -> str:
    """Hypothesis, passed/total, evidence-weighted score (the README table)."""
    rows: list[list[object]] = []
    for name in _hypothesis_names(sc):
        card = sc.cards[name]
        rows.append([f"`{name}`", f"{card.passed}/{card.total}", f"{card.score:.3f}",
                     f"{card.score_per_finding:.3f}"])
    return _table(["hypothesis", "passed / total", "score", "score, every finding at full weight"], rows)


def rules_table(_: Scorecard) -> str:
    """Thresholds and conversions with their reasons."""
    ex_set = experiment_set()
    rows: list[list[object]] = []
    for group, table in (("threshold", ex_set.thresholds), ("conversion", ex_set.conversions)):
        for c in table.values():
            source = f" ({c.source})" if c.source else ""
            rows.append([group, f"`{c.name}`", f"{c.value:g}", c.unit, c.why + source])
    return _table(["kind", "name", "value", "unit", "why"], rows)


def _measured(exp: Experiment) -> str:
    parts = []
    for name, q in exp.quantities.items():
        where = q.scenario or (f"trial {q.trial}/{q.arm}" if q.trial else "")
        what = q.node or ""
        when = ""
        if q.at_h is not None:
            when = f" at {q.at_h:g} h"
        elif q.window_h is not None:
            when = f" over {q.window_h[0]:g}-{q.window_h[1]:g} h"
        off = f" without {'+'.join(q.variant.edges_off)}" if q.variant.edges_off else ""
        if q.stat in ("difference", "ratio", "sum"):
            parts.append(f"{name} = {q.stat}")
        elif q.trial:
            parts.append(f"{name}: {q.endpoint} ({where})")
        else:
            parts.append(f"{name}: {q.stat} {what}{when}{off} ({where})".replace("  ", " "))
    return "; ".join(parts)


def _rule_text(exp: Experiment) -> str:
    if exp.rule is None:
        return "-"
    if exp.rule.kind == "all":
        return "all of: " + ", ".join(r.kind for r in exp.rule.rules or ())
    return exp.rule.kind


def experiments_table(_: Scorecard) -> str:
    """Every experiment: what is measured on which scenario, the rule, the published value."""
    rows: list[list[object]] = []
    for exp in experiment_set().experiments:
        blind = exp.basis == "not_expressible"
        measured = f"not expressible: {exp.not_expressible}" if blind else _measured(exp)
        rows.append([f"`{exp.id}`", exp.basis, measured, _rule_text(exp), exp.published.text])
    return _table(["experiment", "basis", "measured (scenario)", "rule", "published"], rows)


def findings_table(sc: Scorecard) -> str:
    """Every finding under every hypothesis: simulated value and verdict."""
    names = _hypothesis_names(sc)
    per = {n: {f.id: f for f in sc.cards[n].findings} for n in names}
    rows: list[list[object]] = []
    for f in sc.cards[names[0]].findings:
        interval = f.published_interval
        pub = f.published + (f" [{_num(interval[0])}, {_num(interval[1])}]" if interval else "")
        cells: list[object] = [f"`{f.id}`", f"{f.weight:.3f}", pub]
        for n in names:
            g = per[n][f.id]
            cells.append(f"{_num(g.simulated)} **{g.verdict}**")
        rows.append(cells)
    return _table(["finding", "weight", "published [compared interval]", *names], rows)


def comparison_text(sc: Scorecard) -> str:
    """The hypothesis comparison as a table and sentences, straight from the scorecard's comparison."""
    comp = sc.comparison or {}
    names = _hypothesis_names(sc)
    lines: list[str] = []
    rows: list[list[object]] = []
    for row in comp.get("findings", []):
        passed = [n for n in row["passed_by"] if n in names]
        if 0 < len(passed) < len(names):
            rows.append([f"`{row['id']}`", f"{row['weight']:.3f}", *[("pass" if n in passed else "fail")
                                                                       for n in names]])
    lines.append(_table(["finding that separates them", "weight", *names], rows))
    h2h = comp.get("head_to_head")
    if h2h:
        inc, cha = h2h["incumbent"], h2h["challenger"]
        lines.append("")
        for who, other in ((cha, inc), (inc, cha)):
            side = h2h[f"{who}_only"]
            ids = ", ".join(f"`{r['id']}`" for r in side["findings"]) or "none"
            lines.append(f"- **{who}** reproduces {len(side['findings'])} findings that {other} does not "
                         f"(weight {side['weight']:.3f}): {ids}.")
        claims = comp.get("claims", {}).get(cha, [])
        for c in claims:
            support = "; ".join(describe_study(st) for st in c.get("supported_by", []))
            lines.append(f"- The claim only `{cha}` makes, `{c['claim']}`, has strength {c['strength']:.2f} "
                         f"(**{c['label']}**) from {c['supporting_units']} independent supporting unit(s): "
                         f"{support}.")
        for cf in comp.get("counterfactuals", []):
            needed = cf["needed_to_reverse_ranking"]
            scores = ", ".join(f"{k} {v:.3f}" for k, v in cf["scores_with_one"].items())
            flip = (f"{needed} such stud{'y' if needed == 1 else 'ies'} would reverse the ranking"
                    if needed else "no number of them would reverse the ranking")
            lines.append(f"- What would change it: {cf['text']}. Weighed by the same rule: "
                         f"{cf['weight']:.2f}. With one: {scores}; {flip}.")
    return "\n".join(lines)


def perturbations_table(sc: Scorecard) -> str:
    """Each perturbation of glutamate_mtor and the verdicts it flips."""
    ex_set = experiment_set()
    why = {p["label"]: p.get("why", "") for p in ex_set.perturbations}
    rows: list[list[object]] = []
    for name, card in sc.cards.items():
        if not card.config.perturbed:
            continue
        base = {f.id: f.verdict for f in sc.cards[card.config.hypothesis].findings}
        lost = [f.id for f in card.findings if base[f.id] == "pass" and f.verdict == "fail"]
        gained = [f.id for f in card.findings if base[f.id] == "fail" and f.verdict == "pass"]
        rows.append([f"`{name}`", why.get(name, ""), f"{card.passed}/{card.total}", f"{card.score:.3f}",
                     ", ".join(f"`{i}`" for i in lost) or "-", ", ".join(f"`{i}`" for i in gained) or "-"])
    header = ["configuration", "what is broken", "passed / total", "score", "pass -> fail", "fail -> pass"]
    return _table(header, rows)


def failures_text(sc: Scorecard) -> str:
    """Every finding that fails under a hypothesis, with the comparison that failed and why."""
    names = _hypothesis_names(sc)
    per = {n: {f.id: f for f in sc.cards[n].findings} for n in names}
    blocks: list[str] = []
    missing: list[str] = []
    for f in sc.cards[names[0]].findings:
        failing = [n for n in names if per[n][f.id].verdict == "fail"]
        if not failing:
            continue
        lines = [f"**`{f.id}`** ({f.study}; {f.published})", ""]
        groups: dict[str, list[str]] = {}
        details: dict[str, str] = {}
        for n in failing:
            g = per[n][f.id]
            if not g.explanation:
                missing.append(f"{f.id} under {n}")
            groups.setdefault(g.explanation or "", []).append(n)
            details[n] = g.rule
        for text, who in groups.items():
            shown = ", ".join(f"`{n}`" for n in who)
            lines.append(f"- {shown}: {text}")
            for n in who:
                lines.append(f"  - `{n}` comparison: {details[n]}")
        blocks.append("\n".join(lines))
    if missing:
        raise SystemExit("failing findings without an explanation in experiments.yaml: " + "; ".join(missing))
    return "\n\n".join(blocks)


GENERATORS: dict[str, Callable[[Scorecard], str]] = {
    "scorecard-summary": summary_table,
    "scorecard-rules": rules_table,
    "scorecard-experiments": experiments_table,
    "scorecard-findings": findings_table,
    "scorecard-comparison": comparison_text,
    "scorecard-perturbations": perturbations_table,
    "scorecard-failures": failures_text,
}


def render(text: str, sc: Scorecard) -> str:
    """Replace every scorecard block in `text` with content generated from `sc`."""
    return replace_blocks(text, GENERATORS, sc)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, verify) the scorecard blocks of docs/evidence.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    parser.add_argument("--readme", action="store_true", help="print the summary table for README.md")
    args = parser.parse_args(argv)
    sc = generate()
    if args.readme:
        print(summary_table(sc))
        return 0
    text = args.path.read_text(encoding="utf-8")
    fresh = render(text, sc)
    if args.check:
        if fresh != text:
            print(f"{args.path} is out of date; run python scripts/gen_scorecard_table.py", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
