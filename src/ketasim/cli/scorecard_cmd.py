"""`ketasim scorecard`: every recorded finding simulated and judged, per hypothesis, with an evidence-weighted
score and the comparison between hypotheses.

`ketasim scorecard` judges glutamate_mtor; `--hypothesis H` another (or a combination A+B); `--all-hypotheses`
all of them side by side with the comparison. `--edge-off` and `--gain` perturb the judged model, which is how
one checks that a verdict depends on the mechanism it is meant to test. `--json` prints one JSON object:
{"hypotheses": {H: {"passed", "total", "score", "findings": [{"id", "study", "published", "simulated",
"verdict", ...}]}}, "comparison": {...}} (comparison only when several hypotheses are judged).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ScenarioError
from ..mechanism import hypotheses
from .app import app

if TYPE_CHECKING:  # the evidence machinery (scipy.stats and more) loads only when the command runs
    from ..evidence.experiments import Config
    from ..evidence.scorecard import Scorecard

_CONSOLE_WIDTH = 200
_DEFAULT_HYPOTHESIS = "glutamate_mtor"


def parse_gain(text: str) -> tuple[str, float]:
    """'g_ampa_bdnf=0' -> ('g_ampa_bdnf', 0.0)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ScenarioError(f"--gain {text!r} must be PARAMETER=FACTOR, e.g. g_ampa_bdnf=0")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise ScenarioError(f"--gain {text!r}: the factor {value!r} is not a number") from None


def build_configs(
    hypothesis: str | None, all_hypotheses: bool, edges_off: list[str] | None, gains: list[str] | None
) -> list[Config]:
    """The configurations a command line asks for (validated: unknown names raise UnknownNameError)."""
    if hypothesis is not None and all_hypotheses:
        raise ScenarioError("give either --hypothesis or --all-hypotheses, not both")
    names = list(hypotheses()) if all_hypotheses else [hypothesis or _DEFAULT_HYPOTHESIS]
    gain_map = dict(parse_gain(g) for g in gains or [])
    from ..evidence.experiments import make_config

    return [make_config(name, edges_off or [], gain_map) for name in names]


def describe_study(st: dict[str, Any]) -> str:
    """'williams2018 (randomized_crossover, n = 12, interim, not replicated)'."""
    parts = [st["design"], f"n = {st['n']}" if st.get("n") else "n not recorded"]
    if st.get("interim"):
        parts.append("interim")
    if st.get("replicated") is False:
        parts.append("not replicated")
    if st.get("same_sample_as"):
        parts.append(f"same participants as {st['same_sample_as']}")
    return f"{st['study']} ({', '.join(parts)})"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _verdict(v: str) -> str:
    return "[green]pass[/green]" if v == "pass" else "[red]fail[/red]"


def print_scorecard(sc: Scorecard, explain: bool = False, console: Console | None = None) -> None:
    """Readable tables: one per configuration, then the totals and the comparison."""
    console = console or Console(width=_CONSOLE_WIDTH)
    for name, card in sc.cards.items():
        table = Table(title=f"Scorecard: {name}")
        for col in ("finding", "study", "published", "simulated", "verdict", "weight"):
            right = col in ("simulated", "weight")
            table.add_column(col, overflow="fold", justify="right" if right else "left")
        for f in card.findings:
            weight = f"{f.weight:.3f}"
            table.add_row(f.id, f.study, f.published, _fmt(f.simulated), _verdict(f.verdict), weight)
        console.print(table)
        console.print(
            f"[bold]{name}[/bold]: {card.passed}/{card.total} findings reproduced; evidence-weighted score "
            f"{card.score:.3f} (every finding at full weight: {card.score_per_finding:.3f})"
        )
        if explain:
            for f in card.findings:
                if f.verdict == "fail":
                    console.print(f"  [red]fail[/red] {f.id}: {f.rule}")
                    if f.explanation:
                        console.print(f"       why: {f.explanation}")
    totals = Table(title="Totals")
    for col in ("hypothesis", "passed / total", "score", "score per finding"):
        totals.add_column(col)
    for name, card in sc.cards.items():
        per_finding = f"{card.score_per_finding:.3f}"
        totals.add_row(name, f"{card.passed}/{card.total}", f"{card.score:.3f}", per_finding)
    console.print(totals)
    if sc.comparison is not None:
        print_comparison(sc, console)


def print_comparison(sc: Scorecard, console: Console) -> None:
    """The hypothesis comparison: discriminating findings, the head-to-head, claims and counterfactuals."""
    comp: dict[str, Any] = sc.comparison or {}
    names = list(sc.cards)
    table = Table(title="Findings that separate the hypotheses (weight = share of the study's weight)")
    table.add_column("finding", overflow="fold")
    table.add_column("weight", justify="right")
    for n in names:
        table.add_column(n)
    for row in comp["findings"]:
        if 0 < len(row["passed_by"]) < len(names):
            marks = [_verdict("pass" if n in row["passed_by"] else "fail") for n in names]
            table.add_row(row["id"], f"{row['weight']:.3f}", *marks)
    console.print(table)
    h2h = comp.get("head_to_head")
    if h2h:
        inc, cha = h2h["incumbent"], h2h["challenger"]
        for who, other in ((cha, inc), (inc, cha)):
            side = h2h[f"{who}_only"]
            console.print(
                f"[bold]{who}[/bold] explains {len(side['findings'])} findings that {other} does not, "
                f"weight {side['weight']:.3f}, from: " + ", ".join(side["studies"])
            )
        for hyp, claims in comp.get("claims", {}).items():
            if hyp == cha:
                for c in claims:
                    console.print(f"  claim {c['claim']}: strength {c['strength']:.2f} ({c['label']}), "
                                  f"{c['supporting_units']} independent supporting unit(s): "
                                  + "; ".join(describe_study(st) for st in c.get("supported_by", [])))
        if comp.get("reading"):
            console.print(comp["reading"])
        for cf in comp.get("counterfactuals", []):
            needed = cf["needed_to_reverse_ranking"]
            studies = "study" if needed == 1 else "studies"
            flip = (
                f"{needed} such {studies} would reverse the ranking of {inc} and {cha}"
                if needed else "it would not reverse the ranking"
            )
            scores = ", ".join(f"{k} {v:.3f}" for k, v in cf["scores_with_one"].items())
            console.print(
                f"What would change it: {cf['text']} (weight {cf['weight']:.2f}): with one, {scores}; {flip}."
            )


@app.command("scorecard")
def scorecard_cmd(
    hypothesis: Annotated[
        str | None, typer.Option("--hypothesis", help="glutamate_mtor (default), opioid, hnk_ampa, or A+B")
    ] = None,
    all_hypotheses: Annotated[
        bool, typer.Option("--all-hypotheses", help="judge every hypothesis and compare them")
    ] = False,
    edge_off: Annotated[
        list[str] | None, typer.Option("--edge-off", help="switch an edge off everywhere; repeatable")
    ] = None,
    gain: Annotated[
        list[str] | None, typer.Option("--gain", help="scale a mechanism parameter, PARAM=FACTOR; repeatable")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="list each failure with its rule and why")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="processes for the simulations (default: the CPUs available)", min=1)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Simulate every recorded finding and judge it against the published value (see docs/evidence.md)."""
    from ..evidence.scorecard import run_scorecard

    configs = build_configs(hypothesis, all_hypotheses, edge_off, gain)
    if as_json:
        sc = run_scorecard(configs, workers=workers)
        typer.echo(json.dumps(sc.as_json(), indent=2))
        return
    with Console(stderr=True).status("simulating the experiments ..."):
        sc = run_scorecard(configs, workers=workers)
    print_scorecard(sc, explain=explain)
