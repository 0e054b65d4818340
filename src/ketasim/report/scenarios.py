"""The numbers behind each figure: canonical scenarios run in batches, reduced to what a figure plots.

Why batches: one scenario costs the solver about as much as fifty, because the generated right-hand side is
vectorised over subjects. Scenarios whose models have the same structure (same drugs present, so the same
compiled equations) differ only in parameters and dose events; `simulate_many` stacks their parameters as
"subjects", gives each subject its own dose events (zero for the others), integrates once and splits the
result. A hypothesis is a set of edge weights, a dose an event amount, so a whole dose-response curve or a
three-hypothesis comparison is one integration. This keeps `make demo` within its two minutes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ScenarioError
from ..mechanism import NODES, edges, hypotheses
from ..model.build import Prepared, prepare
from ..pk import catalog
from ..results import Result
from ..scenario import make_scenario
from ..simulate import run_prepared
from ..solver import SolverOptions
from ..solver.events import DoseEvent
from ..units import parse_duration
from .config import settings

Array = np.ndarray


# ------------------------------------------------------------------------------------------ batched simulation
def solver_options() -> SolverOptions:
    """The report's solver settings (data/report.yaml `solver`)."""
    s = settings()["solver"]
    return SolverOptions(rtol=float(s["rtol"]), atol=float(s["atol"]), method=str(s["method"]))


def plot_grid(t_start: float, t_end: float, dose_times: list[float]) -> Array:
    """Output times for plotting: fine after each dose, coarse elsewhere (data/report.yaml `grid`)."""
    g = settings()["grid"]
    pieces = [np.arange(t_start, t_end, float(g["step_h"])), np.array([t_start, t_end])]
    for td in dose_times:
        dense_end = min(td + float(g["dense_for_h"]), t_end)
        medium_end = min(td + float(g["medium_for_h"]), t_end)
        pieces.append(np.arange(td, dense_end, float(g["dense_step_h"])))
        pieces.append(np.arange(dense_end, medium_end, float(g["medium_step_h"])))
    grid = np.unique(np.round(np.concatenate(pieces), 9))
    return grid[(grid >= t_start - 1e-12) & (grid <= t_end + 1e-12)]


def _spread(x: float | Array, j: int, k: int) -> float | Array:
    """A one-subject event amount as a k-subject array that is zero except for subject j."""
    a = np.asarray(x, dtype=float).reshape(-1)
    if not np.any(a != 0):
        return 0.0
    out = np.zeros(k)
    out[j] = float(a[0])
    return out


def _merge(group: list[Prepared]) -> Prepared:
    k = len(group)
    events: list[DoseEvent] = []
    for j, p in enumerate(group):
        for ev in p.events:
            events.append(replace(ev, amount=_spread(ev.amount, j, k), rate=_spread(ev.rate, j, k)))
    return replace(
        group[0],
        params=np.hstack([p.params for p in group]),
        events=events,
        t_start=min(p.t_start for p in group),
        t_end=max(p.t_end for p in group),
        dose_times=sorted({t for p in group for t in p.dose_times}),
    )


def simulate_many(scenarios: list[dict[str, Any]], options: SolverOptions | None = None, *,
                  mechanism: bool = True) -> list[Result]:
    """Simulate one subject per scenario (fields as for `simulate`), batching those of equal structure.

    Every result of one batch shares one time grid (the union of the batch's dose times), cut at its own
    scenario's end; results come back in the order of `scenarios`. `mechanism=False` leaves the mechanism
    out (PK only: a third of the cost, for figures that show concentrations alone).
    """
    options = options or solver_options()
    preps = [prepare(make_scenario(dict(f)), with_mechanism=mechanism) for f in scenarios]
    for p in preps:
        if p.n != 1:
            raise ScenarioError("simulate_many takes one subject per scenario")
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(preps):
        groups.setdefault(p.compiled.source, []).append(i)
    out: list[Result | None] = [None] * len(preps)
    for members in groups.values():
        group = [preps[i] for i in members]
        merged = _merge(group) if len(group) > 1 else group[0]
        times = plot_grid(merged.t_start, merged.t_end, merged.dose_times)
        res = run_prepared(merged, times=times, options=options)
        for j, i in enumerate(members):
            own = res.times <= preps[i].t_end + 1e-9
            out[i] = Result(
                times=res.times[own],
                values={v: a[own, j : j + 1] for v, a in res.values.items()},
                units=res.units,
                compounds=res.compounds,
                nodes=res.nodes,
                dose_times=preps[i].dose_times,
                meta={"scenario": preps[i].scenario.model_dump()},
            )
    return [r for r in out if r is not None]


# ------------------------------------------------------------------------------------------ helpers
def main_compound(drug: str, result: Result) -> str:
    """The plasma concentration that stands for a drug: the racemic total for ketamine, else the parent."""
    mapping: dict[str, str] = settings()["pk"]["compound"]
    if drug in mapping and mapping[drug] in result.compounds:
        return mapping[drug]
    if drug in result.compounds:
        return drug
    comps = list(catalog.drug(drug).components)
    if not comps:
        raise ScenarioError(f"{drug} has no concentrations to plot (placebo?); choose a drug")
    return comps[0]


def describe(fields: dict[str, Any]) -> str:
    """A short human label for scenario fields: 'ketamine 0.5 mg/kg iv over 40 min'."""
    parts = [str(fields.get("drug", "?"))]
    if fields.get("dose"):
        parts.append(str(fields["dose"]))
    parts.append(str(fields.get("route", "iv")))
    if fields.get("over"):
        parts.append(f"over {fields['over']}")
    if fields.get("regimen") and fields["regimen"] != "single":
        parts.append(f"({fields['regimen']})")
    if fields.get("species") and fields["species"] != "human":
        parts.append(f"[{fields['species']}]")
    for pre in fields.get("pretreatments") or []:
        parts.append(f"+ {pre['drug']} {pre['dose']} {pre['route']} {pre['offset']} before")
    return " ".join(parts)


def slug(text: str) -> str:
    """An id from a label (for colours and HTML ids)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "scenario"


def _scenario_fields(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in ("id", "label", "zoom_dose")}


# ------------------------------------------------------------------------------------------ PK
@dataclass
class Curve:
    """One plotted time course: id (colour key), label, times (h), values, unit."""

    id: str
    label: str
    times_h: Array
    values: Array
    unit: str
    dose_times: list[float] = field(default_factory=list)
    zoom_dose: int = 0


@dataclass
class PKData:
    """Plasma concentration of each scenario's main compound over its whole course."""

    curves: list[Curve]
    zoom_h: float
    title: str = ""


def pk_data(scenarios: list[dict[str, Any]] | None = None) -> PKData:
    """Canonical PK scenarios (or the given ones, with every compound each reports)."""
    cfg = settings()["pk"]
    canonical = scenarios is None
    recs = [*cfg["schedule"], *cfg["infusion"]] if canonical else list(scenarios or [])
    results = simulate_many([_scenario_fields(r) for r in recs], mechanism=False)
    curves: list[Curve] = []
    for rec, res in zip(recs, results, strict=True):
        drug = str(rec["drug"])
        shown = [main_compound(drug, res)] if canonical else list(res.compounds)
        for c in shown:
            base = str(rec.get("id") or slug(describe(rec)))
            cid = base if len(shown) == 1 else f"{base}:{c}"
            label = str(rec.get("label") or describe(rec)) if canonical else c
            curves.append(Curve(cid, label, res.times, res.series(c), res.units.get(c, "ng/mL"), res.dose_times,
                                int(rec.get("zoom_dose", 0))))
    title = "" if canonical else "; ".join(str(r.get("label") or describe(r)) for r in recs)
    return PKData(curves, float(cfg["zoom_h"]), title)


# ------------------------------------------------------------------------------------------ cascade
@dataclass
class CascadeData:
    """Every mechanism node over time after one dose, in causal order, with its unit."""

    label: str
    times_h: Array
    dose_time: float
    nodes: list[str]
    values: dict[str, Array]
    units: dict[str, str]


def cascade_data(fields: dict[str, Any] | None = None) -> CascadeData:
    """The cascade after the canonical single dose (or the given scenario)."""
    rec = dict(fields or settings()["cascade"]["scenario"])
    (res,) = simulate_many([_scenario_fields(rec)])
    nodes = [n for n in NODES if n in res.values]
    t0 = min(res.dose_times) if res.dose_times else 0.0
    return CascadeData(
        label=str(rec.get("label") or describe(rec)), times_h=res.times, dose_time=t0, nodes=nodes,
        values={n: res.series(n) for n in nodes}, units={n: res.units.get(n, "1") for n in nodes},
    )


# ------------------------------------------------------------------------------------------ dose response
@dataclass
class DoseSeries:
    """Exposure and first-hour read-outs of one drug/route/species across doses."""

    id: str
    label: str
    doses: list[str]
    compound: str
    cmax: Array  # ng/mL plasma
    readouts: dict[str, Array]  # node -> mean over the window after the dose
    marker: str = "o"
    observed: dict[str, Any] | None = None


@dataclass
class DoseResponseData:
    """The dose-response series and the averaging window of the read-outs."""

    series: list[DoseSeries]
    window_h: float
    readouts: list[str]


DOSE_READOUTS = ["nmda_occupancy_interneuron", "nmda_occupancy_pyramidal", "glutamate"]


def dose_series(sid: str, label: str, fields: dict[str, Any], doses: list[str], window_h: float,
                marker: str = "o", observed: dict[str, Any] | None = None) -> DoseSeries:
    """Simulate `fields` at each dose (one batch) and reduce each run to Cmax and window means."""
    base = {k: v for k, v in fields.items() if k != "dose"}
    results = simulate_many([{**base, "dose": d} for d in doses])
    comp = main_compound(str(base["drug"]), results[0])
    cmax = np.array([float(np.max(r.series(comp))) for r in results])
    readouts: dict[str, Array] = {}
    for node in DOSE_READOUTS:
        vals = []
        for r in results:
            t0 = min(r.dose_times) if r.dose_times else 0.0
            mask = (r.times >= t0) & (r.times <= t0 + window_h)
            vals.append(float(np.trapezoid(r.series(node)[mask], r.times[mask]) / window_h))
        readouts[node] = np.array(vals)
    return DoseSeries(sid, label, list(doses), comp, cmax, readouts, marker, observed)


def dose_response_data(fields: dict[str, Any] | None = None) -> DoseResponseData:
    """Canonical series (rat IP and human IV ketamine), or a sweep of the given drug/route/species."""
    cfg = settings()["dose_response"]
    window = float(cfg["window_h"])
    if fields is None:
        series = [
            dose_series(str(s["id"]), str(s["label"]), dict(s["fields"]), list(s["doses"]), window,
                        str(s.get("marker", "o")), s.get("observed"))
            for s in cfg["series"]
        ]
    else:
        species = str(fields.get("species") or "human")
        doses = list(cfg["sweep"][species])
        label = describe({k: v for k, v in fields.items() if k != "dose"})
        series = [dose_series(slug(label), label, fields, doses, window)]
    return DoseResponseData(series, window, list(DOSE_READOUTS))


# ------------------------------------------------------------------------------------------ pretreatments
@dataclass
class Arm:
    """Control and pretreated time course of one experiment under one hypothesis."""

    hypothesis: str
    times_h: Array
    control: Array
    treated: Array
    kept: float | None  # treated change / control change at the comparison time (1 = effect intact)


@dataclass
class Experiment:
    """A pretreatment experiment: what was given, the read-out, and one Arm per hypothesis."""

    id: str
    title: str
    source: str
    readout: str
    unit: str
    at_h: float
    arms: list[Arm]


@dataclass
class PretreatmentData:
    """All experiments, with the hypotheses in column order."""

    hypotheses: list[str]
    experiments: list[Experiment]


def _kept(times: Array, control: Array, treated: Array, at_h: float, t0: float) -> float | None:
    base_c = float(np.interp(t0, times, control))
    base_t = float(np.interp(t0, times, treated))
    dc = float(np.interp(at_h, times, control)) - base_c
    dt = float(np.interp(at_h, times, treated)) - base_t
    tiny = 1e-6 * max(1.0, abs(base_c))
    return None if abs(dc) < tiny else dt / dc


def pretreatment_data(experiments: list[dict[str, Any]] | None = None,
                      hyps: list[str] | None = None) -> PretreatmentData:
    """Run every experiment under every hypothesis: controls and pretreated runs, batched by structure."""
    cfg = settings()["pretreatments"]
    exps = list(experiments if experiments is not None else cfg["experiments"])
    hyp_list = list(hyps or cfg["hypotheses"])
    runs: list[dict[str, Any]] = []
    for e in exps:
        for h in hyp_list:
            runs.append({**e["control"], "hypothesis": h})
            runs.append({**e["control"], **e["treated"], "hypothesis": h})
    results = simulate_many(runs)
    out: list[Experiment] = []
    k = 0
    for e in exps:
        at_h = parse_duration(str(e["at"]), what="comparison time")
        arms = []
        unit = ""
        for h in hyp_list:
            ctrl, trt = results[k], results[k + 1]
            k += 2
            node = str(e["readout"])
            unit = ctrl.units.get(node, "1")
            t0 = min(ctrl.dose_times) if ctrl.dose_times else 0.0
            # both runs share a grid when batched together; otherwise put the treated run on the control's
            treated = np.interp(ctrl.times, trt.times, trt.series(node))
            arms.append(Arm(h, ctrl.times, ctrl.series(node), treated,
                            _kept(ctrl.times, ctrl.series(node), treated, t0 + at_h, t0)))
        out.append(Experiment(str(e["id"]), str(e["title"]), str(e.get("source", "")), str(e["readout"]), unit,
                              at_h, arms))
    return PretreatmentData(hyp_list, out)


def user_pretreatment_experiment(fields: dict[str, Any]) -> dict[str, Any]:
    """An experiment record from `ketasim plot pretreatments` options: the scenario with and without them."""
    pre = fields.get("pretreatments")
    if not pre:
        raise ScenarioError("ketasim plot pretreatments with a scenario needs --pretreat DRUG:DOSE:ROUTE:OFFSET")
    control = {k: v for k, v in fields.items() if k not in ("pretreatments", "hypothesis")}
    title = " + ".join(f"{p['drug']} {p['dose']} {p['route']}, {p['offset']} before" for p in pre)
    return {"id": "user", "title": title, "source": "", "control": control, "treated": {"pretreatments": pre},
            "readout": "madrs" if control.get("species", "human") == "human" else "spine_density",
            "at": "24 h"}


# ------------------------------------------------------------------------------------------ diagram
@dataclass
class DiagramEdge:
    """One arrow of the causal chain with the evidence strength of its claim."""

    id: str
    source: str
    target: str
    claim: str | None
    strength: float | None
    label: str | None
    hypotheses: list[str]  # empty: on under every hypothesis (common edges and inputs)


@dataclass
class DiagramData:
    """Nodes with positions and labels, edges with strengths; `highlight` fades edges it switches off."""

    positions: dict[str, tuple[float, float]]
    labels: dict[str, str]
    edges: list[DiagramEdge]
    hypotheses: list[str]
    highlight: str | None = None


def diagram_data(highlight: str | None = None) -> DiagramData:
    """The causal graph of data/mechanism/hypotheses.yaml plus the report's input edges, with strengths."""
    from ..evidence import all_claim_strengths, evidence_base
    from ..mechanism.hypotheses import edge_weights

    cfg = settings()["diagram"]
    base = evidence_base()
    strengths = all_claim_strengths(base)
    spec = hypotheses()
    on_in = {h: {e for e, w in edge_weights(h).items() if w > 0} for h in spec}
    out: list[DiagramEdge] = []
    for i, rec in enumerate(cfg["input_edges"]):
        claim = rec.get("claim")
        cs = strengths.get(claim) if claim else None
        out.append(DiagramEdge(f"input_{i}", str(rec["from"]), str(rec["to"]), claim,
                               cs.strength if cs else None, cs.label if cs else None, []))
    for eid, rec in edges().items():
        claim = rec.get("claim")
        cs = strengths.get(claim) if claim else None
        where = [h for h in spec if eid in on_in[h]]
        out.append(DiagramEdge(eid, str(rec["from"]), str(rec["to"]), claim, cs.strength if cs else None,
                               cs.label if cs else None, [] if len(where) == len(spec) else where))
    if highlight is not None:
        from ..mechanism import parse_hypothesis

        parse_hypothesis(highlight)
    positions = {k: (float(v[0]), float(v[1])) for k, v in cfg["positions"].items()}
    return DiagramData(positions, dict(cfg["labels"]), out, list(spec), highlight)


def edges_on(highlight: str) -> set[str]:
    """Edge ids switched on under a hypothesis name (or combination)."""
    from ..mechanism.hypotheses import edge_weights

    return {e for e, w in edge_weights(highlight).items() if w > 0}


# ------------------------------------------------------------------------------------------ trials
@dataclass
class TrialArmCourse:
    """Mean observed MADRS of one arm at each visit with its 95% confidence band."""

    name: str
    days: Array
    mean: Array
    lo: Array
    hi: Array
    n: int


@dataclass
class TrialData:
    """One simulated example trial: per-arm courses and the JSON summary of the trials package."""

    name: str
    description: str
    control: str
    arms: list[TrialArmCourse]
    summary: dict[str, Any]
    published: list[dict[str, Any]]
    endpoints: list[str]


def find_trial_file(name: str) -> Path | None:
    """A trial file named in report.yaml: relative to the working directory or to the source checkout."""
    p = Path(name)
    if p.is_absolute():
        return p if p.is_file() else None
    here = Path(__file__).resolve()
    for root in (Path.cwd(), *here.parents):
        cand = root / p
        if cand.is_file():
            return cand
    return None


def trial_data(path: Path, n_per_arm: int, workers: int, hypothesis: str | None = None) -> TrialData:
    """Run a trial file through the trials package and reduce it to arm courses (mean, 95% band)."""
    from ..trials import load_trial, run_trial
    from .config import figure_setting

    z = float(figure_setting("ci_z"))
    spec = load_trial(path)
    result = run_trial(spec, n_per_arm=n_per_arm, workers=workers, hypothesis=hypothesis)
    arms = []
    for name, a in result.arms.items():
        y = np.asarray(a.observed, dtype=float)
        n = y.shape[1]
        mean = y.mean(axis=1)
        sem = y.std(axis=1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
        days = (np.asarray(a.visits, dtype=float) - float(a.ref_h)) / 24.0
        arms.append(TrialArmCourse(name, days, mean, mean - z * sem, mean + z * sem, n))
    return TrialData(spec.name, spec.description or spec.name, spec.control, arms, result.summary,
                     list(spec.published or []), [e.id for e in spec.endpoint_list()])


# ------------------------------------------------------------------------------------------ scorecard
@dataclass
class FindingRow:
    """One recorded finding: its study, the published result, its weight, and the verdict per hypothesis."""

    id: str
    study: str
    published: str
    weight: float
    verdicts: dict[str, str]
    simulated: dict[str, float | None]


@dataclass
class ScorecardData:
    """The scorecard of ketasim.evidence.scorecard reduced to what the report shows."""

    hypotheses: list[str]
    scores: dict[str, float]
    passed: dict[str, int]
    total: dict[str, int]
    findings: list[FindingRow]
    exclusive: dict[str, float]
    comparison: dict[str, Any]

    def discriminating(self) -> list[FindingRow]:
        """Findings on which the hypotheses disagree (the others are passed, or failed, by all)."""
        return [f for f in self.findings if len(set(f.verdicts.values())) > 1]


def scorecard_data(extra: str | None = None, workers: int | None = None) -> ScorecardData:
    """Run the scorecard for the report's hypotheses (plus `extra`, e.g. a combination)."""
    from ..evidence.experiments import make_config
    from ..evidence.scorecard import run_scorecard

    cfg = settings()["scorecard"]
    names = list(cfg["hypotheses"])
    if extra and extra not in names:
        names.append(extra)
    sc = run_scorecard([make_config(h) for h in names], workers=int(workers or cfg["workers"]))
    cards = {n: sc.cards[n] for n in names}
    rows: dict[str, FindingRow] = {}
    for n, card in cards.items():
        for f in card.findings:
            row = rows.setdefault(f.id, FindingRow(f.id, f.study, f.published, float(f.weight), {}, {}))
            row.verdicts[n] = f.verdict
            row.simulated[n] = f.simulated
    comparison = dict(sc.comparison or {})
    exclusive = {n: float((comparison.get("exclusive", {}).get(n) or {}).get("weight") or 0.0) for n in names}
    return ScorecardData(
        names, {n: float(c.score) for n, c in cards.items()}, {n: int(c.passed) for n, c in cards.items()},
        {n: int(c.total) for n, c in cards.items()}, list(rows.values()), exclusive, comparison,
    )
