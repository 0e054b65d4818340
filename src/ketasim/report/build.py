"""`build_report`: run the canonical scenarios, draw every figure, write a self-contained `index.html`.

Why the report is written into a temporary folder and then moved into place: an interrupted or failed build
must never leave half a report (or destroy the last good one). The target folder is only ever replaced when
it is missing, empty, or a previous ketasim report (marked by a `.ketasim-report` file), so `ketasim report ~`
cannot wipe a home folder.

Sections built on other packages (trials, scorecard) degrade to a clearly marked "not available" panel when
those packages are missing or fail on their input, so the rest of the report is still written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import __version__, provenance
from ..errors import KetasimError, ScenarioError
from . import figures as F
from . import scenarios as S
from .config import Style, bands, settings
from .html import FigureBlock, Section, Table, render

#: section ids, in page order (tests and links rely on them; add, don't rename)
SECTION_IDS = ["pk", "cascade", "dose-response", "pretreatments", "trials", "scorecard", "hypotheses", "diagram"]
MARKER = ".ketasim-report"
INDEX = "index.html"

Progress = Callable[[str, int, int], None]


@dataclass
class ReportSummary:
    """What was built: where, how long it took, and each section's status and headline."""

    path: Path
    index: Path
    seconds: float
    sections: list[tuple[str, str, str]] = field(default_factory=list)  # (id, status, headline)


# ------------------------------------------------------------------------------------------ formatting
def fmt(x: float | None, digits: int = 3) -> str:
    """A number for a table: significant digits, '-' for missing."""
    if x is None or not np.isfinite(x):
        return "-"
    return f"{x:.{digits}g}"


def pct(x: float | None) -> str:
    """A fraction as a whole percentage."""
    return "-" if x is None or not np.isfinite(x) else f"{100 * x:.0f}%"


def block(fig_id: str, fig: Figure, caption: str, alt: str) -> FigureBlock:
    """Render a figure to PNG and wrap it for the page."""
    return FigureBlock(fig_id, F.to_bytes(fig), caption, alt)


def _band_sources() -> str:
    return "; ".join(f"{b.label}: {b.source}" for b in bands())


# ------------------------------------------------------------------------------------------ sections
def pk_section(style: Style) -> Section:
    """PK of the canonical doses with the concentration bands."""
    data = S.pk_data()
    rows = []
    for c in data.curves:
        k = min(c.zoom_dose, len(c.dose_times) - 1) if c.dose_times else 0
        t0 = c.dose_times[k] if c.dose_times else 0.0
        m = (c.times_h >= t0) & (c.times_h <= t0 + data.zoom_h)
        i = int(np.argmax(c.values[m]))
        above = bands()[0].low if bands() else float("nan")
        hours_above = float(np.trapezoid((c.values[m] >= above).astype(float), c.times_h[m]))
        rows.append([c.label, f"dose {k + 1}", fmt(float(c.values[m][i])), fmt(float(c.times_h[m][i] - t0), 2),
                     fmt(hours_above, 2), fmt(float(np.max(c.values)))])
    table = Table("Exposure after the dose shown in panel (b), plasma", [
        "scenario", "dose", "Cmax (ng/mL)", "Tmax (h)", f"time >= {fmt(above)} ng/mL (h)",
        "highest over the course (ng/mL)"], rows, numeric={2, 3, 4, 5})
    headline = "; ".join(f"{r[0].split(' (')[0]}: Cmax {r[2]} ng/mL" for r in rows)
    return Section(
        "pk", "Pharmacokinetics of the canonical doses",
        "Plasma concentrations of esketamine under the Spravato label schedule (56 mg, or 84 mg after a 56 mg "
        "first dose; twice weekly for 4 weeks, weekly to week 8, then every 2 weeks) and of racemic ketamine "
        "0.5 mg/kg infused over 40 minutes, the dose of the depression trials. Shaded: the plasma ranges at "
        "which ketamine dissociates and anesthetises.",
        [block("pk", F.pk_figure(data, style),
               f"Bands: {_band_sources()} (racemic ketamine; for esketamine a rough guide). Intranasal doses are "
               "given as 28 mg devices 5 minutes apart.", "Plasma concentration curves with shaded bands")],
        [table], headline=headline,
    )


def cascade_section(style: Style) -> Section:
    """Every mechanism node after one dose."""
    data = S.cascade_data()
    rows = []
    for n in data.nodes:
        y = data.values[n]
        y0 = float(np.interp(data.dose_time, data.times_h, y))
        d = y - y0
        i = int(np.argmax(np.abs(d)))
        rows.append([F.node_name(n), F.unit_label(data.units[n], n), fmt(y0), fmt(float(y[i])),
                     fmt(float(data.times_h[i] - data.dose_time), 3)])
    madrs = data.values.get("madrs")
    headline = ""
    if madrs is not None:
        i = int(np.argmin(madrs))
        headline = f"MADRS {fmt(float(madrs[0]))} -> {fmt(float(madrs[i]))} points at {fmt(data.times_h[i], 3)} h"
    return Section(
        "cascade", "The cascade after one dose",
        "Every node of the mechanism in causal order, from NMDA receptor block on interneurons and pyramidal "
        "neurons through disinhibition, the glutamate surge, AMPA, BDNF/VEGF and mTORC1 to synaptic proteins, "
        "spines, prefrontal connectivity and mood, with the side branches (dissociation, mu-opioid occupancy, "
        "blood pressure). Each row is scaled to its own largest change so that hour-long and week-long "
        "responses can be compared; the table gives the real values.",
        [block("cascade", F.cascade_figure(data, style),
               f"{data.label}, default hypothesis glutamate_mtor. Log time axis from the start of the dose.",
               "Stacked time courses of every mechanism node")],
        [Table("Largest change of each node", ["node", "unit", "baseline", "extreme", "at (h)"], rows,
               numeric={2, 3, 4})], headline=headline,
    )


def dose_response_section(style: Style) -> Section:
    """Occupancy and glutamate against exposure: the inverted U."""
    data = S.dose_response_data()
    rows = []
    for s in data.series:
        for i, d in enumerate(s.doses):
            rows.append([s.label, d, fmt(float(s.cmax[i])),
                         *[fmt(float(s.readouts[n][i])) for n in data.readouts]])
    head = []
    for s in data.series:
        glu = s.readouts["glutamate"]
        i = int(np.argmax(glu))
        head.append(f"{s.label}: glutamate peaks x{fmt(float(glu[i]))} at {s.doses[i]}")
    return Section(
        "dose-response", "Dose response: NMDA block and the biphasic glutamate response",
        "NMDA receptor occupancy on interneurons and on pyramidal neurons, and prefrontal glutamate release, "
        "against peak plasma ketamine. Interneurons are blocked first; glutamate rises while mainly "
        "interneurons are blocked (disinhibition) and falls once pyramidal neurons are blocked too (anesthetic "
        "exposure): the inverted U of Moghaddam 1997.",
        [block("dose-response", F.dose_response_figure(data, style),
               f"Read-outs are means over the first {data.window_h:g} h after the dose. Filled markers: rat, "
               "intraperitoneal; open squares: human, 40-minute infusion. Rings and triangles: the direction "
               "Moghaddam 1997 measured at those rat doses.", "Occupancy and glutamate against exposure")],
        [Table("Dose-response values", ["series", "dose", "plasma Cmax (ng/mL)",
               *[f"{F.node_name(n)} (mean, first {data.window_h:g} h)" for n in data.readouts]],
               rows, numeric={2, 3, 4, 5})], headline="; ".join(head),
    )


def pretreatment_section(style: Style) -> Section:
    """The pretreatment experiments under each hypothesis."""
    data = S.pretreatment_data()
    rows = []
    negligible = float(settings()["pretreatments"]["negligible_change"])
    kept: dict[tuple[str, str], str] = {}
    for e in data.experiments:
        cells = []
        for a in e.arms:
            base = float(np.interp(0.0, a.times_h, a.control))
            dc = float(np.interp(e.at_h, a.times_h, a.control)) - base
            dt = float(np.interp(e.at_h, a.times_h, a.treated)) - base
            # a share of an effect that is not there says nothing: only where the control changed clearly
            clear = a.kept is not None and abs(dc) > negligible * max(1.0, abs(base))
            kept[(e.id, a.hypothesis)] = pct(a.kept) if clear else "no effect to keep"
            cells.append(f"{dc:+.3g} -> {dt:+.3g}" + (f" ({pct(a.kept)} kept)" if clear else ""))
        rows.append([e.title, e.source, F.node_name(e.readout), F._fmt_time(e.at_h), *cells])
    nal = next((e for e in data.experiments if e.id == "naltrexone"), None)
    headline = ""
    if nal is not None:
        headline = "naltrexone keeps " + ", ".join(f"{kept[('naltrexone', a.hypothesis)]} under {a.hypothesis}"
                                                   for a in nal.arms)
    return Section(
        "pretreatments", "Pretreatment experiments under each hypothesis",
        "The experiments that discriminate between the hypotheses, simulated side by side: rapamycin (mTORC1 "
        "inhibitor) orally in patients and into the brain of rats, naltrexone (opioid antagonist) before "
        "ketamine, NBQX (AMPA antagonist) in rats, and lanicemine (an NMDA antagonist without ketamine's "
        "glutamate surge) instead of ketamine. Dashed: ketamine alone; solid: with the pretreatment.",
        [block("pretreatments", F.pretreatment_figure(data, style),
               "Columns are hypotheses (colours as everywhere in the report); the dotted line marks the time at "
               "which the change from baseline is compared (titles: control -> pretreated).",
               "Grid of control and pretreated time courses per experiment and hypothesis")],
        [Table("Change from baseline at the comparison time: control -> pretreated",
               ["experiment", "source", "read-out", "at", *data.hypotheses], rows)], headline=headline,
    )


def _format_endpoint(value: Any) -> str:
    if not isinstance(value, dict):
        return "-"
    if "rate" in value:
        lo, hi = (value.get("ci95") or [None, None])[:2]
        extra = f", peak CADSS {fmt(value['mean_peak_cadss'])}" if value.get("mean_peak_cadss") is not None else ""
        return f"{pct(value['rate'])} [{pct(lo)}-{pct(hi)}]{extra}"
    if "relapse_rate" in value:
        lo, hi = (value.get("ci95") or [None, None])[:2]
        return f"relapse {pct(value['relapse_rate'])} [{pct(lo)}-{pct(hi)}]"
    if "mean" in value:
        return f"{fmt(value['mean'])} (SD {fmt(value.get('sd'))})"
    return "-"


def trial_tables(td: S.TrialData) -> list[Table]:
    """Endpoint table (arms side by side, with published values) and treatment-vs-control comparisons."""
    arms = [a.name for a in td.arms]
    published: dict[tuple[str, str], str] = {}
    for p in td.published:
        key = (str(p.get("endpoint")), str(p.get("arm")))
        if "value" in p:
            v = float(p["value"])
            published[key] = pct(v) if 0 <= v <= 1 and "change" not in key[0] else fmt(v)
        elif "range" in p:
            lo, hi = p["range"]
            published[key] = f"{pct(float(lo))}-{pct(float(hi))}"
    rows = []
    arm_summaries = td.summary.get("arms", {})
    for ep in td.endpoints:
        row = [ep]
        for a in arms:
            sim = _format_endpoint(arm_summaries.get(a, {}).get(ep))
            pub = published.get((ep, a))
            row.append(sim + (f" | published {pub}" if pub else ""))
        rows.append(row)
    endpoints = Table(f"{td.name}: endpoints per arm (simulated | published)", ["endpoint", *arms], rows)
    comp_rows = []
    for c in td.summary.get("comparisons", []):
        lo, hi = (c.get("ci95") or [None, None])[:2]
        is_rate = "odds_ratio" in c or "relapse" in str(c.get("endpoint"))
        show = pct if is_rate else fmt
        comp_rows.append([str(c.get("endpoint")), f"{c.get('treatment')} vs {c.get('control')}",
                          show(c.get("difference")), f"{show(lo)} to {show(hi)}",
                          "-" if c.get("p") is None else f"{c['p']:.2g}"])
    comparisons = Table(f"{td.name}: treatment minus control", ["endpoint", "comparison", "difference",
                        "95% CI", "p"], comp_rows, numeric={2, 4})
    return [endpoints, comparisons]


def trials_section(style: Style, n_per_arm: int | None = None) -> Section:
    """Example trials through the trials package."""
    intro = ("Virtual patients (covariates, pharmacokinetic and mechanistic variability, placebo response, "
             "the natural course and a background oral antidepressant) randomised as in the published trials; "
             "mean MADRS per arm with 95% confidence bands, then the trial's endpoints beside the published ones.")
    cfg = settings()["trials"]
    n = int(n_per_arm or cfg["n_per_arm"])
    try:
        found = [(f, S.find_trial_file(str(f))) for f in cfg["files"]]
        missing = [str(f) for f, p in found if p is None]
        paths = [p for _, p in found if p is not None]
        if not paths:
            raise ScenarioError(f"trial files not found: {', '.join(missing)} (run from the repository root)")
        trials = [S.trial_data(p, n, int(cfg["workers"])) for p in paths]
    except (ImportError, AttributeError, KetasimError) as exc:
        return _unavailable("trials", "Example trials", intro, f"the trials engine could not run: {exc}")
    tables = [t for td in trials for t in trial_tables(td)]
    head = []
    for td in trials:
        first = next((e for e in td.endpoints if e.startswith("madrs_change")), None)
        if first:
            vals = [f"{a}: {_format_endpoint(td.summary['arms'][a].get(first)).split(' (')[0]}"
                    for a in td.summary.get("arms", {})]
            head.append(f"{td.name} {first}: " + ", ".join(vals))
    return Section(
        "trials", "Example trials", intro,
        [block("trials", F.trials_figure(trials, style),
               f"{n} virtual patients per arm (data/report.yaml; `ketasim trial FILE` uses the file's own "
               "number); day 0 is the first dose. Shaded: 95% confidence band of the arm mean.",
               "Mean MADRS over time per trial arm")],
        tables, headline="; ".join(head),
    )


def _unavailable(sid: str, title: str, intro: str, why: str) -> Section:
    fig = F.unavailable_figure(title, why)
    return Section(sid, title, intro, [block(sid, fig, why, f"{title}: not available")], unavailable=why,
                   headline="not available")


def scorecard_sections(style: Style) -> list[Section]:
    """The scorecard (findings x hypotheses) and the hypothesis comparison, from ketasim.evidence.scorecard."""
    card_intro = ("Every finding recorded in the evidence base (data/evidence/experiments.yaml) run as an "
                  "experiment and judged against the published result under each hypothesis. The figure shows "
                  "the findings on which the hypotheses disagree; the table lists them all.")
    comp_intro = ("The hypotheses compared on the same findings, each finding weighted by the strength of its "
                  "study (the evidence rule of docs/evidence.md), so that one interim crossover of 12 patients "
                  "counts for less than a replicated randomised trial.")
    try:
        data = S.scorecard_data()
    except (ImportError, AttributeError, KetasimError) as exc:
        why = f"the scorecard engine could not run: {exc}"
        return [
            _unavailable("scorecard", "Scorecard: which findings each hypothesis reproduces", card_intro, why),
            _unavailable("hypotheses", "Hypothesis comparison", comp_intro, why),
        ]
    hyps = data.hypotheses
    rows = [[f.id, f.study, f.published, fmt(f.weight, 2), *[f.verdicts.get(h, "-") for h in hyps]]
            for f in data.findings]
    totals = ", ".join(f"{h} {data.passed[h]}/{data.total[h]}" for h in hyps)
    card = Section(
        "scorecard", "Scorecard: which findings each hypothesis reproduces", card_intro,
        [block("scorecard", F.scorecard_figure(data, style),
               f"Passed per hypothesis: {totals}. Weight: the study's evidence weight for the finding's scope.",
               "Grid of pass and fail verdicts per finding and hypothesis")],
        [Table("All findings", ["finding", "study", "published", "weight", *hyps], rows, numeric={3})],
        headline=totals,
    )
    ranking = data.comparison.get("ranking") or [{"name": h, "score": data.scores[h]} for h in hyps]
    rank_rows = [[str(r["name"]), fmt(r.get("score"), 3), str(r.get("passed", data.passed.get(str(r["name"])))),
                  str(r.get("total", data.total.get(str(r["name"])))), fmt(data.exclusive.get(str(r["name"])), 3)]
                 for r in ranking]
    tables = [Table("Ranking", ["hypothesis", "score", "passed", "findings", "weight only it reproduces"],
                    rank_rows, numeric={1, 2, 3, 4})]
    cf_rows = [[str(c.get("text", c.get("id"))), fmt(c.get("weight"), 2), ", ".join(c.get("passes") or []),
                str(c.get("needed_to_reverse_ranking") or "never (within the search limit)")]
               for c in data.comparison.get("counterfactuals") or []]
    if cf_rows:
        tables.append(Table("What it would take: hypothetical studies weighed by the same rule",
                            ["hypothetical study", "weight", "passed by", "how many to reverse the ranking"],
                            cf_rows, numeric={1}))
    reading = str(data.comparison.get("reading") or "").strip()
    best = max(hyps, key=lambda h: data.scores[h])
    comp = Section(
        "hypotheses", "Hypothesis comparison", comp_intro + (f" {reading}" if reading else ""),
        [block("hypotheses", F.hypothesis_comparison_figure(data, style),
               "Score = summed weight of the findings reproduced / summed weight of all findings.",
               "Bar charts of hypothesis scores")],
        tables, headline=f"highest score: {best} ({data.scores[best]:.2f})",
    )
    return [card, comp]


def diagram_section(style: Style) -> Section:
    """The causal chain with evidence strength per edge."""
    data = S.diagram_data()
    rows = []
    for e in data.edges:
        rows.append([f"{e.source} -> {e.target}", e.claim or "-", fmt(e.strength, 2), e.label or "-",
                     ", ".join(e.hypotheses) or "all"])
    rated = [e for e in data.edges if e.strength is not None and e.claim]
    strongest = max(rated, key=lambda e: e.strength or 0.0) if rated else None
    weakest = min(rated, key=lambda e: e.strength or 0.0) if rated else None
    headline = ""
    if strongest and weakest:
        headline = (f"strongest {strongest.source}->{strongest.target} ({fmt(strongest.strength, 2)}), weakest "
                    f"{weakest.source}->{weakest.target} ({fmt(weakest.strength, 2)})")
    return Section(
        "diagram", "The causal chain and its evidence",
        "Each arrow is an edge of the model; its width and colour show the strength the evidence rule gives "
        "the claim behind it (docs/evidence.md): a claim supported by several independent, randomised, "
        "replicated studies is strong, one resting on a single small or interim study is weak. Dots mark "
        "edges that only some hypotheses switch on.",
        [block("diagram", F.diagram_figure(data, style),
               "Strength = S x (1 - C) of the linked claim (ketasim evidence show CLAIM for its studies).",
               "Diagram of the causal chain with arrows weighted by evidence strength")],
        [Table("Edges and their claims", ["edge", "claim", "strength", "label", "switched on under"], rows,
               numeric={2})], headline=headline,
    )


# ------------------------------------------------------------------------------------------ build
def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"{str(out)!r} exists and is not a folder; choose a folder for the report")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ScenarioError(
            f"folder {str(out)!r} is not empty and holds no ketasim report; choose a new or empty folder"
        )


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished build into place; an old report is swapped out first and removed afterwards."""
    old: Path | None = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_sections(progress: Progress | None = None, *, trials_n: int | None = None) -> list[Section]:
    """Every section, in page order, reporting progress as (label, done, total)."""
    style = Style()
    steps: list[tuple[str, Callable[[], list[Section]]]] = [
        ("pharmacokinetics", lambda: [pk_section(style)]),
        ("cascade", lambda: [cascade_section(style)]),
        ("dose response", lambda: [dose_response_section(style)]),
        ("pretreatment experiments", lambda: [pretreatment_section(style)]),
        ("example trials", lambda: [trials_section(style, trials_n)]),
        ("scorecard", lambda: scorecard_sections(style)),
        ("causal diagram", lambda: [diagram_section(style)]),
    ]
    out: list[Section] = []
    for k, (label, fn) in enumerate(steps):
        if progress:
            progress(label, k, len(steps))
        out.extend(fn())
    if progress:
        progress("writing", len(steps), len(steps))
    order = {sid: i for i, sid in enumerate(SECTION_IDS)}
    return sorted(out, key=lambda s: order.get(s.id, len(order)))


def write_report(sections: Sequence[Section], folder: Path, seconds: float) -> Path:
    """Write index.html, figures/*.png and the marker file into `folder`."""
    figs = folder / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    for s in sections:
        for f in s.figures:
            (figs / f"{f.id}.png").write_bytes(f.png)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    solver = settings()["solver"]
    page = render(
        "ketasim report",
        [f"Ketamine and esketamine from dose to mood: canonical scenarios, the mechanism cascade, trials and "
         f"the evidence. ketasim {__version__}, built {now} in {seconds:.0f} s.",
         "A research and teaching tool, not clinical advice."],
        sections,
        [f"Solver: {solver['method']}, rtol {solver['rtol']:g}, atol {solver['atol']:g} (figure accuracy). "
         "Scenarios, bands and colours: src/ketasim/data/report.yaml. Regenerate with `ketasim report` or "
         "`make demo`; single figures with `ketasim plot WHAT -o FILE.png`.",
         "Sources are bibliography keys: `ketasim evidence show KEY` prints the full reference.",
         "Provenance: " + provenance.to_json(provenance.record(
             solver=solver["method"], rtol=solver["rtol"], atol=solver["atol"],
             extra={"config": "data/report.yaml (in data_sha256)"}))],
    )
    index = folder / INDEX
    index.write_text(page, encoding="utf-8")
    (folder / MARKER).write_text(f"ketasim {__version__}\n", encoding="utf-8")
    return index


def build_report(out_dir: str | Path = "report", progress: Progress | None = None, *,
                 trials_n: int | None = None) -> ReportSummary:
    """Build the whole report into `out_dir` atomically and return what was built."""
    start = time.perf_counter()
    out = Path(out_dir).expanduser().absolute()
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sections = build_sections(progress, trials_n=trials_n)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)
        seconds = time.perf_counter() - start
        write_report(sections, tmp, seconds)
        _check_target(out)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    status = [(s.id, "unavailable" if s.unavailable else "ok", s.headline) for s in sections]
    return ReportSummary(out, out / INDEX, time.perf_counter() - start, status)
