"""Run every example trial and put simulated results beside the published ones in docs/trials.md.

Each example file lists its published results under `published:` (an arm's value, a comparison's difference,
a range, or an expected direction). This script runs the trial, looks up the same quantity in the summary,
judges agreement, and rewrites the table between the markers in docs/trials.md:

  value:  agrees when the published value lies in the simulated 95% CI
  range:  agrees when the simulated estimate lies in the published range
  expect: positive / negative (the simulated difference has that sign with p < 0.05) or none (p >= 0.05)

It also regenerates the parameter tables of the clinical layer and the population (between their own
markers) from data/clinical.yaml and data/population.yaml, so that the docs cannot drift from the data.

Run: .venv/bin/python scripts/gen_trials_table.py [--n N] [--only NAME ...] [--print] [--params-only]
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

from ketasim import data
from ketasim.trials import load_trial, run_trial

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "trials.md"
BEGIN, END = "<!-- trials-table:begin -->", "<!-- trials-table:end -->"
PBEGIN, PEND = "<!-- clinical-params:begin -->", "<!-- clinical-params:end -->"
#: extra runs: the same file under another hypothesis
VARIANTS = {"williams2018": ["opioid"]}


def _num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _estimate(summary: dict[str, Any], entry: dict[str, Any]) -> tuple[float | None, list[Any], float | None]:
    """(estimate, ci95, p) of the simulated quantity an entry refers to."""
    e = entry["endpoint"]
    if "arm" in entry:
        val = summary["arms"][entry["arm"]][e]
        if "rate" in val:
            return val["rate"], val["ci95"], None
        if "relapse_rate" in val:
            return val["relapse_rate"], val["ci95"], None
        n, sd = val["n"], val["sd"]
        half = 1.96 * sd / n**0.5 if sd is not None and n > 1 else None
        mean = val["mean"]
        return mean, [mean - half, mean + half] if half is not None else [None, None], None
    for c in summary["comparisons"]:
        if c["endpoint"] == e and c["treatment"] == entry["comparison"]:
            if "hazard_ratio" in entry:
                return c["hazard_ratio"], c["hazard_ratio_ci95"], c["p"]
            return c["difference"], c["ci95"], c["p"]
    raise KeyError(f"no comparison {entry['comparison']} for {e}")


def _verdict(entry: dict[str, Any], est: float | None, ci: list[Any], p: float | None) -> str:
    if est is None:
        return "n/a"
    if "value" in entry or "hazard_ratio" in entry:
        lo, hi = ci
        if lo is None or hi is None:
            return "n/a"
        return "agrees" if lo <= float(entry.get("value", entry.get("hazard_ratio"))) <= hi else "differs"
    if "range" in entry:
        lo, hi = entry["range"]
        return "agrees" if lo <= est <= hi else "differs"
    expect = entry.get("expect")
    significant = p is not None and p < 0.05
    if expect == "none":
        return "agrees" if not significant else "differs"
    if expect in ("positive", "negative"):
        sign_ok = est > 0 if expect == "positive" else est < 0
        return "agrees" if (sign_ok and significant) else "differs"
    return "n/a"


def _published_text(entry: dict[str, Any]) -> str:
    if "hazard_ratio" in entry:
        base = f"HR {_num(float(entry['hazard_ratio']))}"
    elif "value" in entry:
        base = _num(float(entry["value"]))
    elif "range" in entry:
        base = f"{entry['range'][0]:g}-{entry['range'][1]:g}"
    else:
        base = {"positive": "difference > 0", "negative": "difference < 0", "none": "no difference"}.get(
            entry.get("expect", ""), "-"
        )
    text = entry.get("text") or entry.get("note")
    return f"{base} ({text})" if text else base


def rows_for(path: Path, n: int | None, hypothesis: str | None) -> tuple[list[str], str]:
    spec = load_trial(path)
    t0 = time.perf_counter()
    result = run_trial(spec, n_per_arm=n, hypothesis=hypothesis)
    wall = time.perf_counter() - t0
    s = result.summary
    label = spec.name + (f" ({hypothesis})" if hypothesis else "")
    out = []
    for entry in spec.published or []:
        est, ci, p = _estimate(s, entry)
        who = entry.get("arm") or f"{entry['comparison']} vs {spec.control}"
        sim = f"{_num(est)} [{_num(ci[0])}, {_num(ci[1])}]" + (f", p {_num(p, 2)}" if p is not None else "")
        out.append(
            f"| {label} | {entry['endpoint']} | {who} | {_published_text(entry)} | {sim} | "
            f"{_verdict(entry, est, ci, p)} |"
        )
    info = f"{label}: {s['design']}, {s['n_per_arm']} per arm, seed {s['seed']}, {wall:.0f} s"
    if "open_label" in s:
        ol = s["open_label"]
        info += f"; open label {ol['n']}, stable {ol['stable']} ({ol['stable_fraction']:.2f})"
    return out, info


def _cell(x: Any) -> str:
    return str(x).replace("|", "/").replace("\n", " ")


def params_block() -> str:
    """Markdown tables of clinical.yaml and population.yaml (value, unit, source, note)."""
    lines = [
        PBEGIN,
        "",
        "**data/clinical.yaml**",
        "",
        "| section | parameter | value | unit | source | note |",
        "|---|---|---|---|---|---|",
    ]
    for section, recs in data.load("clinical.yaml").items():
        for key, rec in recs.items():
            lines.append(
                f"| {section} | {key} | {_cell(rec['value'])} | {_cell(rec['unit'])} | {rec['source']} | "
                f"{_cell(rec.get('note', ''))} |"
            )
    pop = data.load("population.yaml")
    lines += [
        "",
        "**data/population.yaml: covariates**",
        "",
        "| parameter | value | unit | source | note |",
        "|---|---|---|---|---|",
    ]
    for key, rec in pop["covariates"].items():
        lines.append(
            f"| {key} | {_cell(rec['value'])} | {_cell(rec['unit'])} | {rec['source']} | {_cell(rec.get('note', ''))} |"
        )
    lines += [
        "",
        "**data/population.yaml: between-subject variability**",
        "",
        "| parameter | distribution | CV / SD | shares draw of | source | note |",
        "|---|---|---|---|---|---|",
    ]
    for rec in pop["variability"]:
        kind = "logit-normal" if "logit_sd" in rec else "log-normal"
        size = rec.get("logit_sd", rec.get("cv", rec.get("omega")))
        lines.append(
            f"| {rec['id']} | {kind} | {size} | {rec.get('eta_from', '')} | {rec['source']} | "
            f"{_cell(rec.get('note', ''))} |"
        )
    return "\n".join([*lines, "", PEND])


def _replace(text: str, begin: str, end: str, block: str) -> str:
    if begin not in text or end not in text:
        raise SystemExit(f"{DOC} has no {begin} ... {end} markers")
    return re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.S)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None, help="subjects per arm for every trial (default: each file's)")
    ap.add_argument("--only", nargs="*", default=None, help="trial file stems to run")
    ap.add_argument("--print", action="store_true", help="print the table instead of writing docs/trials.md")
    ap.add_argument("--params-only", action="store_true", help="only regenerate the parameter tables")
    args = ap.parse_args()
    if args.params_only:
        DOC.write_text(_replace(DOC.read_text(encoding="utf-8"), PBEGIN, PEND, params_block()), encoding="utf-8")
        print(f"wrote the parameter tables of {DOC}")
        return
    files = sorted((ROOT / "examples" / "trials").glob("*.yaml"))
    if args.only:
        files = [f for f in files if f.stem in args.only]
    lines = [
        "| trial | endpoint | arm / comparison | published | simulated [95% CI] | verdict |",
        "|---|---|---|---|---|---|",
    ]
    infos = []
    for f in files:
        for hyp in [None, *VARIANTS.get(f.stem, [])]:
            rows, info = rows_for(f, args.n, hyp)
            lines += rows
            infos.append(info)
            print(info, flush=True)
    block = "\n".join([BEGIN, "", *lines, "", "Runs: " + "; ".join(infos) + ".", "", END])
    if args.print:
        print(block)
        return
    text = _replace(DOC.read_text(encoding="utf-8"), BEGIN, END, block)
    DOC.write_text(_replace(text, PBEGIN, PEND, params_block()), encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
